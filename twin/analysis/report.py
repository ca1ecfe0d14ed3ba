"""Excavation reports people use: JSON, GeoJSON of the findings, CSV tables and an HTML page.

The HTML page is one self-contained file: a map drawn as inline SVG from the geometries (no
tiles, so it works offline and in e-mail), the verdict and the tables.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.analysis.coordination import Coordination
from twin.analysis.trench import TrenchCheck

SEVERITY_COLOURS = {"critical": "#d7191c", "warning": "#fdae61", "info": "#2c7bb6"}
NETWORK_COLOURS = {
    "water": "#1f78b4",
    "sewer": "#8c510a",
    "gas": "#e6ab02",
    "district_heating": "#e7298a",
    "power_lv": "#e31a1c",
    "power_mv": "#b10026",
    "telecom": "#33a02c",
}


def write_trench_report(
    result: TrenchCheck, out_dir: str | Path, /, *, snapshot: Path | None = None
) -> dict[str, Path]:
    """Write ``trench.json``, ``trench.geojson``, one CSV per table and ``trench.html``.

    ``snapshot`` is a 3D picture of the trench already written in ``out_dir`` (the viewer's
    :func:`viewer.render.trench_snapshot`, which ``twin dig check --out`` renders): the page
    shows it.

    Returns the paths written, by kind.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    findings = _features(
        [
            (result.body, "body", "part"),
            (result.utilities, "utility", "severity"),
            (result.hand_digging, "hand digging", None),
            (result.trees, "tree", "severity"),
            (result.parcels, "parcel", None),
        ]
    )
    paths = {
        "json": _write(out / "trench.json", json.dumps(result.to_dict(), indent=2)),
        "geojson": _write(out / "trench.geojson", findings),
    }
    for name in ("utilities", "trees", "parcels", "hand_digging"):
        table = pd.DataFrame(getattr(result, name).drop(columns="geometry"))
        paths[f"csv_{name}"] = _write(out / f"trench_{name}.csv", table.to_csv(index=False))
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
        "length": f"{result.length:.1f} m",
        "width × depth": f"{result.width} m × {result.depth} m ({result.support})",
        "excavated volume": f"{result.volume:.1f} m³",
        "surface opened": f"{result.surface_area:.1f} m²",
        "data quality": result.data_quality["summary"],
    }
    if snapshot is not None:
        paths["png"] = snapshot
        svg += (
            f'<p><img src="{snapshot.name}" width="900" alt="3D view of the trench among the '
            'utilities, terrain translucent"></p>'
        )
    page = _page(
        f"Trench check {result.trench_id}",
        result.verdict,
        result.status,
        facts,
        svg,
        sections,
        result.rules_used,
    )
    paths["html"] = _write(out / "trench.html", page)
    return paths


def write_coordination_report(result: Coordination, out_dir: str | Path, /) -> dict[str, Path]:
    """Write ``coordination.json``, ``coordination.geojson``, CSVs and ``coordination.html``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "clusters": result.clusters,
        "moratorium": result.moratorium,
        "resurfacing": result.resurfacing,
    }
    paths = {
        "json": _write(out / "coordination.json", json.dumps(result.to_dict(), indent=2)),
        "geojson": _write(
            out / "coordination.geojson",
            _features([(frame, name, None) for name, frame in tables.items()]),
        ),
    }
    for name, frame in {**tables, "pairs": result.pairs, "sequencing": result.sequencing}.items():
        table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
        paths[f"csv_{name}"] = _write(out / f"coordination_{name}.csv", table.to_csv(index=False))
    geoms = [f.geometry for f in tables.values() if len(f)]
    bounds = gpd.GeoSeries(pd.concat(geoms)).total_bounds if geoms else np.zeros(4)
    svg = _svg(
        [
            (result.resurfacing.geometry, "#d9f0d3", "#1b7837", 0.5),
            (result.moratorium.geometry, "none", "#d7191c", 2.5),
            (result.clusters.geometry, "none", "#2c7bb6", 3.0),
        ],
        bounds,
    )
    n = len(result.clusters)
    status = "amber" if n or len(result.moratorium) else "green"
    summary = (
        f"{n} cluster(s) of works to combine, {len(result.sequencing)} sequencing conflict(s), "
        f"{int((~result.moratorium.get('exempt', pd.Series(dtype=bool))).sum())} moratorium "
        f"breach(es), {len(result.resurfacing)} planned resurfacing(s)"
    )
    sections = [
        ("Clusters: works that should share a trench", result.clusters),
        ("Sequencing conflicts", result.sequencing),
        ("Moratoria", result.moratorium),
        ("Planned resurfacing: operators who should dig first", result.resurfacing),
    ]
    page = _page(
        "Coordination of planned works", summary, status, {}, svg, sections, result.rules_used
    )
    paths["html"] = _write(out / "coordination.html", page)
    return paths


def _features(layers: Iterable[tuple[gpd.GeoDataFrame, str, str | None]]) -> str:
    """One GeoJSON FeatureCollection (RFC 7946: WGS 84 longitude, latitude)."""
    features = []
    for frame, kind, _ in layers:
        if len(frame) == 0:
            continue
        data = json.loads(frame.to_crs("EPSG:4326").to_json(drop_id=True, to_wgs84=False))
        for feature in data["features"]:
            feature["properties"] = {"kind": kind, **feature["properties"]}
            features.append(feature)
    return json.dumps({"type": "FeatureCollection", "features": features})


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


def _page(title, verdict, status, facts, svg, sections, rules) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts.items()
    )
    tables = "".join(
        f"<h2>{html.escape(name)} ({len(frame)})</h2>"
        + pd.DataFrame(frame.drop(columns="geometry", errors="ignore")).to_html(
            index=False, na_rep="", float_format=lambda v: f"{v:.2f}", border=0, escape=True
        )
        for name, frame in sections
    )
    cited = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in sorted(rules.items())
    )
    colour = {"red": "#d7191c", "amber": "#fdae61", "green": "#1a9641"}[status]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse;font-size:0.85em;margin-bottom:1.5em}}
td,th{{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}}
.verdict{{padding:0.6em 1em;color:#fff;background:{colour};font-size:1.2em}}</style></head>
<body><h1>{html.escape(title)}</h1><p class="verdict">{html.escape(verdict)}</p>
<table>{rows}</table>{svg}{tables}<h2>Rules applied</h2><ul>{cited}</ul></body></html>
"""


def _write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path
