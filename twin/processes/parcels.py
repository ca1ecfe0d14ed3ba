"""The ``parcel-buildings`` process: a box in, the summary of
:func:`twin.analysis.parcels.parcel_buildings` for the parcels it meets out."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from twin.analysis.parcels import parcel_buildings
from twin.analysis.records import to_records
from twin.errors import InputError
from twin.processes.process import Process
from twin.store import Location, read

#: the largest area (m²) summarised in one run
MAX_AREA = 4e6


def execute(twin_path: Location, inputs: dict[str, Any], /, *, area=None) -> dict[str, Any]:
    """The parcels that meet ``bbox`` (``[minx, miny, maxx, maxy]`` in the project CRS, at
    most :data:`MAX_AREA`, and within ``area`` when the caller is limited to one), with the
    buildings on them."""
    x0, y0, x1, y1 = inputs["bbox"]
    if not (x0 < x1 and y0 < y1):
        raise InputError("process 'parcel-buildings': bbox must be [minx, miny, maxx, maxy]")
    box = shapely.box(x0, y0, x1, y1)
    if area is not None:
        box = shapely.intersection(box, area)
    with np.errstate(over="ignore"):  # a bbox beyond the float range: an infinite area
        too_large = shapely.area(box) > MAX_AREA
    if too_large:
        raise InputError(f"process 'parcel-buildings': bbox larger than {MAX_AREA / 1e6:g} km²")
    if box.is_empty:
        return {"parcels": []}
    bounds = tuple(shapely.bounds(box))
    layers = read(twin_path).layers
    parcels = layers.within("parcels", bounds)
    parcels = parcels[shapely.intersects(parcels.geometry.to_numpy(), box)]
    return {"parcels": to_records(parcel_buildings(parcels, layers.within("buildings", bounds)))}


#: the process, as the registry lists it
PROCESS = Process(
    id="parcel-buildings",
    title="Buildings per parcel",
    description=(
        "Per cadastral parcel in a bbox: number of buildings, built-up area and share, "
        "LoD1.2 volume (shared by overlap), highest building."
    ),
    inputs={
        "bbox": {
            "title": "Area",
            "description": "[minx, miny, maxx, maxy] in the project CRS (m), lower corner "
            "first, at most 4 km²",
            "schema": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 4,
                "maxItems": 4,
            },
        }
    },
    outputs={
        "parcels": {
            "title": "Per-parcel summary",
            "schema": {"type": "array", "items": {"type": "object"}},
        }
    },
    function=execute,
    reads=("parcels", "buildings"),
)
