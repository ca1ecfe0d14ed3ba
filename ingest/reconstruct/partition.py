"""Footprints partitioned from labelled grid cells: by roof plane (LoD2.2) or height (LoD1.3).

A building's roof points are gridded (:class:`Grid`); each cell gets a label (the roof plane
that explains most of its points, or a height region); :func:`polygonise` turns the labels
into pieces of the footprint and :func:`merge` folds the pieces that are too small, too thin
or without points into their neighbours. :func:`by_planes` does all of it for the planes
found in the points; :mod:`ingest.reconstruct.lod13` for height steps. The parts go to
:func:`ingest.reconstruct.roofs.partition_solid`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from numpy.typing import NDArray
from rasterio.features import shapes
from scipy import ndimage

from ingest.reconstruct.planes import Planes
from ingest.zonal import pixels_inside

#: fewest roof points of a part
MIN_PART_POINTS = 3
#: metres: a point's distance to a plane counts up to this much against the plane
CAP = 1.0


@dataclass(frozen=True)
class Grid:
    """The cells of a footprint's bounding box.

    Attributes
    ----------
    transform
        North-up transform of the cells.
    shape
        ``(rows, cols)``.
    row, col : (k,) int
        The cell of each point.
    inside : (rows, cols) bool
        Cells whose centre is in the footprint or that hold a point.
    """

    transform: Affine
    shape: tuple[int, int]
    row: NDArray[np.intp]
    col: NDArray[np.intp]
    inside: NDArray[np.bool_]

    @classmethod
    def of(cls, footprint: shapely.Geometry, xy: NDArray[np.float64], cell: float, /) -> Grid:
        """The grid of ``cell`` m over ``footprint`` holding the points ``(k, 2)``."""
        xmin, ymin, xmax, ymax = shapely.bounds(footprint)
        cols = max(int(np.ceil((xmax - xmin) / cell)), 1)
        rows = max(int(np.ceil((ymax - ymin) / cell)), 1)
        transform = Affine(cell, 0.0, xmin, 0.0, -cell, ymax)
        col = np.clip(((xy[:, 0] - xmin) / cell).astype(np.intp), 0, cols - 1)
        row = np.clip(((ymax - xy[:, 1]) / cell).astype(np.intp), 0, rows - 1)
        _, pr, pc = pixels_inside(np.array([footprint]), (rows, cols), transform)
        inside = np.zeros((rows, cols), bool)
        inside[pr, pc] = True
        inside[row, col] = True
        return cls(transform=transform, shape=(rows, cols), row=row, col=col, inside=inside)

    def nearest(self, values: NDArray, known: NDArray[np.bool_], /) -> NDArray:
        """``values`` with every cell not ``known`` taking the value of the nearest known one."""
        near = ndimage.distance_transform_edt(~known, return_distances=False, return_indices=True)
        return values[near[0], near[1]]


def polygonise(
    footprint: shapely.Geometry, grid: Grid, label: NDArray[np.integer], /
) -> tuple[NDArray[np.object_], NDArray[np.intp]]:
    """Pieces of ``footprint`` with one ``label`` per cell of ``grid``, and their labels.

    Cells outside the footprint take the label of the nearest cell inside, so the labelled
    regions cover the footprint before they are clipped to it.
    """
    label = grid.nearest(np.asarray(label, dtype=np.int32), grid.inside)
    found = list(shapes(label, transform=grid.transform, connectivity=4))
    regions = np.array([shapely.geometry.shape(g) for g, _ in found], dtype=object)
    values = np.array([int(v) for _, v in found], dtype=np.intp)
    pieces, owner = shapely.get_parts(shapely.intersection(regions, footprint), return_index=True)
    keep = (shapely.get_type_id(pieces) == 3) & (shapely.area(pieces) > 0)
    return pieces[keep], values[owner[keep]]


def merge(
    parts: NDArray[np.object_],
    label: NDArray[np.intp],
    xyz: NDArray[np.float64],
    /,
    *,
    min_area: float,
    min_width: float,
    step: float | None = None,
    q: float = 70.0,
) -> tuple[list[shapely.Geometry], NDArray[np.intp], NDArray[np.float64]]:
    """Merge small, thin or empty parts into their neighbours (and, with ``step``, close ones).

    The worst part first: the smallest of those under ``min_area``, narrower than
    ``min_width`` (twice the area over the perimeter: a strip's width) or with fewer than
    :data:`MIN_PART_POINTS` points; then, with ``step``, the pair of neighbours closest in
    height (the ``q`` percentile of their points) while closer than ``step``. A part goes to
    the neighbour sharing most edge, which keeps its label.

    Returns the parts, their labels and their heights.
    """
    geoms = np.asarray(parts, dtype=object)
    m = len(geoms)
    # Shared edge lengths, areas, perimeters and points are kept per piece and summed as
    # pieces merge; the pieces of each part are united once, at the end.
    edges = shapely.boundary(geoms)
    i, j = shapely.STRtree(edges).query(edges, predicate="intersects")
    i, j = i[i < j], j[i < j]
    shared = np.zeros((m, m))
    shared[i, j] = shapely.length(shapely.intersection(edges[i], edges[j], grid_size=1e-3))
    shared += shared.T
    area, perimeter = shapely.area(geoms), shapely.length(geoms)
    inside = np.array([shapely.contains_xy(p, xyz[:, 0], xyz[:, 1]) for p in geoms])
    count = inside.sum(axis=1)
    height = np.array([np.percentile(xyz[w, 2], q) if w.any() else np.nan for w in inside])
    group = np.arange(m)
    alive = np.ones(m, bool)
    while alive.sum() > 1:
        thin = 2 * area < min_width * perimeter
        small = alive & ((area < min_area) | thin | (count < MIN_PART_POINTS))
        small &= shared.max(axis=1) > 0
        if small.any():
            k = int(np.flatnonzero(small)[np.argmin(area[small])])
            into = int(np.argmax(shared[k]))
        elif step is not None:
            gap = np.where(shared > 0, np.abs(height[:, None] - height[None, :]), np.inf)
            k, into = (int(v) for v in np.unravel_index(np.argmin(gap), gap.shape))
            if not gap[k, into] < step:
                break
        else:
            break
        perimeter[into] += perimeter[k] - 2 * shared[k, into]
        area[into] += area[k]
        shared[into] += shared[k]
        shared[:, into] += shared[:, k]
        shared[k], shared[:, k], shared[into, into] = 0.0, 0.0, 0.0
        inside[into] |= inside[k]
        count[into] = inside[into].sum()
        height[into] = np.percentile(xyz[inside[into], 2], q) if count[into] else np.nan
        group[group == k] = into
        alive[k] = False
    kept = np.flatnonzero(alive)
    # The pieces noded with each other on a millimetre grid, so that the parts share their
    # edges vertex for vertex (an exact coverage, which coverage_simplify and _snap need).
    cells, piece = _noded(geoms)
    merged = []
    for g in kept.tolist():
        pieces = shapely.get_parts(shapely.coverage_union_all(cells[group[piece] == g]))
        pieces = pieces[shapely.get_type_id(pieces) == 3]
        merged.append(pieces[0] if len(pieces) == 1 else shapely.MultiPolygon(list(pieces)))
    height = np.where(np.isnan(height[kept]), np.percentile(xyz[:, 2], q), height[kept])
    return merged, np.asarray(label)[kept], height


def _noded(pieces: NDArray[np.object_], /) -> tuple[NDArray[np.object_], NDArray[np.intp]]:
    """The faces of the pieces' outlines noded on a millimetre grid, and the piece of each.

    Examples
    --------
    >>> cells, piece = _noded(np.array([shapely.box(0, 0, 2, 2), shapely.box(2, 0, 3, 1)]))
    >>> sorted(zip(piece.tolist(), shapely.get_num_coordinates(cells).tolist()))
    [(0, 6), (1, 5)]
    """
    lines = shapely.union_all(shapely.boundary(pieces), grid_size=1e-3)
    cells = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    cells = cells[shapely.area(cells) > 0]
    inner, piece = shapely.STRtree(pieces).query(
        shapely.point_on_surface(cells), predicate="intersects"
    )
    first = np.unique(inner, return_index=True)[1]  # a point on a shared edge: the first
    return cells[inner[first]], piece[first]


def by_planes(
    footprint: shapely.Geometry,
    xyz: NDArray[np.float64],
    planes: Planes,
    /,
    *,
    cell: float,
    min_area: float = 4.0,
) -> tuple[NDArray[np.object_], NDArray[np.float64]]:
    """Partition ``footprint`` among the roof ``planes`` found in its points.

    Each cell goes to the plane that explains its points best (least sum of their vertical
    distances, each capped at :data:`CAP`; cells without points to the nearest that has
    some), the labels are smoothed by a 3 × 3 majority, polygonised,
    small and thin parts merged into their neighbours, the shared edges simplified and
    their vertices snapped onto the lines where the planes cross (within three cells).

    Parameters
    ----------
    footprint
        Polygon or multipolygon, in the frame of the points.
    xyz : (k, 3) float
        The roof points.
    planes
        The planes detected in them.
    cell
        Grid cell (m).
    min_area
        Smallest part (m²).

    Returns
    -------
    parts : (m,) object
        Polygons tiling the footprint.
    coef : (m, 3) float
        The plane ``(a, b, c)`` of each part.

    Examples
    --------
    Two planes meeting at a step (a shed against a flat annex):

    >>> from ingest.reconstruct.planes import detect
    >>> x, y = np.meshgrid(np.arange(0.25, 20, 0.5), np.arange(0.25, 10, 0.5))
    >>> z = np.where(x < 12, 10.0 + 0.4 * y, 6.0)
    >>> xyz = np.column_stack([x.ravel(), y.ravel(), z.ravel()])
    >>> parts, coef = by_planes(shapely.box(0, 0, 20, 10), xyz, detect(xyz), cell=1.0)
    >>> sorted(shapely.area(parts).round(1).tolist()), np.round(coef[:, 1], 2).tolist()
    ([80.0, 120.0], [0.4, 0.0])
    """
    grid = Grid.of(footprint, xyz[:, :2], cell)
    rows, cols = grid.shape
    n_planes = len(planes.coef)
    # Each point costs a plane its vertical distance to it, capped at CAP; a cell goes to the
    # plane of least total cost over its points.
    z = xyz[:, :2] @ planes.coef[:, :2].T + planes.coef[:, 2]
    cost = np.zeros((n_planes, rows, cols))
    for p in range(n_planes):
        np.add.at(cost[p], (grid.row, grid.col), np.minimum(np.abs(xyz[:, 2] - z[:, p]), CAP))
    known = np.zeros((rows, cols), bool)
    known[grid.row, grid.col] = True
    label = grid.nearest(cost.argmin(axis=0), known)
    one_hot = label[None, :, :] == np.arange(n_planes)[:, None, None]
    smooth = np.stack([ndimage.uniform_filter(h.astype(float), 3, mode="nearest") for h in one_hot])
    label = smooth.argmax(axis=0)
    pieces, piece_label = polygonise(footprint, grid, label)
    parts, part_label, _ = merge(
        pieces, piece_label, xyz, min_area=min_area, min_width=1.5 * cell, step=None
    )
    if len(parts) == 1:
        return np.array([footprint], dtype=object), planes.coef[part_label]
    parts = shapely.coverage_simplify(np.array(parts, dtype=object), cell, simplify_boundary=False)
    coef = planes.coef[part_label]
    return _snap(parts, coef, footprint, 3 * cell), coef


def _snap(
    parts: NDArray[np.object_],
    coef: NDArray[np.float64],
    footprint: shapely.Geometry,
    tolerance: float,
    /,
) -> NDArray[np.object_]:
    """Move the inner vertices the parts share onto the lines where their planes meet.

    A vertex shared by two parts goes to the nearest point of the line where their planes
    cross (along its edge of the outline, for a vertex on it: sliding past a corner of the
    footprint would cut the corner off), one inside shared by three or more (the
    corner of crossing gables) to the least-squares point of the lines where their planes
    cross, when that lies in the footprint; each only when the move is within ``tolerance``
    (m). The footprint's corners and the other vertices stay; so do the vertices of a part
    the moves would fold (beyond a fold of no width, made valid), and all of them when the
    moves would make parts overlap. Vertices are matched within 2 mm (the parts are an
    exact coverage on the millimetre grid); all parts move their copy of a vertex alike, so
    they still tile the footprint.

    Examples
    --------
    A ridge along ``y = 0`` whose drawn boundary wanders off it by 0.3 m:

    >>> parts = np.array([shapely.Polygon([(0, 0), (5, 0.3), (10, 0), (10, 5), (0, 5)]),
    ...                   shapely.Polygon([(0, 0), (0, -5), (10, -5), (10, 0), (5, 0.3)])])
    >>> gable = np.array([[0.0, -0.5, 5.0], [0.0, 0.5, 5.0]])
    >>> snapped = _snap(parts, gable, shapely.box(0, -5, 10, 5), 1.0)
    >>> shapely.get_coordinates(snapped[0])[1].tolist()
    [5.0, 0.0]
    """
    xy, owner = shapely.get_coordinates(parts, return_index=True)
    keys, inverse = np.unique(np.round(xy, 6), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    outline = shapely.boundary(footprint)
    on_outline = shapely.dwithin(outline, shapely.points(keys), 2e-3)
    ring_xy, ring = shapely.get_coordinates(
        shapely.get_rings(shapely.get_parts(footprint)), return_index=True
    )
    joined = ring[1:] == ring[:-1]
    edges = shapely.linestrings(np.stack([ring_xy[:-1][joined], ring_xy[1:][joined]], axis=1))
    corners = shapely.get_coordinates(footprint)
    corner = (np.abs(keys[:, None, :] - corners[None, :, :]).max(axis=2) < 2e-3).any(axis=1)
    moved = keys.copy()
    for v in np.flatnonzero(~corner).tolist():
        own = np.unique(owner[inverse == v])
        if len(own) < 2:
            continue
        # rows (a_i - a_j, b_i - b_j) · (x, y) = c_j - c_i of the pairs of planes
        pairs = list(itertools.combinations(own.tolist(), 2))
        rows = np.array([coef[i, :2] - coef[j, :2] for i, j in pairs])
        rhs = np.array([coef[j, 2] - coef[i, 2] for i, j in pairs])
        if len(own) == 2:
            norm2 = rows[0] @ rows[0]
            if norm2 < 1e-4:  # parallel planes: a step, not a line
                continue
            target = keys[v] - rows[0] * ((rows[0] @ keys[v] - rhs[0]) / norm2)
            if on_outline[v]:  # slide along its edge to where the line crosses it
                along = np.array([-rows[0, 1], rows[0, 0]]) / np.sqrt(norm2) * 3 * tolerance
                line = shapely.LineString([target - along, target + along])
                edge = edges[shapely.dwithin(edges, shapely.Point(keys[v]), 2e-3)]
                hits = shapely.get_coordinates(shapely.intersection(line, edge))
                if not len(hits):
                    continue
                target = hits[np.argmin(np.hypot(*(hits - keys[v]).T))]
        elif on_outline[v]:
            continue
        else:  # three or more planes: the point nearest the lines where they cross
            norm = np.hypot(rows[:, 0], rows[:, 1])
            line = norm >= 1e-2  # parallel planes cross nowhere
            if np.linalg.matrix_rank(rows[line] / norm[line, None], tol=0.1) < 2:
                continue
            target = np.linalg.lstsq(rows[line] / norm[line, None], rhs[line] / norm[line])[0]
            if not shapely.contains_xy(footprint, *target):
                continue
        if np.hypot(*(target - keys[v])) <= tolerance:
            moved[v] = target
    # Vertices moved one by one can fold a part where two of them cross on their way to one
    # line. A fold of no width (vertices micrometres apart where three planes meet) is made
    # valid; should the parts then not tile the footprint, the vertices of the folded parts
    # stay, in every part, and failing that, all of them.
    snapped = shapely.transform(parts, lambda c: moved[inverse])
    folded = ~shapely.is_valid(snapped)
    if folded.any():
        fixed = snapped.copy()
        fixed[folded] = [_polygonal(g) for g in shapely.make_valid(snapped[folded])]
        if _tiles(fixed, parts, footprint):
            return fixed
    while folded.any():
        back = np.unique(inverse[folded[owner]])
        moved[back] = keys[back]
        snapped = shapely.transform(parts, lambda c: moved[inverse])
        folded = ~shapely.is_valid(snapped)
    return snapped if _tiles(snapped, parts, footprint) else parts


def _polygonal(geom: shapely.Geometry, /) -> shapely.Geometry:
    """The polygons of a geometry ``make_valid`` returned, as one (multi)polygon."""
    pieces = shapely.get_parts(shapely.get_parts(geom))
    pieces = pieces[(shapely.get_type_id(pieces) == 3) & (shapely.area(pieces) > 0)]
    return pieces[0] if len(pieces) == 1 else shapely.MultiPolygon(list(pieces))


def _tiles(
    moved: NDArray[np.object_], parts: NDArray[np.object_], footprint: shapely.Geometry, /
) -> bool:
    """Whether the ``moved`` parts are valid and cover what ``parts`` did without overlapping.

    The outline's vertices slide along it, off the millimetre grid the parts were noded on:
    the area covered may change by a millimetre along the outline.
    """
    if not shapely.is_valid(moved).all():
        return False
    union = shapely.area(shapely.union_all(moved))
    before = shapely.area(shapely.union_all(parts))
    return bool(
        shapely.area(moved).sum() - union <= 1e-9 * union
        and abs(union - before) <= 1e-3 * shapely.length(footprint)
    )
