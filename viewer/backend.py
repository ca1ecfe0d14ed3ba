"""Choosing how VTK draws: a window where a display exists, EGL or OSMesa off-screen elsewhere.

VTK's wheels (9.4 and later) pick their OpenGL window class at run time: X where a display
exists, else EGL (Mesa's surfaceless platform needs no GPU and no display), else OSMesa. They
try X first and log an error when there is no X server, so on a headless machine we name EGL
before the first window is made; VTK still falls back to OSMesa by itself when EGL fails.
"""

from __future__ import annotations

import os

#: the environment variable VTK reads to choose its OpenGL window class
WINDOW_VARIABLE = "VTK_DEFAULT_OPENGL_WINDOW"


def has_display() -> bool:
    """Whether an X or Wayland display is there to open a window on."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def prepare_offscreen() -> str:
    """Set up off-screen rendering before the first render window is made.

    Returns the window class VTK is asked for (``"default"`` where a display exists or the
    user chose one in ``VTK_DEFAULT_OPENGL_WINDOW``).
    """
    import pyvista as pv

    pv.OFF_SCREEN = True
    if has_display() or WINDOW_VARIABLE in os.environ:
        return os.environ.get(WINDOW_VARIABLE, "default")
    os.environ[WINDOW_VARIABLE] = "vtkEGLRenderWindow"
    return os.environ[WINDOW_VARIABLE]
