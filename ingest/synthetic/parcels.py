"""Parcels of the city blocks and the buildings standing on them, built without per-block loops.

A building block is a perimeter block: a parcel in each corner (``depth`` square), a row of
parcels 10-25 m wide along each side and a garden parcel inside. Buildings stand at the street
front and share walls: every building on one side of a block has that side's depth, so
neighbours' walls have identical vertices. Corner buildings are L-shapes or extend one row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ingest.synthetic.geom import (
    FloatArray,
    IntArray,
    multipolygons_from_vertices,
    noded_rectangles,
    polygons_from_vertices,
)
from ingest.synthetic.grid import BUILDING, PARK, Grid, Segments, intersections, segment_of_side

#: building kinds: only RECT buildings carry pitched roofs
RECT, LSHAPE, COURTYARD, MULTI = 0, 1, 2, 3
#: roles of a side parcel
VACANT, ATTACHED, DETACHED, YARD, WINGED = 0, 1, 2, 3, 4
#: roles of a corner parcel: empty, L-shape, end of the horizontal row, end of the vertical row
C_EMPTY, C_LSHAPE, C_ROW_H, C_ROW_V = 0, 1, 2, 3
#: corners SW, SE, NE, NW: which bound gives the corner point and the inward directions
_CORNER_X, _CORNER_Y = np.array([0, 2, 2, 0]), np.array([1, 1, 3, 3])
_INWARD_X, _INWARD_Y = np.array([1.0, -1.0, -1.0, 1.0]), np.array([1.0, 1.0, -1.0, -1.0])
#: side (0 S, 1 E, 2 N, 3 W) whose row meets each corner along x and along y
_ROW_H, _ROW_V = np.array([0, 0, 2, 2]), np.array([3, 1, 1, 3])

LAND_USE_DE = {
    "building": "Gebäude",
    "garden": "Gärten",
    "road": "Straßenverkehrsanlagen",
    "park": "Parkanlagen",
    "square": "Plätze",
}


@dataclass(frozen=True)
class Plan:
    """Random subdivision of the building blocks, drawn before any geometry is made.

    Arrays of length ``m`` describe building blocks, of length ``p`` side parcels.
    """

    block: IntArray
    bounds: FloatArray
    depth: FloatArray
    row: FloatArray
    eave_mean: FloatArray
    s_block: IntArray
    s_side: IntArray
    s_lo: FloatArray
    s_hi: FloatArray
    s_role: NDArray[np.int8]
    c_role: NDArray[np.int8]
    draws: FloatArray

    @property
    def n_buildings(self) -> int:
        """Number of buildings the plan places."""
        return int(np.count_nonzero(self.s_role) + np.count_nonzero(self.c_role))


@dataclass(frozen=True)
class Parcels:
    """Parcels in the world frame: polygons ``(p,)`` and their land use, block and street."""

    geometry: NDArray[np.object_]
    land_use: NDArray[np.object_]
    block: IntArray
    street: NDArray[np.object_]


@dataclass(frozen=True)
class Footprints:
    """Building footprints: MultiPolygons ``(n,)`` in the world frame and what made them.

    ``rect`` holds the local bounds of RECT buildings (NaN otherwise); ``side`` the block side
    the building fronts (-1 for corner buildings) and ``facade_x, facade_y`` the local midpoint
    of that facade.
    """

    geometry: NDArray[np.object_]
    kind: NDArray[np.int8]
    parcel: IntArray
    block: IntArray
    side: IntArray
    facade_x: FloatArray
    facade_y: FloatArray
    rect: FloatArray
    eave_mean: FloatArray
    detached: NDArray[np.bool_]


def _side_frames(bounds: FloatArray, depth: FloatArray, side: IntArray) -> tuple[FloatArray, ...]:
    """Orientation, front line, inward sign and along-range of block sides."""
    x0, y0, x1, y1 = bounds.T
    horizontal = (side == 0) | (side == 2)
    front = np.select([side == 0, side == 1, side == 2], [y0, x1, y1], x0)
    sgn = np.where((side == 0) | (side == 3), 1.0, -1.0)
    lo = np.where(horizontal, x0 + depth, y0 + depth)
    hi = np.where(horizontal, x1 - depth, y1 - depth)
    return horizontal, front, sgn, lo, hi


def _map_side(
    horizontal: NDArray[np.bool_], front: FloatArray, sgn: FloatArray, s: FloatArray, q: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Local ``x, y`` of along-side position ``s`` and inward distance ``q``."""
    inward = front + sgn * q
    return np.where(horizontal, s, inward), np.where(horizontal, inward, s)


def _map_corner(
    bounds: FloatArray, corner: IntArray, a: FloatArray, b: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Local ``x, y`` of inward distances ``a`` (along x) and ``b`` (along y) from a corner."""
    cx = np.take_along_axis(bounds, _CORNER_X[corner][:, None], 1)
    cy = np.take_along_axis(bounds, _CORNER_Y[corner][:, None], 1)
    return cx + _INWARD_X[corner][:, None] * a, cy + _INWARD_Y[corner][:, None] * b


def plan_blocks(grid: Grid, n: int, rng: np.random.Generator, /) -> Plan | None:
    """Subdivide the building blocks of ``grid`` and choose exactly ``n`` buildings.

    Returns None when the grid has room for fewer than ``n`` buildings.
    """
    block = np.flatnonzero(grid.kind == BUILDING)
    m = len(block)
    bounds = grid.block_bounds()[block]
    size = np.minimum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
    depth = np.round(np.minimum(rng.uniform(22.0, 30.0, m), size / 2 - 6.0), 1)
    row = np.round(rng.uniform(10.0, 14.0, (m, 4)), 1)
    eave_mean = rng.uniform(8.0, 16.0, m)

    # sides: count of parcels per side, then random fronts via a grouped cumulative sum
    side_block, side = np.divmod(np.arange(4 * m), 4)
    _, _, _, lo, hi = _side_frames(bounds[side_block], depth[side_block], side)
    length = hi - lo
    k = np.clip(np.rint(length / 16.0), np.ceil(length / 25.0), np.floor(length / 10.0))
    k = np.maximum(k, 1).astype(np.int64)
    owner = np.repeat(np.arange(4 * m), k)
    last = np.cumsum(k) - 1
    first = last - k + 1
    w = rng.uniform(0.85, 1.15, len(owner))
    cw = np.cumsum(w)
    start = (cw[first] - w[first])[owner]
    frac = (cw - start) / (cw[last][owner] - start)
    s_hi = np.round(lo[owner] + frac * length[owner], 2)
    s_hi[last] = hi
    s_lo = np.r_[0.0, s_hi[:-1]]
    s_lo[first] = lo

    p = len(owner)
    front = s_hi - s_lo
    s_role = np.full(p, ATTACHED, dtype=np.int8)
    n_yard = max(1, round(0.02 * n)) if n >= 10 else 0
    n_wing = max(1, round(0.03 * n)) if n >= 10 else 0
    cand = rng.permutation(np.flatnonzero(front >= 16.0))[:n_yard]
    s_role[cand] = YARD
    cand = rng.permutation(np.flatnonzero((front >= 12.0) & (s_role == ATTACHED)))[:n_wing]
    s_role[cand] = WINGED
    u = rng.random(p)
    plain = s_role == ATTACHED
    s_role[plain & (front >= 12.0) & (u < 0.08)] = DETACHED
    s_role[plain & (u > 0.97)] = VACANT
    c_role = rng.choice(
        np.array([C_LSHAPE, C_ROW_H, C_ROW_V], dtype=np.int8), size=(m, 4), p=[0.45, 0.275, 0.275]
    )

    # trim to exactly n buildings: drop ordinary ones, the parcels stay as gardens
    removable = np.r_[
        np.flatnonzero((s_role == ATTACHED) | (s_role == DETACHED)), p + np.arange(4 * m)
    ]
    excess = int(np.count_nonzero(s_role)) + 4 * m - n
    if excess < 0 or excess > len(removable):
        return None
    drop = rng.choice(removable, size=excess, replace=False)
    s_role[drop[drop < p]] = VACANT
    c_role.reshape(-1)[drop[drop >= p] - p] = C_EMPTY
    # uniform draws per side parcel for the shapes of detached, courtyard and winged buildings
    draws = rng.random((p, 5))
    return Plan(
        block,
        bounds,
        depth,
        row,
        eave_mean,
        side_block[owner],
        side[owner],
        s_lo,
        s_hi,
        s_role,
        c_role,
        draws,
    )


class _Vertices:
    """Accumulates building vertex records ``(owner, part, ring, order, x, y)``."""

    def __init__(self) -> None:
        self.cols: list[tuple[IntArray, ...]] = []

    def add(self, owner: IntArray, x: FloatArray, y: FloatArray, part: int, ring: int) -> None:
        """Add one ring per ``owner`` from vertex arrays of shape ``(len(owner), k)``."""
        nv = x.shape[1]
        self.cols.append(
            (
                np.repeat(owner, nv),
                np.full(x.size, part),
                np.full(x.size, ring),
                np.tile(np.arange(nv), len(owner)),
                x.ravel(),
                y.ravel(),
            )
        )

    def arrays(self) -> tuple[NDArray, ...]:
        """The concatenated columns."""
        return tuple(np.concatenate(c) for c in zip(*self.cols, strict=True))


def _box(
    a0: FloatArray, b0: FloatArray, a1: FloatArray, b1: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Vertices ``(n, 4)`` of axis-aligned rectangles in some 2D frame."""
    return np.c_[a0, a1, a1, a0], np.c_[b0, b0, b1, b1]


def _parcel_polygons(grid: Grid, plan: Plan, segments: Segments) -> Parcels:
    """Parcel polygons of the whole district, noded into a clean coverage."""
    m, p = len(plan.block), len(plan.s_role)
    sb = plan.s_block
    hor, front, sgn, _, _ = _side_frames(plan.bounds[sb], plan.depth[sb], plan.s_side)
    d, lo, hi, zero = plan.depth[sb], plan.s_lo, plan.s_hi, np.zeros(p)
    fx0, fy0 = _map_side(hor, front, sgn, lo, zero)  # front corners
    fx1, fy1 = _map_side(hor, front, sgn, hi, zero)
    ix0, iy0 = _map_side(hor, front, sgn, lo, d)  # inner corners
    ix1, iy1 = _map_side(hor, front, sgn, hi, d)
    side_rects = np.column_stack(
        [np.minimum(fx0, ix1), np.minimum(fy0, iy1), np.maximum(fx0, ix1), np.maximum(fy0, iy1)]
    )
    cb, corner = np.divmod(np.arange(4 * m), 4)
    cd = plan.depth[cb][:, None]
    cx, cy = _map_corner(plan.bounds[cb], corner, np.c_[0.0 * cd, cd], np.c_[0.0 * cd, cd])
    corner_rects = np.column_stack([cx.min(1), cy.min(1), cx.max(1), cy.max(1)])
    x0, y0, x1, y1 = plan.bounds.T
    dp = plan.depth
    gardens = np.column_stack([x0 + dp, y0 + dp, x1 - dp, y1 - dp])
    open_blocks = np.flatnonzero(grid.kind != BUILDING)
    inter_bounds, inter_names = intersections(grid)
    rects = np.concatenate(
        [
            corner_rects,
            side_rects,
            gardens,
            grid.block_bounds()[open_blocks],
            segments.bounds,
            inter_bounds,
        ]
    )
    # side parcels' inner corners lie on the garden, their front corners on the street
    garden0 = 4 * m + p
    seg0 = garden0 + m + len(open_blocks)
    seg = seg0 + segment_of_side(grid, plan.block[sb], plan.s_side)
    rx, ry, ring = noded_rectangles(
        rects,
        np.concatenate([garden0 + sb, garden0 + sb, seg, seg]),
        np.concatenate([ix0, ix1, fx0, fx1]),
        np.concatenate([iy0, iy1, fy0, fy1]),
    )
    wx, wy = grid.frame.to_world(rx, ry)
    n_road = len(segments) + len(inter_bounds)
    c_has = plan.c_role.reshape(-1) != C_EMPTY
    return Parcels(
        geometry=polygons_from_vertices(wx, wy, ring, np.arange(len(rects))),
        land_use=np.concatenate(
            [
                np.where(c_has, "building", "garden"),
                np.where(plan.s_role != VACANT, "building", "garden"),
                np.full(m, "garden"),
                np.where(grid.kind[open_blocks] == PARK, "park", "square"),
                np.full(n_road, "road"),
            ]
        ).astype(object),
        block=np.concatenate(
            [plan.block[cb], plan.block[sb], plan.block, open_blocks, np.full(n_road, -1)]
        ),
        street=np.concatenate(
            [
                np.full(4 * m + p + m, None, dtype=object),
                grid.square_name[open_blocks],
                segments.name,
                inter_names,
            ]
        ),
    )


def build_district(grid: Grid, plan: Plan, segments: Segments, /) -> tuple[Parcels, Footprints]:
    """Make the parcel polygons and building footprints of ``plan`` in the world frame.

    Buildings are numbered in parcel order: corner parcels of all blocks, then side parcels.
    """
    m, p = len(plan.block), len(plan.s_role)
    sb, sr, fu = plan.s_block, plan.s_role, plan.draws
    hor, front, sgn, _, _ = _side_frames(plan.bounds[sb], plan.depth[sb], plan.s_side)
    d, h = plan.depth[sb], plan.row[sb, plan.s_side]
    lo, hi, zero = plan.s_lo, plan.s_hi, np.zeros(p)
    cr = plan.c_role.reshape(-1)
    has = np.r_[cr != C_EMPTY, sr != VACANT]
    slot = np.flatnonzero(has)
    n = len(slot)
    bid = np.full(4 * m + p, -1)
    bid[slot] = np.arange(n)
    c_id, s_id = bid[: 4 * m], bid[4 * m :]
    verts = _Vertices()

    def side_ring(
        sel: NDArray[np.bool_], ring: tuple[FloatArray, FloatArray], part: int, no: int
    ) -> None:
        x, y = _map_side(hor[sel, None], front[sel, None], sgn[sel, None], *ring)
        verts.add(s_id[sel], x, y, part, no)

    def pick(sel: NDArray[np.bool_], ring: tuple[FloatArray, FloatArray]) -> tuple[FloatArray, ...]:
        return ring[0][sel], ring[1][sel]

    sel = (sr == ATTACHED) | (sr == WINGED)
    side_ring(sel, pick(sel, _box(lo, zero, hi, h)), 0, 0)
    # detached: side gaps 1.5-3 m, half of them set back 3-6 m, 8-12 m deep
    sel = sr == DETACHED
    setback = np.where(fu[:, 2] < 0.5, 0.0, np.round(3.0 + 3.0 * fu[:, 3], 1))
    deep = np.round(np.minimum(8.0 + 4.0 * fu[:, 4], d - setback - 2.0), 1)
    g1, g2 = np.round(1.5 + 1.5 * fu[:, 0], 1), np.round(1.5 + 1.5 * fu[:, 1], 1)
    side_ring(sel, pick(sel, _box(lo + g1, setback, hi - g2, setback + deep)), 0, 0)
    # courtyard building: the whole parcel around a yard, with wall vertices where the
    # neighbours' rows end
    sel = sr == YARD
    yard = np.round(np.minimum(5.5 + 1.5 * fu[:, 0], (hi - lo - 4.0) / 2), 1)
    side_ring(sel, pick(sel, (np.c_[lo, hi, hi, hi, lo, lo], np.c_[zero, zero, h, d, d, h])), 0, 0)
    side_ring(sel, pick(sel, _box(lo + yard, yard, hi - yard, d - yard)), 0, 1)
    # two-part building: the front house and a separate rear wing behind a 2-3 m passage
    sel = sr == WINGED
    wing = np.round((0.4 + 0.3 * fu[:, 0]) * (hi - lo), 1)
    w0 = np.round(lo + fu[:, 1] * (hi - lo - wing), 1)
    gap = np.round(2.0 + fu[:, 2], 1)
    wd = np.round(4.0 + fu[:, 3] * (d - h - gap - 4.5), 1)
    side_ring(sel, pick(sel, _box(w0, h + gap, w0 + wing, h + gap + wd)), 1, 0)
    # corners
    cb, corner = np.divmod(np.arange(4 * m), 4)
    hy, hx = plan.row[cb, _ROW_H[corner]], plan.row[cb, _ROW_V[corner]]
    cd, z = plan.depth[cb], np.zeros(4 * m)
    shapes = {
        C_LSHAPE: (np.c_[z, cd, cd, hx, hx, z], np.c_[z, z, hy, hy, cd, cd]),
        C_ROW_H: _box(z, z, cd, hy),
        C_ROW_V: _box(z, z, hx, cd),
    }
    for role, (a, b) in shapes.items():
        sel = cr == role
        x, y = _map_corner(plan.bounds[cb[sel]], corner[sel], a[sel], b[sel])
        verts.add(c_id[sel], x, y, 0, 0)
    owner, part, ring_no, order, bx, by = verts.arrays()
    wx, wy = grid.frame.to_world(bx, by)
    geometry = multipolygons_from_vertices(wx, wy, owner, part, ring_no, order)

    slot_kind = np.r_[
        np.where(cr == C_LSHAPE, LSHAPE, RECT),
        np.array([RECT, RECT, RECT, COURTYARD, MULTI])[sr],
    ].astype(np.int8)
    kind = slot_kind[slot]
    # local bounds of the rectangular buildings (their roofs are analytic in that frame)
    rect = np.full((n, 4), np.nan)
    r = kind[owner] == RECT
    for col, (vals, fn) in enumerate(
        ((bx, np.minimum), (by, np.minimum), (bx, np.maximum), (by, np.maximum))
    ):
        acc = np.full(n, np.inf if fn is np.minimum else -np.inf)
        fn.at(acc, owner[r], vals[r])
        rect[kind == RECT, col] = acc[kind == RECT]
    # facades of side buildings: midpoint of the street-facing wall
    det = sr == DETACHED
    fx, fy = _map_side(
        hor, front, sgn, np.where(det, (lo + g1 + hi - g2) / 2, (lo + hi) / 2), setback * det
    )
    blk = np.r_[cb, sb][slot]
    return _parcel_polygons(grid, plan, segments), Footprints(
        geometry=geometry,
        kind=kind,
        parcel=slot,
        block=plan.block[blk],
        side=np.r_[np.full(4 * m, -1), plan.s_side][slot],
        facade_x=np.r_[np.full(4 * m, np.nan), fx][slot],
        facade_y=np.r_[np.full(4 * m, np.nan), fy][slot],
        rect=rect,
        eave_mean=plan.eave_mean[blk],
        detached=np.r_[np.zeros(4 * m, bool), det][slot],
    )
