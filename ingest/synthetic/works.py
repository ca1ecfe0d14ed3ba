"""Planned street works of the network operators and recent surface works of the city."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from ingest.synthetic.grid import Grid, Segments
from ingest.synthetic.networks import NETWORKS

KINDS = np.array(["new_line", "renewal", "house_connection", "repair"], dtype=object)
KIND_SHARE = [0.3, 0.35, 0.15, 0.2]
#: duration range of each kind, days
DURATION = np.array([[60, 180], [40, 120], [5, 15], [2, 10]])
PLAN_START, PLAN_END = np.datetime64("2027-01-01"), np.datetime64("2029-12-31")
DONE_START, DONE_END = np.datetime64("2021-01-01"), np.datetime64("2026-10-31")


def _dates(days: NDArray[np.int64], origin: np.datetime64) -> NDArray[np.object_]:
    """ISO date strings ``origin + days``."""
    return np.datetime_as_string(origin + days.astype("timedelta64[D]"), unit="D").astype(object)


def plan_works(
    grid: Grid, seg: Segments, rng: np.random.Generator, /
) -> tuple[pd.DataFrame, NDArray[np.object_]]:
    """Planned works 2027-2029; about a third are paired with a clashing work of another operator.

    A clash shares the street segment, overlaps the stretch and starts within the other's
    period. Returns the attribute table and LineStrings (world frame) along the network's line.
    """
    n = max(8, round(0.06 * len(seg)))
    s = rng.integers(len(seg), size=n)
    net = rng.integers(len(NETWORKS), size=n)
    kind = rng.choice(4, size=n, p=KIND_SHARE)
    length = seg.along1[s] - seg.along0[s]
    span = np.select(
        [kind <= 1, kind == 3], [rng.uniform(0.3, 1.0, n) * length, rng.uniform(5.0, 20.0, n)], 0.0
    )
    a0 = seg.along0[s] + rng.random(n) * (length - span)
    start = rng.integers(0, (PLAN_END - PLAN_START).astype(int) - 200, n)
    # the clashing partners
    pair = np.flatnonzero(rng.random(n) < 0.35)
    pair = pair if pair.size else np.array([0])
    m = len(pair)
    p_net = (net[pair] + rng.integers(1, len(NETWORKS), m)) % len(NETWORKS)
    p_kind = rng.choice(2, size=m)
    p_span = rng.uniform(0.3, 1.0, m) * length[pair]
    p_a0 = np.clip(
        a0[pair] + rng.uniform(-0.3, 0.3, m) * p_span,
        seg.along0[s[pair]],
        seg.along1[s[pair]] - p_span,
    )
    p_start = start[pair] + rng.integers(-20, 15, m)
    s, net, kind = np.r_[s, s[pair]], np.r_[net, p_net], np.r_[kind, p_kind]
    span, a0, start = np.r_[span, p_span], np.r_[a0, p_a0], np.r_[start, p_start]
    total = n + m
    duration = rng.integers(DURATION[kind, 0], DURATION[kind, 1] + 1)
    emergency = (kind == 3) & (rng.random(total) < 0.3)
    half = seg.width[s] / 2
    offset = np.array([k.offset for k in NETWORKS])[net] * half
    # house connections cross from the line to the street edge
    edge = np.where(offset >= 0, half, -half)
    x0, y0 = seg.point(s, a0, offset)
    x1, y1 = seg.point(s, np.where(kind == 2, a0, a0 + span), np.where(kind == 2, edge, offset))
    wx, wy = grid.frame.to_world(np.c_[x0, x1].ravel(), np.c_[y0, y1].ravel())
    geometry = shapely.linestrings(np.c_[wx, wy].reshape(total, 2, 2))
    depth_hi = np.array([k.depth[1] for k in NETWORKS])[net]
    wide = np.isin(net, [1, 3])  # sewer and district heating need wide trenches
    table = pd.DataFrame(
        {
            "work_id": [f"AG-{i:05d}" for i in range(1, total + 1)],
            "operator": np.array([k.operator for k in NETWORKS], dtype=object)[net],
            "network": np.array([k.network for k in NETWORKS], dtype=object)[net],
            "kind": KINDS[kind],
            "start": _dates(start, PLAN_START),
            "end": _dates(
                np.minimum(start + duration, (PLAN_END - PLAN_START).astype(int)), PLAN_START
            ),
            "emergency": emergency,
            "trench_width_m": np.round(
                np.where(wide, rng.uniform(1.2, 2.2, total), rng.uniform(0.5, 1.0, total)), 1
            ),
            "trench_depth_m": np.round(depth_hi + rng.uniform(0.2, 0.6, total), 1),
        }
    )
    return table, geometry


def surface_works(
    grid: Grid, seg: Segments, rng: np.random.Generator, /
) -> tuple[pd.DataFrame, NDArray[np.object_]]:
    """Resurfaced stretches (full width) and trench reinstatements (half width), 2021-2026,
    and resurfacings planned for 2027-2029 (``status`` planned, ``completed`` null)."""
    n = max(6, round(0.05 * len(seg)))
    s = (
        rng.choice(len(seg), size=n, replace=False)
        if n <= len(seg)
        else rng.integers(len(seg), size=n)
    )
    kind = (rng.random(n) < 0.4).astype(np.int64)
    lo = np.where(seg.vertical[s], seg.bounds[s, 1], seg.bounds[s, 0])
    hi = np.where(seg.vertical[s], seg.bounds[s, 3], seg.bounds[s, 2])
    span = rng.uniform(0.3, 1.0, n) * (hi - lo)
    a0 = lo + rng.random(n) * (hi - lo - span)
    half = seg.width[s] / 2
    side = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    c0 = np.where(kind == 1, np.minimum(0.0, side * half), -half)
    c1 = np.where(kind == 1, np.maximum(0.0, side * half), half)
    along = np.c_[a0, a0 + span, a0 + span, a0]
    cross = np.c_[c0, c0, c1, c1]
    x, y = seg.point(np.repeat(s, 4), along.ravel(), cross.ravel())
    wx, wy = grid.frame.to_world(x, y)
    rings = shapely.linearrings(np.c_[wx, wy].reshape(n, 4, 2))
    days = rng.integers(0, (DONE_END - DONE_START).astype(int) + 1, n)
    # A third of the resurfacings are still to come: the street-works office's programme.
    planned = (kind == 0) & (rng.random(n) < 1 / 3)
    planned_days = rng.integers(0, (PLAN_END - PLAN_START).astype(int) - 365, n)
    table = pd.DataFrame(
        {
            "surface_id": [f"OF-{i:05d}" for i in range(1, n + 1)],
            "kind": np.array(["resurfacing", "reinstatement"], dtype=object)[kind],
            "status": np.where(planned, "planned", "completed").astype(object),
            "completed": np.where(planned, None, _dates(days, DONE_START)),
            "planned": np.where(planned, _dates(planned_days, PLAN_START), None),
            "street": seg.name[s],
        }
    )
    return table, shapely.orient_polygons(shapely.polygons(rings))
