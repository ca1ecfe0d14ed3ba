"""``twin diff``: the buildings added, removed and changed between two twins."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from twin.cli.options import Quantity, TwinLocation
from twin.errors import TwinError

if TYPE_CHECKING:
    from twin.analysis.diff import TwinDiff

#: Exit code of ``twin diff`` when it could not compare (as ``diff`` and ``cmp`` have it):
#: apart from 1, which ``--exit-code`` gives to twins that differ
EXIT_TROUBLE = 2
#: Buildings listed by the summary (``--json`` lists them all)
SHOWN = 20
#: a height change or a distance: a length, zero or more
METRES = Quantity("m", at_least=0)


class DiffCommand(click.Command):
    """A command whose errors exit with :data:`EXIT_TROUBLE`, never with 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TwinError as exc:
            error = click.ClickException(str(exc))
            error.exit_code = EXIT_TROUBLE
            raise error from exc


@click.command(cls=DiffCommand)
@click.argument("old", type=TwinLocation(exists=True))
@click.argument("new", type=TwinLocation(exists=True))
@click.option(
    "--height-threshold",
    type=METRES,
    default=0.5,
    show_default=True,
    help="A building's height changed when it moved by more than this (m).",
)
@click.option(
    "--tolerance",
    type=METRES,
    default=0.001,
    show_default=True,
    help="Footprint and LoD vertices within this distance (m) are equal.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the counts, the thresholds and every building that differs as JSON.",
)
@click.option(
    "--geojson",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the buildings that differ to this GeoJSON file (RFC 7946, CRS84).",
)
@click.option(
    "--picture",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Draw a map of the changes to this PNG file.",
)
@click.option("--exit-code", is_flag=True, help="Exit with 1 when the twins differ, else 0.")
@click.pass_context
def diff(
    ctx: click.Context,
    old: Path | str,
    new: Path | str,
    height_threshold: float,
    tolerance: float,
    as_json: bool,
    geojson: Path | None,
    picture: Path | None,
    exit_code: bool,
) -> None:
    """List the buildings added, removed and changed from the twin OLD to the twin NEW
    (each a GeoPackage, or postgresql://user@host/db?schema=twin), matched by building_id:
    what changed (footprint, height, lod12, lod13, lod22, attributes), the heights and the
    footprint areas.

    \b
    Exit codes:
      0  compared (with --exit-code: no differences)
      1  with --exit-code: the twins differ
      2  could not compare (a twin missing or unreadable, different CRSs, ...)
    """
    from twin.analysis.diff import diff as compare
    from twin.analysis.records import to_json, write_text
    from twin.errors import OutputError
    from twin.outputs import JSON, PICTURE, check_output
    from twin.store import files, open_store

    inputs = [*files(old), *files(new)]
    if geojson is not None and picture is not None and geojson.absolute() == picture.absolute():
        raise OutputError(f"--geojson and --picture are the same file {geojson}: give two paths")
    if geojson is not None:
        check_output(geojson, JSON, inputs=inputs, option="--geojson")
    if picture is not None:
        check_output(picture, PICTURE, inputs=inputs, option="--picture")
    stores = open_store(old), open_store(new)
    names = str(stores[0].location), str(stores[1].location)
    result = compare(
        stores[0].read_model(),
        stores[1].read_model(),
        height_threshold=height_threshold,
        tolerance=tolerance,
        names=names,
    )
    if geojson is not None:
        write_text(geojson, result.to_geojson())
    if picture is not None:
        from twin.analysis.diffmap import draw_diff  # matplotlib: only here

        draw_diff(result, picture, old=names[0], new=names[1])
    if as_json:
        click.echo(to_json({"old": names[0], "new": names[1], **result.to_dict()}).decode())
    else:
        _summary(result, names)
        for path, what in ((geojson, "GeoJSON"), (picture, "map")):
            if path is not None:
                click.echo(f"{what} in {path}")
    ctx.exit(1 if exit_code and result else 0)


def _summary(result: TwinDiff, names: tuple[str, str]) -> None:
    """The counts, the thresholds and the first :data:`SHOWN` buildings, for a person."""
    counts = result.counts
    click.echo(f"{names[0]} -> {names[1]} ({result.crs.name})")
    click.echo(
        f"buildings: {counts['added']} added, {counts['removed']} removed, "
        f"{counts['changed']} changed, {counts['unchanged']} unchanged "
        f"(height threshold {result.height_threshold:g} m, tolerance {result.tolerance:g} m)"
    )
    if counts["changed"]:
        kinds = ", ".join(f"{kind} {n}" for kind, n in result.by_kind.items() if n)
        click.echo(f"changed: {kinds}")
    frame = result.buildings
    for row in frame.head(SHOWN).itertuples(index=False):  # a screenful
        line = f"  {row.change:<8} {row.building_id}"
        if row.change == "changed":
            line += f": {row.changed}"
            if row.attributes:
                line += f" ({row.attributes})"
            if "height" in row.changed.split(", "):
                line += f"; height {row.height_old_m:.2f} m -> {row.height_new_m:.2f} m"
        click.echo(line)
    if len(frame) > SHOWN:
        click.echo(f"  ... and {len(frame) - SHOWN} more (--json or --geojson lists them all)")
