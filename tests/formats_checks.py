"""Checks shared by the format tests: official schema validators and model comparisons."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import shapely
from jsonschema import Draft7Validator

from twin.formats import objects
from twin.model import CityModel
from twin.polygon3d import surface_metrics, triangulate

from .conftest import SPEC

CITYJSON_SCHEMAS = SPEC / "cityjson-2.0" / "schemas"


@cache
def cityjson_validator(name: str = "cityjson") -> Draft7Validator:
    """The official CityJSON 2.0 validator (``cityjson`` or ``cityjsonfeature``)."""
    schema = json.loads((CITYJSON_SCHEMAS / f"{name}.min.schema.json").read_text())
    return Draft7Validator(schema)


def schema_errors(document: dict, name: str = "cityjson") -> list[str]:
    """Every schema violation of ``document``, as readable strings (empty when valid)."""
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in cityjson_validator(name).iter_errors(document)
    ]


def per_building(model: CityModel, lods: list[str] | None = None) -> dict[str, object]:
    """What a round trip must keep: ids, attributes, semantic counts, coordinates, measures
    (area and volume summed over ``lods``, all by default)."""
    surf = objects.surfaces(model, lods=lods)
    ids = model.buildings["building_id"].to_numpy(dtype=object)
    n = len(ids)
    area = np.bincount(surf.owner, weights=surface_metrics(surf.polygons)[0], minlength=n)
    solid = surf.geometry_type == "Solid"
    corners, tri_owner = triangulate(surf.polygons[solid])
    owner = surf.owner[solid][tri_owner]
    # Relative to a corner of the same building (owners are sorted): no cancellation.
    local = corners - corners[np.searchsorted(owner, owner), :1, :]
    signed = np.einsum("ij,ij->i", local[:, 0], np.cross(local[:, 1], local[:, 2])) / 6.0
    volume = np.bincount(owner, weights=signed, minlength=n)
    semantics: dict[tuple, int] = {}
    for key in zip(ids[surf.owner], surf.lod, surf.semantic, strict=True):
        semantics[key] = semantics.get(key, 0) + 1
    return {
        "ids": ids.tolist(),
        "types": model.buildings["object_type"].tolist(),
        "attributes": objects.attributes(model, np.arange(n)),
        "semantics": semantics,
        "coords": shapely.get_coordinates(surf.polygons, include_z=True),
        "rings": shapely.get_num_interior_rings(surf.polygons),
        "area": area,
        "volume": volume,
        "solid": np.bincount(surf.owner[solid], minlength=n) > 0,
    }


def assert_same_model(a: CityModel, b: CityModel) -> dict[str, float]:
    """Assert that ``b`` keeps what ``a`` has (ids, attributes, semantic counts, vertices
    within 1 mm, area and volume within 0.1 %); returns the largest differences found."""
    x, y = per_building(a), per_building(b)
    assert x["ids"] == y["ids"]
    assert x["types"] == y["types"]
    assert x["attributes"] == y["attributes"]
    assert x["semantics"] == y["semantics"]
    assert np.array_equal(x["rings"], y["rings"])
    assert x["coords"].shape == y["coords"].shape
    vertex = float(np.abs(x["coords"] - y["coords"]).max())
    assert vertex <= 0.001
    has = x["area"] > 0
    area = float(np.max(np.abs(y["area"][has] / x["area"][has] - 1.0), initial=0.0))
    assert area <= 0.001
    solid = x["solid"]
    assert np.array_equal(solid, y["solid"])
    volume = float(np.max(np.abs(y["volume"][solid] / x["volume"][solid] - 1.0), initial=0.0))
    assert volume <= 0.001
    return {"vertex_m": vertex, "area_rel": area, "volume_rel": volume}
