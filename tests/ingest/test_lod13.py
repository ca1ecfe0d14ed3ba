"""LoD1.3: footprints split where the roof steps by 3 m or more, on synthetic and real points."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

import twin
from ingest.config import BuildConfig
from ingest.lidar.read import open_clouds
from ingest.lidar.stats import point_stats
from ingest.pipeline import build
from ingest.reconstruct.lod13 import reconstruct, split
from ingest.synthetic import generate_district
from tests.conftest import DELFT, sample_config, write_config
from tests.formats_checks import schema_errors
from tests.ingest.test_lod22 import _cloud
from twin.errors import ConfigError
from twin.formats import write
from twin.polygon3d import surface_metrics
from twin.validity import check

CRS = pyproj.CRS("EPSG:31258+5778")
X0, Y0, GROUND = 524600.0, 165500.0, 440.0


def _roofs(rng):
    """Footprints, their roof points (8 per m², 3 cm noise) and the true part heights."""
    podium = shapely.box(0, 0, 30, 20)
    tower = shapely.box(0, 10, 10, 20)  # a 24 m tower on a corner of a 6 m podium
    annex = shapely.Polygon([(40, 0), (60, 0), (60, 20), (52, 20), (52, 8), (40, 8)])
    # an L: a 9 m wing with a 14 m block on its far end (a 5 m step)
    house = shapely.box(70, 0, 80, 8)  # a gabled house: eave 6 m, ridge 9 m (no step)
    geoms = [podium, annex, house, shapely.box(90, 0, 96, 6)]  # the last has no points
    x, y = rng.uniform(0, 96, 8 * 96 * 20), rng.uniform(0, 20, 8 * 96 * 20)
    z = np.full(len(x), np.nan)
    z[shapely.contains_xy(podium, x, y)] = 6.0
    z[shapely.contains_xy(tower, x, y)] = 24.0
    z[shapely.contains_xy(annex, x, y)] = 9.0
    z[shapely.contains_xy(annex, x, y) & (y >= 12)] = 14.0
    gable = shapely.contains_xy(house, x, y)
    z[gable] = 9.0 - 0.75 * np.abs(y[gable] - 4.0)
    keep = np.isfinite(z)
    xyz = np.column_stack([x[keep] + X0, y[keep] + Y0, GROUND + z[keep]])
    xyz[:, 2] += rng.normal(0.0, 0.03, len(xyz))
    geoms = np.array([shapely.affinity.translate(g, X0, Y0) for g in geoms], dtype=object)
    truth = [{6.0: 500.0, 24.0: 100.0}, {9.0: 8 * 20 + 8 * 4, 14.0: 8 * 8}, None, None]
    return geoms, xyz, truth


@pytest.fixture(scope="module")
def stepped(tmp_path_factory):
    out = tmp_path_factory.mktemp("lod13")
    geoms, xyz, truth = _roofs(np.random.default_rng(4))
    _cloud(out / "roofs.las", CRS, xyz)
    stats = point_stats(open_clouds(out / "roofs.las", CRS), geoms)
    lod1_z = GROUND + np.array([6.0, 9.0, 8.5, 7.0])
    result = reconstruct(geoms, stats, ground_z=np.full(4, GROUND), lod1_z=lod1_z, percentile=70.0)
    return geoms, result, truth


def test_steps_split_the_footprint_and_heights_match(stepped):
    _, result, truth = stepped
    a = result.attributes
    assert a["lod13_parts"].tolist() == [2, 2, 1, 1]
    assert a["lod13_method"].tolist() == ["parts", "parts", "parts", "lod1.2"]
    assert a["lod13_fallback_reason"][:3].isna().all()
    assert a["lod13_fallback_reason"][3] == "fewer than 10 roof points"
    codes, _ = check(result.solids)
    assert codes == [[], [], [], []]
    roofs = result.faces[result.semantic == 2]
    owner = result.owner[result.semantic == 2]
    for i in (0, 1):
        z = shapely.get_coordinates(roofs[owner == i], include_z=True)[:, 2] - GROUND
        heights = np.unique(z)
        assert len(heights) == 2
        assert np.abs(heights - sorted(truth[i])).max() <= 0.3
        # each part's plan area is that of the truth (to the grid cell along the step)
        area = shapely.area(shapely.force_2d(roofs[owner == i]))
        order = np.argsort(
            [
                np.unique(shapely.get_coordinates(r, include_z=True)[:, 2])[0]
                for r in roofs[owner == i]
            ]
        )
        assert area[order] == pytest.approx([truth[i][h] for h in sorted(truth[i])], rel=0.05)
    # the step walls: vertical faces not standing on the ground
    walls = result.faces[(result.semantic == 1) & (result.owner == 0)]
    low = np.array([shapely.get_coordinates(w, include_z=True)[:, 2].min() for w in walls])
    area, slope, _ = surface_metrics(walls[low > GROUND + 5])
    assert slope == pytest.approx(90.0)
    assert area.sum() == pytest.approx(18.0 * 20.0, rel=0.05)  # the tower's two inner sides
    # a one-part roof is the LoD1.2 block's height
    top = shapely.get_coordinates(result.solids[2], include_z=True)[:, 2].max()
    assert top == pytest.approx(GROUND + 8.5)


def test_split_is_deterministic():
    geoms, xyz, _ = _roofs(np.random.default_rng(4))
    inside = shapely.contains_xy(geoms[0], xyz[:, 0], xyz[:, 1])
    options = {"cell": 0.7, "step": 3.0, "min_area": 4.0, "percentile": 70.0}
    first = split(geoms[0], xyz[inside], **options)
    again = split(geoms[0], xyz[inside][::-1], **options)
    assert shapely.equals_exact(first[0], again[0]).all()
    assert np.array_equal(first[1], again[1])


def test_lod13_options_are_read_and_checked(tmp_path):
    base = f"""
[project]
crs = "EPSG:7415"
[sources.cadastre]
path = "{DELFT / "bgt_pand.sqlite"}"
"""
    config = BuildConfig.load(write_config(tmp_path / "a.toml", base + "[lod13]\nstep = 2.0\n"))
    assert config.lod13.step == 2.0 and config.lod13.min_area == 4.0
    with pytest.raises(ConfigError, match=r"\[lod13\]"):
        BuildConfig.load(write_config(tmp_path / "b.toml", base + "[lod13]\nstp = 2.0\n"))


def test_delft_lod13(delft_lidar_twin, tmp_path):
    model = twin.open(delft_lidar_twin)
    assert model.metadata["lods"] == ["1.2", "1.3", "2.2"]
    b = model.buildings
    lod13 = model.layers["lod13"]
    codes, _ = check(lod13.geometry.to_numpy())
    assert sum(1 for c in codes if c) == 0
    assert (b["lod13_method"] == "parts").sum() >= 150
    assert (b["lod13_parts"] > 1).sum() >= 5
    surfaces = model.layers["building_surfaces"]
    assert set(surfaces.loc[surfaces["lod"] == "1.3", "semantic"]) == {
        "RoofSurface",
        "WallSurface",
        "GroundSurface",
    }
    assert len(np.unique(model.mesh("1.3").owner)) == 158
    # LoD2.2 from planes for most buildings (67 of 158 before plane inliers had to connect,
    # misfit regular roofs were partitioned and the parts made an exact coverage for the
    # snapping onto the planes' crossings; 100 after), every solid valid
    codes, _ = check(model.layers["lod22"].geometry.to_numpy())
    assert sum(1 for c in codes if c) == 0
    planes = b["lod22_method"] == "planes"
    assert planes.sum() >= 95
    assert b.loc[planes, "rmse_lod22"].median() <= 0.6
    # exported as CityJSON LoD 1.3, valid against the schema
    path = write(model, tmp_path / "city.json", format="cityjson", lods=["1.3"])
    document = json.loads(path.read_text())
    assert schema_errors(document) == []
    lods = {g["lod"] for o in document["CityObjects"].values() for g in o.get("geometry", [])}
    assert lods == {"1.3"}


@pytest.fixture(scope="module")
def stepped_sample(tmp_path_factory):
    """A generated district whose flat buildings include towers on podiums, built from LiDAR."""
    out = tmp_path_factory.mktemp("stepped")
    generate_district(out / "sources", buildings=80, seed=5, lidar=True, ortho=False, stepped=8)
    config = sample_config(out / "sources", {"cadastre", "lidar", "dtm"})
    build(config, out / "city.gpkg", progress=False)
    truth = pd.read_csv(out / "sources" / "truth" / "buildings.csv").set_index("building_id")
    return twin.open(out / "city.gpkg"), truth


def test_sample_towers_are_split_at_their_step(stepped_sample):
    model, truth = stepped_sample
    b = model.buildings.set_index("building_id")
    towers = truth.index[truth["tower_z"].notna()]
    assert len(towers) >= 5
    assert (b.loc[towers, "lod13_parts"] == 2).all()
    assert (b.drop(towers)["lod13_parts"] == 1).all()
    lod13 = model.layers["lod13"].set_index("building_id")
    codes, _ = check(lod13.geometry.to_numpy())
    assert sum(1 for c in codes if c) == 0
    for i in towers:
        z = np.unique(shapely.get_coordinates(lod13.geometry[i], include_z=True)[:, 2])[1:]
        assert np.abs(z - truth.loc[i, ["eave_z", "tower_z"]].to_numpy(float)).max() <= 0.3
    # LoD2.2: two flat planes partition the footprint the same way
    codes, _ = check(model.layers["lod22"].geometry.to_numpy())
    assert sum(1 for c in codes if c) == 0
    assert (b.loc[towers, "lod22_method"] == "planes").all()
    assert np.abs(b.loc[towers, "eave_z_lod22"] - truth.loc[towers, "eave_z"]).max() <= 0.2
    assert np.abs(b.loc[towers, "ridge_z_lod22"] - truth.loc[towers, "tower_z"]).max() <= 0.2
