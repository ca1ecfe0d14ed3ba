"""A closed LoD2.2 solid from a footprint and the planes of its roof.

The roof is the lower envelope of its planes (flat, shed, gabled and hipped roofs are), so
the footprint splits into one convex cell per plane: where that plane is the lowest. Each
roof face is the footprint cut by a cell. Vertices are rounded to the output precision
first and every height is then computed from the rounded position by the one envelope
function, so faces that share a vertex give it the same height, and the shell closes.
Walls stand on every footprint edge and follow the roof along it: a wall whose edge the
ridge crosses gets the ridge point (a gable wall is a pentagon).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely
from numpy.typing import NDArray

from ingest.lod22.regularise import envelope
from twin.semantics import Semantic

#: decimal places of the output coordinates (millimetres, as twin.validity checks them)
DECIMALS = 3
_GRID = 10.0**-DECIMALS
#: metres within which roof vertices are merged with footprint corners and each other
SNAP = 0.01


def roof_solid(
    footprint: shapely.Geometry, planes: NDArray[np.float64], ground: float, /
) -> tuple[NDArray[np.object_], NDArray[np.int8]]:
    """Faces of the closed solid under the roof ``planes`` over ``footprint``.

    Parameters
    ----------
    footprint
        Polygon or multipolygon (metres; holes allowed).
    planes : (p, 3) float
        ``(a, b, c)`` of ``z = a·x + b·y + c`` in the footprint's coordinates.
    ground
        Height of the ground face.

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
    >>> [int(shapely.get_num_coordinates(f)) - 1 for f in faces]
    [4, 4, 5, 4, 5, 4, 4]
    """
    footprint = shapely.orient_polygons(shapely.set_precision(footprint, _GRID))
    ground = round(float(ground), DECIMALS)

    def lift(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack([xy, np.round(envelope(planes, xy), DECIMALS)])

    cells = _cells(planes, shapely.bounds(footprint))
    parts = shapely.get_parts(shapely.intersection(footprint, cells))
    parts = shapely.set_precision(parts[shapely.get_type_id(parts) == 3], _GRID)
    # A cell edge passing within a few millimetres of a footprint corner (a hip line meets
    # it) leaves a second vertex beside the corner: such vertices become the corner.
    corners = shapely.get_coordinates(footprint)

    def snap(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        gap = np.hypot(*(xy[:, None, :] - corners[None, :, :]).transpose(2, 0, 1))
        near = gap.argmin(axis=1)
        return np.where((gap.min(axis=1) <= SNAP)[:, None], corners[near], xy)

    parts = shapely.remove_repeated_points(shapely.transform(parts, snap))
    parts = parts[~shapely.is_empty(parts) & (shapely.area(parts) > 0)]
    roofs = shapely.orient_polygons(parts)
    roofs = shapely.transform(
        shapely.force_3d(roofs, 0.0), lambda c: lift(c[:, :2]), include_z=True
    )
    edge_xy = np.unique(shapely.get_coordinates(roofs), axis=0)
    walls = [
        _walls(shapely.get_coordinates(ring), edge_xy, lift, ground)
        for ring in shapely.get_rings(shapely.get_parts(footprint))
    ]
    grounds = shapely.force_3d(
        shapely.orient_polygons(shapely.get_parts(footprint), exterior_cw=True), ground
    )
    wall_faces = np.concatenate([np.asarray(w, dtype=object) for w in walls])
    faces = np.concatenate([grounds, wall_faces, roofs])
    semantic = np.repeat(
        np.array(
            [Semantic.GroundSurface, Semantic.WallSurface, Semantic.RoofSurface], dtype=np.int8
        ),
        [len(grounds), len(wall_faces), len(roofs)],
    )
    return faces, semantic


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


def _walls(
    ring: NDArray[np.float64],
    edge_xy: NDArray[np.float64],
    lift: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    ground: float,
) -> list[shapely.Polygon]:
    """The walls on the edges of a footprint ring, topped by the roof vertices on each edge."""
    a, b = ring[:-1], ring[1:]
    d = b - a
    length2 = (d * d).sum(axis=1)
    keep = length2 > 0
    a, b, d, length2 = a[keep], b[keep], d[keep], length2[keep]
    rel = edge_xy[None, :, :] - a[:, None, :]  # (edges, vertices, 2)
    t = (rel * d[:, None, :]).sum(axis=2) / length2[:, None]
    off = np.abs(rel[..., 0] * d[:, None, 1] - rel[..., 1] * d[:, None, 0]) / np.sqrt(
        length2[:, None]
    )
    eps = _GRID / np.sqrt(length2)[:, None]
    on = (off <= 2 * _GRID) & (t > eps) & (t < 1 - eps)
    top_a, top_b = lift(a), lift(b)
    walls = []
    for k in range(len(a)):
        mid = np.flatnonzero(on[k])
        mid = mid[np.argsort(-t[k, mid])]
        ring3 = np.vstack(
            [
                [*a[k], ground],
                [*b[k], ground],
                top_b[k],
                lift(edge_xy[mid]).reshape(-1, 3),
                top_a[k],
            ]
        )
        walls.append(shapely.Polygon(ring3))
    return walls
