"""Analysis results as plain data: tables as JSON-serialisable records, JSON and GeoJSON text,
written atomically."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import orjson
import pandas as pd

from twin.files import atomic


def to_records(frame: pd.DataFrame, /) -> list[dict[str, Any]]:
    """The rows of ``frame`` (geometry left out) as dicts of plain Python values; NaN -> None.

    Examples
    --------
    >>> to_records(pd.DataFrame({"a": [1, 2], "b": [0.5, float("nan")]}))
    [{'a': 1, 'b': 0.5}, {'a': 2, 'b': None}]
    """
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else "geometry"
    names = [str(c) for c in frame.columns if c != geometry]
    # numpy's astype(object) gives Python scalars; missing values become None. Column by
    # column, then zipped: pandas' own row methods cost milliseconds a small table.
    columns = [frame[c].to_numpy(dtype=object, copy=True) for c in names]
    for values in columns:
        values[pd.isna(values)] = None
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


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


def feature_collection(layers: Iterable[tuple[gpd.GeoDataFrame, str]], /) -> str:
    """One GeoJSON FeatureCollection (RFC 7946: WGS 84 longitude, latitude) of ``(frame,
    kind)`` layers, each feature with its ``kind`` first among its properties."""
    features = []
    for frame, kind in layers:
        if len(frame) == 0:
            continue
        data = json.loads(frame.to_crs("EPSG:4326").to_json(drop_id=True, to_wgs84=False))
        for feature in data["features"]:
            feature["properties"] = {"kind": kind, **feature["properties"]}
            features.append(feature)
    return json.dumps({"type": "FeatureCollection", "features": features})


def write_text(path: Path, text: str, /) -> Path:
    """Write ``text`` to ``path`` atomically; returns ``path``."""
    with atomic(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
