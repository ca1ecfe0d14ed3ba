"""``twin build``: build a twin from a source folder or a TOML config."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ingest.config import TILE_SIZE
from twin.cli.options import Quantity, TwinLocation


@click.command()
@click.argument("sources", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=TwinLocation(),
    required=True,
    help="The twin to write (city.gpkg, or postgresql://user@host/db?schema=twin); replaced "
    "only when the build succeeds.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--workers",
    type=click.IntRange(1, 1024),
    help="Read the point clouds and reconstruct the roofs on a local Dask cluster of this "
    "many processes.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Read the point clouds and reconstruct the roofs on the Dask cluster of this "
    "scheduler (tcp://host:8786); its workers read the sources at the same paths.",
)
@click.option(
    "--tile-size",
    type=Quantity("m", above=0),
    default=TILE_SIZE,
    show_default=True,
    help="Side of the tiles the roofs are reconstructed in on a cluster.",
)
@click.option(
    "--update",
    is_flag=True,
    help="Update the twin OUTPUT: when only the cadastre and the layers copied through "
    "changed since its last build, measure only the buildings whose record changed and carry "
    "the others over (docs/build.md).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace OUTPUT even when it is not a twin (an older one is always replaced).",
)
def build(
    sources: Path,
    output: Path | str,
    quiet: bool,
    workers: int | None,
    scheduler: str | None,
    tile_size: float,
    update: bool,
    overwrite: bool,
) -> None:
    """Build the twin OUTPUT from SOURCES (a folder with twin.toml, or a TOML config)."""
    from ingest.config import BuildConfig
    from ingest.pipeline import build as run
    from ingest.update import UpToDate
    from twin.outputs import TWIN, check_output, twin_files
    from twin.store import is_database

    config = BuildConfig.load(sources)
    inputs = [config.path]
    for source in config.sources.values():
        inputs += [source.path, *(v for v in source.options.values() if isinstance(v, Path))]
    if not is_database(output):  # a database twin: its writer refuses a schema of other data
        files = twin_files(output)
        check_output(output, TWIN, inputs=inputs, overwrite=overwrite, also=files[1:])
    if workers is not None and scheduler is not None:
        raise click.UsageError("--workers and --scheduler exclude each other")
    try:
        model = run(
            config,
            output,
            progress=not quiet,
            workers=workers,
            scheduler=scheduler,
            tile_size=tile_size,
            update=update,
        )
    except UpToDate as done:
        click.echo(str(done))
        return
    methods = model.buildings["height_method"].value_counts().to_dict()
    click.echo(f"wrote {output} ({len(model.buildings)} buildings)")
    last = model.layers["runs"].iloc[-1]
    if isinstance(last.get("update"), str):
        n = json.loads(last["update"])
        near = n.get("point_cloud", 0)
        click.echo(
            f"update: {n['added']} added, {n['changed']} changed, {n['removed']} removed"
            + (f", {near} near point-cloud files that changed" if near else "")
            + f"; {n['measured']} measured anew, {n['carried_over']} carried over"
        )
    click.echo("heights: " + ", ".join(f"{k} {v}" for k, v in sorted(methods.items())))
