"""Excavation rules: values with their units and sources, from a TOML file.

The defaults ship as ``excavation_rules.toml`` beside this module; a city's own file
overrides the keys it names. Lengths are compared with a rule's limit through :func:`under`
and :func:`over`, with one tolerance (:data:`TOLERANCE_M`), so that a result does not flip at
a limit by floating-point noise.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from twin.errors import ConfigError

TOLERANCE_M = 0.001
"""Metres: a length within 1 mm of a rule's limit counts as on the limit. Rule limits are
given to the centimetre; 1 mm is far below what anyone measures in a trench and far above the
floating-point noise of coordinates in metres (about 1e-10 m at 10^5 m)."""


def under(value: ArrayLike, limit: ArrayLike, /) -> NDArray[np.bool_]:
    """Whether ``value`` lies below ``limit`` by more than :data:`TOLERANCE_M` (both in m).

    A value on the limit, within the tolerance, is not under it.

    Examples
    --------
    >>> under([0.39, 0.4 - 1e-10, 0.4], 0.4).tolist()
    [True, False, False]
    """
    return np.asarray(value, dtype=float) < np.asarray(limit, dtype=float) - TOLERANCE_M


def over(value: ArrayLike, limit: ArrayLike, /) -> NDArray[np.bool_]:
    """Whether ``value`` lies above ``limit`` by more than :data:`TOLERANCE_M` (both in m).

    Examples
    --------
    >>> over([1.25 + 1e-10, 1.26], 1.25).tolist()
    [False, True]
    """
    return np.asarray(value, dtype=float) > np.asarray(limit, dtype=float) + TOLERANCE_M


@dataclass(frozen=True)
class Rule:
    """One rule: its value, unit and where it comes from."""

    value: Any
    unit: str
    source: str


class Rules(dict[str, Rule]):
    """Rules by dotted name (``"clearance.horizontal"``).

    Examples
    --------
    >>> rules = Rules.load()
    >>> rules.value("clearance.horizontal"), rules["clearance.vertical"].unit
    (0.4, 'm')
    """

    @classmethod
    def load(cls, path: str | Path | None = None, /) -> Rules:
        """The default rules, overridden by those in ``path`` when given.

        Raises
        ------
        ConfigError
            When the file is unreadable, names an unknown rule, misses a value, or gives a
            value of another kind than the default's (a text for a number, a list of another
            length) or a negative number (no rule's length, angle or period is negative).
        """
        rules = cls(_defaults())
        if path is not None:
            try:
                raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"{path}: cannot read excavation rules: {exc}") from exc
            for name, rule in _flatten(raw, str(path)).items():
                if name not in rules:
                    raise ConfigError(f"{path}: unknown rule {name!r}")
                default = rules[name]
                if _kind(rule.value) != _kind(default.value):
                    raise ConfigError(
                        f"{path}: rule {name!r} = {rule.value!r}: must be "
                        f"{_kind(default.value)}, as the default {default.value!r} "
                        f"{default.unit}".rstrip()
                    )
                if any(v < 0 for v in _numbers(rule.value)):
                    raise ConfigError(
                        f"{path}: rule {name!r} = {rule.value!r}: must not be negative"
                    )
                rules[name] = rule
        return rules

    def value(self, name: str, /) -> Any:
        """The value of a rule."""
        return self[name].value

    def cite(self, name: str, /) -> str:
        """``"0.4 m (DVGW W 400-1 ...)"``: a rule as a report states it."""
        rule = self[name]
        return f"{rule.value} {rule.unit} ({rule.source})".replace("  ", " ")


@functools.cache
def _defaults() -> dict[str, Rule]:
    """The shipped rules, parsed once (a trench check loads them for every trench)."""
    default = resources.files("twin.analysis").joinpath("excavation_rules.toml")
    return _flatten(tomllib.loads(default.read_text(encoding="utf-8")), "defaults")


def _kind(value: Any, /) -> str:
    """What a rule's value is, as a message names it.

    Examples
    --------
    >>> _kind(0.4), _kind([0.6, 1.0]), _kind([]), _kind(float("nan"))
    ('a finite number', 'a list of 2 finite numbers', 'a list of texts', 'nan')
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
        return "a finite number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "a list of texts"  # of any length, none too
    if isinstance(value, list) and all(_kind(v) == "a finite number" for v in value):
        return f"a list of {len(value)} finite numbers"
    return repr(value)


def _numbers(value: Any, /) -> list[float]:
    """The numbers of a rule's value (a number, or a list of them)."""
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, int | float) and not isinstance(v, bool)]


def _flatten(raw: dict[str, Any], origin: str, prefix: str = "") -> dict[str, Rule]:
    out: dict[str, Rule] = {}
    for key, item in raw.items():
        name = f"{prefix}{key}"
        if not isinstance(item, dict):
            raise ConfigError(f"{origin}: rule {name!r} must be a table with value and source")
        if "value" in item:
            if "source" not in item:
                raise ConfigError(f"{origin}: rule {name!r} gives no source")
            out[name] = Rule(item["value"], str(item.get("unit", "")), str(item["source"]))
        else:
            out.update(_flatten(item, origin, f"{name}."))
    return out
