"""CQL2 pieces every backend's compiler shares: AND/OR chains, geometry literals, predicates.

The API parses and measures a filter (:mod:`twin.api.cql`); a backend compiles the parsed
tree to its own query language (:mod:`twin.store.gpkg_cql` for SQLite). What a filter means
does not depend on the backend, and lives here.
"""

from __future__ import annotations

import json
import math
from typing import Any

import shapely
from pygeofilter import ast, values

from twin.errors import InputError

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
