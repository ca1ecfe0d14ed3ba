"""Validity of solids after ISO 19107, checked the way val3dity does and named by its codes.

Every solid (a MultiPolygon Z shell, one row per building) is checked after its coordinates
are rounded for output, since that is the geometry others will read. All solids of a layer
are checked at once: rings, polygons and shells become arrays of vertices and edges.
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray

from twin.polygon3d import triangulate, vector_area

#: val3dity error code -> name
CODES: dict[int, str] = {
    101: "TOO_FEW_POINTS",
    102: "CONSECUTIVE_POINTS_SAME",
    104: "RING_SELF_INTERSECTION",
    201: "INTERSECTION_RINGS",
    203: "NON_PLANAR_POLYGON_DISTANCE_PLANE",
    204: "NON_PLANAR_POLYGON_NORMALS_DEVIATION",
    205: "POLYGON_INTERIOR_DISCONNECTED",
    206: "INNER_RING_OUTSIDE",
    207: "INNER_RINGS_NESTED",
    208: "ORIENTATION_RINGS_SAME",
    301: "TOO_FEW_POLYGONS",
    302: "SHELL_NOT_CLOSED",
    304: "NON_MANIFOLD_EDGE",
    307: "POLYGON_WRONG_ORIENTATION",
}
#: GEOS validity reasons of a face projected to 2D -> code
_GEOS_REASONS = {
    "Too few points": 101,
    "Ring Self-intersection": 104,
    "Self-intersection": 201,
    "Interior is disconnected": 205,
    "Hole lies outside shell": 206,
    "Nested holes": 207,
    "Nested shells": 201,
    "Duplicate Rings": 201,
}


def check(
    solids: NDArray[np.object_],
    /,
    *,
    decimals: int = 3,
    planarity: float = 0.01,
    normals: float = 20.0,
) -> tuple[list[list[int]], NDArray[np.object_]]:
    """Check ``n`` solids and repair the simple cases.

    Repairs: coordinates are snapped to ``decimals`` (the output precision) and repeated
    consecutive vertices dropped (102); a shell whose faces all point inwards is turned
    over (307). The codes are those that remain after repair.

    Parameters
    ----------
    solids : (n,) object
        MultiPolygon Z shells (``None`` for buildings without a solid).
    decimals
        Decimal places of the output coordinates (3: millimetres).
    planarity
        Largest distance (m) of a vertex from its face's plane (203; val3dity: 1 cm).
    normals
        Largest angle (degrees) between a face's normal and that of any of its triangles
        (204; val3dity: 20).

    Returns
    -------
    codes : list of list of int
        The error codes of each solid, sorted; empty when valid or absent.
    repaired : (n,) object
        The solids after snapping and repair.

    Examples
    --------
    >>> cube = shapely.MultiPolygon([
    ...     shapely.Polygon([(0, 0, 0), (0, 1, 0), (1, 1, 0), (1, 0, 0)]),
    ...     shapely.Polygon([(0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)]),
    ...     shapely.Polygon([(0, 0, 0), (1, 0, 0), (1, 0, 1), (0, 0, 1)]),
    ...     shapely.Polygon([(1, 0, 0), (1, 1, 0), (1, 1, 1), (1, 0, 1)]),
    ...     shapely.Polygon([(1, 1, 0), (0, 1, 0), (0, 1, 1), (1, 1, 1)]),
    ...     shapely.Polygon([(0, 1, 0), (0, 0, 0), (0, 0, 1), (0, 1, 1)]),
    ... ])
    >>> codes, _ = check(np.array([cube, shapely.MultiPolygon(list(cube.geoms)[:5])]))
    >>> codes
    [[], [302]]
    """
    solids = np.asarray(solids, dtype=object)
    n = len(solids)
    found: list[set[int]] = [set() for _ in range(n)]
    present = np.flatnonzero(~shapely.is_missing(solids) & ~shapely.is_empty(solids))
    repaired = solids.copy()
    if not len(present):
        return [[] for _ in range(n)], repaired
    faces, face_owner = shapely.get_parts(solids[present], return_index=True)
    face_owner = present[face_owner]
    faces = _snap(faces, decimals, face_owner, found)
    # Shells pointing inwards as a whole are turned over (val3dity reports them as 307).
    volume = _signed_volume(faces, face_owner, n)
    inverted = volume < 0
    if inverted.any():
        flip = inverted[face_owner]
        faces[flip] = shapely.reverse(faces[flip])
    _polygons(faces, face_owner, found, planarity, normals)
    _shells(faces, face_owner, n, found, decimals)
    built, dense = np.unique(face_owner, return_inverse=True)
    repaired[built] = shapely.multipolygons(faces, indices=dense)
    return [sorted(c) for c in found], repaired


def names(codes: list[int], /) -> list[str]:
    """The val3dity names of ``codes``.

    Examples
    --------
    >>> names([203, 302])
    ['NON_PLANAR_POLYGON_DISTANCE_PLANE', 'SHELL_NOT_CLOSED']
    """
    return [CODES[c] for c in codes]


def _flag(found: list[set[int]], owners: NDArray[np.intp], code: int) -> None:
    for owner in np.unique(owners).tolist():
        found[owner].add(code)


def _snap(
    faces: NDArray[np.object_], decimals: int, owner: NDArray[np.intp], found: list[set[int]]
) -> NDArray[np.object_]:
    """Round coordinates and drop repeated consecutive vertices; flag rings left too short."""
    faces = shapely.transform(faces, lambda c: np.round(c, decimals), include_z=True)
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    xyz, coord_ring = shapely.get_coordinates(rings, include_z=True, return_index=True)
    repeat = np.zeros(len(xyz), bool)
    repeat[1:] = (coord_ring[1:] == coord_ring[:-1]) & (xyz[1:] == xyz[:-1]).all(axis=1)
    if repeat.any():
        xyz, coord_ring = xyz[~repeat], coord_ring[~repeat]
        distinct = np.bincount(coord_ring, minlength=len(rings)) - 1
        short = distinct < 3
        _flag(found, owner[ring_face[short]], 101)
        keep = ~short[coord_ring]
        new_rings = np.full(len(rings), None, dtype=object)
        _, dense = np.unique(coord_ring[keep], return_inverse=True)
        new_rings[~short] = shapely.linearrings(xyz[keep], indices=dense)
        faces = _rebuild(new_rings, ring_face, len(faces))
    return faces


def _rebuild(
    rings: NDArray[np.object_], ring_face: NDArray[np.intp], n: int
) -> NDArray[np.object_]:
    """Polygons from rings (the first of each face its exterior; ``None`` rings dropped)."""
    out = np.full(n, None, dtype=object)
    for face in np.unique(ring_face).tolist():
        own = rings[ring_face == face]
        if own[0] is not None:
            out[face] = shapely.Polygon(own[0], [r for r in own[1:] if r is not None])
    return out


def _signed_volume(
    faces: NDArray[np.object_], owner: NDArray[np.intp], n: int
) -> NDArray[np.float64]:
    """Signed volume of each shell (positive when its faces point outwards)."""
    ok = ~shapely.is_missing(faces)
    first = shapely.get_coordinates(shapely.get_exterior_ring(faces[ok]), include_z=True)
    counts = shapely.get_num_coordinates(shapely.get_exterior_ring(faces[ok]))
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    p0 = first[start]
    ref = np.full((n, 3), np.nan)
    ref[owner[ok][::-1]] = p0[::-1]
    area = vector_area(faces[ok])
    local = p0 - ref[owner[ok]]
    return np.bincount(owner[ok], (local * area).sum(axis=1) / 3.0, n)


def _polygons(
    faces: NDArray[np.object_],
    owner: NDArray[np.intp],
    found: list[set[int]],
    planarity: float,
    normals: float,
) -> None:
    """Polygon-level checks: validity in the face's plane (104, 20x), 203, 204, 208."""
    ok = np.flatnonzero(~shapely.is_missing(faces))
    faces, owner = faces[ok], owner[ok]
    area = vector_area(faces)
    size = np.linalg.norm(area, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = area / size[:, None]
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    xyz, coord_ring = shapely.get_coordinates(rings, include_z=True, return_index=True)
    coord_face = ring_face[coord_ring]
    start = np.searchsorted(coord_face, np.arange(len(faces)))
    centre = np.zeros((len(faces), 3))
    for axis in range(3):
        centre[:, axis] = np.bincount(coord_face, xyz[:, axis] - xyz[start[coord_face], axis])
    centre = centre / np.bincount(coord_face, minlength=len(faces))[:, None]
    local = xyz - xyz[start[coord_face]] - centre[coord_face]
    distance = np.abs((local * unit[coord_face]).sum(axis=1))
    worst = np.zeros(len(faces))
    np.maximum.at(worst, coord_face, np.nan_to_num(distance))
    _flag(found, owner[(worst > planarity) | (size == 0)], 203)
    corners, tri_face = triangulate(faces)
    tri = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    tri_size = np.linalg.norm(tri, axis=1)
    big = tri_size > 1e-9
    cos = (tri[big] * unit[tri_face[big]]).sum(axis=1) / tri_size[big]
    bent = cos < np.cos(np.radians(normals))
    _flag(found, owner[tri_face[big][bent]], 204)
    # In the plane the face is closest to, GEOS says what is wrong with its rings.
    dominant = np.argmax(np.abs(np.nan_to_num(area)), axis=1)
    flat = np.empty(len(faces), dtype=object)
    for axis in range(3):
        idx = np.flatnonzero(dominant == axis)
        keep = [a for a in range(3) if a != axis]
        flat[idx] = shapely.force_2d(
            shapely.transform(faces[idx], lambda c, k=keep: c[:, [*k, 0]], include_z=True)
        )
    reasons = shapely.is_valid_reason(flat).astype(str)
    n_holes = shapely.get_num_interior_rings(flat)
    for text, code in _GEOS_REASONS.items():
        hit = np.char.startswith(reasons, text)
        if text == "Self-intersection":  # between rings with holes, else within the exterior
            _flag(found, owner[hit & (n_holes == 0)], 104)
            hit &= n_holes > 0
        _flag(found, owner[hit], code)
    if n_holes.any():
        holes, hole_face = shapely.get_rings(flat, return_index=True)
        outer = np.r_[True, hole_face[1:] != hole_face[:-1]]
        ccw = shapely.is_ccw(holes)
        same = ~outer & (ccw == ccw[np.searchsorted(hole_face, hole_face)])
        _flag(found, owner[hole_face[same]], 208)


def _shells(
    faces: NDArray[np.object_],
    owner: NDArray[np.intp],
    n: int,
    found: list[set[int]],
    decimals: int,
) -> None:
    """Shell-level checks on the edges of each solid: 301, 302, 304, 307."""
    ok = ~shapely.is_missing(faces)
    _flag(
        found,
        np.flatnonzero(
            (np.bincount(owner[ok], minlength=n) < 4) & (np.bincount(owner, minlength=n) > 0)
        ),
        301,
    )
    rings, ring_face = shapely.get_rings(faces[ok], return_index=True)
    xyz, coord_ring = shapely.get_coordinates(rings, include_z=True, return_index=True)
    coord_owner = owner[ok][ring_face[coord_ring]]
    scaled = np.rint(xyz * 10**decimals).astype(np.int64)
    _, vertex = np.unique(np.column_stack([coord_owner, scaled]), axis=0, return_inverse=True)
    vertex = vertex.ravel()
    same = coord_ring[1:] == coord_ring[:-1]
    a, b = vertex[:-1][same], vertex[1:][same]
    edge_owner = coord_owner[:-1][same]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    undirected, uses = np.unique(np.column_stack([lo, hi]), axis=0, return_counts=True)
    key = np.searchsorted(
        undirected[:, 0] * (vertex.max() + 1) + undirected[:, 1], lo * (vertex.max() + 1) + hi
    )
    count = uses[key]
    _flag(found, edge_owner[count == 1], 302)
    _flag(found, edge_owner[count > 2], 304)
    _, directed_uses = np.unique(np.column_stack([a, b]), axis=0, return_inverse=True)
    repeats = np.bincount(directed_uses.ravel())[directed_uses.ravel()]
    _flag(found, edge_owner[(repeats > 1) & (count == 2)], 307)
