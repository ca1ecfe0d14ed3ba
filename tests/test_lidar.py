"""LiDAR ingest: reading LAS/LAZ, terrain from points, per-building heights, in a build."""

from __future__ import annotations

import shutil

import geopandas as gpd
import laspy
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import shapely

import twin
from ingest.config import BuildConfig
from ingest.lidar.read import PointCloud, open_clouds
from ingest.lidar.stats import point_stats
from ingest.lidar.terrain import dtm_from_points
from ingest.pipeline import build
from tests.conftest import DATA, DELFT, sample_config, write_config
from twin.errors import CRSError, InputError

RD_NAP = pyproj.CRS("EPSG:7415")
AUTZEN = DATA / "autzen" / "autzen_trim.laz"


@pytest.fixture(scope="module")
def delft_lidar_twin(tmp_path_factory):
    """The Delft footprints built from the AHN3 points alone (no DTM, no DSM)."""
    out = tmp_path_factory.mktemp("delft_lidar")
    config = write_config(
        out / "delft.toml",
        f"""
[project]
name = "Delft"
crs = "EPSG:7415"

[sources.cadastre]
path = "{DELFT / "bgt_pand.sqlite"}"
building_id = "gml_id"

[sources.lidar]
path = "{DELFT / "ahn3"}"
crs = "EPSG:7415"

[lod1]
roof_percentile = 90
""",
    )
    build(BuildConfig.load(config), out / "city.gpkg", progress=False)
    return out / "city.gpkg"


def test_delft_heights_against_3dfier(delft_lidar_twin):
    model = twin.open(delft_lidar_twin)
    b = model.buildings
    ref = pd.read_csv(DELFT / "3dfier_heights.csv").set_index("gml_id").loc[b["building_id"]]
    assert (b["height_method"] == "lidar").sum() >= 155
    assert (b["ground_method"] == "lidar").all()
    # Ground: p5 of ground points within 4 m against 3dfier's p10 of the ground near vertices.
    ground = np.abs(b["ground_z"].to_numpy() - ref["min_height_surface"].to_numpy())
    assert np.median(ground) < 0.03
    # Roof: p90 of the class-6 points inside the footprint against 3dfier's p90 (which samples
    # its own way, see docs/lidar.md): measured median |d| 0.317 m.
    roof = np.abs(b["lod1_z"].to_numpy() - ref["measuredHeight"].to_numpy())
    assert np.nanmedian(roof) < 0.35
    assert np.nanpercentile(roof, 25) < 0.15
    # The terrain made from the ground points covers the area and was kept as the twin's.
    assert model.terrain is not None
    z = model.terrain.sample(np.array([[84900.0, 447500.0]]))
    assert -2.0 < z[0] < 2.0
    for column in ("roof_z_p98", "point_density", "nodata_fraction", "nodata_radius"):
        assert b[column].notna().all(), column
    assert ((b["nodata_fraction"] >= 0) & (b["nodata_fraction"] <= 1)).all()
    assert (b["roof_z_p98"] <= b["roof_z_max"] + 1e-9).all()
    assert (b["point_density"].median() > 5) and (b["point_density"].median() < 20)
    # The two without a height say why.
    none = b[b["height_method"] != "lidar"]
    assert none["height_fallback_reason"].str.contains("LiDAR").all()
    # No scratch terrain is left beside the twin.
    assert sorted(p.name for p in delft_lidar_twin.parent.glob("*.tif")) == ["city.dtm.tif"]


def test_chunk_size_does_not_change_anything(tmp_path):
    clouds = open_clouds(DELFT / "ahn3", RD_NAP, crs=RD_NAP)
    geoms = gpd.read_file(DELFT / "bgt_pand.sqlite").geometry.to_numpy()
    small = point_stats(clouds, geoms, chunk_size=37_001)
    large = point_stats(clouds, geoms, chunk_size=2_000_000)
    for name in ("ground", "ground_points", "density", "nodata_fraction", "nodata_radius"):
        np.testing.assert_array_equal(getattr(small, name), getattr(large, name), err_msg=name)
    for q, values in small.roof.percentiles.items():
        np.testing.assert_array_equal(values, large.roof.percentiles[q])
    np.testing.assert_array_equal(small.roof.s2, large.roof.s2)
    a = dtm_from_points(clouds, tmp_path / "a.tif", RD_NAP, chunk_size=50_000)
    b = dtm_from_points(clouds, tmp_path / "b.tif", RD_NAP, chunk_size=5_000_000)
    np.testing.assert_array_equal(a.read(), b.read())


def test_feet_are_converted_to_metres(tmp_path):
    utm = pyproj.CRS("EPSG:26910")  # NAD83 / UTM 10N, metres
    cloud = PointCloud.open(AUTZEN, utm)
    assert cloud.crs.axis_info[0].unit_name in {"foot", "US survey foot"}
    assert cloud.z_scale == pytest.approx(0.3048)
    points = next(cloud.chunks(size=200_000))
    with laspy.open(AUTZEN) as f:
        zmin, zmax = f.header.mins[2], f.header.maxs[2]
    assert points.z.min() == pytest.approx(zmin * 0.3048, abs=1e-6)
    assert points.z.max() == pytest.approx(zmax * 0.3048, abs=1e-6)
    # Eugene, Oregon, in UTM 10N: about 494 km east, 4877 km north.
    assert 493_000 < points.x.mean() < 496_000
    assert 4_876_000 < points.y.mean() < 4_879_000
    dtm = dtm_from_points([cloud], tmp_path / "dtm.tif", utm, resolution=2.0)
    grid = dtm.read()
    assert np.isfinite(grid).all()
    # Ground of the Willamette valley floor, in metres (about 125 m).
    assert 115 < np.median(grid) < 135


def test_unclassified_roofs_fall_back_to_height_above_terrain(tmp_path):
    """Autzen has no building class: roofs come from points 2 m over the terrain."""
    utm = pyproj.CRS("EPSG:26910")
    clouds = [PointCloud.open(AUTZEN, utm)]
    dtm = dtm_from_points(clouds, tmp_path / "dtm.tif", utm, resolution=2.0)
    x0, y0, x1, y1 = clouds[0].bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    boxes = np.array([gpd.GeoSeries.from_xy([cx], [cy]).buffer(60, cap_style=3).iloc[0]])
    stats = point_stats(clouds, boxes, dtm=dtm)
    assert stats.roof_source[0] == "height above DTM"
    assert stats.roof.count[0] > 1000
    assert stats.roof.percentiles[0.0][0] >= np.nanmin(dtm.read()) + 2.0


def test_missing_crs_is_refused():
    with pytest.raises(CRSError, match="carries no CRS"):
        PointCloud.open(DELFT / "ahn3" / "ahn3_cropped_2.laz", RD_NAP)


def test_truncated_laz_is_a_clear_error(tmp_path):
    broken = tmp_path / "broken.laz"
    data = (DELFT / "ahn3" / "ahn3_cropped_2.laz").read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    cloud = PointCloud.open(broken, RD_NAP, crs=RD_NAP)
    with pytest.raises(InputError, match=r"broken\.laz"):
        for _ in cloud.chunks(size=100_000):
            pass


def test_not_a_point_cloud(tmp_path):
    bad = tmp_path / "bad.laz"
    bad.write_text("not a point cloud")
    with pytest.raises(InputError, match="not a readable LAS/LAZ"):
        PointCloud.open(bad, RD_NAP, crs=RD_NAP)


def test_header_count_mismatch(tmp_path):
    """A header announcing more points than the file holds is reported."""
    src = DELFT / "ahn3" / "ahn3_cropped_2.laz"
    las = laspy.read(src)
    short = tmp_path / "short.las"
    las.write(short)
    raw = bytearray(short.read_bytes())
    # LAS 1.2: legacy point count, uint32 at byte 107
    count = int.from_bytes(raw[107:111], "little")
    raw[107:111] = (count + 10).to_bytes(4, "little")
    short.write_bytes(bytes(raw))
    cloud = PointCloud.open(short, RD_NAP, crs=RD_NAP)
    with pytest.raises(InputError, match=r"short\.las"):
        for _ in cloud.chunks(size=1_000_000):
            pass


def test_sample_lidar_build(tmp_path):
    """A generated district with its point cloud: heights from the points match the truth."""
    from ingest.sample import generate_sample

    sources = tmp_path / "sources"
    generate_sample(sources, buildings=40, seed=5, lidar=True, ortho=False)
    config = sample_config(sources, {"cadastre", "lidar"})
    model = build(config, tmp_path / "city.gpkg", progress=False)
    b = model.buildings.set_index("building_id")
    truth = pd.read_csv(sources / "truth" / "buildings.csv").set_index("building_id")
    assert (b["height_method"] == "lidar").all()
    assert (b["ground_method"] == "lidar").all()
    flat = truth.index[truth["roof_type"] == "flat"]
    assert len(flat) >= 5
    assert np.abs(b.loc[flat, "lod1_z"] - truth.loc[flat, "eave_z"]).max() < 0.1
    assert (b.loc[flat, "roof_type"] == "flat").all()  # from the LoD2.2 planes
    assert np.median(np.abs(b["ground_z"] - truth.loc[b.index, "ground_z"])) < 0.15
    assert (b["roof_z_p98"] <= truth.loc[b.index, "ridge_z"] + 0.1).all()
    assert b["roof_points_source"].eq("class 6").all()
    with rasterio.open(tmp_path / "city.dtm.tif") as src:
        assert src.crs is not None


def test_lidar_options_are_checked(tmp_path):
    shutil.copy(DELFT / "bgt_pand.sqlite", tmp_path / "b.sqlite")
    config = write_config(
        tmp_path / "t.toml",
        '[sources.cadastre]\npath = "b.sqlite"\n[lidar]\nresolution = 2\n',
    )
    with pytest.raises(InputError, match=r"\[lidar\]"):
        BuildConfig.load(config)


def test_delft_lod12_solids_are_valid(delft_lidar_twin):
    from twin.validity import check

    solids = twin.open(delft_lidar_twin).layers["lod12"].geometry.to_numpy()
    codes, _ = check(solids)
    assert sum(1 for c in codes if c) == 0
    assert (~shapely.is_missing(solids)).sum() >= 155
