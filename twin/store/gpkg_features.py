"""Features from a GeoPackage by SQL: R-tree for bbox, parameterised filters, pages.

No layer is ever loaded whole. A page is read in two steps: which features it holds (their
ids in order, and how many match in all), then the rows of those features by id, so that a
caller who has some of them written already reads only the others. A bbox query asks the
layer's GeoPackage R-tree for the bounds of the bbox's region; candidates whose envelope lies
in a rectangle known to be inside the region are in, the others are tested exactly against
the region in one vectorised GEOS call. A page of a whole layer whose fids run 1 to N is a
range of fids, read by no query. CQL2 spatial predicates and service areas without a
bbox are tested by GEOS through a registered SQL function. Properties are built as JSON by
SQLite, and geometries are decoded from WKB with shapely in one vectorised call per page.

:class:`~twin.store.gpkg.GeoPackageStore` tells its :class:`FeatureReader` to
:meth:`~FeatureReader.reload` when the file's identity changes (a rebuilt twin renamed over
it, or an edit in place): the layers are then read again, and every thread's next query opens
a new connection.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from twin.errors import InputError, StoreError
from twin.layers import layer_order
from twin.store.base import Features, LayerInfo, Page, Selection
from twin.store.gpkg_cql import SQLCompiler

#: tables of the GeoPackage that are the store's own, not layers of the twin
METADATA_TABLE = "twin_metadata"
#: bytes of the GeoPackage envelope for each envelope indicator (flags bits 1-3)
_ENVELOPE = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
_WKB_CASE = " ".join(
    f"WHEN '{flags:02X}' THEN {9 + _ENVELOPE.get((flags >> 1) & 7, 0)}" for flags in range(64)
)
_TYPES = {"TEXT": "string", "REAL": "number", "INTEGER": "integer", "BOOLEAN": "boolean"}
#: GeoPackage geometry type names (upper case) -> OGC simple-feature names
_GEOMETRY_TYPES = {
    name.upper(): name
    for name in (
        "Geometry",
        "Point",
        "LineString",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
    )
}


def _wkb_sql(expr: str) -> str:
    """SQL that strips the GeoPackage header from a geometry blob, leaving WKB."""
    return f"substr({expr}, CASE hex(substr({expr}, 4, 1)) {_WKB_CASE} END)"


def _blob_geometry(blob: bytes | None) -> shapely.Geometry | None:
    if blob is None or len(blob) < 8:
        return None
    return shapely.from_wkb(blob[8 + _ENVELOPE.get((blob[3] >> 1) & 7, 0) :])


@functools.lru_cache(maxsize=64)
def _prepared(wkb: bytes) -> shapely.Geometry:
    geom = shapely.from_wkb(wkb)
    shapely.prepare(geom)
    return geom


def _spatial(op: str, blob: bytes | None, wkb: bytes) -> int:
    """SQL function ``twin_spatial(op, geom, wkb)``: a GEOS predicate against a literal."""
    geom = _blob_geometry(blob)
    if geom is None:
        return 0
    other = _prepared(wkb)
    # the literal is the prepared side: "geom within literal" is "literal contains geom"
    flipped = {"within": "contains", "contains": "within"}.get(op, op)
    return int(getattr(shapely, flipped)(other, geom))


@dataclass(frozen=True)
class _Table:
    """How a feature layer is kept in the GeoPackage: its geometry column and R-tree."""

    geometry_column: str
    rtree: str | None


class FeatureReader:
    """Read-only SQL access to one version of a GeoPackage, one connection per thread.

    Parameters
    ----------
    path
        The GeoPackage.
    timeout
        Seconds a query may run before it is interrupted (a :class:`StoreError`).
    """

    def __init__(self, path: Path, /, *, timeout: float):
        self.path = path
        self.timeout = timeout
        self._local = threading.local()
        self._version = 0
        self._tables: dict[str, _Table] = {}
        self._dense: dict[str, bool] = {}
        self._aligned: dict[tuple[str, str], bool] = {}
        self.layers: dict[str, LayerInfo] = {}
        self.reload()

    def reload(self) -> None:
        """Read the layers anew (the file changed); every thread's next query reconnects.

        Raises
        ------
        StoreError
            When the file is not a readable GeoPackage.
        """
        self._version += 1
        try:
            self.layers = self._introspect()
            self._aligned = {}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot read the GeoPackage: {exc}") from exc

    # -- connections -------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.version != self._version:
            conn.close()
            conn = None
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            conn.create_function("twin_spatial", 3, _spatial, deterministic=True)
            conn.execute("PRAGMA case_sensitive_like = ON")
            conn.set_progress_handler(self._check_deadline, 20_000)
            self._local.conn, self._local.version = conn, self._version
        self._local.deadline = time.monotonic() + self.timeout
        return conn

    def _check_deadline(self) -> int:
        return int(time.monotonic() > self._local.deadline)

    def _execute(self, sql: str, params: dict[str, Any] | tuple = ()) -> list[tuple]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise StoreError(f"the query took longer than {self.timeout:g} s") from exc
            raise

    def _introspect(self) -> dict[str, LayerInfo]:
        geometry = {
            r[0]: r[1:]
            for r in self._execute(
                "SELECT table_name, column_name, geometry_type_name, z FROM gpkg_geometry_columns"
            )
        }
        contents = [r[0] for r in self._execute("SELECT table_name FROM gpkg_contents")]
        tables = {r[0] for r in self._execute("SELECT name FROM sqlite_master")}
        found: dict[str, _Table] = {}
        dense: dict[str, bool] = {}
        counts = {}
        if "gpkg_ogr_contents" in tables:  # kept by GDAL's triggers, whoever edits
            counts = dict(self._execute("SELECT table_name, feature_count FROM gpkg_ogr_contents"))
        layers = {}
        for table in layer_order([t for t in contents if t != METADATA_TABLE]):
            geom, gtype, z = geometry.get(table, (None, None, 0))
            columns = {
                r[1]: _TYPES.get(r[2].upper().split("(")[0], "string")
                for r in self._execute(f'PRAGMA table_info("{table}")')
                if r[1] not in ("fid", geom)
            }
            count = counts.get(table)
            if count is None:
                count = self._execute(f'SELECT count(*) FROM "{table}"')[0][0]
            # fids 1..count (a layer as written, or edited at its end): a page without
            # filter or sort is a range of fids, no scan of the rows before its offset
            first, last = self._execute(f'SELECT min(fid), max(fid) FROM "{table}"')[0]
            dense[table] = count == 0 or (first == 1 and last == count)
            bounds = None
            if geom is not None:
                rtree = f"rtree_{table}_{geom}"
                rtree = rtree if rtree in tables else None
                found[table] = _Table(geom, rtree)
                if rtree is not None:
                    box = self._execute(
                        f'SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "{rtree}"'
                    )[0]
                    bounds = None if box[0] is None else tuple(float(v) for v in box)
                gtype = _GEOMETRY_TYPES.get(gtype.upper(), gtype)
            layers[table] = LayerInfo(table, gtype, bool(z), columns, int(count), bounds)
        self._tables, self._dense = found, dense
        return layers

    def aligned(self, base: str, lod_layer: str) -> bool:
        """Whether an LoD layer has one row per building with the building's fid."""
        if base not in self._tables or lod_layer not in self._tables:
            return False
        if (base, lod_layer) not in self._aligned:
            mismatched = self._execute(
                f'SELECT count(*) FROM "{base}" b LEFT JOIN "{lod_layer}" l ON l.fid = b.fid '
                "WHERE l.building_id IS NOT b.building_id"
            )[0][0]
            self._aligned[base, lod_layer] = mismatched == 0
        return self._aligned[base, lod_layer]

    # -- queries -------------------------------------------------------------------------

    def _table(self, name: str) -> _Table:
        try:
            return self._tables[name]
        except KeyError:
            have = ", ".join(self._tables) or "none"
            raise InputError(f"{self.path}: no feature layer {name!r} (it has: {have})") from None

    def _where(self, name: str, sel: Selection) -> tuple[str | None, dict[str, Any]]:
        """The SQL of ``sel``'s attribute conditions, ids and filter, with their parameters."""
        columns = self.layers[name].columns
        conds, params = [], {}
        for i, (column, value) in enumerate(sel.equals.items()):
            if column not in columns:
                raise InputError(f"{self.path}: layer {name!r} has no column {column!r}")
            conds.append(f't."{column}" = :q{i}')
            params[f"q{i}"] = value
        if sel.fids is not None:
            conds.append("t.fid IN (SELECT value FROM json_each(:fids))")
            params["fids"] = json.dumps([int(i) for i in sel.fids])
        if sel.filter is not None:
            table = self._tables[name]
            compiler = SQLCompiler(
                columns,
                to_store=sel.filter_to_store or (lambda geoms, whole=False: geoms),
                rtree=table.rtree,
                geometry_column=table.geometry_column,
            )
            where, fparams = compiler.compile(sel.filter)
            conds.append(where)
            params.update(fparams)
        return (" AND ".join(conds) or None), params

    def _from_where(
        self, name: str, sel: Selection, where: str | None, params: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        table = self._tables[name]
        geom = f't."{table.geometry_column}"'
        conds, params = [], dict(params)
        if sel.bbox is not None:  # a layer without R-tree (those with one: _in_bbox)
            params["bbox_wkb"] = shapely.to_wkb(sel.bbox)
            conds.append(f"twin_spatial('intersects', {geom}, :bbox_wkb)")
        if sel.area is not None:
            ax0, ay0, ax1, ay1 = shapely.bounds(sel.area)
            params.update(ax0=ax0, ay0=ay0, ax1=ax1, ay1=ay1, area_wkb=shapely.to_wkb(sel.area))
            conds.append(
                f't.fid IN (SELECT id FROM "{table.rtree}" WHERE minx <= :ax1 AND '
                "maxx >= :ax0 AND miny <= :ay1 AND maxy >= :ay0) AND "
                f"twin_spatial('intersects', {geom}, :area_wkb)"
            )
        if where:
            conds.append(f"({where})")
        clause = " WHERE " + " AND ".join(conds) if conds else ""
        return f'FROM "{name}" t{clause}', params

    def _geometry_sql(self, name: str, sel: Selection) -> str:
        if sel.lod is None:
            return _wkb_sql(f't."{self._tables[name].geometry_column}"')
        lod = self._table(sel.lod)
        return _wkb_sql(
            f'(SELECT l."{lod.geometry_column}" FROM "{sel.lod}" l WHERE l.fid = t.fid)'
        )

    def page(
        self, name: str, sel: Selection, /, *, limit: int, offset: int = 0, count: bool = True
    ) -> Page:
        """The ids of one page of features matching ``sel``, and how many match in all."""
        table = self._table(name)
        order = ", ".join(f't."{c}" {"ASC" if asc else "DESC"}' for c, asc in sel.sortby)
        order = f"{order}, t.fid" if order else "t.fid"
        where, params = self._where(name, sel)
        if sel.bbox is not None and table.rtree is not None:
            matched = self._in_bbox(name, sel, where, params, order)
            return Page(matched[offset : offset + limit], len(matched))
        if not where and sel.area is None and sel.bbox is None and not sel.sortby:
            if self._dense.get(name):
                n = self.layers[name].count
                ids = np.arange(offset + 1, min(offset + limit, n) + 1, dtype=np.int64)
                return Page(ids, n if count else None)
        from_where, params = self._from_where(name, sel, where, params)
        rows = self._execute(
            f"SELECT t.fid {from_where} ORDER BY {order} LIMIT :limit OFFSET :offset",
            dict(params, limit=limit, offset=offset),
        )
        matched = None
        if count and not where and sel.area is None and sel.bbox is None:
            matched = self.layers[name].count
        elif count:
            matched = self._execute(f"SELECT count(*) {from_where}", params)[0][0]
        return Page(np.array([r[0] for r in rows], dtype=np.int64), matched)

    def _in_bbox(
        self, name: str, sel: Selection, where: str | None, params: dict[str, Any], order: str
    ) -> np.ndarray:
        """The ids of the features in ``sel``'s bbox (and filter and area), in ``order``.

        The R-tree gives the candidates; a candidate whose envelope lies within the inner
        rectangle is in, the others are tested exactly in one vectorised GEOS call (a Python
        function called by SQLite per row cost more than the whole query).
        """
        if sel.bbox.is_empty:
            return np.empty(0, dtype=np.int64)
        table = self._tables[name]
        x0, y0, x1, y1 = shapely.bounds(sel.bbox).tolist()
        if sel.area is not None:  # candidates must meet the area's envelope too
            ax0, ay0, ax1, ay1 = shapely.bounds(sel.area).tolist()
            x0, y0, x1, y1 = max(x0, ax0), max(y0, ay0), min(x1, ax1), min(y1, ay1)
        params = dict(params, bx0=x0, by0=y0, bx1=x1, by1=y1)
        inside = "0"  # every candidate tested exactly
        # with a service area every candidate is tested: its envelope says nothing of the area
        if sel.bbox_inner is not None and sel.area is None:
            ix0, iy0, ix1, iy1 = sel.bbox_inner
            params.update(ix0=ix0, iy0=iy0, ix1=ix1, iy1=iy1)
            inside = "r.minx >= :ix0 AND r.maxx <= :ix1 AND r.miny >= :iy0 AND r.maxy <= :iy1"
        clause = "r.minx <= :bx1 AND r.maxx >= :bx0 AND r.miny <= :by1 AND r.maxy >= :by0"
        if where:
            clause += f" AND ({where})"
        wkb = _wkb_sql(f't."{table.geometry_column}"')
        rows = self._execute(
            f"SELECT t.fid, CASE WHEN {inside} THEN NULL ELSE {wkb} END "
            f'FROM "{name}" t JOIN "{table.rtree}" r ON r.id = t.fid '
            f"WHERE {clause} ORDER BY {order}",
            params,
        )
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        geoms = shapely.from_wkb(np.array([r[1] for r in rows], dtype=object))
        exact = ~shapely.is_missing(geoms)
        shapely.prepare(sel.bbox)
        hit = ~exact
        hit[exact] = shapely.intersects(sel.bbox, geoms[exact])
        if sel.area is not None:
            hit[exact] &= shapely.intersects(sel.area, geoms[exact])
        return ids[hit]

    def _properties_sql(self, name: str, names: list[str]) -> str:
        if not names:
            return "'{}'"
        columns = self.layers[name].columns
        parts = []
        for column in names:
            col = f't."{column}"'
            if columns[column] == "boolean":
                col = (
                    f"json(CASE WHEN {col} IS NULL THEN 'null' "
                    f"WHEN {col} THEN 'true' ELSE 'false' END)"
                )
            parts.append(f"'{column}', {col}")
        # json_object takes at most 127 arguments: build objects of 60 pairs and merge them
        chunks = [", ".join(parts[i : i + 60]) for i in range(0, len(parts), 60)]
        if len(chunks) == 1:
            return f"json_object({chunks[0]})"
        return "json_patch(" + ", ".join(f"json_object({c})" for c in chunks) + ")"

    def features(
        self, name: str, sel: Selection, ids: np.ndarray, /, *, names: list[str]
    ) -> Features:
        """The rows of the features ``ids``, in that order, with the property columns
        ``names`` (already checked against the layer) and the geometry of ``sel``'s LoD.

        A feature gone from the file since its id was read is left out.
        """
        self._table(name)
        unknown = sorted(set(names) - set(self.layers[name].columns))
        if unknown:
            raise InputError(f"{self.path}: layer {name!r} has no columns {unknown}")
        rows = []
        if len(ids):
            rows = self._execute(
                f"SELECT t.fid, {self._geometry_sql(name, sel)}, "
                f'{self._properties_sql(name, list(names))} FROM "{name}" t '
                "WHERE t.fid IN (SELECT value FROM json_each(:ids))",
                {"ids": json.dumps(ids.tolist())},
            )
        return Features.of_rows(rows, ids)
