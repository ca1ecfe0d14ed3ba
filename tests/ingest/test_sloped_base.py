"""Sloped bases: LoD1.2 blocks whose ground face follows the terrain ([lod1] base = "sloped")."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner

import twin
from ingest.config import BuildConfig
from ingest.pipeline import build
from ingest.reconstruct.solids import blocks
from ingest.synthetic.terrain import terrain_z
from tests.conftest import sample_config, write_config
from tests.formats_checks import schema_errors
from tests.twin.test_formats_tiles3d import check_glb, check_tileset
from twin.cli import main
from twin.errors import ConfigError, TwinWarning
from twin.formats import cityjson, tiles3d
from twin.polygon3d import vector_area
from twin.terrain import Terrain
from twin.validity import check


@pytest.fixture(scope="module")
def sloped_twin(sample_sources, tmp_path_factory):
    """The sample district (its terrain rises 0.45 % to the east) built with sloped bases."""
    out = tmp_path_factory.mktemp("sloped") / "city.gpkg"
    config = BuildConfig.load(sample_sources)
    config = dataclasses.replace(config, lod1=dataclasses.replace(config.lod1, base="sloped"))
    build(config, out, progress=False)
    return out


def ramp(path, *, nodata=None):
    """A 4 x 3 raster of 1 m pixels from (0, 3): z = 10 + x + 0.5 y at pixel centres."""
    cols, rows = np.meshgrid(np.arange(4) + 0.5, np.arange(3) + 0.5)
    z = (10.0 + cols + 0.5 * (3.0 - rows)).astype(np.float32)
    if nodata is not None:
        z[0, 3] = nodata
    profile = dict(driver="GTiff", width=4, height=3, count=1, dtype="float32", nodata=nodata)
    with rasterio.open(path, "w", transform=Affine(1, 0, 0, 0, -1, 3), crs="EPSG:31258", **profile):
        pass
    with rasterio.open(path, "r+") as dst:
        dst.write(z, 1)
    return Terrain.from_raster(path)


def test_terrain_heights_are_bilinear(tmp_path):
    terrain = ramp(tmp_path / "ramp.tif")
    xy = np.array([[1.0, 1.0], [2.25, 1.75], [0.5, 2.5], [0.1, 0.2], [9.0, 1.0]])
    z = terrain.interpolate(xy)
    # one raster row at a time: the same heights
    np.testing.assert_array_equal(terrain.interpolate(xy, strip=1), z)
    assert np.isnan(terrain.interpolate(np.array([[-5.0, 1.0]]))).all()
    # a plane is reproduced exactly between pixel centres; the edge pixels extend half a
    # pixel (x 0.1 is taken at the centre 0.5, y 0.2 at 0.5); outside: NaN
    np.testing.assert_allclose(z[:4], [11.5, 13.125, 11.75, 10.75], atol=1e-6)
    assert np.isnan(z[4])
    holed = ramp(tmp_path / "holed.tif", nodata=-9999.0)
    # next to the no-data pixel (top right) the nearest pixel's value is taken
    np.testing.assert_allclose(holed.interpolate(np.array([[2.8, 2.2]])), [13.75])


def test_an_opened_terrain_reads_the_same_and_closes(tmp_path):
    """Kept open for a loop of small reads, the terrain gives the same heights, and the file
    is closed after the block."""
    terrain = ramp(tmp_path / "ramp.tif")
    xy = np.array([[1.0, 1.0], [2.25, 1.75], [9.0, 1.0]])
    with terrain.opened() as kept:
        assert not kept.dataset.closed
        np.testing.assert_array_equal(kept.interpolate(xy), terrain.interpolate(xy))
        np.testing.assert_array_equal(kept.sample(xy), terrain.sample(xy))
        np.testing.assert_array_equal(kept.read(), terrain.read())
    assert kept.dataset.closed and terrain.dataset is None


def test_a_block_on_a_ramp(tmp_path):
    """Hand-checkable: a 2 m x 1 m box on the ramp z = 10 + x + 0.5 y."""
    terrain = ramp(tmp_path / "ramp.tif")
    box = shapely.box(1.0, 1.0, 3.0, 2.0)
    out = blocks(np.array([box]), np.array([11.0]), np.array([20.0]), terrain=terrain)
    assert out.sloped.tolist() == [True]
    assert (out.ground_min[0], out.ground_max[0]) == pytest.approx((11.5, 14.0))
    grounds = out.surfaces[out.semantic == 0]
    assert len(grounds) == 2  # the base cut into two triangles
    corners = shapely.get_coordinates(grounds, include_z=True)
    np.testing.assert_allclose(corners[:, 2], 10.0 + corners[:, 0] + 0.5 * corners[:, 1])
    assert (vector_area(grounds)[:, 2] < 0).all()  # facing down
    codes, _ = check(out.solids)
    assert codes == [[]]
    # mean terrain under the box 12.75: 2 m² x 7.25 m; walls 15 + 14 + 8.25 + 6.25 m²
    assert out.volume[0] == pytest.approx(14.5) and out.wall_area[0] == pytest.approx(43.5)
    # a block whose top is not 1 m above its highest base vertex keeps the flat base
    low = blocks(np.array([box]), np.array([11.0]), np.array([14.5]), terrain=terrain)
    assert low.sloped.tolist() == [False] and low.ground_max[0] == 11.0


def test_sloped_bases_follow_the_terrain(sloped_twin):
    model = twin.open(sloped_twin)
    b = model.buildings.set_index("building_id")
    surfaces = model.layers["building_surfaces"]
    ground = surfaces[(surfaces["lod"] == "1.2") & (surfaces["semantic"] == "GroundSurface")]
    geoms = ground.geometry.to_numpy()
    assert (shapely.get_num_coordinates(geoms) == 4).all()  # triangles only
    xyz = shapely.get_coordinates(geoms, include_z=True)
    owner = np.repeat(ground["building_id"].to_numpy(), 4)
    # every base vertex lies on the DTM (bilinear) and on the sample's analytic terrain
    np.testing.assert_allclose(xyz[:, 2], model.terrain.interpolate(xyz[:, :2]), atol=0.01)
    np.testing.assert_allclose(xyz[:, 2], terrain_z(xyz[:, 0], xyz[:, 1]), atol=0.01)
    per = pd.DataFrame({"id": owner, "z": xyz[:, 2]}).groupby("id")["z"].agg(["min", "max"])
    np.testing.assert_allclose(b.loc[per.index, "ground_z_min"], per["min"], atol=1e-9)
    np.testing.assert_allclose(b.loc[per.index, "ground_z_max"], per["max"], atol=1e-9)
    # the sample's terrain slopes: bases are tilted by centimetres to decimetres
    # volumes of the sloped solids lie between those of blocks on the lowest and highest vertex
    v = b.loc[per.index]
    area, top = v["area_footprint"], v["lod1_z"]
    assert (area * (top - per["max"]) <= v["volume_lod1"] + 1e-6).all()
    assert (v["volume_lod1"] <= area * (top - per["min"]) + 1e-6).all()
    tilt = per["max"] - per["min"]
    assert tilt.median() > 0.03 and tilt.max() < 1.0
    assert len(per) == model.layers["lod12"].geometry.notna().sum() > 150
    codes, _ = check(model.layers["lod12"].geometry.to_numpy())
    assert sum(1 for c in codes if c) == 0


def test_sloped_twin_exports_and_validates(sloped_twin, tmp_path):
    path = tmp_path / "city.gpkg"
    shutil.copy(sloped_twin, path)
    shutil.copy(sloped_twin.with_name("city.dtm.tif"), tmp_path / "city.dtm.tif")
    result = CliRunner().invoke(main, ["validate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["summary"]["1.2"]["invalid"] == 0
    model = twin.open(path)
    mesh = model.mesh("1.2")
    assert len(mesh.semantic) > 0
    out = cityjson.write(model, tmp_path / "sloped.city.json")
    document = json.loads(out.read_text())
    assert schema_errors(document) == []
    report = tiles3d.write_tileset(model, tmp_path / "tiles", max_features=60)
    assert report["buildings"] == model.layers["lod12"].geometry.notna().sum()
    tiles = check_tileset(tmp_path / "tiles")
    for tile in tiles["contents"][:2]:
        check_glb(tmp_path / "tiles" / tile["content"]["uri"])


def test_sloped_base_without_terrain_stays_flat(sample_sources, tmp_path):
    config = sample_config(sample_sources, {"cadastre", "dsm", "survey"})
    config = dataclasses.replace(config, lod1=dataclasses.replace(config.lod1, base="sloped"))
    with pytest.warns(TwinWarning, match=r"base = 'sloped' without a terrain: flat bases"):
        model = build(config, tmp_path / "city.gpkg", progress=False)
    assert "flat bases" in model.layers["runs"]["warnings"].iloc[-1]
    assert "ground_z_min" not in model.buildings
    assert model.layers["lod12"].geometry.notna().sum() > 0


def test_base_option_is_checked(tmp_path, sample_sources):
    config = write_config(
        tmp_path / "bad.toml",
        f'[sources.cadastre]\npath = "{sample_sources / "cadastre.gpkg"}"\n'
        '[lod1]\nbase = "tilted"\n',
    )
    with pytest.raises(ConfigError, match="base = 'tilted': must be 'flat' or 'sloped'"):
        BuildConfig.load(config)


def test_delft_sloped_bases_are_valid(delft_config, tmp_path):
    """Real footprints (courtyards, many vertices) on the Delft DTM: all sloped, all valid."""
    with delft_config.open("a") as f:
        f.write('base = "sloped"\n')  # the config ends with its [lod1] table
    model = build(BuildConfig.load(delft_config), tmp_path / "city.gpkg", progress=False)
    b = model.buildings
    assert (b["ground_z_max"] > b["ground_z_min"]).sum() == 160
    codes, _ = check(model.layers["lod12"].geometry.to_numpy())
    assert sum(1 for c in codes if c) == 0
