"""The store protocol: what every reader of a twin may ask of it, whatever keeps it.

A twin is a store plus its metadata. The API, ``twin info``, the excavation index, the mesh
cache and the viewer ask a :class:`Store` for everything they read: the model, its layers
(whole, by box or by feature id), pages of features (box, service area, CQL2 filter, sort),
metadata, the terrain and orthophoto rasters, where derived caches live, and a change token
that tells a long-running reader (a server) that the twin was rebuilt.

:func:`twin.store.open_store` gives the backend of a location; the GeoPackage backend
(:mod:`twin.store.gpkg`) is the default, and a PostGIS backend plugs in by implementing this
protocol. A backend compiles CQL2 itself (a :class:`Selection` carries the parsed filter,
never SQL): the SQL of each database is its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import shapely
from pygeofilter import ast

from twin.model import CityModel, LazyLayers, MeshCache
from twin.terrain import Terrain

#: The integers a store binds (signed 64 bits, SQLite's and PostgreSQL's ``bigint``): nothing
#: beyond them is taken as a parameter, a filter literal or a feature id.
INTEGERS = range(-(2**63), 2**63)

#: The JSON types of attribute columns (``LayerInfo.columns``).
COLUMN_TYPES = ("string", "number", "integer", "boolean")

Bounds = tuple[float, float, float, float]

#: The URL schemes of a twin in a PostgreSQL database (libpq's)
DATABASE_SCHEMES = ("postgresql", "postgres")


def is_database(where: str | Path, /) -> bool:
    """Whether ``where`` is a database URL (``postgresql://...``) rather than a file.

    Examples
    --------
    >>> is_database("postgresql://localhost/city?schema=graz"), is_database("city.gpkg")
    (True, False)
    """
    return isinstance(where, str) and where.split("://", 1)[0] in DATABASE_SCHEMES


@dataclass(frozen=True)
class LayerInfo:
    """What a store knows of one layer, without reading its rows.

    Attributes
    ----------
    name
        The layer name (``buildings``, ``lod12``, ``runs``...).
    geometry_type
        The OGC simple-feature type of its geometries (``MultiPolygon``, ``Point``...), ``None``
        for a table without geometry (``runs``, ``operators``).
    has_z
        Whether its geometries carry heights.
    columns
        Attribute column -> JSON type (one of :data:`COLUMN_TYPES`); not the feature id nor
        the geometry.
    count
        How many features (rows) it has.
    bounds
        ``(minx, miny, maxx, maxy)`` of its geometries in the store CRS; ``None`` for an
        empty layer or a table.
    """

    name: str
    geometry_type: str | None
    has_z: bool
    columns: dict[str, str]
    count: int
    bounds: Bounds | None

    @property
    def kind(self) -> str:
        """``"features"`` for a layer with geometries, ``"table"`` for one without."""
        return "table" if self.geometry_type is None else "features"


class ToStore(Protocol):
    """Turns literal geometries (in a filter's CRS) into the store CRS; with ``whole``, a
    geometry reaching outside the store CRS's area becomes empty rather than cut."""

    def __call__(self, geoms: np.ndarray, /, *, whole: bool = False) -> np.ndarray: ...


@dataclass
class Selection:
    """Which features a request wants, with every geometry in the store CRS.

    Attributes
    ----------
    bbox
        The region of a request's bbox (a polygon, or empty when the bbox lies outside the
        store CRS's area).
    bbox_inner
        A rectangle known to lie inside ``bbox``: a feature whose envelope lies within it needs
        no exact test.
    area
        A caller's service area: nothing outside it is selected.
    equals
        Attribute column -> value it must equal (typed as the column).
    filter
        A parsed CQL2 filter (pygeofilter AST), checked for size and depth; the backend
        compiles it to its own query language and refuses unknown properties
        (:class:`~twin.errors.InputError`).
    filter_to_store
        Turns the filter's geometry literals into the store CRS.
    sortby
        ``(column, ascending)`` pairs; the feature id breaks ties.
    lod
        The layer whose geometry replaces the layer's own (an LoD layer aligned by feature id
        with ``buildings``, :meth:`Store.aligned`).
    fids
        Only these feature ids (one feature: its id).
    """

    bbox: shapely.Geometry | None = None
    bbox_inner: Bounds | None = None
    area: shapely.Geometry | None = None
    equals: dict[str, Any] = field(default_factory=dict)
    filter: ast.Node | None = None
    filter_to_store: ToStore | None = None
    sortby: list[tuple[str, bool]] = field(default_factory=list)
    lod: str | None = None
    fids: Sequence[int] | None = None


@dataclass(frozen=True)
class Page:
    """Which features a page holds: their ids ``(n,) int64`` in order, and how many features
    match in all (``None`` when not counted)."""

    ids: np.ndarray
    number_matched: int | None


@dataclass(frozen=True)
class Features:
    """Rows of features: ids ``(n,) int64``, geometries ``(n,)`` in the store CRS (``None``
    where a feature has none) and properties as JSON objects (text)."""

    ids: np.ndarray
    geometries: np.ndarray
    properties: list[str]

    @classmethod
    def of_rows(cls, rows: Sequence[tuple], ids: np.ndarray, /) -> Features:
        """Features from query rows ``(fid, WKB, properties)``, in the order of ``ids``; ids
        without a row (features gone since they were listed) are left out."""
        by_id = {r[0]: r for r in rows}
        kept = [by_id[i] for i in ids.tolist() if i in by_id]
        return cls(
            np.fromiter((r[0] for r in kept), dtype=np.int64, count=len(kept)),
            shapely.from_wkb(np.array([r[1] for r in kept], dtype=object)),
            [r[2] for r in kept],
        )


@runtime_checkable
class Store(Protocol):
    """One twin in one backend.

    Every method may raise :class:`~twin.errors.StoreError` when the store cannot be read
    (gone, locked, a query over the time limit); a bad request (an unknown layer or column)
    is an :class:`~twin.errors.InputError`.
    """

    #: where the twin is (for a file backend, its main file)
    location: Path

    @property
    def crs(self) -> pyproj.CRS:
        """The twin's compound CRS (heights absolute in it)."""
        ...

    def token(self) -> str:
        """A text that changes whenever the twin does (rebuilt, or edited in place).

        A long-running reader compares it between requests: a new token means that whatever
        it derived from the twin (features written, indexes, tiles) is stale.
        """
        ...

    def metadata(self) -> dict[str, Any]:
        """The twin's metadata (name, origin, twin version, provenance), without its CRS and
        without where its rasters are (:meth:`terrain_path`, :meth:`ortho_path`)."""
        ...

    def read_model(self) -> CityModel:
        """The twin as a :class:`~twin.model.CityModel` whose layers are read when first
        used, with its terrain, orthophoto and mesh cache."""
        ...

    def write_model(self, model: CityModel, /) -> None:
        """Replace the twin by ``model`` atomically: on failure the previous twin stays."""
        ...

    def layers(self) -> dict[str, LayerInfo]:
        """Every layer of the twin (feature layers and tables), in store order."""
        ...

    def read_layer(
        self,
        name: str,
        /,
        *,
        bbox: Bounds | None = None,
        fids: Sequence[int] | None = None,
        columns: Sequence[str] | None = None,
        where_in: Mapping[str, Sequence[Any]] | None = None,
        geometry: bool = True,
    ) -> pd.DataFrame:
        """Rows of one layer: a GeoDataFrame in the store CRS (a DataFrame for a table).

        Parameters
        ----------
        bbox
            Only the features meeting this box (through the store's spatial index).
        fids
            Only these features, in this order (ids missing from the layer are left out).
        columns
            Only these attribute columns (default: all).
        where_in
            Column -> values: only the rows whose column holds one of them.
        geometry
            Whether to read the geometries.
        """
        ...

    def read_arrow(self, name: str, /) -> pa.Table:
        """A whole layer as an Arrow table, its geometry as WKB in the column ``geometry``:
        what an export or a copy of the layer reads, without an object per feature."""
        ...

    def aligned(self, base: str, layer: str, /) -> bool:
        """Whether ``layer`` has one row per feature of ``base`` with the same feature id
        and ``building_id`` (so its geometry can stand in for ``base``'s)."""
        ...

    def page(
        self,
        layer: str,
        selection: Selection,
        /,
        *,
        limit: int,
        offset: int = 0,
        count: bool = True,
    ) -> Page:
        """The ids of one page of the features of ``layer`` that ``selection`` selects, in
        its sort order, and (with ``count``) how many it selects in all."""
        ...

    def features(
        self, layer: str, selection: Selection, ids: np.ndarray, /, *, names: Sequence[str]
    ) -> Features:
        """The rows of the features ``ids`` (in that order; those gone are left out) with the
        property columns ``names`` and the geometry of ``selection``'s LoD."""
        ...

    def terrain_path(self) -> Path | None:
        """The terrain raster (a COG), ``None`` when the twin has none."""
        ...

    def ortho_path(self) -> Path | None:
        """The orthophoto raster (a COG), ``None`` when the twin has none."""
        ...

    def cache_path(self, name: str, /) -> Path:
        """Where the derived cache ``name`` (a file or folder: ``mesh-1.2.npz``,
        ``3dtiles-cache``) of this twin lives. Its user keys what it keeps with
        :meth:`token`: a cache of an older twin is never taken for this one."""
        ...

    def mesh_cache(self) -> MeshCache:
        """The cache of this twin's merged meshes, keyed by its token."""
        ...


def lazy_model(store: Store, /) -> CityModel:
    """The twin of ``store`` as a :class:`~twin.model.CityModel` whose layers are read when
    first used (what :meth:`Store.read_model` gives, whatever the backend)."""
    layers = store.layers()
    terrain_path = store.terrain_path()
    return CityModel(
        crs=store.crs,
        layers=LazyLayers(
            list(layers),
            store.read_layer,
            load_within=lambda name, box: store.read_layer(name, bbox=box),
            load_columns=lambda name, columns: store.read_layer(
                name,
                columns=[c for c in columns if c in layers[name].columns],
                geometry=False,
            ),
            load_arrow=store.read_arrow,
        ),
        terrain=None if terrain_path is None else Terrain.from_raster(terrain_path),
        ortho=store.ortho_path(),
        metadata=store.metadata(),
        mesh_cache=store.mesh_cache(),
    )
