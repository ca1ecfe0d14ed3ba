"""Features from a PostGIS twin by SQL: pages for the API, by box, filter, area and sort.

As on a GeoPackage (:mod:`twin.store.gpkg_features`), a page is read in two steps: which
features it holds (their ids in order, and how many match in all), then the rows of those
features by id. Boxes, service areas and CQL2 spatial predicates are tested by PostGIS
(``ST_Intersects`` and its kin: GEOS, as shapely, behind the layer's GiST index); properties
are built as JSON by PostgreSQL (``row_to_json``, in column order), geometries decoded from
WKB with shapely in one vectorised call per page. Every value a client sends is a bound
parameter; column names come from the layer's own list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import shapely

from twin.errors import InputError
from twin.store.base import Features, LayerInfo, Page, Selection, ToStore
from twin.store.cql import FilterCompiler

#: CQL2 spatial predicate (GEOS name) -> PostGIS function
_FUNCTIONS = {
    "intersects": "ST_Intersects",
    "disjoint": "ST_Disjoint",
    "contains": "ST_Contains",
    "within": "ST_Within",
    "touches": "ST_Touches",
    "crosses": "ST_Crosses",
    "overlaps": "ST_Overlaps",
    "equals": "ST_Equals",
}


class PostGISCompiler(FilterCompiler):
    """Turns a pygeofilter AST into a PostgreSQL ``WHERE`` fragment with psycopg's named
    parameters (:class:`~twin.store.cql.FilterCompiler`).

    Parameters
    ----------
    columns
        Queryable column -> JSON type; anything else is refused.
    to_store
        Turns literal geometries (in the filter CRS) into the store CRS.
    srid
        The SRID of the layer's geometries.

    Examples
    --------
    >>> from pygeofilter.parsers.cql2_text import parse
    >>> c = PostGISCompiler({"height": "number"}, to_store=lambda g, whole=False: g, srid=31255)
    >>> c.compile(parse("height >= 10 AND S_INTERSECTS(geometry, POINT(1 2))"))[0]
    '(t."height" >= %(f0)s AND ST_Intersects(t."geom", ST_GeomFromWKB(%(f1)s, 31255)))'
    """

    def __init__(self, columns: dict[str, str], *, to_store: ToStore, srid: int):
        super().__init__(columns, to_store=to_store, geometry_column="geom")
        self.srid = int(srid)

    def placeholder(self, name: str, /) -> str:
        """``%(name)s``, as psycopg binds a dict."""
        return f"%({name})s"

    def spatial_sql(self, op: str, geometry: str, literal: shapely.Geometry, /) -> str:
        """The PostGIS predicate of ``op`` between the column and the literal's WKB."""
        wkb = self.param(shapely.to_wkb(literal))
        return f"{_FUNCTIONS[op]}({geometry}, ST_GeomFromWKB({wkb}, {self.srid}))"


class Tables(Protocol):
    """What the queries ask of a PostGIS store (:class:`~twin.store.postgis.PostGISStore`)."""

    location: str

    @property
    def srid(self) -> int:
        """The SRID of the twin's geometries."""
        ...

    def table(self, name: str, /) -> str:
        """The quoted, schema-qualified name of layer ``name``."""
        ...

    def layer(self, name: str, /) -> LayerInfo:
        """What the store knows of layer ``name`` (an InputError for an unknown one)."""
        ...

    def dense(self, name: str, /) -> bool:
        """Whether the feature ids of layer ``name`` run 1 to its count."""
        ...

    def execute(self, query: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        """Rows of one SQL query."""
        ...


class FeatureQueries:
    """Pages and rows of features of one PostGIS store.

    Parameters
    ----------
    store
        The store whose connection, layers and SRID the queries use.
    """

    def __init__(self, store: Tables, /):
        self.store = store

    def _where(self, name: str, sel: Selection) -> tuple[list[str], dict[str, Any]]:
        """The SQL conditions of ``sel`` (box, area, attributes, ids, filter) and their
        parameters."""
        store = self.store
        columns = store.layer(name).columns
        srid = store.srid
        conds: list[str] = []
        params: dict[str, Any] = {}
        if sel.bbox is not None:
            conds.append(f"ST_Intersects(t.geom, ST_GeomFromWKB(%(bbox)s, {srid}))")
            params["bbox"] = shapely.to_wkb(sel.bbox)
        if sel.area is not None:
            conds.append(f"ST_Intersects(t.geom, ST_GeomFromWKB(%(area)s, {srid}))")
            params["area"] = shapely.to_wkb(sel.area)
        for i, (column, value) in enumerate(sel.equals.items()):
            if column not in columns:
                raise InputError(f"{store.location}: layer {name!r} has no column {column!r}")
            conds.append(f't."{column}" = %(q{i})s')
            params[f"q{i}"] = value.item() if isinstance(value, np.generic) else value
        if sel.fids is not None:
            conds.append("t.fid = ANY(%(fids)s::bigint[])")
            params["fids"] = [int(i) for i in sel.fids]
        if sel.filter is not None:
            compiler = PostGISCompiler(
                columns,
                to_store=sel.filter_to_store or (lambda geoms, whole=False: geoms),
                srid=srid,
            )
            where, fparams = compiler.compile(sel.filter)
            conds.append(where)
            params.update(fparams)
        return conds, params

    def page(
        self, name: str, sel: Selection, /, *, limit: int, offset: int = 0, count: bool = True
    ) -> Page:
        """The ids of one page of features matching ``sel``, and how many match in all."""
        store = self.store
        info = store.layer(name)
        if info.geometry_type is None:
            raise InputError(f"{store.location}: no feature layer {name!r}")
        if sel.bbox is not None and sel.bbox.is_empty:
            return Page(np.empty(0, dtype=np.int64), 0 if count else None)
        conds, params = self._where(name, sel)
        if not conds and not sel.sortby and store.dense(name):
            # as a GeoPackage's page: a range of ids, no scan of the rows before the offset
            n = info.count
            ids = np.arange(offset + 1, min(offset + limit, n) + 1, dtype=np.int64)
            return Page(ids, n if count else None)
        # text sorts byte by byte, as on a GeoPackage, whatever the database's collation
        collate = {c: ' COLLATE "C"' if t == "string" else "" for c, t in info.columns.items()}
        order = ", ".join(
            f't."{c}"{collate.get(c, "")} {"ASC" if asc else "DESC"}' for c, asc in sel.sortby
        )
        order = f"{order}, t.fid" if order else "t.fid"
        clause = f" WHERE {' AND '.join(conds)}" if conds else ""
        table = store.table(name)
        counted = count and bool(conds)  # counted with the page: one round trip, not two
        total = ", count(*) OVER ()" if counted else ""
        rows = store.execute(
            f"SELECT t.fid{total} FROM {table} t{clause} ORDER BY {order} "
            "LIMIT %(limit)s OFFSET %(offset)s",
            dict(params, limit=limit, offset=offset),
        )
        matched = None
        if count and not conds:
            matched = info.count
        elif counted and rows:
            matched = rows[0][1]
        elif counted and offset == 0:
            matched = 0
        elif counted:  # a page beyond the last: the count by itself
            matched = store.execute(f"SELECT count(*) FROM {table} t{clause}", params)[0][0]
        return Page(np.array([r[0] for r in rows], dtype=np.int64), matched)

    def features(
        self, name: str, sel: Selection, ids: np.ndarray, /, *, names: list[str]
    ) -> Features:
        """The rows of the features ``ids``, in that order, with the property columns
        ``names`` and the geometry of ``sel``'s LoD; a feature gone since is left out."""
        store = self.store
        columns = store.layer(name).columns
        unknown = sorted(set(names) - set(columns))
        if unknown:
            raise InputError(f"{store.location}: layer {name!r} has no columns {unknown}")
        geometry = "t.geom"
        if sel.lod is not None:
            store.layer(sel.lod)
            geometry = f"(SELECT l.geom FROM {store.table(sel.lod)} l WHERE l.fid = t.fid)"
        properties = "'{}'"
        if names:
            picked = ", ".join(f't."{c}"' for c in names)
            properties = f"(SELECT row_to_json(r) FROM (SELECT {picked}) r)::text"
        rows = []
        if len(ids):
            rows = store.execute(
                f"SELECT t.fid, ST_AsBinary({geometry}), {properties} "
                f"FROM {store.table(name)} t WHERE t.fid = ANY(%(ids)s::bigint[])",
                {"ids": ids.tolist()},
            )
        return Features.of_rows(rows, ids)
