"""The pieces every map of the analyses draws: round lengths, footprints as one patch, the
north arrow (the site plan of a trench check, the map of a twin diff)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.patches import PathPatch, Polygon
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Transform
from numpy.typing import NDArray


def nice_length(value: float, /, *, up: bool = False) -> float:
    """The largest of 1, 2, 2.5, 5 × 10^k not above ``value``; with ``up``, the smallest not
    below it.

    Examples
    --------
    >>> nice_length(63.0), nice_length(24.0), nice_length(0.7)
    (50.0, 20.0, 0.5)
    >>> [nice_length(v, up=True) for v in (15.0, 30.0, 7.5, 403)]
    [20.0, 50.0, 10.0, 500.0]
    """
    power = 10.0 ** math.floor(math.log10(value))
    steps = [step * power for step in (1, 2, 2.5, 5, 10)]
    return min(s for s in steps if s >= value) if up else max(s for s in steps if s <= value)


def geometry_patch(geoms: NDArray[np.object_], /, **style: Any) -> PathPatch:
    """One patch drawing many (multi)polygons and lines: one compound path, with the holes of
    polygons (rings oriented for the non-zero fill rule)."""
    parts = shapely.get_parts(geoms[~shapely.is_empty(geoms)])
    kind = shapely.get_type_id(parts)
    rings = shapely.get_rings(shapely.orient_polygons(parts[kind == 3]))
    pieces = np.concatenate([rings, parts[kind == 1]])
    if not len(pieces):
        return PathPatch(MplPath(np.zeros((1, 2)), [MplPath.MOVETO]), visible=False)
    xy, which = shapely.get_coordinates(pieces, return_index=True)
    new = np.r_[True, which[1:] != which[:-1]]
    codes = np.where(new, MplPath.MOVETO, MplPath.LINETO).astype(np.uint8)
    last = np.r_[new[1:], True] & (which < len(rings))  # the closing vertex of a ring
    codes[last] = MplPath.CLOSEPOLY
    return PathPatch(MplPath(xy, codes), **style)


def north_arrow(
    ax: Axes,
    x: float,
    foot: float,
    height: float,
    /,
    *,
    font: float,
    transform: Transform | None = None,
) -> None:
    """A north arrow (grid north: the maps are drawn in the twin's projected CRS) standing on
    ``(x, foot)``, ``height`` tall, in the coordinates of ``transform`` (the data's by
    default): a black and a white half, "N" above it (``font`` + 5 pt) and "grid north"
    below (``font`` - 1.5 pt)."""
    where = {} if transform is None else {"transform": transform}
    half, notch = 0.27 * height, 0.23 * height
    for side, fill in ((-half, "black"), (half, "white")):
        arrow = [(x + side, foot), (x, foot + height), (x, foot + notch)]
        ax.add_patch(Polygon(arrow, facecolor=fill, edgecolor="black", linewidth=0.6, **where))
    ax.text(x, foot + 1.08 * height, "N", fontsize=font + 5, weight="bold", ha="center", **where)
    ax.text(
        x, foot - 0.12 * height, "grid north", fontsize=font - 1.5, ha="center", va="top", **where
    )
