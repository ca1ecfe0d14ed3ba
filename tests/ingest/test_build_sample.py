"""The LoD1 build on the generated sample district, measured against its truth."""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from rasterio.windows import Window

import twin
from ingest.pipeline import build
from tests.conftest import sample_config
from tests.ingest.test_pipeline import closed_and_oriented, signed_volume
from twin.errors import DataQualityWarning
from twin.store import write


def _with_truth(model: twin.CityModel, sources) -> pd.DataFrame:
    truth = pd.read_csv(sources / "truth" / "buildings.csv")
    return model.buildings.merge(truth, on="building_id", suffixes=("", "_truth"))


def test_flat_roofs_within_30_cm(sample_twin, sample_sources):
    b = _with_truth(twin.open(sample_twin), sample_sources)
    flat = b[b["roof_type_truth"] == "flat"]
    error = (flat["lod1_z"] - flat["ridge_z"]).abs()
    assert len(flat) > 20
    assert (error <= 0.3).mean() >= 0.95
    assert (b["ground_z"] - b["ground_z_truth"]).abs().quantile(0.95) < 0.2


def test_surveyed_heights_take_precedence(sample_twin, sample_sources):
    b = _with_truth(twin.open(sample_twin), sample_sources)
    surveyed = b[b["height_method"] == "survey"]
    assert len(surveyed) > 10
    assert surveyed["eave_z_survey"].notna().all()
    pitched = surveyed[surveyed["roof_type_truth"] != "flat"]
    expected = pitched["eave_z"] + 0.7 * (pitched["ridge_z"] - pitched["eave_z"])
    assert (pitched["lod1_z"] - expected).abs().max() < 0.1
    rest = b[b["height_method"] != "survey"]
    assert (rest["height_method"] == "dsm").all()


def test_store_reads_in_gdal_as_3d(sample_twin):
    info = pyogrio.read_info(sample_twin, layer="lod12")
    assert info["geometry_type"] == "MultiPolygon Z"
    assert 'AUTHORITY["EPSG","31258"]' in info["crs"]
    assert 'AUTHORITY["EPSG","5778"]' in info["crs"]
    names = {str(n) for n in pyogrio.list_layers(sample_twin)[:, 0]}
    assert {
        "buildings",
        "lod12",
        "building_surfaces",
        "parcels",
        "survey_points",
        "utilities",
        "trees",
        "planned_works",
        "surface_works",
        "operators",
        "runs",
    } <= names


def test_solids_closed_including_courtyards_and_parts(sample_twin):
    model = twin.open(sample_twin)
    mesh = model.mesh("1.2")
    assert closed_and_oriented(mesh)
    b = model.buildings
    np.testing.assert_allclose(signed_volume(mesh), b["volume_lod1"], rtol=1e-6)
    kinds = model.layers["lod12"].geometry.apply(lambda g: len(g.geoms))
    assert (kinds > 6).any()  # a courtyard or multi-part solid has more than 6 faces


def test_round_trip_of_the_built_twin_is_exact(sample_twin, tmp_path):
    model = twin.open(sample_twin)
    copy = write(model, tmp_path / "copy.gpkg")
    again = twin.open(copy)
    for name, frame in model.layers.items():
        pd.testing.assert_frame_equal(
            pd.DataFrame(again.layers[name]), pd.DataFrame(frame), check_dtype=False
        )
    assert again.metadata == model.metadata
    np.testing.assert_array_equal(again.terrain.read(), model.terrain.read())


def test_footprints_only_heights_from_storeys(sample_sources, tmp_path):
    config = sample_config(sample_sources, {"cadastre"})
    with pytest.warns(DataQualityWarning, match="have a height but no ground height"):
        model = build(config, tmp_path / "a.gpkg", progress=False)
    b = model.buildings
    assert len(b) == 200
    has = b["storeys"].notna()
    assert (b.loc[has, "height_method"] == "attribute storeys").all()
    np.testing.assert_allclose(b.loc[has, "height"], b.loc[has, "storeys"] * 3.0)
    assert (b.loc[~has, "height_method"] == "none").all()
    assert b["lod1_z"].isna().all()
    assert b["height_fallback_reason"].str.contains("no ground height").all()


def test_survey_gives_ground_where_there_is_no_dtm(sample_sources, tmp_path):
    model = build(
        sample_config(sample_sources, {"cadastre", "survey"}),
        tmp_path / "b.gpkg",
        progress=False,
    )
    b = _with_truth(model, sample_sources)
    assert (b["ground_method"] == "survey").mean() > 0.9
    near = b["ground_method"] == "survey"
    assert (b.loc[near, "ground_z"] - b.loc[near, "ground_z_truth"]).abs().median() < 0.3
    assert model.layers["lod12"].geometry.notna().sum() > 100


def test_dsm_gaps_fall_back_with_reasons(sample_sources, tmp_path):
    """A DSM cropped to its western half, with a no-data hole: the rest falls back."""
    cropped = tmp_path / "dsm.tif"
    with rasterio.open(sample_sources / "dsm.tif") as src:
        profile = src.profile
        window = Window(0, 0, src.width // 2, src.height)
        data = src.read(1, window=window)
        data[: src.height // 4, : src.width // 4] = src.nodata
        profile.update(width=window.width, height=window.height)  # same origin
    with rasterio.open(cropped, "w", **profile) as dst:
        dst.write(data, 1)
    config = sample_config(sample_sources, {"cadastre", "dtm", "dsm"}, dsm=cropped)
    b = build(config, tmp_path / "c.gpkg", progress=False).buildings
    assert len(b) == 200
    reasons = b["height_fallback_reason"].dropna()
    assert reasons.str.contains("no DSM data in the footprint").any()
    assert reasons.str.contains("DSM no-data under").any()
    fell = b["height_fallback_reason"].str.contains("DSM", na=False)
    assert set(b.loc[fell, "height_method"]) <= {"attribute storeys", "none"}
    assert (b.loc[~fell, "height_method"] == "dsm").all()


def test_dig_check_runs_on_the_shipped_trench(sample_twin, sample_sources, tmp_path):
    """The README's example: ``twin dig check`` on the sample's ``trench.geojson``."""
    out = tmp_path / "trench"
    args = ["dig", "check", str(sample_twin), str(sample_sources / "trench.geojson")]
    run = subprocess.run(
        [sys.executable, "-m", "twin.cli", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    verdict = run.stdout.split(" ", 1)[0]
    assert run.stdout.startswith(f"{verdict} trench TR-1: "), run.stdout
    # the exit code is the verdict (docs/excavation.md): GREEN 0, AMBER 1, RED 2
    assert run.returncode == {"GREEN": 0, "AMBER": 1, "RED": 2}[verdict], run.stderr
    model = twin.open(sample_twin)
    trench = gpd.read_file(sample_sources / "trench.geojson").to_crs(model.crs).geometry.iloc[0]
    parcels = shapely.union_all(model.layers["parcels"].geometry.to_numpy())
    assert shapely.within(trench, parcels)  # inside the twin
    lines = model.layers["utilities"]
    crossed = lines.loc[shapely.crosses(lines.geometry.to_numpy(), trench), "utility_id"]
    assert len(crossed) >= 1
    # a live line crossed with its top (cover - accuracy) above the 1.2 m bottom lies inside
    # the excavation: that alone makes the verdict RED
    hit = lines.loc[crossed.index]
    top = hit["depth_m"] - hit["depth_accuracy_m"]
    assert ((hit["status"] != "abandoned") & (top < 1.2)).any()  # the sample trench does
    assert verdict == "RED"
    report = json.loads((out / "trench.json").read_text(encoding="utf-8"))
    assert set(crossed) <= {u["utility_id"] for u in report["utilities"]}
    assert report["width_m"] == 0.6 and report["depth_m"] == 1.2  # from the file's properties
    assert (out / "trench.html").is_file() and (out / "trench.png").is_file()
