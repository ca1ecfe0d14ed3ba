"""Tables of analysis results as plain JSON-serialisable records."""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd


def to_records(frame: pd.DataFrame, /) -> list[dict[str, Any]]:
    """The rows of ``frame`` (geometry left out) as dicts of plain Python values; NaN -> None.

    Examples
    --------
    >>> to_records(pd.DataFrame({"a": [1, 2], "b": [0.5, float("nan")]}))
    [{'a': 1, 'b': 0.5}, {'a': 2, 'b': None}]
    """
    table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    # object columns hold Python scalars (numpy's astype(object) converts them), missing
    # values None: one vectorised pass, not a Python call per cell
    return table.astype(object).where(table.notna(), None).to_dict(orient="records")


def to_json(value: Any, /) -> bytes:
    """``value`` (records, dicts, numpy scalars and arrays) as indented UTF-8 JSON.

    orjson, not :func:`json.dumps`: with ``indent`` the standard library encodes in Python,
    seconds for the tables of a city's planned works.

    >>> print(to_json({"a": [1, None]}).decode())
    {
      "a": [
        1,
        null
      ]
    }
    """
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
