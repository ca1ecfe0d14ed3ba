"""Buildings per parcel: the analysis on hand-made parcels, and the ``parcel-buildings``
process over a twin written with them, in a GeoPackage and in PostGIS (its bbox, its service
area, its refusals)."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from twin.analysis.parcels import parcel_buildings
from twin.analysis.records import to_records
from twin.errors import InputError
from twin.model import CityModel
from twin.processes import processes
from twin.store import write

CRS = pyproj.CRS("EPSG:31258+5778")
X0, Y0 = 524600.0, 165500.0  # near Klagenfurt's Neuer Platz (EPSG:31258)


def _parcels() -> gpd.GeoDataFrame:
    """Four 20 × 30 m parcels (600 m² each) side by side, west to east."""
    return gpd.GeoDataFrame(
        {"kg": ["72127"] * 4, "gst": ["101/1", "101/2", "102", "103"]},
        geometry=[shapely.box(X0 + 20 * i, Y0, X0 + 20 * (i + 1), Y0 + 30) for i in range(4)],
        crs=CRS,
    )


def _buildings() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "building_id": ["A", "B", "C", "D"],
            "volume_lod1": [900.0, 640.0, 400.0, np.nan],
            "height": [9.0, 8.0, 6.0, np.nan],
        },
        geometry=[
            shapely.box(X0 + 2, Y0 + 2, X0 + 12, Y0 + 12),  # 100 m², on 101/1 alone
            shapely.box(
                X0 + 16, Y0 + 10, X0 + 26, Y0 + 18
            ),  # 80 m²: 4 × 8 on 101/1, 6 × 8 on 101/2
            shapely.box(X0 + 22, Y0 + 29.998, X0 + 26, Y0 + 39.998),  # 4 × 2 mm sliver on 101/2
            shapely.box(X0 + 45, Y0 + 5, X0 + 50, Y0 + 10),  # 25 m² on 102, no volume, no height
        ],
        crs=CRS,
    )


#: worked by hand from the parcels and buildings above
EXPECTED = [
    # 101/1: A (100 m², 900 m³) and 32 of B's 80 m² (640 · 32 / 80 = 256 m³); 132 / 600 = 0.22
    {"kg": "72127", "gst": "101/1", "buildings": 2, "built_area_m2": 132.0,
     "built_share": 0.22, "volume_m3": 1156.0, "max_height_m": 9.0},
    # 101/2: 48 of B's 80 m² (384 m³); C's 0.008 m² (not over 0.01 m²) adds its area and
    # 400 · 0.008 / 40 = 0.08 m³ but is not counted: 48.008 m², 48.008 / 600 = 0.0800
    {"kg": "72127", "gst": "101/2", "buildings": 1, "built_area_m2": 48.01,
     "built_share": 0.08, "volume_m3": 384.1, "max_height_m": 8.0},
    # 102: D, 25 m², 25 / 600 = 0.04167, without volume or height
    {"kg": "72127", "gst": "102", "buildings": 1, "built_area_m2": 25.0,
     "built_share": 0.0417, "volume_m3": 0.0, "max_height_m": None},
    # 103: nothing on it
    {"kg": "72127", "gst": "103", "buildings": 0, "built_area_m2": 0.0,
     "built_share": 0.0, "volume_m3": 0.0, "max_height_m": None},
]  # fmt: skip


def test_parcel_buildings_counts_shares_and_leaves_missing_heights_missing():
    assert to_records(parcel_buildings(_parcels(), _buildings())) == EXPECTED


@pytest.fixture
def parcels_twin(new_twin):
    """A twin of the parcels and buildings above, in a GeoPackage or a PostGIS schema."""
    model = CityModel(crs=CRS, layers={"buildings": _buildings(), "parcels": _parcels()})
    return write(model, new_twin)


def test_the_process_summarises_the_parcels_its_bbox_meets(parcels_twin):
    process = processes()["parcel-buildings"]
    assert process.reads == ("parcels", "buildings")
    # the bbox meets 101/1 and 101/2 (and C, across 101/2's northern edge): they, as above
    west = process.run(parcels_twin, {"bbox": [X0, Y0, X0 + 30, Y0 + 30]})
    assert west == {"parcels": EXPECTED[:2]}
    # a caller limited to the western 19 m sees 101/1 alone, all of B's share in it still
    limited = process.run(
        parcels_twin,
        {"bbox": [X0, Y0, X0 + 30, Y0 + 30]},
        area=shapely.box(X0, Y0, X0 + 19, Y0 + 30),
    )
    assert limited == {"parcels": EXPECTED[:1]}
    # a bbox outside the service area: nothing, and nothing read
    outside = process.run(
        parcels_twin,
        {"bbox": [X0 + 40, Y0, X0 + 80, Y0 + 30]},
        area=shapely.box(X0, Y0, X0 + 19, Y0 + 30),
    )
    assert outside == {"parcels": []}


@pytest.mark.parametrize(
    ("bbox", "problem"),
    [
        ([X0 + 30, Y0, X0, Y0 + 30], "bbox must be [minx, miny, maxx, maxy]"),
        ([X0, Y0, X0 + 2001, Y0 + 2000], "bbox larger than 4 km²"),  # 4.002 km²
        ([X0, Y0, X0 + 30], "input 'bbox'"),
    ],
)
def test_the_process_refuses_a_bbox_it_cannot_summarise(parcels_twin, bbox, problem):
    with pytest.raises(InputError, match=re.escape(problem)):
        processes()["parcel-buildings"].run(parcels_twin, {"bbox": bbox})
