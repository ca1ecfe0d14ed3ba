"""The PyVista viewer of twins: scenes, off-screen pictures, videos and the notebook view.

``viewer.Scene`` and ``viewer.show`` are imported on first use, so that the ``twin view`` and
``twin render`` commands (:mod:`viewer.cli`) list in ``twin --help`` without loading PyVista;
pictures and videos are :func:`viewer.render.render`.

>>> from viewer import LAYERS
>>> LAYERS[:2]
('terrain', 'buildings')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from viewer.notebook import show
    from viewer.scene import LAYERS, Scene

__all__ = ["LAYERS", "Scene", "show"]


def __getattr__(name: str) -> Any:
    # PEP 562: the public names, from the modules that define them, on first use
    if name in ("LAYERS", "Scene"):
        from viewer import scene as module
    elif name == "show":
        from viewer import notebook as module
    else:
        raise AttributeError(f"module 'viewer' has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value
