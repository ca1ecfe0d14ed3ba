"""``twin info``: layers, counts, CRS, extent and run history of a twin."""

from __future__ import annotations

import json
from pathlib import Path

import click

from twin.cli.options import TwinLocation
from twin.info import describe


@click.command()
@click.argument("twin_path", metavar="TWIN", type=TwinLocation())
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def info(twin_path: Path | str, as_json: bool) -> None:
    """Describe the twin TWIN (a GeoPackage, or postgresql://user@host/db?schema=twin)."""
    d = describe(twin_path)
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    crs = d["crs"]
    click.echo(f"{d['path']}: {d['name']} (twin {d['twin_version']})")
    click.echo(f"CRS: {crs['name']} (EPSG:{crs['horizontal_epsg']}, heights {crs['vertical']})")
    if d["extent"]:
        click.echo("extent: " + ", ".join(f"{v:.1f}" for v in d["extent"]))
    click.echo("layers:")
    for layer in d["layers"]:
        kind = layer["geometry_type"] or "table"
        click.echo(f"  {layer['name']:<20} {kind:<15} {layer['features']:>9}")
    if d["terrain"]:
        t = d["terrain"]
        click.echo(f"terrain: {t['path']} {t['shape'][1]}x{t['shape'][0]} @ {t['pixel_size']} m")
    click.echo(f"runs: {len(d['runs'])}")
    for run in d["runs"]:
        methods = ", ".join(f"{k} {v}" for k, v in sorted(run["height_methods"].items()))
        click.echo(f"  {run['started']}  twin {run['twin_version']}  {methods}")
