"""TOML text written from Python values, for the tests that make configs (the standard library
reads TOML but does not write it)."""

from __future__ import annotations

import datetime
import json
import math

VALUES = [
    0, 1, -1, 3, 150, 10**30, -(10**30), 0.0, 2.5, -5.0, 1e300, math.inf, -math.inf, math.nan,
    True, "", "three", "EPSG:7415", "flat", "3dfier", "x\u0000", [], [1, 2], ["a"], {},
    {"a": 1}, {"path": 3}, datetime.date(2024, 1, 1),
]  # fmt: skip
"""Values of every TOML type, some in range for a config key, some absurd: what the config
fuzz tests draw from."""


def value(item) -> str:
    """One value as TOML: booleans, numbers (``nan``, ``inf``), strings, dates, arrays and
    inline tables."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, float):
        if math.isnan(item):
            return "nan"
        return {math.inf: "inf", -math.inf: "-inf"}.get(item, repr(item))
    if isinstance(item, int):
        return str(item)
    if isinstance(item, str):
        return json.dumps(item)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(item, datetime.date):
        return item.isoformat()
    if isinstance(item, list):
        return "[" + ", ".join(map(value, item)) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {value(v)}" for k, v in item.items()) + "}"


def document(doc: dict, /, prefix: tuple[str, ...] = ()) -> str:
    """``doc`` as TOML text: its plain values under a table header, then its tables."""
    lines = [f"[{'.'.join(map(json.dumps, prefix))}]"] if prefix else []
    lines += [f"{json.dumps(k)} = {value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for key, item in doc.items():
        if isinstance(item, dict):
            lines.append(document(item, (*prefix, key)))
    return "\n".join(lines) + "\n"
