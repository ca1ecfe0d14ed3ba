"""The printable site plan of a trench check, and the operator pages of an enquiry pack.

One sheet (PDF, A3 or A4 landscape) in the twin's CRS at a round engineering scale: the
orthophoto, parcels by land use with their numbers, buildings, the trench with its working
strip, hand-digging zones, root protection zones of trees and every utility line labelled with
its id, operator, diameter and depth; a legend, scale bar, north arrow, grid, the data and
check dates, a disclaimer and a title block with a field for the responsible person. The same
drawing restricted to one operator's lines is the page sent to that operator
(:mod:`twin.analysis.enquiry`).

Drawn with matplotlib's object interface (no pyplot: no global state, no GUI backend). The text
is real text (standard Helvetica, or DejaVu Sans embedded as TrueType where the text needs
characters Helvetica lacks), so the sheet can be searched.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import pyproj
import rasterio
import shapely
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Text
from matplotlib.textpath import text_to_path
from numpy.typing import NDArray
from rasterio.enums import Resampling
from rasterio.windows import from_bounds

from twin._version import __version__
from twin.analysis.mapdraw import geometry_patch, nice_length, north_arrow
from twin.analysis.trench import TrenchCheck
from twin.crs import horizontal, same_horizontal
from twin.errors import InputError
from twin.files import atomic
from twin.model import CityModel
from twin.terrain import reading

MM = 72.0 / 25.4
"""Points per millimetre."""
NETWORK_COLOURS = {
    "water": "#1f78b4",
    "sewer": "#8c510a",
    "gas": "#d9a600",
    "district_heating": "#e7298a",
    "power_lv": "#e31a1c",
    "power_mv": "#99000d",
    "telecom": "#33a02c",
}
"""Line colours by network; other networks are drawn in :data:`OTHER_NETWORK`."""
OTHER_NETWORK = "#6a3d9a"
NETWORK_NAMES = {
    "district_heating": "district heating",
    "power_lv": "power, low voltage",
    "power_mv": "power, medium voltage",
}
"""Networks named in the legend other than by their code."""
LAND_USE_COLOURS = {
    "road": "#d9d9d9",
    "square": "#e6dccb",
    "park": "#cfe8bd",
    "garden": "#e3f0d3",
    "building": "#f8f6f0",
}
"""Parcel fills by the cadastre's land use; other uses are drawn in :data:`OTHER_LAND_USE`."""
OTHER_LAND_USE = "#f0f0f0"
LAND_USE_NAMES = {"building": "building land"}
"""Land uses named in the legend other than by their code."""
STYLES: dict[str, dict[str, Any]] = {
    "trench bottom": {"facecolor": "#d7301f", "edgecolor": "#67000d", "linewidth": 0.7},
    "excavation at the surface": {
        "facecolor": "#fdbb84",
        "edgecolor": "#d7301f",
        "linewidth": 0.7,
    },
    "working area": {
        "facecolor": "#fff1d6",
        "edgecolor": "#e6550d",
        "linewidth": 0.6,
        "linestyle": (0, (4, 2)),
    },
    "hand-digging zone": {
        "facecolor": "#ffe34d",
        "edgecolor": "black",
        "hatch": "////",
        "linewidth": 0.0,
    },
    "root protection zone": {
        "facecolor": (0.30, 0.57, 0.13, 0.18),
        "edgecolor": "#2d5f12",
        "linewidth": 0.6,
        "linestyle": (0, (3, 1.5)),
    },
    "building": {"facecolor": "#c9a58f", "edgecolor": "#5a3d2b", "linewidth": 0.5},
}
"""How the works and the base map are drawn, by legend entry (map and legend alike)."""
STATUS_COLOURS = {"red": "#d7191c", "amber": "#e08214", "green": "#1a9641"}
DISCLAIMER = (
    "Utility records are not a survey. Lines are drawn where the operators' records put "
    "them; their true position lies within the stated uncertainty (depth ± accuracy, "
    "position ± the uncertainty of the record), and lines may be missing from the records "
    "altogether. Locate every line by hand (trial holes, detection) before machine digging. "
    "The operators' own information is binding."
)
ENQUIRY_REQUEST = (
    "Please confirm or correct the position, depth and status of your lines within the "
    "working area shown, name any of your lines missing here, and state your conditions for "
    "the works (protection, supervision, shut-downs)."
)
ENQUIRY_BANNER = "Request for information on your lines before the works (Leitungsauskunft)"
UNKNOWN_OPERATOR = "operator not recorded"
"""How lines without an operator are grouped and labelled."""


@dataclass(frozen=True)
class _Layout:
    """Where things go on a sheet, in millimetres from its lower left corner."""

    paper: str
    width: float
    height: float
    margin: float
    panel: float
    font: float
    label_font: float

    @property
    def frame(self) -> tuple[float, float, float, float]:
        """The map frame ``(x, y, width, height)``; left and below it, the grid coordinates."""
        left = bottom = self.margin + 4.0
        right = self.width - self.margin - self.panel - 5.0
        return left, bottom, right - left, self.height - self.margin - bottom

    @property
    def panel_x(self) -> float:
        """The left edge of the panel beside the map (legend, title block)."""
        return self.width - self.margin - self.panel


LAYOUTS = {
    "A3": _Layout("A3", 420.0, 297.0, 8.0, 105.0, 7.0, 6.0),
    "A4": _Layout("A4", 297.0, 210.0, 6.0, 86.0, 6.0, 5.5),
}
"""The sheets, landscape (ISO 216: A3 420 × 297 mm, A4 297 × 210 mm)."""


@dataclass
class _Map:
    """The map frame being drawn: its axes (in the twin's CRS), view, scale, the boxes of the
    labels placed so far (so that no label covers another) and the utility lines drawn."""

    ax: Axes
    view: tuple[float, float, float, float]
    scale: int
    layout: _Layout
    placed: list[shapely.Geometry] = field(default_factory=list)
    lines: shapely.STRtree = field(default_factory=lambda: shapely.STRtree([]))

    def metres(self, mm: float) -> float:
        """Metres on the ground of ``mm`` millimetres on the sheet."""
        return mm * self.scale / 1000.0


def draw_site_plan(
    result: TrenchCheck,
    path: str | Path,
    /,
    *,
    model: CityModel | None = None,
    paper: str = "A3",
    checked: datetime,
    period: tuple[Any, Any] | None = None,
    operator: str | None = None,
    contact: Sequence[str] = (),
) -> Path:
    """Draw the site plan of a trench check as a one-page PDF.

    Parameters
    ----------
    result
        The trench check (:func:`twin.analysis.trench.check_trench`).
    path
        The PDF to write (atomically).
    model
        The twin checked against: its parcels, buildings, orthophoto and build date make the
        base map. Without it, the plan shows only the parcels the works occupy.
    paper
        ``"A3"`` or ``"A4"`` (:data:`LAYOUTS`), landscape.
    checked
        When the check ran (printed on the sheet).
    period
        The planned works period ``(start, end)``, printed when given.
    operator
        Draw this operator's lines only, as the page of an enquiry to it (lines without an
        operator are :data:`UNKNOWN_OPERATOR`'s); ``None``: the full site plan.
    contact
        Lines of text with the operator's contact, printed on its page.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        An unknown paper size.
    """
    if paper not in LAYOUTS:
        raise InputError(f"paper must be one of {', '.join(LAYOUTS)}, not {paper!r}")
    layout = LAYOUTS[paper]
    lines, hand, trees = result.utilities, result.hand_digging, result.trees
    if operator is not None:
        lines = lines[operators(lines) == operator]
        hand = hand[hand["utility_id"].isin(lines["utility_id"])]
        trees = trees.iloc[:0]
    x, y, w, h = layout.frame
    xmin, ymin, xmax, ymax = _bounds(result, trees)
    # The works and the root zones with 10 m around them for the labels of the lines.
    scale = _scale((xmax - xmin + 20.0, ymax - ymin + 20.0), (w, h))
    cx, cy = (xmin + xmax) / 2.0, (ymin + ymax) / 2.0
    half_w, half_h = w * scale / 2000.0, h * scale / 2000.0
    view = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    style = {"pdf.fonttype": 42, "font.family": "DejaVu Sans", "font.size": layout.font}
    with matplotlib.rc_context(style):
        fig = Figure(figsize=(layout.width / 25.4, layout.height / 25.4))
        sheet = fig.add_axes((0, 0, 1, 1))
        sheet.set_xlim(0, layout.width)
        sheet.set_ylim(0, layout.height)
        sheet.set_axis_off()
        ax = fig.add_axes(
            (x / layout.width, y / layout.height, w / layout.width, h / layout.height)
        )
        ax.set_xlim(view[0], view[2])
        ax.set_ylim(view[1], view[3])
        plan = _Map(ax, view, scale, layout)
        shown, parcels = _base_map(plan, model, result)
        _grid(plan)
        _works(plan, result, hand, trees)
        networks, abandoned = _lines(plan, lines)
        _parcel_numbers(plan, parcels, result.body.geometry.to_numpy())
        _north_arrow_and_scale_bar(sheet, layout, scale)
        rows = _rows(result, model, checked=checked, period=period)
        if operator is not None:
            ids = ", ".join(dict.fromkeys(lines["utility_id"].astype(str)))
            rows = [
                ("to", [operator, *contact]),
                ("your lines", [f"{len(lines)} within reach of the trench: {ids}"]),
                ("request", [ENQUIRY_REQUEST]),
                *rows,
            ]
        title = "Utility enquiry" if operator is not None else "Site plan"
        banner = (result.verdict, STATUS_COLOURS.get(result.status, "#777777"))
        if operator is not None:
            banner = (ENQUIRY_BANNER, "#2c5d8f")
        block = _title_block(sheet, layout, f"{title} · trench {result.trench_id}", banner, rows)
        note = _disclaimer(sheet, layout, above=block)
        drawn = {"hand": len(hand), "trees": len(trees), "abandoned": abandoned}
        _legend(fig, layout, shown, networks, drawn, above=note)
        about = f"{title}, trench {result.trench_id}" + (f", to {operator}" if operator else "")
        with atomic(path) as tmp, _pdf_fonts(fig):
            fig.savefig(
                tmp,
                format="pdf",
                metadata={"Title": about, "Creator": f"twin {__version__}"},
            )
    return Path(path)


@contextlib.contextmanager
def _pdf_fonts(fig: Figure):
    """Set the sheet in the PDF's standard Helvetica when all its text is in the standard
    fonts' WinAnsi encoding, else embed DejaVu Sans (TrueType subsets).

    Embedding costs a site plan most of its time (matplotlib subsets the whole TrueType font
    for every weight of every file: 0.2 s a font); the standard fonts need none and every PDF
    reader has them. Text that WinAnsi cannot encode (Slovene č, ≤) is embedded, never
    replaced. Either way the text stays text. Helvetica is narrower than DejaVu Sans, in
    which the sheet is measured, so nothing that fits overflows.
    """
    texts = (text.get_text() for text in fig.findobj(Text))
    try:
        "".join(texts).encode("cp1252")
        core = True
    except UnicodeEncodeError:
        core = False
    font_log = logging.getLogger("matplotlib.font_manager")
    level = font_log.level
    # Helvetica's metrics file calls its weight "medium": matplotlib says so for every text
    font_log.setLevel(logging.ERROR)
    try:
        with matplotlib.rc_context({"pdf.use14corefonts": core}):
            yield
    finally:
        font_log.setLevel(level)


def operators(lines: pd.DataFrame, /) -> pd.Series:
    """The operator of each line, :data:`UNKNOWN_OPERATOR` where the records name none.

    Examples
    --------
    >>> operators(pd.DataFrame({"operator": ["Stadtwerke", None]})).tolist()
    ['Stadtwerke', 'operator not recorded']
    """
    column = lines.get("operator", pd.Series(None, index=lines.index, dtype=object))
    return column.astype(object).where(column.notna(), UNKNOWN_OPERATOR).astype(str)


def line_label(row: pd.Series, /) -> str:
    """The label of one line of a trench check: id, operator, diameter, depth ± accuracy.

    The depth is the cover depth to the top of the line with its accuracy (the middle and
    half the width of the range the check used), ``depth unknown`` for a line of unknown
    depth; the diameter is left out where the records have none.

    Examples
    --------
    >>> row = pd.Series({"utility_id": "W-123", "operator": "Stadtwerke", "diameter_m": 0.15,
    ...     "depth_top_min_m": 1.1, "depth_top_max_m": 1.3, "uncertainty_class": "measured",
    ...     "status": "in_service"})
    >>> line_label(row)
    'W-123 · Stadtwerke · DN 150 · 1.20 ± 0.10 m'
    """
    operator = row.get("operator")
    parts = [
        str(row.get("utility_id", "?")),
        str(operator) if isinstance(operator, str) and operator else UNKNOWN_OPERATOR,
    ]
    diameter = row.get("diameter_m")
    if diameter is not None and np.isfinite(diameter) and diameter > 0:
        parts.append(f"DN {diameter * 1000:.0f}")
    if row.get("uncertainty_class") == "unknown depth":
        parts.append("depth unknown")
    else:
        low, high = float(row["depth_top_min_m"]), float(row["depth_top_max_m"])
        parts.append(f"{(low + high) / 2:.2f} ± {(high - low) / 2:.2f} m")
    if row.get("status") == "abandoned":
        parts.append("abandoned")
    return " · ".join(parts)


def _bounds(result: TrenchCheck, trees: gpd.GeoDataFrame) -> tuple[float, ...]:
    """The bounds of the works and of the root protection zones of ``trees``."""
    geoms = [result.body.geometry.to_numpy()]
    if len(trees):
        radius = np.nan_to_num(trees["root_zone_radius_m"].to_numpy(float))
        geoms.append(shapely.buffer(trees.geometry.to_numpy(), radius))
    return tuple(float(v) for v in shapely.total_bounds(np.concatenate(geoms)))


def _scale(extent: tuple[float, float], frame: tuple[float, float]) -> int:
    """The largest round scale (1:100, 1:200, 1:250, 1:500, 1:1000, ...) at which ``extent``
    (m) fits a frame of ``frame`` (mm).

    Examples
    --------
    >>> _scale((117.0, 40.0), (290.0, 277.0))  # 117 m on 290 mm: 1:403 at least
    500
    >>> _scale((60.0, 30.0), (290.0, 277.0))  # 1:207 at least
    250
    """
    needed = max(extent[0] / frame[0], extent[1] / frame[1]) * 1000.0
    return int(nice_length(needed, up=True)) if needed > 100 else 100


def _base_map(
    plan: _Map, model: CityModel | None, result: TrenchCheck
) -> tuple[dict[str, str], gpd.GeoDataFrame]:
    """Orthophoto, parcels by land use, buildings.

    Returns the legend entries drawn (label -> fill colour, ``""`` for the orthophoto) and
    the parcels on the map.
    """
    shown: dict[str, str] = {}
    box = shapely.box(*plan.view)
    ortho = _ortho(model, plan) if model is not None else None
    if ortho is not None:
        image, extent = ortho
        plan.ax.imshow(image, extent=extent, interpolation="none", zorder=0)
        shown["orthophoto (lightened)"] = ""
    have = model.layers.get("parcels") if model is not None else None
    parcels = _meeting(have, box) if have is not None else result.parcels
    if len(parcels):
        use = parcels.get("land_use", pd.Series(None, index=parcels.index, dtype=object))
        use = use.fillna("other").astype(str).to_numpy()
        geoms = parcels.geometry.to_numpy()
        for name in sorted(set(use)):
            colour = LAND_USE_COLOURS.get(name, OTHER_LAND_USE)
            fill = geometry_patch(geoms[use == name], facecolor=colour, edgecolor="none", zorder=1)
            fill.set_alpha(0.45 if ortho is not None else 1.0)
            plan.ax.add_patch(fill)
            shown[f"parcel: {LAND_USE_NAMES.get(name, name.replace('_', ' '))}"] = colour
        edges = geometry_patch(
            geoms, facecolor="none", edgecolor="#707070", linewidth=0.35, zorder=2
        )
        plan.ax.add_patch(edges)
    buildings = model.layers.get("buildings") if model is not None else None
    if buildings is not None and len(buildings):
        geoms = _meeting(buildings, box).geometry.to_numpy()
        plan.ax.add_patch(geometry_patch(geoms, **STYLES["building"], zorder=3))
        shown["building"] = STYLES["building"]["facecolor"]
    return shown, parcels


def _meeting(frame: gpd.GeoDataFrame, box: shapely.Geometry) -> gpd.GeoDataFrame:
    """The rows of ``frame`` meeting ``box`` (through the frame's spatial index)."""
    return frame.iloc[np.sort(frame.sindex.query(box, predicate="intersects"))]


def _ortho(model: CityModel, plan: _Map) -> tuple[NDArray[np.uint8], tuple] | None:
    """The twin's orthophoto under the map, lightened so that the drawing on it stays legible,
    and its extent ``(left, right, bottom, top)``.

    ``None`` when the twin has none, the file is missing, not RGB, in another CRS or does not
    reach the map.
    """
    path = model.ortho
    if path is None or not Path(path).exists():
        return None
    view = plan.view
    with reading(path, "orthophoto"), rasterio.open(path) as src:
        if src.count < 3 or src.crs is None:
            return None
        if not same_horizontal(pyproj.CRS(src.crs.to_wkt()), model.crs):
            return None
        left, bottom = max(view[0], src.bounds.left), max(view[1], src.bounds.bottom)
        right, top = min(view[2], src.bounds.right), min(view[3], src.bounds.top)
        if right <= left or top <= bottom:
            return None
        window = from_bounds(left, bottom, right, top, src.transform)
        window = window.round_offsets().round_lengths()
        # At most 200 dots per inch of the sheet; never more pixels than the photo has.
        inches = plan.layout.frame[2] / 25.4 * (right - left) / (view[2] - view[0])
        cols = max(1, int(min(window.width, inches * 200)))
        rows = max(1, round(cols * window.height / max(window.width, 1)))
        data = src.read(
            [1, 2, 3], window=window, out_shape=(3, rows, cols), resampling=Resampling.average
        )
        t = src.transform
    light = (255 - (255 - data.astype(np.float32)) * 0.55).astype(np.uint8)
    x0, y0 = t.c + t.a * window.col_off, t.f + t.e * window.row_off
    extent = (x0, x0 + t.a * window.width, y0 + t.e * window.height, y0)
    return np.ascontiguousarray(light.transpose(1, 2, 0)), extent


def _parcel_numbers(plan: _Map, parcels: gpd.GeoDataFrame, works: NDArray[np.object_]) -> None:
    """Each parcel's number where it fits inside the part of the parcel on the map, clear of
    the works and of the labels placed."""
    if "gst" not in parcels:
        return
    size = plan.layout.label_font - 0.5
    numbers = parcels["gst"].astype(object).where(parcels["gst"].notna(), "").astype(str)
    inset = plan.metres(3.0)
    v = plan.view
    inner = shapely.box(v[0] + inset, v[1] + inset, v[2] - inset, v[3] - inset)
    free = shapely.intersection(parcels.geometry.to_numpy(), inner)
    free = shapely.difference(free, shapely.buffer(shapely.union_all(works), plan.metres(1.0)))
    keep = ~shapely.is_empty(free) & (numbers != "").to_numpy()
    free, numbers = free[keep], numbers[keep]
    xy = shapely.get_coordinates(shapely.point_on_surface(free))
    half_w = np.array([plan.metres(_text_mm(t, size)[0]) / 2 for t in numbers])
    half_h = plan.metres(size / MM * 1.2) / 2
    boxes = shapely.box(xy[:, 0] - half_w, xy[:, 1] - half_h, xy[:, 0] + half_w, xy[:, 1] + half_h)
    fits = shapely.contains(free, boxes)
    if plan.placed:
        covering = shapely.STRtree(plan.placed).query(boxes, predicate="intersects")[0]
        fits[covering] = False
    for (px, py), text in zip(xy[fits], numbers[fits], strict=True):
        plan.ax.text(
            px,
            py,
            text,
            fontsize=size,
            color="#555555",
            ha="center",
            va="center",
            zorder=3.5,
            clip_on=True,
        )


def _works(plan: _Map, result: TrenchCheck, hand: gpd.GeoDataFrame, trees: gpd.GeoDataFrame):
    """The trench (working area, surface, bottom), hand-digging zones, root zones, trees."""
    part = result.body["part"].to_numpy()
    geoms = result.body.geometry.to_numpy()
    for z, (name, which) in enumerate(
        [
            ("working area", "working area"),
            ("excavation at the surface", "surface"),
            ("trench bottom", "bottom"),
        ]
    ):
        plan.ax.add_patch(geometry_patch(geoms[part == which], **STYLES[name], zorder=4 + z))
    if len(hand):
        zones = hand.geometry.to_numpy()
        plan.ax.add_patch(geometry_patch(zones, **STYLES["hand-digging zone"], zorder=7))
    if not len(trees):
        return
    radius = np.nan_to_num(trees["root_zone_radius_m"].to_numpy(float))
    zones = shapely.buffer(trees.geometry.to_numpy(), radius, quad_segs=16)
    plan.ax.add_patch(geometry_patch(zones, **STYLES["root protection zone"], zorder=8))
    xy = shapely.get_coordinates(trees.geometry.to_numpy())
    plan.ax.plot(xy[:, 0], xy[:, 1], "o", markersize=2.5, color="#2d5f12", zorder=8.5)
    size = plan.layout.label_font
    gap = plan.metres(1.2)
    for (tx, ty), tree_id in zip(xy, trees["tree_id"].astype(str), strict=True):
        w, h = (plan.metres(v) for v in _text_mm(tree_id, size))
        box = shapely.box(tx + gap, ty + gap, tx + gap + w, ty + gap + h)
        if any(box.intersects(other) for other in plan.placed):
            continue
        plan.placed.append(box)
        _haloed(
            plan.ax,
            tx + gap,
            ty + gap,
            tree_id,
            size=size,
            color="#2d5f12",
            ha="left",
            va="bottom",
            zorder=11,
        )


def _lines(plan: _Map, lines: gpd.GeoDataFrame) -> tuple[list[str], bool]:
    """The utility lines coloured by network, abandoned ones dashed, each label once beside
    its line where it covers no other label (else the id alone, else none); returns the
    networks drawn and whether any line is abandoned."""
    if not len(lines):
        return [], False
    network = lines["network"].astype(str).to_numpy()
    status = lines.get("status", pd.Series("", index=lines.index))
    abandoned = (status == "abandoned").to_numpy()
    geoms = lines.geometry.to_numpy()
    plan.lines = shapely.STRtree(geoms)
    order = {name: k for k, name in enumerate(NETWORK_COLOURS)}
    networks = sorted(set(network), key=lambda n: (order.get(n, len(order)), n))
    for net in networks:
        colour = NETWORK_COLOURS.get(net, OTHER_NETWORK)
        for mine, dashes, width in (
            ((network == net) & ~abandoned, "solid", 1.5),
            ((network == net) & abandoned, (0, (2, 2)), 1.0),
        ):
            if mine.any():
                plan.ax.add_patch(
                    geometry_patch(
                        geoms[mine],
                        facecolor="none",
                        edgecolor=colour,
                        linewidth=width,
                        linestyle=dashes,
                        capstyle="round",
                        zorder=9,
                    )
                )
    size = plan.layout.label_font
    inset = plan.metres(3.0)  # labels stay 3 mm inside the frame
    v = plan.view
    inner = shapely.box(v[0] + inset, v[1] + inset, v[2] - inset, v[3] - inset)
    seen: set[str] = set()
    for k in range(len(lines)):  # the lines reported: tens, the most serious first
        label = line_label(lines.iloc[k])
        if label in seen:
            continue
        seen.add(label)
        for text in (label, label.split(" · ")[0]):
            spot = _label_spot(plan, k, inner, text, size)
            if spot is not None:
                (lx, ly), angle = spot
                colour = NETWORK_COLOURS.get(network[k], OTHER_NETWORK)
                _haloed(
                    plan.ax,
                    lx,
                    ly,
                    text,
                    size=size,
                    color=_darker(colour),
                    rotation=angle,
                    rotation_mode="anchor",
                    ha="center",
                    va="center",
                    zorder=12,
                )
                break
    return networks, bool(abandoned.any())


def _label_spot(
    plan: _Map, k: int, inner: shapely.Geometry, text: str, size: float
) -> tuple[tuple[float, float], float] | None:
    """Where ``text`` fits beside line ``k`` (of ``plan.lines``) along a straight stretch of
    it, inside ``inner`` and clear of the labels placed, preferably crossing no other line:
    its centre and angle (degrees, read from the bottom or the right of the sheet), or
    ``None``.

    The spot taken is added to the labels placed.
    """
    lines = plan.lines.geometries
    visible = shapely.line_merge(shapely.intersection(lines[k], inner))
    parts = [p for p in shapely.get_parts(visible) if p.geom_type == "LineString"]
    if not parts:
        return None
    part = max(parts, key=lambda p: p.length)
    w_mm, h_mm = _text_mm(text, size)
    length, height = plan.metres(w_mm), plan.metres(h_mm * 1.3)
    if part.length < length * 1.1:
        return None
    spots = []
    for rank, share in enumerate((0.5, 0.3, 0.7, 0.15, 0.85, 0.4, 0.6, 0.22, 0.78)):
        middle = share * part.length
        if middle < length / 2 or middle + length / 2 > part.length:
            continue
        a = part.interpolate(middle - length / 2)
        b = part.interpolate(middle + length / 2)
        chord = math.hypot(b.x - a.x, b.y - a.y)
        if chord < length * 0.95:  # the line bends under the label
            continue
        ux, uy = (b.x - a.x) / chord, (b.y - a.y) / chord
        if not -80.0 < math.degrees(math.atan2(uy, ux)) <= 100.0:
            ux, uy = -ux, -uy
        for side in (0.6, -0.6):  # beside the line, above it first
            cx = (a.x + b.x) / 2 - uy * height * side
            cy = (a.y + b.y) / 2 + ux * height * side
            box = shapely.Polygon(
                [
                    (
                        cx + sx * ux * length / 2 - sy * uy * height / 2,
                        cy + sx * uy * length / 2 + sy * ux * height / 2,
                    )
                    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))
                ]
            )
            if not inner.contains(box) or any(box.intersects(o) for o in plan.placed):
                continue
            crossed = set(plan.lines.query(box, predicate="intersects").tolist()) - {k}
            spots.append((len(crossed), rank, (cx, cy), math.degrees(math.atan2(uy, ux)), box))
    if not spots:
        return None
    _, _, centre, angle, box = min(spots, key=lambda spot: spot[:2])
    plan.placed.append(box)
    return centre, angle


def _haloed(ax: Axes, x: float, y: float, text: str, /, *, size: float, **style: Any) -> None:
    """``text`` on a white halo, legible over lines and the orthophoto.

    The halo is a second, white copy under the text: matplotlib draws text with a path effect
    as outlines, and the text itself must stay text that can be searched.
    """
    halo = [patheffects.withStroke(linewidth=1.6, foreground="white")]
    zorder = style.pop("zorder")
    common = {"fontsize": size, "clip_on": True, **style}
    ax.text(x, y, text, **{**common, "color": "white"}, path_effects=halo, zorder=zorder - 0.1)
    ax.text(x, y, text, **common, zorder=zorder)


def _darker(colour: str) -> tuple[float, float, float]:
    """``colour`` at 75 % brightness, for text that must read on white."""
    r, g, b = matplotlib.colors.to_rgb(colour)
    return 0.75 * r, 0.75 * g, 0.75 * b


@functools.lru_cache(maxsize=4096)
def _text_mm(text: str, size: float, weight: str = "normal") -> tuple[float, float]:
    """Width and height (mm) of ``text`` set at ``size`` points in the sheet's font."""
    prop = FontProperties(family="DejaVu Sans", size=size, weight=weight)
    width, height, _ = text_to_path.get_text_width_height_descent(text, prop, ismath=False)
    return width / MM, max(height, size * 0.75) / MM


def _wrap(text: str, width_mm: float, size: float, weight: str = "normal") -> list[str]:
    """``text`` broken into lines no wider than ``width_mm`` (measured in the sheet's font,
    word by word)."""
    space = _text_mm("x x", size, weight)[0] - _text_mm("xx", size, weight)[0]
    lines: list[tuple[str, float]] = []
    for word in text.split():
        width = _text_mm(word, size, weight)[0]
        if lines and lines[-1][1] + space + width <= width_mm:
            lines[-1] = (f"{lines[-1][0]} {word}", lines[-1][1] + space + width)
        else:
            lines.append((word, width))
    return [line for line, _ in lines] or [""]


def _grid(plan: _Map) -> None:
    """A light grid at round metres, at least 30 mm apart, with easting and northing."""
    step = nice_length(plan.metres(30.0), up=True)
    v = plan.view
    xs = np.arange(math.ceil(v[0] / step) * step, v[2], step)
    ys = np.arange(math.ceil(v[1] / step) * step, v[3], step)
    edge = plan.metres(8.0)  # no coordinate in a corner of the frame
    xs = xs[(xs - v[0] > edge) & (v[2] - xs > edge)]
    ys = ys[(ys - v[1] > edge) & (v[3] - ys > edge)]
    ax = plan.ax
    ax.set_xticks(xs, [f"E {x:,.0f}".replace(",", " ") for x in xs])
    ax.set_yticks(ys, [f"N {y:,.0f}".replace(",", " ") for y in ys])
    ax.tick_params(labelsize=plan.layout.font - 1, length=2, direction="in", pad=1.5)
    for label in ax.get_yticklabels():
        label.set_rotation(90)
        label.set_verticalalignment("center")
    ax.grid(color="#8a8a8a", linewidth=0.3, alpha=0.6)
    ax.set_axisbelow(False)
    for spine in ax.spines.values():
        spine.set_linewidth(0.8)


def _north_arrow_and_scale_bar(sheet: Axes, layout: _Layout, scale: int) -> None:
    """The north arrow (grid north: the map is drawn in the twin's projected CRS) and the
    scale, in words and as a bar.

    The bar is drawn by hand: matplotlib has none, and a package for one (matplotlib-scalebar)
    would be one more dependency for five rectangles; on a sheet at a fixed scale a bar of
    L metres is simply L / scale metres of paper.
    """
    x, top, font = layout.panel_x, layout.height - layout.margin, layout.font
    north_arrow(sheet, x + 7.0, top - 19.0, 13.0, font=font)
    left = x + 20.0
    metres = nice_length((layout.panel - 28.0) * scale / 1000.0)
    length = metres * 1000.0 / scale
    sheet.text(left, top - 2.0, f"Scale 1:{scale}", fontsize=font + 4, weight="bold", va="top")
    sheet.text(
        left,
        top - 8.5,
        f"{layout.paper} landscape; do not scale from a copy",
        fontsize=font - 1,
        va="top",
        color="#444444",
    )
    parts = 4 if f"{metres:g}".strip("0.")[0] == "2" else 5  # 20 m in 4, 25 m or 50 m in 5
    for k in range(parts):
        sheet.add_patch(
            Rectangle(
                (left + k * length / parts, top - 17.0),
                length / parts,
                1.6,
                facecolor="black" if k % 2 == 0 else "white",
                edgecolor="black",
                linewidth=0.5,
            )
        )
    for at in (0.0, 0.5, 1.0):
        text = f"{metres * at:g}" + (" m" if at == 1.0 else "")
        sheet.text(left + at * length, top - 18.0, text, fontsize=font - 1, ha="center", va="top")


def _legend(
    fig: Figure, layout: _Layout, shown, networks, drawn: dict[str, int], *, above: float
) -> None:
    """The legend between the north arrow and ``above`` (mm): in two columns when one is too
    long."""
    entries: list[tuple[Any, str]] = [
        (Patch(**STYLES[name]), name)
        for name in ("trench bottom", "excavation at the surface", "working area")
    ]
    if drawn["hand"]:
        entries.append((Patch(**STYLES["hand-digging zone"]), "hand-digging zone"))
    if drawn["trees"]:
        entries.append((Patch(**STYLES["root protection zone"]), "root protection zone"))
        tree = Line2D([], [], marker="o", markersize=2.5, color="#2d5f12", linestyle="none")
        entries.append((tree, "tree (id)"))
    for net in networks:
        colour = NETWORK_COLOURS.get(net, OTHER_NETWORK)
        name = NETWORK_NAMES.get(net, net.replace("_", " "))
        entries.append((Line2D([], [], color=colour, linewidth=1.5), name))
    if drawn["abandoned"]:
        dashed = Line2D([], [], color="#555555", linewidth=1.0, linestyle=(0, (2, 2)))
        entries.append((dashed, "abandoned line (dashed)"))
    for label, colour in shown.items():
        if label == "building":
            entries.append((Patch(**STYLES["building"]), label))
        elif colour:
            entries.append((Patch(facecolor=colour, edgecolor="#707070", linewidth=0.35), label))
        else:
            entries.append((Patch(facecolor="#e8e4da", edgecolor="none"), label))
    top = layout.height - layout.margin - 30.0
    row = layout.font * 1.6 / MM
    columns = 1 if (len(entries) + 1.5) * row < top - above - 3.0 else 2
    handles, labels = zip(*entries, strict=True)
    fig.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(layout.panel_x / layout.width, top / layout.height),
        ncols=columns,
        fontsize=layout.font,
        title="Legend",
        title_fontproperties={"weight": "bold", "size": layout.font + 1},
        alignment="left",
        frameon=False,
        borderaxespad=0.0,
        borderpad=0.0,
        handlelength=2.4,
        columnspacing=1.0,
    )


def _rows(
    result: TrenchCheck, model: CityModel | None, *, checked: datetime, period
) -> list[tuple[str, list[str]]]:
    """The facts of the title block: ``(key, lines of text)``."""
    support = {"slope": "walls sloped", "shoring": "walls shored", "none needed": "vertical"}
    rows = [
        (
            "trench",
            [
                f"{result.length:.2f} m long, {result.width:.2f} m wide, {result.depth:.2f} m "
                f"deep; {support.get(result.support, result.support)}"
            ],
        ),
        (
            "volume",
            [f"{result.volume:.1f} m³ excavated, {result.surface_area:.1f} m² of surface opened"],
        ),
        ("grid", [_crs_name(result.body.crs)]),
        ("data as of", [_built(model)]),
        ("checked", [checked.isoformat(sep=" ", timespec="minutes")]),
    ]
    if period is not None and any(as_text(v) for v in period):
        start, end = (as_text(v) or "not given" for v in period)
        rows.append(("works period", [f"{start} to {end}"]))
    return rows


def _title_block(sheet: Axes, layout: _Layout, title: str, banner: tuple[str, str], rows) -> float:
    """The title block at the foot of the panel: title, a banner ``(text, colour)`` (the
    verdict), facts and the field for the responsible person; returns its upper edge (mm)."""
    x, width, font = layout.panel_x, layout.panel, layout.font
    key = 25.0 if layout.paper == "A3" else 21.0
    line = font * 1.35 / MM
    wrapped = [
        (k, [w for t in texts for w in _wrap(t, width - key - 2.0, font)]) for k, texts in rows
    ]
    heights = [len(texts) * line + 1.6 for _, texts in wrapped]
    verdict = _wrap(banner[0], width - 4.0, font + 0.5, "bold")
    title_h = (font + 4) * 1.5 / MM
    verdict_h = len(verdict) * (font + 0.5) * 1.3 / MM + 2.0
    person_h = 13.0
    bottom = layout.margin
    y = top = bottom + title_h + verdict_h + sum(heights) + person_h
    sheet.add_patch(
        Rectangle(
            (x, bottom), width, y - bottom, facecolor="white", edgecolor="black", linewidth=0.8
        )
    )
    sheet.text(x + 2.0, y - title_h / 2, title, fontsize=font + 4, weight="bold", va="center")
    y -= title_h
    sheet.add_patch(
        Rectangle(
            (x, y - verdict_h), width, verdict_h, facecolor=banner[1], edgecolor="black", lw=0.6
        )
    )
    sheet.text(
        x + 2.0,
        y - 1.0,
        "\n".join(verdict),
        fontsize=font + 0.5,
        color="white",
        weight="bold",
        va="top",
        linespacing=1.2,
    )
    y -= verdict_h
    for (name, texts), h in zip(
        [*wrapped, ("responsible person", [])], [*heights, 0.0], strict=True
    ):
        sheet.plot([x, x + width], [y, y], color="black", linewidth=0.4)
        sheet.text(x + 1.5, y - 0.8, name, fontsize=font - 1, color="#444444", va="top")
        sheet.text(x + key, y - 0.8, "\n".join(texts), fontsize=font, va="top", linespacing=1.2)
        y -= h
    third = (width - key) / 3.0
    for k, field_name in enumerate(("name", "signature", "date")):
        left = x + key + k * third
        sheet.plot([left, left], [bottom, y], color="black", linewidth=0.4)
        sheet.text(left + 1.0, y - 0.8, field_name, fontsize=font - 1.5, color="#666666", va="top")
    return top


def _disclaimer(sheet: Axes, layout: _Layout, *, above: float) -> float:
    """The note on the accuracy of utility records, above the title block; returns its upper
    edge (mm)."""
    font = layout.font - 0.5
    text = _wrap(DISCLAIMER, layout.panel, font)
    y = above + 3.0 + len(text) * font * 1.2 / MM
    sheet.text(layout.panel_x, y, "\n".join(text), fontsize=font, va="top", linespacing=1.2)
    heading = y + 1.0 + (font + 0.5) * 1.2 / MM
    sheet.text(
        layout.panel_x,
        heading,
        "Accuracy of utility records",
        fontsize=font + 0.5,
        weight="bold",
        va="top",
    )
    return heading


def as_text(value: Any, /) -> str:
    """A value as text, empty for ``None``, NaN or blanks.

    Examples
    --------
    >>> as_text(None), as_text(float("nan")), as_text(" 2027-03-01 ")
    ('', '', '2027-03-01')
    >>> as_text(pd.Timestamp("2027-03-01"))
    '2027-03-01'
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, datetime):  # a date read from a file as a timestamp
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    return str(value).strip()


def _crs_name(crs: pyproj.CRS | None) -> str:
    """The grid's CRS in words: ``MGI / Austria GK M31 (EPSG:31258), metres``."""
    if crs is None:
        return "the twin's coordinates (its CRS is not recorded), metres"
    h = horizontal(crs)
    code = h.to_epsg()
    return f"{h.name} (EPSG:{code}), metres" if code else f"{h.name}, metres"


def _built(model: CityModel | None) -> str:
    """When the twin was built (the end of its last run), or why that is not known."""
    runs = model.layers.get("runs") if model is not None else None
    if runs is None or not len(runs) or "finished" not in runs:
        return "unknown (no run history in the twin)"
    finished = pd.to_datetime(runs["finished"], utc=True, errors="coerce").max()
    if pd.isna(finished):
        return "unknown (the twin's runs have no end time)"
    return f"twin built {finished.isoformat(sep=' ', timespec='minutes')}"
