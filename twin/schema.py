"""Config files as schemas: every key declared once with its type, unit and range (pydantic),
and one message for whatever a file gets wrong.

The build config (``ingest.config``) and the service config (``twin.api.config``) declare
their tables as pydantic models (or pydantic dataclasses) with the field makers here:
:func:`quantity` for a number (strict: an integer is a number, a string or a boolean is not;
its unit and range in the declaration) and :func:`string`. :func:`validated` reads a parsed
TOML document with such a model and turns pydantic's errors into one :class:`ConfigError`
naming the file and each bad key, its value and what it must be::

    twin.toml: [lod1] roof_percentile = 150: must be between 0 and 100 (%)
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from pydantic import ConfigDict, Field
from pydantic.fields import FieldInfo

from twin.errors import ConfigError

#: how a table is read: unknown keys refused, no infinities or NaN (TOML has both)
OPTIONS = ConfigDict(extra="forbid", allow_inf_nan=False)
#: the same for a model (pydantic dataclasses take ``frozen`` from their decorator)
TABLE = ConfigDict(OPTIONS, frozen=True)

M = TypeVar("M", bound=pydantic.BaseModel)


def quantity(default: Any, unit: str, meaning: str, /, **bounds: float) -> Any:
    """A numeric key: its ``default``, ``unit`` (``"m"``, ``"%"``, ``"s"``...), meaning and
    range.

    ``bounds`` are pydantic's ``ge``, ``gt``, ``le`` and ``lt``. The type is checked strictly
    (an integer is a number, a string or a boolean is not); the unit is kept in the field's
    ``json_schema_extra`` for the messages.
    """
    return Field(
        default,
        strict=True,
        description=f"{meaning} ({unit})",
        json_schema_extra={"unit": unit},
        **bounds,
    )


def string(default: Any, meaning: str, /, **extra: Any) -> Any:
    """A string key, not empty, taken only as a string (a number or a table is refused)."""
    return Field(default, strict=True, min_length=1, description=meaning, **extra)


def validated(model: type[M], raw: Any, /, *, where: str) -> M:
    """``raw`` (a parsed TOML document or table) as ``model``, a pydantic model.

    Raises
    ------
    ConfigError
        Naming ``where`` (the file) and every bad key: ``where: [table] key = value: must
        be ...``, one part per key, joined by ``"; "``.

    Examples
    --------
    >>> from pydantic import create_model
    >>> limit = quantity(10.0, "s", "a longer query is interrupted", gt=0)
    >>> Limits = create_model("Limits", __config__=TABLE, timeout_s=(float, limit))
    >>> Service = create_model("Service", __config__=TABLE, limits=(Limits, Limits()))
    >>> validated(Service, {"limits": {"timeout_s": 2}}, where="api.toml").limits.timeout_s
    2.0
    >>> validated(Service, {"limits": {"timeout_s": "2", "retry": 1}}, where="api.toml")
    Traceback (most recent call last):
    ...
    twin.errors.ConfigError: api.toml: [limits] timeout_s = '2': must be a number > 0 (s); \
[limits] retry: unknown key; known: timeout_s
    """
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise ConfigError(f"{where}: {describe_errors(exc, model)}") from None


#: pydantic error types of a number of the right type, out of its range
_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
#: pydantic error types of an unknown key
_UNKNOWN_ERRORS = {"extra_forbidden", "unexpected_keyword_argument"}


def describe_errors(error: pydantic.ValidationError, model: type, /) -> str:
    """One part per bad key of a document validated by ``model``, joined by ``"; "``.

    Each names the key as ``[table] key``, its value and what it must be (type, range and
    unit, from the field's declaration; a field's ``json_schema_extra={"must": ...}`` says it
    in its own words). An unknown key lists the known ones; a table whose model has a
    ``title`` in its config (``"source"``) names an unknown entry by it.
    """
    parts: dict[tuple[str, ...], str] = {}
    for item in error.errors(include_url=False):
        unknown = item["type"] in _UNKNOWN_ERRORS
        key, info, owner = _resolve(model, item["loc"], unknown=unknown)
        if key not in parts:  # one part per key (a union reports each of its members)
            parts[key] = _part(key, item, info, owner)
    return "; ".join(parts.values())


def _resolve(
    model: type, loc: tuple[str | int, ...], /, *, unknown: bool
) -> tuple[tuple[str, ...], FieldInfo | None, type]:
    """The key at ``loc``, its field (``None``: an ``unknown`` key) and the model that holds
    it. A table's key (``dict[str, X]``) is a part of the key, a list's position is written
    ``#1``, ``#2``...; parts of ``loc`` past a plain field (pydantic's union members) are
    dropped."""
    owner, current, info, key = model, model, None, []
    for part in loc:
        known = _fields(current)
        origin = typing.get_origin(current)
        if known:
            owner = current
            if part not in known:
                if unknown:
                    key.append(str(part))
                    info = None
                break
            info = known[part]
            key.append(str(part))
            current = _optional(info.annotation)
        elif origin is dict:
            key.append(str(part))
            current = _optional(typing.get_args(current)[1])
            info = FieldInfo.from_annotation(current)
        elif origin in (list, tuple) and isinstance(part, int) and key:
            key[-1] += f" #{part + 1}"
            current = _optional(typing.get_args(current)[0])
            info = FieldInfo.from_annotation(current)
        else:
            break
    return tuple(key), info, owner


def _optional(annotation: Any, /) -> Any:
    """``X`` of ``X | None``; other annotations as they are."""
    members = typing.get_args(annotation)
    if type(None) in members and len(members) == 2:
        return next(m for m in members if m is not type(None))
    return annotation


def _fields(owner: Any, /) -> dict[str, FieldInfo]:
    """The fields of a model or pydantic dataclass (none for other types)."""
    if not isinstance(owner, type):
        return {}
    return getattr(owner, "__pydantic_fields__", None) or {}


def _part(key: tuple[str, ...], item: Any, info: FieldInfo | None, owner: type, /) -> str:
    """The message of one bad key."""
    table, name = ".".join(key[:-1]), key[-1]
    where = f"[{table}] {name}" if table else f"[{name}]"
    if info is None:
        known = ", ".join(_fields(owner))
        title = getattr(owner, "model_config", {}).get("title")
        if title or not table:
            return f"unknown {title or 'table'} [{'.'.join(key)}]; known: {known}"
        return f"{where}: unknown key; known: {known}"
    if item["type"] == "missing":
        return f"[{table}] needs a '{name}'" if table else f"needs a [{name}] table"
    where += f" = {_shown(item['input'])}"
    kind, need = _requirement(info)
    if kind == "a table":
        return f"{where}: must be a table"
    if item["type"] in _RANGE_ERRORS:
        return f"{where}: must be {need}"
    if item["type"] == "finite_number":
        kind = "a finite number"
    return f"{where}: must be {kind}{need and ' ' + need}"


def _requirement(info: FieldInfo, /) -> tuple[str, str]:
    """What a field's value must be, in words: its type, and its range with its unit."""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "must" in extra:
        return str(extra["must"]), ""
    annotation = info.annotation
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " or ".join(map(repr, typing.get_args(annotation))), ""
    if origin in (list, tuple, dict):
        return _type_name(annotation), ""
    members = [
        typing.get_args(a)[0] if typing.get_origin(a) is Annotated else a
        for a in (typing.get_args(annotation) or (annotation,))
        if a is not type(None)
    ]
    if members == [str]:
        return "a string, not empty", ""
    if len(members) == 1 and _fields(members[0]):
        return "a table", ""
    if members not in ([int], [float]):
        return _type_name(annotation), ""
    low = high = None
    for bound in info.metadata:
        for attr, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(bound, attr, None)
            if value is not None and attr in ("ge", "gt"):
                low = (word, _number(value))
            elif value is not None:
                high = (word, _number(value))
    if low and high and low[0] == ">=" and high[0] == "<=":
        need = f"between {low[1]} and {high[1]}"
    else:
        need = " and ".join(f"{word} {value}" for word, value in (p for p in (low, high) if p))
    unit = extra.get("unit")
    need = f"{need} ({unit})".strip() if unit else need
    return ("a whole number" if members == [int] else "a number"), need


def _type_name(annotation: Any, /) -> str:
    """A type as a message names it: ``a list``, ``a table``, ``a string or a whole number``."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a table"
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}
    members = [
        typing.get_args(a)[0] if typing.get_origin(a) is Annotated else a
        for a in typing.get_args(annotation) or (annotation,)
    ]
    return " or ".join(names.get(m, "a " + getattr(m, "__name__", str(m))) for m in members)


def _number(value: float, /) -> str:
    """A bound as written: ``100``, ``0.5``, ``100000000``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _shown(value: Any, /) -> str:
    """A value as a message shows it: a string quoted, a table as such, at most 60 chars."""
    if isinstance(value, dict):
        return "a table"
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."
