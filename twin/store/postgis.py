"""The PostGIS store: a twin in one schema of a PostgreSQL database with PostGIS.

A twin's location is a libpq URL with the schema as a parameter of its own,
``postgresql://user@host:5432/city?schema=twin`` (the schema defaults to ``twin``; passwords
come from the URL, ``PGPASSWORD`` or ``~/.pgpass`` as libpq finds them). The schema holds:

- one table per layer, with the GeoPackage's columns, the feature id ``fid`` (``bigint``,
  primary key, 1..N as written) and the geometry ``geom`` typed with the layer's geometry
  type, heights and SRID (``geometry(MultiPolygonZ, 31255)``) under a GiST index;
- ``twin_metadata`` (key, JSON value; the CRS as WKT2), ``twin_layers`` (each layer's
  geometry type, count and extent as built) and ``twin_state`` (a count of edits made in
  place, kept by statement triggers on every layer: part of the change token);
- ``twin_rasters``: the terrain and orthophoto as Cloud-Optimised GeoTIFF bytes, read into
  the local cache as files when first used;
- ``twin_building_versions`` and ``twin_building_history``: the history of each building.
  A build compares every building with the one of the same ``building_id`` in the twin it
  replaces (a digest of its attributes, footprint and LoD solids); an unchanged building
  keeps its ``valid_from``, and a changed or removed one moves to the history with its
  validity period (``valid_from``, ``valid_to``), as 3DCityDB's versioning keeps terminated
  objects.

A build writes the new twin into a schema of its own and swaps it for the old one, all in one
transaction (PostgreSQL's DDL is transactional): readers see the old twin until the commit,
and a failed or killed build leaves nothing. A transaction-level advisory lock keeps a second
build of the same twin from running at once: it is refused with a clear message.

Tables are written and read as Arrow through ADBC's PostgreSQL driver (COPY underneath, no
object per feature); pages of features for the API are read with psycopg
(:mod:`twin.store.postgis_features`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import adbc_driver_postgresql.dbapi as adbc
import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyproj
import shapely
from psycopg import sql

from twin.errors import InputError, StoreError
from twin.files import atomic
from twin.layers import LAYERS, LOD_LAYERS, layer_order
from twin.model import CityModel, LazyLayers, MeshCache
from twin.store.base import (
    DATABASE_SCHEMES,
    Bounds,
    Features,
    LayerInfo,
    Page,
    Selection,
    lazy_model,
)
from twin.store.caches import FileMeshCache
from twin.store.postgis_features import FeatureQueries
from twin.store.rasters import copy_imagery

#: the schema of a twin when its URL names none
DEFAULT_SCHEMA = "twin"
#: the store's own tables, never layers of the twin
OWN_TABLES = (
    "twin_metadata",
    "twin_layers",
    "twin_state",
    "twin_rasters",
    "twin_building_versions",
    "twin_building_history",
)
#: seconds a raster of an older version of the twin stays in the local cache after a newer
#: one is read (a reader holding a model of the older version may still open it)
_RASTER_KEEP_S = 3600
#: the raster names in ``twin_rasters``
_RASTERS = {"terrain": "dtm", "ortho": "ortho"}
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
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class Database:
    """Where a twin is in PostgreSQL.

    Attributes
    ----------
    dsn
        The libpq URL without the ``schema`` parameter.
    schema
        The schema holding the twin.
    shown
        The URL without its password, for messages and logs.
    """

    dsn: str
    schema: str
    shown: str

    @classmethod
    def parse(cls, url: str, /) -> Database:
        """The database and schema of a twin URL.

        Raises
        ------
        StoreError
            When the URL is not a PostgreSQL URL, or its schema not a plain lower-case
            identifier (letters, digits, underscores; 63 at most).

        Examples
        --------
        >>> db = Database.parse("postgresql://me:secret@db.example:5433/city?schema=graz")
        >>> db.schema, db.shown
        ('graz', 'postgresql://me@db.example:5433/city?schema=graz')
        >>> Database.parse("postgresql:///city").schema
        'twin'
        """
        parts = urlsplit(url)
        if parts.scheme not in DATABASE_SCHEMES:
            raise StoreError(f"{url}: not a PostgreSQL URL (postgresql://...)")
        query = parse_qsl(parts.query, keep_blank_values=True)
        schemas = [v for k, v in query if k == "schema"]
        schema = schemas[-1] if schemas else DEFAULT_SCHEMA
        rest = [(k, v) for k, v in query if k != "schema"]
        netloc = parts.netloc.rsplit("@", 1)
        shown_netloc = parts.netloc
        if len(netloc) == 2:
            shown_netloc = netloc[0].split(":", 1)[0] + "@" + netloc[1]
        shown = urlunsplit(
            (parts.scheme, shown_netloc, parts.path, urlencode([*rest, ("schema", schema)]), "")
        )
        if not _SCHEMA_NAME.fullmatch(schema):
            raise StoreError(
                f"{shown}: schema {schema!r} is not a plain lower-case name "
                "(letters, digits and underscores, at most 63)"
            )
        dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), ""))
        return cls(dsn, schema, shown)

    def table(self, name: str, /, schema: str | None = None) -> str:
        """The quoted, schema-qualified name of table ``name``."""
        return f"{_ident(schema or self.schema)}.{_ident(name)}"


def _ident(name: str, /) -> str:
    """``name`` as a quoted SQL identifier (quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _connect(db: Database, /, **options: Any) -> psycopg.Connection:
    """A psycopg connection in autocommit mode.

    Raises
    ------
    StoreError
        When the server cannot be reached or refuses the login.
    """
    try:
        return psycopg.connect(db.dsn, autocommit=True, connect_timeout=10, **options)
    except psycopg.OperationalError as exc:
        raise StoreError(f"{db.shown}: cannot connect: {_reason(exc)}") from exc


def _reason(exc: Exception, /) -> str:
    """The server's or libpq's own words for ``exc``, on one line."""
    diag = getattr(exc, "diag", None)
    text = (diag.message_primary if diag is not None else None) or str(exc)
    return " ".join(text.split())


@contextlib.contextmanager
def _adbc(db: Database, /) -> Iterator[adbc.Connection]:
    """An ADBC connection (a transaction open, as DB-API connections are)."""
    try:
        conn = adbc.connect(db.dsn)
    except adbc.Error as exc:
        raise StoreError(f"{db.shown}: cannot connect: {_reason(exc)}") from exc
    try:
        yield conn
    finally:
        conn.close()


def _srid(crs: pyproj.CRS, /) -> int:
    """The SRID of the geometries: the EPSG code of the CRS's horizontal part (0 if none;
    the exact CRS is always in ``twin_metadata``)."""
    horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
    return horizontal.to_epsg() or 0


def _postgis_type(name: str, /) -> str:
    """The PostGIS type modifier of a layer's geometry type (``MultiPolygon Z`` ->
    ``MultiPolygonZ``; ``Geometry`` for a layer of no documented type)."""
    return (LAYERS.get(name) or "Geometry").replace(" ", "")


# -- writing ---------------------------------------------------------------------------------


def _arrow(model: CityModel, name: str, /) -> pa.Table:
    """Layer ``name`` of ``model`` as an Arrow table: its feature ids ``fid`` 1..N first,
    its attribute columns, and its geometry as WKB in ``geometry`` (for feature layers)."""
    table = model.layers.arrow(name) if isinstance(model.layers, LazyLayers) else None
    if table is None:
        frame = model.layers[name]
        geometry = None
        if isinstance(frame, gpd.GeoDataFrame) and frame.active_geometry_name is not None:
            geometry = shapely.to_wkb(frame.geometry.to_numpy())
            frame = pd.DataFrame(frame.drop(columns=frame.active_geometry_name))
        table = pa.Table.from_pandas(pd.DataFrame(frame), preserve_index=False)
        if geometry is not None:
            table = table.append_column("geometry", pa.array(geometry, pa.binary()))
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        if pa.types.is_dictionary(kind):
            column, kind = column.cast(kind.value_type), kind.value_type
        if pa.types.is_null(kind) or pa.types.is_large_string(kind):
            column = column.cast(pa.string())
        elif pa.types.is_large_binary(kind):
            column = column.cast(pa.binary())
        columns.append(column)
    names = table.column_names
    fid = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
    return pa.Table.from_arrays([fid, *columns], names=["fid", *names])


def _rasters(model: CityModel, folder: Path, /) -> dict[str, Path]:
    """The terrain and orthophoto of ``model`` written as COGs into ``folder``."""
    out = {}
    if model.terrain is not None:
        out["dtm"] = folder / "dtm.tif"
        model.terrain.write_cog(out["dtm"])
    if model.ortho is not None:
        out["ortho"] = folder / "ortho.tif"
        copy_imagery(Path(model.ortho), out["ortho"])
    return out


def _digest_sql(db: Database, schema: str, columns: list[str], lods: list[str], /) -> str:
    """SQL of each building's ``building_id`` and the digest of its attribute ``columns``,
    footprint and LoD solids, in ``schema``: the MD5 of the row's text and of each geometry's
    EWKB (a row as text costs a tenth of a JSON object of it)."""
    row = f"ROW({', '.join(f'b.{_ident(c)}' for c in columns)})::text" if columns else "''"
    parts = [row, "coalesce(md5(ST_AsEWKB(b.geom)), '')"]
    joins = []
    for i, lod in enumerate(lods):
        parts.append(f"coalesce(md5(ST_AsEWKB(l{i}.geom)), '')")
        joins.append(f"LEFT JOIN {db.table(lod, schema)} l{i} ON l{i}.building_id = b.building_id")
    return (
        f"SELECT b.building_id, md5(concat_ws('|', {', '.join(parts)})) AS digest "
        f"FROM {db.table('buildings', schema)} b {' '.join(joins)}"
    )


class _Writer:
    """One build of a twin into PostgreSQL, in one transaction (:func:`write`)."""

    def __init__(self, db: Database, model: CityModel, conn: adbc.Connection):
        self.db, self.model, self.conn = db, model, conn
        self.cur = conn.cursor()
        self.srid = _srid(model.crs)
        self.new = f"{db.schema}__build"
        #: layer -> its attribute columns, as written
        self.columns: dict[str, list[str]] = {}

    def sql(self, text: str, /) -> list[tuple]:
        self.cur.execute(text)
        try:
            return self.cur.fetchall()
        except adbc.Error:  # a statement without rows
            return []

    def lock(self) -> None:
        key = f"twin:{self.db.schema}"
        (locked,) = self.sql(
            f"SELECT pg_try_advisory_xact_lock(hashtextextended({_literal(key)}, 0))"
        )[0]
        if not locked:
            raise StoreError(
                f"{self.db.shown}: another build is writing this twin now; "
                "try again when it has finished"
            )

    def refuse_other_data(self) -> None:
        """Refuse to replace a schema that holds tables but no twin (someone's other data)."""
        tables = {
            r[0]
            for r in self.sql(
                "SELECT table_name FROM information_schema.tables "
                f"WHERE table_schema = {_literal(self.db.schema)}"
            )
        }
        if tables and "twin_metadata" not in tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise StoreError(
                f"{self.db.shown}: schema {self.db.schema!r} holds tables that are not a twin "
                f"({shown}); it is never replaced: choose another schema"
            )

    def layer(self, position: int, name: str) -> None:
        table = _arrow(self.model, name)
        self.columns[name] = [c for c in table.column_names if c not in ("fid", "geometry")]
        self.cur.adbc_ingest(name, table, mode="create", db_schema_name=self.new)
        target = self.db.table(name, self.new)
        self.sql(f"ALTER TABLE {target} ADD PRIMARY KEY (fid)")
        gtype = None
        if "geometry" in table.column_names:
            gtype = _postgis_type(name)
            geom = f"ST_GeomFromWKB(geometry, {self.srid})"
            if gtype.startswith("Multi"):
                geom = f"ST_Multi({geom})"
            self.sql(
                f"ALTER TABLE {target} ALTER COLUMN geometry TYPE geometry({gtype}, {self.srid}) "
                f"USING {geom}"
            )
            self.sql(f"ALTER TABLE {target} RENAME COLUMN geometry TO geom")
            self.sql(f"CREATE INDEX ON {target} USING GIST (geom)")
            extent = "ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)"
            source = f"(SELECT ST_Extent(geom) AS e, count(*) AS n FROM {target}) s"
        else:
            extent = "NULL::float8, NULL::float8, NULL::float8, NULL::float8"
            source = f"(SELECT count(*) AS n FROM {target}) s"
        if name == "buildings" or name in LOD_LAYERS.values():
            if "building_id" in table.column_names:
                self.sql(f"CREATE INDEX ON {target} (building_id)")
        kind = "NULL" if gtype is None else _literal(gtype.removesuffix("Z"))
        has_z = "true" if gtype is not None and gtype.endswith("Z") else "false"
        self.sql(
            f"INSERT INTO {self.db.table('twin_layers', self.new)} "
            f"SELECT {position}, {_literal(name)}, {kind}, {has_z}, n, {extent} FROM {source}"
        )

    def own_tables(self, metadata: dict[str, Any], rasters: dict[str, Path]) -> None:
        table = pa.table(
            {"key": list(metadata), "value": [json.dumps(v) for v in metadata.values()]}
        )
        self.cur.adbc_ingest("twin_metadata", table, mode="create", db_schema_name=self.new)
        names = list(rasters)
        contents = pa.array([p.read_bytes() for p in rasters.values()], pa.binary())
        raster_table = pa.table({"name": pa.array(names, pa.string()), "content": contents})
        self.cur.adbc_ingest("twin_rasters", raster_table, mode="create", db_schema_name=self.new)

    def state(self, names: list[str]) -> None:
        """The edit counter and the triggers that keep it (made after the data is in)."""
        state = self.db.table("twin_state", self.new)
        touch = self.db.table("twin_touch", self.new)
        self.sql(f"CREATE TABLE {state} (edits bigint NOT NULL)")
        self.sql(f"INSERT INTO {state} VALUES (0)")
        self.sql(
            f"CREATE FUNCTION {touch}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "EXECUTE format('UPDATE %I.twin_state SET edits = edits + 1', TG_TABLE_SCHEMA); "
            "RETURN NULL; END $$"
        )
        for name in names:
            self.sql(
                f"CREATE TRIGGER twin_touch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {self.db.table(name, self.new)} FOR EACH STATEMENT EXECUTE FUNCTION {touch}()"
            )

    def history(self, names: list[str]) -> None:
        """Carry the building history over from the twin being replaced."""
        db, new, old = self.db, self.new, self.db.schema
        versions, history = (
            db.table("twin_building_versions", new),
            db.table("twin_building_history", new),
        )
        lod_columns = ", ".join(
            f"{lod} geometry(MultiPolygonZ, {self.srid})" for lod in LOD_LAYERS.values()
        )
        self.sql(
            f"CREATE TABLE {history} (building_id text, valid_from timestamptz, "
            f"valid_to timestamptz, digest text, properties jsonb, "
            f"footprint geometry(MultiPolygon, {self.srid}), {lod_columns})"
        )
        self.sql(
            f"CREATE TABLE {versions} (building_id text PRIMARY KEY, valid_from timestamptz, "
            "digest text)"
        )
        if "buildings" not in names:
            return
        new_lods = [lod for lod in LOD_LAYERS.values() if lod in names]
        self.sql(
            f"INSERT INTO {versions} SELECT DISTINCT ON (building_id) building_id, now(), digest "
            f"FROM ({_digest_sql(db, new, self.columns['buildings'], new_lods)}) d "
            "WHERE building_id IS NOT NULL"
        )
        old_tables = {
            r[0]
            for r in self.sql(
                "SELECT table_name FROM information_schema.tables "
                f"WHERE table_schema = {_literal(old)}"
            )
        }
        if not {"buildings", "twin_building_versions", "twin_building_history"} <= old_tables:
            return
        self.sql(
            f"UPDATE {versions} n SET valid_from = o.valid_from "
            f"FROM {db.table('twin_building_versions', old)} o "
            "WHERE o.building_id = n.building_id AND o.digest = n.digest"
        )
        self.sql(f"INSERT INTO {history} SELECT * FROM {db.table('twin_building_history', old)}")
        old_lods = [lod for lod in LOD_LAYERS.values() if lod in old_tables]
        lod_values = ", ".join(
            f"(SELECT ST_Multi(l.geom) FROM {db.table(lod, old)} l "
            "WHERE l.building_id = b.building_id LIMIT 1)"
            if lod in old_lods
            else "NULL"
            for lod in LOD_LAYERS.values()
        )
        self.sql(
            f"INSERT INTO {history} SELECT b.building_id, o.valid_from, now(), o.digest, "
            f"to_jsonb(b) - 'fid' - 'geom', ST_Multi(b.geom), {lod_values} "
            f"FROM {db.table('buildings', old)} b "
            f"JOIN {db.table('twin_building_versions', old)} o ON o.building_id = b.building_id "
            f"LEFT JOIN {versions} n ON n.building_id = b.building_id "
            "WHERE n.digest IS DISTINCT FROM o.digest"
        )


def _literal(value: Any, /) -> str:
    """``value`` as an SQL literal, quoted by psycopg."""
    return sql.Literal(value).as_string(None)


def _ensure_postgis(db: Database, /) -> None:
    """Make sure the database has PostGIS (creating the extension where allowed).

    Raises
    ------
    StoreError
        When the database has no PostGIS and the login may not create it.
    """
    with _connect(db) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except psycopg.Error as exc:
            raise StoreError(
                f"{db.shown}: the database has no PostGIS and it cannot be added "
                f"({_reason(exc)}); ask its administrator to run CREATE EXTENSION postgis"
            ) from exc


def write(model: CityModel, location: str, /) -> str:
    """Write ``model`` into the schema of ``location`` in one transaction (the module's doc).

    Returns
    -------
    str
        The location.

    Raises
    ------
    StoreError
        When the database cannot be reached, has no PostGIS, another build of the twin is
        running, or the write fails (then nothing of it is left and the previous twin stays).
    """
    db = Database.parse(location)
    _ensure_postgis(db)
    metadata = dict(model.metadata, crs=model.crs.to_wkt())
    names = [n for n in layer_order(list(model.layers)) if n not in OWN_TABLES]
    with tempfile.TemporaryDirectory(prefix="twin-rasters-") as folder, _adbc(db) as conn:
        rasters = _rasters(model, Path(folder))
        for key, name in _RASTERS.items():
            if name in rasters:
                metadata[key] = name
        writer = _Writer(db, model, conn)
        try:
            writer.lock()
            writer.refuse_other_data()
            writer.sql(f"DROP SCHEMA IF EXISTS {_ident(writer.new)} CASCADE")
            writer.sql(f"CREATE SCHEMA {_ident(writer.new)}")
            writer.sql(
                f"CREATE TABLE {db.table('twin_layers', writer.new)} (position integer, "
                "name text PRIMARY KEY, geometry_type text, has_z boolean, count bigint, "
                "minx float8, miny float8, maxx float8, maxy float8)"
            )
            for position, name in enumerate(names):
                writer.layer(position, name)
            writer.own_tables(metadata, rasters)
            writer.history(names)
            writer.state(names)
            writer.sql(f"DROP SCHEMA IF EXISTS {_ident(db.schema)} CASCADE")
            writer.sql(f"ALTER SCHEMA {_ident(writer.new)} RENAME TO {_ident(db.schema)}")
            conn.commit()
        except adbc.Error as exc:
            conn.rollback()
            raise StoreError(f"{db.shown}: cannot write the twin: {_reason(exc)}") from exc
        except BaseException:
            conn.rollback()
            raise
    return location


# -- reading ---------------------------------------------------------------------------------


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
    place): when it changed, the metadata and layers are read anew. Each thread queries on a
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
            conn = _connect(
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
            raise InputError(f"filter: {_reason(exc)}") from exc
        except psycopg.errors.UndefinedTable as exc:
            raise StoreError(f"{self.location}: the twin is gone: {_reason(exc)}") from exc
        except psycopg.OperationalError as exc:
            conn.close()
            problem = f"{self.location}: the database is unreachable: {_reason(exc)}"
            raise _Lost(problem) from exc

    def _current(self) -> tuple[int, int]:
        """The change token's parts now, after reading a changed twin anew."""
        db = self.database
        try:
            state = self.execute(
                "SELECT (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s)::bigint, "
                f"edits FROM {db.table('twin_state')}",
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
        layers = {}
        for name, gtype, has_z, count, *box in self.execute(
            f"SELECT name, geometry_type, has_z, count, minx, miny, maxx, maxy "
            f"FROM {db.table('twin_layers')} ORDER BY position"
        ):
            if state[1]:  # edited in place since the build: count and measure anew
                count, *box = self._measure(name, gtype is not None)
            bounds = None if box[0] is None else tuple(float(v) for v in box)
            columns_of = columns.get(name, {})
            layers[name] = LayerInfo(name, gtype, bool(has_z), columns_of, int(count), bounds)
        self._raw, self._crs, self._layers, self._aligned = raw, crs, layers, {}
        self._srid = _srid(crs)
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
        identity = f"{self.database.shown}:{':'.join(map(str, self._current()))}"
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
        return {k: v for k, v in self._raw.items() if k not in _RASTERS}

    def _raster(self, key: str) -> Path | None:
        self._current()
        name = self._raw.get(key)
        if name is None:
            return None
        token = self.token()
        path = self.cache_path(f"{name}-{token}.tif")
        if not path.exists():
            rows = self.execute(
                f"SELECT content FROM {self.database.table('twin_rasters')} WHERE name = %(n)s",
                {"n": name},
            )
            if not rows:
                return None
            # a reader of an older version may still open its file: those go after an hour
            stale = time.time() - _RASTER_KEEP_S
            for old in path.parent.glob(f"{name}-*.tif"):
                with contextlib.suppress(OSError):
                    if old.stat().st_mtime < stale:
                        old.unlink()
            with atomic(path) as tmp:
                tmp.write_bytes(rows[0][0])
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
        select = ["t.fid", *(f"t.{_ident(c)}" for c in names)]
        if geometry and info.geometry_type is not None:
            select.append("ST_AsBinary(t.geom) AS geometry")
        query = (
            f"SELECT {', '.join(select)} FROM {self.database.table(name)} t"
            f"{' WHERE ' + where if where else ''} ORDER BY t.fid"
        )
        with _adbc(self.database) as conn, conn.cursor() as cur:
            try:
                cur.execute(query)
                table = cur.fetch_arrow_table()
            except adbc.Error as exc:
                raise StoreError(f"{self.location}: cannot read {name!r}: {_reason(exc)}") from exc
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
            conds.append(f"t.fid = ANY({_literal(wanted)}::bigint[])")
        for column, values in (where_in or {}).items():
            items = [v.item() if isinstance(v, np.generic) else v for v in values]
            conds.append(
                f"t.{_ident(column)} IN ({', '.join(map(_literal, items))})" if items else "false"
            )
        table = self._select(name, columns=columns, geometry=geometry, where=" AND ".join(conds))
        ids = table.column("fid").to_numpy()
        frame = table.drop_columns(
            ["fid", *(["geometry"] if "geometry" in table.column_names else [])]
        ).to_pandas()
        if fids is not None:  # in the order asked, those gone left out
            position = {int(f): i for i, f in enumerate(ids)}
            order = [position[i] for i in wanted if i in position]
            frame = frame.iloc[order].reset_index(drop=True)
            table = table.take(pa.array(order, pa.int64()))  # typed: [] is of no type
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
        """One page of the features of ``layer`` that ``selection`` selects."""
        self._current()
        return self.queries.page(layer, selection, limit=limit, offset=offset, count=count)

    def features(
        self, layer: str, selection: Selection, ids: np.ndarray, /, *, names: Sequence[str]
    ) -> Features:
        """The rows of the features ``ids`` with the property columns ``names``."""
        self._current()
        return self.queries.features(layer, selection, ids, names=list(names))

    # -- history -----------------------------------------------------------------------------

    def history(self, building_id: str | None = None, /) -> gpd.GeoDataFrame:
        """The earlier versions of the twin's buildings (of one building, with
        ``building_id``): its attributes as a JSON object, its footprint, its validity
        period, oldest first."""
        self._current()
        where = "" if building_id is None else f" WHERE building_id = {_literal(building_id)}"
        with _adbc(self.database) as conn, conn.cursor() as cur:
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
