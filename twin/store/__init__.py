"""Twin stores: one interface, one module per backend (GeoPackage now, PostGIS to come)."""

from __future__ import annotations

from pathlib import Path

from twin.errors import StoreError
from twin.model import CityModel
from twin.store import gpkg

_BACKENDS = {".gpkg": gpkg}


def _backend(path: Path):
    try:
        return _BACKENDS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(_BACKENDS)
        raise StoreError(f"{path}: unknown twin store type (known: {known})") from None


def read(path: str | Path, /) -> CityModel:
    """Open the twin at ``path``."""
    path = Path(path)
    return _backend(path).read(path)


def write(model: CityModel, path: str | Path, /) -> Path:
    """Write ``model`` to ``path`` atomically: the previous twin stays intact on failure."""
    path = Path(path)
    return _backend(path).write(model, path)
