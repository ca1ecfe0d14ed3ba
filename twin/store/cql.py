"""CQL2 pieces every backend's compiler shares: AND/OR chains, geometry literals, predicates,
and the compiler of the SQL that SQLite and PostgreSQL share (:class:`FilterCompiler`).

The API parses and measures a filter (:mod:`twin.api.cql`); a backend compiles the parsed
tree to its own query language (:mod:`twin.store.gpkg_cql` for SQLite,
:mod:`twin.store.postgis_features` for PostGIS). What a filter means
does not depend on the backend, and lives here.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import shapely
from pygeofilter import ast, values

from twin.errors import InputError
from twin.store.base import INTEGERS, ToStore

#: the names a filter may give the primary geometry
GEOMETRY_NAMES = ("geometry", "geom")

#: CQL2 spatial predicate -> GEOS predicate name
SPATIAL = {
    ast.GeometryIntersects: "intersects",
    ast.GeometryDisjoint: "disjoint",
    ast.GeometryContains: "contains",
    ast.GeometryWithin: "within",
    ast.GeometryTouches: "touches",
    ast.GeometryCrosses: "crosses",
    ast.GeometryOverlaps: "overlaps",
    ast.GeometryEquals: "equals",
}


def chain(node: ast.And | ast.Or, /) -> list[Any]:
    """The terms of an AND (or OR) chain, in order, however deep pygeofilter nested them.

    Examples
    --------
    >>> from pygeofilter.parsers.cql2_text import parse
    >>> len(chain(parse("height > 1 AND storeys = 2 AND use = 'x'")))
    3
    """
    kind, terms, stack = type(node), [], [node]
    while stack:
        item = stack.pop()
        if type(item) is kind:
            stack += [item.rhs, item.lhs]
        else:
            terms.append(item)
    return terms


def _bbox(numbers: list[Any]) -> shapely.Geometry:
    """The rectangle of a CQL2 ``BBOX`` literal; of six numbers, the heights are dropped
    (the spatial predicates are 2D)."""
    if len(numbers) not in (4, 6) or any(
        isinstance(v, bool) or not isinstance(v, int | float) for v in numbers
    ):
        raise InputError(
            "filter: BBOX takes 4 or 6 numbers: minx, miny[, minz], maxx, maxy[, maxz]"
        )
    # an integer too large for a float is as infinite as 1e999
    floats = [float(v) if abs(v) < 1e308 else math.inf for v in numbers]
    if not all(map(math.isfinite, floats)):
        raise InputError(f"filter: BBOX{tuple(numbers)}: the numbers must be finite")
    x0, y0, x1, y1 = (floats[0], floats[1], floats[3], floats[4]) if len(floats) == 6 else floats
    if x0 > x1 or y0 > y1:
        raise InputError(f"filter: BBOX{tuple(numbers)}: a lower corner is above the upper one")
    return shapely.box(x0, y0, x1, y1)


def literal_geometry(value: Any, /) -> shapely.Geometry:
    """The geometry of a literal: a CQL2 ``BBOX``, a geometry, or pygeofilter's ``ENVELOPE``.

    Raises
    ------
    InputError
        When the literal is no geometry, or an invalid one.

    Examples
    --------
    >>> literal_geometry(ast.Function("bbox", [0, 0, 2, 1])).area
    2.0
    """
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
            raise InputError(f"filter: invalid geometry literal: {exc}") from None
    raise InputError("filter: a spatial predicate needs a geometry literal")


_COMPARE = {
    ast.Equal: "=",
    ast.NotEqual: "<>",
    ast.LessThan: "<",
    ast.LessEqual: "<=",
    ast.GreaterThan: ">",
    ast.GreaterEqual: ">=",
}


class FilterCompiler:
    """Turns a pygeofilter AST into an SQL ``WHERE`` fragment with named parameters, in the
    SQL that SQLite and PostgreSQL share; a backend's subclass says how a parameter is
    written (:meth:`placeholder`), how a value is bound (:meth:`bind`) and how a spatial
    predicate is tested (:meth:`spatial_sql`).

    Property names are checked against the layer's columns and written as quoted identifiers
    from that list; every literal becomes a named parameter. Nothing a client sends is ever
    pasted into SQL text. An AND or OR chain becomes one flat SQL group.

    Parameters
    ----------
    columns
        Queryable column -> JSON type; anything else is refused.
    to_store
        Turns literal geometries (in the filter CRS) into the store CRS (a :class:`ToStore`).
    geometry_column
        The layer's geometry column.
    """

    def __init__(
        self, columns: dict[str, str], *, to_store: ToStore, geometry_column: str = "geom"
    ):
        self.columns = columns
        self.to_store = to_store
        self.geometry_column = geometry_column
        self._names = (f"f{i}" for i in itertools.count())
        self.params: dict[str, Any] = {}

    # -- the backend's dialect ---------------------------------------------------------------

    def placeholder(self, name: str, /) -> str:
        """How the SQL text names the parameter ``name``."""
        raise NotImplementedError

    def bind(self, value: Any, /) -> Any:
        """The value bound for a literal ``value``."""
        return value

    def spatial_sql(self, op: str, geometry: str, literal: shapely.Geometry, /) -> str:
        """SQL true where the column expression ``geometry`` is in GEOS relation ``op``
        (``intersects``, ``within``...) to ``literal`` (in the store CRS, valid, not
        empty unless ``op`` is ``disjoint``)."""
        raise NotImplementedError

    # -- the tree ------------------------------------------------------------------------------

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

    def param(self, value: Any, /) -> str:
        """A new parameter holding ``value`` (already a value to bind), as the SQL names it."""
        name = next(self._names)
        self.params[name] = value
        return self.placeholder(name)

    def _literal(self, value: Any) -> str:
        if isinstance(value, ast.Node):  # a property or an expression where only a literal goes
            what = "a property" if isinstance(value, ast.Attribute) else type(value).__name__
            raise InputError(f"filter: {what} where a literal is expected")
        if isinstance(value, list | tuple | dict | values.Geometry | values.Envelope):
            raise InputError(f"filter: a literal {value!r} cannot be compared")
        if isinstance(value, int) and value not in INTEGERS:
            raise InputError(f"filter: the integer {value} is beyond the 64-bit integers")
        return self.param(self.bind(value))

    def _operand(self, value: Any) -> str:
        if isinstance(value, ast.Attribute):
            return self._column(value.name)
        if isinstance(value, ast.Node):
            raise InputError(f"filter: {type(value).__name__} is not supported here")
        return self._literal(value)

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
            return f"{self._operand(node.lhs)} {neg}LIKE {self._literal(node.pattern)} ESCAPE '\\'"
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
            return "(1 = 0)"  # outside the store CRS's area: nothing meets it
        if not shapely.is_valid(literal):  # a ring pinched by the transformation
            literal = shapely.make_valid(literal)
        return self.spatial_sql(op, f't."{self.geometry_column}"', literal)
