"""The PostGIS store: a twin in one schema of a PostgreSQL database with PostGIS.

The location (:mod:`twin.store.postgis_db`) names the database and the schema; how a build
lays the schema out and replaces it in one transaction, with each building's history, is in
:mod:`twin.store.postgis_write`. Reading: layers come out as Arrow through ADBC's PostgreSQL
driver (COPY underneath, no object per feature); pages of features for the API are read with
psycopg (:mod:`twin.store.postgis_features`); the terrain and orthophoto are read from
``twin_rasters`` into the local cache as files when first used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyproj
import shapely

from twin.errors import InputError, StoreError
from twin.files import atomic
from twin.model import CityModel, MeshCache
from twin.store.base import Bounds, Features, LayerInfo, Page, Selection, lazy_model
from twin.store.caches import FileMeshCache
from twin.store.postgis_db import (
    RASTERS,
    Database,
    adbc_connect,
    connect,
    ident,
    literal,
    reason,
    srid_of,
)
from twin.store.postgis_features import FeatureQueries
from twin.store.postgis_write import write

__all__ = ["Database", "PostGISStore", "write"]

#: seconds a raster of an older version of the twin stays in the local cache after a newer
#: one is read (a reader holding a model of the older version may still open it)
_RASTER_KEEP_S = 3600
#: seconds a thread's :meth:`PostGISStore.token` stands for its pages and features: a
#: server's request asks for the token, then a page, then its features, within milliseconds
_RECENT_S = 1.0
#: PostgreSQL column type -> JSON type of LayerInfo.columns
_TYPES = {
    "text": "string",
    "character varying": "string",
    "double precision": "number",
    "real": "number",
    "numeric": "number",
    "bigint": "integer",
    "integer": "integer",
    "smallint": "integer",
    "boolean": "boolean",
}


def _close_all(connections: list[psycopg.Connection], /) -> None:
    """Close every connection a store opened (its threads')."""
    for conn in connections:
        conn.close()
    connections.clear()


def _cache_root() -> Path:
    """Where the derived caches of database twins live on this machine: ``TWIN_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/twin``, else ``~/.cache/twin``."""
    if os.environ.get("TWIN_CACHE_DIR"):
        return Path(os.environ["TWIN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "twin"


class _Lost(StoreError):
    """The database ended a store's connection, or cannot be reached."""


class _ThreadEnd:
    """Kept in a thread's local values, it closes the thread's connection when the thread
    ends and they go. A server's short-lived threads (the writer of each twin version's
    feature texts, :mod:`twin.api.feature_texts`) would otherwise leave one open connection
    each, until the database refuses new ones."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: psycopg.Connection, /):
        self.conn = conn
        weakref.finalize(self, conn.close)


class PostGISStore:
    """A twin kept in a schema of a PostGIS database (:class:`twin.store.base.Store`).

    Opening reads the metadata and the list of layers. Every query first reads the change
    token (the schema's object id, which a build replaces, and the count of edits made in
    place): when it changed, the metadata and layers are read anew, the layers edited in
    place counted and measured again. Each thread queries on a
    connection of its own; all of them are closed when the store is dropped.

    Parameters
    ----------
    location
        ``postgresql://user@host:port/dbname?schema=twin``.
    timeout
        Seconds a query for a page of features may run (then a :class:`StoreError`).

    Raises
    ------
    StoreError
        When the database cannot be reached, or holds no twin in that schema.
    """

    def __init__(self, location: str, /, *, timeout: float = 10.0):
        self.database = Database.parse(location)
        self.location = self.database.shown
        self._url = location
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[psycopg.Connection] = []
        self._connections_lock = threading.Lock()  # not _lock: held while a query may connect
        # the threads' connections close with the store, or when it is collected
        self.close = weakref.finalize(self, _close_all, self._connections)
        self._state: tuple[int, int] | None = None
        self._raw: dict[str, Any] = {}
        self._crs = pyproj.CRS.from_epsg(4326)
        self._srid = 0
        self._layers: dict[str, LayerInfo] = {}
        self._dense: dict[str, bool] = {}
        self._aligned: dict[tuple[str, str], bool] = {}
        self.queries = FeatureQueries(self)
        self._current()

    def __repr__(self) -> str:
        return f"PostGISStore({self.location!r})"

    # -- connections and versions --------------------------------------------------------

    def connection(self) -> psycopg.Connection:
        """This thread's psycopg connection (made on first use, remade after a failure)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = connect(
                self.database, options=f"-c statement_timeout={int(self.timeout * 1000)}"
            )
            self._local.conn = conn
            with self._connections_lock:
                self._connections[:] = [c for c in self._connections if not c.closed]
                self._connections.append(conn)
        return conn

    def execute(self, query: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        """Rows of one SQL query on this thread's connection.

        A connection the database ended since its last query (a restart, an idle connection
        ended by ``idle_session_timeout``) is replaced and the query, a read, sent again.

        Raises
        ------
        StoreError
            When the query runs over the time limit or the database cannot be reached.
        InputError
            When the server refuses the values of a filter (a text compared with a number).
        """
        end = getattr(self._local, "end", None)
        used = end is not None and not end.conn.closed  # else a new one: no second try
        try:
            return self._execute(query, params)
        except _Lost:
            if not used:
                raise
        return self._execute(query, params)

    def _execute(self, query: str, params: Mapping[str, Any] | None) -> list[tuple]:
        """:meth:`execute` on this thread's connection as it is (:class:`_Lost` when the
        database ended it)."""
        conn = self.connection()
        end = getattr(self._local, "end", None)
        if end is None or end.conn is not conn:
            self._local.end = _ThreadEnd(conn)
        try:
            with conn.cursor() as cur:
                cur.execute(query.encode(), params)
                return cur.fetchall() if cur.description is not None else []
        except psycopg.errors.QueryCanceled as exc:
            raise StoreError(f"the query took longer than {self.timeout:g} s") from exc
        except (
            psycopg.DataError,  # SQLSTATE class 22: a value of the wrong type ("abc" as a number)
            psycopg.errors.UndefinedFunction,  # no operator for the types (text = integer)
            psycopg.errors.DatatypeMismatch,
        ) as exc:
            raise InputError(f"filter: {reason(exc)}") from exc
        except psycopg.errors.UndefinedTable as exc:
            raise StoreError(f"{self.location}: the twin is gone: {reason(exc)}") from exc
        except psycopg.errors.UndefinedColumn as exc:
            raise StoreError(
                f"{self.location}: the twin's tables are not those this version of twin writes "
                f"(an older one wrote them?): {reason(exc)}; build or copy the twin anew"
            ) from exc
        except psycopg.OperationalError as exc:
            conn.close()
            problem = f"{self.location}: the database is unreachable: {reason(exc)}"
            raise _Lost(problem) from exc

    def _current(self, *, within: float = 0.0) -> tuple[int, int]:
        """The change token's parts now, after reading a changed twin anew; with ``within``,
        those of this thread's :meth:`token` if it asked less than ``within`` seconds ago (a
        server asks for the token at the start of a request, then for a page and its
        features: one round trip, not three)."""
        asked = getattr(self._local, "asked", None)
        if within and asked is not None and time.monotonic() - asked[0] < within:
            return asked[1]
        db = self.database
        try:
            state = self.execute(
                "SELECT (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s)::bigint, "
                f"coalesce(sum(edits), 0)::bigint FROM {db.table('twin_state')}",
                {"schema": db.schema},
            )
        except StoreError as exc:
            if isinstance(exc.__cause__, psycopg.errors.UndefinedTable):
                raise StoreError(
                    f"{self.location}: no twin in schema {db.schema!r} of this database"
                ) from None
            raise
        current = (int(state[0][0]), int(state[0][1]))
        if current != self._state:
            with self._lock:
                if current != self._state:
                    self._load(current)
        return current

    def _load(self, state: tuple[int, int]) -> None:
        db = self.database
        rows = self.execute(f"SELECT key, value FROM {db.table('twin_metadata')}")
        raw = {k: json.loads(v) for k, v in rows}
        crs = pyproj.CRS.from_wkt(raw.pop("crs"))
        columns: dict[str, dict[str, str]] = {}
        for table, column, kind in self.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %(schema)s ORDER BY table_name, ordinal_position",
            {"schema": db.schema},
        ):
            if column not in ("fid", "geom"):
                columns.setdefault(table, {})[column] = _TYPES.get(kind, "string")
        edited = {
            name
            for name, edits in self.execute(f"SELECT layer, edits FROM {db.table('twin_state')}")
            if edits
        }
        layers, dense = {}, {}
        for name, gtype, has_z, count, *box in self.execute(
            f"SELECT name, geometry_type, has_z, count, minx, miny, maxx, maxy "
            f"FROM {db.table('twin_layers')} ORDER BY position"
        ):
            dense[name] = True  # fids 1..N as written
            if name in edited:  # edited in place since the build: count and measure anew
                count, *box = self._measure(name, gtype is not None)
                first, last = self.execute(f"SELECT min(fid), max(fid) FROM {db.table(name)}")[0]
                dense[name] = count == 0 or (first == 1 and last == count)
            bounds = None if box[0] is None else tuple(float(v) for v in box)
            columns_of = columns.get(name, {})
            layers[name] = LayerInfo(name, gtype, bool(has_z), columns_of, int(count), bounds)
        self._raw, self._crs, self._layers, self._aligned = raw, crs, layers, {}
        self._dense = dense
        self._srid = srid_of(crs)
        self._state = state

    def _measure(self, name: str, features: bool) -> tuple:
        table = self.database.table(name)
        if not features:
            return (self.execute(f"SELECT count(*) FROM {table}")[0][0], None, None, None, None)
        return self.execute(
            "SELECT n, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            f"FROM (SELECT count(*) AS n, ST_Extent(geom) AS e FROM {table}) s"
        )[0]

    def token(self) -> str:
        """A text that changes whenever the twin does (16 hex digits of a hash of the
        schema's object id and the count of edits in place)."""
        current = self._current()
        self._local.asked = (time.monotonic(), current)
        identity = f"{self.database.shown}:{':'.join(map(str, current))}"
        return hashlib.sha256(identity.encode()).hexdigest()[:16]

    # -- what the twin is -----------------------------------------------------------------

    @property
    def crs(self) -> pyproj.CRS:
        """The twin's compound CRS, exactly as written (WKT2 in ``twin_metadata``)."""
        self._current()
        return self._crs

    @property
    def srid(self) -> int:
        """The SRID of the twin's geometries (0 when its CRS has no EPSG code), as last read."""
        return self._srid

    def metadata(self) -> dict[str, Any]:
        """The twin's metadata, without its CRS and raster names."""
        self._current()
        return {k: v for k, v in self._raw.items() if k not in RASTERS}

    def _raster(self, key: str) -> Path | None:
        token = self.token()  # reads a changed twin anew
        name = self._raw.get(key)
        if name is None:
            return None
        path = self.cache_path(f"{name}-{token}.tif")
        if not path.exists():
            table = self.database.table("twin_rasters")
            try:
                parts = self.execute(
                    f"SELECT part FROM {table} WHERE name = %(n)s ORDER BY part", {"n": name}
                )
                one = "AND part = %(p)s"
            except StoreError as exc:
                if not isinstance(exc.__cause__, psycopg.errors.UndefinedColumn):
                    raise
                # kept in one row (before twin 0.2.1)
                parts = self.execute(f"SELECT 0 FROM {table} WHERE name = %(n)s", {"n": name})
                one = ""
            if not parts:
                return None
            # a reader of an older version may still open its file: those go after an hour
            stale = time.time() - _RASTER_KEEP_S
            for old in path.parent.glob(f"{name}-*.tif"):
                with contextlib.suppress(OSError):
                    if old.stat().st_mtime < stale:
                        old.unlink()
            with atomic(path) as tmp, tmp.open("wb") as file:
                for (part,) in parts:  # a part at a time (RASTER_PART bytes)
                    file.write(
                        self.execute(
                            f"SELECT content FROM {table} WHERE name = %(n)s {one}",
                            {"n": name, "p": part},
                        )[0][0]
                    )
        return path

    def terrain_path(self) -> Path | None:
        """The terrain COG, read from ``twin_rasters`` into the local cache."""
        return self._raster("terrain")

    def ortho_path(self) -> Path | None:
        """The orthophoto COG, read from ``twin_rasters`` into the local cache."""
        return self._raster("ortho")

    def cache_path(self, name: str, /) -> Path:
        """The derived cache ``name`` in this machine's cache folder for this twin
        (``~/.cache/twin/postgis-<16 hex digits of host, port, database and schema>/``)."""
        key = hashlib.sha256(self.database.shown.encode()).hexdigest()[:16]
        folder = _cache_root() / f"postgis-{key}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def mesh_cache(self) -> MeshCache:
        """The merged meshes in the local cache folder, stamped with the token."""
        return FileMeshCache(self)

    # -- the model -------------------------------------------------------------------------

    def read_model(self) -> CityModel:
        """The twin; each layer is read when first used."""
        return lazy_model(self)

    def write_model(self, model: CityModel, /) -> None:
        """Replace the twin by ``model`` in one transaction (:func:`write`)."""
        write(model, self._url)
        self._current()

    # -- layers ----------------------------------------------------------------------------

    def layers(self) -> dict[str, LayerInfo]:
        """Every layer (feature layers and tables), in the documented order."""
        self._current()
        return dict(self._layers)

    def table(self, name: str, /) -> str:
        """The quoted, schema-qualified name of layer ``name``."""
        return self.database.table(name)

    def dense(self, name: str, /) -> bool:
        """Whether the feature ids of layer ``name`` run 1 to its count (as last read): a
        page without filter or sort is then a range of ids, read by no query."""
        return self._dense.get(name, False)

    def layer(self, name: str, /) -> LayerInfo:
        """What the store knows of layer ``name``, as last read (the public methods read a
        changed twin anew before they ask).

        Raises
        ------
        InputError
            For an unknown layer.
        """
        layers = self._layers
        if name not in layers:
            have = ", ".join(layers) or "none"
            raise InputError(f"{self.location}: the twin has no layer {name!r} (it has: {have})")
        return layers[name]

    def _select(
        self,
        name: str,
        *,
        columns: Sequence[str] | None,
        geometry: bool,
        where: str = "",
    ) -> pa.Table:
        info = self.layer(name)
        names = list(info.columns) if columns is None else list(columns)
        select = ["t.fid", *(f"t.{ident(c)}" for c in names)]
        if geometry and info.geometry_type is not None:
            select.append("ST_AsBinary(t.geom) AS geometry")
        query = (
            f"SELECT {', '.join(select)} FROM {self.database.table(name)} t"
            f"{' WHERE ' + where if where else ''} ORDER BY t.fid"
        )
        with adbc_connect(self.database) as conn, conn.cursor() as cur:
            try:
                cur.execute(query)
                table = cur.fetch_arrow_table()
            except adbc.Error as exc:
                raise StoreError(f"{self.location}: cannot read {name!r}: {reason(exc)}") from exc
        # plain fields: the driver's notes of PostgreSQL types stay behind
        return pa.Table.from_arrays(table.columns, names=table.column_names)

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
        """Rows of one layer (:meth:`twin.store.base.Store.read_layer`), through ADBC.

        Raises
        ------
        InputError
            For an unknown layer or column, or ``fids`` with ``bbox`` or ``where_in``.
        """
        self._current()
        info = self.layer(name)
        unknown = sorted({*(columns or ()), *(where_in or {})} - set(info.columns))
        if unknown:
            raise InputError(f"{self.location}: layer {name!r} has no columns {unknown}")
        if fids is not None and (bbox is not None or where_in):
            raise InputError("read_layer: fids go alone, without bbox or where_in")
        conds = []
        if bbox is not None and info.geometry_type is not None:
            box = ", ".join(repr(float(v)) for v in bbox)
            conds.append(f"ST_Intersects(t.geom, ST_MakeEnvelope({box}, {self.srid}))")
        if fids is not None:
            wanted = [int(i) for i in fids]
            conds.append(f"t.fid = ANY({literal(wanted)}::bigint[])")
        for column, values in (where_in or {}).items():
            items = [v.item() if isinstance(v, np.generic) else v for v in values]
            conds.append(
                f"t.{ident(column)} IN ({', '.join(map(literal, items))})" if items else "false"
            )
        table = self._select(name, columns=columns, geometry=geometry, where=" AND ".join(conds))
        ids = table.column("fid").to_numpy()
        frame = table.drop_columns(
            ["fid", *(["geometry"] if "geometry" in table.column_names else [])]
        ).to_pandas()
        if fids is not None:  # in the order asked, those gone left out
            where = pd.Index(ids).get_indexer(np.asarray(wanted, dtype=np.int64))
            order = where[where >= 0]
            frame = frame.iloc[order].reset_index(drop=True)
            table = table.take(pa.array(order, pa.int64()))
        if "geometry" in table.column_names:
            geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
            return gpd.GeoDataFrame(frame, geometry=geoms, crs=self._crs)
        return frame

    def read_arrow(self, name: str, /) -> pa.Table:
        """A whole layer as an Arrow table (:meth:`twin.store.base.Store.read_arrow`)."""
        self._current()
        table = self._select(name, columns=None, geometry=True)
        return table.drop_columns(["fid"])

    def aligned(self, base: str, layer: str, /) -> bool:
        """Whether ``layer`` has one row per feature of ``base``, with its fid and
        ``building_id``."""
        layers = self.layers()
        if base not in layers or layer not in layers:
            return False
        if (base, layer) not in self._aligned:
            db = self.database
            mismatched = self.execute(
                f"SELECT count(*) FROM {db.table(base)} b LEFT JOIN {db.table(layer)} l "
                "ON l.fid = b.fid WHERE l.building_id IS DISTINCT FROM b.building_id"
            )[0][0]
            self._aligned[base, layer] = mismatched == 0
        return self._aligned[base, layer]

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
        """One page of the features of ``layer`` that ``selection`` selects (of the twin as
        this thread's :meth:`token` found it, if it asked in the last :data:`_RECENT_S` s)."""
        self._current(within=_RECENT_S)
        return self.queries.page(layer, selection, limit=limit, offset=offset, count=count)

    def features(
        self, layer: str, selection: Selection, ids: np.ndarray, /, *, names: Sequence[str]
    ) -> Features:
        """The rows of the features ``ids`` with the property columns ``names`` (of the twin as
        this thread's :meth:`token` found it, if it asked in the last :data:`_RECENT_S` s)."""
        self._current(within=_RECENT_S)
        return self.queries.features(layer, selection, ids, names=list(names))

    # -- history -----------------------------------------------------------------------------

    def history(self, building_id: str | None = None, /) -> gpd.GeoDataFrame:
        """The earlier versions of the twin's buildings (of one building, with
        ``building_id``): its attributes as a JSON object, its footprint, its validity
        period, oldest first."""
        self._current()
        where = "" if building_id is None else f" WHERE building_id = {literal(building_id)}"
        with adbc_connect(self.database) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT building_id, valid_from, valid_to, digest, "
                "properties::text AS properties, ST_AsBinary(footprint) AS geometry "
                f"FROM {self.database.table('twin_building_history')}"
                f"{where} ORDER BY building_id, valid_from"
            )
            table = cur.fetch_arrow_table()
        frame = table.drop_columns(["geometry"]).to_pandas()
        frame["properties"] = [json.loads(p) for p in frame["properties"]]
        geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
        return gpd.GeoDataFrame(frame, geometry=geoms, crs=self._crs)

    def versions(self) -> pd.DataFrame:
        """Each current building's ``building_id``, ``valid_from`` and digest."""
        rows = self.execute(
            f"SELECT building_id, valid_from, digest FROM "
            f"{self.database.table('twin_building_versions')} ORDER BY building_id"
        )
        return pd.DataFrame(rows, columns=["building_id", "valid_from", "digest"])
