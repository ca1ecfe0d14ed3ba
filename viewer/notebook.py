"""The viewer in a notebook: an interactive trame widget, or a static picture without one."""

from __future__ import annotations

import importlib.util
from typing import Any

from twin.errors import InputError
from twin.model import CityModel
from viewer.scene import Scene

#: what :func:`show` can return
BACKENDS = ("auto", "trame", "static")


def _in_kernel() -> bool:
    """Whether a Jupyter kernel runs this code (trame needs one to talk to the browser)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def show(model: CityModel, /, *, backend: str = "auto", **options: Any) -> Any:
    """Show the twin in a notebook.

    Parameters
    ----------
    model
        The twin.
    backend
        ``"trame"``: an interactive widget (needs ``trame``, ``trame-vtk`` and a running
        kernel); ``"static"``: a PNG picture; ``"auto"``: trame where it can work, else static.
    **options
        :class:`~viewer.scene.Scene` options (``color_by``, ``layers``, ``lod``, ``size``, ...).

    Returns
    -------
    The trame widget, or an ``IPython.display.Image``. What the picture leaves out or assumes
    (no terrain, rows drawn with assumed values) is issued as warnings
    (:class:`~twin.errors.TwinWarning`), which a notebook shows under the cell.
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    trame = importlib.util.find_spec("trame") is not None and _in_kernel()
    if backend == "trame" and not trame:
        raise InputError("the trame backend needs trame, trame-vtk and a Jupyter kernel")
    if backend != "static" and trame:
        scene = Scene(model, **options)
        scene.warn()  # what the picture leaves out or assumes, as the commands say it
        return scene.plotter.show(jupyter_backend="trame", return_viewer=True)
    import imageio.v3 as iio
    from IPython.display import Image

    with Scene(model, **options) as scene:
        scene.warn()
        return Image(data=iio.imwrite("<bytes>", scene.image(), extension=".png"), format="png")
