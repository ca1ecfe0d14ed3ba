"""The GeoPackage store: one layer per table, terrain and orthophoto as COGs beside it.

A write goes to hidden temporary files next to the target and is renamed over it at the end,
so an interrupted or failed build leaves the previous twin untouched. Derived caches (meshes,
3D Tiles) are files beside it too (``city.mesh-1.2.npz``); the change token is the file's
identity (inode, size, modification time, and those of a write-ahead log).

:class:`GeoPackageStore` implements :class:`twin.store.base.Store`; pages of features are
read by SQL (:mod:`twin.store.gpkg_features`), layers with pyogrio.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import pyproj

from twin.errors import InputError, StoreError
from twin.files import atomic_group
from twin.layers import LAYERS, layer_order
from twin.model import CityModel, LazyLayers, MeshCache
from twin.store.base import Bounds, Features, LayerInfo, Page, Selection, lazy_model
from twin.store.caches import FileMeshCache
from twin.store.gpkg_features import METADATA_TABLE, FeatureReader
from twin.store.rasters import copy_imagery


def files(path: Path, /) -> list[Path]:
    """The files of the twin at ``path`` that are written and read together: the GeoPackage
    and its terrain and orthophoto COGs (``city.dtm.tif``, ``city.ortho.tif``)."""
    return [path, path.with_suffix(".dtm.tif"), path.with_suffix(".ortho.tif")]


def write(model: CityModel, path: Path, /) -> Path:
    """Write ``model`` as a GeoPackage (and its terrain and orthophoto as COGs) atomically.

    The orthophoto ``model.ortho`` is copied as a JPEG-compressed COG. The three files are
    written as one :func:`~twin.files.atomic_group` of the GeoPackage: their temporaries are
    removed when the write ends, and a later write clears those of a killed one. The
    GeoPackage is renamed last, so a twin is never read with a missing terrain.
    """
    metadata = dict(model.metadata, crs=model.crs.to_wkt())
    _, terrain_file, ortho_file = files(path)
    try:
        with (
            atomic_group(path, terrain_file, ortho_file) as (tmp, tmp_terrain, tmp_ortho),
            _unsynced(),
        ):
            for name in layer_order(list(model.layers)):
                if _write_arrow(model, name, tmp):
                    continue
                frame = model.layers[name]
                if isinstance(frame, gpd.GeoDataFrame) and frame.active_geometry_name is None:
                    frame = pd.DataFrame(frame)  # a table (operators, runs) made as a GeoDataFrame
                if isinstance(frame, gpd.GeoDataFrame):
                    frame = frame if frame.crs is not None else frame.set_crs(model.crs)
                    pyogrio.write_dataframe(
                        frame,
                        tmp,
                        layer=name,
                        driver="GPKG",
                        geometry_type=LAYERS.get(name) if len(frame) == 0 else None,
                        promote_to_multi=(LAYERS.get(name) or "").startswith("Multi"),
                        use_arrow=True,
                    )
                else:
                    pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG", use_arrow=True)
            if model.terrain is not None:  # where the rasters are: the store's own record
                model.terrain.write_cog(tmp_terrain)
                metadata["terrain"] = terrain_file.name
            if model.ortho is not None:
                copy_imagery(Path(model.ortho), tmp_ortho)
                metadata["ortho"] = ortho_file.name
            table = pd.DataFrame(
                {"key": list(metadata), "value": [json.dumps(v) for v in metadata.values()]}
            )
            pyogrio.write_dataframe(table, tmp, layer=METADATA_TABLE, driver="GPKG")
            _fsync(tmp)
    except Exception as exc:
        failed = OSError | pyogrio.errors.DataSourceError | pyogrio.errors.DataLayerError
        if isinstance(exc, failed) and not isinstance(exc, StoreError):
            # GDAL's words for a full disk can be obscure ("no such table"): say how full
            free = shutil.disk_usage(path.parent).free if path.parent.is_dir() else 0
            raise StoreError(
                f"cannot write the twin {path} ({free / 1e6:.1f} MB free there): {exc}"
            ) from exc
        raise
    return path


@contextlib.contextmanager
def _unsynced() -> Iterator[None]:
    """GDAL's SQLite writes without waiting for the disk at each commit (``PRAGMA
    synchronous=OFF``, `GDAL's GPKG options <https://gdal.org/drivers/vector/gpkg.html>`_)
    for the block. The twin is written to a temporary file that replaces the old one only
    when whole (:func:`~twin.files.atomic_group`), and :func:`_fsync` makes it durable once,
    before that: a crash midway loses the temporary, never the twin."""
    before = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": before})


def _fsync(path: Path, /) -> None:
    """Wait until the file at ``path`` is on the disk."""
    with path.open("rb") as file:
        os.fsync(file.fileno())


def _write_arrow(model: CityModel, name: str, path: Path, /) -> bool:
    """Write layer ``name`` of ``model`` from its Arrow table when it has one that was not
    made into a frame (:meth:`twin.model.LazyLayers.arrow`); whether it had."""
    table = model.layers.arrow(name) if isinstance(model.layers, LazyLayers) else None
    if table is None or LAYERS.get(name) is None or "geometry" not in table.column_names:
        return False
    epsg = model.crs.to_epsg()  # as pyogrio names the CRS of a frame it writes
    pyogrio.write_arrow(
        table,
        path,
        layer=name,
        driver="GPKG",
        geometry_name="geometry",
        geometry_type=LAYERS[name],
        crs=f"EPSG:{epsg}" if epsg else model.crs.to_wkt("WKT1_GDAL"),
        encoding="UTF-8",
    )
    return True


def _read_metadata(path: Path, /) -> tuple[dict[str, Any], pyproj.CRS]:
    """The metadata of the twin at ``path`` and its CRS, without reading any layer.

    Raises
    ------
    StoreError
        When the file is missing, not a GeoPackage, or not a twin.
    """
    if not path.exists():
        raise StoreError(f"{path}: no such twin")
    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except pyogrio.errors.DataSourceError as exc:
        raise StoreError(f"{path}: not a GeoPackage: {exc}") from exc
    if METADATA_TABLE not in names:
        raise StoreError(f"{path}: a GeoPackage, but not a twin (no {METADATA_TABLE} table)")
    table = pyogrio.read_dataframe(path, layer=METADATA_TABLE)
    metadata = {k: json.loads(v) for k, v in zip(table["key"], table["value"], strict=True)}
    return metadata, pyproj.CRS.from_wkt(metadata.pop("crs"))


def _in_list(values: Sequence[Any], /) -> str:
    """An SQL list of literals for an OGR ``where`` (text quoted with quotes doubled: values
    are data, never SQL)."""
    out = []
    for v in values:
        if isinstance(v, bool | np.bool_):
            out.append(str(int(v)))
        elif isinstance(v, int | float | np.integer | np.floating):
            out.append(repr(v.item() if isinstance(v, np.generic) else v))
        else:
            out.append("'" + str(v).replace("'", "''") + "'")
    return ", ".join(out)


class GeoPackageStore:
    """A twin kept in one GeoPackage (:class:`twin.store.base.Store`).

    Opening reads the metadata only. Every query first looks at the file's identity: when
    the twin was rebuilt (renamed over) or edited in place, the metadata and layers are read
    anew and every thread's next query opens a new connection.

    Parameters
    ----------
    path
        The GeoPackage (``city.gpkg``).
    timeout
        Seconds an SQL query for a page of features may run (then a :class:`StoreError`).

    Raises
    ------
    StoreError
        When the file is missing, not a GeoPackage, or not a twin.
    """

    def __init__(self, path: str | Path, /, *, timeout: float = 10.0):
        self.location = Path(path)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._identity = self._stat()
        self._raw, self._crs = _read_metadata(self.location)
        self._reader: FeatureReader | None = None

    def __repr__(self) -> str:
        return f"GeoPackageStore({str(self.location)!r})"

    # -- the file and its versions -------------------------------------------------------

    def _stat(self) -> tuple[int, ...]:
        """What changes when the twin does: the file's inode, size and modification time, and
        those of its write-ahead log when there is one (a commit in WAL mode leaves the main
        file alone)."""
        try:
            st = os.stat(self.location)
        except FileNotFoundError:
            raise StoreError(f"{self.location}: no such twin") from None
        except OSError as exc:
            raise StoreError(f"{self.location}: cannot be read: {exc.strerror}") from exc
        try:
            wal = os.stat(f"{self.location}-wal")
        except OSError:
            return (st.st_ino, st.st_size, st.st_mtime_ns)
        return (st.st_ino, st.st_size, st.st_mtime_ns, wal.st_size, wal.st_mtime_ns)

    def _current(self) -> tuple[int, ...]:
        """The file's identity now, after reading a changed twin anew."""
        identity = self._stat()
        if identity != self._identity:
            with self._lock:
                if identity != self._identity:
                    self._raw, self._crs = _read_metadata(self.location)
                    if self._reader is not None:
                        self._reader.reload()
                    self._identity = identity
        return identity

    def _features(self) -> FeatureReader:
        self._current()
        if self._reader is None:
            with self._lock:
                if self._reader is None:
                    self._reader = FeatureReader(self.location, timeout=self.timeout)
        return self._reader

    def token(self) -> str:
        """A text that changes whenever the GeoPackage does (16 hex digits of a hash of its
        identity)."""
        identity = ":".join(map(str, self._current()))
        return hashlib.sha256(identity.encode()).hexdigest()[:16]

    # -- what the twin is -----------------------------------------------------------------

    @property
    def crs(self) -> pyproj.CRS:
        """The twin's compound CRS, exactly as written (the layers keep GDAL's WKT1)."""
        self._current()
        return self._crs

    def metadata(self) -> dict[str, Any]:
        """The twin's metadata, without its CRS and the names of its raster files."""
        self._current()
        return {k: v for k, v in self._raw.items() if k not in ("terrain", "ortho")}

    def _raster(self, key: str) -> Path | None:
        self._current()
        name = self._raw.get(key)
        return None if name is None else self.location.parent / name

    def terrain_path(self) -> Path | None:
        """The terrain COG (``city.dtm.tif``), ``None`` when the twin has no terrain."""
        return self._raster("terrain")

    def ortho_path(self) -> Path | None:
        """The orthophoto COG (``city.ortho.tif``), ``None`` when the twin has none."""
        return self._raster("ortho")

    def cache_path(self, name: str, /) -> Path:
        """The derived cache ``name`` beside the GeoPackage (``city.mesh-1.2.npz``)."""
        return self.location.with_name(f"{self.location.stem}.{name}")

    def mesh_cache(self) -> MeshCache:
        """The merged meshes in files beside the GeoPackage, stamped with its token."""
        return FileMeshCache(self)

    # -- the model -------------------------------------------------------------------------

    def read_model(self) -> CityModel:
        """The twin; each layer is read when first used."""
        return lazy_model(self)

    def write_model(self, model: CityModel, /) -> None:
        """Replace the twin by ``model`` atomically (:func:`write`)."""
        write(model, self.location)
        self._current()

    # -- layers ----------------------------------------------------------------------------

    def layers(self) -> dict[str, LayerInfo]:
        """Every layer (feature layers and tables), in the documented order."""
        return dict(self._features().layers)

    def _layer(self, name: str) -> LayerInfo:
        layers = self._features().layers
        if name not in layers:
            have = ", ".join(layers) or "none"
            raise InputError(f"{self.location}: the twin has no layer {name!r} (it has: {have})")
        return layers[name]

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
        """Rows of one layer (:meth:`twin.store.base.Store.read_layer`), with pyogrio.

        Raises
        ------
        InputError
            For an unknown layer or column, or ``fids`` with ``bbox`` or ``where_in``.
        """
        info = self._layer(name)
        unknown = sorted({*(columns or ()), *(where_in or {})} - set(info.columns))
        if unknown:
            raise InputError(f"{self.location}: layer {name!r} has no columns {unknown}")
        if fids is not None and (bbox is not None or where_in):
            raise InputError("read_layer: fids go alone, without bbox or where_in")
        where = None
        if where_in:
            where = " AND ".join(
                f'"{column}" IN ({_in_list(values)})' if len(values) else "0"
                for column, values in where_in.items()
            )
        options: dict[str, Any] = {}
        if fids is not None:
            options.update(fids=np.asarray(fids, dtype=np.int64), fid_as_index=True)
        frame = pyogrio.read_dataframe(
            self.location,
            layer=name,
            bbox=bbox,
            where=where,
            columns=None if columns is None else list(columns),
            read_geometry=geometry,
            use_arrow=True,
            **options,
        )
        if fids is not None:  # in the order asked, those gone left out
            wanted = [int(i) for i in fids]
            frame = frame.loc[[i for i in wanted if i in frame.index]].reset_index(drop=True)
        if isinstance(frame, gpd.GeoDataFrame):
            # GeoPackage keeps WKT1 in GIS axis order; the model's WKT2 is the exact CRS.
            frame = frame.set_crs(self._crs, allow_override=True)
        return frame

    def read_arrow(self, name: str, /) -> pa.Table:
        """A whole layer as an Arrow table (:meth:`twin.store.base.Store.read_arrow`)."""
        self._layer(name)
        meta, table = pyogrio.read_arrow(self.location, layer=name)
        column = meta["geometry_name"] or "wkb_geometry"
        if column in table.column_names and column != "geometry":
            table = table.rename_columns(
                ["geometry" if c == column else c for c in table.column_names]
            )
        if "geometry" in table.column_names:
            geometry = table.column("geometry")
            if isinstance(geometry.type, pa.ExtensionType):  # GDAL's geoarrow.wkb: its WKB
                wkb = [chunk.storage for chunk in geometry.chunks]
                plain = pa.chunked_array(wkb, geometry.type.storage_type)
                table = table.set_column(table.column_names.index("geometry"), "geometry", plain)
        return table

    def aligned(self, base: str, layer: str, /) -> bool:
        """Whether ``layer`` has one row per feature of ``base``, with its fid and
        ``building_id``."""
        return self._features().aligned(base, layer)

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
        """One page of the features of ``layer`` that ``selection`` selects."""
        return self._features().page(layer, selection, limit=limit, offset=offset, count=count)

    def features(
        self, layer: str, selection: Selection, ids: np.ndarray, /, *, names: Sequence[str]
    ) -> Features:
        """The rows of the features ``ids`` with the property columns ``names``."""
        return self._features().features(layer, selection, ids, names=list(names))
