"""Features from a twin's GeoPackage by SQL: R-tree for bbox, parameterised filters, pages.

No layer is ever loaded whole. A page is read in two steps: which features it holds (their
ids in order, and how many match in all), then the rows of those features by id, so that a
caller who has some of them written already reads only the others. A bbox query asks the
layer's GeoPackage R-tree for the bounds of the bbox's region; candidates whose envelope lies
in a rectangle known to be inside the region are in, the others are tested exactly against
the region in one vectorised GEOS call. CQL2 spatial predicates and service areas without a
bbox are tested by GEOS through a registered SQL function. Properties are built as JSON by
SQLite, and geometries are decoded from WKB with shapely in one vectorised call per page.

The source notices a changed file (a rebuilt twin renamed over it, or an edit in place):
it then reads the layers again, opens new connections and counts anew.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from twin.api.problems import Problem
from twin.store.gpkg import read_metadata

#: The integers SQLite stores and binds (signed 64 bits): the API takes no integer beyond them,
#: in a query parameter, a filter literal or a request body.
INTEGERS = range(-(2**63), 2**63)
#: bytes of the GeoPackage envelope for each envelope indicator (flags bits 1-3)
_ENVELOPE = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
_WKB_CASE = " ".join(
    f"WHEN '{flags:02X}' THEN {9 + _ENVELOPE.get((flags >> 1) & 7, 0)}" for flags in range(64)
)
_TYPES = {"TEXT": "string", "REAL": "number", "INTEGER": "integer", "BOOLEAN": "boolean"}


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
class Layer:
    """What the source knows of one GeoPackage layer.

    Attributes
    ----------
    columns
        Attribute column -> JSON type (``string``, ``number``, ``integer``, ``boolean``).
    geometry_type
        GeoPackage geometry type name (``MULTIPOLYGON``...).
    has_z
        Whether geometries carry heights.
    extent
        ``(minx, miny, maxx, maxy)`` in the store CRS, ``None`` when the layer is empty.
    """

    name: str
    columns: dict[str, str]
    geometry_column: str
    geometry_type: str
    has_z: bool
    rtree: str | None
    extent: tuple[float, float, float, float] | None


@dataclass
class Selection:
    """Which features a request wants, with everything in the store CRS.

    ``bbox`` is the region of a request's bbox (a polygon, or empty when the bbox lies
    outside the store CRS's area), ``bbox_inner`` a rectangle inside it, if one is known: a
    feature whose envelope lies within it needs no exact test.
    ``where`` is an SQL fragment with named parameters (from :mod:`twin.api.cql`), never text
    from the request. ``area`` restricts everything to a caller's service area.
    """

    bbox: shapely.Geometry | None = None
    bbox_inner: tuple[float, float, float, float] | None = None
    where: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    area: shapely.Geometry | None = None
    sortby: list[tuple[str, bool]] = field(default_factory=list)
    lod: str | None = None


@dataclass(frozen=True)
class Page:
    """Which features a page holds: their ids ``(n,) int64`` in order, and how many features
    match in all (``None`` when not counted)."""

    ids: np.ndarray
    number_matched: int | None


@dataclass(frozen=True)
class Features:
    """Rows of features: ids ``(n,) int64``, geometries ``(n,)`` in the store CRS (``None``
    where a feature has none) and properties as JSON objects."""

    ids: np.ndarray
    geometries: np.ndarray
    properties: list[str]


class GeoPackageSource:
    """Read-only SQL access to the layers of a twin's GeoPackage, one connection per thread.

    Parameters
    ----------
    path
        The twin (``city.gpkg``).
    timeout
        Seconds a query may run before it is interrupted (answered with 503).
    """

    def __init__(self, path: Path, /, *, timeout: float = 10.0):
        self.path = Path(path)
        self.metadata, self.crs = read_metadata(self.path)
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._file = self._identity()
        self._version = 0
        self._read_layers()

    # -- the file ----------------------------------------------------------------------------

    def _identity(self) -> tuple:
        """What changes when the twin does: the file's inode, size and modification time, and
        those of its write-ahead log when there is one (a commit in WAL mode leaves the main
        file alone)."""
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise Problem(503, f"the twin {self.path.name} cannot be read: {exc.strerror}") from exc
        try:
            wal = os.stat(f"{self.path}-wal")
        except OSError:
            return (st.st_ino, st.st_size, st.st_mtime_ns)
        return (st.st_ino, st.st_size, st.st_mtime_ns, wal.st_size, wal.st_mtime_ns)

    def _read_layers(self) -> None:
        self._totals: dict[str, int] = {}
        self.layers = self._introspect()
        self.aligned = {name: self._aligned("buildings", name) for name in ("lod12",)}

    def refresh(self) -> int:
        """Notice a changed twin file; the version of what the source reads.

        The version starts at 0 and grows by one whenever the file is found changed (a
        rebuilt twin renamed over it, a commit in place): the layers are then read again,
        counts dropped, and every thread's next query opens a new connection. Whatever was
        derived from the rows of an older version is stale.

        Raises
        ------
        Problem
            503 when the file cannot be read.
        """
        identity = self._identity()
        if identity != self._file:
            with self._lock:
                if identity != self._file:
                    self._version += 1
                    try:
                        self._read_layers()
                    except sqlite3.DatabaseError as exc:  # tried again at the next request
                        raise Problem(
                            503, f"the twin {self.path.name} cannot be read: {exc}"
                        ) from exc
                    self._file = identity
        return self._version

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
                raise Problem(503, f"the query took longer than {self.timeout:g} s") from exc
            raise

    def _introspect(self) -> dict[str, Layer]:
        rows = self._execute(
            "SELECT table_name, column_name, geometry_type_name, z FROM gpkg_geometry_columns"
        )
        tables = {r[0] for r in self._execute("SELECT name FROM sqlite_master")}
        layers = {}
        for table, geom, gtype, z in rows:
            columns = {
                r[1]: _TYPES.get(r[2].upper().split("(")[0], "string")
                for r in self._execute(f'PRAGMA table_info("{table}")')
                if r[1] not in ("fid", geom)
            }
            rtree = f"rtree_{table}_{geom}"
            rtree = rtree if rtree in tables else None
            extent = None
            if rtree is not None:
                box = self._execute(
                    f'SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "{rtree}"'
                )[0]
                extent = None if box[0] is None else tuple(float(v) for v in box)
            layers[table] = Layer(table, columns, geom, gtype, bool(z), rtree, extent)
        return layers

    def _aligned(self, base: str, lod_layer: str) -> bool:
        """Whether an LoD layer has one row per building with the building's fid."""
        if base not in self.layers or lod_layer not in self.layers:
            return False
        mismatched = self._execute(
            f'SELECT count(*) FROM "{base}" b LEFT JOIN "{lod_layer}" l ON l.fid = b.fid '
            "WHERE l.building_id IS NOT b.building_id"
        )[0][0]
        return mismatched == 0

    # -- queries -------------------------------------------------------------------------

    def _from_where(self, layer: Layer, sel: Selection) -> tuple[str, dict[str, Any]]:
        table, geom = f'"{layer.name}" t', f't."{layer.geometry_column}"'
        conds, params = [], dict(sel.params)
        if sel.bbox is not None:  # a layer without R-tree (those with one: _in_bbox)
            params["bbox_wkb"] = shapely.to_wkb(sel.bbox)
            conds.append(f"twin_spatial('intersects', {geom}, :bbox_wkb)")
        if sel.area is not None:
            ax0, ay0, ax1, ay1 = shapely.bounds(sel.area)
            params.update(ax0=ax0, ay0=ay0, ax1=ax1, ay1=ay1, area_wkb=shapely.to_wkb(sel.area))
            conds.append(
                f't.fid IN (SELECT id FROM "{layer.rtree}" WHERE minx <= :ax1 AND '
                "maxx >= :ax0 AND miny <= :ay1 AND maxy >= :ay0) AND "
                f"twin_spatial('intersects', {geom}, :area_wkb)"
            )
        if sel.where:
            conds.append(f"({sel.where})")
        where = " WHERE " + " AND ".join(conds) if conds else ""
        return f"FROM {table}{where}", params

    def _geometry_sql(self, layer: Layer, sel: Selection) -> str:
        if sel.lod is None:
            return _wkb_sql(f't."{layer.geometry_column}"')
        lod_layer = self.layers[sel.lod]
        return _wkb_sql(
            f'(SELECT l."{lod_layer.geometry_column}" FROM "{lod_layer.name}" l '
            "WHERE l.fid = t.fid)"
        )

    def page(
        self,
        layer_name: str,
        sel: Selection,
        /,
        *,
        limit: int,
        offset: int = 0,
        count: bool = True,
    ) -> Page:
        """The ids of one page of features matching ``sel``, and how many match in all."""
        layer = self.layers[layer_name]
        order = ", ".join(f't."{c}" {"ASC" if asc else "DESC"}' for c, asc in sel.sortby)
        order = f"{order}, t.fid" if order else "t.fid"
        if sel.bbox is not None and layer.rtree is not None:
            matched = self._in_bbox(layer, sel, order)
            return Page(matched[offset : offset + limit], len(matched))
        from_where, params = self._from_where(layer, sel)
        rows = self._execute(
            f"SELECT t.fid {from_where} ORDER BY {order} LIMIT :limit OFFSET :offset",
            dict(params, limit=limit, offset=offset),
        )
        matched = None
        if count and not sel.where and sel.area is None:
            matched = self._total(layer.name)
        elif count:
            matched = self._execute(f"SELECT count(*) {from_where}", params)[0][0]
        return Page(np.array([r[0] for r in rows], dtype=np.int64), matched)

    def _total(self, layer_name: str, /) -> int:
        """The features of a layer, counted once: ``count(*)`` reads the whole table, and a
        client paging through a layer asks for the count on every page."""
        total = self._totals.get(layer_name)
        if total is None:
            total = self._totals[layer_name] = self._execute(
                f'SELECT count(*) FROM "{layer_name}"'
            )[0][0]
        return total

    def _in_bbox(self, layer: Layer, sel: Selection, order: str) -> np.ndarray:
        """The ids of the features in ``sel``'s bbox (and filter and area), in ``order``.

        The R-tree gives the candidates; a candidate whose envelope lies within the inner
        rectangle is in, the others are tested exactly in one vectorised GEOS call (a Python
        function called by SQLite per row cost more than the whole query).
        """
        if sel.bbox.is_empty:
            return np.empty(0, dtype=np.int64)
        x0, y0, x1, y1 = shapely.bounds(sel.bbox).tolist()
        if sel.area is not None:  # candidates must meet the area's envelope too
            ax0, ay0, ax1, ay1 = shapely.bounds(sel.area).tolist()
            x0, y0, x1, y1 = max(x0, ax0), max(y0, ay0), min(x1, ax1), min(y1, ay1)
        params = dict(sel.params, bx0=x0, by0=y0, bx1=x1, by1=y1)
        inside = "0"  # every candidate tested exactly
        # with a service area every candidate is tested: its envelope says nothing of the area
        if sel.bbox_inner is not None and sel.area is None:
            ix0, iy0, ix1, iy1 = sel.bbox_inner
            params.update(ix0=ix0, iy0=iy0, ix1=ix1, iy1=iy1)
            inside = "r.minx >= :ix0 AND r.maxx <= :ix1 AND r.miny >= :iy0 AND r.maxy <= :iy1"
        where = "r.minx <= :bx1 AND r.maxx >= :bx0 AND r.miny <= :by1 AND r.maxy >= :by0"
        if sel.where:
            where += f" AND ({sel.where})"
        wkb = _wkb_sql(f't."{layer.geometry_column}"')
        rows = self._execute(
            f"SELECT t.fid, CASE WHEN {inside} THEN NULL ELSE {wkb} END "
            f'FROM "{layer.name}" t JOIN "{layer.rtree}" r ON r.id = t.fid '
            f"WHERE {where} ORDER BY {order}",
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

    def _properties_sql(self, layer: Layer, names: list[str]) -> str:
        if not names:
            return "'{}'"
        parts = []
        for name in names:
            col = f't."{name}"'
            if layer.columns[name] == "boolean":
                col = (
                    f"json(CASE WHEN {col} IS NULL THEN 'null' "
                    f"WHEN {col} THEN 'true' ELSE 'false' END)"
                )
            parts.append(f"'{name}', {col}")
        # json_object takes at most 127 arguments: build objects of 60 pairs and merge them
        chunks = [", ".join(parts[i : i + 60]) for i in range(0, len(parts), 60)]
        if len(chunks) == 1:
            return f"json_object({chunks[0]})"
        return "json_patch(" + ", ".join(f"json_object({c})" for c in chunks) + ")"

    def features(
        self, layer_name: str, sel: Selection, ids: np.ndarray, /, *, names: list[str]
    ) -> Features:
        """The rows of the features ``ids``, in that order, with the property columns
        ``names`` (already checked against the layer) and the geometry of ``sel``'s LoD.

        A feature gone from the file since its id was read is left out.
        """
        layer = self.layers[layer_name]
        rows = []
        if len(ids):
            rows = self._execute(
                f"SELECT t.fid, {self._geometry_sql(layer, sel)}, "
                f'{self._properties_sql(layer, names)} FROM "{layer.name}" t '
                "WHERE t.fid IN (SELECT value FROM json_each(:ids))",
                {"ids": json.dumps(ids.tolist())},
            )
        by_id = {r[0]: r for r in rows}
        rows = [by_id[i] for i in ids.tolist() if i in by_id]
        return Features(
            np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            shapely.from_wkb(np.array([r[1] for r in rows], dtype=object)),
            [r[2] for r in rows],
        )

    def feature(self, layer_name: str, fid: int, sel: Selection, /) -> Page:
        """The page of feature ``fid`` (no id when it does not exist or is out of ``sel``)."""
        sel = Selection(
            where=" AND ".join(w for w in ("t.fid = :fid", sel.where) if w),
            params=dict(sel.params, fid=fid),
            area=sel.area,
            lod=sel.lod,
        )
        return self.page(layer_name, sel, limit=1, count=False)
