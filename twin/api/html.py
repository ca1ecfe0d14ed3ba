"""Browsable HTML for the API: plain pages, a table of features and a small SVG map.

The map is drawn by shapely as SVG (no JavaScript, nothing fetched from elsewhere).
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

import shapely

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;max-width:75em}"
    "table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:2px 6px}"
    "svg{border:1px solid #999;background:#f8f8f4}a{color:#036}"
)


def page(title: str, body: str, /) -> str:
    """A complete HTML page."""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def links(items: list[dict[str, Any]], /) -> str:
    """A list of a document's links."""
    rows = "".join(
        f"<li><a href='{escape(link['href'])}'>{escape(link.get('title') or link['rel'])}</a>"
        f" <small>({escape(link['rel'])}, {escape(link.get('type', ''))})</small></li>"
        for link in items
    )
    return f"<ul>{rows}</ul>"


def document(title: str, doc: dict[str, Any], /) -> str:
    """Any JSON document: its links, then the JSON."""
    body = links(doc.get("links", []))
    for coll in doc.get("collections", []):
        href = next(link["href"] for link in coll["links"] if link["rel"] == "self")
        body += (
            f"<h2><a href='{escape(href)}?f=html'>{escape(coll['title'])}</a></h2>"
            f"<p>{escape(coll.get('description', ''))}</p>"
        )
    shown = {k: v for k, v in doc.items() if k not in ("links", "collections")}
    body += f"<pre>{escape(json.dumps(shown, indent=2))}</pre>"
    return page(title, body)


def features(title: str, geojson: str, /) -> str:
    """A FeatureCollection or Feature: a map of its geometries and a table of properties."""
    doc = json.loads(geojson)
    feats = doc["features"] if doc.get("type") == "FeatureCollection" else [doc]
    geoms = [shapely.from_geojson(json.dumps(f["geometry"])) for f in feats if f["geometry"]]
    body = links(doc.get("links", []))
    if "numberMatched" in doc:
        body += f"<p>{doc['numberReturned']} of {doc['numberMatched']} features</p>"
    if geoms:
        body += _svg(shapely.GeometryCollection(shapely.force_2d(geoms)))
    names = list(feats[0]["properties"]) if feats else []
    head = "<tr><th>id</th>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"
    rows = "".join(
        f"<tr><td>{f['id']}</td>"
        + "".join(f"<td>{escape(str(f['properties'].get(n)))}</td>" for n in names)
        + "</tr>"
        for f in feats
    )
    return page(title, f"{body}<table>{head}{rows}</table>")


def _svg(geom: shapely.Geometry, size: int = 480) -> str:
    x0, y0, x1, y1 = geom.bounds
    w, h = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
    pad = 0.03 * max(w, h)
    scale = max(w, h) / 200
    flip = f"matrix(1,0,0,-1,0,{y0 + y1})"
    return (
        f"<svg width='{size}' height='{size * h / w if w >= h else size}' "
        f"viewBox='{x0 - pad} {y0 - pad} {w + 2 * pad} {h + 2 * pad}'>"
        f"<g transform='{flip}'>{geom.svg(scale_factor=scale)}</g></svg>"
    )
