"""Tables of analysis results as plain JSON-serialisable records."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def to_records(frame: pd.DataFrame, /) -> list[dict[str, Any]]:
    """The rows of ``frame`` (geometry left out) as dicts of plain Python values; NaN -> None.

    Examples
    --------
    >>> to_records(pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]}))
    [{'a': 1, 'b': 0.5}, {'a': 2, 'b': None}]
    """
    table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    return [{k: _plain(v) for k, v in row.items()} for row in table.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value
