"""``twin render``: an off-screen picture or fly-through video of a twin."""

from __future__ import annotations

from pathlib import Path

import click

from twin.cli.options import bbox_option


@click.command()
@click.argument("twin_path", metavar="TWIN", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Picture (.png, .jpg) or fly-through video (.gif, .mp4) to write.",
)
@click.option(
    "--bookmark",
    "bookmarks",
    multiple=True,
    help="Camera bookmark to render from; repeat it for a fly-through video.",
)
@bbox_option("Area to frame, in the twin's CRS; it must meet what the twin shows.")
@click.option("--top", is_flag=True, help="Map view from straight above.")
@click.option("--color-by", help="Building attribute to colour by (legend or scalar bar).")
@click.option(
    "--layers",
    help="Comma-separated layers to show: terrain,buildings,trees,utilities,parcels,planned_works.",
)
@click.option("--time", help="Sun and shadows at this ISO 8601 time, with zone (…T14:00+02:00).")
@click.option("--lod", help="Level of detail of the buildings (default: the highest).")
@click.option("--size", type=int, nargs=2, default=(1280, 800), show_default=True, metavar="W H")
@click.option("--underground", is_flag=True, help="Translucent terrain: utilities show.")
@click.option(
    "--cut",
    type=float,
    metavar="M",
    help="Underground mode that cuts the terrain away M metres around the view's centre.",
)
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT even when it is not a picture.")
def render(
    twin_path: Path,
    output: Path,
    bookmarks: tuple[str, ...],
    bbox: tuple[float, float, float, float] | None,
    top: bool,
    color_by: str | None,
    layers: str | None,
    time: str | None,
    lod: str | None,
    size: tuple[int, int],
    underground: bool,
    cut: float | None,
    overwrite: bool,
) -> None:
    """Render the twin TWIN off-screen to OUTPUT (works without a display)."""
    import twin
    from twin.errors import InputError
    from twin.outputs import PICTURE, check_output, twin_files
    from viewer.camera import bookmarks_path
    from viewer.render import RenderOptions
    from viewer.render import render as run

    inputs = [*twin_files(twin_path), bookmarks_path(twin_path)]
    check_output(output, PICTURE, inputs=inputs, overwrite=overwrite)
    if min(size) < 16 or max(size) > 8192:
        raise InputError(f"--size {size[0]} {size[1]}: each side must be 16 to 8192 pixels")
    options = RenderOptions(
        bookmarks=bookmarks,
        bbox=bbox,
        top=top,
        color_by=color_by,
        layers=None if layers is None else [x.strip() for x in layers.split(",") if x.strip()],
        time=time,
        lod=lod,
        size=size,
        underground=underground,
        cut=cut,
    )
    run(twin.open(twin_path), twin_path, output, options)
    click.echo(output)
