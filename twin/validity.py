"""Validity of solids after ISO 19107, checked the way val3dity does and named by its codes.

Every solid (a MultiPolygon Z shell, one row per building) is checked after its coordinates
are rounded for output, since that is the geometry others will read. All solids of a layer
are checked at once: rings, polygons and shells become arrays of vertices and edges.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy import sparse
from scipy.sparse import csgraph

from twin.errors import InputError
from twin.polygon3d import surface_metrics, triangulate, vector_area

#: val3dity error code -> name
CODES: dict[int, str] = {
    101: "TOO_FEW_POINTS",
    102: "CONSECUTIVE_POINTS_SAME",
    103: "RING_NOT_CLOSED",
    104: "RING_SELF_INTERSECTION",
    201: "INTERSECTION_RINGS",
    202: "DUPLICATED_RINGS",
    203: "NON_PLANAR_POLYGON_DISTANCE_PLANE",
    204: "NON_PLANAR_POLYGON_NORMALS_DEVIATION",
    205: "POLYGON_INTERIOR_DISCONNECTED",
    206: "INNER_RING_OUTSIDE",
    207: "INNER_RINGS_NESTED",
    208: "ORIENTATION_RINGS_SAME",
    301: "TOO_FEW_POLYGONS",
    302: "SHELL_NOT_CLOSED",
    303: "NON_MANIFOLD_VERTEX",
    304: "NON_MANIFOLD_EDGE",
    305: "MULTIPLE_CONNECTED_COMPONENTS",
    306: "SHELL_SELF_INTERSECTION",
    307: "POLYGON_WRONG_ORIENTATION",
    401: "INTERSECTION_SHELLS",
    402: "DUPLICATED_SHELLS",
    403: "INNER_SHELL_OUTSIDE",
    404: "SOLID_INTERIOR_DISCONNECTED",
    405: "WRONG_ORIENTATION_SHELL",
}
#: geometry types :func:`check` takes, and whether their faces make shells
KINDS: dict[str, bool] = {
    "Solid": True,
    "MultiSolid": True,
    "MultiSurface": False,
    "CompositeSurface": False,
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
    "Duplicate Rings": 202,
}
#: face pairs whose triangles are compared at once in the exact test of 306
_PAIR_CHUNK = 1_000_000


def check(
    solids: NDArray[np.object_],
    /,
    *,
    decimals: int = 3,
    planarity: float = 0.01,
    normals: float = 20.0,
    kinds: NDArray[np.str_] | None = None,
    shells: NDArray[np.integer] | None = None,
) -> tuple[list[list[int]], NDArray[np.object_]]:
    """Check ``n`` solids and repair the simple cases.

    The faces of a row that share edges make one shell; a row of several such parts is a
    multi-part building (each part a shell) unless ``kinds`` says it is one ``Solid`` (305).

    Repairs: coordinates are snapped to ``decimals`` (the output precision) and repeated
    consecutive vertices dropped (102); the faces of a closed, manifold shell are turned
    to point outwards, whether single faces or the whole shell point inwards (307); a face
    over the planarity tolerance but within the normals tolerance is split into its
    (planar) triangles (203). The codes are those that remain after repair.

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
    kinds : (n,) str, optional
        Geometry type of each row, a key of :data:`KINDS`: ``Solid`` (one shell),
        ``MultiSolid`` (one shell per part), ``MultiSurface`` or ``CompositeSurface``
        (faces only: ring and polygon checks). Default: all ``MultiSolid``.
    shells : (k,) int, optional
        The shell of each face of the solids, row after row in the order of their faces
        (``shapely.get_parts``): 0 on a solid's exterior shell, 1, 2, ... on its interior
        shells (cavities, whose faces point into the cavity). Each given shell is checked as
        a shell (301-307; 305 when it falls apart), and the shells of a row against each
        other (401-405). Default: shells are the faces' connected components, as above.

    Returns
    -------
    codes : list of list of int
        The error codes of each solid, sorted; empty when valid or absent.
    repaired : (n,) object
        The solids after snapping and repair.

    Raises
    ------
    InputError
        When ``kinds`` has the wrong length or names an unknown type, or ``shells`` has
        not one non-negative number per face.

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
    checked = check_faces(
        solids, decimals=decimals, planarity=planarity, normals=normals, kinds=kinds, shells=shells
    )
    return checked.codes, checked.repaired


class Checked(NamedTuple):
    """What :func:`check_faces` found and repaired, down to the faces."""

    codes: list[list[int]]
    """The error codes of each solid, sorted; empty when valid or absent."""
    repaired: NDArray[np.object_]
    """``(n,)`` the solids after snapping and repair."""
    faces: NDArray[np.object_]
    """``(k,)`` the faces of the repaired solids, row by row (``None``: a face dropped, 101)."""
    owner: NDArray[np.intp]
    """``(k,)`` the row of each face."""
    origin: NDArray[np.intp]
    """``(k,)`` the position of the input face each face comes from among its row's faces."""
    changed: NDArray[np.bool_]
    """``(n,)`` rows whose faces were turned over, split or lost vertices (not only snapped)."""


def check_faces(
    solids: NDArray[np.object_],
    /,
    *,
    decimals: int = 3,
    planarity: float = 0.01,
    normals: float = 20.0,
    kinds: NDArray[np.str_] | None = None,
    shells: NDArray[np.integer] | None = None,
) -> Checked:
    """:func:`check`, also saying which input face each repaired face comes from.

    Takes the same parameters as :func:`check`. A face turned over keeps its place; a face
    split for planarity (203) is replaced, in its place, by its triangles, which all come
    from it. This is what :func:`repair_surfaces` needs to carry the repairs over to the
    faces' own rows.

    Examples
    --------
    >>> top = [(0, 0, 1), (0, 1, 1), (1, 1, 1), (1, 0, 1)]  # turned over: points down
    >>> sides = [
    ...     [(0, 0, 0), (1, 0, 0), (1, 0, 1), (0, 0, 1)],
    ...     [(1, 0, 0), (1, 1, 0), (1, 1, 1), (1, 0, 1)],
    ...     [(1, 1, 0), (0, 1, 0), (0, 1, 1), (1, 1, 1)],
    ...     [(0, 1, 0), (0, 0, 0), (0, 0, 1), (0, 1, 1)],
    ... ]
    >>> cube = shapely.MultiPolygon(
    ...     [shapely.Polygon(f) for f in [[(0, 0, 0), (0, 1, 0), (1, 1, 0), (1, 0, 0)], top]]
    ...     + [shapely.Polygon(f) for f in sides]
    ... )
    >>> checked = check_faces(np.array([cube]))
    >>> checked.codes, checked.changed.tolist(), checked.origin.tolist()
    ([[]], [True], [0, 1, 2, 3, 4, 5])
    """
    solids = np.asarray(solids, dtype=object)
    n = len(solids)
    shell_rows, single = _kinds(kinds, n)
    found: list[set[int]] = [set() for _ in range(n)]
    present = np.flatnonzero(~shapely.is_missing(solids) & ~shapely.is_empty(solids))
    repaired = solids.copy()
    changed = np.zeros(n, bool)
    if not len(present):
        none = np.zeros(0, dtype=np.intp)
        return Checked([[] for _ in range(n)], repaired, np.empty(0, object), none, none, changed)
    faces, face_owner = shapely.get_parts(solids[present], return_index=True)
    face_owner = present[face_owner]
    given = _given_shells(shells, len(faces))
    origin = np.arange(len(faces)) - np.searchsorted(face_owner, face_owner)
    snapped = _snap(faces, decimals, face_owner, found)
    changed[face_owner[_fewer_points(faces, snapped)]] = True
    faces = snapped
    kept = ~shapely.is_missing(faces)
    group = face_owner if given is None else face_owner * (int(given.max()) + 1) + given
    topo = _Topology(faces, face_owner, shell_rows[face_owner] & kept, decimals, group)
    area = np.zeros((len(faces), 3))  # vector area of each face (Newell)
    area[kept] = vector_area(faces[kept])
    inner = np.zeros(len(faces), bool) if given is None else given > 0
    faces, turned = _orient(faces, topo, area, inner)
    polygon_codes, corners, tri_face = _polygons(faces, area, planarity, normals, decimals)
    split = polygon_codes.pop(0)  # faces only over the planarity tolerance: split them
    changed[face_owner[turned | split]] = True
    for code, hit in polygon_codes.items():
        _flag(found, face_owner[hit], code)
    sound = _shells(topo, found, single)
    _intersections(faces, area, topo, sound, corners, tri_face, found, decimals)
    if inner[topo.face_index].any():
        _cavities(area, topo, inner, sound, corners, tri_face, found, decimals)
    faces, face_owner, origin = _split(faces, face_owner, origin, split, corners, tri_face)
    built, dense = np.unique(face_owner, return_inverse=True)
    repaired[built] = shapely.multipolygons(faces, indices=dense)
    return Checked([sorted(c) for c in found], repaired, faces, face_owner, origin, changed)


def _fewer_points(before: NDArray[np.object_], after: NDArray[np.object_]) -> NDArray[np.bool_]:
    """Faces that lost vertices or were dropped when snapped."""
    count = shapely.get_num_coordinates(after)
    return shapely.is_missing(after) | (count != shapely.get_num_coordinates(before))


def repair_surfaces(
    surfaces: gpd.GeoDataFrame,
    solids: NDArray[np.object_],
    ids: NDArray[np.object_],
    checked: Checked,
    /,
    *,
    lod: str,
    decimals: int = 3,
) -> gpd.GeoDataFrame:
    """``building_surfaces`` with the rows of the solids :func:`check_faces` repaired
    replaced by the repaired faces.

    Each repaired face takes the attributes (semantic class, semantic attributes, ...) of
    the row of the input face it comes from, and gets its area, slope and azimuth anew
    (:func:`twin.polygon3d.surface_metrics`, as the build). A row is the input face's when
    it has the same vertices after rounding to ``decimals`` (in any order: a face turned
    over is found too), else when the building has as many rows at the LoD as faces, the
    row at the face's position (the order of every reader and of the build). A face with
    no row gets null attributes. The new rows take the place of the building's old ones.

    Parameters
    ----------
    surfaces
        The ``building_surfaces`` layer (``building_id``, ``lod``, geometry, ...).
    solids : (n,) object
        The solids as they were checked (before repair).
    ids : (n,) object
        The building of each solid.
    checked
        What :func:`check_faces` returned for ``solids``.
    lod
        The LoD of the solids (the ``lod`` of their rows in ``surfaces``).
    decimals
        The rounding of the check.

    Returns
    -------
    geopandas.GeoDataFrame
        The layer with the repaired buildings' rows at ``lod`` replaced (``surfaces`` itself
        when no solid was repaired).
    """
    rows = np.flatnonzero(checked.changed)
    if not len(rows):
        return surfaces
    ids = np.asarray(ids, dtype=object)
    # the old rows of the repaired buildings, and the old row of each of their input faces
    old, old_solid, source = surface_rows(
        surfaces, solids[rows], ids[rows], lod=lod, decimals=decimals
    )
    # the repaired faces of those rows, with the attributes of their input face's row
    new = np.flatnonzero(checked.changed[checked.owner] & ~shapely.is_missing(checked.faces))
    owner, faces = checked.owner[new], checked.faces[new]
    local = np.searchsorted(rows, owner)  # the repaired row of each face among ``rows``
    n_parts = shapely.get_num_geometries(solids[rows])
    source = source[(np.cumsum(n_parts) - n_parts)[local] + checked.origin[new]]
    # the new rows take the place of the building's first old row (else go last)
    first_old = np.full(len(rows), len(surfaces), dtype=np.intp)
    np.minimum.at(first_old, old_solid, old)
    kept = np.setdiff1d(np.arange(len(surfaces)), old)
    order = np.argsort(np.concatenate([kept, first_old[local]]), kind="stable")
    take = np.concatenate([kept, source])
    table = pd.DataFrame(surfaces.drop(columns=surfaces.geometry.name)).reset_index(drop=True)
    frame = table.reindex(take[order]).reset_index(drop=True)  # -1: a row of nulls
    added = order >= len(kept)
    at = order[added] - len(kept)
    frame.loc[added, "building_id"] = ids[owner][at]
    frame.loc[added, "lod"] = lod
    metrics = dict(zip(("area", "slope", "azimuth"), surface_metrics(faces), strict=True))
    for column, values in metrics.items():
        if column in frame.columns:
            frame.loc[added, column] = values[at]
    geometry = np.concatenate([surfaces.geometry.to_numpy()[kept], faces])[order]
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=surfaces.crs))


def surface_rows(
    surfaces: gpd.GeoDataFrame,
    solids: NDArray[np.object_],
    ids: NDArray[np.object_],
    /,
    *,
    lod: str,
    decimals: int | None = None,
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """The rows of ``building_surfaces`` of the solids' buildings at ``lod``, and the row of
    each face of the solids.

    A building's rows at the LoD are its solid's faces in order (the order of every reader
    and of the build): when the building has as many rows as its solid has faces, a face
    takes the row at its position. With ``decimals``, a face first takes the row with the
    same vertices after rounding to ``decimals``, in any order (a face turned over is found
    too; :func:`repair_surfaces`); without, faces are matched by position only (the shells
    of ``twin validate``, where two equal cavities must keep their own rows).

    Parameters
    ----------
    surfaces
        The ``building_surfaces`` layer (``building_id``, ``lod``, geometry, ...).
    solids : (n,) object
        MultiPolygon Z solids (``None`` for buildings without one).
    ids : (n,) object
        The building of each solid (of a building given twice, the first solid counts).
    lod
        The LoD of the solids (the ``lod`` of their rows in ``surfaces``).
    decimals : optional
        Decimal places of the vertices compared; default: no comparison.

    Returns
    -------
    rows : (m,) int
        The rows of ``surfaces`` at ``lod`` of the solids' buildings, ascending.
    solid : (m,) int
        The solid of each of ``rows``.
    face_row : (k,) int
        The row in ``surfaces`` of each face of the solids, solid after solid in the order
        of their faces (``shapely.get_parts``); -1 for a face with none.

    Examples
    --------
    >>> low, high = (shapely.Polygon([(0, 0, z), (1, 0, z), (0, 1, z)]) for z in (0, 1))
    >>> surfaces = gpd.GeoDataFrame(
    ...     {"building_id": ["a", "b", "a"], "lod": "1.2"}, geometry=[high, low, low]
    ... )
    >>> solids = np.array([shapely.MultiPolygon([low, high])])
    >>> rows, solid, face_row = surface_rows(surfaces, solids, np.array(["a"]), lod="1.2")
    >>> rows.tolist(), solid.tolist(), face_row.tolist()
    ([0, 2], [0, 0], [0, 2])
    >>> surface_rows(surfaces, solids, np.array(["a"]), lod="1.2", decimals=3)[2].tolist()
    [2, 0]
    """
    ids = np.asarray(ids, dtype=object)
    first = pd.Series(np.arange(len(ids)), index=ids)
    solid = first[~first.index.duplicated()].reindex(surfaces["building_id"].to_numpy())
    solid = solid.to_numpy(dtype=float)
    rows = np.flatnonzero((surfaces["lod"].to_numpy() == lod) & ~np.isnan(solid))
    solid = solid[rows].astype(np.intp)
    rank = pd.Series(solid).groupby(solid).cumcount().to_numpy()
    parts, part_solid = shapely.get_parts(np.asarray(solids, dtype=object), return_index=True)
    part_rank = np.arange(len(parts)) - np.searchsorted(part_solid, part_solid)
    n = len(ids)
    same = np.bincount(solid, minlength=n) == np.bincount(part_solid, minlength=n)
    face_row = (
        pd.Series(rows, index=pd.MultiIndex.from_arrays([solid, rank]))
        .reindex(pd.MultiIndex.from_arrays([part_solid, part_rank]))
        .to_numpy(dtype=float)
    )
    face_row = np.where(same[part_solid], face_row, np.nan)
    if decimals is not None:
        old_key, part_key = (
            _ring_key(*shapely.get_rings(polygons, return_index=True), len(polygons), decimals)
            for polygons in (surfaces.geometry.to_numpy()[rows], parts)
        )
        by_key = pd.Series(rows, index=pd.MultiIndex.from_arrays([solid, old_key]))
        by_key = by_key[~by_key.index.duplicated()]
        match = by_key.reindex(pd.MultiIndex.from_arrays([part_solid, part_key]))
        match = match.to_numpy(dtype=float)
        face_row = np.where(np.isnan(match), face_row, match)
    return rows, solid, np.nan_to_num(face_row, nan=-1).astype(np.intp)


def _ring_key(
    rings: NDArray[np.object_], owner: NDArray[np.intp], n: int, decimals: int
) -> NDArray[np.uint64]:
    """:func:`_set_key` of the vertices of the ``rings`` of each of ``n`` owners after
    rounding to ``decimals`` (the closing vertex of each ring left out): equal for a ring or
    polygon and its reverse, from any start."""
    xyz, coord_ring = shapely.get_coordinates(rings, include_z=True, return_index=True)
    closing = np.r_[coord_ring[1:] != coord_ring[:-1], True]
    grid = np.rint(xyz[~closing] * 10.0**decimals).astype(np.int64)
    return _set_key(grid, owner[coord_ring[~closing]], n)


def _set_key(grid: NDArray[np.integer], owner: NDArray[np.intp], n: int) -> NDArray[np.uint64]:
    """An order-free hash of the integer points (k, 3) of each of ``n`` owners: the sum of a
    well-mixed 64-bit hash of each point, equal for the same points in any order."""
    grid = np.asarray(grid, dtype=np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        mixed = grid * np.array(
            [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64
        )
        h = mixed[:, 0] ^ (mixed[:, 1] >> np.uint64(7)) ^ (mixed[:, 2] << np.uint64(5))
        h ^= h >> np.uint64(31)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(29)
    key = np.zeros(n, dtype=np.uint64)
    np.add.at(key, owner, h)
    return key


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
        touched = np.unique(ring_face[coord_ring[repeat]])  # faces that lost a vertex
        xyz, coord_ring = xyz[~repeat], coord_ring[~repeat]
        distinct = np.bincount(coord_ring, minlength=len(rings)) - 1
        short = distinct < 3
        _flag(found, owner[ring_face[short]], 101)
        keep = ~short[coord_ring]
        new_rings = np.full(len(rings), None, dtype=object)
        _, dense = np.unique(coord_ring[keep], return_inverse=True)
        new_rings[~short] = shapely.linearrings(xyz[keep], indices=dense)
        faces = _rebuild(faces, touched, new_rings, ring_face)
    return faces


def _rebuild(
    faces: NDArray[np.object_],
    touched: NDArray[np.intp],
    rings: NDArray[np.object_],
    ring_face: NDArray[np.intp],
) -> NDArray[np.object_]:
    """``faces`` with the ``touched`` ones made again from their ``rings`` (the first of a
    face its exterior; ``None`` rings dropped, the face too when its exterior is ``None``).

    ``ring_face`` (the face of each ring) is sorted, as ``shapely.get_rings`` gives it; only
    the touched faces (those that lost a vertex, few) are visited.
    """
    out = faces.copy()
    starts = np.searchsorted(ring_face, touched)
    stops = np.searchsorted(ring_face, touched, side="right")
    for face, a, b in zip(touched.tolist(), starts.tolist(), stops.tolist(), strict=True):
        own = rings[a:b]
        out[face] = (
            shapely.Polygon(own[0], [r for r in own[1:] if r is not None])
            if own[0] is not None
            else None
        )
    return out


def _given_shells(shells: NDArray[np.integer] | None, k: int) -> NDArray[np.int64] | None:
    """The shell number of each of ``k`` faces, checked, or ``None``."""
    if shells is None:
        return None
    given = np.asarray(shells)
    if given.shape != (k,) or (k and (given.dtype.kind not in "iu" or given.min() < 0)):
        raise InputError(f"shells: {given.size} values for {k} faces, each a number >= 0")
    return given.astype(np.int64)


def _kinds(kinds: NDArray[np.str_] | None, n: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Which rows make shells, and which must be one shell (``Solid``)."""
    if kinds is None:
        return np.ones(n, bool), np.zeros(n, bool)
    kinds = np.asarray(kinds, dtype=object)
    if kinds.shape != (n,):
        raise InputError(f"kinds: {kinds.shape[0] if kinds.ndim else 0} types for {n} solids")
    unknown = sorted(set(kinds.tolist()) - set(KINDS))
    if unknown:
        raise InputError(f"kinds: unknown geometry types {unknown}; known: {', '.join(KINDS)}")
    shells = np.array([KINDS[k] for k in kinds.tolist()], dtype=bool)
    return shells, kinds == "Solid"


def _vertex_ids(grid: NDArray[np.int64], owner: NDArray[np.intp]) -> NDArray[np.intp]:
    """Number the points of each owner (ascending) so that equal ``grid`` points share one.

    Points are packed into one integer relative to their owner's lowest corner (21 bits an
    axis) when every owner spans under 2**21 grid steps, else compared row-wise (slower).
    """
    if not len(grid):
        return np.zeros(0, dtype=np.intp)
    if (np.diff(owner) >= 0).all():
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        run = np.diff(np.r_[starts, len(owner)])
        local = grid - np.repeat(np.minimum.reduceat(grid, starts), run, axis=0)
    else:  # owners in several runs (shells given out of order)
        _, dense = np.unique(owner, return_inverse=True)
        low = np.full((int(dense.max()) + 1, 3), np.iinfo(np.int64).max)
        np.minimum.at(low, dense, grid)
        local = grid - low[dense]
    if local.max() >= 2**21:
        _, vertex = np.unique(np.column_stack([owner, grid]), axis=0, return_inverse=True)
        return vertex.ravel()
    packed = (local[:, 0] << 42) | (local[:, 1] << 21) | local[:, 2]
    order = np.lexsort((packed, owner))
    new = np.r_[True, (packed[order][1:] != packed[order][:-1]) | (np.diff(owner[order]) != 0)]
    vertex = np.empty(len(grid), dtype=np.intp)
    vertex[order] = np.cumsum(new) - 1
    return vertex


class _Topology:
    """Vertices, edges and shells of the faces that make shells, all solids at once.

    Vertices are numbered per ``group`` of faces (a row, or a given shell of a row: equal
    snapped coordinates are one vertex); an edge is a pair of consecutive vertices of a ring.
    A shell is a set of faces connected by edges.
    """

    def __init__(
        self,
        faces: NDArray[np.object_],
        owner: NDArray[np.intp],
        in_shell: NDArray[np.bool_],
        decimals: int,
        group: NDArray[np.int64],
    ) -> None:
        self.owner = owner
        self.group = group
        self.n_faces = len(faces)
        self.face_index = np.flatnonzero(in_shell)
        rings, ring_face = shapely.get_rings(faces[self.face_index], return_index=True)
        xyz, coord_ring = shapely.get_coordinates(rings, include_z=True, return_index=True)
        coord_face = self.face_index[ring_face[coord_ring]]
        grid = np.rint(xyz * 10**decimals).astype(np.int64)
        vertex = _vertex_ids(grid, group[coord_face])
        self.n_vertices = int(vertex.max()) + 1 if len(vertex) else 0
        self.point = np.empty((self.n_vertices, 3))
        self.point[vertex] = xyz
        self.vertex_grid = np.empty((self.n_vertices, 3), dtype=np.int64)
        self.vertex_grid[vertex] = grid
        self.vertex_group = np.empty(self.n_vertices, dtype=np.int64)
        self.vertex_group[vertex] = group[coord_face]
        self.vertex_owner = np.empty(self.n_vertices, dtype=np.intp)
        self.vertex_owner[vertex] = owner[coord_face]
        same = np.flatnonzero(coord_ring[1:] == coord_ring[:-1])
        self.a, self.b = vertex[same], vertex[same + 1]  # directed edges, in ring order
        self.edge_face = coord_face[same]
        # the edge after each edge in its ring (the last edge of a ring: the ring's first)
        ring_of = coord_ring[same]
        first = np.r_[True, ring_of[1:] != ring_of[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(same)), 0))
        last = np.r_[ring_of[1:] != ring_of[:-1], True]
        self.next = np.where(last, start, np.arange(len(same)) + 1)
        lo, self.hi = np.minimum(self.a, self.b), np.maximum(self.a, self.b)
        _, self.undirected, self.uses = np.unique(
            lo * max(self.n_vertices, 1) + self.hi, return_inverse=True, return_counts=True
        )
        self.count = self.uses[self.undirected]  # faces using each edge's undirected edge
        # shells: faces connected through their edges
        n_edges = len(self.uses)
        graph = sparse.coo_matrix(
            (np.ones(len(same)), (self.edge_face, self.n_faces + self.undirected)),
            shape=(self.n_faces + n_edges, self.n_faces + n_edges),
        )
        _, label = csgraph.connected_components(graph, directed=False)
        self.shell = label[: self.n_faces]

    def per_shell(self, values: NDArray[np.int64]) -> NDArray[np.int64]:
        """A value of the faces (equal within each shell) for each shell label."""
        out = np.zeros(self.shell.max() + 1, dtype=values.dtype)
        out[self.shell[self.face_index]] = values[self.face_index]
        return out


def _signed_volume(topo: _Topology, area: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each shell face's share of its shell's signed volume (positive: pointing outwards)."""
    idx = topo.face_index
    p0 = topo.point[topo.a[np.searchsorted(topo.edge_face, idx)]]  # first vertex of each face
    shell = topo.shell[idx]
    ref = np.full((topo.shell.max() + 1, 3), np.nan)
    ref[shell[::-1]] = p0[::-1]
    return ((p0 - ref[shell]) * area[idx]).sum(axis=1) / 3.0


def _orient(
    faces: NDArray[np.object_],
    topo: _Topology,
    area: NDArray[np.float64],
    inner: NDArray[np.bool_],
) -> tuple[NDArray[np.object_], NDArray[np.bool_]]:
    """Turn faces to point outwards: single faces of closed, manifold, orientable shells
    (by the orientation of their neighbours), and shells whose faces all point inwards.

    Faces of ``inner`` (interior) shells are turned to agree with their neighbours, the
    whole shell keeping the sign of its volume: a cavity pointing inwards stays so, one
    pointing outwards is reported (405), not turned. ``area`` (the faces' vector areas) is
    turned with them. Returns the faces and which were turned.
    """
    idx = topo.face_index
    n = topo.n_faces
    if not len(idx):
        return faces, np.zeros(n, bool)
    shell = topo.shell
    n_shells = shell.max() + 1
    closed = np.ones(n_shells, bool)
    closed[shell[topo.edge_face[topo.count != 2]]] = False
    # Two copies of every face, as is and turned over; neighbours across an edge used once
    # each way keep their copies together, those across an edge used twice the same way
    # join opposite copies. A shell is orientable when no face meets its own other copy.
    order = np.argsort(topo.undirected, kind="stable")
    pair = order[topo.count[order] == 2].reshape(-1, 2)
    f, g = topo.edge_face[pair[:, 0]], topo.edge_face[pair[:, 1]]
    agree = topo.a[pair[:, 0]] != topo.a[pair[:, 1]]
    rows = np.concatenate([f, f + n])
    cols = np.concatenate([np.where(agree, g, g + n), np.where(agree, g + n, g)])
    graph = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(2 * n, 2 * n))
    _, label = csgraph.connected_components(graph, directed=False)
    orientable = np.ones(n_shells, bool)
    orientable[shell[idx][label[idx] == label[idx + n]]] = False
    root = np.zeros(n_shells, dtype=np.intp)
    root[shell[idx][::-1]] = idx[::-1]
    fixable = closed & orientable
    turn = np.zeros(n, bool)
    turn[idx] = fixable[shell[idx]] & (label[idx] != label[root[shell[idx]]])
    share = _signed_volume(topo, area)
    sign = np.where(turn[idx], -1.0, 1.0)
    volume = np.bincount(shell[idx], share * sign, n_shells)
    cavity = topo.per_shell(inner) & (np.bincount(shell[idx], share, n_shells) < 0)
    turn[idx] ^= volume[shell[idx]] * np.where(cavity, -1.0, 1.0)[shell[idx]] < 0
    if turn.any():
        faces = faces.copy()
        faces[turn] = shapely.reverse(faces[turn])
        area[turn] *= -1
        flip = turn[topo.edge_face]
        topo.a, topo.b = np.where(flip, topo.b, topo.a), np.where(flip, topo.a, topo.b)
        previous = np.empty_like(topo.next)
        previous[topo.next] = np.arange(len(topo.next))
        topo.next = np.where(flip, previous, topo.next)  # a turned ring runs backwards
    return faces, turn


def _duplicated_rings(
    rings: NDArray[np.object_], ring_face: NDArray[np.intp], decimals: int
) -> NDArray[np.intp]:
    """Faces two of whose rings run through the same vertices (202; in any order or start).

    Each ring gets an order-free digest (:func:`_ring_key`, at ``decimals``); rings of one
    face with equal digests are duplicates.
    """
    multi = np.flatnonzero(np.bincount(ring_face)[ring_face] > 1)  # faces with holes only
    if not len(multi):
        return np.zeros(0, np.intp)
    digest = _ring_key(rings[multi], np.arange(len(multi)), len(multi), decimals)
    pairs = np.stack([ring_face[multi].astype(np.uint64), digest], axis=1)
    _, first, count = np.unique(pairs, axis=0, return_index=True, return_counts=True)
    return np.unique(ring_face[multi[first[count > 1]]])


def _polygons(
    faces: NDArray[np.object_],
    area: NDArray[np.float64],
    planarity: float,
    normals: float,
    decimals: int,
) -> tuple[dict[int, NDArray[np.bool_]], NDArray[np.float64], NDArray[np.intp]]:
    """Polygon-level checks: validity in the face's plane (101, 104, 20x; by GEOS), 202,
    203, 204, 208.

    Returns the faces hit per code (key 0: faces only over the planarity tolerance, which
    are split into triangles instead of being reported), and the triangles of the faces.
    """
    reported = sorted({0, 202, 203, 204, 208, *_GEOS_REASONS.values()})  # GEOS: 101, 104, 20x
    codes = {code: np.zeros(len(faces), bool) for code in reported}
    ok = np.flatnonzero(~shapely.is_missing(faces))
    faces, area = faces[ok], area[ok]
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
    codes[203][ok] = (worst > planarity) | (size == 0)
    codes[202][ok[_duplicated_rings(rings, ring_face, decimals)]] = True
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
            codes[104][ok[hit & (n_holes == 0)]] = True
            hit &= n_holes > 0
        codes[code][ok[hit]] = True
    # only faces GEOS finds valid in their plane can be triangulated
    sound = np.flatnonzero(reasons == "Valid Geometry")
    corners, tri_face = triangulate(faces[sound])
    tri_face = sound[tri_face]
    tri = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    tri_size = np.linalg.norm(tri, axis=1)
    # a triangle thinner than the planarity tolerance has no reliable normal (a vertex within
    # millimetres of the line of its neighbours makes such slivers)
    longest = np.linalg.norm(corners - corners[:, [1, 2, 0]], axis=2).max(axis=1)
    big = tri_size > planarity * np.maximum(longest, planarity)
    cos = (tri[big] * unit[tri_face[big]]).sum(axis=1) / tri_size[big]
    codes[204][ok[tri_face[big][cos < np.cos(np.radians(normals))]]] = True
    if n_holes.any():
        holes, hole_face = shapely.get_rings(flat, return_index=True)
        outer = np.r_[True, hole_face[1:] != hole_face[:-1]]
        ccw = shapely.is_ccw(holes)
        same = ~outer & (ccw == ccw[np.searchsorted(hole_face, hole_face)])
        codes[208][ok[hole_face[same]]] = True
    others = np.any([hit for code, hit in codes.items() if code not in (0, 203)], axis=0)
    codes[0] = codes[203] & ~others
    codes[0][ok[size == 0]] = False
    codes[203] &= ~codes[0]
    return codes, corners, ok[tri_face]


def _shells(topo: _Topology, found: list[set[int]], single: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Shell-level checks: 301, 302, 303, 304, 305, 307.

    Returns which shells are closed and manifold (301-304 not found), by shell label.
    """
    idx = topo.face_index
    sound = np.ones(topo.shell.max() + 1, bool)
    if not len(idx):
        return sound
    shell, owner = topo.shell, topo.owner
    faces_per_shell = np.bincount(shell[idx])
    few = idx[faces_per_shell[shell[idx]] < 4]
    _flag(found, owner[few], 301)
    _flag(found, owner[topo.edge_face[topo.count == 1]], 302)
    _flag(found, owner[topo.edge_face[topo.count > 2]], 304)
    sound[shell[few]] = False
    sound[shell[topo.edge_face[topo.count != 2]]] = False
    _, directed, repeats = np.unique(
        topo.a * max(topo.n_vertices, 1) + topo.b, return_inverse=True, return_counts=True
    )
    _flag(found, owner[topo.edge_face[(repeats[directed] > 1) & (topo.count == 2)]], 307)
    # 305: a Solid row (a given shell) whose faces make several shells
    labels = np.flatnonzero(np.bincount(shell[idx]))
    _, first, parts = np.unique(
        topo.per_shell(topo.group)[labels], return_index=True, return_counts=True
    )
    several = topo.per_shell(owner)[labels[first[parts > 1]]]
    _flag(found, several[single[several]], 305)
    n_vertices = max(topo.n_vertices, 1)
    # 303: the faces around a vertex form fans, linked by the edges they share there; a
    # vertex with more than one fan in a shell (in a Solid: in the whole row) is non-manifold.
    at_b = 2 * topo.undirected + (topo.b == topo.hi)  # each edge at its end vertex ...
    nxt = topo.next
    at_a_next = 2 * topo.undirected[nxt] + (topo.a[nxt] == topo.hi[nxt])  # ... and the next
    n_nodes = 2 * len(topo.uses)
    graph = sparse.coo_matrix((np.ones(len(at_b)), (at_b, at_a_next)), shape=(n_nodes, n_nodes))
    _, fan = csgraph.connected_components(graph, directed=False)
    edge_owner = owner[topo.edge_face]
    group = np.where(single[edge_owner], 0, shell[topo.edge_face] + 1)
    _, first = np.unique(fan[at_b], return_index=True)
    where = topo.b[first] + n_vertices * group[first]  # each fan's vertex in its shell
    vertex_at, per_vertex = np.unique(where, return_counts=True)
    pinched = topo.vertex_owner[vertex_at[per_vertex > 1] % n_vertices]
    _flag(found, pinched, 303)
    sound[shell[idx[np.isin(owner[idx], pinched)]]] = False
    return sound


def _intersections(
    faces: NDArray[np.object_],
    area: NDArray[np.float64],
    topo: _Topology,
    sound: NDArray[np.bool_],
    corners: NDArray[np.float64],
    tri_face: NDArray[np.intp],
    found: list[set[int]],
    decimals: int,
) -> None:
    """306: faces of a ``sound`` (closed, manifold) shell that meet other than at the edges
    and vertices they share; as in val3dity, other shells have other errors to report.

    Broad phase: pairs of faces of a shell with overlapping boxes (sort and sweep along x),
    less the pairs that share an edge, are not coplanar and of which one is convex (the
    convex one meets the other's plane only along that edge). Exact phase: the triangles
    of the remaining pairs, by :func:`_touching`.
    """
    n = topo.n_faces
    tol = 0.5 * 10.0**-decimals
    in_shell = np.zeros(n, bool)
    in_shell[topo.face_index] = sound[topo.shell[topo.face_index]]
    tri = np.flatnonzero(in_shell[tri_face])
    if not len(tri):
        return
    corners, tri_face = corners[tri], tri_face[tri]
    ntri, tri_start, faces_with, f, g = _box_pairs(corners, tri_face, topo.shell, n, tol)
    # a convex face meets a face it shares an edge with only along that edge (unless coplanar)
    unit = np.zeros((n, 3))
    size = np.maximum(np.linalg.norm(area[faces_with], axis=1), 1e-12)
    unit[faces_with] = area[faces_with] / size[:, None]
    d1 = topo.point[topo.b] - topo.point[topo.a]
    d2 = topo.point[topo.b[topo.next]] - topo.point[topo.a[topo.next]]
    turn = np.einsum("ij,ij->i", np.cross(d1, d2), unit[topo.edge_face])
    convex = np.zeros(n, bool)
    convex[faces_with] = shapely.get_num_interior_rings(faces[faces_with]) == 0
    convex[topo.edge_face[turn < -tol * tol]] = False
    order = np.argsort(topo.undirected, kind="stable")
    twice = order[topo.count[order] == 2].reshape(-1, 2)
    ef, eg = topo.edge_face[twice[:, 0]], topo.edge_face[twice[:, 1]]
    shared = np.minimum(ef, eg) * n + np.maximum(ef, eg)
    flat = np.linalg.norm(np.cross(unit[f], unit[g]), axis=1) < 1e-6
    skip = (convex[f] | convex[g]) & ~flat
    shared.sort()
    key = np.minimum(f, g) * n + np.maximum(f, g)
    at = np.minimum(np.searchsorted(shared, key), max(len(shared) - 1, 0))
    skip &= (shared[at] == key) if len(shared) else False
    f, g = f[~skip], g[~skip]
    scale = 10.0**decimals
    for ti, tj in _triangle_pairs(f, g, ntri, tri_start, corners, tol):
        p, q = corners[ti], corners[tj]
        hit = _touching(p - p[:, :1], q - p[:, :1], np.rint(p * scale), np.rint(q * scale), tol)
        _flag(found, topo.owner[tri_face[ti[hit]]], 306)


def _box_pairs(
    corners: NDArray[np.float64],
    tri_face: NDArray[np.intp],
    key: NDArray[np.int64],
    n: int,
    tol: float,
) -> tuple[NDArray[np.intp], ...]:
    """Pairs of faces of equal ``key`` whose bounding boxes (of their triangles ``corners``,
    sorted by face) overlap: sort and sweep along x, then overlap in y and z.

    Returns the triangles per face and the first of each, the faces with triangles, and
    the pairs ``f``, ``g``.
    """
    ntri = np.bincount(tri_face, minlength=n)
    tri_start = np.cumsum(ntri) - ntri
    faces_with = np.flatnonzero(ntri)
    lo = np.minimum.reduceat(corners.min(axis=1), tri_start[faces_with]) - tol
    hi = np.maximum.reduceat(corners.max(axis=1), tri_start[faces_with]) + tol
    key = key[faces_with]
    order = np.lexsort((lo[:, 0], key))
    key_s, x_s = key[order], lo[order, 0]
    first = np.r_[True, key_s[1:] != key_s[:-1]]
    rank = np.cumsum(first) - 1
    base = x_s[first][rank]
    width = float((hi[:, 0] - lo[:, 0]).max() + (x_s - base).max()) + 1.0
    at = rank * width + (x_s - base)
    end = np.searchsorted(at, rank * width + (hi[order, 0] - base), side="right")
    count = np.maximum(end - np.arange(len(order)) - 1, 0)
    i = np.repeat(np.arange(len(order)), count)
    j = i + 1 + np.arange(len(i)) - np.repeat(np.cumsum(count) - count, count)
    i, j = order[i], order[j]
    overlap = ((lo[i, 1:] <= hi[j, 1:]) & (lo[j, 1:] <= hi[i, 1:])).all(axis=1)
    return ntri, tri_start, faces_with, faces_with[i[overlap]], faces_with[j[overlap]]


def _triangle_pairs(
    f: NDArray[np.intp],
    g: NDArray[np.intp],
    ntri: NDArray[np.intp],
    tri_start: NDArray[np.intp],
    corners: NDArray[np.float64],
    tol: float,
) -> Iterator[tuple[NDArray[np.intp], NDArray[np.intp]]]:
    """Every triangle of face ``f`` against every triangle of face ``g`` whose boxes overlap,
    in chunks of about :data:`_PAIR_CHUNK` pairs."""
    combos = ntri[f] * ntri[g]
    total = np.cumsum(combos)
    cuts = np.searchsorted(
        total, np.arange(_PAIR_CHUNK, int(total[-1]) if len(total) else 0, _PAIR_CHUNK)
    )
    for part in np.split(np.arange(len(f)), cuts):
        fp, gp, cp = f[part], g[part], combos[part]
        k = np.arange(int(cp.sum())) - np.repeat(np.cumsum(cp) - cp, cp)
        ti = tri_start[np.repeat(fp, cp)] + k // np.repeat(ntri[gp], cp)
        tj = tri_start[np.repeat(gp, cp)] + k % np.repeat(ntri[gp], cp)
        p, q = corners[ti], corners[tj]
        near = (
            (p.min(axis=1) <= q.max(axis=1) + tol) & (q.min(axis=1) <= p.max(axis=1) + tol)
        ).all(axis=1)
        yield ti[near], tj[near]


def _cavities(
    area: NDArray[np.float64],
    topo: _Topology,
    inner: NDArray[np.bool_],
    sound: NDArray[np.bool_],
    corners: NDArray[np.float64],
    tri_face: NDArray[np.intp],
    found: list[set[int]],
    decimals: int,
) -> None:
    """Solid-level checks between the given shells of each row with interior shells.

    405: a closed, manifold interior shell with a positive volume (pointing outwards).
    Then, of 402, 401, 404 and 403, the first a row has: 402 two shells on the same set of
    vertices; 401 an edge of a face of one shell crossing a face of another at a point
    inside both; 404 two shells touching at more than a point (sharing two or more vertices,
    or faces of both overlapping in one plane); 403 a vertex of an interior shell outside
    the exterior shell (generalised winding number of the exterior's triangles under 1/4).
    """
    idx = topo.face_index
    tol = 0.5 * 10.0**-decimals
    owner = topo.owner
    rows = np.zeros(len(found), bool)
    rows[owner[idx[inner[idx]]]] = True
    # 405
    volume = np.bincount(topo.shell[idx], _signed_volume(topo, area), topo.shell.max() + 1)
    wrong = topo.per_shell(inner) & sound & (volume > 0)
    _flag(found, topo.per_shell(owner)[wrong], 405)
    hit = {code: np.zeros(len(found), bool) for code in (401, 402, 403, 404)}
    # 402: an order-free hash of each shell's vertex set, equal in two shells of a row
    vertex = np.flatnonzero(rows[topo.vertex_owner])
    shell_of, at = np.unique(topo.vertex_group[vertex], return_inverse=True)
    digest = _set_key(topo.vertex_grid[vertex], at, len(shell_of))
    row_of = np.zeros(len(shell_of), dtype=np.intp)
    row_of[at] = topo.vertex_owner[vertex]
    _, twin_at, twins = np.unique(
        np.column_stack([row_of, digest.view(np.int64)]),
        axis=0,
        return_inverse=True,
        return_counts=True,
    )
    hit[402][row_of[twins[twin_at.ravel()] > 1]] = True
    # 404 (shared vertices): vertices of a row in more than one of its shells
    _, cell_at, per_cell = np.unique(
        np.column_stack([topo.vertex_owner[vertex], topo.vertex_grid[vertex]]),
        axis=0,
        return_inverse=True,
        return_counts=True,
    )
    shared = per_cell[cell_at.ravel()] > 1
    hit[404][row_of[np.bincount(at[shared], minlength=len(shell_of)) > 1]] = True
    # 401 and 404 (faces in contact): faces of different shells of a row
    chosen = np.flatnonzero(rows[owner[tri_face]])
    if len(chosen):
        _contacts(corners[chosen], tri_face[chosen], topo, inner, vertex, hit, tol)
    done = np.zeros(len(found), bool)
    for code in (402, 401, 404, 403):
        _flag(found, np.flatnonzero(hit[code] & ~done), code)
        done |= hit[code]


def _contacts(
    corners: NDArray[np.float64],
    tri_face: NDArray[np.intp],
    topo: _Topology,
    inner: NDArray[np.bool_],
    vertex: NDArray[np.intp],
    hit: dict[int, NDArray[np.bool_]],
    tol: float,
) -> None:
    """401, 404 (faces in contact) and 403 of :func:`_cavities`, for the triangles of the
    rows with interior shells and their ``vertex``."""
    owner, group = topo.owner, topo.group
    ntri, tri_start, _, f, g = _box_pairs(corners, tri_face, owner, topo.n_faces, tol)
    apart = group[f] != group[g]
    for ti, tj in _triangle_pairs(f[apart], g[apart], ntri, tri_start, corners, tol):
        p, q = corners[ti], corners[tj]
        crossing, overlap = _contact(p - p[:, :1], q - p[:, :1], tol)
        hit[401][owner[tri_face[ti[crossing]]]] = True
        hit[404][owner[tri_face[ti[overlap]]]] = True
    # 403: the interior shells' vertices against the exterior's triangles, row by row
    vertex_inner = np.zeros(topo.n_vertices, bool)
    vertex_inner[topo.a] = inner[topo.edge_face]
    tri = np.flatnonzero(~inner[tri_face])
    tri = tri[np.argsort(owner[tri_face[tri]], kind="stable")]
    per_row = np.bincount(owner[tri_face[tri]], minlength=len(hit[403]))
    first = np.cumsum(per_row) - per_row
    test = vertex[vertex_inner[vertex]]
    test_row = topo.vertex_owner[test]
    n_pairs = per_row[test_row]
    which = np.repeat(np.arange(len(test)), n_pairs)
    k = np.arange(len(which)) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
    corner = corners[tri[first[test_row[which]] + k]] - topo.point[test[which]][:, None, :]
    winding = np.bincount(which, _solid_angle(corner), len(test)) / (4 * np.pi)
    outside = np.abs(winding) < 0.25
    hit[403][test_row[outside]] = True


def _touching(
    p: NDArray[np.float64],
    q: NDArray[np.float64],
    p_grid: NDArray[np.float64],
    q_grid: NDArray[np.float64],
    tol: float,
) -> NDArray[np.bool_]:
    """Whether triangles ``p`` and ``q`` (k, 3, 3) meet other than at shared corners/edges.

    Written here rather than taken from trimesh, which has no exact triangle-triangle test
    without the optional python-fcl (a BVH distance, not a topological test). Corners are
    shared when equal on the output grid (``*_grid``). Triangles sharing an edge meet
    elsewhere only when they fold onto each other in one plane; otherwise an edge of one
    crossing the other (Möller and Trumbore's ray-triangle test, bounded to the edge) at a
    point that is not a shared corner is an intersection, and coplanar triangles that
    overlap with positive area intersect.
    """
    same = (p_grid[:, :, None, :] == q_grid[:, None, :, :]).all(axis=3)  # (k, 3, 3)
    p_shared, n_shared = same.any(axis=2), same.any(axis=2).sum(axis=1)
    normal_p, real, coplanar = _planes(p, q, tol)
    out = real & (n_shared == 3)
    # sharing an edge: overlapping when coplanar with both third corners on one side
    two = real & (n_shared == 2) & coplanar
    if two.any():
        k = np.flatnonzero(two)
        own = np.argmin(p_shared[k], axis=1)  # p's corner not shared
        q_own = np.argmin(same[k].any(axis=1), axis=1)
        s0 = p[k, (own + 1) % 3]
        edge = p[k, (own + 2) % 3] - s0
        side_p = np.cross(edge, p[k, own] - s0)
        side_q = np.cross(edge, q[k, q_own] - s0)
        out[k] = np.einsum("ij,ij->i", side_p, side_q) > 0
    # sharing a corner or none, not coplanar: an edge of one crosses the other
    rest = np.flatnonzero(real & (n_shared <= 1) & ~coplanar)
    if len(rest):
        corner = np.where(p_shared[rest][:, :, None], p[rest], np.nan)  # shared corners of p
        hit = np.zeros(len(rest), bool)
        for a, b in ((p[rest], q[rest]), (q[rest], p[rest])):
            for e in range(3):
                hit |= _edge_crosses(a[:, e], a[:, (e + 1) % 3], b, corner, tol)
        out[rest] = hit
    # coplanar, sharing a corner or none: overlap with positive area
    flat = np.flatnonzero(real & (n_shared <= 1) & coplanar)
    out[flat] = _overlap(p[flat], q[flat], normal_p[flat], tol)
    return out


def _planes(
    p: NDArray[np.float64], q: NDArray[np.float64], tol: float
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_]]:
    """The normal of triangles ``p`` (k, 3, 3), whether both ``p`` and ``q`` are real
    (not slivers under ``tol``), and whether ``q`` lies in the plane of ``p``."""
    normal_p = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    normal_q = np.cross(q[:, 1] - q[:, 0], q[:, 2] - q[:, 0])
    size_p, size_q = np.linalg.norm(normal_p, axis=1), np.linalg.norm(normal_q, axis=1)
    real = (size_p > tol * tol) & (size_q > tol * tol)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit_p = normal_p / size_p[:, None]
    coplanar = np.abs(np.einsum("kij,kj->ki", q - p[:, :1], unit_p)).max(axis=1) <= tol
    return normal_p, real, coplanar


def _overlap(
    p: NDArray[np.float64], q: NDArray[np.float64], normal: NDArray[np.float64], tol: float
) -> NDArray[np.bool_]:
    """Whether coplanar triangles ``p`` and ``q`` (k, 3, 3) overlap with positive area, in
    the plane their ``normal`` is closest to."""
    if not len(p):
        return np.zeros(0, bool)
    axis = np.argmax(np.abs(normal), axis=1)
    keep = np.array([[1, 2], [0, 2], [0, 1]])[axis]
    rows = np.arange(len(p))[:, None, None]
    tri_p = shapely.polygons(p[rows, np.arange(3)[None, :, None], keep[:, None, :]])
    tri_q = shapely.polygons(q[rows, np.arange(3)[None, :, None], keep[:, None, :]])
    return shapely.area(shapely.intersection(tri_p, tri_q)) > tol * tol


def _contact(
    p: NDArray[np.float64], q: NDArray[np.float64], tol: float
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """How triangles ``p`` and ``q`` (k, 3, 3) of two different shells meet: ``crossing``,
    an edge of one passing through the other at a point inside both (not at a corner nor
    on an edge: touching is not crossing); ``overlap``, coplanar with positive area."""
    normal_p, real, coplanar = _planes(p, q, tol)
    overlap = np.zeros(len(p), bool)
    flat = np.flatnonzero(real & coplanar)
    overlap[flat] = _overlap(p[flat], q[flat], normal_p[flat], tol)
    crossing = np.zeros(len(p), bool)
    rest = np.flatnonzero(real & ~coplanar)
    none = np.full((len(rest), 3, 3), np.nan)
    for a, b in ((p[rest], q[rest]), (q[rest], p[rest])):
        for e in range(3):
            crossing[rest] |= _edge_crosses(a[:, e], a[:, (e + 1) % 3], b, none, tol, strict=True)
    return crossing, overlap


def _solid_angle(corner: NDArray[np.float64]) -> NDArray[np.float64]:
    """Signed solid angle of triangles (k, 3, 3; corners relative to the point seen from),
    after Van Oosterom and Strackee; summed over a closed shell: 4 pi inside, 0 outside."""
    a, b, c = corner[:, 0], corner[:, 1], corner[:, 2]
    la, lb, lc = (np.linalg.norm(x, axis=1) for x in (a, b, c))
    volume = np.einsum("ij,ij->i", a, np.cross(b, c))
    dot = np.einsum
    below = la * lb * lc + dot("ij,ij->i", a, b) * lc + dot("ij,ij->i", a, c) * lb
    below += dot("ij,ij->i", b, c) * la
    return 2.0 * np.arctan2(volume, below)


def _edge_crosses(
    start: NDArray[np.float64],
    end: NDArray[np.float64],
    tri: NDArray[np.float64],
    shared: NDArray[np.float64],
    tol: float,
    *,
    strict: bool = False,
) -> NDArray[np.bool_]:
    """Whether segments ``start``-``end`` meet triangles ``tri`` away from ``shared`` corners
    (k, 3, 3; NaN where not shared); ``strict``: inside both, off their ends and edges."""
    direction = end - start
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    h = np.cross(direction, e2)
    det = np.einsum("ij,ij->i", e1, h)
    parallel = np.abs(det) <= 1e-12 * np.linalg.norm(e1, axis=1) * np.linalg.norm(h, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = 1.0 / det
        s = start - tri[:, 0]
        u = inv * np.einsum("ij,ij->i", s, h)
        qv = np.cross(s, e1)
        v = inv * np.einsum("ij,ij->i", direction, qv)
        t = inv * np.einsum("ij,ij->i", e2, qv)
    eps = 1e-6 if strict else -1e-9  # margin inside the edge and the triangle
    with np.errstate(invalid="ignore"):
        inside = ~parallel & (u >= eps) & (v >= eps) & (u + v <= 1 - eps)
        inside &= (t >= eps) & (t <= 1 - eps)
        point = start + t[:, None] * direction
        at_shared = (np.linalg.norm(shared - point[:, None, :], axis=2) <= tol).any(axis=1)
    return inside & ~at_shared


def _split(
    faces: NDArray[np.object_],
    owner: NDArray[np.intp],
    origin: NDArray[np.intp],
    split: NDArray[np.bool_],
    corners: NDArray[np.float64],
    tri_face: NDArray[np.intp],
) -> tuple[NDArray[np.object_], NDArray[np.intp], NDArray[np.intp]]:
    """Faces with ``split`` replaced by their triangles (which keep their orientation), with
    the row and ``origin`` of each."""
    if not split.any():
        return faces, owner, origin
    chosen = split[tri_face]
    triangles = shapely.polygons(corners[chosen])
    keep = np.flatnonzero(~split)
    position = np.concatenate([keep, tri_face[chosen]])
    order = np.argsort(position, kind="stable")
    faces = np.concatenate([faces[keep], triangles])[order]
    return faces, owner[position[order]], origin[position[order]]
