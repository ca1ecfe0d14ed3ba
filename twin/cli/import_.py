"""``twin import``: make a twin from a CityJSON, CityJSONSeq or CityGML file."""

from __future__ import annotations

from pathlib import Path

import click

from twin.cli.options import TwinLocation


@click.command(name="import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=TwinLocation(),
    required=True,
    help="The twin to write (city.gpkg, or postgresql://user@host/db?schema=twin); replaced "
    "only when the import succeeds.",
)
@click.option(
    "--crs",
    help="The file's CRS when it names none (e.g. EPSG:7415), or, as a compound CRS, the "
    "vertical datum of a file that names only its horizontal CRS (e.g. EPSG:2056+5728).",
)
@click.option("--target-crs", help="Reproject to this CRS (default: keep the file's CRS).")
@click.option("--name", help="The twin's name (default: the file's name).")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT even when it is not a twin.")
def import_(
    source: Path,
    output: Path | str,
    crs: str | None,
    target_crs: str | None,
    name: str | None,
    overwrite: bool,
) -> None:
    """Import the city model SOURCE (CityJSON 1.0-2.0, CityJSONSeq, CityGML 2.0/3.0) into
    the twin OUTPUT."""
    from twin.formats import read
    from twin.outputs import TWIN, check_output, twin_files
    from twin.store import is_database, write

    if not is_database(output):  # a database twin: its writer refuses a schema of other data
        files = twin_files(output)
        check_output(output, TWIN, inputs=[source], overwrite=overwrite, also=files[1:])
    model = read(source, crs=crs, target_crs=target_crs, name=name)
    write(model, output)
    info = model.metadata["source"]
    kinds = model.buildings["object_type"].value_counts().to_dict()
    click.echo(
        f"wrote {output}: "
        + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
        + f"; LoDs {', '.join(model.metadata['lods']) or 'none'}"
    )
    upgraded = info["format"] != "CityGML" and info["version"] != "2.0"
    note = " (upgraded to 2.0)" if upgraded else ""
    click.echo(f"read {info['format']} {info['version']}{note}")
    action = "reprojected to" if info["reprojected"] else "kept"
    click.echo(f"CRS: {action} {model.crs.name}")
    if info["skipped"]:
        skipped = ", ".join(f"{v} {k}" for k, v in sorted(info["skipped"].items()))
        click.echo(f"skipped (not buildings): {skipped}")
