"""twin: a digital-twin 3D city toolkit for surveying and planning departments.

>>> import twin
>>> model = twin.open("city.gpkg")  # doctest: +SKIP
>>> model.buildings.head()  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import twin.crs  # noqa: F401  (puts the shipped PROJ grids on PROJ's search path)
from twin._version import __version__
from twin.errors import ConfigError, CRSError, InputError, StoreError, TwinError

if TYPE_CHECKING:
    from twin.mesh import Mesh
    from twin.model import CityModel
    from twin.semantics import Semantic
    from twin.terrain import Terrain


#: the model classes: they pull in geopandas and friends, so they are imported on first use
#: and light entry points (``twin --version``, the point cloud reader process) start quickly
_LAZY = ("CityModel", "Mesh", "Semantic", "Terrain")


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'twin' has no attribute {name!r}")
    from twin.mesh import Mesh
    from twin.model import CityModel
    from twin.semantics import Semantic
    from twin.terrain import Terrain

    return {"CityModel": CityModel, "Mesh": Mesh, "Semantic": Semantic, "Terrain": Terrain}[name]


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
    """Open the twin at ``path`` (a GeoPackage written by ``twin build``, or a PostGIS schema
    as ``postgresql://user@host/db?schema=twin``); write one with :func:`twin.store.write`."""
    from twin.store import read

    return read(path)
