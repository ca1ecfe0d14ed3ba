"""``twin copy``: a twin from one store to another (GeoPackage and PostGIS, either way)."""

from __future__ import annotations

from pathlib import Path

import click

from twin.cli.options import TwinLocation


@click.command()
@click.argument("source", type=TwinLocation(exists=True))
@click.argument("target", type=TwinLocation())
@click.option("--overwrite", is_flag=True, help="Replace a TARGET file even when it is not a twin.")
def copy(source: Path | str, target: Path | str, overwrite: bool) -> None:
    """Copy the twin SOURCE to TARGET: every layer with its columns and geometries, the
    metadata and CRS, the terrain and the orthophoto. Each is a GeoPackage (city.gpkg) or a
    PostGIS schema (postgresql://user@host/db?schema=twin); TARGET is replaced only when the
    copy succeeds."""
    from twin.errors import OutputError
    from twin.outputs import TWIN, check_output, twin_files
    from twin.store import is_database, open_store, write

    source_store = open_store(source)
    if str(source_store.location) == str(_shown(target)):
        raise OutputError(f"{target}: the copy would replace its own source")
    if not is_database(target):
        files = twin_files(target)
        check_output(target, TWIN, inputs=twin_files(source), overwrite=overwrite, also=files[1:])
    model = source_store.read_model()
    write(model, target)
    target_store = open_store(target)
    layers = target_store.layers()
    counts = ", ".join(f"{info.count} {name}" for name, info in layers.items())
    click.echo(f"copied {source_store.location} to {target_store.location}: {counts}")


def _shown(target: Path | str, /) -> str:
    """How a store would name ``target`` (a database URL without its password)."""
    if isinstance(target, Path):
        return str(target)
    from twin.store.postgis_db import Database

    return Database.parse(target).shown
