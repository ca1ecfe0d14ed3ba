"""``twin export``: write a twin's buildings in an interchange format."""

from __future__ import annotations

from pathlib import Path

import click

from twin.cli.options import Quantity, TwinLocation, bbox_option
from twin.formats import WRITERS
from twin.outputs import GLB, JSON, OBJ, STL, TILESET, XML

#: the quantisation step of CityJSON's ``transform`` (m): 1 µm, far below any survey's
#: precision, still counts a coordinate of any projected CRS (|x| < 10^8 m) in fewer than
#: the 2^53 steps a JSON reader holds exactly (2^53 µm = 9·10^9 m); a step over 1 m would
#: move a vertex by up to half a metre, no longer the twin
SCALE = Quantity("m", at_least=1e-6, at_most=1.0)

#: export format -> what it writes, for the checks of an existing OUTPUT
KINDS = {
    "cityjson": JSON,
    "cityjsonseq": JSON,
    "citygml": XML,
    "obj": OBJ,
    "glb": GLB,
    "stl": STL,
    "3dtiles": TILESET,
}


@click.command()
@click.argument("source", type=TwinLocation(exists=True))
@click.option(
    "-f", "--format", "fmt", type=click.Choice(sorted(WRITERS)), required=True, help="Format."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="File to write (a folder for 3dtiles).",
)
@click.option("--lod", "lods", multiple=True, help="LoD to export (repeatable; default: all).")
@bbox_option("Only buildings whose footprint meets the box (model CRS).")
@click.option(
    "--scale",
    type=SCALE,
    default=0.001,
    show_default=True,
    help="CityJSON quantisation step (m), 0.000001 to 1.",
)
@click.option(
    "--vertical-crs",
    help="The vertical CRS of the twin's heights when its CRS names none (e.g. EPSG:5729); "
    "written into the output's CRS, and 3D Tiles convert the heights with its geoid model.",
)
@click.option(
    "--no-geoid",
    is_flag=True,
    help="3dtiles: write the heights unchanged as ellipsoidal heights, with no geoid model "
    "(for a twin whose heights name no vertical datum, or one PROJ has no geoid model for; "
    "tens of metres off unless the heights are ellipsoidal already).",
)
@click.option(
    "--overwrite", is_flag=True, help="Replace OUTPUT even when it is not of the format's kind."
)
def export(
    source: Path | str,
    fmt: str,
    output: Path,
    lods: tuple[str, ...],
    bbox: tuple[float, float, float, float] | None,
    scale: float,
    vertical_crs: str | None,
    no_geoid: bool,
    overwrite: bool,
) -> None:
    """Export the buildings of the twin SOURCE to OUTPUT."""
    import dataclasses

    import twin
    from twin.crs import parse_crs, stated_height
    from twin.formats import write
    from twin.formats.objects import select
    from twin.outputs import check_output, twin_files

    if no_geoid and fmt != "3dtiles":
        raise click.UsageError("--no-geoid is for -f 3dtiles only")
    also = [output.with_suffix(".mtl")] if fmt == "obj" else []
    check_output(output, KINDS[fmt], inputs=twin_files(source), overwrite=overwrite, also=also)
    model = twin.open(source)
    if vertical_crs is not None:
        height = parse_crs(vertical_crs, what="--vertical-crs")
        model = dataclasses.replace(model, crs=stated_height(model.crs, height))
    how = None
    if fmt == "3dtiles":  # imported only here: its mesh stack takes half a second to load
        from twin.formats.tiles3d import heights

        how = heights(model.crs, no_geoid=no_geoid)
    rows = select(model, bbox=bbox)
    options = {"no_geoid": no_geoid} if fmt == "3dtiles" else {"scale": scale}
    write(model, output, format=fmt, rows=rows, lods=list(lods) or None, **options)
    click.echo(f"wrote {output} ({fmt}, {len(rows)} city objects)")
    if how is not None:
        click.echo(f"heights: {how.note}")
