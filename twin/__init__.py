"""twin: a digital-twin 3D city toolkit for surveying and planning departments.

>>> import twin
>>> model = twin.open("city.gpkg")  # doctest: +SKIP
>>> model.buildings.head()  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import twin.crs  # noqa: F401  (puts the shipped PROJ grids on PROJ's search path)
from twin._version import __version__
from twin.errors import ConfigError, CRSError, InputError, StoreError, TwinError
from twin.mesh import Mesh
from twin.model import CityModel
from twin.semantics import Semantic
from twin.terrain import Terrain

__all__ = [
    "CRSError",
    "CityModel",
    "ConfigError",
    "InputError",
    "Mesh",
    "Semantic",
    "StoreError",
    "Terrain",
    "TwinError",
    "__version__",
    "open",
]


def open(path: str | Path, /) -> CityModel:
    """Open the twin at ``path`` (a GeoPackage written by ``twin build``)."""
    return CityModel.open(path)
