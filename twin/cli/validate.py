"""``twin validate``: ISO 19107 validity of every solid, by val3dity's error codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from twin.layers import LOD_LAYERS
from twin.model import CityModel
from twin.validity import check, names


@click.command()
@click.argument("twin_path", metavar="TWIN", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the per-building report as JSON.")
def validate(twin_path: Path, as_json: bool) -> None:
    """Check the solids of TWIN, repair simple cases and store the codes per building and LoD.

    Exits with status 1 when any solid stays invalid.
    """
    model = CityModel.open(twin_path)
    report: dict[str, dict[str, list[str]]] = {}
    summary = {}
    for lod, layer in LOD_LAYERS.items():
        if layer not in model.layers:
            continue
        frame = model.layers[layer]
        kinds = None
        if "geometry_type" in frame.columns:  # imported: Solid, MultiSurface, CompositeSurface
            kinds = frame["geometry_type"].fillna("MultiSolid").to_numpy(dtype=object)
        codes, repaired = check(frame.geometry.to_numpy(), kinds=kinds)
        frame = frame.copy()
        frame["validity"] = [",".join(map(str, c)) or None for c in codes]
        frame = frame.set_geometry(list(repaired), crs=frame.crs)
        model.layers[layer] = frame
        invalid = {
            str(bid): [f"{c} {name}" for c, name in zip(c_list, names(c_list), strict=True)]
            for bid, c_list in zip(frame["building_id"], codes, strict=True)
            if c_list
        }
        report[lod] = invalid
        summary[lod] = {"solids": int(frame.geometry.notna().sum()), "invalid": len(invalid)}
    model.save(twin_path)
    if as_json:
        click.echo(json.dumps({"summary": summary, "invalid": report}, indent=2))
    else:
        for lod, s in summary.items():
            click.echo(f"LoD{lod}: {s['solids']} solids, {s['invalid']} invalid")
            for bid, errors in report[lod].items():
                click.echo(f"  {bid}: {', '.join(errors)}")
    if any(s["invalid"] for s in summary.values()):
        sys.exit(1)
