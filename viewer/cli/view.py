"""``twin view``: the interactive viewer in a window (needs a display)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("twin_path", metavar="TWIN", type=click.Path(path_type=Path))
@click.option("--color-by", help="Building attribute to colour by.")
@click.option("--layers", help="Comma-separated layers to show (default: all).")
@click.option("--lod", help="Level of detail of the buildings (default: the highest).")
@click.option("--size", type=int, nargs=2, default=(1600, 1000), show_default=True, metavar="W H")
def view(
    twin_path: Path,
    color_by: str | None,
    layers: str | None,
    lod: str | None,
    size: tuple[int, int],
) -> None:
    """Explore the twin TWIN in a window: pick, measure, clip, underground, bookmarks."""
    import twin
    from viewer.interactive import open_window

    options = {
        "color_by": color_by,
        "layers": None if layers is None else [x.strip() for x in layers.split(",") if x.strip()],
        "lod": lod,
        "size": size,
    }
    open_window(options, twin.open(twin_path), twin_path)
