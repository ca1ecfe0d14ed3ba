"""CQL2 filters (text and JSON, parsed by pygeofilter) turned into parameterised SQL.

Property names are checked against the collection's queryables and written as quoted
identifiers from that list; every literal becomes a named parameter. Nothing a client sends
is ever pasted into SQL text.

A filter is measured before anything walks it recursively: brackets nested more than
:data:`MAX_NESTING` deep (counted in the text, before parsing), more than :data:`MAX_TERMS`
terms or more than :data:`MAX_DEPTH` levels (counted in the parsed tree, without recursion)
are a 400. An AND or OR chain, which pygeofilter nests one level per operator, is one level
and becomes one flat SQL group.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
from typing import Any, Protocol

import numpy as np
import shapely
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parse as parse_text

from twin.api.problems import Problem
from twin.api.source import INTEGERS

# pygeofilter builds its grammars with lark's debug flag, which lowers lark's shared logger to
# DEBUG: every grammar built later (jsonschema's URI checks) would then print thousands of
# "Unused rule" lines on standard error. Put the level back.
logging.getLogger("lark").setLevel(logging.WARNING)

GEOMETRY_NAMES = ("geometry", "geom")

#: Brackets (parentheses in cql2-text, ``[`` and ``{`` in cql2-json) may nest this deep.
MAX_NESTING = 50
#: Operators, properties and literals a filter may have (an AND or OR chain is one).
MAX_TERMS = 500
#: Levels a filter may have, a chain of ANDs or ORs counting as one. SQLite parses with a
#: fixed stack (100 entries in SQLite 3.40), which about 25 nested groups of SQL fill.
MAX_DEPTH = 20

# Quoted strings as the grammars read them: pygeofilter's cql2-text strings and identifiers
# run to the next quote on the same line; JSON strings know backslash escapes.
_QUOTED = {
    "cql2-text": re.compile(r"'[^'\n]*'|\"[^\"\n]*\""),
    "cql2-json": re.compile(r'"(?:[^"\\]|\\.)*"'),
}
_BRACKETS = {"cql2-text": (b"(", b")"), "cql2-json": (b"[{", b"]}")}

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


class ToStore(Protocol):
    """Turns literal geometries (in the filter CRS) into the store CRS; with ``whole``, a
    geometry reaching outside the store CRS's area becomes empty rather than cut."""

    def __call__(self, geoms: np.ndarray, /, *, whole: bool = False) -> np.ndarray: ...


def parse(text: str, /, *, lang: str = "cql2-text") -> ast.Node:
    """Parse a CQL2 filter.

    Raises
    ------
    Problem
        400 with the position of a syntax error, or when the filter is larger or nested
        deeper than the limits of this module.

    Examples
    --------
    >>> parse("height > 10")
    GreaterThan(lhs=ATTRIBUTE height, rhs=10)
    >>> parse("height > 10 AND (use = 'x' OR use = 'y')", lang="cql2-text").lhs
    GreaterThan(lhs=ATTRIBUTE height, rhs=10)
    """
    nesting = _nesting(text, lang)
    if nesting > MAX_NESTING:
        raise Problem(400, f"filter: brackets nested {nesting} deep, more than {MAX_NESTING}")
    try:
        if lang == "cql2-json":
            node = parse_json(_bbox_literals(json.loads(text)))
        else:
            node = parse_text(text)
    except Exception as exc:  # lark and json errors: report the first line only
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Problem(400, f"filter ({lang}) is not valid: {first}") from None
    _measure(node)
    return node


def _nesting(text: str, lang: str) -> int:
    """How deep brackets nest in ``text`` outside quoted strings, counted without recursion.

    Examples
    --------
    >>> _nesting("(a = '((' OR (b = 1))", "cql2-text")
    2
    """
    opening, closing = _BRACKETS[lang]
    # brackets are ASCII: no byte of a multi-byte UTF-8 character is one
    codes = np.frombuffer(_QUOTED[lang].sub("", text).encode(errors="replace"), dtype=np.uint8)
    steps = np.isin(codes, list(opening)).astype(np.int64) - np.isin(codes, list(closing))
    return int(np.cumsum(steps).max(initial=0))


def _bbox_literals(node: Any) -> Any:
    """Decoded CQL2 JSON with each ``{"bbox": [...]}`` as ``BBOX(...)`` in cql2-text parses.

    pygeofilter's JSON parser hands the numbers (minx, miny, maxx, maxy) to its
    ``Envelope(x1, x2, y1, y2)`` in the wrong order, and cannot take six. Recursive, but
    :data:`MAX_NESTING` has bounded the depth.
    """
    if isinstance(node, list):
        return [_bbox_literals(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "bbox" in node and "coordinates" not in node:  # a GeoJSON geometry may have a bbox
        numbers = node["bbox"]
        return ast.Function("bbox", numbers if isinstance(numbers, list) else [numbers])
    return {key: _bbox_literals(value) for key, value in node.items()}


def _chain(node: ast.And | ast.Or) -> list[Any]:
    """The terms of an AND (or OR) chain, in order, however deep pygeofilter nested them."""
    kind, terms, stack = type(node), [], [node]
    while stack:
        item = stack.pop()
        if type(item) is kind:
            stack += [item.rhs, item.lhs]
        else:
            terms.append(item)
    return terms


def _measure(root: ast.Node) -> None:
    """Refuse a filter of more than :data:`MAX_TERMS` terms or :data:`MAX_DEPTH` levels.

    Walks the tree with a stack of its own: a tree too deep for Python's recursion is
    refused, not followed.
    """
    terms, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        terms += 1
        if terms > MAX_TERMS:
            raise Problem(400, f"filter: more than {MAX_TERMS} terms")
        if depth > MAX_DEPTH:
            raise Problem(400, f"filter: nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.And | ast.Or):
            children = _chain(node)
        elif isinstance(node, ast.Node):
            children = node.get_sub_nodes()
        else:
            children = []
        stack += [(child, depth + 1) for child in children]


def _bbox(numbers: list[Any]) -> shapely.Geometry:
    """The rectangle of a CQL2 ``BBOX`` literal; of six numbers, the heights are dropped
    (the spatial predicates are 2D)."""
    if len(numbers) not in (4, 6) or any(
        isinstance(v, bool) or not isinstance(v, int | float) for v in numbers
    ):
        raise Problem(
            400, "filter: BBOX takes 4 or 6 numbers: minx, miny[, minz], maxx, maxy[, maxz]"
        )
    # an integer too large for a float is as infinite as 1e999
    floats = [float(v) if abs(v) < 1e308 else math.inf for v in numbers]
    if not all(map(math.isfinite, floats)):
        raise Problem(400, f"filter: BBOX{tuple(numbers)}: the numbers must be finite")
    x0, y0, x1, y1 = (floats[0], floats[1], floats[3], floats[4]) if len(floats) == 6 else floats
    if x0 > x1 or y0 > y1:
        raise Problem(400, f"filter: BBOX{tuple(numbers)}: a lower corner is above the upper one")
    return shapely.box(x0, y0, x1, y1)


def _geometry(value: Any) -> shapely.Geometry:
    """The geometry of a literal: a CQL2 ``BBOX``, a geometry, or pygeofilter's ``ENVELOPE``."""
    # pygeofilter's cql2-text grammar has no BBOX literal (its BBOX keyword is CQL1's
    # predicate BBOX(geometry, ...)), but its function-call rule reads the CQL2 spelling
    # BBOX(minx, miny, maxx, maxy) as the function "bbox" of the numbers: taking that
    # function for the literal needs no change to the grammar nor to the text.
    if isinstance(value, ast.Function) and value.name.lower() == "bbox":
        return _bbox(value.arguments)
    if isinstance(value, values.Envelope):  # ENVELOPE(minx maxx miny maxy), pygeofilter's own
        return shapely.box(value.x1, value.y1, value.x2, value.y2)
    if isinstance(value, values.Geometry):
        try:
            return shapely.from_geojson(json.dumps(value.geometry))
        except shapely.errors.GEOSException as exc:
            raise Problem(400, f"filter: invalid geometry literal: {exc}") from None
    raise Problem(400, "filter: a spatial predicate needs a geometry literal")


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

    Examples
    --------
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
        """The SQL fragment and its parameters."""
        return self._sql(node), self.params

    def _param(self, value: Any) -> str:
        if isinstance(value, ast.Node):  # a property or an expression where only a literal goes
            what = "a property" if isinstance(value, ast.Attribute) else type(value).__name__
            raise Problem(400, f"filter: {what} where a literal is expected")
        if isinstance(value, list | tuple | dict | values.Geometry | values.Envelope):
            raise Problem(400, f"filter: a literal {value!r} cannot be compared")
        if isinstance(value, int) and value not in INTEGERS:
            raise Problem(400, f"filter: the integer {value} is beyond the 64-bit integers")
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
            op = " AND " if isinstance(node, ast.And) else " OR "
            return f"({op.join(self._sql(term) for term in _chain(node))})"
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
        if type(node) in _SPATIAL:
            return self._spatial(_SPATIAL[type(node)], node.lhs, node.rhs)
        raise Problem(400, f"filter: {type(node).__name__} is not supported")

    def _spatial(self, op: str, lhs: Any, rhs: Any) -> str:
        if isinstance(rhs, ast.Attribute):
            lhs, rhs = rhs, lhs
            op = {"contains": "within", "within": "contains"}.get(op, op)
        if not isinstance(lhs, ast.Attribute) or lhs.name not in GEOMETRY_NAMES:
            raise Problem(400, "filter: a spatial predicate compares the geometry to a literal")
        literal = _geometry(rhs)
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
