"""``twin dig``: excavation planning (trench check, coordination of planned works)."""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from pathlib import Path

import click
import numpy as np
import shapely

import twin
from twin.analysis.records import to_json
from twin.analysis.section import SOILS
from twin.cli.options import Quantity, TwinLocation
from twin.cli.plugins import renderer
from twin.errors import InputError, TwinError, TwinWarning


@click.group()
def dig() -> None:
    """Excavation planning for utility works."""


#: ``twin dig check`` exits with the worst verdict of its trenches, so that scripts can act on it
VERDICT_EXIT = {"green": 0, "amber": 1, "red": 2}
EXIT_INPUT = 3
#: a trench's width or depth: a length, more than nothing
METRES = Quantity("m", above=0)
"""Exit code of ``twin dig check`` when the input or the command line is unusable."""
EXIT_BROKEN = 4
"""Exit code of ``twin dig check`` when the check broke off (an internal error, interrupted)."""


class CheckFailed(click.ClickException):
    """An error of ``twin dig check``, with an exit code apart from the verdicts."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class VerdictCommand(click.Command):
    """A command whose exit codes 0, 1 and 2 are verdicts: its errors, which click and the
    ``twin`` group would end with 1 or 2, exit with :data:`EXIT_INPUT` or
    :data:`EXIT_BROKEN`."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # a bad option: nothing was checked
            exc.exit_code = EXIT_INPUT
            raise

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except click.ClickException as exc:
            raise CheckFailed(exc.format_message(), EXIT_INPUT) from exc
        except TwinError as exc:
            raise CheckFailed(str(exc), EXIT_INPUT) from exc
        except KeyboardInterrupt:
            raise CheckFailed("interrupted", EXIT_BROKEN) from None
        except BrokenPipeError:
            # the reader stopped reading (| head): the verdict stands, nothing more to say
            # (Python's own advice: point stdout at devnull so its flush at exit is quiet)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(ctx.meta.get("verdict", EXIT_BROKEN)) from None
        except Exception as exc:  # a bug: show it, but never exit with a verdict's code
            click.echo(traceback.format_exc(), err=True)
            raise CheckFailed(f"internal error: {exc!r}", EXIT_BROKEN) from exc


@dig.command(cls=VerdictCommand)
@click.argument("twin_path", metavar="TWIN", type=TwinLocation(exists=True))
@click.argument("trench_file", metavar="TRENCH", type=click.Path(exists=True, path_type=Path))
@click.option("--width", type=METRES, default=0.6, show_default=True, help="Bottom width (m).")
@click.option("--depth", type=METRES, default=1.2, show_default=True, help="Depth (m).")
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
    "--soil",
    type=click.Choice(SOILS),
    help="Soil class of the walls (BauV § 50 (1)); default: the weakest class of the twin's "
    "soils layer under the trench, else the city's default (non_cohesive).",
)
@click.option(
    "--rules",
    type=click.Path(exists=True, path_type=Path),
    help="A TOML file overriding the default rules.",
)
@click.option("--crs", help="CRS of TRENCH when the file has none (or has it wrong).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write JSON, GeoJSON, CSV and HTML reports, the site plan (PDF) and the enquiries "
    "to the operators to this folder.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@click.pass_context
def check(
    ctx, twin_path, trench_file, width, depth, method, support, soil, rules, crs, out, as_json
):
    """Check the trench(es) in TRENCH (LineString centrelines) against the twin TWIN (a
    GeoPackage, or postgresql://user@host/db?schema=twin).

    Feature properties trench_id, width_m, depth_m and soil override the options per trench;
    start and end give the planned works period (printed on the plans and enquiries).

    \b
    Exit codes: the worst verdict of the trenches in TRENCH
      0  GREEN: nothing found, on sound data
      1  AMBER: warnings, or weak data
      2  RED: something critical
      3  unusable input or options: nothing was checked
      4  the check broke off (an internal error, or interrupted)
    """
    from twin.analysis.rules import Rules
    from twin.analysis.trench import ExcavationIndex, check_trench
    from twin.crs import parse_crs, transform_geometry
    from twin.outputs import REPORTS, check_output, twin_files
    from twin.vector import read_layer

    if out is not None:
        inputs = [*twin_files(twin_path), trench_file, rules]
        check_output(out, REPORTS, inputs=inputs, option="--out")
    model = twin.open(twin_path)
    source = parse_crs(crs, what="--crs") if crs else None
    trenches = read_layer(trench_file, layer=None, target=None, crs=source, what="trench")
    axes, moved = transform_geometry(trenches.geometry.to_numpy(), trenches.crs, model.crs)
    index = ExcavationIndex.from_model(model)
    loaded = Rules.load(rules)
    draw = None  # the 3D snapshot, drawn by the viewer where it is installed
    if out is not None:
        draw, why_not = renderer("trench")
        if draw is None:
            warnings.warn(TwinWarning(f"no 3D picture in the report: {why_not}"), stacklevel=1)
    results = []
    for k, (row, axis) in enumerate(zip(trenches.itertuples(index=False), axes, strict=True)):
        props = row._asdict()  # a handful of trenches
        trench_id = str(
            _given(props, "trench_id") or _given(props, "id") or f"{trench_file.stem}-{k + 1}"
        )
        where = f"{trench_file}: feature {k + 1} ({trench_id})"
        if axis is not None and not np.isfinite(shapely.get_coordinates(axis)).all():
            raise InputError(f"{where}: lies outside the area of its CRS {trenches.crs.name}")
        size = _number(props, "width_m", width, where), _number(props, "depth_m", depth, where)
        try:
            result = check_trench(
                index,
                axis,
                width=size[0],
                depth=size[1],
                method=method,
                support=support,
                soil=_given(props, "soil") or soil,
                rules=loaded,
                trench_id=trench_id,
                transformation=moved,
            )
        except InputError as exc:
            if exc.path is not None:
                raise  # about a file of its own (the twin's terrain, say), not the trench's
            raise InputError(f"{trench_file}: {exc}", path=trench_file) from exc
        results.append(result)
        if out is not None:
            folder = out / trench_id if len(trenches) > 1 else out
            snapshot = None
            if draw is not None:
                folder.mkdir(parents=True, exist_ok=True)
                snapshot = draw(model, result, folder / "trench.png")
            from twin.analysis.report import write_trench_report  # matplotlib: only here

            period = (_given(props, "start"), _given(props, "end"))
            write_trench_report(result, folder, model=model, snapshot=snapshot, period=period)
    code = ctx.meta["verdict"] = max(VERDICT_EXIT[r.status] for r in results)
    if as_json:
        click.echo(to_json([r.to_dict() for r in results]).decode())
        ctx.exit(code)
    for result in results:
        click.echo(result.verdict)
        click.echo(
            f"  {result.length:.1f} m long, {result.volume:.1f} m³ excavated, "
            f"{result.surface_area:.1f} m² of surface opened ({result.support}, "
            f"{result.soil} soil: {result.soil_from})"
        )
        for finding in result.trench_findings:
            click.echo(f"  [{finding['severity']}] trench: {finding['finding']}")
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
    ctx.exit(code)


def _given(props: dict, name: str):
    """A feature property, ``None`` when missing or empty (NaN, as OGR reads a null)."""
    value = props.get(name)
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return None
    return value


def _number(props: dict, name: str, default: float, where: str) -> float:
    """A numeric feature property (m), ``default`` when the feature gives none."""
    value = _given(props, name)
    if value is None:
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {name} {value!r} is not a number of metres") from None


@dig.command()
@click.argument("twin_path", metavar="TWIN", type=TwinLocation(exists=True))
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
    """Coordinate planned works: the twin TWIN's own (a GeoPackage, or
    postgresql://user@host/db?schema=twin), or those in WORKS."""
    from twin.analysis.coordination import coordinate as run
    from twin.analysis.rules import Rules
    from twin.outputs import REPORTS, check_output, twin_files
    from twin.store import open_store
    from twin.vector import read_layer

    if out is not None:
        inputs = [*twin_files(twin_path), works_file, rules]
        check_output(out, REPORTS, inputs=inputs, option="--out")
    store = open_store(twin_path)
    model = store.read_model()
    if works_file is not None:
        works = read_layer(works_file, layer=layer, target=model.crs, what="planned works")
    else:
        works = model.layer("planned_works")
    loaded = Rules.load(rules)
    try:
        result = run(
            works,
            utilities=model.layers.get("utilities"),
            surface_works=model.layers.get("surface_works"),
            trees=model.layers.get("trees"),
            rules=loaded,
        )
    except InputError as exc:
        # the message names the layer ("planned works ...", "surface works ..."): add its file
        given = works_file is not None and str(exc).startswith("planned works")
        # the store names a database without its password
        raise InputError(f"{works_file if given else store.location}: {exc}") from exc
    if out is not None:
        from twin.analysis.report import write_coordination_report  # matplotlib: only here

        write_coordination_report(result, out)
    if as_json:
        click.echo(to_json(result.to_dict()).decode())
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
    for tree in result.trees.itertuples():
        if tree.severity != "info":
            click.echo(
                f"  [{tree.severity}] {tree.work_id} ({tree.operator}) at tree {tree.tree_id}: "
                f"{tree.measure}"
            )
    if out is not None:
        click.echo(f"reports in {out}")
