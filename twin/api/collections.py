"""The collections the API serves: which layer, which title, who may see them.

Defaults follow the issue: buildings, parcels (without owner data), trees and surface works
are public; utilities and planned works are restricted (critical infrastructure). ``api.toml``
may change scopes and hide columns (see ``docs/api.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CollectionSpec:
    """One collection: the layer it serves and who may read it.

    Attributes
    ----------
    id
        Collection id in URLs.
    layer
        GeoPackage table.
    title, description
        For the collection document.
    scope
        Scope a caller needs to see it at all (``None``: public).
    exclude
        Columns never served (owner data and the like).
    lods
        LoD name -> layer holding that LoD's geometry (one row per feature, same fid).
    city_objects
        Whether the features are city objects: CityJSON items and a 3D Tiles tileset.
    """

    id: str
    layer: str
    title: str
    description: str
    scope: str | None = None
    exclude: tuple[str, ...] = ()
    lods: dict[str, str] = field(default_factory=dict)
    city_objects: bool = False


DEFAULT_COLLECTIONS: tuple[CollectionSpec, ...] = (
    CollectionSpec(
        "buildings",
        "buildings",
        "Buildings",
        "Building footprints with heights and 3DBAG-style attributes; lod=1.2 serves the "
        "LoD1.2 solids.",
        lods={"1.2": "lod12"},
        city_objects=True,
    ),
    CollectionSpec(
        "building_surfaces",
        "building_surfaces",
        "Building surfaces",
        "Semantic surfaces (roof, wall, ground) of the LoD1.2 solids with area, slope, azimuth.",
    ),
    CollectionSpec(
        "parcels",
        "parcels",
        "Cadastral parcels",
        "Cadastral parcels (without owner data).",
        exclude=("owner", "owners", "owner_name", "owner_address"),
    ),
    CollectionSpec("trees", "trees", "Trees", "The city's tree register."),
    CollectionSpec(
        "utilities",
        "utilities",
        "Utility network",
        "Utility lines (critical infrastructure: restricted).",
        scope="utilities:read",
    ),
    CollectionSpec(
        "planned_works",
        "planned_works",
        "Planned works",
        "Planned excavation works (restricted).",
        scope="works:read",
    ),
    CollectionSpec(
        "surface_works", "surface_works", "Surface works", "Resurfacing and reinstatements."
    ),
)
