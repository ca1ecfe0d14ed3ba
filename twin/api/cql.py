"""CQL2 filters (text and JSON) parsed by pygeofilter and measured before they go further.

The parsed tree goes to the store in a :class:`~twin.store.base.Selection`; the store's
backend compiles it to its own query language (:mod:`twin.store.gpkg_cql` for the
GeoPackage), checking property names against the layer's columns.

A filter is measured before anything walks it recursively: brackets nested more than
:data:`MAX_NESTING` deep (counted in the text, before parsing), more than :data:`MAX_TERMS`
terms or more than :data:`MAX_DEPTH` levels (counted in the parsed tree, without recursion)
are a 400. An AND or OR chain, which pygeofilter nests one level per operator, is one level.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
from lark import Lark
from pygeofilter import ast
from pygeofilter.parsers import cql2_text
from pygeofilter.parsers.cql2_json import parse as parse_json

from twin.api.problems import Problem
from twin.store.cql import chain

# pygeofilter builds its grammars with lark's debug flag, which lowers lark's shared logger to
# DEBUG: every grammar built later (jsonschema's URI checks) would then print thousands of
# "Unused rule" lines on standard error. Put the level back.
logging.getLogger("lark").setLevel(logging.WARNING)

#: pygeofilter's cql2-text rules for AND, OR and NOT (pygeofilter 0.4), and CQL2's (OGC 21-065,
#: the BNF of cql2-text: ``booleanExpression = booleanTerm {"OR" booleanTerm}``,
#: ``booleanTerm = booleanFactor {"AND" booleanFactor}``, ``booleanFactor = ["NOT"]
#: booleanPrimary``, a booleanPrimary may be ``"(" booleanExpression ")"``). pygeofilter's
#: give AND and OR one precedence (``a OR b AND c`` read as ``(a OR b) AND c``, not
#: ``a OR (b AND c)``: other features) and take NOT before one predicate only.
_PYGEOFILTER_RULES = """?condition: condition_1
          | condition "AND"i condition_1                                 -> and_
          | condition "OR"i condition_1                                   -> or_

?condition_1: predicate
            | "NOT"i predicate                                               -> not_
            | "NOT"i "(" predicate ")"                                       -> not_
            | "(" condition ")"
"""
_CQL2_RULES = """?condition: term
          | condition "OR"i term                                          -> or_

?term: condition_1
     | term "AND"i condition_1                                            -> and_

?condition_1: predicate
            | "NOT"i predicate                                               -> not_
            | "NOT"i "(" condition ")"                                       -> not_
            | "(" condition ")"
"""


def _text_parser() -> Lark:
    """pygeofilter's cql2-text grammar and transformer, with CQL2's rules for AND, OR and NOT
    (:data:`_CQL2_RULES`). Lark builds the parser: only the rules are replaced, not written."""
    folder = Path(cql2_text.__file__).parent
    grammar = (folder / "grammar.lark").read_text(encoding="utf-8")
    if _PYGEOFILTER_RULES not in grammar:  # another pygeofilter: its rules, as they are
        return cql2_text.parser.parser
    return Lark(
        grammar.replace(_PYGEOFILTER_RULES, _CQL2_RULES),
        parser="lalr",
        maybe_placeholders=False,
        transformer=cql2_text.parser.CQLTransformer(),
        import_paths=[str(folder.parent)],
    )


_TEXT = _text_parser()

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
            node = _TEXT.parse(text)
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
            children = chain(node)
        elif isinstance(node, ast.Node):
            try:
                children = node.get_sub_nodes()
            except TypeError:  # pygeofilter builds nodes of any JSON: IN over a boolean
                raise Problem(400, f"filter: malformed {type(node).__name__} term") from None
        else:
            children = []
        stack += [(child, depth + 1) for child in children]
