"""A planned trench in a street of the sample district: the example of the trench check.

The trench crosses a street from the far sidewalk, as a house connection does, and turns to
run along it beside the utility lines, past a street tree. It is placed near the district
centre where it passes exactly one tree, runs beside a line in service and crosses one, so
that ``twin dig check`` has something to report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from ingest.synthetic.grid import Grid, Segments
from ingest.synthetic.terrain import CENTRE_X, CENTRE_Y
from ingest.synthetic.vegetation import Trees

#: bottom width and depth below ground of the trench, metres; at most 1.25 m deep its walls
#: stay vertical (BauV § 48), so the example shows the lines beside it, not a sloped pit
WIDTH, DEPTH = 0.6, 1.2
#: length of the run along the street, metres
RUN = 15.0
#: offset of the run from the street axis, as a share of the half width: between the district
#: heating (0.2) and the water main (0.45) on the +x / +y side, the sewer (0) and the gas main
#: (-0.45) on the other
OFFSET = 0.3
#: the crossing starts on the far side this far from the block edge (in the sidewalk), metres
KERB = 1.5
#: a tree counts as passed within this distance of the trench, a line as running beside the
#: run within this one, metres
TREE_NEAR, LINE_NEAR = 4.0, 2.0
#: of the places that pass one tree, those with the fewest further trees within this
#: distance are preferred (old avenue trees reach far: the check reports each), metres
TREE_FAR = 10.0
#: the street segments nearest the centre that are tried, and the step between the places
#: tried along each, metres
SEGMENTS, STEP = 24, 1.0


def plan_trench(
    grid: Grid, seg: Segments, trees: Trees, lines: NDArray[np.object_], /
) -> tuple[pd.DataFrame, NDArray[np.object_]]:
    """Place the sample trench: its attributes and its centreline (EPSG:31258).

    The places tried: every :data:`STEP` metres along the :data:`SEGMENTS` street segments
    nearest the centre (between the block corners), with the run on either side of the axis.
    The chosen one passes one tree, runs beside a line and crosses one; among those (or, in a
    district without such a place, among those meeting most of it) the one with the fewest
    trees within :data:`TREE_FAR`, then the nearest the centre.

    Parameters
    ----------
    grid, seg
        The street grid and its segments.
    trees
        The trees.
    lines
        The utility lines in service, LineStrings in EPSG:31258.

    Returns
    -------
    table : pandas.DataFrame
        One row: ``trench_id``, ``width_m``, ``depth_m``.
    geometry : ndarray of LineString, shape (1,)
        The centreline: across the street, then along it.
    """
    mid_x, mid_y = seg.point(np.arange(len(seg)), (seg.along0 + seg.along1) / 2, np.zeros(len(seg)))
    wx, wy = grid.frame.to_world(mid_x, mid_y)
    tried = np.argsort(np.hypot(wx - CENTRE_X, wy - CENTRE_Y), kind="stable")[:SEGMENTS]
    lo = np.where(seg.vertical, seg.bounds[:, 1], seg.bounds[:, 0])[tried]
    hi = np.where(seg.vertical, seg.bounds[:, 3], seg.bounds[:, 2])[tried]
    count = np.maximum(np.floor((hi - lo - RUN) / STEP).astype(np.int64) + 1, 0)
    first = np.repeat(np.cumsum(count) - count, count)
    station = np.repeat(lo, count) + (np.arange(count.sum()) - first) * STEP
    s = np.repeat(np.repeat(tried, count), 2)
    station = np.repeat(station, 2)
    side = np.tile([1.0, -1.0], len(s) // 2)
    half = seg.width[s] / 2
    along = np.column_stack([station, station, station + RUN])
    offset = np.column_stack([-side * (half - KERB), side * OFFSET * half, side * OFFSET * half])
    x, y = seg.point(np.repeat(s, 3), along.ravel(), offset.ravel())
    xy = np.column_stack(grid.frame.to_world(x, y)).reshape(-1, 3, 2)
    trench = shapely.linestrings(xy)
    run = shapely.linestrings(xy[:, 1:])

    n = len(trench)
    stems = shapely.STRtree(shapely.points(trees.x, trees.y))
    passed, around = (
        np.bincount(stems.query(trench, predicate="dwithin", distance=d)[0], minlength=n)
        for d in (TREE_NEAR, TREE_FAR)
    )
    index = shapely.STRtree(lines)
    crossed = np.bincount(index.query(trench, predicate="crosses")[0], minlength=n)
    near, line = index.query(run, predicate="dwithin", distance=LINE_NEAR)
    apart = ~shapely.intersects(run[near], lines[line])
    beside = np.bincount(near[apart], minlength=n)

    met = (passed == 1).astype(np.int64) + (crossed > 0) + (beside > 0)
    corner = xy[:, 1]
    distance = np.hypot(corner[:, 0] - CENTRE_X, corner[:, 1] - CENTRE_Y)
    best = np.lexsort((distance, around, -met))[0]
    table = pd.DataFrame({"trench_id": ["TR-1"], "width_m": [WIDTH], "depth_m": [DEPTH]})
    return table, trench[[best]]
