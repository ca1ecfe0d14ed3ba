"""The interactive viewer (``twin view``): mouse and key bindings on a :class:`Scene`.

Right click picks a building (its attributes appear in the panel) and adds the point to the
measured path; the keys are listed in :data:`KEYS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import InputError
from viewer.backend import has_display
from viewer.camera import save_bookmark
from viewer.measure import measure
from viewer.scene import Scene

#: key -> (Session method, what it does): shown in the window
KEYS = {
    "u": ("on_underground", "underground mode on/off"),
    "h": ("on_hole", "underground: cut the terrain away around the view, on/off"),
    "k": ("on_clip", "clip plane on/off (drag it)"),
    "m": ("on_measure", "measure the picked points"),
    "n": ("on_new_measurement", "new measurement"),
    "b": ("on_bookmark", "save the view as a bookmark"),
    "l": ("on_lod", "next LoD"),
    "i": ("on_screenshot", "screenshot beside the twin"),
}


class Session:
    """The state of an interactive session: picked points, clip plane, counters."""

    def __init__(self, scene: Scene, twin_path: str | Path, /) -> None:
        self.scene = scene
        self.twin_path = Path(twin_path)
        self.points: list[np.ndarray] = []
        self.clipping = False
        self.saved = 0

    def panel(self, text: str, /) -> None:
        """Show ``text`` in the upper-left panel."""
        self.scene.plotter.add_text(text, position="upper_left", font_size=9, name="panel")

    def on_pick(self, column: int, row: int, /) -> dict[str, Any] | None:
        """Pick the building at a pixel (top-left origin), show it, remember the point."""
        info = self.scene.pick(column, row)
        if info is None:
            self.panel("no building here")
            return None
        self.points.append(np.asarray(info["point"]))
        lines = [f"{k}: {v}" for k, v in info.items() if k != "point"]
        x, y, z = info["point"]
        lines.append(f"picked: {x:.2f} {y:.2f} {z:.2f}")
        self.panel("\n".join(lines))
        return info

    def on_measure(self) -> str:
        """Report the measurement along the picked points."""
        try:
            m = measure(np.array(self.points))
        except InputError as exc:
            text = str(exc)
        else:
            text = (
                f"distance {m.distance:.2f} m (plan {m.horizontal:.2f} m)\n"
                f"height difference {m.height_difference:+.2f} m\narea {m.area:.1f} m²"
            )
        self.panel(text)
        return text

    def on_new_measurement(self) -> None:
        """Forget the picked points."""
        self.points.clear()
        self.panel("new measurement: right-click points")

    def on_underground(self) -> None:
        """Toggle underground mode."""
        self.scene.set_underground(not self.scene.underground)

    def on_hole(self) -> None:
        """Toggle the underground mode that cuts a hole in the terrain around the view."""
        on = not self.scene.underground
        b = np.asarray(self.scene.bounds())
        self.scene.set_underground(on, cut=0.1 * float(np.hypot(*(b[1:4:2] - b[0:4:2]))))

    def on_lod(self) -> None:
        """Show the next LoD the twin has."""
        lods = self.scene.lods
        self.scene.set_lod(lods[(lods.index(self.scene.lod) + 1) % len(lods)])

    def on_bookmark(self) -> str:
        """Save the current view as ``view-N`` beside the twin."""
        self.saved += 1
        name = f"view-{self.saved}"
        save_bookmark(self.twin_path, name, self.scene.view())
        self.panel(f"bookmark {name!r} saved")
        return name

    def on_screenshot(self) -> Path:
        """Write ``city.screenshot-N.png`` beside the twin."""
        self.saved += 1
        path = self.twin_path.with_suffix(f".screenshot-{self.saved}.png")
        self.scene.screenshot(path)
        self.panel(f"wrote {path}")
        return path

    def on_clip(self) -> None:
        """Toggle a draggable clip plane."""
        plotter = self.scene.plotter
        if self.clipping:
            plotter.clear_plane_widgets()
            self.scene.unclip()
        else:
            origin = self.scene.model.origin

            def moved(normal, point):
                self.scene.clip(np.asarray(point) + origin, normal)

            plotter.add_plane_widget(moved, normal="x", color="magenta")
        self.clipping = not self.clipping


def open_window(scene_options: dict[str, Any], model, twin_path: str | Path, /) -> None:
    """Open the interactive window (needs a display).

    Warns
    -----
    TwinWarning
        What the scene lacks or assumes (:attr:`viewer.scene.Scene.warnings`), as it opens.

    Raises
    ------
    InputError
        When there is no display to open a window on.
    """
    if not has_display():
        raise InputError(
            "no display to open a window on (DISPLAY is not set); "
            "use 'twin render TWIN -o picture.png', or run under xvfb-run"
        )
    scene = Scene(model, off_screen=False, **scene_options)
    session = Session(scene, twin_path)
    plotter = scene.plotter
    for key, (method, _) in KEYS.items():
        plotter.add_key_event(key, getattr(session, method))

    def right_click(*_):
        x, y = plotter.iren.get_event_position()
        session.on_pick(x, plotter.window_size[1] - 1 - y)

    plotter.iren.add_observer("RightButtonPressEvent", right_click)
    help_text = "right click: pick / measure point\n" + "\n".join(
        f"{k}: {what}" for k, (_, what) in KEYS.items()
    )
    plotter.add_text(help_text, position="lower_left", font_size=8, name="help")
    scene.warn()
    plotter.show(title=f"twin: {Path(twin_path).name}")
