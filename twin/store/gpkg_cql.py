"""CQL2 filters (parsed by pygeofilter) turned into parameterised SQLite SQL on a GeoPackage.

The SQL is :class:`~twin.store.cql.FilterCompiler`'s; SQLite's own are its ``:name``
parameters, booleans bound as integers, and spatial predicates tested by GEOS through the SQL
function ``twin_spatial`` (:mod:`twin.store.gpkg_features`), after the layer's R-tree has
picked the candidates.
"""

from __future__ import annotations

from typing import Any

import shapely

from twin.store.base import ToStore
from twin.store.cql import FilterCompiler


class SQLCompiler(FilterCompiler):
    """Turns a pygeofilter AST into an SQLite ``WHERE`` fragment with named parameters.

    Parameters
    ----------
    columns
        Queryable column -> JSON type; anything else is refused.
    to_store
        Turns literal geometries (in the filter CRS) into the store CRS (a :class:`ToStore`).
    rtree
        The layer's R-tree table, used to pre-select candidates of spatial predicates.
    geometry_column
        The layer's geometry column.

    Examples
    --------
    >>> from pygeofilter.parsers.cql2_text import parse
    >>> c = SQLCompiler({"height": "number"}, to_store=lambda g, whole=False: g, rtree=None)
    >>> c.compile(parse("height >= 10"))
    ('t."height" >= :f0', {'f0': 10})
    >>> c.compile(parse("height > 1 AND height > 2 AND height > 3"))[0]
    '(t."height" > :f1 AND t."height" > :f2 AND t."height" > :f3)'
    """

    def __init__(
        self,
        columns: dict[str, str],
        *,
        to_store: ToStore,
        rtree: str | None,
        geometry_column: str = "geom",
    ):
        super().__init__(columns, to_store=to_store, geometry_column=geometry_column)
        self.rtree = rtree

    def placeholder(self, name: str, /) -> str:
        """``:name``, as Python's sqlite3 binds a dict."""
        return f":{name}"

    def bind(self, value: Any, /) -> Any:
        """SQLite keeps booleans as integers."""
        return int(value) if isinstance(value, bool) else value

    def spatial_sql(self, op: str, geometry: str, literal: shapely.Geometry, /) -> str:
        """``twin_spatial(op, geometry, wkb)``, behind the R-tree's pick of candidates."""
        sql = f"twin_spatial('{op}', {geometry}, {self.param(shapely.to_wkb(literal))})"
        if op == "disjoint" or self.rtree is None:
            return sql
        x0, y0, x1, y1 = (self.param(float(v)) for v in shapely.bounds(literal))
        return (
            f'(t.fid IN (SELECT id FROM "{self.rtree}" WHERE minx <= {x1} AND maxx >= {x0} '
            f"AND miny <= {y1} AND maxy >= {y0}) AND {sql})"
        )
