"""The map of a twin diff (:mod:`twin.analysis.diff`): a PNG of the buildings that changed.

The footprints of the unchanged buildings in light grey, those added, removed and changed in
three colours (each drawn as one patch, whatever the number of buildings), a legend titled
with the counts, a scale bar and a north arrow, framed on the changes (on the whole twin when
nothing changed, and the title says so). Drawn with matplotlib's object interface on its Agg
canvas: no pyplot, no GUI backend, no global state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from twin.analysis.diff import TwinDiff
from twin.analysis.mapdraw import geometry_patch, nice_length, north_arrow
from twin.files import atomic

#: Fill colours of the changes (ColorBrewer's Dark2: told apart with the common colour
#: blindnesses, and from the grey of the unchanged buildings)
COLOURS = {"added": "#1b9e77", "removed": "#d95f02", "changed": "#7570b3"}
#: Fill and outline of the unchanged buildings
UNCHANGED = ("#dddddd", "#b5b5b5")
#: Ground (m) shown at least around the changes
MARGIN = 20.0


def draw_diff(
    result: TwinDiff,
    path: str | Path,
    /,
    *,
    old: str = "old",
    new: str = "new",
    size: tuple[int, int] = (1200, 900),
) -> Path:
    """Draw the map of ``result`` as a PNG.

    Parameters
    ----------
    result
        The differences of two twins (:func:`twin.analysis.diff.diff`).
    path
        The PNG to write (atomically).
    old, new
        How the title names the two twins (their locations).
    size
        ``(width, height)`` of the picture in pixels.

    Returns
    -------
    Path
        ``path``.
    """
    width, height = size
    dpi = 100.0
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.03, 0.74, 0.86))  # the legend in a panel to its right
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#888888")
    frame = result.buildings
    geoms = frame.geometry.to_numpy()
    view = _view(geoms if len(frame) else result.unchanged, ax, fig)
    ax.set_xlim(view[0], view[2])
    ax.set_ylim(view[1], view[3])
    ax.add_patch(
        geometry_patch(result.unchanged, facecolor=UNCHANGED[0], edgecolor=UNCHANGED[1], lw=0.5)
    )
    change = frame["change"].to_numpy()
    for name in ("removed", "changed", "added"):  # the new buildings on top
        colour = COLOURS[name]
        ax.add_patch(
            geometry_patch(geoms[change == name], facecolor=colour, edgecolor="#333333", lw=0.6)
        )
    handles = [Patch(facecolor=COLOURS[name], edgecolor="#333333") for name in COLOURS]
    handles.append(Patch(facecolor=UNCHANGED[0], edgecolor=UNCHANGED[1]))
    labels = [f"{name}: {result.counts[name]}" for name in (*COLOURS, "unchanged")]
    total = sum(result.counts[name] for name in COLOURS)
    legend = fig.legend(
        handles,
        labels,
        title=f"Buildings: {total} changed" if total else "Buildings: no changes",
        loc="upper left",
        bbox_to_anchor=(0.78, 0.89),
        frameon=False,
        fontsize=11,
        title_fontsize=12,
        alignment="left",
    )
    legend.get_title().set_fontweight("bold")
    heading = f"Changes from {old} to {new}"
    if not total:
        heading += ": no changes"
    fig.suptitle(heading, fontsize=13, fontweight="bold", x=0.02, ha="left", y=0.975)
    fig.text(
        0.02,
        0.915,
        f"height threshold {result.height_threshold:g} m, tolerance {result.tolerance:g} m; "
        f"{result.crs.name}",
        fontsize=9,
        color="#444444",
    )
    _scale_bar(ax, view)
    north_arrow(ax, 0.95, 0.86, 0.09, font=9.5, transform=ax.transAxes)
    with atomic(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)


def _view(geoms: np.ndarray, ax: Axes, fig: Figure) -> tuple[float, float, float, float]:
    """The map's extent (m): ``geoms`` with :data:`MARGIN` (or a tenth of their size) around
    them, widened to the axes' shape so that a metre is as long across as up."""
    geoms = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    if len(geoms):
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    else:  # two empty twins: a square of ground
        xmin = ymin = 0.0
        xmax = ymax = 1.0
    margin = max(MARGIN, 0.1 * max(xmax - xmin, ymax - ymin))
    xmin, ymin, xmax, ymax = xmin - margin, ymin - margin, xmax + margin, ymax + margin
    box = ax.get_position()
    aspect = (box.height * fig.get_figheight()) / (box.width * fig.get_figwidth())
    cx, cy = (xmin + xmax) / 2.0, (ymin + ymax) / 2.0
    w = max(xmax - xmin, (ymax - ymin) / aspect)
    h = w * aspect
    return cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0


def _scale_bar(ax: Axes, view: tuple[float, float, float, float]) -> None:
    """A bar of a round length (about a fifth of the map's width) in its lower left corner,
    in four black and white parts, on a white ground."""
    width = view[2] - view[0]
    metres = nice_length(width / 5.0)
    x0, y0 = view[0] + 0.03 * width, view[1] + 0.04 * (view[3] - view[1])
    bar = 0.012 * width
    ground = Rectangle(
        (x0 - 0.01 * width, y0 - 0.045 * width),
        metres + 0.05 * width,
        bar + 0.06 * width,
        facecolor="white",
        edgecolor="none",
        alpha=0.85,
    )
    ax.add_patch(ground)
    for k in range(4):
        ax.add_patch(
            Rectangle(
                (x0 + k * metres / 4.0, y0),
                metres / 4.0,
                bar,
                facecolor="black" if k % 2 == 0 else "white",
                edgecolor="black",
                linewidth=0.6,
            )
        )
    for at, text in ((0.0, "0"), (metres, f"{metres:g} m")):
        ax.text(x0 + at, y0 - 0.008 * width, text, fontsize=9, ha="center", va="top")
