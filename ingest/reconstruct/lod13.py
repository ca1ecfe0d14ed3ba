"""LoD1.3: each footprint split where its roof steps by ``step`` metres or more (3DBAG's rule).

The roof points of a building are gridded (the density-adapted cell of the point statistics:
about four points per cell), each cell takes the median height of its points and empty cells
that of the nearest cell with points. Neighbouring cells (4-connected) whose heights differ
by less than ``step`` join one region; the regions are polygonised (``rasterio.features``),
clipped to the footprint, and parts under ``min_area``, narrower than 1.5 cells or without
points are merged into the neighbour they share most edge with, as are neighbours whose
heights end up closer than ``step``. Each part gets the roof percentile of its points; the
shared edges are simplified (a coverage simplification, so the parts still tile the
footprint) and
:func:`ingest.reconstruct.roofs.partition_solid` builds the solid, with step walls between parts
(on a sloped base with a terrain, as the LoD1.2 blocks).
A building without enough points, or whose solid fails :func:`twin.validity.check`, keeps its
LoD1.2 block (``lod13_method = "lod1.2"``, the reason in ``lod13_fallback_reason``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ingest.lidar.stats import PointStats
from ingest.reconstruct.partition import Grid, merge, polygonise
from ingest.reconstruct.roofs import partition_solid
from ingest.reconstruct.solids import Solids, finish
from twin.terrain import Terrain

#: fewest roof points for a split
MIN_POINTS = 10


def reconstruct(
    geoms: NDArray[np.object_],
    stats: PointStats,
    /,
    *,
    ground_z: NDArray[np.float64],
    lod1_z: NDArray[np.float64],
    percentile: float,
    step: float = 3.0,
    min_area: float = 4.0,
    terrain: Terrain | None = None,
) -> Solids:
    """The LoD1.3 solids of footprints from their roof points.

    Parameters
    ----------
    geoms : (n,) object
        Footprints (``None`` allowed).
    stats
        Point statistics of the footprints, with their roof points.
    ground_z, lod1_z : (n,) float
        Ground and LoD1.2 roof height of each building (a one-part roof takes ``lod1_z``).
    percentile
        Roof percentile (0-100) giving each part its height (``[lod1] roof_percentile``).
    step
        Height step (m) from which the roof is split.
    min_area
        Smallest part (m²).
    terrain
        A terrain for sloped bases (``[lod1] base = "sloped"``): the solids and fallback
        blocks stand on it as the LoD1.2 blocks do (see
        :func:`ingest.reconstruct.roofs.partition_solid`).

    Returns
    -------
    Solids
    """
    n = len(geoms)
    count = np.diff(stats.roof_start)
    reason = np.full(n, None, dtype=object)
    parts_n = np.zeros(n, np.int64)
    has_geom = ~shapely.is_missing(geoms)
    reason[has_geom & (count < MIN_POINTS)] = f"fewer than {MIN_POINTS} roof points"
    reason[has_geom & ~(np.isfinite(ground_z) & np.isfinite(lod1_z) & (lod1_z > ground_z))] = (
        "no LoD1.2 heights"
    )
    reason[~has_geom] = "no usable footprint"
    models = {}
    point_owner = np.repeat(np.arange(n), count)
    roof_at = lod1_z[point_owner]  # the roof height over each point: the block's by default
    for i in np.flatnonzero(reason == None).tolist():  # noqa: E711 (element-wise)
        start, end = stats.roof_start[i], stats.roof_start[i + 1]
        xyz = stats.roof_xyz[start:end]
        parts, heights = split(
            geoms[i], xyz, cell=stats.cell, step=step, min_area=min_area, percentile=percentile
        )
        if len(parts) == 1:
            heights = lod1_z[i : i + 1]
        if np.round(heights, 3).min() <= round(ground_z[i], 3):
            reason[i] = "a part's roof at or below the ground"
            continue
        planes = np.column_stack([np.zeros((len(parts), 2)), heights])
        models[i] = partition_solid(geoms[i], parts, planes, ground_z[i], terrain=terrain)
        parts_n[i] = len(parts)
        roof_at[start:end] = heights[0]  # the first part's height, then each other part's points
        for part, h in zip(parts[1:], heights[1:], strict=True):
            roof_at[start:end][shapely.contains_xy(part, xyz[:, 0], xyz[:, 1])] = h
    solids, faces, owner, semantic, _ = finish(
        models, reason, geoms, ground_z=ground_z, lod1_z=lod1_z, terrain=terrain
    )
    fallback = reason != None  # noqa: E711 (element-wise)
    parts_n[fallback & (solids != None)] = 1  # noqa: E711
    method = np.where(~fallback, "parts", np.where(solids != None, "lod1.2", None))  # noqa: E711
    roof_at[fallback[point_owner]] = lod1_z[point_owner][fallback[point_owner]]
    dev = stats.roof_xyz[:, 2] - roof_at
    with np.errstate(invalid="ignore", divide="ignore"):
        rmse = np.sqrt(np.bincount(point_owner, dev * dev, n) / count)
    attributes = pd.DataFrame(
        {
            "lod13_parts": parts_n,
            "rmse_lod13": rmse,
            "lod13_method": method.astype(object),
            "lod13_fallback_reason": reason,
        }
    )
    return Solids(solids=solids, faces=faces, owner=owner, semantic=semantic, attributes=attributes)


def split(
    footprint: shapely.Geometry,
    xyz: NDArray[np.float64],
    /,
    *,
    cell: float,
    step: float,
    min_area: float,
    percentile: float,
) -> tuple[NDArray[np.object_], NDArray[np.float64]]:
    """Split a footprint where the roof of its points steps by ``step`` or more.

    Parameters
    ----------
    footprint
        Polygon or multipolygon.
    xyz : (k, 3) float
        Its roof points.
    cell
        Grid cell (m).
    step, min_area, percentile
        As for :func:`reconstruct`.

    Returns
    -------
    parts : (m,) object
        Polygons tiling the footprint.
    heights : (m,) float
        The roof percentile of each part's points.

    Examples
    --------
    A 6 m podium with a 20 m tower on its west half:

    >>> x, y = np.meshgrid(np.arange(0.25, 20, 0.5), np.arange(0.25, 10, 0.5))
    >>> z = np.where(x < 8, 20.0, 6.0)
    >>> xyz = np.column_stack([x.ravel(), y.ravel(), z.ravel()])
    >>> parts, h = split(
    ...     shapely.box(0, 0, 20, 10), xyz, cell=1.0, step=3.0, min_area=4.0, percentile=70.0
    ... )
    >>> sorted(shapely.area(parts).round(1).tolist()), sorted(h.tolist())
    ([80.0, 120.0], [6.0, 20.0])
    """
    grid = Grid.of(footprint, xyz[:, :2], cell)
    rows, cols = grid.shape
    flat = grid.row * cols + grid.col
    order = np.lexsort((xyz[:, 2], flat))
    flat_s, z_s = flat[order], xyz[order, 2]
    first = np.flatnonzero(np.r_[True, flat_s[1:] != flat_s[:-1]])
    counts = np.diff(np.r_[first, len(flat_s)])
    heights = np.full(rows * cols, np.nan)
    heights[flat_s[first]] = z_s[first + counts // 2]  # the (upper) median of each cell
    heights = heights.reshape(rows, cols)
    heights = grid.nearest(heights, ~np.isnan(heights))
    pieces, label = polygonise(footprint, grid, _regions(heights, grid.inside, step))
    parts, _, tops = merge(
        pieces, label, xyz, min_area=min_area, min_width=1.5 * cell, step=step, q=percentile
    )
    if np.ptp(tops) < step:  # one level (in parts that do not touch, on a multi-part footprint)
        return np.array([footprint], dtype=object), np.percentile(
            xyz[:, 2], percentile, keepdims=True
        )
    parts = shapely.coverage_simplify(np.array(parts, dtype=object), cell, simplify_boundary=False)
    return parts, tops


def _regions(grid: NDArray[np.float64], inside: NDArray[np.bool_], step: float, /) -> NDArray:
    """Labels ``(rows, cols)`` int32 of the 4-connected regions of cells closer than ``step``."""
    rows, cols = grid.shape
    index = np.arange(rows * cols).reshape(rows, cols)
    pairs = []
    for a, b, za, zb, ia, ib in (
        (index[:, :-1], index[:, 1:], grid[:, :-1], grid[:, 1:], inside[:, :-1], inside[:, 1:]),
        (index[:-1], index[1:], grid[:-1], grid[1:], inside[:-1], inside[1:]),
    ):
        join = ia & ib & (np.abs(za - zb) < step)
        pairs.append(np.column_stack([a[join], b[join]]))
    edges = np.vstack(pairs)
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(rows * cols,) * 2)
    _, label = connected_components(graph, directed=False)
    return label.reshape(rows, cols).astype(np.int32)
