"""Planar 3D polygons as shapely arrays: normals, areas, slope, azimuth and triangulation.

GEOS measures in 2D only, so what a 3D surface needs (true area, orientation, triangles of a
wall) is computed here, vectorised over arrays of polygons.
"""

from __future__ import annotations

import warnings

import numpy as np
import shapely
from numpy.typing import NDArray

from twin.errors import DataQualityWarning
from twin.ragged import Rings
from twin.semantics import Semantic

#: polygons measured at once by :func:`vector_area` (some 100 MB of temporaries for faces of
#: four corners)
_BLOCK = 2**18


def vector_area(polygons: NDArray[np.object_] | Rings, /) -> NDArray[np.float64]:
    """Newell's vector area ``(n, 3)`` of planar 3D polygons: normal times area.

    Holes count negatively when they wind against the exterior, as shapely's
    :func:`shapely.orient_polygons` makes them. The polygons are shapely objects or
    :class:`~twin.ragged.Rings`.

    Examples
    --------
    >>> wall = shapely.Polygon([(0, 0, 0), (4, 0, 0), (4, 0, 3), (0, 0, 3)])
    >>> vector_area(np.array([wall])).round(6).tolist()
    [[0.0, -12.0, 0.0]]
    """
    rings = polygons if isinstance(polygons, Rings) else Rings.of(polygons)
    if len(rings) > _BLOCK:  # a dozen temporaries the size of the coordinates: in blocks
        return np.concatenate([vector_area(block) for block in rings.blocks(_BLOCK)])
    coords, offsets = rings.coordinates, rings.ring_offsets
    owner = rings.polygon_of_ring()[rings.ring_of_coordinate()]
    # Relative to each polygon's first vertex: projected coordinates in the hundreds of
    # kilometres would otherwise cancel away the digits of small areas. Column by column
    # (contiguous), each edge from one coordinate to the next.
    first = offsets[rings.polygon_offsets[:-1]][owner]
    xyz = [column - column[first] for column in coords.T]
    # Each ring is closed, so consecutive coordinates of one ring are its edges; the step
    # from a ring's last coordinate to the next ring's first is not one.
    not_edge = np.zeros(max(len(coords) - 1, 0), dtype=bool)
    ends = offsets[1:][np.diff(offsets) > 0] - 1
    not_edge[ends[:-1]] = True
    out = np.zeros((len(rings), 3))
    for axis in range(3):
        i, j = xyz[(axis + 1) % 3], xyz[(axis + 2) % 3]
        cross = i[:-1] * j[1:] - j[:-1] * i[1:]
        cross[not_edge] = 0.0
        out[:, axis] = np.bincount(owner[:-1], weights=cross, minlength=len(out)) / 2.0
    return out


def surface_metrics(
    polygons: NDArray[np.object_] | Rings, /
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """True area (m²), slope and azimuth (degrees) of planar 3D faces (shapely objects or
    :class:`~twin.ragged.Rings`).

    The slope is measured from the horizontal; the azimuth is the direction the outward
    normal faces, clockwise from grid north, and NaN for horizontal faces.

    Examples
    --------
    >>> south_wall = shapely.Polygon([(0, 0, 0), (4, 0, 0), (4, 0, 3), (0, 0, 3)])
    >>> area, slope, azimuth = surface_metrics(np.array([south_wall]))
    >>> area.tolist(), slope.tolist(), azimuth.tolist()
    ([12.0], [90.0], [180.0])
    """
    va = vector_area(polygons)
    area = np.linalg.norm(va, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = va / area[:, None]
    slope = np.degrees(np.arccos(np.clip(np.abs(n[:, 2]), 0.0, 1.0)))
    azimuth = np.degrees(np.arctan2(n[:, 0], n[:, 1])) % 360.0
    azimuth[np.hypot(n[:, 0], n[:, 1]) < 1e-9] = np.nan
    return area, slope, azimuth


def triangulate(polygons: NDArray[np.object_], /) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Triangulate planar 3D polygons (holes allowed) keeping their orientation.

    Convex quadrilaterals are split along a diagonal. Every other polygon is projected onto
    the coordinate plane its normal is closest to, triangulated there with GEOS's constrained
    Delaunay triangulation (which keeps the dropped coordinate of
    the input vertices), and its triangles are wound like the polygon. A polygon GEOS cannot
    triangulate as given (a spike, folded collinear vertices) is rebuilt from its rings or,
    failing that, left out, with a :class:`~twin.errors.DataQualityWarning`; triangles whose
    corners are collinear (no area, no normal) are dropped.

    Returns
    -------
    corners : (m, 3, 3) float
        The corners of the ``m`` triangles.
    owner : (m,) int
        Index of the polygon each triangle comes from.

    Examples
    --------
    >>> roof = shapely.Polygon([(0, 0, 9), (4, 0, 9), (4, 3, 9), (0, 3, 9)])
    >>> corners, owner = triangulate(np.array([roof]))
    >>> corners.shape, owner.tolist()
    ((2, 3, 3), [0, 0])
    """
    polygons = np.asarray(polygons, dtype=object)
    pieces = []  # (polygon of each triangle, ascending; corners (t, 3, 3))
    # Convex quadrilaterals without holes (the walls of extruded solids, most faces of a city
    # model) split along a diagonal directly; the rest go through GEOS.
    quad = (shapely.get_num_interior_rings(polygons) == 0) & (
        shapely.get_num_coordinates(polygons) == 5
    )
    ring = shapely.get_coordinates(polygons[quad], include_z=True).reshape(-1, 5, 3)[:, :4]
    normal = np.empty((len(polygons), 3))
    # A planar quadrilateral's vector area is half the cross product of its diagonals.
    normal[quad] = np.cross(ring[:, 2] - ring[:, 0], ring[:, 3] - ring[:, 1]) / 2.0
    normal[~quad] = vector_area(polygons[~quad])
    dominant = np.argmax(np.abs(normal), axis=1)
    halves = np.stack([ring[:, [0, 1, 2]], ring[:, [0, 2, 3]]], axis=1)  # (q, 2, 3, 3)
    facing = np.einsum(
        "qtk,qk->qt",
        np.cross(halves[:, :, 1] - halves[:, :, 0], halves[:, :, 2] - halves[:, :, 0]),
        normal[quad],
    )
    convex = (facing > 0).all(axis=1)
    fast = np.flatnonzero(quad)[convex]
    pieces.append((np.repeat(fast, 2), halves[convex].reshape(-1, 3, 3)))
    dominant[fast] = -1
    for axis in range(3):
        idx = np.flatnonzero(dominant == axis)
        if idx.size == 0:
            continue
        # Cyclic permutation that puts the dominant axis last; it preserves handedness.
        perm = [(axis + 1) % 3, (axis + 2) % 3, axis]
        flat = shapely.transform(polygons[idx], lambda c, p=perm: c[:, p], include_z=True)
        parts, part_owner = shapely.get_parts(_triangles_2d(flat), return_index=True)
        coords = shapely.get_coordinates(shapely.get_exterior_ring(parts), include_z=True).reshape(
            -1, 4, 3
        )[:, :3, :]
        signed = (coords[:, 1, 0] - coords[:, 0, 0]) * (coords[:, 2, 1] - coords[:, 0, 1]) - (
            coords[:, 2, 0] - coords[:, 0, 0]
        ) * (coords[:, 1, 1] - coords[:, 0, 1])
        owner = idx[part_owner]
        flip = np.sign(signed) != np.sign(normal[owner, axis])
        coords[flip] = coords[flip][:, ::-1, :]
        back = np.argsort(perm)
        # Corners collinear to the last bit (left by a repaired face) span no area and face
        # nowhere: such a triangle adds nothing to the surface and has no normal.
        solid = signed != 0.0
        pieces.append((owner[solid], coords[solid][:, :, back]))
    # each piece's triangles go straight to their place in polygon order (one copy, no sort)
    count = np.zeros(len(polygons), dtype=np.intp)
    for owner, _ in pieces:
        count += np.bincount(owner, minlength=len(polygons))
    first = np.cumsum(count) - count
    corners = np.empty((int(count.sum()), 3, 3))
    for owner, piece in pieces:
        corners[first[owner] + np.arange(len(owner)) - np.searchsorted(owner, owner)] = piece
    return corners, np.repeat(np.arange(len(polygons)), count)


def _triangles_2d(flat: NDArray[np.object_]) -> NDArray[np.object_]:
    """GEOS's constrained Delaunay triangles of each polygon, degenerate polygons repaired.

    GEOS cannot triangulate a ring with a spike or with collinear vertices that fold back on
    themselves (``Unable to find a convex corner``; val3dity error 104, self-intersecting
    ring). Only when it fails are the invalid polygons rebuilt from their rings
    (:func:`shapely.make_valid`, ``structure`` method: the area a ring encloses, collapsed
    parts dropped; vertices keep their third coordinate) and triangulated again. A polygon
    GEOS still cannot triangulate yields no triangles. Either is said in one
    :class:`~twin.errors.DataQualityWarning`.

    Parameters
    ----------
    flat : (k,) object
        Polygons with Z, flattened onto the plane of their first two coordinates.

    Returns
    -------
    (k,) object
        A geometry collection of triangles per polygon (empty for a skipped one).
    """
    try:
        return shapely.constrained_delaunay_triangles(flat)
    except shapely.errors.GEOSException:
        pass
    given, flat = flat, flat.copy()
    bad = np.flatnonzero(~shapely.is_valid(flat))
    flat[bad] = shapely.make_valid(flat[bad], method="structure", keep_collapsed=False)
    try:
        out = shapely.constrained_delaunay_triangles(flat)
    except shapely.errors.GEOSException:
        # Only a polygon GEOS rejects even after the repair comes here: find it one by one.
        out = np.empty(len(flat), dtype=object)
        for i, polygon in enumerate(flat):
            try:
                out[i] = shapely.constrained_delaunay_triangles(polygon)
            except shapely.errors.GEOSException:
                out[i] = shapely.GeometryCollection()
    lost = shapely.is_empty(out) & ~shapely.is_empty(given)  # collapsed or not triangulable
    warnings.warn(
        DataQualityWarning(
            f"{len(bad) - int(lost[bad].sum())} degenerate face(s) (a spike or folded "
            f"collinear vertices) rebuilt from their rings, {int(lost.sum())} left out "
            "(no area or not triangulable)"
        ),
        stacklevel=3,
    )
    return out


def extrude(
    geoms: NDArray[np.object_], base: NDArray[np.float64], top: NDArray[np.float64], /
) -> tuple[NDArray[np.object_], NDArray[np.object_], NDArray[np.intp], NDArray[np.int8]]:
    """Extrude footprints into closed LoD1 solids with semantic surfaces, all at once.

    Parameters
    ----------
    geoms : (n,) object
        Polygons or multipolygons (``None`` allowed).
    base, top : (n,) float
        Ground and roof height of each block; a block with a NaN or ``top <= base`` is skipped.

    Returns
    -------
    solids : (n,) object
        MultiPolygon Z shells (ground, walls, roof), outward-facing; ``None`` where skipped.
    surfaces : (k,) object
        The same faces as Polygon Z.
    owner : (k,) int
        The footprint each face belongs to.
    semantic : (k,) int8
        :class:`twin.semantics.Semantic` of each face.

    Examples
    --------
    >>> solids, faces, owner, sem = extrude(
    ...     np.array([shapely.box(0, 0, 10, 8)]), np.array([445.0]), np.array([457.0])
    ... )
    >>> len(faces), sorted(set(sem.tolist()))
    (6, [0, 1, 2])
    """
    geoms = np.asarray(geoms, dtype=object)
    ok = ~shapely.is_missing(geoms) & np.isfinite(base) & np.isfinite(top) & (top > base)
    solids = np.full(len(geoms), None, dtype=object)
    rows = np.flatnonzero(ok)
    parts, part_owner = shapely.get_parts(geoms[rows], return_index=True)
    part_owner = rows[part_owner]
    parts = shapely.orient_polygons(parts)
    zb, zt = base[part_owner], top[part_owner]
    roofs = shapely.force_3d(parts, zt)
    grounds = shapely.force_3d(shapely.orient_polygons(parts, exterior_cw=True), zb)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, coord_ring = shapely.get_coordinates(rings, return_index=True)
    same = coord_ring[:-1] == coord_ring[1:]
    a, b = xy[:-1][same], xy[1:][same]
    edge_part = ring_part[coord_ring[:-1][same]]
    keep = np.hypot(*(b - a).T) > 1e-9
    a, b, edge_part = a[keep], b[keep], edge_part[keep]
    lo, hi = zb[edge_part][:, None], zt[edge_part][:, None]
    quads = np.stack(
        [
            np.hstack([a, lo]),
            np.hstack([b, lo]),
            np.hstack([b, hi]),
            np.hstack([a, hi]),
            np.hstack([a, lo]),
        ],
        axis=1,
    )
    walls = shapely.polygons(quads)
    surfaces = np.concatenate([grounds, walls, roofs])
    owner = np.concatenate([part_owner, part_owner[edge_part], part_owner])
    semantic = np.concatenate(
        [
            np.full(len(grounds), Semantic.GroundSurface, np.int8),
            np.full(len(walls), Semantic.WallSurface, np.int8),
            np.full(len(roofs), Semantic.RoofSurface, np.int8),
        ]
    )
    order = np.argsort(owner, kind="stable")
    surfaces, owner, semantic = surfaces[order], owner[order], semantic[order]
    if len(surfaces):
        built, dense = np.unique(owner, return_inverse=True)
        solids[built] = shapely.multipolygons(surfaces, indices=dense)
    return solids, surfaces, owner, semantic
