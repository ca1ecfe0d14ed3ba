"""LoD2.2 roofs from LiDAR points: planes, regular roofs, closed solids, fallbacks."""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import laspy
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine

import twin
from ingest.config import BuildConfig
from ingest.lidar.read import open_clouds
from ingest.lidar.stats import point_stats
from ingest.pipeline import build
from ingest.reconstruct.lod22 import reconstruct
from ingest.reconstruct.planes import detect
from ingest.reconstruct.regularise import Frame, regularise
from ingest.reconstruct.roofs import partition_solid, roof_solid
from ingest.reconstruct.solids import blocks, finish
from ingest.synthetic import generate_district
from twin.polygon3d import surface_metrics
from twin.terrain import Terrain
from twin.validity import check


@pytest.fixture(scope="module")
def lidar_sample(tmp_path_factory):
    """A 200-building sample district with its point cloud, and the twin built from it."""
    out = tmp_path_factory.mktemp("lod22")
    generate_district(out / "sources", buildings=200, seed=3, lidar=True, ortho=False)
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
    assert model.metadata["lods"] == ["1.2", "1.3", "2.2"]
    # LoD1.3: the sample's roofs have no 3 m steps, so every roof is one part, of the
    # LoD1.2 block's height, and valid
    lod13 = model.layers["lod13"]
    codes, _ = check(lod13.geometry.to_numpy())
    assert sum(1 for c in codes if c) == 0
    assert (model.buildings["lod13_method"] == "parts").all()
    assert (lod13["lod13_parts"] == 1).all()
    top = lod13.geometry.apply(lambda g: shapely.get_coordinates(g, include_z=True)[:, 2].max())
    assert np.allclose(top, model.layers["lod12"]["lod1_z"], atol=1e-3)
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


def _volume_under_roofs(faces, semantic, ground):
    """The analytic volume: each planar roof face's plan area times its height at its centroid."""
    roofs = faces[semantic == 2]
    plan = shapely.force_2d(roofs)
    centre = shapely.get_coordinates(shapely.centroid(plan))
    total = 0.0
    for roof, (cx, cy) in zip(roofs, centre, strict=True):
        xyz = shapely.get_coordinates(roof.exterior, include_z=True)
        coef, *_ = np.linalg.lstsq(np.column_stack([xyz[:, :2], np.ones(len(xyz))]), xyz[:, 2])
        total += shapely.area(shapely.force_2d(roof)) * (coef @ [cx, cy, 1.0] - ground)
    return total


ELL = shapely.Polygon([(0, 0), (10, 0), (10, 4), (4, 4), (4, 8), (0, 8)])
RING = shapely.box(0, 0, 20, 20).difference(shapely.box(6, 6, 14, 14))
BOX = shapely.box(0, 0, 10, 10)


CASES = [
    # an L of two flat parts: a 9 m wing and a 3 m annex, with a step wall
    (ELL, [shapely.box(0, 0, 4, 8), shapely.box(4, 0, 10, 4)], [10, 4], 1.0, 32 * 9 + 24 * 3),
    # a tower enclosed by a podium (the podium's part has a hole)
    (
        shapely.box(0, 0, 20, 20),
        [
            shapely.box(0, 0, 20, 20).difference(shapely.box(5, 5, 10, 12)),
            shapely.box(5, 5, 10, 12),
        ],
        [6, 15],
        0.0,
        400 * 6 + 35 * 9,
    ),
    # a footprint with a courtyard, split in two halves
    (
        RING,
        [
            shapely.box(0, 0, 10, 20).intersection(RING),
            shapely.box(10, 0, 20, 20).intersection(RING),
        ],
        [8, 5],
        0.0,
        168 * 8 + 168 * 5,
    ),
    # three heights meeting at one footprint vertex and one inner vertex
    (
        BOX,
        [shapely.box(0, 0, 5, 10), shapely.box(5, 0, 10, 5), shapely.box(5, 5, 10, 10)],
        [3, 6, 9],
        0.0,
        50 * 3 + 25 * 6 + 25 * 9,
    ),
    # two sheds crossing along their shared edge: the step wall turns into two triangles
    (
        BOX,
        [shapely.box(0, 0, 5, 10), shapely.box(5, 0, 10, 10)],
        [[0, 0.4, 5], [0, -0.4, 9]],
        0.0,
        700.0,
    ),
    # parts reaching beyond the footprint, with a gap between them: clipped and filled
    (
        ELL,
        [shapely.box(-1, -1, 3.9, 9), shapely.box(4, -1, 11, 5)],
        [10, 4],
        1.0,
        32 * 9 + 24 * 3,
    ),
]


@pytest.mark.parametrize(("footprint", "parts", "planes", "ground", "volume"), CASES)
def test_partition_solids_are_valid_and_hold_their_volume(footprint, parts, planes, ground, volume):
    planes = np.array([[0.0, 0.0, p] if np.isscalar(p) else p for p in planes], dtype=float)
    faces, semantic = partition_solid(footprint, np.array(parts, dtype=object), planes, ground)
    codes, _ = check(np.array([shapely.MultiPolygon(list(faces))]))
    assert codes == [[]]
    assert _volume_under_roofs(faces, semantic, ground) == pytest.approx(volume, abs=1e-6)
    # the roof faces tile the footprint
    assert shapely.area(shapely.force_2d(faces[semantic == 2])).sum() == pytest.approx(
        shapely.area(footprint)
    )


@pytest.fixture(scope="module")
def slope(tmp_path_factory):
    """A terrain rising 5 % to the east and 2 % to the north over (-5, -5)-(25, 25)."""
    path = tmp_path_factory.mktemp("slope") / "dtm.tif"
    x, y = np.meshgrid(np.arange(-5, 25) + 0.5, 25 - np.arange(30) - 0.5)
    profile = dict(driver="GTiff", width=30, height=30, count=1, dtype="float32")
    transform = Affine(1, 0, -5, 0, -1, 25)
    with rasterio.open(path, "w", transform=transform, crs="EPSG:31258", **profile) as dst:
        dst.write((0.05 * x + 0.02 * y - 0.5).astype(np.float32), 1)
    return Terrain.from_raster(path)


@pytest.mark.parametrize(("footprint", "parts", "planes", "ground", "volume"), CASES)
def test_partition_solids_stand_on_a_sloped_base(slope, footprint, parts, planes, ground, volume):
    planes = np.array([[0.0, 0.0, p] if np.isscalar(p) else p for p in planes], dtype=float)
    parts = np.array(parts, dtype=object)
    faces, semantic = partition_solid(footprint, parts, planes, ground, terrain=slope)
    codes, _ = check(np.array([shapely.MultiPolygon(list(faces))]))
    assert codes == [[]]
    # the base is triangles whose corners stand on the terrain, the roofs are unchanged
    base = faces[semantic == 0]
    assert (shapely.get_num_coordinates(base) == 4).all()
    xyz = shapely.get_coordinates(base, include_z=True)
    assert xyz[:, 2] == pytest.approx(0.05 * xyz[:, 0] + 0.02 * xyz[:, 1] - 0.5, abs=2e-3)
    assert np.ptp(xyz[:, 2]) > 0.3
    flat_faces, flat_semantic = partition_solid(footprint, parts, planes, ground)
    assert shapely.equals_exact(faces[semantic == 2], flat_faces[flat_semantic == 2]).all()
    # the walls stay vertical: the base area equals the footprint's
    assert shapely.area(shapely.force_2d(base)).sum() == pytest.approx(shapely.area(footprint))


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


def _reconstruct(path, crs, xyz, geoms, lod1_z):
    _cloud(path, crs, xyz)
    stats = point_stats(open_clouds(path, crs), geoms)
    return reconstruct(geoms, stats, ground_z=np.full(len(geoms), 440.0), lod1_z=lod1_z)


def test_crossing_gables_are_partitioned_and_other_roofs_fall_back(tmp_path):
    crs = pyproj.CRS("EPSG:31258+5778")
    x0, y0 = 524600.0, 165500.0
    # An L-shaped house with two crossing gables (four planes meeting in the corner), and a
    # shed beside it without points.
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
    geoms = np.array([ell, empty], dtype=object)
    xyz = np.column_stack([x + x0, y + y0, z])
    result = _reconstruct(tmp_path / "ell.las", crs, xyz, geoms, np.array([452.0, 445.0]))
    a = result.attributes
    assert a["lod22_method"].tolist() == ["planes", "lod1.2"]
    assert a["roof_type"][0] == "multiple" and a["roof_planes"][0] == 4
    assert a["ridge_z_lod22"][0] == pytest.approx(454.0, abs=0.05)
    assert a["eave_z_lod22"][0] == pytest.approx(450.0, abs=0.05)
    assert a["rmse_lod22"][0] < 0.05
    roofs = result.faces[(result.semantic == 2) & (result.owner == 0)]
    assert shapely.area(shapely.force_2d(roofs)).sum() == pytest.approx(256.0, abs=0.01)
    assert a["lod22_fallback_reason"][1] == "fewer than 30 roof points"
    codes, _ = check(result.solids)
    assert codes == [[], []]
    frame = gpd.GeoDataFrame(geometry=result.faces, crs=crs)
    assert len(frame) == len(result.owner) == len(result.semantic)
    # A dome no planes fit: the LoD1.2 block, valid, its RMSE the points' to its top.
    x, y = rng.uniform(0, 10, 800), rng.uniform(0, 10, 800)
    z = 450.0 + np.sqrt(np.maximum(36.0 - (x - 5.0) ** 2 - (y - 5.0) ** 2, 0.0))
    geoms = np.array([shapely.box(x0, y0, x0 + 10, y0 + 10)], dtype=object)
    xyz = np.column_stack([x + x0, y + y0, z])
    result = _reconstruct(tmp_path / "dome.las", crs, xyz, geoms, np.array([452.0]))
    a = result.attributes
    assert a["lod22_method"][0] == "lod1.2" and "misfits" in a["lod22_fallback_reason"][0]
    assert check(result.solids)[0] == [[]]
    assert shapely.get_coordinates(result.solids[0], include_z=True)[:, 2].max() == 452.0
    assert a["rmse_lod22"][0] == pytest.approx(np.sqrt(np.mean((z - 452.0) ** 2)), abs=5e-3)


def test_mixed_roofs_are_partitioned_among_their_planes(tmp_path):
    crs = pyproj.CRS("EPSG:31258+5778")
    x0, y0 = 524600.0, 165500.0
    # A shed against a flat annex (one footprint), and a stepped flat roof (a 6 m wing
    # on an 11 m block): no regular roof fits either, a partition among the planes does.
    shed_annex, stepped = shapely.box(0, 0, 20, 10), shapely.box(30, 0, 50, 12)
    rng = np.random.default_rng(7)
    x, y = rng.uniform(0, 50, 12000), rng.uniform(0, 12, 12000)
    z = np.where(
        x < 20,
        np.where(x < 12, 10.0 + 0.4 * y, 6.0),
        np.where(x < 38, 11.0, 6.0),
    ) + rng.normal(0.0, 0.03, len(x))
    inside = shapely.contains_xy(shed_annex, x, y) | shapely.contains_xy(stepped, x, y)
    _cloud(tmp_path / "mixed.las", crs, np.column_stack([x + x0, y + y0, z + 440.0])[inside])
    geoms = np.array(
        [shapely.affinity.translate(g, x0, y0) for g in (shed_annex, stepped)], dtype=object
    )
    stats = point_stats(open_clouds(tmp_path / "mixed.las", crs), geoms)
    result = reconstruct(
        geoms, stats, ground_z=np.array([440.0, 440.0]), lod1_z=np.array([449.0, 451.0])
    )
    a = result.attributes
    assert a["lod22_method"].tolist() == ["planes", "planes"], a["lod22_fallback_reason"].tolist()
    # The parts' edges follow the grid cells: the points of the cell column along a step
    # that fall on its other side (about 1 %, 5-6 m off) dominate the RMSE.
    assert (a["rmse_lod22"] < 0.6).all()
    codes, _ = check(result.solids)
    assert codes == [[], []]
    roofs = result.faces[result.semantic == 2]
    owner = result.owner[result.semantic == 2]
    area = shapely.area(shapely.force_2d(roofs))
    assert sorted(area[owner == 0].round(0).tolist()) == pytest.approx([80, 120], abs=3)
    assert sorted(area[owner == 1].round(0).tolist()) == pytest.approx([96, 144], abs=3)
    assert a["eave_z_lod22"].tolist() == pytest.approx([446.0, 446.0], abs=0.1)
    assert a["ridge_z_lod22"].tolist() == pytest.approx([454.0, 451.0], abs=0.1)


def test_plane_inliers_are_one_connected_patch():
    # Two 10 m wings either side of a 14 m middle block: one plane holds both wings' points
    # unless its inliers must connect, when each wing is a plane of its own.
    rng = np.random.default_rng(8)
    x, y = rng.uniform(-12.0, 12.0, 2400), rng.uniform(-5.0, 5.0, 2400)
    z = np.where(np.abs(x) < 4.0, 14.0, 10.0) + rng.normal(0.0, 0.03, len(x))
    xyz = np.column_stack([x, y, z])
    assert len(detect(xyz).coef) == 2
    planes = detect(xyz, connect=1.0)
    assert len(planes.coef) == 3
    assert np.sort(planes.coef[:, 2]) == pytest.approx([10.0, 10.0, 14.0], abs=0.02)
    for p in range(3):  # each plane's inliers lie on one side of the middle block, or in it
        own = x[planes.label == p]
        side = np.unique(np.sign(own) * (np.abs(own) >= 4.0))
        assert len(side) == 1
    assert np.array_equal(planes.label, detect(xyz, connect=1.0).label)  # deterministic


def test_a_misfit_regular_roof_is_partitioned_instead(tmp_path):
    crs = pyproj.CRS("EPSG:31258+5778")
    x0, y0 = 524600.0, 165500.0
    # An asymmetric gable (slopes 0.3 and 1.5, ridge at y = 8.33 m): the symmetric gabled
    # roof misfits its points, the partition between its two planes fits them.
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 20, 2400), rng.uniform(0, 10, 2400)
    z = 448.0 + np.minimum(0.3 * y, 1.5 * (10 - y)) + rng.normal(0.0, 0.03, len(x))
    _cloud(tmp_path / "asym.las", crs, np.column_stack([x + x0, y + y0, z]))
    geoms = np.array([shapely.box(x0, y0, x0 + 20, y0 + 10)], dtype=object)
    stats = point_stats(open_clouds(tmp_path / "asym.las", crs), geoms)
    result = reconstruct(geoms, stats, ground_z=np.array([440.0]), lod1_z=np.array([450.0]))
    a = result.attributes
    assert a["lod22_method"][0] == "planes", a["lod22_fallback_reason"][0]
    assert a["roof_type"][0] == "multiple"
    assert a["ridge_z_lod22"][0] == pytest.approx(448.0 + 2.5, abs=0.1)
    assert a["eave_z_lod22"][0] == pytest.approx(448.0, abs=0.1)
    assert a["rmse_lod22"][0] < 0.15
    codes, _ = check(result.solids)
    assert codes == [[]]


def test_lod13_and_lod22_stand_on_the_sloped_base_of_lod12(tmp_path):
    generate_district(tmp_path / "sources", buildings=40, seed=3, lidar=True, ortho=False)
    config = BuildConfig.load(tmp_path / "sources")
    config = dataclasses.replace(config, lod1=dataclasses.replace(config.lod1, base="sloped"))
    build(config, tmp_path / "city.gpkg", progress=False)
    model = twin.open(tmp_path / "city.gpkg")
    b = model.buildings.set_index("building_id")
    assert (b["lod22_method"] == "planes").mean() >= 0.95
    surfaces = model.layers["building_surfaces"]
    ground = surfaces[surfaces["semantic"] == "GroundSurface"]
    corners = {}
    for lod in ("1.2", "1.3", "2.2"):
        layer = model.layers[f"lod{lod.replace('.', '')}"]
        codes, _ = check(layer.geometry.to_numpy())
        assert sum(1 for c in codes if c) == 0, lod
        faces = ground[ground["lod"] == lod]
        xyz, owner = shapely.get_coordinates(faces.geometry, include_z=True, return_index=True)
        ids = faces["building_id"].to_numpy()[owner]
        corners[lod] = (
            pd.DataFrame(
                {"id": ids, "x": xyz[:, 0].round(3), "y": xyz[:, 1].round(3), "z": xyz[:, 2]}
            )
            .drop_duplicates(["id", "x", "y"])
            .set_index(["id", "x", "y"])["z"]
            .sort_index()
        )
    sloped = b.index[b["ground_z_max"] - b["ground_z_min"] > 0.01]
    assert len(sloped) >= 20
    # every building's base corners at the same heights in the three LoDs
    for lod in ("1.3", "2.2"):
        joined = corners["1.2"].to_frame("a").join(corners[lod].to_frame("b"), how="inner")
        assert set(joined.index.get_level_values("id")) >= set(sloped)
        assert (joined["a"] - joined["b"]).abs().max() <= 1e-3


def test_finish_drops_invalid_solids_and_says_which_it_kept():
    geoms = np.array([shapely.box(0, 0, 10, 8), shapely.box(20, 0, 30, 8)], dtype=object)
    ground, top = np.zeros(2), np.full(2, 6.0)
    block = blocks(geoms, ground, top)
    own = [block.owner == i for i in range(2)]
    models = {
        0: (block.surfaces[own[0]], block.semantic[own[0]]),  # a closed box
        1: (block.surfaces[own[1]][:3], block.semantic[own[1]][:3]),  # open: invalid
    }
    reason = np.full(2, None, dtype=object)
    solids, faces, owner, _, kept = finish(models, reason, geoms, ground_z=ground, lod1_z=top)
    assert kept.tolist() == [True, False]
    assert reason[0] is None and reason[1].startswith("invalid solid")
    assert solids[1] is not None and np.bincount(owner).tolist() == [6, 6]  # 1 got its block
    assert len(faces) == len(owner)
