"""Fly-through videos along camera views, written with imageio (GIF, or MP4 with ffmpeg)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from twin.errors import InputError
from twin.files import atomic
from viewer.camera import View, tour

if TYPE_CHECKING:
    from viewer.scene import Scene

#: video file types: GIF through Pillow, MP4 through the ffmpeg of imageio-ffmpeg
FORMATS = (".gif", ".mp4")


def fly_through(
    scene: Scene,
    views: list[View],
    path: str | Path,
    /,
    *,
    frames_per_leg: int = 30,
    fps: int = 15,
) -> Path:
    """Render a flight from each view to the next into a video file, atomically.

    Parameters
    ----------
    scene
        The scene to film.
    views
        At least two camera views (for example bookmarks), model CRS.
    path
        ``.gif`` (Pillow) or ``.mp4`` (ffmpeg, from the ``imageio-ffmpeg`` package).
    frames_per_leg
        Frames between two views.
    fps
        Frames per second.

    Raises
    ------
    InputError
        For another file type, or fewer than two views.
    """
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in FORMATS:
        raise InputError(f"{path}: a video must be one of {', '.join(FORMATS)}")
    frames = tour(views, frames_per_leg=frames_per_leg)
    with atomic(path) as tmp:  # ends as ``path`` does: imageio and ffmpeg go by it
        if kind == ".mp4":
            import imageio.v2 as imageio

            # yuv420p needs even sizes: blocks of 2 keep the picture as rendered
            with imageio.get_writer(tmp, format="FFMPEG", fps=fps, macro_block_size=2) as out:
                for view in frames:
                    scene.set_view(view)
                    out.append_data(scene.image())
        else:
            import imageio.v3 as iio

            images = []
            for view in frames:
                scene.set_view(view)
                images.append(scene.image())
            iio.imwrite(tmp, np.stack(images), extension=".gif", duration=1000 / fps, loop=0)
    return path
