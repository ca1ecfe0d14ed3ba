"""``twin dig``: excavation planning (trench check, coordination of planned works)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import click

import twin


@click.group()
def dig() -> None:
    """Excavation planning for utility works."""


@dig.command()
@click.argument("twin_path", metavar="TWIN", type=click.Path(exists=True, path_type=Path))
@click.argument("trench_file", metavar="TRENCH", type=click.Path(exists=True, path_type=Path))
@click.option("--width", type=float, default=0.6, show_default=True, help="Bottom width (m).")
@click.option("--depth", type=float, default=1.2, show_default=True, help="Depth (m).")
@click.option(
    "--method", type=click.Choice(["machine", "hand"]), default="machine", show_default=True
)
@click.option(
    "--support",
    type=click.Choice(["slope", "shoring"]),
    default="slope",
    show_default=True,
    help="How walls deeper than 1.25 m are secured.",
)
@click.option(
    "--rules",
    type=click.Path(exists=True, path_type=Path),
    help="A TOML file overriding the default rules.",
)
@click.option("--crs", help="CRS of TRENCH when the file has none.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write JSON, GeoJSON, CSV and HTML reports, the site plan (PDF) and the enquiries "
    "to the operators to this folder.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
def check(twin_path, trench_file, width, depth, method, support, rules, crs, out, as_json):
    """Check the trench(es) in TRENCH (LineString centrelines) against the twin TWIN.

    Feature properties width_m, depth_m and trench_id override the options per trench;
    start and end give the planned works period (printed on the plans and enquiries).
    """
    from ingest.vector import read_layer
    from twin.analysis.report import write_trench_report
    from twin.analysis.rules import Rules
    from twin.analysis.trench import ExcavationIndex, check_trench
    from twin.crs import parse_crs

    model = twin.open(twin_path)
    trenches = read_layer(
        trench_file,
        layer=None,
        target=model.crs,
        what="trench",
        crs=parse_crs(crs, what="--crs") if crs else None,
    )
    index = ExcavationIndex.from_model(model)
    loaded = Rules.load(rules)
    results = []
    for k, row in enumerate(trenches.itertuples(index=False)):  # a handful of trenches
        props = row._asdict()
        trench_id = str(props.get("trench_id") or props.get("id") or f"{trench_file.stem}-{k + 1}")
        result = check_trench(
            index,
            row.geometry,
            width=float(props.get("width_m") or width),
            depth=float(props.get("depth_m") or depth),
            method=method,
            support=support,
            rules=loaded,
            trench_id=trench_id,
        )
        results.append(result)
        if out is not None:
            folder = out / trench_id if len(trenches) > 1 else out
            snapshot = None
            if importlib.util.find_spec("pyvista") is not None:  # the viewer is optional
                from viewer.render import trench_snapshot

                folder.mkdir(parents=True, exist_ok=True)
                snapshot = trench_snapshot(model, result, folder / "trench.png")
            period = (props.get("start"), props.get("end"))
            write_trench_report(result, folder, model=model, snapshot=snapshot, period=period)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], indent=2))
        return
    for result in results:
        click.echo(result.verdict)
        click.echo(
            f"  {result.length:.1f} m long, {result.volume:.1f} m³ excavated, "
            f"{result.surface_area:.1f} m² of surface opened ({result.support})"
        )
        for row in result.utilities.itertuples():
            if row.severity != "info":
                click.echo(f"  [{row.severity}] {row.network} {row.utility_id}: {row.finding}")
        for row in result.trees.itertuples():
            if row.severity != "info":
                click.echo(f"  [{row.severity}] tree {row.tree_id}: {row.measure}")
        parcels = ", ".join(f"{p.kg} {p.gst}" for p in result.parcels.itertuples())
        click.echo(f"  parcels: {parcels or 'none'}")
        click.echo(f"  data: {result.data_quality['summary']}")
    if out is not None:
        click.echo(f"reports in {out}")


@dig.command()
@click.argument("twin_path", metavar="TWIN", type=click.Path(exists=True, path_type=Path))
@click.argument(
    "works_file", metavar="[WORKS]", required=False, type=click.Path(exists=True, path_type=Path)
)
@click.option("--layer", help="Layer of WORKS (default: its first).")
@click.option(
    "--rules",
    type=click.Path(exists=True, path_type=Path),
    help="A TOML file overriding the default rules.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write JSON, GeoJSON, CSV and HTML reports to this folder.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
def coordinate(twin_path, works_file, layer, rules, out, as_json):
    """Coordinate planned works: the twin's own, or those in WORKS."""
    from ingest.vector import read_layer
    from twin.analysis.coordination import coordinate as run
    from twin.analysis.report import write_coordination_report
    from twin.analysis.rules import Rules

    model = twin.open(twin_path)
    if works_file is not None:
        works = read_layer(works_file, layer=layer, target=model.crs, what="planned works")
    else:
        works = model.layer("planned_works")
    result = run(
        works,
        utilities=model.layers.get("utilities"),
        surface_works=model.layers.get("surface_works"),
        rules=Rules.load(rules),
    )
    if out is not None:
        write_coordination_report(result, out)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(f"{len(works)} planned works: {len(result.clusters)} cluster(s) to combine")
    for c in result.clusters.itertuples():
        click.echo(
            f"  cluster {c.cluster}: {c.works} ({c.operators}), {c.start} to {c.end}, "
            f"{c.shared_length_m:.0f} m shared, saves {c.volume_saved_m3:.1f} m³ of "
            f"excavation and {c.asphalt_saved_m2:.1f} m² of asphalt"
        )
    for s in result.sequencing.itertuples():
        click.echo(f"  sequencing: {s.problem}")
    for m in result.moratorium.itertuples():
        click.echo(
            f"  moratorium: {m.work_id} ({m.operator}) on {m.surface_id} ({m.kind} "
            f"{m.surface_status} {m.moratorium_from}) until {m.moratorium_until}: {m.problem}"
        )
    for r in result.resurfacing.itertuples():
        before = r.planned_works_there and f"; works planned before it: {r.planned_works_there}"
        click.echo(
            f"  {r.kind} {r.surface_id} {r.street} from {r.planned}: dig first: "
            f"{r.operators_with_assets or 'nobody'}{before}"
        )
    if out is not None:
        click.echo(f"reports in {out}")
