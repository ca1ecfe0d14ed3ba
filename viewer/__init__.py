"""The PyVista viewer of twins: scenes, off-screen pictures, videos and the notebook view.

>>> from viewer import LAYERS
>>> LAYERS[:2]
('terrain', 'buildings')
"""

from viewer.notebook import show
from viewer.render import RenderOptions, render
from viewer.scene import LAYERS, Scene

__all__ = ["LAYERS", "RenderOptions", "Scene", "render", "show"]
