"""Excavation reports people use: JSON, GeoJSON of the findings, CSV tables, an HTML page and,
for a trench, the printable site plan and the enquiry pack for the operators.

The HTML page is one self-contained file: a map drawn as inline SVG from the geometries (no
tiles, so it works offline and in e-mail), the verdict and the tables, laid out to print on A4
landscape. The site plan (PDF, A3 and A4) is :mod:`twin.analysis.siteplan`'s, the enquiry pack
:mod:`twin.analysis.enquiry`'s.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.analysis.coordination import Coordination
from twin.analysis.enquiry import write_enquiries
from twin.analysis.records import feature_collection, to_json, write_text
from twin.analysis.siteplan import NETWORK_COLOURS, STATUS_COLOURS, as_text, draw_site_plan
from twin.analysis.trench import TrenchCheck
from twin.model import CityModel

ID_COLUMNS = ("kg", "gst", "cluster", "works", "operators")
"""Columns holding identifiers (printed as they are, an integral number without decimals)."""


def write_trench_report(
    result: TrenchCheck,
    out_dir: str | Path,
    /,
    *,
    model: CityModel | None = None,
    snapshot: Path | None = None,
    checked: dt.datetime | None = None,
    period: tuple[Any, Any] | None = None,
) -> dict[str, Path]:
    """Write everything a trench check gives the people who plan and dig it.

    ``trench.json``, ``trench.geojson``, one CSV per table, the site plan
    (``site_plan_a3.pdf``, ``site_plan_a4.pdf``), the enquiry pack (``enquiries/``: a page
    and a GeoJSON per operator, ``enquiries.csv``) and ``trench.html``, which links them.

    Parameters
    ----------
    result
        The trench check.
    out_dir
        The folder to write into (created).
    model
        The twin checked against: the base map of the plans (parcels, buildings,
        orthophoto), the date of its data and the operators' contacts. Without it the plans
        show the parcels the works occupy only and no contact is known.
    snapshot
        A 3D picture of the trench already written in ``out_dir`` (the viewer's
        :func:`viewer.render.trench_snapshot`, which ``twin dig check --out`` renders): the
        page shows it.
    checked
        When the check ran (now, in local time, when not given).
    period
        The planned works period ``(start, end)``, printed on the plans and enquiries.

    Returns
    -------
    dict
        The paths written, by kind.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    checked = checked or dt.datetime.now().astimezone().replace(microsecond=0)
    findings = feature_collection(
        [
            (result.body, "body"),
            (result.utilities, "utility"),
            (result.hand_digging, "hand digging"),
            (result.trees, "tree"),
            (result.parcels, "parcel"),
        ]
    )
    paths = {
        "json": write_text(out / "trench.json", to_json(result.to_dict()).decode()),
        "geojson": write_text(out / "trench.geojson", findings),
    }
    for name in ("utilities", "trees", "parcels", "hand_digging"):
        table = pd.DataFrame(getattr(result, name).drop(columns="geometry"))
        paths[f"csv_{name}"] = write_text(out / f"trench_{name}.csv", table.to_csv(index=False))
    for paper in ("A3", "A4"):
        paths[f"pdf_{paper.lower()}"] = draw_site_plan(
            result,
            out / f"site_plan_{paper.lower()}.pdf",
            model=model,
            paper=paper,
            checked=checked,
            period=period,
        )
    asked, pack = write_enquiries(
        result, out / "enquiries", model=model, checked=checked, period=period
    )
    paths.update({f"enquiry_{kind}": path for kind, path in pack.items()})
    layers = [
        (result.parcels.geometry, "#f0f0f0", "#999999", 0.4),
        (result.body.geometry[result.body["part"] == "working area"], "#fee8c8", "none", 0),
        (result.body.geometry[result.body["part"] == "surface"], "#fdbb84", "#e34a33", 0.5),
        (result.hand_digging.geometry, "#fc8d59", "none", 0),
    ]
    lines = [
        (result.utilities.geometry[result.utilities["network"] == net], "none", colour, 2.0)
        for net, colour in NETWORK_COLOURS.items()
    ]
    zones = shapely.buffer(
        result.trees.geometry.to_numpy(), result.trees["root_zone_radius_m"].to_numpy(float)
    )
    trees = [(gpd.GeoSeries(zones), "#b8e186", "#4d9221", 0.5)]
    svg = _svg([*layers, *trees, *lines], result.body.total_bounds)
    sections = [
        ("Utility lines", result.utilities),
        ("Hand-digging zones", result.hand_digging),
        ("Trees", result.trees),
        ("Parcels", result.parcels),
    ]
    facts = {
        "length": f"{cell(result.length, 'length_m')} m",
        "width × depth": (
            f"{cell(result.width, 'width_m')} m × {cell(result.depth, 'depth_m')} m "
            f"({result.support})"
        ),
        "excavated volume": f"{cell(result.volume, 'volume_m3')} m³",
        "surface opened": f"{cell(result.surface_area, 'surface_area_m2')} m²",
        "data quality": result.data_quality["summary"],
        "checked": checked.isoformat(sep=" ", timespec="minutes"),
    }
    if period is not None and any(as_text(v) for v in period):
        facts["works period"] = " to ".join(as_text(v) or "not given" for v in period)
    if snapshot is not None:
        paths["png"] = snapshot
        svg += (
            f'<p><img src="{snapshot.name}" width="900" alt="3D view of the trench among the '
            'utilities, terrain translucent"></p>'
        )
    plans = (
        '<p class="links">Site plan to print: <a href="site_plan_a3.pdf">A3 (PDF)</a> · '
        '<a href="site_plan_a4.pdf">A4 (PDF)</a></p>'
    )
    files = "".join(
        f"<li>{html.escape(row.operator)}: "
        f'<a href="enquiries/{html.escape(row.page)}">page (PDF)</a> · '
        f'<a href="enquiries/{html.escape(row.geojson)}">lines and trench (GeoJSON)</a></li>'
        for row in asked.itertuples()
    )
    enquiry = (
        f"<h2>Enquiries to the operators ({len(asked)})</h2>"
        "<p>Every operator with lines within reach of the trench, asked on "
        f"{html.escape(checked.isoformat(sep=' ', timespec='minutes'))} "
        '(<a href="enquiries/enquiries.csv">enquiries.csv</a>).</p>'
        + _table(asked.drop(columns=["trench_id", "page", "geojson"]))
        + f'<ul class="links">{files}</ul>'
    )
    page = _page(
        f"Trench check {result.trench_id}",
        result.verdict,
        result.status,
        facts,
        plans + svg,
        sections,
        result.rules_used,
        extra=enquiry,
    )
    paths["html"] = write_text(out / "trench.html", page)
    return paths


def write_coordination_report(result: Coordination, out_dir: str | Path, /) -> dict[str, Path]:
    """Write ``coordination.json``, ``coordination.geojson``, CSVs and ``coordination.html``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "clusters": result.clusters,
        "moratorium": result.moratorium,
        "resurfacing": result.resurfacing,
        "trees": result.trees,
    }
    paths = {
        "json": write_text(out / "coordination.json", to_json(result.to_dict()).decode()),
        "geojson": write_text(
            out / "coordination.geojson",
            feature_collection([(frame, name) for name, frame in tables.items()]),
        ),
    }
    for name, frame in {**tables, "pairs": result.pairs, "sequencing": result.sequencing}.items():
        table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
        paths[f"csv_{name}"] = write_text(
            out / f"coordination_{name}.csv", table.to_csv(index=False)
        )
    geoms = [f.geometry for f in tables.values() if len(f)]
    bounds = gpd.GeoSeries(pd.concat(geoms)).total_bounds if geoms else np.zeros(4)
    svg = _svg(
        [
            (result.resurfacing.geometry, "#d9f0d3", "#1b7837", 0.5),
            (result.moratorium.geometry, "none", "#d7191c", 2.5),
            (result.clusters.geometry, "none", "#2c7bb6", 3.0),
            (shapely.buffer(result.trees.geometry.to_numpy(), 1.0), "#4d9221", "none", 0),
        ],
        bounds,
    )
    n = len(result.clusters)
    trees = result.trees
    critical = trees.loc[trees["severity"] == "critical", "work_id"].nunique() if len(trees) else 0
    status = "amber" if n or len(result.moratorium) or len(result.trees) else "green"
    status = "red" if critical else status
    summary = (
        f"{n} cluster(s) of works to combine, {len(result.sequencing)} sequencing conflict(s), "
        f"{int((~result.moratorium.get('exempt', pd.Series(dtype=bool))).sum())} moratorium "
        f"breach(es), {len(result.resurfacing)} planned resurfacing(s), "
        f"{critical} work(s) too close to a tree's trunk"
    )
    sections = [
        ("Clusters: works that should share a trench", result.clusters),
        ("Sequencing conflicts", result.sequencing),
        ("Moratoria", result.moratorium),
        ("Planned resurfacing: operators who should dig first", result.resurfacing),
        ("Trees the works reach", result.trees),
    ]
    page = _page(
        "Coordination of planned works", summary, status, {}, svg, sections, result.rules_used
    )
    paths["html"] = write_text(out / "coordination.html", page)
    return paths


def _svg(layers, bounds) -> str:
    """An SVG map of ``(geometries, fill, stroke, stroke width)`` layers, north up."""
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    pad = max(xmax - xmin, ymax - ymin, 1.0) * 0.1
    xmin, ymin, xmax, ymax = xmin - pad, ymin - pad, xmax + pad, ymax + pad
    scale = 800.0 / max(xmax - xmin, ymax - ymin)
    elements = []
    for geoms, fill, stroke, width in layers:
        for geom in np.asarray(geoms, dtype=object):
            if geom is None or geom.is_empty:
                continue
            d = _path(geom, lambda c: np.c_[(c[:, 0] - xmin) * scale, (ymax - c[:, 1]) * scale])
            elements.append(
                f'<path d="{d}" fill="{fill}" stroke="{stroke}" stroke-width="{width}" '
                'fill-rule="evenodd" fill-opacity="0.8"/>'
            )
    w, h = (xmax - xmin) * scale, (ymax - ymin) * scale
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
        f'viewBox="0 0 {w:.1f} {h:.1f}" style="background:#fff;border:1px solid #ccc">'
        + "".join(elements)
        + "</svg>"
    )


def _path(geom, to_pixels) -> str:
    """SVG path data of a (multi) polygon or line, its coordinates mapped to pixels."""
    pieces = []
    for part in shapely.get_parts(geom):
        closed = part.geom_type == "Polygon"
        for ring in shapely.get_rings(part) if closed else [part]:
            xy = to_pixels(shapely.get_coordinates(ring))
            pieces.append(
                "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in xy) + (" Z" if closed else "")
            )
    return " ".join(pieces)


def cell(value: Any, column: str, /) -> str:
    """A table value as engineers write it, by its column's name.

    Lengths and depths (``*_m``) to 2 decimals (cm), diameters to 3 (mm), areas (``*_m2``)
    and volumes (``*_m3``) to 1, shares (``*_share``) in per cent, millimetres, centimetres,
    days, years and identifiers (:data:`ID_COLUMNS`, ``*_id``) without decimals; yes/no for
    booleans; an empty cell for a missing value (never "nan").

    Examples
    --------
    >>> cell(1972.0, "year_laid"), cell(1.2, "depth_m"), cell(0.063, "diameter_m")
    ('1972', '1.20', '0.063')
    >>> cell(406.24, "surface_area_m2"), cell(417.66, "volume_m3")
    ('406.2', '417.7')
    >>> cell(float("nan"), "clearance_m"), cell(True, "crosses"), cell(0.123, "overlap_share")
    ('', 'yes', '12 %')
    >>> cell(72127, "kg"), cell("W-000001", "utility_id"), cell(3.0, "cluster"), cell(2.5, "score")
    ('72127', 'W-000001', '3', '2.50')
    """
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, dt.date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, str):
        return value
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, float):
        return str(value)
    if not math.isfinite(value):
        return ""
    if column.endswith("_share"):
        return f"{value * 100:.0f} %"
    if column.endswith(("_m2", "_m3")):
        return f"{value:.1f}"
    if column.endswith("_m"):  # diameters in millimetres: DN 63 is 0.063 m
        return f"{value:.3f}" if column.startswith("diameter") else f"{value:.2f}"
    whole = column.endswith(("_id", "_mm", "_cm", "_days")) or "year" in column
    if whole or column in ID_COLUMNS or value.is_integer():
        return f"{value:.0f}"
    return f"{value:.2f}"


def _heading(column: str) -> str:
    """A column's name as a table heading, its unit in brackets.

    Examples
    --------
    >>> _heading("depth_top_min_m"), _heading("area_m2"), _heading("overlap_share")
    ('depth top min (m)', 'area (m²)', 'overlap share (%)')
    """
    units = {"_m2": " (m²)", "_m3": " (m³)", "_mm": " (mm)", "_cm": " (cm)", "_m": " (m)"}
    units["_share"] = "_share (%)"
    for suffix, unit in units.items():
        if column.endswith(suffix):
            column = column.removesuffix(suffix) + unit
            break
    return column.replace("_", " ")


def _table(frame: pd.DataFrame) -> str:
    """An HTML table of ``frame`` (geometry left out), every value through :func:`cell`."""
    table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    opening = [
        '<td class="num">'
        if pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
        else '<td class="id">'
        if str(c).endswith(("_id", "_at")) or c in ID_COLUMNS
        else "<td>"
        for c, t in table.dtypes.items()
    ]
    head = "".join(f"<th>{html.escape(_heading(str(c)))}</th>" for c in table.columns)
    body = "".join(
        "<tr>"
        + "".join(
            td + html.escape(cell(v, str(c))) + "</td>"
            for v, c, td in zip(row, table.columns, opening, strict=True)
        )
        + "</tr>"
        for row in table.itertuples(index=False)  # report tables: tens of rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title, verdict, status, facts, svg, sections, rules, *, extra: str = "") -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts.items()
    )
    tables = "".join(
        f"<h2>{html.escape(name)} ({len(frame)})</h2>" + _table(frame) for name, frame in sections
    )
    cited = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in sorted(rules.items())
    )
    colour = STATUS_COLOURS[status]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse;font-size:0.85em;margin-bottom:1.5em;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top;
overflow-wrap:break-word}}
td.num{{text-align:right;white-space:nowrap}}td.id{{white-space:nowrap}}
thead{{display:table-header-group}}
tr{{break-inside:avoid;page-break-inside:avoid}}
table.facts{{width:auto}}
svg{{max-width:100%;height:auto}}
.verdict{{padding:0.6em 1em;color:#fff;background:{colour};font-size:1.2em;
print-color-adjust:exact;-webkit-print-color-adjust:exact}}
@page{{size:A4 landscape;margin:12mm}}
@media print{{body{{margin:0;max-width:none;font-size:9pt}}table{{font-size:7pt}}
td,th{{padding:1px 3px}}
h2{{break-after:avoid;page-break-after:avoid}}
img,svg{{break-inside:avoid;page-break-inside:avoid;max-height:170mm;width:auto}}
svg{{max-height:115mm}}table.facts{{font-size:9pt}}
a{{color:inherit;text-decoration:none}}}}</style></head>
<body><h1>{html.escape(title)}</h1><p class="verdict">{html.escape(verdict)}</p>
<table class="facts">{rows}</table>{svg}{extra}{tables}<h2>Rules applied</h2><ul>{cited}</ul>
</body></html>
"""
