"""CQL2 filters (parsed by pygeofilter) turned into parameterised SQLite SQL on a GeoPackage.

Property names are checked against the layer's columns and written as quoted identifiers from
that list; every literal becomes a named parameter. Nothing a client sends is ever pasted
into SQL text. An AND or OR chain becomes one flat SQL group. Spatial predicates are tested
by GEOS through the SQL function ``twin_spatial`` (:mod:`twin.store.gpkg_features`), after
the layer's R-tree has picked the candidates.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import shapely
from pygeofilter import ast, values

from twin.errors import InputError
from twin.store.base import INTEGERS, ToStore
from twin.store.cql import GEOMETRY_NAMES, SPATIAL, chain, literal_geometry

_COMPARE = {
    ast.Equal: "=",
    ast.NotEqual: "<>",
    ast.LessThan: "<",
    ast.LessEqual: "<=",
    ast.GreaterThan: ">",
    ast.GreaterEqual: ">=",
}


class SQLCompiler:
    """Turns a pygeofilter AST into an SQL ``WHERE`` fragment with named parameters.

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
        self.columns = columns
        self.to_store = to_store
        self.rtree = rtree
        self.geometry_column = geometry_column
        self._names = (f"f{i}" for i in itertools.count())
        self.params: dict[str, Any] = {}

    def compile(self, node: ast.Node, /) -> tuple[str, dict[str, Any]]:
        """The SQL fragment and its parameters.

        Raises
        ------
        InputError
            For an unknown property, an unsupported operator, or a literal that cannot be
            compared (a list, an integer beyond 64 bits, a spatial predicate without a
            geometry literal).
        """
        return self._sql(node), self.params

    def _param(self, value: Any) -> str:
        if isinstance(value, ast.Node):  # a property or an expression where only a literal goes
            what = "a property" if isinstance(value, ast.Attribute) else type(value).__name__
            raise InputError(f"filter: {what} where a literal is expected")
        if isinstance(value, list | tuple | dict | values.Geometry | values.Envelope):
            raise InputError(f"filter: a literal {value!r} cannot be compared")
        if isinstance(value, int) and value not in INTEGERS:
            raise InputError(f"filter: the integer {value} is beyond the 64-bit integers")
        name = next(self._names)
        self.params[name] = int(value) if isinstance(value, bool) else value
        return f":{name}"

    def _operand(self, value: Any) -> str:
        if isinstance(value, ast.Attribute):
            return self._column(value.name)
        if isinstance(value, ast.Node):
            raise InputError(f"filter: {type(value).__name__} is not supported here")
        return self._param(value)

    def _column(self, name: str) -> str:
        if name not in self.columns:
            known = ", ".join(sorted(self.columns))
            raise InputError(f"filter: unknown property {name!r}; queryables: {known}")
        return f't."{name}"'

    def _sql(self, node: Any) -> str:
        if isinstance(node, ast.And | ast.Or):
            op = " AND " if isinstance(node, ast.And) else " OR "
            return f"({op.join(self._sql(term) for term in chain(node))})"
        if isinstance(node, ast.Not):
            return f"(NOT {self._sql(node.sub_node)})"
        if type(node) in _COMPARE:
            return f"{self._operand(node.lhs)} {_COMPARE[type(node)]} {self._operand(node.rhs)}"
        if isinstance(node, ast.Like):
            neg = "NOT " if node.not_ else ""
            return f"{self._operand(node.lhs)} {neg}LIKE {self._param(node.pattern)} ESCAPE '\\'"
        if isinstance(node, ast.In):
            neg = "NOT " if node.not_ else ""
            items = ", ".join(self._operand(v) for v in node.sub_nodes)
            return f"{self._operand(node.lhs)} {neg}IN ({items})"
        if isinstance(node, ast.IsNull):
            return f"{self._operand(node.lhs)} IS {'NOT ' if node.not_ else ''}NULL"
        if isinstance(node, ast.Between):
            neg = "NOT " if node.not_ else ""
            low, high = self._operand(node.low), self._operand(node.high)
            return f"{self._operand(node.lhs)} {neg}BETWEEN {low} AND {high}"
        if type(node) in SPATIAL:
            return self._spatial(SPATIAL[type(node)], node.lhs, node.rhs)
        raise InputError(f"filter: {type(node).__name__} is not supported")

    def _spatial(self, op: str, lhs: Any, rhs: Any) -> str:
        if isinstance(rhs, ast.Attribute):
            lhs, rhs = rhs, lhs
            op = {"contains": "within", "within": "contains"}.get(op, op)
        if not isinstance(lhs, ast.Attribute) or lhs.name not in GEOMETRY_NAMES:
            raise InputError("filter: a spatial predicate compares the geometry to a literal")
        literal = literal_geometry(rhs)
        if not shapely.is_valid(literal):  # GEOS refuses to cut or compare invalid polygons
            literal = shapely.make_valid(literal)
        # A feature can only contain or equal a literal that lies in the store's area whole.
        whole = op in ("contains", "equals")
        literal = self.to_store(np.array([literal], dtype=object), whole=whole)[0]
        if literal.is_empty and op != "disjoint":
            return "0"  # outside the store CRS's area: nothing meets it
        if not shapely.is_valid(literal):  # a ring pinched by the transformation
            literal = shapely.make_valid(literal)
        geom = f't."{self.geometry_column}"'
        sql = f"twin_spatial('{op}', {geom}, {self._param(shapely.to_wkb(literal))})"
        if op == "disjoint" or self.rtree is None:
            return sql
        x0, y0, x1, y1 = (self._param(float(v)) for v in shapely.bounds(literal))
        return (
            f'(t.fid IN (SELECT id FROM "{self.rtree}" WHERE minx <= {x1} AND maxx >= {x0} '
            f"AND miny <= {y1} AND maxy >= {y0}) AND {sql})"
        )
