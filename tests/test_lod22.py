"""LoD2.2 roofs from LiDAR points: planes, regular roofs, closed solids, fallbacks."""

from __future__ import annotations

import geopandas as gpd
import laspy
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

import twin
from ingest.config import BuildConfig
from ingest.lidar.read import open_clouds
from ingest.lidar.stats import point_stats
from ingest.lod22.build import reconstruct
from ingest.lod22.planes import detect
from ingest.lod22.regularise import Frame, regularise
from ingest.lod22.solid import roof_solid
from ingest.pipeline import build
from ingest.sample import generate_sample
from twin.polygon3d import surface_metrics
from twin.validity import check


@pytest.fixture(scope="module")
def lidar_sample(tmp_path_factory):
    """A 200-building sample district with its point cloud, and the twin built from it."""
    out = tmp_path_factory.mktemp("lod22")
    generate_sample(out / "sources", buildings=200, seed=3, lidar=True, ortho=False)
    model = build(BuildConfig.load(out / "sources"), out / "city.gpkg", progress=False)
    truth = pd.read_csv(out / "sources" / "truth" / "buildings.csv")
    return twin.open(out / "city.gpkg"), truth.set_index("building_id"), model


def test_sample_roofs_match_the_truth(lidar_sample):
    model, truth, _ = lidar_sample
    b = model.buildings.set_index("building_id")
    t = truth.loc[b.index]
    assert (b["lod22_method"] == "planes").mean() >= 0.95
    # Roof RMSE of the points to the LoD2.2 roofs (the points carry 3 cm noise).
    assert np.sqrt(np.mean(b["rmse_lod22"] ** 2)) <= 0.15
    assert (b["rmse_lod22"] <= 0.15).mean() >= 0.95
    assert (b["roof_type"] == t["roof_type"]).mean() >= 0.95
    assert set(b["roof_type"]) >= {"flat", "shed", "gabled", "hipped"}
    close = (np.abs(b["eave_z_lod22"] - t["eave_z"]) <= 0.2) & (
        np.abs(b["ridge_z_lod22"] - t["ridge_z"]) <= 0.2
    )
    assert close.mean() >= 0.90
    assert b.loc[b["lod22_method"] == "planes", "lod22_fallback_reason"].isna().all()


def test_sample_solids_are_valid_and_stored(lidar_sample):
    model, truth, built = lidar_sample
    assert model.metadata["lods"] == ["1.2", "2.2"]
    lod22 = model.layers["lod22"]
    assert len(lod22) == len(model.buildings)
    assert (lod22["lod"] == "2.2").all()
    codes, _ = check(lod22.geometry.to_numpy())
    assert sum(1 for c in codes if c) == 0
    surfaces = model.layers["building_surfaces"]
    s22 = surfaces[surfaces["lod"] == "2.2"]
    assert set(s22["semantic"]) == {"RoofSurface", "WallSurface", "GroundSurface"}
    gabled = truth.index[truth["roof_type"] == "gabled"]
    roofs = s22[(s22["semantic"] == "RoofSurface") & s22["building_id"].isin(gabled)]
    assert (roofs.groupby("building_id").size() == 2).all()
    assert roofs["slope"].between(19.0, 46.0).all()  # the sample's pitches: 20-45 degrees
    # A gable wall follows the roof up to the ridge: a pentagon.
    walls = s22[(s22["semantic"] == "WallSurface") & s22["building_id"].isin(gabled)]
    corners = shapely.get_num_coordinates(walls.geometry.to_numpy()) - 1
    assert (pd.Series(corners).value_counts().loc[5]) == 2 * len(gabled)
    # The roof faces stored are those of the model built (the store keeps them exact).
    area, _, _ = surface_metrics(s22.geometry.to_numpy())
    assert np.allclose(area, s22["area"], atol=1e-6)
    assert np.allclose(
        built.layers["lod22"].geometry.area.to_numpy(), lod22.geometry.area.to_numpy()
    )


def test_gable_solid_is_closed_with_pentagon_walls():
    gable = np.array([[0.0, 0.5, 10.0], [0.0, -0.5, 10.0]])  # ridge along y = 0
    faces, semantic = roof_solid(shapely.box(-5.0, -3.0, 5.0, 3.0), gable, 0.0)
    codes, _ = check(np.array([shapely.MultiPolygon(list(faces))]))
    assert codes == [[]]
    z = shapely.get_coordinates(faces, include_z=True)[:, 2]
    assert z.max() == 10.0 and z.min() == 0.0
    sides = shapely.get_num_coordinates(faces[semantic == 1]) - 1
    assert sorted(sides.tolist()) == [4, 4, 5, 5]


def test_planes_are_deterministic_and_regularised():
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-6.0, 6.0, 1500), rng.uniform(-4.0, 4.0, 1500)
    # an off-axis frame: the building is turned by 30 degrees
    angle = np.deg2rad(30.0)
    u, v = x * np.cos(angle) - y * np.sin(angle), x * np.sin(angle) + y * np.cos(angle)
    z = 20.0 + np.tan(np.deg2rad(35.0)) * (4.0 - np.abs(y)) + rng.normal(0.0, 0.03, 1500)
    xyz = np.column_stack([u, v, z])
    first, again = detect(xyz), detect(xyz)
    assert np.array_equal(first.coef, again.coef)
    assert len(first.coef) == 2
    footprint = shapely.affinity.rotate(shapely.box(-6.0, -4.0, 6.0, 4.0), 30.0, origin=(0, 0))
    roof = regularise(xyz, first, Frame.of(footprint))
    assert roof.roof_type == "gabled" and roof.reason is None
    slopes = np.hypot(roof.planes[:, 0], roof.planes[:, 1])
    assert slopes[0] == pytest.approx(slopes[1], abs=1e-12)  # symmetric by construction
    assert slopes[0] == pytest.approx(np.tan(np.deg2rad(35.0)), abs=0.01)


def _cloud(path, crs, xyz):
    header = laspy.LasHeader(point_format=6, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.floor(xyz.min(axis=0))
    header.add_crs(crs)
    points = laspy.ScaleAwarePointRecord.zeros(len(xyz), header=header)
    points.x, points.y, points.z = xyz.T
    points.classification = np.full(len(xyz), 6, np.uint8)
    with laspy.open(path, mode="w", header=header) as writer:
        writer.write_points(points)


def test_complex_and_empty_roofs_fall_back_to_lod12(tmp_path):
    crs = pyproj.CRS("EPSG:31258+5778")
    x0, y0 = 524600.0, 165500.0
    # An L-shaped house with two crossing gables, and a shed beside it without points.
    wing_a, wing_b = shapely.box(0, 0, 20, 8), shapely.box(0, 0, 8, 20)
    ell = shapely.affinity.translate(shapely.union(wing_a, wing_b), x0, y0)
    empty = shapely.box(x0 + 40, y0, x0 + 46, y0 + 6)
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 20, 8000), rng.uniform(0, 20, 8000)
    inside = shapely.contains_xy(ell, x + x0, y + y0)
    x, y = x[inside], y[inside]
    z = 450.0 + np.maximum(
        np.where(y <= 8, 4.0 - np.abs(y - 4.0), -np.inf),
        np.where(x <= 8, 4.0 - np.abs(x - 4.0), -np.inf),
    )
    _cloud(tmp_path / "ell.las", crs, np.column_stack([x + x0, y + y0, z]))
    geoms = np.array([ell, empty], dtype=object)
    stats = point_stats(open_clouds(tmp_path / "ell.las", crs), geoms)
    result = reconstruct(
        geoms, stats, ground_z=np.array([440.0, 440.0]), lod1_z=np.array([452.0, 445.0])
    )
    a = result.attributes
    assert a["lod22_method"].tolist() == ["lod1.2", "lod1.2"]
    assert a["roof_type"][0] in {"multiple", "hipped", "gabled"}
    assert isinstance(a["lod22_fallback_reason"][0], str)
    assert a["lod22_fallback_reason"][1] == "fewer than 30 roof points"
    # The fallback is the LoD1.2 block, valid, and its RMSE is the points' to its top.
    codes, _ = check(result.solids)
    assert codes == [[], []]
    top = shapely.get_coordinates(result.solids[0], include_z=True)[:, 2].max()
    assert top == 452.0
    assert a["rmse_lod22"][0] == pytest.approx(np.sqrt(np.mean((z - 452.0) ** 2)), abs=1e-3)
    frame = gpd.GeoDataFrame(geometry=result.faces, crs=crs)
    assert len(frame) == len(result.owner) == len(result.semantic)
