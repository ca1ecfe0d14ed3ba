"""Writing a twin into PostGIS: one schema, swapped for the old one in one transaction.

The schema holds:

- one table per layer, with the GeoPackage's columns, the feature id ``fid`` (``bigint``,
  primary key, 1..N as written) and the geometry ``geom`` typed with the layer's geometry
  type, heights and SRID (``geometry(MultiPolygonZ, 31255)``) under a GiST index;
- ``twin_metadata`` (key, JSON value; the CRS as WKT2), ``twin_layers`` (each layer's
  geometry type, count and extent as built) and ``twin_state`` (the count of edits made in
  place to each layer, kept by statement triggers: part of the change token);
- ``twin_rasters``: the terrain and orthophoto as Cloud-Optimised GeoTIFF bytes, in parts;
- ``twin_building_versions`` and ``twin_building_history``: the history of each building.
  A build compares every building with the one of the same ``building_id`` in the twin it
  replaces (a digest of its attributes, footprint and LoD solids); an unchanged building
  keeps its ``valid_from``, and a changed or removed one moves to the history with its
  validity period (``valid_from``, ``valid_to``), as 3DCityDB's versioning keeps terminated
  objects.

A build writes the new twin into a schema of its own and swaps it for the old one, all in one
transaction (PostgreSQL's DDL is transactional): readers see the old twin until the commit,
and a failed or killed build leaves nothing. A transaction-level advisory lock keeps a second
build of the same twin from running at once: it is refused with a clear message. Tables go
in as Arrow through ADBC's PostgreSQL driver (COPY underneath, no object per feature).
"""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import shapely

from twin.errors import StoreError
from twin.layers import LAYERS, LOD_LAYERS, layer_order
from twin.model import CityModel, LazyLayers
from twin.store.postgis_db import (
    OWN_TABLES,
    RASTERS,
    Database,
    adbc_connect,
    connect,
    ident,
    literal,
    reason,
    srid_of,
)
from twin.store.rasters import copy_imagery


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


#: bytes of a raster in one row of ``twin_rasters`` (its parts numbered from 0): PostgreSQL
#: refuses a value over 1 GB (`its limits
#: <https://www.postgresql.org/docs/current/limits.html>`_), and the terrain COG of the
#: generated 1,000,000-building city is 1.9 GB
RASTER_PART = 64 * 2**20


def _raster_row(name: str, part: int, content: bytes, /) -> pa.Table:
    """One row of ``twin_rasters``: part ``part`` of raster ``name``."""
    return pa.table(
        {
            "name": pa.array([name], pa.string()),
            "part": pa.array([part], pa.int32()),
            "content": pa.array([content], pa.binary()),
        }
    )


def _digest_sql(db: Database, schema: str, columns: list[str], lods: list[str], /) -> str:
    """SQL of each building's ``building_id`` and the digest of its attribute ``columns``,
    footprint and LoD solids, in ``schema``: the MD5 of the row's text and of each geometry's
    EWKB (a row as text is far cheaper to make than a JSON object of it)."""
    row = f"ROW({', '.join(f'b.{ident(c)}' for c in columns)})::text" if columns else "''"
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
        self.srid = srid_of(model.crs)
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
            f"SELECT pg_try_advisory_xact_lock(hashtextextended({literal(key)}, 0))"
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
                f"WHERE table_schema = {literal(self.db.schema)}"
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
        kind = "NULL" if gtype is None else literal(gtype.removesuffix("Z"))
        has_z = "true" if gtype is not None and gtype.endswith("Z") else "false"
        self.sql(
            f"INSERT INTO {self.db.table('twin_layers', self.new)} "
            f"SELECT {position}, {literal(name)}, {kind}, {has_z}, n, {extent} FROM {source}"
        )

    def own_tables(self, metadata: dict[str, Any], rasters: dict[str, Path]) -> None:
        table = pa.table(
            {"key": list(metadata), "value": [json.dumps(v) for v in metadata.values()]}
        )
        self.cur.adbc_ingest("twin_metadata", table, mode="create", db_schema_name=self.new)
        mode = "create"
        for name, path in rasters.items():
            with path.open("rb") as file:  # a part at a time: a terrain may be gigabytes
                for part in itertools.count():
                    content = file.read(RASTER_PART)
                    if part and not content:
                        break
                    self.cur.adbc_ingest(
                        "twin_rasters",
                        _raster_row(name, part, content),
                        mode=mode,
                        db_schema_name=self.new,
                    )
                    mode = "append"
        if mode == "create":  # no raster: the table all the same
            empty = _raster_row("", 0, b"").slice(0, 0)
            self.cur.adbc_ingest("twin_rasters", empty, mode=mode, db_schema_name=self.new)

    def state(self, names: list[str]) -> None:
        """The count of edits made in place, a row per layer, and the statement triggers
        that keep it (made after the data is in): the reader measures anew only the layers
        edited."""
        state = self.db.table("twin_state", self.new)
        touch = self.db.table("twin_touch", self.new)
        self.sql(f"CREATE TABLE {state} (layer text PRIMARY KEY, edits bigint NOT NULL)")
        if names:
            rows = ", ".join(f"({literal(name)}, 0)" for name in names)
            self.sql(f"INSERT INTO {state} VALUES {rows}")
        self.sql(
            f"CREATE FUNCTION {touch}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "EXECUTE format('UPDATE %I.twin_state SET edits = edits + 1 WHERE layer = %L', "
            "TG_TABLE_SCHEMA, TG_TABLE_NAME); RETURN NULL; END $$"
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
                f"WHERE table_schema = {literal(old)}"
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


def _ensure_postgis(db: Database, /) -> None:
    """Make sure the database has PostGIS (creating the extension where allowed).

    Raises
    ------
    StoreError
        When the database has no PostGIS and the login may not create it.
    """
    with connect(db) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except psycopg.Error as exc:
            raise StoreError(
                f"{db.shown}: the database has no PostGIS and it cannot be added "
                f"({reason(exc)}); ask its administrator to run CREATE EXTENSION postgis"
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
    with tempfile.TemporaryDirectory(prefix="twin-rasters-") as folder, adbc_connect(db) as conn:
        rasters = _rasters(model, Path(folder))
        for key, name in RASTERS.items():
            if name in rasters:
                metadata[key] = name
        writer = _Writer(db, model, conn)
        try:
            writer.lock()
            writer.refuse_other_data()
            writer.sql(f"DROP SCHEMA IF EXISTS {ident(writer.new)} CASCADE")
            writer.sql(f"CREATE SCHEMA {ident(writer.new)}")
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
            writer.sql(f"DROP SCHEMA IF EXISTS {ident(db.schema)} CASCADE")
            writer.sql(f"ALTER SCHEMA {ident(writer.new)} RENAME TO {ident(db.schema)}")
            conn.commit()
        except adbc.Error as exc:
            conn.rollback()
            raise StoreError(f"{db.shown}: cannot write the twin: {reason(exc)}") from exc
        except BaseException:
            conn.rollback()
            raise
    return location
