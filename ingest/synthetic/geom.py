"""Geometry helpers: the local grid frame and vectorised construction of ragged polygons."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Frame:
    """A rigid map from the local grid frame (metres, axis-aligned blocks) to EPSG:31258.

    Attributes
    ----------
    local_origin : tuple of float
        Local point placed at ``world_origin``.
    world_origin : tuple of float
        EPSG:31258 position of ``local_origin``.
    angle : float
        Counter-clockwise rotation of the local axes, radians.
    """

    local_origin: tuple[float, float]
    world_origin: tuple[float, float]
    angle: float

    def to_world(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Map local coordinates ``(n,)`` to EPSG:31258 eastings and northings ``(n,)``."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        dx = np.asarray(x, dtype=np.float64) - self.local_origin[0]
        dy = np.asarray(y, dtype=np.float64) - self.local_origin[1]
        return self.world_origin[0] + (c * dx - s * dy), self.world_origin[1] + (s * dx + c * dy)

    def rotate(self, ux: FloatArray, uy: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Rotate local direction vectors ``(n,)`` into the world frame."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        return c * ux - s * uy, s * ux + c * uy


def polygons_from_vertices(
    x: FloatArray, y: FloatArray, ring: IntArray, ring_part: IntArray
) -> NDArray[np.object_]:
    """Build polygons from vertex records sorted by ring.

    Parameters
    ----------
    x, y : ndarray, shape (n,)
        Vertex coordinates, rings unclosed, grouped by ``ring`` in increasing order.
    ring : ndarray of int, shape (n,)
        Ring index of each vertex, ``0 .. r-1``.
    ring_part : ndarray of int, shape (r,)
        Polygon index of each ring, non-decreasing; a polygon's first ring is its shell.

    Returns
    -------
    ndarray of shapely.Polygon, shape (p,)
        Polygons with counter-clockwise shells and clockwise holes.
    """
    rings = shapely.linearrings(np.column_stack([x, y]), indices=ring)
    return shapely.orient_polygons(shapely.polygons(rings, indices=ring_part))


def multipolygons_from_vertices(
    x: FloatArray, y: FloatArray, owner: IntArray, part: IntArray, ring: IntArray, order: IntArray
) -> NDArray[np.object_]:
    """Build one MultiPolygon per owner from unsorted vertex records.

    Parameters
    ----------
    x, y : ndarray, shape (n,)
        Vertex coordinates (rings unclosed).
    owner : ndarray of int, shape (n,)
        Feature index ``0 .. m-1``; every index must occur.
    part, ring : ndarray of int, shape (n,)
        Part number within the owner and ring number within the part (0 is the shell).
    order : ndarray of int, shape (n,)
        Position of the vertex along its ring.

    Returns
    -------
    ndarray of shapely.MultiPolygon, shape (m,)
    """
    idx = np.lexsort((order, ring, part, owner))
    o, p, r = owner[idx], part[idx], ring[idx]
    new_ring = np.r_[True, (o[1:] != o[:-1]) | (p[1:] != p[:-1]) | (r[1:] != r[:-1])]
    ring_id = np.cumsum(new_ring) - 1
    ro, rp = o[new_ring], p[new_ring]
    new_part = np.r_[True, (ro[1:] != ro[:-1]) | (rp[1:] != rp[:-1])]
    polygons = polygons_from_vertices(x[idx], y[idx], ring_id, np.cumsum(new_part) - 1)
    return shapely.multipolygons(polygons, indices=ro[new_part])


def noded_rectangles(
    bounds: FloatArray, owner: IntArray, px: FloatArray, py: FloatArray
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Rings of axis-aligned rectangles with extra vertices where neighbours' corners touch them.

    A parcel coverage is only topologically clean when a vertex of one parcel lying on the edge of
    another is a vertex of both; this inserts such points, which must lie exactly on the edge.

    Parameters
    ----------
    bounds : ndarray, shape (r, 4)
        ``xmin, ymin, xmax, ymax`` of each rectangle.
    owner : ndarray of int, shape (m,)
        Rectangle on whose boundary each extra point lies.
    px, py : ndarray, shape (m,)
        Extra points; duplicates and the rectangle's own corners are merged.

    Returns
    -------
    x, y : ndarray, shape (n,)
        Ring vertices, counter-clockwise from the lower-left corner, unclosed.
    ring : ndarray of int, shape (n,)
        Rectangle index of each vertex, non-decreasing.
    """
    r = len(bounds)
    xmin, ymin, xmax, ymax = bounds.T
    cx = np.column_stack([xmin, xmax, xmax, xmin]).ravel()
    cy = np.column_stack([ymin, ymin, ymax, ymax]).ravel()
    own = np.concatenate([np.repeat(np.arange(r), 4), owner])
    x = np.concatenate([cx, px])
    y = np.concatenate([cy, py])
    x0, y0, x1, y1 = xmin[own], ymin[own], xmax[own], ymax[own]
    w, h = x1 - x0, y1 - y0
    t = np.select(
        [(y == y0) & (x < x1), (x == x1) & (y < y1), (y == y1) & (x > x0)],
        [x - x0, w + (y - y0), w + h + (x1 - x)],
        2 * w + h + (y1 - y),
    )
    idx = np.lexsort((t, own))
    own, t = own[idx], t[idx]
    keep = np.r_[True, (own[1:] != own[:-1]) | (t[1:] != t[:-1])]
    return x[idx][keep], y[idx][keep], own[keep]
