"""Per-building point statistics, 3DBAG-style: ground and roof percentiles, density, gaps.

The cloud is streamed chunk by chunk. Every chunk's points are assigned to footprints at once
(a shapely STRtree queried with all points of the chunk), and only the assigned heights are
kept, so memory grows with the points on buildings, not with the cloud. Statistics come from
one grouped sort at the end (:func:`ingest.zonal.grouped_percentiles`); nothing depends on
the order the points came in, so any chunk size gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from ingest.lidar.read import CHUNK_SIZE, PointCloud, extent, stream
from ingest.zonal import ZonalStats, grouped_percentiles, pixels_inside
from twin.terrain import Terrain

GROUND, BUILDING = 2, 6
#: classes that may be a roof when a building has no class-6 point (never / not classified)
UNCLASSIFIED = (0, 1)
ROOF_PERCENTILES = (0.0, 10.0, 50.0, 70.0, 95.0, 98.0, 100.0)


@dataclass(frozen=True)
class PointStats:
    """Point statistics of ``n`` footprints.

    Attributes
    ----------
    ground : (n,) float
        The ground percentile of the ground points within ``ground_distance`` of the
        footprint (m, vertical datum); NaN where there are none.
    ground_points : (n,) int
        Ground points used.
    roof : ZonalStats
        Roof point heights inside the footprint: counts and percentiles (m, vertical datum),
        and the sums for RMSEs.
    roof_source : (n,) object
        ``"class 6"`` (building points), ``"height above DTM"`` (unclassified points at least
        ``min_height`` above the terrain, for buildings without class-6 points) or ``None``.
    density : (n,) float
        Roof points per m² of footprint.
    nodata_fraction : (n,) float
        Share (0-1) of the footprint's cells (``cell`` m) holding no roof point.
    nodata_radius : (n,) float
        Radius (m) of the largest empty circle centred in the footprint: the greatest
        distance from a cell centre in it to the nearest roof point; NaN without points.
    cell : float
        The cell size (m) used for the no-data measures.
    roof_xyz : (k, 3) float
        The roof points themselves, grouped by footprint (footprint ``i`` holds rows
        ``roof_start[i]:roof_start[i + 1]``) and sorted within it, whatever the input order.
    roof_start : (n + 1,) int
        Where each footprint's roof points begin in ``roof_xyz``.
    """

    ground: NDArray[np.float64]
    ground_points: NDArray[np.int64]
    roof: ZonalStats
    roof_source: NDArray[np.object_]
    density: NDArray[np.float64]
    nodata_fraction: NDArray[np.float64]
    nodata_radius: NDArray[np.float64]
    cell: float
    roof_xyz: NDArray[np.float64]
    roof_start: NDArray[np.intp]


def point_stats(
    clouds: Sequence[PointCloud],
    geoms: NDArray[np.object_],
    /,
    *,
    percentiles: Sequence[float] = ROOF_PERCENTILES,
    ground_percentile: float = 5.0,
    ground_distance: float = 4.0,
    dtm: Terrain | None = None,
    min_height: float = 2.0,
    cell: float | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> PointStats:
    """Ground and roof statistics of every footprint from the points of ``clouds``.

    Parameters
    ----------
    clouds
        The point clouds (tiles), bound to the footprints' CRS.
    geoms : (n,) object
        Footprints (``None`` allowed: empty statistics).
    percentiles
        Roof percentiles to compute (0-100).
    ground_percentile
        Percentile of the ground points taken as the ground height (3DBAG: 5).
    ground_distance
        Metres around the footprint from which ground points count.
    dtm
        The terrain, needed for the height-above-DTM roof points of unclassified clouds.
    min_height
        Metres above the terrain from which an unclassified point counts as roof.
    cell
        Cell size (m) of the no-data measures; by default it adapts to the cloud's density
        (about four points per cell: ``2 / sqrt(points per m²)``, 0.5 m at least).
    chunk_size
        Points read at once.

    Returns
    -------
    PointStats
    """
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    usable = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    roofs = np.where(usable, geoms, None)
    grown = np.where(usable, shapely.buffer(roofs, ground_distance, quad_segs=4), None)
    roof_tree, ground_tree = shapely.STRtree(roofs), shapely.STRtree(grown)
    box = shapely.total_bounds(grown) if usable.any() else np.full(4, np.nan)
    g_owner, g_z, r_owner, r_x, r_y, r_z, r_kind = ([] for _ in range(7))
    for pts in stream(clouds, size=chunk_size):
        near = (pts.x >= box[0]) & (pts.x <= box[2]) & (pts.y >= box[1]) & (pts.y <= box[3])
        cls = pts.classification
        ground = np.flatnonzero(near & (cls == GROUND))
        hit, owner = ground_tree.query(
            shapely.points(pts.x[ground], pts.y[ground]), predicate="within"
        )
        g_owner.append(owner)
        g_z.append(pts.z[ground[hit]])
        roof = np.flatnonzero(near & np.isin(cls, (BUILDING, *UNCLASSIFIED)))
        hit, owner = roof_tree.query(shapely.points(pts.x[roof], pts.y[roof]), predicate="within")
        idx = roof[hit]
        kind = (cls[idx] != BUILDING).astype(np.int8)
        if dtm is not None and kind.any():
            other = np.flatnonzero(kind == 1)
            above = pts.z[idx[other]] - dtm.sample(np.column_stack([pts.x, pts.y])[idx[other]])
            kind[other[~(above >= min_height)]] = 2  # near the ground: no roof
        else:
            kind[kind == 1] = 2
        r_owner.append(owner)
        r_x.append(pts.x[idx])
        r_y.append(pts.y[idx])
        r_z.append(pts.z[idx])
        r_kind.append(kind)
    g_owner_a, g_z_a = np.concatenate(g_owner), np.concatenate(g_z)
    owner, x, y, z, kind = (np.concatenate(a) for a in (r_owner, r_x, r_y, r_z, r_kind))
    # A building with class-6 points uses only those; others their points above the terrain.
    has_class = np.bincount(owner[kind == 0], minlength=n) > 0
    keep = (kind == 0) | ((kind == 1) & ~has_class[owner])
    owner, x, y, z = owner[keep], x[keep], y[keep], z[keep]

    g_count, g_pct, _ = grouped_percentiles(g_owner_a, g_z_a, n, [ground_percentile])
    count, pct, ordered = grouped_percentiles(owner, z, n, [50.0, *percentiles])
    dev = ordered - np.repeat(pct[50.0], count)
    group = np.repeat(np.arange(n), count)
    roof_stats = ZonalStats(
        count=count,
        nodata=np.zeros(n, np.int64),
        percentiles={float(q): pct[float(q)] for q in percentiles},
        centre=pct[50.0],
        s1=np.bincount(group, dev, n),
        s2=np.bincount(group, dev * dev, n),
    )
    source = np.where(has_class, "class 6", np.where(count > 0, "height above DTM", None))
    area = shapely.area(roofs)
    with np.errstate(invalid="ignore", divide="ignore"):
        density = np.where(usable, count / area, np.nan)
    if cell is None:
        xmin, ymin, xmax, ymax = extent(clouds)
        total = sum(cloud.count for cloud in clouds)
        per_m2 = total / max((xmax - xmin) * (ymax - ymin), 1.0)
        cell = max(0.5, 2.0 / np.sqrt(max(per_m2, 1e-9)))
    fraction, radius = _gaps(roofs[usable], np.flatnonzero(usable), n, owner, x, y, float(cell))
    order = np.lexsort((z, y, x, owner))
    return PointStats(
        ground=g_pct[float(ground_percentile)],
        ground_points=g_count,
        roof=roof_stats,
        roof_source=source.astype(object),
        density=density,
        nodata_fraction=fraction,
        nodata_radius=np.where(count > 0, radius, np.nan),
        cell=float(cell),
        roof_xyz=np.column_stack([x, y, z])[order],
        roof_start=np.concatenate([[0], np.cumsum(count)]),
    )


def _gaps(
    geoms: NDArray[np.object_],
    rows: NDArray[np.intp],
    n: int,
    owner: NDArray[np.intp],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    cell: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """No-data fraction and radius per footprint from a grid of ``cell`` m over them all."""
    fraction, radius = np.full(n, np.nan), np.full(n, np.nan)
    if not len(geoms):
        return fraction, radius
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    left, top = np.floor(xmin / cell) * cell, np.ceil(ymax / cell) * cell
    width = int(np.ceil((xmax - left) / cell)) + 1
    height = int(np.ceil((top - ymin) / cell)) + 1
    local, crow, ccol = pixels_inside(geoms, (height, width), Affine(cell, 0, left, 0, -cell, top))
    c_owner = rows[local]
    cells = (c_owner * height + crow) * width + ccol
    prow = np.floor((top - y) / cell).astype(np.int64)
    pcol = np.floor((x - left) / cell).astype(np.int64)
    filled = np.isin(cells, (owner * height + prow) * width + pcol)
    total = np.bincount(c_owner, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(total > 0, 1.0 - np.bincount(c_owner, filled, n) / total, np.nan)
    if len(x):
        centres = np.column_stack([left + (ccol + 0.5) * cell, top - (crow + 0.5) * cell])
        distance, _ = cKDTree(np.column_stack([x, y])).query(centres)
        first = np.full(n, -np.inf)
        np.maximum.at(first, c_owner, distance)
        radius = np.where(np.isfinite(first), first, np.nan)
    return fraction, radius
