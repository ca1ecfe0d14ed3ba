"""Per-parcel summary of the buildings: counts, built-up area and share, volume, height."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely

from twin.errors import InputError
from twin.processes import Process, register

#: the largest area (m²) summarised in one run
MAX_AREA = 4e6


def parcel_buildings(twin_path: Path, inputs: dict[str, Any], /, *, area=None) -> dict[str, Any]:
    """Per-parcel building summary: buildings, built-up area and share, volume, max height.

    A building counts in every parcel its footprint overlaps, with the overlapping area; its
    volume is shared in proportion. Inputs: ``bbox`` ``[minx, miny, maxx, maxy]`` in the
    project CRS (required, at most 4 km²).
    """
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
    bounds = tuple(shapely.bounds(box))
    if box.is_empty:
        return {"parcels": []}
    parcels = pyogrio.read_dataframe(twin_path, layer="parcels", bbox=bounds, use_arrow=True)
    buildings = pyogrio.read_dataframe(
        twin_path,
        layer="buildings",
        bbox=bounds,
        columns=["building_id", "volume_lod1", "height"],
        use_arrow=True,
    )
    parcels = parcels[shapely.intersects(parcels.geometry.to_numpy(), box)]
    pg, bg = parcels.geometry.to_numpy(), buildings.geometry.to_numpy()
    p_idx, b_idx = shapely.STRtree(bg).query(pg, predicate="intersects")
    overlap = shapely.area(shapely.intersection(pg[p_idx], bg[b_idx]))
    share = overlap / np.maximum(shapely.area(bg[b_idx]), 1e-9)
    n = len(parcels)
    counted = overlap > 0.01
    volume = np.nan_to_num(buildings["volume_lod1"].to_numpy(dtype=float))[b_idx] * share
    heights = np.full(n, -np.inf)
    np.maximum.at(
        heights, p_idx, np.nan_to_num(buildings["height"].to_numpy(float), nan=-np.inf)[b_idx]
    )
    built = np.bincount(p_idx, weights=overlap, minlength=n)
    parcel_area = shapely.area(pg)
    summary = {
        "kg": parcels["kg"].astype(str).tolist(),
        "gst": parcels["gst"].astype(str).tolist(),
        "buildings": np.bincount(p_idx[counted], minlength=n).tolist(),
        "built_area_m2": np.round(built, 2).tolist(),
        "built_share": np.round(built / np.maximum(parcel_area, 1e-9), 4).tolist(),
        "volume_m3": np.round(np.bincount(p_idx, weights=volume, minlength=n), 1).tolist(),
        "max_height_m": [None if not np.isfinite(h) else round(float(h), 2) for h in heights],
    }
    rows = [
        dict(zip(summary, values, strict=True)) for values in zip(*summary.values(), strict=True)
    ]
    return {"parcels": rows}


register(
    Process(
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
        function=parcel_buildings,
        reads=("parcels", "buildings"),
    )
)
