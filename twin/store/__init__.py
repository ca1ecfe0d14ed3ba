"""Twin stores: one protocol (:class:`~twin.store.base.Store`), one module per backend.

:func:`open_store` gives the backend of a location (GeoPackage now, PostGIS to come);
:func:`read` and :func:`write` are its two most common uses. Everything that reads a twin
(the API, ``twin info``, the excavation index, the viewer) goes through a store.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from twin.errors import StoreError
from twin.model import CityModel
from twin.store import gpkg
from twin.store.base import Store


class _Backend(NamedTuple):
    open: Callable[..., Store]
    write: Callable[[CityModel, Path], Path]
    files: Callable[[Path], list[Path]]


#: location suffix -> backend
_BACKENDS = {".gpkg": _Backend(gpkg.GeoPackageStore, gpkg.write, gpkg.files)}


def _backend(path: Path) -> _Backend:
    try:
        return _BACKENDS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(_BACKENDS)
        raise StoreError(f"{path}: unknown twin store type (known: {known})") from None


def open_store(location: str | Path, /, *, timeout: float = 10.0) -> Store:
    """The store of the twin at ``location``.

    Parameters
    ----------
    location
        Where the twin is (``city.gpkg``).
    timeout
        Seconds a query for a page of features may run.

    Raises
    ------
    StoreError
        When there is no twin there, or the kind of store is unknown.
    """
    path = Path(location)
    return _backend(path).open(path, timeout=timeout)


def files(location: str | Path, /) -> list[Path]:
    """The files a twin at ``location`` is written to and read from (whether they exist or
    not): what no output may overwrite while the twin is an input. For a location no backend
    takes, the location alone."""
    path = Path(location)
    backend = _BACKENDS.get(path.suffix.lower())
    return [path] if backend is None else backend.files(path)


def read(location: str | Path, /) -> CityModel:
    """Open the twin at ``location`` (its layers are read when first used)."""
    return open_store(location).read_model()


def write(model: CityModel, location: str | Path, /) -> Path:
    """Write ``model`` to ``location`` atomically: the previous twin stays intact on failure."""
    path = Path(location)
    return _backend(path).write(model, path)
