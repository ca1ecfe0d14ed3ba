"""Closed roof solids: a footprint partitioned into parts, each roofed by its own plane.

:func:`partition_solid` takes a footprint, a partition of it into parts and one plane per part
(flat or sloped) and builds one closed shell: the ground, a roof face per part, walls on the
footprint's edges and vertical step walls wherever neighbouring parts meet at different
heights. :func:`roof_solid` is the case of a roof that is the lower envelope of its planes
(flat, shed, gabled and hipped roofs are): each plane owns the convex cell where it is lowest.

The shell closes by construction. The parts' outlines are noded with the footprint's on a
millimetre grid (:data:`DECIMALS`) and polygonised again, so neighbouring parts share their
edges exactly; every vertex lying on another part's edge is inserted into it, and each wall
carries all the heights met at its vertical sides and the roof vertices above its footprint
edge (gable walls are pentagons), so no face has a T-junction. Every height is computed from
the rounded position; the heights of the parts meeting at a vertex that differ by at most
:data:`MERGE` become one (planes meeting along a ridge share its vertices), and where two
sloped parts cross along a shared edge the crossing point becomes a vertex, so step walls
never twist.
"""

from __future__ import annotations

import itertools

import numpy as np
import shapely
from numpy.typing import NDArray

from ingest.reconstruct.solids import MIN_HEIGHT
from twin.errors import InputError
from twin.polygon3d import triangulate
from twin.semantics import Semantic
from twin.terrain import Terrain

#: decimal places of the output coordinates (millimetres, as twin.validity checks them)
DECIMALS = 3
_SCALE = 10**DECIMALS
_GRID = 1.0 / _SCALE
#: metres within which the heights of parts meeting at a vertex become one
MERGE = 0.005
#: metres: the noded parts lose the vertices that bend an edge by a triangle under this
#: size squared (a Visvalingam-Whyatt coverage simplification); the footprint is their union
SIMPLIFY = 0.01

Key = tuple[int, int]  # a vertex: its coordinates in grid units (millimetres)
Edge = tuple[Key, Key]


def _near(points: NDArray[np.int64], targets: NDArray[np.int64], distance: float) -> NDArray:
    """Which of ``points`` lie within ``distance`` of one of ``targets`` (grid units).

    Examples
    --------
    >>> _near(np.array([[0, 0], [5, 0], [30, 0]]), np.array([[2, 0]]), 10).tolist()
    [True, True, False]
    """
    if not len(targets):
        return np.zeros(len(points), dtype=bool)
    gap = np.hypot(*(points[:, None, :] - targets[None, :, :]).transpose(2, 0, 1))
    return (gap <= distance).any(axis=1)


def roof_solid(
    footprint: shapely.Geometry,
    planes: NDArray[np.float64],
    ground: float,
    /,
    *,
    terrain: Terrain | None = None,
) -> tuple[NDArray[np.object_], NDArray[np.int8]]:
    """Faces of the closed solid under the lower envelope of ``planes`` over ``footprint``.

    Parameters
    ----------
    footprint
        Polygon or multipolygon (metres; holes allowed).
    planes : (p, 3) float
        ``(a, b, c)`` of ``z = a·x + b·y + c`` in the footprint's coordinates.
    ground
        Height of the ground face.
    terrain
        A terrain for a sloped base (as :func:`partition_solid`).

    Returns
    -------
    faces : (f,) object
        Polygon Z faces, outward-facing: the ground, the walls, the roof faces.
    semantic : (f,) int8
        :class:`twin.semantics.Semantic` of each face.

    Examples
    --------
    >>> gable = np.array([[0.0, 0.5, 10.0], [0.0, -0.5, 10.0]])  # ridge along y = 0
    >>> faces, sem = roof_solid(shapely.box(-5, -3, 5, 3), gable, 0.0)
    >>> sorted(int(shapely.get_num_coordinates(f)) - 1 for f in faces)
    [4, 4, 4, 4, 4, 5, 5]
    """
    cells = _cells(planes, shapely.bounds(footprint))
    return partition_solid(footprint, cells, planes, ground, terrain=terrain)


def partition_solid(
    footprint: shapely.Geometry,
    parts: NDArray[np.object_],
    planes: NDArray[np.float64],
    ground: float,
    /,
    *,
    terrain: Terrain | None = None,
) -> tuple[NDArray[np.object_], NDArray[np.int8]]:
    """Faces of the closed solid over ``footprint`` roofed part by part.

    Parameters
    ----------
    footprint
        Polygon or multipolygon (metres; holes allowed).
    parts : (m,) object
        Polygons partitioning the footprint. They may reach beyond it (they are clipped);
        a piece of the footprint mostly in one part goes to it, any other to the part it
        shares most edge with (the nearest when none). Invalid parts are made valid first.
    planes : (m, 3) float
        ``(a, b, c)`` of each part's roof plane ``z = a·x + b·y + c``.
    ground
        Height of the ground face.
    terrain
        With a terrain, the base follows it as the LoD1.2 blocks' does
        (:func:`ingest.reconstruct.solids.blocks`): each corner of the footprint stands at the
        terrain's height there (:meth:`twin.terrain.Terrain.interpolate`), the walls get
        sloping bottom edges and the ground face is cut into triangles. The base stays flat at
        ``ground`` where the terrain has no height at a corner or the roof comes within
        :data:`ingest.reconstruct.solids.MIN_HEIGHT` of the highest corner.

    Returns
    -------
    faces : (f,) object
        Polygon Z faces, outward-facing: the ground (triangles on a sloped base), the walls
        (outer, then step walls), the roof faces.
    semantic : (f,) int8
        :class:`twin.semantics.Semantic` of each face.

    Raises
    ------
    InputError
        When no part is given or a part's edge on the footprint outline is missing.

    Examples
    --------
    An L of two flat parts, 10 m and 4 m high, with a step wall where they meet:

    >>> parts = np.array([shapely.box(0, 0, 4, 8), shapely.box(4, 0, 10, 4)])
    >>> flat = np.array([[0.0, 0.0, 10.0], [0.0, 0.0, 4.0]])
    >>> ell = shapely.Polygon([(0, 0), (10, 0), (10, 4), (4, 4), (4, 8), (0, 8)])
    >>> faces, sem = partition_solid(ell, parts, flat, 0.0)
    >>> np.bincount(sem).tolist()  # the ground, 6 outer walls and the step, 2 roofs
    [1, 7, 2]
    """
    ground = round(float(ground), DECIMALS)
    given = shapely.set_precision(footprint, _GRID)
    polys, plane_of = _partition(given, np.asarray(parts, dtype=object))
    # The solid stands on the union of the parts (the footprint up to SIMPLIFY); its corners
    # are the footprint's, not the nodes where parts meet on its outline.
    footprint = shapely.orient_polygons(shapely.union_all(polys, grid_size=_GRID))
    planes = np.asarray(planes, dtype=float)[plane_of]
    rings = [[_keys(r) for r in shapely.get_rings(p)] for p in polys]
    outline_rings, ring_poly = shapely.get_rings(shapely.get_parts(footprint), return_index=True)
    outline = [_keys(r) for r in outline_rings]
    corners = {
        (x, y) for x, y in np.round(shapely.get_coordinates(given) * _SCALE).astype(int).tolist()
    }
    # The union's vertex standing for a corner may be off it by up to SIMPLIFY: the noded
    # parts' simplification can keep a node a few millimetres from the corner instead of it
    at_corners = np.array(sorted(corners), dtype=np.int64).reshape(-1, 2)
    ring_corners = [
        [tuple(v) for v in r[_near(r, at_corners, SIMPLIFY * _SCALE)].tolist()] for r in outline
    ]
    corners.update(itertools.chain.from_iterable(ring_corners))
    # A ring of the union keeping fewer than three of the footprint's corners has all of its
    # vertices as corners (ground and walls alike).
    for k, r in enumerate(outline):
        if len(ring_corners[k]) < 3:
            ring_corners[k] = [tuple(v) for v in r.tolist()]
            corners.update(ring_corners[k])
    nodes = np.unique(np.vstack([*(r for rs in rings for r in rs), *outline]), axis=0)
    noded = [[_node(r, nodes) for r in rs] for rs in rings]
    owner = _owner(noded)
    crossings = _crossings(owner, planes)
    if len(crossings):
        nodes = np.unique(np.vstack([nodes, crossings]), axis=0)
        noded = [[_node(r, nodes) for r in rs] for rs in rings]
        owner = _owner(noded)
    top = _heights(noded, planes)
    base = _base(corners, ground, terrain, min(top.values()))
    levels: dict[Key, set[float]] = {}
    for (v, _), z in top.items():
        levels.setdefault(v, set()).add(z)
    outline = [_node(r, nodes) for r in outline]
    for v in corners.union(*outline):
        levels.setdefault(v, set()).add(base.get(v, ground))
    ordered = {v: sorted(zs) for v, zs in levels.items()}
    walls = [w for r in outline for w in _outer_walls(r, corners, owner, top, ordered, base)]
    walls += _step_walls(owner, top, ordered)
    walls = [w for w in walls if w is not None]
    roofs = [
        shapely.Polygon(
            _xyz([(v, top[v, i]) for v in rs[0]]),
            [_xyz([(v, top[v, i]) for v in r]) for r in rs[1:]],
        )
        for i, rs in enumerate(noded)
    ]
    grounds = [
        shapely.Polygon(*_ground_rings(ring_corners, ring_poly, k, base))
        for k in range(int(ring_poly.max()) + 1)
    ]
    grounds = shapely.orient_polygons(np.array(grounds, dtype=object), exterior_cw=True)
    if len(set(base.values())) > 1:  # a sloped base: its faces are cut into triangles
        corners_3d, _ = triangulate(grounds)
        grounds = shapely.polygons(np.concatenate([corners_3d, corners_3d[:, :1]], axis=1))
    faces = np.concatenate([grounds, np.array(walls, dtype=object), np.array(roofs, dtype=object)])
    semantic = np.repeat(
        np.array(
            [Semantic.GroundSurface, Semantic.WallSurface, Semantic.RoofSurface], dtype=np.int8
        ),
        [len(grounds), len(walls), len(roofs)],
    )
    return faces, semantic


def _partition(
    footprint: shapely.Geometry, parts: NDArray[np.object_], /
) -> tuple[list[shapely.Polygon], NDArray[np.intp]]:
    """The parts clipped to ``footprint`` and noded with it and each other on the grid.

    Returns the polygons (oriented: exterior counter-clockwise), which tile the footprint up
    to :data:`SIMPLIFY`, and the part of each.
    """
    # Each part as valid polygons, remembering whose they are.
    pieces, src = shapely.get_parts(shapely.make_valid(parts), return_index=True)
    pieces, inner = shapely.get_parts(pieces, return_index=True)
    src = src[inner]
    polygonal = (shapely.get_type_id(pieces) == 3) & (shapely.area(pieces) > 0)
    parts, src = pieces[polygonal], src[polygonal]
    if not len(parts):
        raise InputError("no roof part to build a solid from")
    # Part vertices within two grid units of the outline go onto it, so that noding on the
    # grid makes their edges coincide with the outline's instead of leaving slivers.
    outline = shapely.line_merge(shapely.boundary(footprint))
    xy = shapely.get_coordinates(parts)
    points = shapely.points(xy)
    near = shapely.distance(outline, points) <= 2 * _GRID
    xy[near] = shapely.get_coordinates(
        shapely.line_interpolate_point(outline, shapely.line_locate_point(outline, points[near]))
    )
    moved = shapely.set_coordinates(parts.copy(), xy)
    lines = shapely.union_all(
        np.concatenate([shapely.boundary(shapely.get_parts(footprint)), shapely.boundary(moved)]),
        grid_size=_GRID,
    )
    cells = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    inside = shapely.area(shapely.intersection(cells, footprint)) > 0.5 * shapely.area(cells)
    cells = cells[inside]
    overlap = shapely.area(shapely.intersection(cells[:, None], parts[None, :]))
    # A cell in no part (a sliver between two outlines) goes to the part it shares most
    # edge with, the nearest when it shares none.
    edge = shapely.length(
        shapely.intersection(
            shapely.boundary(cells)[:, None], shapely.boundary(parts)[None, :], grid_size=_GRID
        )
    )
    near = shapely.distance(cells[:, None], parts[None, :]).argmin(axis=1)
    stray = np.where(edge.max(axis=1) > 0, edge.argmax(axis=1), near)
    label = src[
        np.where(overlap.max(axis=1) > 0.5 * shapely.area(cells), overlap.argmax(axis=1), stray)
    ]
    polys, plane_of = [], []
    for k in np.unique(label).tolist():
        merged = shapely.get_parts(shapely.union_all(cells[label == k], grid_size=_GRID))
        merged = merged[shapely.get_type_id(merged) == 3]
        polys.extend(merged.tolist())
        plane_of.extend([k] * len(merged))
    # Vertices that only bend an edge by a sliver (where the parts' outlines crossed the
    # footprint's edges) go, on shared edges and the outline alike.
    polys = shapely.coverage_simplify(np.array(polys, dtype=object), SIMPLIFY)
    # A part narrowing to a corridor may come out with a spike of no width: it goes.
    polys, whose = shapely.get_parts(shapely.make_valid(polys), return_index=True)
    polys, inner = shapely.get_parts(polys, return_index=True)
    whose = whose[inner]
    keep = (shapely.get_type_id(polys) == 3) & (shapely.area(polys) > 0)
    plane_of = np.array(plane_of, dtype=np.intp)[whose[keep]]
    return list(shapely.orient_polygons(polys[keep])), plane_of


def _keys(ring: shapely.LinearRing, /) -> NDArray[np.int64]:
    """The vertices ``(k, 2)`` of a closed ring in grid units, without the closing one."""
    return np.round(shapely.get_coordinates(ring)[:-1] * _SCALE).astype(np.int64)


def _node(ring: NDArray[np.int64], nodes: NDArray[np.int64], /) -> list[Key]:
    """The ring's vertices with every node lying on one of its edges inserted there.

    Examples
    --------
    >>> _node(np.array([[0, 0], [10, 0], [10, 10]]), np.array([[5, 0], [5, 5], [20, 0]]))
    [(0, 0), (5, 0), (10, 0), (10, 10), (5, 5)]
    """
    a = ring.astype(float)
    d = np.roll(a, -1, axis=0) - a
    length = np.hypot(d[:, 0], d[:, 1])
    rel = nodes[None, :, :] - a[:, None, :]
    along = (rel * d[:, None, :]).sum(axis=2) / length[:, None]
    off = np.abs(rel[..., 0] * d[:, None, 1] - rel[..., 1] * d[:, None, 0]) / length[:, None]
    on = (off <= 1.0) & (along > 0.5) & (along < length[:, None] - 0.5)
    out: list[Key] = []
    for k in range(len(ring)):
        out.append((int(ring[k, 0]), int(ring[k, 1])))
        mid = np.flatnonzero(on[k])
        out.extend((int(x), int(y)) for x, y in nodes[mid[np.argsort(along[k, mid])]])
    return [v for v, w in zip(out, out[1:] + out[:1], strict=True) if v != w]


def _edges(ring: list[Key], /) -> list[Edge]:
    return list(zip(ring, ring[1:] + ring[:1], strict=True))


def _owner(rings: list[list[list[Key]]], /) -> dict[Edge, int]:
    """The part on the left of each directed edge of the parts' rings."""
    return {e: i for i, rs in enumerate(rings) for r in rs for e in _edges(r)}


def _plane_z(plane: NDArray[np.float64], v: Key, /) -> float:
    return float(plane[0] * v[0] / _SCALE + plane[1] * v[1] / _SCALE + plane[2])


def _crossings(owner: dict[Edge, int], planes: NDArray[np.float64], /) -> NDArray[np.int64]:
    """Grid points ``(c, 2)`` where two parts' planes cross along an edge they share."""
    out = []
    for (a, b), p in owner.items():
        q = owner.get((b, a))
        if q is None or a > b:
            continue
        da = _plane_z(planes[p], a) - _plane_z(planes[q], a)
        db = _plane_z(planes[p], b) - _plane_z(planes[q], b)
        if da * db < 0 and min(abs(da), abs(db)) > MERGE:
            t = da / (da - db)
            out.append(np.round(np.array(a) + t * (np.array(b) - np.array(a))))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def _heights(rings: list[list[list[Key]]], planes: NDArray[np.float64], /) -> dict:
    """Roof height of every ``(vertex, part)``, those within :data:`MERGE` at a vertex made one.

    Heights within :data:`MERGE` of the next lower one at the vertex chain into one group,
    which takes the group's lowest height.
    """
    raw: dict[Key, list[tuple[float, int]]] = {}
    for i, rs in enumerate(rings):
        for v in {v for r in rs for v in r}:
            raw.setdefault(v, []).append((round(_plane_z(planes[i], v), DECIMALS), i))
    top: dict[tuple[Key, int], float] = {}
    for v, zs in raw.items():
        zs.sort()
        low = zs[0][0]
        for k, (z, i) in enumerate(zs):
            if k and z - zs[k - 1][0] > MERGE:
                low = z
            top[v, i] = low
    return top


def _between(levels: list[float], start: float, end: float, /) -> list[float]:
    """The ``levels`` strictly between ``start`` and ``end``, in order from ``start``."""
    inside = [z for z in levels if min(start, end) < z < max(start, end)]
    return inside if start <= end else inside[::-1]


def _wall(
    chain: list[Key],
    tops: list[tuple[float, float]],
    bottom: tuple[float, float],
    levels: dict[Key, list[float]],
    /,
) -> shapely.Polygon | None:
    """A vertical wall on the straight ``chain`` of vertices, outward to its right.

    ``tops[i]`` are the heights of the top of the wall over edge ``i`` of the chain at its
    start and end; ``bottom`` those of the wall's bottom at the chain's ends. The vertical
    sides carry every level met at their vertex. ``None`` when the wall has no height (a
    roof down on the ground: the shell stays open and fails validation).
    """
    first, last = chain[0], chain[-1]
    pts = [(first, bottom[0]), (last, bottom[1])]
    pts += [(last, z) for z in _between(levels[last], bottom[1], tops[-1][1])]
    pts.append((last, tops[-1][1]))
    for k in range(len(chain) - 2, 0, -1):  # the inner vertices, back along the top
        v, came, goes = chain[k], tops[k][0], tops[k - 1][1]
        pts += [(v, came), *((v, z) for z in _between(levels[v], came, goes)), (v, goes)]
    pts.append((first, tops[0][0]))
    pts += [(first, z) for z in _between(levels[first], tops[0][0], bottom[0])]
    ring = [p for p, q in zip(pts, pts[1:] + pts[:1], strict=True) if p != q]
    return shapely.Polygon(_xyz(ring)) if len(ring) >= 3 else None


def _outer_walls(
    ring: list[Key],
    corners: set[Key],
    owner: dict[Edge, int],
    top: dict,
    levels: dict[Key, list[float]],
    base: dict[Key, float],
) -> list[shapely.Polygon]:
    """One wall per edge of a (noded) footprint ring, topped by the parts along it.

    ``base`` gives the ground height at each corner.
    """
    start = next((k for k, v in enumerate(ring) if v in corners), 0)
    ring = ring[start:] + ring[:start]
    cut = [*sorted({0, *(k for k, v in enumerate(ring) if v in corners)}), len(ring)]
    walls = []
    for s, e in itertools.pairwise(cut):
        chain = ring[s : e + 1] if e < len(ring) else [*ring[s:], ring[0]]
        tops = []
        for a, b in itertools.pairwise(chain):
            p = owner.get((a, b))
            if p is None:
                raise InputError(
                    f"no roof part along the footprint edge at "
                    f"({a[0] / _SCALE:.3f}, {a[1] / _SCALE:.3f})"
                )
            tops.append((top[a, p], top[b, p]))
        walls.append(_wall(chain, tops, (base[chain[0]], base[chain[-1]]), levels))
    return walls


def _step_walls(
    owner: dict[Edge, int], top: dict, levels: dict[Key, list[float]], /
) -> list[shapely.Polygon]:
    """The vertical walls where two parts meet at different heights."""
    walls = []
    for (a, b), p in owner.items():
        q = owner.get((b, a))
        if q is None or a > b:
            continue
        zp, zq = (top[a, p], top[b, p]), (top[a, q], top[b, q])
        if zp == zq:
            continue
        if zp[0] >= zq[0] and zp[1] >= zq[1]:
            walls.append(_wall([a, b], [zp], zq, levels))
        else:
            walls.append(_wall([b, a], [zq[::-1]], zp[::-1], levels))
    return walls


def _base(
    corners: set[Key], ground: float, terrain: Terrain | None, lowest_roof: float, /
) -> dict[Key, float]:
    """The ground height at each corner: ``ground``, or the terrain's where it slopes the base."""
    keys = sorted(corners)
    flat = dict.fromkeys(keys, ground)
    if terrain is None:
        return flat
    z = np.round(terrain.interpolate(np.array(keys, dtype=float) / _SCALE), DECIMALS)
    if np.isnan(z).any() or z.max() > lowest_roof - MIN_HEIGHT:
        return flat
    return dict(zip(keys, z.tolist(), strict=True))


def _ground_rings(
    ring_corners: list[list[Key]], ring_poly: NDArray[np.intp], k: int, base: dict[Key, float], /
) -> tuple[NDArray[np.float64], list[NDArray[np.float64]]]:
    """Shell and holes of the ground face of outline polygon ``k``: its corners on ``base``."""
    rings = [
        _xyz([(v, base[v]) for v in c])
        for c, p in zip(ring_corners, ring_poly, strict=True)
        if p == k
    ]
    return rings[0], rings[1:]


def _xyz(ring: list[tuple[Key, float]], /) -> NDArray[np.float64]:
    """Coordinates ``(k, 3)`` of ``(vertex, height)`` pairs."""
    return np.array([(v[0] / _SCALE, v[1] / _SCALE, z) for v, z in ring])


def _cells(planes: NDArray[np.float64], bounds: NDArray[np.float64], /) -> NDArray[np.object_]:
    """Per plane, the convex part of the box ``bounds`` (grown by 1 m) where it is lowest."""
    xmin, ymin, xmax, ymax = bounds[0] - 1, bounds[1] - 1, bounds[2] + 1, bounds[3] + 1
    box = np.array([[xmin, ymin], [xmax, ymin], [xmax, ymax], [xmin, ymax]])
    out = []
    for i in range(len(planes)):
        poly = box
        for j in np.flatnonzero(np.arange(len(planes)) != i):
            poly = _clip(poly, planes[i] - planes[j])
        out.append(shapely.Polygon(poly) if len(poly) >= 3 else shapely.Polygon())
    return np.array(out, dtype=object)


def _clip(poly: NDArray[np.float64], line: NDArray[np.float64], /) -> NDArray[np.float64]:
    """The part of a convex polygon ``(k, 2)`` where ``a·x + b·y + c <= 0`` (Sutherland-Hodgman).

    Examples
    --------
    >>> square = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]])
    >>> _clip(square, np.array([1.0, 0.0, -1.0])).tolist()
    [[0.0, 0.0], [1.0, 0.0], [1.0, 2.0], [0.0, 2.0]]
    """
    if not len(poly):
        return poly
    s = poly @ line[:2] + line[2]
    nxt, s_nxt = np.roll(poly, -1, axis=0), np.roll(s, -1)
    out = []
    for p, q, sp, sq in zip(poly, nxt, s, s_nxt, strict=True):
        if sp <= 0:
            out.append(p)
        if (sp < 0 < sq) or (sq < 0 < sp):
            out.append(p + (q - p) * (sp / (sp - sq)))
    return np.array(out).reshape(-1, 2)
