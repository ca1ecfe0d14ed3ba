"""The city model: layers as GeoDataFrames, meshes as arrays, terrain and metadata."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import shapely
from numpy.typing import NDArray

from twin.errors import InputError
from twin.files import gc_paused
from twin.layers import LOD_LAYERS
from twin.mesh import Mesh
from twin.semantics import Semantic
from twin.terrain import Terrain

#: surfaces triangulated at a time for a merged mesh (:meth:`CityModel.mesh`): their shapely
#: polygons, about 0.5 kB each, live only while they are triangulated
MESH_BLOCK = 2**18


class MeshCache(Protocol):
    """Where a store keeps the merged meshes of its twin, keyed by the twin's version
    (:meth:`twin.store.base.Store.mesh_cache`): a mesh of an older twin is never given."""

    def load(self, lod: str, /) -> Mesh | None:
        """The cached mesh of ``lod``, ``None`` when there is none for this twin."""
        ...

    def save(self, lod: str, mesh: Mesh, /) -> None:
        """Keep ``mesh`` as the mesh of ``lod``."""
        ...

    def has(self, lod: str, /) -> bool:
        """Whether a mesh of ``lod`` was kept (for this or an older twin)."""
        ...


class LazyLayers(MutableMapping[str, pd.DataFrame]):
    """Layers that are read from the store when first used, then kept.

    Opening a twin reads no layer; ``model.buildings`` reads one. Layers set or replaced in
    memory behave as in a dict.

    Parameters
    ----------
    names
        The layer names, in store order.
    load
        Reads one layer by name.
    load_within
        Reads the features of one layer that meet a box ``(xmin, ymin, xmax, ymax)``, through
        the store's spatial index; ``None`` when the store has none.
    load_columns
        Reads some attribute columns of one layer, without its geometry; ``None`` when the
        store cannot (the whole layer is read instead).
    load_arrow
        Reads one layer as an Arrow table, geometry as WKB in ``geometry``; ``None`` when
        the store cannot.
    """

    def __init__(
        self,
        names: list[str],
        load: Callable[[str], pd.DataFrame],
        /,
        *,
        load_within: Callable[[str, tuple[float, float, float, float]], pd.DataFrame] | None = None,
        load_columns: Callable[[str, list[str]], pd.DataFrame] | None = None,
        load_arrow: Callable[[str], pa.Table] | None = None,
    ) -> None:
        self._names = list(names)
        self._load = load
        self._load_within = load_within
        self._load_columns = load_columns
        self._load_arrow = load_arrow
        self._frames: dict[str, pd.DataFrame] = {}
        self._replaced: set[str] = set()

    def replaced(self, name: str, /) -> bool:
        """Whether a layer was set in memory (and may differ from the store)."""
        return name in self._replaced

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            if name not in self._names:
                raise KeyError(name)
            self._frames[name] = self._load(name)
        return self._frames[name]

    def within(self, name: str, bounds: tuple[float, float, float, float], /) -> pd.DataFrame:
        """The features of layer ``name`` that meet the box ``bounds`` (model CRS): from
        memory when the layer is loaded, else read through the store's spatial index, so that
        a look at one street of a city reads one street."""
        if name not in self._frames and self._load_within is not None and name in self._names:
            return self._load_within(name, bounds)
        frame = self[name]
        if not isinstance(frame, gpd.GeoDataFrame):
            return frame
        return frame[shapely.intersects(frame.geometry.to_numpy(), shapely.box(*bounds))]

    def columns(self, name: str, columns: list[str], /) -> pd.DataFrame:
        """Those of the attribute columns ``columns`` that layer ``name`` has, one row per
        feature, without geometry: from memory when the layer is loaded, else read alone from
        the store (an export reads the ``geometry_type`` of each LoD layer, not its solids).

        Raises
        ------
        KeyError
            When there is no layer ``name``.
        """
        if name not in self._frames and self._load_columns is not None and name in self._names:
            return self._load_columns(name, columns)
        return _only(self[name], columns)

    def arrow(self, name: str, /) -> pa.Table | None:
        """Layer ``name`` as an Arrow table (geometry as WKB in ``geometry``) when it can be
        had without making its frame, else ``None`` (a layer in memory, or a store that
        cannot): an export reads the surfaces so, and a writer copies the layer as it is.
        A model read from a file has its 3D layers so too."""
        if name in self._frames or self._load_arrow is None or name not in self._names:
            return None
        return self._load_arrow(name)

    def __setitem__(self, name: str, frame: pd.DataFrame) -> None:
        if name not in self._names:
            self._names.append(name)
        self._frames[name] = frame
        self._replaced.add(name)

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._frames.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names


class MadeLayers(LazyLayers):
    """Layers made in memory, some as Arrow tables (geometry as WKB), all made together when
    one is first used.

    A model read from a file holds the reader's flat tables until then (no polygon,
    footprint or surface metric is computed), and a build its layers as made. The 3D layers
    are Arrow tables (made from ragged arrays, or block by block from a build's solids,
    without a shapely object per surface kept), which a store writes as they are
    (:meth:`arrow`); a frame of one is made only when it is used in memory.

    Parameters
    ----------
    names
        The layer names.
    make
        Makes all the layers (name -> frame, or Arrow table with a WKB ``geometry``).
    crs
        The layers' CRS.
    """

    def __init__(
        self, names: list[str], make: Callable[[], dict[str, Made]], crs: pyproj.CRS, /
    ) -> None:
        # The loader is an object of its own, not a method of this one: a bound method kept
        # here would make a reference cycle, and every model read would wait for Python's
        # cyclic collector to be freed.
        self._all = _AllAtOnce(make, crs)
        super().__init__(names, self._all)

    def arrow(self, name: str, /) -> pa.Table | None:
        if name in self._frames:
            return None
        return self._all.table(name)

    def columns(self, name: str, columns: list[str], /) -> pd.DataFrame:
        table = self.arrow(name)
        if table is None:
            return super().columns(name, columns)
        return table.select([c for c in columns if c in table.column_names]).to_pandas()


#: a layer as :class:`MadeLayers` holds it
Made = pd.DataFrame | pa.Table


class _AllAtOnce:
    """Loads layers by name from one call of ``make`` that makes them all, on first use."""

    def __init__(self, make: Callable[[], dict[str, Made]], crs: pyproj.CRS, /) -> None:
        self.make: Callable[[], dict[str, Made]] | None = make
        self.crs = crs
        self.made: dict[str, Made] = {}

    def _made(self) -> dict[str, Made]:
        if self.make is not None:
            with gc_paused():  # millions of objects made, none in a reference cycle
                self.made, self.make = self.make(), None
        return self.made

    def table(self, name: str, /) -> pa.Table | None:
        """Layer ``name`` as an Arrow table, when it was made as one."""
        made = self._made().get(name)
        return made if isinstance(made, pa.Table) else None

    def __call__(self, name: str, /) -> pd.DataFrame:
        made = self._made().pop(name)
        if not isinstance(made, pa.Table):
            return made
        frame = made.drop_columns(["geometry"]).to_pandas()
        geometry = shapely.from_wkb(made.column("geometry").to_numpy(zero_copy_only=False))
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=self.crs))


def feature_table(attributes: pd.DataFrame, geometry: NDArray[np.object_], /) -> pa.Table:
    """A layer as an Arrow table: the columns of ``attributes`` (typed as a frame written to
    a store types them: a column without a value is text) and ``geometry`` (shapely,
    ``None`` for none) as ISO WKB in ``geometry``, as :class:`MadeLayers` holds it.

    Examples
    --------
    >>> t = feature_table(pd.DataFrame({"id": ["a"]}), np.array([shapely.Point(1, 2, 3)]))
    >>> t.column_names, shapely.from_wkb(t.column("geometry")[0].as_py()).wkt
    (['id', 'geometry'], 'POINT Z (1 2 3)')
    """
    table = pa.Table.from_pandas(attributes, preserve_index=False)
    for i, kind in enumerate(table.schema.types):
        if pa.types.is_null(kind):  # no value at all: text, as a frame's empty column is written
            table = table.set_column(i, table.field(i).name, table.column(i).cast(pa.string()))
    wkb = shapely.to_wkb(geometry, flavor="iso")
    return table.append_column("geometry", pa.array(wkb, pa.binary()))


def _only(frame: pd.DataFrame, columns: list[str], /) -> pd.DataFrame:
    """Those of ``columns`` that ``frame`` has, as a plain DataFrame."""
    return pd.DataFrame(frame[[c for c in columns if c in frame.columns]])


def layer_columns(
    layers: MutableMapping[str, pd.DataFrame], name: str, columns: list[str], /
) -> pd.DataFrame | None:
    """Those of ``columns`` that layer ``name`` has, without its geometry (a twin opened from
    a store reads them alone, :meth:`LazyLayers.columns`); ``None`` when there is no such
    layer."""
    if name not in layers:
        return None
    if isinstance(layers, LazyLayers):
        return layers.columns(name, columns)
    return _only(layers[name], columns)


@dataclass(eq=False)
class CityModel:
    """A 3D city model: what a twin store holds, in memory.

    Attributes
    ----------
    crs
        The project CRS, compound with its vertical datum (heights are absolute in it).
    layers
        Layer name -> GeoDataFrame (tables without geometry, ``operators`` and ``runs``, are
        DataFrames); a twin opened from a store reads each layer when it is first used
        (:class:`LazyLayers`).
    terrain
        The terrain model, or ``None``.
    ortho
        The orthophoto raster (an RGB GeoTIFF in the project CRS), or ``None``; a twin opened
        from a store has the store's copy (:meth:`twin.store.base.Store.ortho_path`).
    metadata
        JSON-serialisable facts about the model: name, origin, twin version, provenance.
    mesh_cache
        Where the merged meshes of a twin opened from a store are kept between sessions
        (given by the store), or ``None``.

    Notes
    -----
    A model does not know where it is kept: :func:`twin.open` reads one from a store and
    :func:`twin.store.write` writes one (the store depends on the model, not the reverse).

    Examples
    --------
    >>> import shapely
    >>> footprints = gpd.GeoDataFrame(
    ...     {"building_id": ["B1"]}, geometry=[shapely.box(0, 0, 10, 8)], crs="EPSG:31258"
    ... )
    >>> model = CityModel(crs=pyproj.CRS("EPSG:31258+5778"), layers={"buildings": footprints})
    >>> len(model.buildings)
    1
    """

    crs: pyproj.CRS
    layers: MutableMapping[str, pd.DataFrame] = field(default_factory=dict)
    terrain: Terrain | None = None
    ortho: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    mesh_cache: MeshCache | None = field(default=None, repr=False)
    _meshes: dict[str, Mesh] = field(default_factory=dict, init=False, repr=False)

    def layer(self, name: str, /) -> pd.DataFrame:
        """A layer by name.

        Raises
        ------
        InputError
            When the model has no such layer; the message lists the layers it has.
        """
        try:
            return self.layers[name]
        except KeyError:
            have = ", ".join(self.layers) or "none"
            raise InputError(f"the twin has no layer {name!r} (it has: {have})") from None

    @property
    def buildings(self) -> gpd.GeoDataFrame:
        """Building footprints (2D) with their attributes, one row per input building."""
        return self.layer("buildings")

    @property
    def origin(self) -> NDArray[np.float64]:
        """The model origin ``(x, y, z)`` subtracted for rendering (float32-safe coordinates)."""
        return np.asarray(self.metadata.get("origin", (0.0, 0.0, 0.0)), dtype=np.float64)

    def mesh(self, lod: str = "1.2", /) -> Mesh:
        """The merged triangle mesh of all buildings at one LoD, built on first use.

        Triangles carry the building's row index in :attr:`buildings` and their semantic class.
        """
        if lod not in LOD_LAYERS:
            raise InputError(f"unknown LoD {lod!r}; known: {', '.join(LOD_LAYERS)}")
        if lod not in self._meshes:
            cache = self._stored_meshes()
            mesh = cache.load(lod) if cache is not None else None
            self._meshes[lod] = mesh if mesh is not None else self._build_mesh(lod)
            if cache is not None and mesh is None:
                cache.save(lod, self._meshes[lod])
        return self._meshes[lod]

    def cache_meshes(
        self, cache: MeshCache, lods: list[str], /, *, only_cached: bool = False
    ) -> None:
        """Keep the merged mesh of each of ``lods`` in ``cache`` (a store's, after the model
        was written to it), so that its first view is quick; with ``only_cached``, only those
        it had (refreshed after the twin was rewritten)."""
        for lod in lods:
            if not only_cached or cache.has(lod):
                # one mesh in memory at a time: those not yet used are not kept
                cache.save(lod, self._meshes[lod] if lod in self._meshes else self._build_mesh(lod))

    def _stored_meshes(self) -> MeshCache | None:
        """The store's mesh cache, while the buildings and their surfaces are as stored (not
        replaced in memory)."""
        layers = self.layers
        if self.mesh_cache is None or not isinstance(layers, LazyLayers):
            return None
        if layers.replaced("building_surfaces") or layers.replaced("buildings"):
            return None
        return self.mesh_cache

    def _build_mesh(self, lod: str) -> Mesh:
        """The merged mesh of one LoD, from the ``building_surfaces`` layer, triangulated
        :data:`MESH_BLOCK` surfaces at a time (from its Arrow table, when the layer is one:
        no shapely object is kept for the whole layer)."""
        layers = self.layers
        table = layers.arrow("building_surfaces") if isinstance(layers, LazyLayers) else None
        if table is None:
            surfaces = self.layer("building_surfaces")
            geometry: NDArray[np.object_] | pa.ChunkedArray = surfaces.geometry.to_numpy()
        else:
            surfaces = table.select(["building_id", "lod", "semantic"]).to_pandas()
            geometry = table.column("geometry")
        pick = np.flatnonzero((surfaces["lod"] == lod).to_numpy())
        surfaces = surfaces.iloc[pick]
        ids = layer_columns(self.layers, "buildings", ["building_id"])["building_id"]
        row = pd.Series(np.arange(len(ids)), index=ids.to_numpy())
        owner = row.reindex(surfaces["building_id"]).to_numpy()
        names = pd.Index([s.name for s in Semantic])
        code = names.get_indexer(surfaces["semantic"])
        if (code < 0).any():
            unknown = sorted(set(surfaces["semantic"][code < 0].astype(str)))
            raise InputError(
                f"building_surfaces: unknown semantic class(es) {unknown}; "
                f"known: {', '.join(names)}"
            )
        semantic = np.array([s.value for s in Semantic], dtype=np.int8)[code]
        pieces = []
        for start in range(0, len(pick), MESH_BLOCK):
            rows = pick[start : start + MESH_BLOCK]
            if isinstance(geometry, np.ndarray):
                polygons = geometry[rows]
            else:
                wkb = geometry.take(rows).to_numpy(zero_copy_only=False)
                polygons = shapely.from_wkb(wkb)
            at = slice(start, start + MESH_BLOCK)
            pieces.append(Mesh.from_surfaces(polygons, owner[at], semantic[at]))
        return Mesh.concat(pieces)
