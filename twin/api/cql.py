"""CQL2 filters (text and JSON, parsed by pygeofilter) turned into parameterised SQL.

Property names are checked against the collection's queryables and written as quoted
identifiers from that list; every literal becomes a named parameter. Nothing a client sends
is ever pasted into SQL text.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parse as parse_text

from twin.api.problems import Problem

# pygeofilter builds its grammars with lark's debug flag, which lowers lark's shared logger to
# DEBUG: every grammar built later (jsonschema's URI checks) would then print thousands of
# "Unused rule" lines on standard error. Put the level back.
logging.getLogger("lark").setLevel(logging.WARNING)

GEOMETRY_NAMES = ("geometry", "geom")

_COMPARE = {
    ast.Equal: "=",
    ast.NotEqual: "<>",
    ast.LessThan: "<",
    ast.LessEqual: "<=",
    ast.GreaterThan: ">",
    ast.GreaterEqual: ">=",
}
_SPATIAL = {
    ast.GeometryIntersects: "intersects",
    ast.GeometryDisjoint: "disjoint",
    ast.GeometryContains: "contains",
    ast.GeometryWithin: "within",
    ast.GeometryTouches: "touches",
    ast.GeometryCrosses: "crosses",
    ast.GeometryOverlaps: "overlaps",
    ast.GeometryEquals: "equals",
}


def parse(text: str, /, *, lang: str = "cql2-text") -> ast.Node:
    """Parse a CQL2 filter.

    Raises
    ------
    Problem
        400 with the position of a syntax error.

    Examples
    --------
    >>> parse("height > 10")
    GreaterThan(lhs=ATTRIBUTE height, rhs=10)
    """
    try:
        if lang == "cql2-json":
            return parse_json(json.loads(text))
        return parse_text(text)
    except Exception as exc:  # lark and json errors: report the first line only
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Problem(400, f"filter ({lang}) is not valid: {first}") from None


class SQLCompiler:
    """Turns a pygeofilter AST into an SQL ``WHERE`` fragment with named parameters.

    Parameters
    ----------
    columns
        Queryable column -> JSON type; anything else is refused.
    to_store
        Turns literal geometries (in the filter CRS) into the store CRS.
    rtree
        The layer's R-tree table, used to pre-select candidates of spatial predicates.

    Examples
    --------
    >>> c = SQLCompiler({"height": "number"}, to_store=lambda g: g, rtree=None)
    >>> c.compile(parse("height >= 10"))
    ('t."height" >= :f0', {'f0': 10})
    """

    def __init__(
        self,
        columns: dict[str, str],
        *,
        to_store: Callable[[np.ndarray], np.ndarray],
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
        """The SQL fragment and its parameters."""
        return self._sql(node), self.params

    def _param(self, value: Any) -> str:
        if isinstance(value, list | tuple | dict | values.Geometry | values.Envelope):
            raise Problem(400, f"filter: a literal {value!r} cannot be compared")
        name = next(self._names)
        self.params[name] = int(value) if isinstance(value, bool) else value
        return f":{name}"

    def _operand(self, value: Any) -> str:
        if isinstance(value, ast.Attribute):
            return self._column(value.name)
        if isinstance(value, ast.Node):
            raise Problem(400, f"filter: {type(value).__name__} is not supported here")
        return self._param(value)

    def _column(self, name: str) -> str:
        if name not in self.columns:
            known = ", ".join(sorted(self.columns))
            raise Problem(400, f"filter: unknown property {name!r}; queryables: {known}")
        return f't."{name}"'

    def _sql(self, node: Any) -> str:
        if isinstance(node, ast.And | ast.Or):
            op = "AND" if isinstance(node, ast.And) else "OR"
            return f"({self._sql(node.lhs)} {op} {self._sql(node.rhs)})"
        if isinstance(node, ast.Not):
            return f"(NOT {self._sql(node.sub_node)})"
        if type(node) in _COMPARE:
            return f"{self._operand(node.lhs)} {_COMPARE[type(node)]} {self._operand(node.rhs)}"
        if isinstance(node, ast.Like):
            neg = "NOT " if node.not_ else ""
            return f"{self._operand(node.lhs)} {neg}LIKE {self._param(node.pattern)} ESCAPE '\\'"
        if isinstance(node, ast.In):
            neg = "NOT " if node.not_ else ""
            items = ", ".join(self._param(v) for v in node.sub_nodes)
            return f"{self._operand(node.lhs)} {neg}IN ({items})"
        if isinstance(node, ast.IsNull):
            return f"{self._operand(node.lhs)} IS {'NOT ' if node.not_ else ''}NULL"
        if isinstance(node, ast.Between):
            neg = "NOT " if node.not_ else ""
            low, high = self._param(node.low), self._param(node.high)
            return f"{self._operand(node.lhs)} {neg}BETWEEN {low} AND {high}"
        if type(node) in _SPATIAL:
            return self._spatial(_SPATIAL[type(node)], node.lhs, node.rhs)
        raise Problem(400, f"filter: {type(node).__name__} is not supported")

    def _spatial(self, op: str, lhs: Any, rhs: Any) -> str:
        if isinstance(lhs, values.Geometry | values.Envelope):
            lhs, rhs = rhs, lhs
            op = {"contains": "within", "within": "contains"}.get(op, op)
        if not isinstance(lhs, ast.Attribute) or lhs.name not in GEOMETRY_NAMES:
            raise Problem(400, "filter: a spatial predicate compares the geometry to a literal")
        if isinstance(rhs, values.Envelope):
            literal = shapely.box(rhs.x1, rhs.y1, rhs.x2, rhs.y2)
        elif isinstance(rhs, values.Geometry):
            try:
                literal = shapely.from_geojson(json.dumps(rhs.geometry))
            except shapely.errors.GEOSException as exc:
                raise Problem(400, f"filter: invalid geometry literal: {exc}") from None
        else:
            raise Problem(400, "filter: a spatial predicate needs a geometry literal")
        literal = self.to_store(np.array([literal], dtype=object))[0]
        if not shapely.is_valid(literal) and literal.geom_type.endswith("Polygon"):
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
