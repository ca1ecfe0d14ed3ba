"""Off-screen pictures and fly-through videos of a twin: what ``twin render`` does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from twin.analysis.trench import TrenchCheck
from twin.errors import InputError
from twin.model import CityModel
from twin.polygon3d import extrude
from viewer.camera import bookmark, load_bookmarks
from viewer.scene import Scene
from viewer.video import FORMATS, fly_through


@dataclass(frozen=True)
class RenderOptions:
    """What to show and from where (the options of ``twin render``).

    Attributes
    ----------
    bookmarks
        Bookmark names: one frames a picture; a video flies through them in order.
    bbox
        ``(xmin, ymin, xmax, ymax)`` in the model CRS to frame instead of everything.
    top
        A map view from straight above instead of an oblique one.
    color_by
        Building attribute to colour by.
    layers
        Layers to show (default: all the twin has).
    time
        ISO 8601 date and time with a zone: the sun lights the scene and casts shadows.
    lod
        LoD of the buildings.
    size
        Picture size ``(width, height)``.
    underground
        Translucent terrain, utilities visible.
    cut
        Underground mode that cuts a square hole this many metres either side of the view's
        centre out of the terrain instead of making it translucent.
    """

    bookmarks: Sequence[str] = ()
    bbox: tuple[float, float, float, float] | None = None
    top: bool = False
    color_by: str | None = None
    layers: Sequence[str] | None = None
    time: str | None = None
    lod: str | None = None
    size: tuple[int, int] = (1280, 800)
    underground: bool = False
    cut: float | None = None


def render(
    model: CityModel, twin_path: str | Path, output: str | Path, /, options: RenderOptions
) -> list[str]:
    """Render the twin to a picture (``.png``, ``.jpg``) or a fly-through (``.gif``, ``.mp4``).

    Parameters
    ----------
    model
        The twin.
    twin_path
        Where the twin is stored (its bookmarks lie beside it).
    output
        The file to write (atomically).
    options
        What to show and from where.

    Returns
    -------
    list of str
        Notes on what is missing or was assumed.
    """
    output = Path(output)
    video = output.suffix.lower() in FORMATS
    marks = load_bookmarks(twin_path) if options.bookmarks else {}
    views = [bookmark(marks, name) for name in options.bookmarks]
    if video and len(views) < 2:
        raise InputError(f"{output}: a fly-through needs two or more --bookmark options")
    if options.bbox is not None and views:
        raise InputError("give either --bbox or --bookmark, not both")
    with Scene(model, lod=options.lod, layers=options.layers, size=options.size) as scene:
        if options.color_by:
            scene.color_by(options.color_by)
        if options.underground and options.cut is None:
            scene.set_underground(True)
        if options.time:
            scene.set_time(options.time)
        if views:
            scene.set_view(views[0])
        elif options.bbox is not None or options.top:
            scene.frame(options.bbox, top=options.top)
        if options.cut is not None:  # around the framed view
            scene.set_underground(True, cut=options.cut)
        if video:
            fly_through(scene, views, output)
        else:
            scene.screenshot(output)
        return scene.notes


def trench_snapshot(model: CityModel, result: TrenchCheck, path: Path, /) -> Path:
    """A 3D picture of a checked trench among the utilities, the terrain translucent, for
    the trench report (``twin dig check --out``)."""
    bottom = result.body.geometry[result.body["part"] == "bottom"].to_numpy()
    top = float(np.nanmean(model.terrain.sample(shapely.get_coordinates(bottom[0]))))
    _, faces, _, _ = extrude(bottom, np.array([top - result.depth]), np.array([top]))
    xmin, ymin, xmax, ymax = result.body.total_bounds
    pad = max(xmax - xmin, ymax - ymin) * 0.15 + 5.0
    with Scene(
        model, layers=["terrain", "utilities", "buildings", "trees"], size=(1200, 800)
    ) as scene:
        scene.set_underground(True)
        scene.add_surfaces("trench", faces, color="#ff7f00")
        scene.frame((xmin - pad, ymin - pad, xmax + pad, ymax + pad))
        return scene.screenshot(path)
