"""Trees from vegetation points, and their merge with the tree inventory."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from ingest.lidar.read import open_clouds
from ingest.lidar.trees import detect_trees, merge_trees
from ingest.pipeline import build
from tests.conftest import sample_config
from twin.crs import parse_crs
from twin.terrain import Terrain

CRS = parse_crs("EPSG:31258+5778")


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    from ingest.synthetic import generate_district

    out = tmp_path_factory.mktemp("trees") / "sources"
    generate_district(out, buildings=120, seed=11, lidar=True, ortho=False)
    return out


def test_trees_found_with_their_height_and_crown(district):
    clouds = open_clouds(district / "lidar.laz", CRS, crs=None)
    detected = detect_trees(clouds, Terrain.from_raster(district / "dtm.tif"), CRS)
    inventory = pyogrio.read_dataframe(district / "trees.gpkg").set_crs(CRS, allow_override=True)
    merged = merge_trees(inventory, detected)
    listed = merged[merged["source"] == "inventory"]
    tall = listed[listed["height_m"] >= 3]
    assert len(tall) > 50
    recall = tall["height_lidar_m"].notna().mean()
    assert recall >= 0.8  # measured: 0.85 on the default district
    found = listed[listed["height_lidar_m"].notna()]
    assert np.median(np.abs(found["height_lidar_m"] - found["height_m"])) < 0.1
    crown = (found["crown_diameter_lidar_m"] - found["crown_diameter_m"]).dropna()
    assert np.median(np.abs(crown)) < 0.8
    extra = (merged["source"] == "lidar").sum()
    assert extra < 0.25 * len(detected)  # detections that match no inventory tree
    gaps = inventory["crown_diameter_m"].isna().sum()
    assert gaps > 0 and listed["crown_diameter_m"].isna().sum() < gaps  # filled from the points


def test_merge_is_one_to_one_and_keeps_the_inventory():
    inventory = gpd.GeoDataFrame(
        {"tree_id": ["T1", "T2"], "crown_diameter_m": [6.0, np.nan], "height_m": [12.0, 9.0]},
        geometry=[shapely.Point(0, 0), shapely.Point(10, 0)],
        crs=CRS,
    )
    detected = gpd.GeoDataFrame(
        {
            "height_m": [12.2, 12.1, 8.8, 7.0],
            "crown_diameter_m": [6.4, 3.0, 5.0, 4.0],
            "top_z": [0.0] * 4,
        },
        geometry=[
            shapely.Point(0.5, 0),
            shapely.Point(1.5, 0),
            shapely.Point(10, 1),
            shapely.Point(30, 0),
        ],
        crs=CRS,
    )
    merged = merge_trees(inventory, detected).set_index("tree_id")
    assert merged.loc["T1", "height_lidar_m"] == 12.2  # the nearer detection
    assert merged.loc["T2", "crown_diameter_m"] == 5.0  # filled from the points
    assert merged.loc["T1", "crown_diameter_m"] == 6.0  # the inventory's own value kept
    added = merged[merged["source"] == "lidar"]
    assert sorted(added["height_m"]) == [7.0, 12.1]
    # T1-D1 1.0 m, T1-D2 2.0 m, T2-D1 0.5 m: T2 takes D1 first, then T1 takes D2
    inventory = gpd.GeoDataFrame(
        {"tree_id": ["T1", "T2"]}, geometry=[shapely.Point(0, 0), shapely.Point(1.5, 0)], crs=CRS
    )
    detected = gpd.GeoDataFrame(
        {"height_m": [10.0, 20.0], "crown_diameter_m": [4.0, 5.0], "top_z": [0.0] * 2},
        geometry=[shapely.Point(1, 0), shapely.Point(-2, 0)],
        crs=CRS,
    )
    merged = merge_trees(inventory, detected).set_index("tree_id")
    assert merged.loc["T2", "height_lidar_m"] == 10.0
    assert merged.loc["T1", "height_lidar_m"] == 20.0
    assert (merged["source"] == "inventory").all()


def test_build_merges_lidar_trees(district, tmp_path):
    config = sample_config(district, {"cadastre", "lidar", "trees"})
    model = build(config, tmp_path / "city.gpkg", progress=False)
    trees = model.layers["trees"]
    counts = trees["source"].value_counts()
    assert set(counts.index) == {"inventory", "lidar"}
    assert counts["inventory"] > 0 and counts["lidar"] > 0
    assert trees["height_lidar_m"].notna().mean() > 0.7
