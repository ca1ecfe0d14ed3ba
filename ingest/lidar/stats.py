"""Per-building point statistics, 3DBAG-style: ground and roof percentiles, density, gaps.

The cloud is streamed chunk by chunk. Every chunk's points are assigned to footprints at once
(a label raster of the footprints, :mod:`ingest.lidar.assign`), and only the assigned heights
are kept, so memory grows with the points on buildings, not with the cloud. Statistics come from
one grouped sort at the end (:func:`ingest.zonal.grouped_percentiles`); nothing depends on
the order the points came in, so any chunk size gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import shapely
from affine import Affine
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from ingest.config import SAMPLINGS
from ingest.lidar.assign import Assigner
from ingest.lidar.read import CHUNK_SIZE, PointCloud, Points, stream
from ingest.zonal import ZonalStats, grouped_percentiles, pixels_inside
from twin.errors import InputError
from twin.terrain import Terrain

GROUND, BUILDING = 2, 6
#: classes that may be a roof when a building has no class-6 point (never / not classified)
UNCLASSIFIED = (0, 1)
ROOF_PERCENTILES = (0.0, 10.0, 50.0, 70.0, 95.0, 98.0, 100.0)
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

    def take(self, index: NDArray[np.intp], /) -> PointStats:
        """The statistics of the footprints ``index`` (in that order), their roof points
        with them."""
        index = np.asarray(index, dtype=np.intp)
        first, counts = self.roof_start[index], np.diff(self.roof_start)[index]
        start = np.concatenate([[0], np.cumsum(counts)]).astype(np.intp)
        # each kept footprint's rows first..first+count, gathered in one index array
        rows = np.repeat(first - start[:-1], counts) + np.arange(start[-1], dtype=np.intp)
        return PointStats(
            ground=self.ground[index],
            ground_points=self.ground_points[index],
            roof=self.roof.take(index),
            roof_source=self.roof_source[index],
            density=self.density[index],
            nodata_fraction=self.nodata_fraction[index],
            nodata_radius=self.nodata_radius[index],
            cell=self.cell,
            roof_xyz=self.roof_xyz[rows],
            roof_start=start,
        )


@dataclass(frozen=True)
class Allotted:
    """The rows a part of a cloud gives the statistics (:class:`Allot`).

    Attributes
    ----------
    ground_owner, ground_z : (g,) int, float
        Ground points within the ground distance of a footprint: the footprint, the height;
        a point near several footprints gives a row for each.
    owner, x, y, z, kind : (r,) int, float, float, float, int8
        Roof points inside a footprint: the footprint, the coordinates, and ``kind`` 0 for a
        class-6 point, 1 for another at least ``min_height`` above the terrain.
    sampled_owner, sampled_z : (t,) int, float
        The points 3dfier's sampling takes (``sampling="3dfier"`` only, else empty).
    """

    ground_owner: NDArray[np.intp]
    ground_z: NDArray[np.float64]
    owner: NDArray[np.intp]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    z: NDArray[np.float64]
    kind: NDArray[np.int8]
    sampled_owner: NDArray[np.intp]
    sampled_z: NDArray[np.float64]

    @classmethod
    def concat(cls, parts: Sequence[Allotted], /) -> Allotted:
        """The rows of ``parts`` (at least one) one after the other."""
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))


@dataclass(frozen=True)
class Allot:
    """Sorts a cloud's points to the footprints they count for, chunk by chunk (:meth:`__call__`).

    It holds what every chunk needs (the footprints laid out as label rasters, the terrain)
    and nothing of the points, so a cluster gets it once and allots parts of the clouds side
    by side (:meth:`part`). What a point counts for depends on the point alone, so the rows
    of the parts together are those of the whole clouds, in another order.

    Attributes
    ----------
    roof_cells, ground_cells
        The footprints, and the footprints grown by the ground distance.
    near_vertex
        Their vertices, for 3dfier's sampling; ``None`` for the points inside.
    dtm
        The terrain, for the height above it of points without class 6.
    min_height
        Metres above the terrain from which such a point counts as roof.
    classes
        The ASPRS classes used: the readers drop the others.
    """

    roof_cells: Assigner
    ground_cells: Assigner
    near_vertex: _NearVertices | None
    dtm: Terrain | None
    min_height: float
    classes: tuple[int, ...]

    def __call__(self, pts: Points, /) -> Allotted:
        """The rows of the chunk ``pts`` (in the project CRS)."""
        cls = pts.classification
        ground = np.flatnonzero(cls == GROUND)
        hit, ground_owner = self.ground_cells.assign(pts.x[ground], pts.y[ground])
        ground_z = pts.z[ground[hit]]
        roof = np.flatnonzero(np.isin(cls, (BUILDING, *UNCLASSIFIED)))
        hit, owner = self.roof_cells.assign(pts.x[roof], pts.y[roof])
        idx = roof[hit]
        kind = (cls[idx] != BUILDING).astype(np.int8)
        if self.dtm is not None and kind.any():
            other = idx[kind == 1]
            above = pts.z[other] - self.dtm.sample(np.column_stack([pts.x[other], pts.y[other]]))
            kind[np.flatnonzero(kind == 1)[~(above >= self.min_height)]] = 2  # near the ground
        else:
            kind[kind == 1] = 2
        sampled_owner, sampled_z = np.zeros(0, np.intp), np.zeros(0)
        if self.near_vertex is not None:
            n = len(self.roof_cells.geoms)
            last = (kind == 0) & pts.last_return[idx]
            cand = np.flatnonzero((cls == BUILDING) & pts.last_return)
            hit, near = self.near_vertex.assign(pts.x[cand], pts.y[cand])
            key = np.unique(np.concatenate([idx[last] * n + owner[last], cand[hit] * n + near]))
            point, sampled_owner = np.divmod(key, n)
            sampled_z = pts.z[point]
        if (kind == 2).any():  # points near the ground are never roof
            kept = np.flatnonzero(kind < 2)
            idx, owner, kind = idx[kept], owner[kept], kind[kept]
        return Allotted(
            ground_owner=ground_owner,
            ground_z=ground_z,
            owner=owner,
            x=pts.x[idx],
            y=pts.y[idx],
            z=pts.z[idx],
            kind=kind,
            sampled_owner=sampled_owner,
            sampled_z=sampled_z,
        )

    def part(self, cloud: PointCloud, points: range, /, *, size: int = CHUNK_SIZE) -> Allotted:
        """The rows of the points ``points`` of ``cloud`` (read ``size`` at a time), as a
        worker of a cluster allots them (:func:`ingest.lidar.read.parts`)."""
        # the polygons come unprepared from another process; preparing them again is a no-op
        shapely.prepare(self.roof_cells.geoms[~shapely.is_missing(self.roof_cells.geoms)])
        shapely.prepare(self.ground_cells.geoms[~shapely.is_missing(self.ground_cells.geoms)])
        chunks = cloud.chunks(size=size, classes=self.classes, part=points)
        return Allotted.concat([self(pts) for pts in chunks])


def nodata_cell(counts: Sequence[int], bounds: Sequence[Sequence[float]], /) -> float:
    """The default cell (m) of the no-data measures of clouds of ``counts`` points (their
    headers') within ``bounds`` (``xmin, ymin, xmax, ymax`` each, the project CRS): about four
    points per cell over their joint extent, ``2 / sqrt(points per m²)``, 0.5 m at least.

    Examples
    --------
    >>> nodata_cell([3_000_000, 1_000_000], [(0, 0, 500, 1000), (500, 0, 1000, 1000)])
    1.0
    >>> nodata_cell([100], [(0, 0, 1000, 1000)])
    200.0
    """
    b = np.asarray(bounds, dtype=float).reshape(-1, 4)
    area = (b[:, 2].max() - b[:, 0].min()) * (b[:, 3].max() - b[:, 1].min())
    per_m2 = sum(counts) / max(float(area), 1.0)
    return float(max(0.5, 2.0 / np.sqrt(max(per_m2, 1e-9))))


def reach(ground_distance: float, sampling: str, /) -> float:
    """How far (m) from a footprint a point can count for it: the ground points' distance,
    or 3dfier's radius around the vertices when larger."""
    return max(ground_distance, THREEDFIER_RADIUS if sampling == "3dfier" else 0.0)


def near(
    clouds: Sequence[PointCloud], geoms: NDArray[np.object_], distance: float, /
) -> list[PointCloud]:
    """The clouds whose extent (their header's) comes within ``distance`` m of a footprint:
    the others hold no point that counts for any, and are not read."""
    usable = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    if not len(clouds) or not len(usable):
        return []
    tree = shapely.STRtree(shapely.envelope(usable))
    boxes = shapely.box(*np.array([cloud.bounds for cloud in clouds]).T)
    hit = tree.query(boxes, predicate="dwithin", distance=distance)[0]
    return [clouds[i] for i in np.unique(hit)]


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
    cluster: Callable[[Allot, Sequence[PointCloud], int], Iterable[Allotted]] | None = None,
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
        Cell size (m) of the no-data measures; by default it adapts to the clouds' density
        (:func:`nodata_cell`).
    chunk_size
        Points read at once.
    sampling
        ``"inside"``: the roof statistics are of the roof points inside the footprint,
        percentiles interpolated linearly. ``"3dfier"``: as 3dfier lifts a building, of the
        class-6 points that are last returns and lie inside the footprint or within 3 m of
        one of its vertices, heights truncated to centimetres, the percentile ``q`` being the
        value at rank ``floor(n * q / 100)``. The roof points kept for LoD2.2, the density
        and the no-data measures are those inside the footprint either way.
    cluster
        Allots the points on a cluster (:func:`ingest.distributed.by_parts`): called with
        the :class:`Allot`, the clouds and ``chunk_size``, it gives the rows of every point,
        in any order. By default the points are read and allotted here, chunk by chunk.

    Returns
    -------
    PointStats
    """
    if sampling not in SAMPLINGS:
        raise InputError(f"roof sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
    classes = (GROUND, BUILDING, *UNCLASSIFIED)  # other classes are never used here
    geoms = np.asarray(geoms, dtype=object)
    if cell is None:
        cell = nodata_cell([c.count for c in clouds], [c.bounds for c in clouds])
    clouds = near(clouds, geoms, reach(ground_distance, sampling))
    # decoding starts while the footprints are laid out (in one process)
    chunks = None if cluster or not clouds else stream(clouds, size=chunk_size, classes=classes)
    n = len(geoms)
    usable = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    roofs = np.where(usable, geoms, None)
    grown = np.where(usable, shapely.buffer(roofs, ground_distance, quad_segs=4), None)
    allot = Allot(
        roof_cells=Assigner.of(roofs),
        ground_cells=Assigner.of(grown),
        near_vertex=_NearVertices.of(roofs) if sampling == "3dfier" else None,
        dtm=dtm,
        min_height=min_height,
        classes=classes,
    )
    if not clouds:
        allotted: Iterable[Allotted] = []
    elif cluster:
        allotted = cluster(allot, clouds, chunk_size)
    else:
        allotted = (allot(pts) for pts in chunks)
    gaps = _Gaps(roofs[usable], np.flatnonzero(usable), n, float(cell))
    # the rows kept are copied as the chunks come, while the reader decodes the next chunks
    ground_rows = _Rows(np.intp, np.float64)
    roof_rows = _Rows(np.intp, np.float64, np.float64, np.float64, np.int8)
    classed = np.zeros(n, np.int64)  # class-6 points per building
    t_owner: list[NDArray[np.intp]] = []
    t_z: list[NDArray[np.float64]] = []
    for rows in allotted:
        ground_rows.add(rows.ground_owner, rows.ground_z)
        roof_rows.add(rows.owner, rows.x, rows.y, rows.z, rows.kind)
        gaps.add(rows.owner, rows.x, rows.y, rows.kind)
        classed += np.bincount(rows.owner[rows.kind == 0], minlength=n)
        t_owner.append(rows.sampled_owner)
        t_z.append(rows.sampled_z)
    g_owner_a, g_z_a = ground_rows.columns()
    owner, x, y, z, kind = roof_rows.columns()
    # A building with class-6 points uses only those; others their points above the terrain.
    has_class = classed > 0
    if kind.any():
        keep = (kind == 0) | ~has_class[owner]
        owner, x, y, z = owner[keep], x[keep], y[keep], z[keep]
    with ThreadPoolExecutor(1, thread_name_prefix="twin-nodata") as pool:
        # The no-data measures (their tree first) and the ground percentiles, which need no row
        # order, are worked out while the rows are sorted (all mostly without the GIL).
        nodata = pool.submit(gaps.measure, has_class, owner, x, y)
        ground_stats = pool.submit(grouped_percentiles, g_owner_a, g_z_a, n, [ground_percentile])
        # Rows in their final order: the sorts below go faster on points grouped by building,
        # and none of their results depends on the order.
        order = _row_order(owner, *_sort_columns(clouds, x, y), z)
        owner, x, y, z = owner[order], x[order], y[order], z[order]
        count, pct, ordered = grouped_percentiles(owner, z, n, [50.0, *percentiles])
        if sampling == "3dfier":
            # 3dfier: heights truncated to centimetres, the value at rank floor(n * q) of each.
            cm = np.trunc(np.concatenate(t_z) * 100.0) / 100.0
            t_count, _, ordered = grouped_percentiles(np.concatenate(t_owner), cm, n, [])
            pct = _rank_percentiles(t_count, ordered, [50.0, *percentiles])
        roof_stats = _roof_stats(t_count if sampling == "3dfier" else count, ordered, pct)
        source = np.where(has_class, "class 6", np.where(count > 0, "height above DTM", None))
        area = shapely.area(roofs)
        with np.errstate(invalid="ignore", divide="ignore"):
            density = np.where(usable, count / area, np.nan)
        g_count, g_pct, _ = ground_stats.result()
        fraction, radius = nodata.result()
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


class _Rows:
    """Columns of rows added chunk by chunk (:meth:`add`), read as one array each (:meth:`columns`).

    Each chunk's rows are copied into the buffers when they come, so no concatenation is left
    for the end; a full buffer is replaced by one twice as large (a row is copied twice at most
    on average).
    """

    def __init__(self, *dtypes: type[np.generic]) -> None:
        self._data: list[NDArray[Any]] = [np.empty(0, dtype) for dtype in dtypes]
        self._size = 0

    def add(self, *columns: NDArray[Any]) -> None:
        """Add the rows ``columns`` make (one array per column, all of the same length)."""
        end = self._size + len(columns[0])
        if end > len(self._data[0]):
            grown = [np.empty(max(end, 2 * len(d)), d.dtype) for d in self._data]
            for new, old in zip(grown, self._data, strict=True):
                new[: self._size] = old[: self._size]
            self._data = grown
        for data, column in zip(self._data, columns, strict=True):
            data[self._size : end] = column
        self._size = end

    def columns(self) -> list[NDArray[Any]]:
        """The columns of all rows added, in the order added.

        Examples
        --------
        >>> rows = _Rows(np.intp, np.float64)
        >>> rows.add(np.array([3]), np.array([0.5]))
        >>> rows.add(np.array([1, 2]), np.array([1.5, 2.5]))
        >>> [c.tolist() for c in rows.columns()]
        [[3, 1, 2], [0.5, 1.5, 2.5]]
        """
        return [data[: self._size] for data in self._data]


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


def _row_order(*columns: NDArray[np.number], bits: int = 62) -> NDArray[np.intp]:
    """The order sorting the rows ``columns`` make by the first column, then the next...

    As :func:`numpy.lexsort` with the keys reversed, but several times faster: the leading
    columns whose ranks fit in ``bits`` bits together (two at least) are each replaced by
    their dense rank (one unstable sort each, two at a time), the ranks packed into one int64
    key, and one sort orders the rows by it. The columns left over only order the rows that
    tie on that key, a few: those rows alone are ordered the same way, by their tie and those
    columns. Rows that tie on every column are equal, so any order among them gives the same
    sorted rows. A column of non-negative integers below 2**31 (building numbers) is its own rank:
    no sort needed.

    Examples
    --------
    >>> rows = np.array([1, 0, 1, 0]), np.array([0.5, 2.0, 0.5, 2.0]), np.array([3.0, 2, 1, 0])
    >>> _row_order(*rows)
    array([3, 1, 2, 0])
    >>> _row_order(*rows, bits=3)  # owner and x packed, z ordering the ties alone
    array([3, 1, 2, 0])
    """
    n = len(columns[0])
    used, width = 0, 0
    for column in columns:
        size = _rank_bits(column)
        if used >= 2 and width + size > bits:  # two always fit: ranks below 2**31
            break
        used, width = used + 1, width + size
    with ThreadPoolExecutor(2, thread_name_prefix="twin-row-rank") as pool:
        # the sorts run two at a time, without the GIL
        ranks = list(pool.map(_rank, columns[:used]))
    key = np.zeros(n, np.int64)
    for rank, most in ranks:
        key = (key << most.bit_length()) | rank
    order = np.argsort(key)
    if used == len(columns) or n < 2:
        return order
    ordered = key[order]
    tie = ordered[1:] == ordered[:-1]
    if not tie.any():
        return order
    tied = np.flatnonzero(np.concatenate([[False], tie]) | np.concatenate([tie, [False]]))
    run = (np.cumsum(np.concatenate([[True], ~tie])) - 1)[tied]  # runs of equal keys, in order
    rows = order[tied]
    order[tied] = rows[_row_order(run, *(c[rows] for c in columns[used:]), bits=bits)]
    return order


def _sort_columns(
    clouds: Sequence[PointCloud], x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.number], NDArray[np.number]]:
    """Columns ordering the rows as ``x`` and ``y`` do, for :func:`_row_order`: their LAS
    integers (:func:`_on_grid`, no ranking needed) where every cloud keeps its coordinates
    (no transform) on one shared grid, else ``x`` and ``y`` themselves."""
    grids = {(c.scales[:2], c.offsets[:2]) for c in clouds}
    if len(grids) != 1 or any(c.transformer is not None for c in clouds):
        return x, y
    (scale_x, scale_y), (offset_x, offset_y) = grids.pop()
    ix, iy = _on_grid(x, scale_x, offset_x), _on_grid(y, scale_y, offset_y)
    if ix is None or iy is None:
        return x, y
    return ix, iy


def _on_grid(values: NDArray[np.float64], scale: float, offset: float) -> NDArray[np.int64] | None:
    """The integers ``k`` with ``values == k * scale + offset`` (as the reader scales the LAS
    integers), less the least of them; ``None`` when a value is not of that form.

    They order the rows exactly as ``values`` do, ties included. ``k`` is worked out as
    ``rint((v - offset) / scale)``: a subtraction, a division by a positive number and a
    rounding, each correctly rounded and so non-decreasing in ``v``; hence ``v < w`` gives
    ``k(v) <= k(w)``. Every ``v`` being checked to equal ``k(v) * scale + offset``, equal
    ``k`` mean equal ``v``: so ``v < w`` gives ``k(v) < k(w)``, and ``v == w`` gives
    ``k(v) == k(w)``. Whatever ``scale`` and ``offset`` are, the check keeps this true; they
    only decide whether it passes.

    Examples
    --------
    >>> _on_grid(np.array([523000.5, 523000.25, 523000.5]), 0.25, 523000.0).tolist()
    [1, 0, 1]
    >>> _on_grid(np.array([0.1, 0.3]), 0.25, 0.0) is None
    True
    """
    if not len(values) or not scale > 0:
        return None
    k = np.rint((values - offset) / scale)
    if not (np.array_equal(k * scale + offset, values) and np.abs(k).max() < 2**52):
        return None
    ints = k.astype(np.int64)
    return ints - ints.min()


def _rank_bits(column: NDArray[np.number]) -> int:
    """Bits the largest of :func:`_rank`'s integers for ``column`` takes at most."""
    if _own_rank(column):
        return int(column.max()).bit_length()
    return max(len(column) - 1, 0).bit_length()


def _own_rank(column: NDArray[np.number]) -> bool:
    """Whether ``column`` holds non-negative integers below 2**31: its own rank."""
    return bool(
        column.dtype.kind in "iu" and len(column) and column.min() >= 0 and column.max() < 2**31
    )


def _rank(column: NDArray[np.number]) -> tuple[NDArray[np.int64], int]:
    """Integers in the order of ``column``, and the largest: the column itself when it holds
    non-negative integers below 2**31 (building numbers), else its dense rank."""
    if _own_rank(column):
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


def _tree(
    x: NDArray[np.float64], y: NDArray[np.float64], apart: NDArray[np.float64]
) -> cKDTree | None:
    """A k-d tree of the points for nearest-point distances; ``None`` without points.

    The third coordinate ``apart`` sets the points of one footprint apart from the others'
    (:meth:`_Gaps.measure`). Built unbalanced with leaves of 64 points, the fastest to build
    here; the distances it finds do not depend on its shape.
    """
    if not len(x):
        return None
    points = np.column_stack([x, y, apart])
    return cKDTree(points, leafsize=64, balanced_tree=False, compact_nodes=False)


class _Gaps:
    """The no-data measures of footprints, from a grid of ``cell`` m laid over them all.

    The cells of every footprint are laid out first; each chunk's roof points then mark the
    cells they fall in (:meth:`add`) while the reader decodes the next chunks, so only the
    distances are left for the end (:meth:`measure`).

    Parameters
    ----------
    geoms : (m,) object
        The footprints that have a geometry.
    rows : (m,) int
        Their positions among the ``n`` footprints.
    n
        Footprints in all.
    cell
        Cell size (m).
    """

    def __init__(
        self, geoms: NDArray[np.object_], rows: NDArray[np.intp], n: int, cell: float
    ) -> None:
        self.n, self.cell = n, cell
        self.left = self.top = 0.0
        self.left_cell = self.top_cell = 0  # the grid's edges in cells from the CRS origin
        self.width = self.height = 1
        c_owner = crow = ccol = np.zeros(0, np.int64)
        if len(geoms):
            xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
            self.left_cell, self.top_cell = int(np.floor(xmin / cell)), int(np.ceil(ymax / cell))
            self.left, self.top = self.left_cell * cell, self.top_cell * cell
            self.width = int(np.ceil((xmax - self.left) / cell)) + 1
            self.height = int(np.ceil((self.top - ymin) / cell)) + 1
            window = Affine(cell, 0, self.left, 0, -cell, self.top)
            local, crow, ccol = pixels_inside(geoms, (self.height, self.width), window)
            c_owner = rows[local]
        key = (c_owner * self.height + crow) * self.width + ccol
        order = np.argsort(key)
        self.key, self.owner = key[order], c_owner[order]
        self.row, self.col = crow[order], ccol[order]
        self.first = np.searchsorted(self.key, self.key)  # the cell a repeated key marks
        self.filled = np.zeros((2, len(key)), bool)  # by class-6 points, by other points

    def add(
        self,
        owner: NDArray[np.intp],
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        kind: NDArray[np.int8],
    ) -> None:
        """Mark the cells holding the roof points ``x``, ``y`` of footprints ``owner``
        (``kind`` 0: class 6, 1: others)."""
        if not len(self.key):
            return
        # cells counted from the CRS origin, so that a footprint's cells are the same
        # whatever other footprints the grid covers
        prow = self.top_cell - np.ceil(y / self.cell).astype(np.int64)
        pcol = np.floor(x / self.cell).astype(np.int64) - self.left_cell
        key = (owner * self.height + prow) * self.width + pcol
        at = np.minimum(np.searchsorted(self.key, key), len(self.key) - 1)
        hit = self.key[at] == key
        self.filled[kind[hit], at[hit]] = True

    def measure(
        self,
        has_class: NDArray[np.bool_],
        owner: NDArray[np.intp],
        x: NDArray[np.float64],
        y: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """No-data fraction and radius per footprint; ``has_class`` tells the footprints whose
        class-6 points alone count, ``x``, ``y`` are the roof points that count, of footprints
        ``owner`` (any order).

        The radius is measured to the footprint's own points: each footprint's points are
        set a distance ``apart`` from any other's in a third coordinate, larger than the
        grid, so that a neighbour's points never count and a footprint's radius is the same
        whichever others are measured with it.
        """
        n, cell = self.n, self.cell
        fraction, radius = np.full(n, np.nan), np.full(n, np.nan)
        if not len(self.key):
            return fraction, radius
        apart = 2.0 * np.hypot(self.width, self.height) * cell + 1.0
        tree = _tree(x, y, owner * apart)
        c_owner = self.owner
        filled = (self.filled[0] | (self.filled[1] & ~has_class[c_owner]))[self.first]
        total = np.bincount(c_owner, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            fraction = np.where(total > 0, 1.0 - np.bincount(c_owner, filled, n) / total, np.nan)
        if tree is not None:
            centres = np.column_stack(
                [
                    (self.left_cell + self.col + 0.5) * cell,
                    (self.top_cell - self.row - 0.5) * cell,
                    c_owner * apart,
                ]
            )
            # A filled cell holds a point: its centre is at most half a diagonal from one. So
            # the filled cells matter only where no empty cell is farther; the others are
            # skipped. The queries run on all cores.
            largest = np.full(n, -np.inf)
            far = apart / 2.0  # farther: the nearest point is another footprint's (inf)
            distance, _ = tree.query(centres[~filled], workers=-1, distance_upper_bound=far)
            np.maximum.at(largest, c_owner[~filled], distance)
            rest = filled & (largest[c_owner] < cell * np.sqrt(0.5) * (1 + 1e-9))
            distance, _ = tree.query(centres[rest], workers=-1, distance_upper_bound=far)
            np.maximum.at(largest, c_owner[rest], distance)
            radius = np.where(np.isfinite(largest), largest, np.nan)
        return fraction, radius
