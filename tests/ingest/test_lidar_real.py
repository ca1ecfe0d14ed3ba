"""LiDAR builds on real data: two Amsterdam AHN tiles with BGT footprints, and autzen (feet)."""

from __future__ import annotations

import geopandas as gpd
import laspy
import numpy as np
import pytest
import shapely

import twin
from ingest.config import BuildConfig
from ingest.pipeline import build
from tests.conftest import DATA, DELFT, write_config
from twin.errors import ConfigError, CRSError, DataQualityWarning, InputError, TwinWarning
from twin.validity import check

AMSTERDAM = DATA / "amsterdam"
TILES = sorted((AMSTERDAM / "ahn").glob("*.laz"))
AUTZEN = DATA / "autzen" / "autzen_trim.laz"


def amsterdam_config(path, *, crs: bool = True, footprints=AMSTERDAM / "bgt_buildings.gpkg"):
    """A config over the two AHN tiles (a folder) and the BGT footprints, sloped bases."""
    return write_config(
        path,
        f"""
[project]
name = "Amsterdam"
crs = "EPSG:7415"

[sources.cadastre]
path = "{footprints}"
building_id = "{"bgt_id" if footprints.suffix == ".gpkg" else "gml_id"}"

[sources.lidar]
path = "{AMSTERDAM / "ahn"}"
{'crs = "EPSG:7415"' if crs else ""}

[lod1]
base = "sloped"
""",
    )


@pytest.fixture(scope="module")
def amsterdam_twin(tmp_path_factory):
    out = tmp_path_factory.mktemp("amsterdam")
    build(BuildConfig.load(amsterdam_config(out / "t.toml")), out / "city.gpkg", progress=False)
    return twin.open(out / "city.gpkg")


def test_amsterdam_heights(amsterdam_twin):
    b = amsterdam_twin.buildings
    assert len(b) == 31
    geoms = b.geometry.to_numpy()
    # Every footprint lying inside a tile gets its height from the points.
    inside = np.zeros(len(b), dtype=bool)
    top = np.full(len(b), -np.inf)  # the highest class-6 point in each footprint
    for tile in TILES:
        las = laspy.read(tile)
        inside |= shapely.within(geoms, shapely.box(*las.header.mins[:2], *las.header.maxs[:2]))
        roof = np.asarray(las.classification) == 6
        x, y, z = (np.asarray(v)[roof] for v in (las.x, las.y, las.z))
        for i, geom in enumerate(geoms):
            hit = shapely.contains_xy(geom, x, y)
            top[i] = max(top[i], z[hit].max(initial=-np.inf))
    assert inside.sum() == 10
    lidar = (b["height_method"] == "lidar").to_numpy()
    assert lidar[inside].all() and lidar.sum() == 20
    # The others lie across a tile's edge or outside it, and say so.
    reasons = b.loc[~lidar, "height_fallback_reason"]
    assert reasons.str.contains("no LiDAR data in the footprint|LiDAR no-data under").all()
    # Ground about NAP 0 (-0.7 to 0.7 m); canal houses 14-18.5 m above it, two sheds 2-3 m.
    assert b["ground_z"].between(-1.0, 1.0).all()
    height = b.loc[lidar, "height"]
    assert (height.between(14.0, 18.5) | height.between(2.0, 3.5)).all()
    assert (height > 14.0).sum() == 17
    # Roof statistics against the class-6 points read here.
    np.testing.assert_allclose(b.loc[lidar, "roof_z_max"], top[lidar], atol=1e-6)
    assert (b.loc[lidar, "lod1_z"] <= top[lidar]).all()


def test_amsterdam_solids_roofs_and_trees(amsterdam_twin):
    b = amsterdam_twin.buildings
    lidar = b["height_method"] == "lidar"
    for layer in ("lod12", "lod22"):
        solids = amsterdam_twin.layers[layer].geometry.to_numpy()
        assert (~shapely.is_missing(solids)).sum() == 20, layer
        codes, _ = check(solids)
        assert sum(1 for c in codes if c) == 0, layer
    # LoD2.2: roofs from planes where the shape is simple, else the LoD1.2 block and why.
    method = b.loc[lidar, "lod22_method"]
    assert set(method) <= {"planes", "lod1.3", "lod1.2"} and (method == "planes").sum() >= 3
    assert b.loc[lidar & (b["lod22_method"] != "planes"), "lod22_fallback_reason"].notna().all()
    # Sloped bases on the terrain made from the points (flat where a vertex is off the tiles)
    assert (b.loc[lidar, "ground_z_max"] >= b.loc[lidar, "ground_z_min"]).all()
    assert (b.loc[lidar, "ground_z_max"] > b.loc[lidar, "ground_z_min"] + 0.05).sum() >= 10
    # The terrain made from the points covers both tiles, not the 500 m between them.
    terrain = amsterdam_twin.terrain
    inside = terrain.sample(np.array([[119325.0, 485125.0], [119875.0, 485275.0]]))
    assert np.isfinite(inside).all()
    between = terrain.sample(np.array([[119600.0, 485200.0], [119460.0, 485125.0]]))
    assert np.isnan(between).all()  # 250 m and 110 m from the nearest ground point
    # AHN here has no vegetation class (1, 2, 6 only): a trees layer, with no trees.
    assert "trees" in amsterdam_twin.layers and len(amsterdam_twin.layers["trees"]) == 0


def test_amsterdam_laz_without_crs_is_refused(tmp_path):
    config = BuildConfig.load(amsterdam_config(tmp_path / "t.toml", crs=False))
    with pytest.raises(CRSError, match=r"ahn_2386_9702\.laz.*carries no CRS"):
        build(config, tmp_path / "city.gpkg", progress=False)
    assert not (tmp_path / "city.gpkg").exists()


def test_cloud_missing_every_footprint(tmp_path):
    """The Amsterdam tiles under the Delft footprints: an error, the old twin untouched."""
    output = tmp_path / "city.gpkg"
    output.write_bytes(b"previous twin")
    config = amsterdam_config(tmp_path / "t.toml", footprints=DELFT / "bgt_pand.sqlite")
    with pytest.raises(
        InputError, match=r"ahn: the point cloud \(119299, .*misses every footprint"
    ):
        build(BuildConfig.load(config), output, progress=False)
    assert output.read_bytes() == b"previous twin"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.gpkg", "t.toml"]


def test_autzen_full_build(tmp_path):
    """Autzen (US, international feet, classes 1 and 2): a build with one footprint."""
    utm = "EPSG:26910"
    # An 8 m square on a flat roof about 9.5 m high (found from the points above the ground)
    box = shapely.box(494270.0, 4877568.0, 494278.0, 4877576.0)
    gpd.GeoDataFrame({"name": ["block"]}, geometry=[box], crs=utm).to_file(tmp_path / "b.gpkg")
    config = write_config(
        tmp_path / "t.toml",
        f"""
[project]
crs = "{utm}"
[sources.cadastre]
path = "b.gpkg"
[sources.lidar]
path = "{AUTZEN}"
""",
    )
    with (
        pytest.warns(TwinWarning, match="heights have no stated datum"),
        pytest.warns(DataQualityWarning, match="autzen.*: no vertical CRS; heights taken as"),
    ):
        model = build(BuildConfig.load(config), tmp_path / "city.gpkg", progress=False)
    b = model.buildings.iloc[0]
    assert b["height_method"] == "lidar" and b["roof_points_source"] == "height above DTM"
    # In metres: the valley floor at about 125 m (410 ft), the roof 9.5 m above it.
    assert 124 < b["ground_z"] < 126 and 8 < b["height"] < 11
    assert b["lod22_method"] in {"planes", "lod1.2"}
    assert model.terrain is not None and len(model.layers["trees"]) == 0
    codes, _ = check(model.layers["lod12"].geometry.to_numpy())
    assert codes == [[]]
    warnings = model.layers["runs"]["warnings"].iloc[-1]
    assert "no vertical CRS" in warnings and "no stated datum" in warnings
    assert twin.open(tmp_path / "city.gpkg").metadata["terrain_source"] == "LiDAR ground points"


def test_point_cloud_alone_is_refused(tmp_path):
    config = write_config(
        tmp_path / "t.toml",
        f'[project]\ncrs = "EPSG:26910"\n[sources.lidar]\npath = "{AUTZEN}"\n',
    )
    with pytest.raises(ConfigError, match="not derived from a point cloud alone"):
        BuildConfig.load(config)
