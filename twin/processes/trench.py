"""The ``trench-check`` process: a GeoJSON centreline in, the findings of
:func:`twin.analysis.trench.check_trench` out.

The twin's excavation index is built once per version of the twin (its store's change token)
and service area, and kept while the twin stays as it is, so a server checks many trenches
against one index; a rebuilt twin gets a new one.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pyproj
import shapely
import shapely.geometry

from twin.analysis.section import SOILS
from twin.analysis.trench import MAX_SIZE_M, ExcavationIndex, check_trench
from twin.crs import transform_geometry
from twin.errors import InputError
from twin.processes.process import Process
from twin.store import Location, open_store
from twin.store.base import Store

#: a GeoJSON position: easting and northing (or longitude and latitude), maybe a height
_POSITION = {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "number"}}
_LINE = {"type": "array", "minItems": 2, "items": _POSITION}
#: the inputs of ``trench-check``, checked before :func:`execute` runs
INPUTS = {
    "trench": {
        "title": "Centreline",
        "description": "GeoJSON LineString or MultiLineString of the trench axis: positions of "
        "2 or 3 finite numbers, at least 2 a line, in crs",
        "schema": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["type", "coordinates"],
                    "properties": {"type": {"const": "LineString"}, "coordinates": _LINE},
                },
                {
                    "type": "object",
                    "required": ["type", "coordinates"],
                    "properties": {
                        "type": {"const": "MultiLineString"},
                        "coordinates": {"type": "array", "minItems": 1, "items": _LINE},
                    },
                },
            ]
        },
    },
    "width": {
        "title": "Bottom width (m)",
        "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_SIZE_M},
    },
    "depth": {
        "title": "Depth (m)",
        "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_SIZE_M},
    },
    "method": {"title": "Digging", "minOccurs": 0, "schema": {"enum": ["machine", "hand"]}},
    "support": {
        "title": "Walls deeper than 1.25 m",
        "minOccurs": 0,
        "schema": {"enum": ["slope", "shoring"]},
    },
    "soil": {
        "title": "Soil class of the walls",
        "description": "BauV § 50 (1) class; default: the weakest class of the twin's soils "
        "layer under the trench, or the city's default (non_cohesive)",
        "minOccurs": 0,
        "schema": {"enum": list(SOILS)},
    },
    "crs": {
        "title": "CRS of the centreline (default CRS84)",
        "description": "EPSG:<code>, OGC:CRS84 or an OGC CRS URI "
        "(http://www.opengis.net/def/crs/EPSG/0/31258); a code PROJ does not know is a 400",
        "minOccurs": 0,
        "schema": {
            "type": "string",
            "pattern": "^(EPSG:[0-9]{1,9}|OGC:CRS84|"
            "http://www\\.opengis\\.net/def/crs/(EPSG/0/[0-9]{1,9}|OGC/1\\.3/CRS84))$",
        },
    },
    "trench_id": {
        "title": "Name",
        "minOccurs": 0,
        "schema": {"type": "string", "maxLength": 100},
    },
}


@functools.lru_cache(maxsize=4)
def _store(location: str) -> Store:
    """The store of the twin at ``location``, opened once (asking its token is then a look
    at the file, or one small query of a database, not a read of the twin)."""
    return open_store(location)


@functools.lru_cache(maxsize=4)
def _cached_index(location: str, token: str) -> ExcavationIndex:
    """The index of a twin as its store's ``token`` names it."""
    return ExcavationIndex.from_model(_store(location).read_model())


@functools.lru_cache(maxsize=8)
def _cached_area_index(location: str, token: str, area: bytes) -> ExcavationIndex:
    """The index of a twin within a service area (``area``: its WKB)."""
    return _cached_index(location, token).within(shapely.from_wkb(area))


def index_for(twin_path: Location, /, *, area: shapely.Geometry | None = None) -> ExcavationIndex:
    """The :class:`ExcavationIndex` of the twin at ``twin_path`` (of what meets ``area``, a
    service area, when given), cached between calls while the store's change token stays."""
    token = _store(str(twin_path)).token()
    if area is None:
        return _cached_index(str(twin_path), token)
    return _cached_area_index(str(twin_path), token, shapely.to_wkb(area))


def execute(twin_path: Location, inputs: dict[str, Any], /, *, area=None) -> dict[str, Any]:
    """The ``trench-check`` process: a GeoJSON centreline in (CRS84 unless ``crs`` says).

    The inputs have passed their schemas (:data:`INPUTS`); what PROJ and GEOS still refuse
    (an unknown CRS code, a CRS with no way to the twin's, coordinates outside the CRS's
    range) is an :class:`InputError` here, never an internal error.
    """
    index = index_for(twin_path, area=area)
    name = inputs.get("crs", "OGC:CRS84")
    try:
        line = shapely.geometry.shape(inputs["trench"])
    except (shapely.errors.ShapelyError, ValueError, TypeError):
        raise InputError(
            "trench-check: the trench is not a GeoJSON line (positions of 2 or 3 numbers, "
            "all alike)"
        ) from None
    try:
        crs = pyproj.CRS.from_user_input(name)
        line, moved = transform_geometry(line, crs, index.utilities.crs)
    except pyproj.exceptions.CRSError:
        raise InputError(f"trench-check: crs {name!r} is not a CRS PROJ knows") from None
    except pyproj.exceptions.ProjError:
        raise InputError(
            f"trench-check: crs {name!r} cannot be transformed to the twin's CRS"
        ) from None
    if not np.isfinite(shapely.get_coordinates(line)).all():
        raise InputError(f"trench-check: the trench lies outside the area of crs {name!r}")
    if area is not None and not shapely.within(line, area):
        raise InputError("trench-check: the trench lies outside your service area")
    result = check_trench(
        index,
        line,
        width=float(inputs["width"]),
        depth=float(inputs["depth"]),
        method=inputs.get("method", "machine"),
        support=inputs.get("support", "slope"),
        soil=inputs.get("soil"),
        trench_id=str(inputs.get("trench_id", "trench")),
        transformation=moved,
    )
    return {"result": result.to_dict()}


#: the process, as the registry lists it
PROCESS = Process(
    id="trench-check",
    title="Trench check",
    description=(
        "What a planned trench hits: utility lines crossed or too close (with position and "
        "depth uncertainty), hand-digging zones, trees' root protection zones, parcels, "
        "working width, excavated volume and a verdict. Rules and sources: "
        "docs/excavation.md."
    ),
    inputs=INPUTS,
    outputs={"result": {"title": "Findings and verdict", "schema": {"type": "object"}}},
    function=execute,
    reads=("utilities", "trees", "parcels", "soils"),
)
