"""Semantic classes of surfaces, numbered as meshes and layers store them."""

from __future__ import annotations

from enum import IntEnum


class Semantic(IntEnum):
    """Semantic class of a surface, named as in CityJSON and CityGML."""

    GroundSurface = 0
    WallSurface = 1
    RoofSurface = 2
