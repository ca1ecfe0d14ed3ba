"""Per-building point statistics, 3DBAG-style: ground and roof percentiles, density, gaps.

The cloud is streamed chunk by chunk. Every chunk's points are assigned to footprints at once
(a label raster of the footprints, :mod:`ingest.lidar.assign`), and only the assigned heights
are kept, so memory grows with the points on buildings, not with the cloud. Statistics come from
one grouped sort at the end (:func:`ingest.zonal.grouped_percentiles`); nothing depends on
the order the points came in, so any chunk size gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from ingest.lidar.assign import Assigner
from ingest.lidar.read import CHUNK_SIZE, PointCloud, extent, stream
from ingest.zonal import ZonalStats, grouped_percentiles, pixels_inside
from twin.errors import InputError
from twin.terrain import Terrain

GROUND, BUILDING = 2, 6
#: classes that may be a roof when a building has no class-6 point (never / not classified)
UNCLASSIFIED = (0, 1)
ROOF_PERCENTILES = (0.0, 10.0, 50.0, 70.0, 95.0, 98.0, 100.0)
#: ways to pick and rank a building's roof points (``[lidar] roof_sampling``)
SAMPLINGS = ("inside", "3dfier")
#: 3dfier's ``building_radius_vertex_elevation`` (m) of its example configuration
THREEDFIER_RADIUS = 3.0


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
    sampling: str = "inside",
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
    sampling
        ``"inside"``: the roof statistics are of the roof points inside the footprint,
        percentiles interpolated linearly. ``"3dfier"``: as 3dfier lifts a building, of the
        class-6 points that are last returns and lie inside the footprint or within 3 m of
        one of its vertices, heights truncated to centimetres, the percentile ``q`` being the
        value at rank ``floor(n * q / 100)``. The roof points kept for LoD2.2, the density
        and the no-data measures are those inside the footprint either way.

    Returns
    -------
    PointStats
    """
    if sampling not in SAMPLINGS:
        raise InputError(f"roof sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
    # decoding starts while the footprints are laid out; other classes are never used here
    chunks = stream(clouds, size=chunk_size, classes=(GROUND, BUILDING, *UNCLASSIFIED))
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    usable = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    roofs = np.where(usable, geoms, None)
    grown = np.where(usable, shapely.buffer(roofs, ground_distance, quad_segs=4), None)
    roof_cells, ground_cells = Assigner.of(roofs), Assigner.of(grown)
    near_vertex = _NearVertices.of(roofs) if sampling == "3dfier" else None
    g_owner, g_z, r_owner, r_x, r_y, r_z, r_kind, t_owner, t_z = ([] for _ in range(9))
    for pts in chunks:
        cls = pts.classification
        ground = np.flatnonzero(cls == GROUND)
        hit, owner = ground_cells.assign(pts.x[ground], pts.y[ground])
        g_owner.append(owner)
        g_z.append(pts.z[ground[hit]])
        roof = np.flatnonzero(np.isin(cls, (BUILDING, *UNCLASSIFIED)))
        hit, owner = roof_cells.assign(pts.x[roof], pts.y[roof])
        idx = roof[hit]
        kind = (cls[idx] != BUILDING).astype(np.int8)
        if dtm is not None and kind.any():
            other = idx[kind == 1]
            above = pts.z[other] - dtm.sample(np.column_stack([pts.x[other], pts.y[other]]))
            kind[np.flatnonzero(kind == 1)[~(above >= min_height)]] = 2  # near the ground
        else:
            kind[kind == 1] = 2
        if near_vertex is not None:
            last = (kind == 0) & pts.last_return[idx]
            cand = np.flatnonzero((cls == BUILDING) & pts.last_return)
            hit, near = near_vertex.assign(pts.x[cand], pts.y[cand])
            key = np.unique(np.concatenate([idx[last] * n + owner[last], cand[hit] * n + near]))
            point, building = np.divmod(key, n)
            t_owner.append(building)
            t_z.append(pts.z[point])
        if (kind == 2).any():  # points near the ground are never roof
            kept = np.flatnonzero(kind < 2)
            idx, owner, kind = idx[kept], owner[kept], kind[kept]
        r_owner.append(owner)
        r_x.append(pts.x[idx])
        r_y.append(pts.y[idx])
        r_z.append(pts.z[idx])
        r_kind.append(kind)
    g_owner_a, g_z_a = np.concatenate(g_owner), np.concatenate(g_z)
    owner, x, y, z, kind = (np.concatenate(a) for a in (r_owner, r_x, r_y, r_z, r_kind))
    # A building with class-6 points uses only those; others their points above the terrain.
    has_class = np.bincount(owner[kind == 0], minlength=n) > 0
    if kind.any():
        keep = (kind == 0) | ~has_class[owner]
        owner, x, y, z = owner[keep], x[keep], y[keep], z[keep]
    with ThreadPoolExecutor(1, thread_name_prefix="twin-nodata-tree") as pool:
        # The no-data measures' tree is built while the rows are sorted (both without the GIL).
        tree = pool.submit(_tree, x, y)
        # Rows in their final order: the sorts below go faster on points grouped by building,
        # and none of their results depends on the order.
        order = _row_order(owner, x, y, z)
        owner, x, y, z = owner[order], x[order], y[order], z[order]
        g_count, g_pct, _ = grouped_percentiles(g_owner_a, g_z_a, n, [ground_percentile])
        count, pct, ordered = grouped_percentiles(owner, z, n, [50.0, *percentiles])
        if near_vertex is not None:
            # 3dfier: heights truncated to centimetres, the value at rank floor(n * q) of each.
            cm = np.trunc(np.concatenate(t_z) * 100.0) / 100.0
            t_count, _, ordered = grouped_percentiles(np.concatenate(t_owner), cm, n, [])
            pct = _rank_percentiles(t_count, ordered, [50.0, *percentiles])
        roof_stats = _roof_stats(t_count if near_vertex is not None else count, ordered, pct)
        source = np.where(has_class, "class 6", np.where(count > 0, "height above DTM", None))
        area = shapely.area(roofs)
        with np.errstate(invalid="ignore", divide="ignore"):
            density = np.where(usable, count / area, np.nan)
        if cell is None:
            xmin, ymin, xmax, ymax = extent(clouds)
            total = sum(cloud.count for cloud in clouds)
            per_m2 = total / max((xmax - xmin) * (ymax - ymin), 1.0)
            cell = max(0.5, 2.0 / np.sqrt(max(per_m2, 1e-9)))
        fraction, radius = _gaps(
            roofs[usable], np.flatnonzero(usable), n, owner, x, y, tree.result(), float(cell)
        )
    return PointStats(
        ground=g_pct[float(ground_percentile)],
        ground_points=g_count,
        roof=roof_stats,
        roof_source=source.astype(object),
        density=density,
        nodata_fraction=fraction,
        nodata_radius=np.where(count > 0, radius, np.nan),
        cell=float(cell),
        roof_xyz=np.column_stack([x, y, z]),
        roof_start=np.concatenate([[0], np.cumsum(count)]),
    )


def _roof_stats(
    count: NDArray[np.int64], ordered: NDArray[np.float64], pct: dict[float, NDArray[np.float64]]
) -> ZonalStats:
    """Roof statistics from the grouped, sorted heights and their percentiles (incl. 50)."""
    n = len(count)
    dev = ordered - np.repeat(pct[50.0], count)
    group = np.repeat(np.arange(n), count)
    return ZonalStats(
        count=count,
        nodata=np.zeros(n, np.int64),
        percentiles={q: v for q, v in pct.items()},
        centre=pct[50.0],
        s1=np.bincount(group, dev, n),
        s2=np.bincount(group, dev * dev, n),
    )


def _row_order(*columns: NDArray[np.number]) -> NDArray[np.intp]:
    """The order sorting the rows ``columns`` make by the first column, then the next...

    As :func:`numpy.lexsort` with the keys reversed, but several times faster: each column is
    replaced by its dense rank (one unstable sort), and the ranks are packed into one int64
    key, column by column (a key about to outgrow 62 bits is replaced by its own dense rank
    first: at most 31 bits), so one sort orders the rows. Rows that tie are equal in every
    column, so any order among them gives the same sorted rows. A column of non-negative
    integers below 2**31 (building numbers) is its own rank: no sort needed.

    Examples
    --------
    >>> _row_order(np.array([1, 0, 1, 0]), np.array([0.5, 2.0, -1.0, 2.0]), np.arange(4.0))
    array([1, 3, 2, 0])
    """
    with ThreadPoolExecutor(2, thread_name_prefix="twin-row-rank") as pool:
        ranks = list(pool.map(_rank, columns))  # the sorts run two at a time, without the GIL
    key, top = np.zeros(len(columns[0]), np.int64), 0
    for rank, most in ranks:
        if top.bit_length() + most.bit_length() > 62:
            key, top = _dense_rank(key)
        key = (key << most.bit_length()) | rank
        top = (top << most.bit_length()) | most
    return np.argsort(key)


def _rank(column: NDArray[np.number]) -> tuple[NDArray[np.int64], int]:
    """Integers in the order of ``column``, and the largest: the column itself when it holds
    non-negative integers below 2**31 (building numbers), else its dense rank."""
    if column.dtype.kind in "iu" and len(column) and column.min() >= 0 and column.max() < 2**31:
        return column.astype(np.int64), int(column.max())
    return _dense_rank(column)


def _dense_rank(values: NDArray[np.number]) -> tuple[NDArray[np.int64], int]:
    """Per value, how many distinct values are smaller; and the largest rank."""
    if not len(values):
        return np.zeros(0, np.int64), 0
    order = np.argsort(values)
    ordered = values[order]
    rank = np.empty(len(values), np.int64)
    rank[order] = np.concatenate([[0], np.cumsum(ordered[1:] != ordered[:-1])])
    return rank, int(rank[order[-1]])


def _rank_percentiles(
    count: NDArray[np.int64], ordered: NDArray[np.float64], percentiles: Sequence[float]
) -> dict[float, NDArray[np.float64]]:
    """3dfier's percentiles: the value at rank ``floor(n * q / 100)`` (the last for q = 100).

    Examples
    --------
    >>> p = _rank_percentiles(np.array([4, 0]), np.array([1.0, 2.0, 3.0, 4.0]), [0, 90, 100])
    >>> p[90.0].tolist(), p[100.0].tolist()
    ([4.0, nan], [4.0, nan])
    """
    start = np.cumsum(count) - count
    has = count > 0
    out = {}
    for q in percentiles:
        rank = np.minimum(np.floor(count * (q / 100.0)).astype(np.int64), count - 1)
        res = np.full(len(count), np.nan)
        res[has] = ordered[(start + rank)[has]]
        out[float(q)] = res
    return out


@dataclass(frozen=True)
class _NearVertices:
    """The footprint vertices, to find the points within 3dfier's radius of them."""

    tree: shapely.STRtree
    owner: NDArray[np.intp]

    @classmethod
    def of(cls, geoms: NDArray[np.object_]) -> _NearVertices:
        xy, owner = shapely.get_coordinates(geoms, return_index=True)
        return cls(shapely.STRtree(shapely.points(xy)), owner)

    def assign(
        self, x: NDArray[np.float64], y: NDArray[np.float64]
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Pairs ``(point, footprint)`` of points within the radius of a footprint vertex."""
        hit, vertex = self.tree.query(
            shapely.points(x, y), predicate="dwithin", distance=THREEDFIER_RADIUS
        )
        span = len(self.owner)  # vertices: more than the footprints
        return np.divmod(np.unique(hit * span + self.owner[vertex]), span)


def _tree(x: NDArray[np.float64], y: NDArray[np.float64]) -> cKDTree | None:
    """A k-d tree of the points for nearest-point distances; ``None`` without points.

    Built unbalanced with leaves of 64 points, the fastest to build here; the distances it
    finds do not depend on its shape.
    """
    if not len(x):
        return None
    return cKDTree(np.column_stack([x, y]), leafsize=64, balanced_tree=False, compact_nodes=False)


def _gaps(
    geoms: NDArray[np.object_],
    rows: NDArray[np.intp],
    n: int,
    owner: NDArray[np.intp],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    tree: cKDTree | None,
    cell: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """No-data fraction and radius per footprint from a grid of ``cell`` m over them all.

    ``tree`` holds the points ``x``, ``y`` (:func:`_tree`), in any order.
    """
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
    held = np.sort((owner * height + prow) * width + pcol)  # cells holding a point
    at = np.minimum(np.searchsorted(held, cells), len(held) - 1)
    filled = held[at] == cells if len(held) else np.zeros(len(cells), bool)
    total = np.bincount(c_owner, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(total > 0, 1.0 - np.bincount(c_owner, filled, n) / total, np.nan)
    if tree is not None:
        centres = np.column_stack([left + (ccol + 0.5) * cell, top - (crow + 0.5) * cell])
        # A filled cell holds a point: its centre is at most half a diagonal from one. So the
        # filled cells matter only where no empty cell is farther; the others are skipped.
        largest = np.full(n, -np.inf)
        distance, _ = tree.query(centres[~filled])
        np.maximum.at(largest, c_owner[~filled], distance)
        rest = filled & (largest[c_owner] < cell * np.sqrt(0.5) * (1 + 1e-9))
        distance, _ = tree.query(centres[rest])
        np.maximum.at(largest, c_owner[rest], distance)
        radius = np.where(np.isfinite(largest), largest, np.nan)
    return fraction, radius
