"""Twin stores: one protocol (:class:`~twin.store.base.Store`), one module per backend.

:func:`open_store` gives the backend of a location: a GeoPackage file (``city.gpkg``) or a
schema of a PostGIS database (``postgresql://user@host/db?schema=twin``);
:func:`read` and :func:`write` are its two most common uses. Everything that reads a twin
(the API, ``twin info``, the excavation index, the viewer) goes through a store.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from twin.errors import StoreError
from twin.model import CityModel
from twin.store import gpkg
from twin.store.base import Store, is_database

#: Where a twin is: a file path, or a database URL
Location = str | Path


class _Backend(NamedTuple):
    open: Callable[..., Store]
    write: Callable[[CityModel, Any], Any]
    files: Callable[[Any], list[Path]]


#: location suffix -> file backend
_BACKENDS = {".gpkg": _Backend(gpkg.GeoPackageStore, gpkg.write, gpkg.files)}


def location(text: str | Path, /) -> Location:
    """A location as given on a command line: a database URL stays text, anything else is
    a path."""
    return str(text) if is_database(str(text)) else Path(text)


def _backend(where: Location) -> tuple[_Backend, Location]:
    if is_database(where):
        # imported when first asked for: its drivers (psycopg, ADBC) cost a file twin's
        # commands a third of a second of start-up
        from twin.store import postgis

        return _Backend(postgis.PostGISStore, postgis.write, lambda where: []), where
    path = Path(where)
    try:
        return _BACKENDS[path.suffix.lower()], path
    except KeyError:
        known = ", ".join([*_BACKENDS, "postgresql://"])
        raise StoreError(f"{path}: unknown twin store type (known: {known})") from None


def open_store(where: Location, /, *, timeout: float = 10.0) -> Store:
    """The store of the twin at ``where``.

    Parameters
    ----------
    where
        Where the twin is (``city.gpkg``, ``postgresql://host/db?schema=twin``).
    timeout
        Seconds a query for a page of features may run.

    Raises
    ------
    StoreError
        When there is no twin there, or the kind of store is unknown.
    """
    backend, where = _backend(where)
    return backend.open(where, timeout=timeout)


def files(where: Location, /) -> list[Path]:
    """The files a twin at ``where`` is written to and read from (whether they exist or
    not): what no output may overwrite while the twin is an input. For a location no backend
    takes, the location alone; for a database, none."""
    if is_database(where):
        return []
    path = Path(where)
    backend = _BACKENDS.get(path.suffix.lower())
    return [path] if backend is None else backend.files(path)


def read(where: Location, /) -> CityModel:
    """Open the twin at ``where`` (its layers are read when first used)."""
    return open_store(where).read_model()


def write(model: CityModel, where: Location, /) -> Location:
    """Write ``model`` to ``where`` atomically: the previous twin stays intact on failure."""
    backend, where = _backend(where)
    return backend.write(model, where)
