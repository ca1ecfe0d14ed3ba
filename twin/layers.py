"""The layers of a twin, in store order, with their geometry types (DESIGN.md §2).

``docs/model.md`` documents every column; this table is what the store and ``twin info`` use.
"""

from __future__ import annotations

#: layer name -> geometry type written to the store (None: attribute table)
LAYERS: dict[str, str | None] = {
    "buildings": "MultiPolygon",
    "lod0": "MultiPolygon Z",
    "lod1": "MultiPolygon Z",
    "lod12": "MultiPolygon Z",
    "lod13": "MultiPolygon Z",
    "lod2": "MultiPolygon Z",
    "lod22": "MultiPolygon Z",
    "building_surfaces": "Polygon Z",
    "parcels": "MultiPolygon",
    "utilities": "LineString",
    "trees": "Point",
    "planned_works": "LineString",
    "surface_works": "MultiPolygon",
    "survey_points": "Point Z",
    "operators": None,
    "runs": None,
}

#: LoD name -> layer holding its solids
LOD_LAYERS: dict[str, str] = {
    "1.2": "lod12",
    "0": "lod0",
    "1": "lod1",
    "1.3": "lod13",
    "2": "lod2",
    "2.2": "lod22",
}


def layer_order(names: dict | list) -> list[str]:
    """Known layers in their documented order, then any others alphabetically.

    Examples
    --------
    >>> layer_order(["zones", "runs", "buildings"])
    ['buildings', 'runs', 'zones']
    """
    known = [n for n in LAYERS if n in names]
    return known + sorted(n for n in names if n not in LAYERS)
