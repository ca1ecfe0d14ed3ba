"""The city model: layers as GeoDataFrames, meshes as arrays, terrain and metadata."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from twin._version import __version__
from twin.errors import InputError
from twin.layers import LOD_LAYERS
from twin.mesh import Mesh
from twin.semantics import Semantic
from twin.terrain import Terrain


def mesh_cache(store: Path, lod: str, /) -> tuple[Path, str]:
    """The file caching the merged mesh of one LoD of the twin at ``store``, and its key.

    The key changes with the store file (size, modification time) and the twin version.
    """
    stat = store.stat()
    key = f"{__version__}:{stat.st_size}:{stat.st_mtime_ns}:{lod}"
    return store.with_name(f"{store.stem}.mesh-{lod}.npz"), key


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
    """

    def __init__(
        self,
        names: list[str],
        load: Callable[[str], pd.DataFrame],
        /,
        *,
        source: Path | None = None,
        load_within: Callable[[str, tuple[float, float, float, float]], pd.DataFrame] | None = None,
    ) -> None:
        self._names = list(names)
        self._load = load
        self._load_within = load_within
        self._frames: dict[str, pd.DataFrame] = {}
        self._replaced: set[str] = set()
        self.source = source
        """The store file the layers come from."""

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
    metadata
        JSON-serialisable facts about the model: name, origin, twin version, provenance.

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
    metadata: dict[str, Any] = field(default_factory=dict)
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
            cache = self._mesh_cache(lod)
            mesh = Mesh.load(cache[0], stamp=cache[1]) if cache else None
            self._meshes[lod] = mesh if mesh is not None else self._build_mesh(lod)
            if cache and mesh is None:
                self._meshes[lod].save(cache[0], stamp=cache[1])
        return self._meshes[lod]

    def cache_meshes(self, store: Path, lods: list[str], /, *, only_cached: bool = False) -> None:
        """Save the merged mesh of each of ``lods`` beside the twin stored at ``store``
        (:func:`mesh_cache`), so that its first view is quick; with ``only_cached``, only
        those it had (refreshed after the twin was rewritten)."""
        for lod in lods:
            cache, stamp = mesh_cache(store, lod)
            if not only_cached or cache.exists():
                self.mesh(lod).save(cache, stamp=stamp)

    def _mesh_cache(self, lod: str) -> tuple[Path, str] | None:
        """Where the mesh of a twin opened from a store is cached, and the cache's key.

        Only while the buildings and their surfaces are as stored (not replaced in memory);
        the key changes with the store file and the twin version, so a stale cache is never
        used.
        """
        layers = self.layers
        if not isinstance(layers, LazyLayers) or layers.source is None:
            return None
        if layers.replaced("building_surfaces") or layers.replaced("buildings"):
            return None
        return mesh_cache(layers.source, lod)

    def _build_mesh(self, lod: str) -> Mesh:
        """The merged mesh of one LoD, from the ``building_surfaces`` layer."""
        surfaces = self.layer("building_surfaces")
        surfaces = surfaces[surfaces["lod"] == lod]
        row = pd.Series(np.arange(len(self.buildings)), index=self.buildings["building_id"])
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
        return Mesh.from_surfaces(surfaces.geometry.to_numpy(), owner, semantic)
