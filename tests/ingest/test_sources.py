"""Sources that cannot be right, a distorting project CRS, heights without a datum, and the
ground of buildings without terrain: on a generated sample district."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.enums import Resampling

from ingest.config import BuildConfig, Source
from ingest.extents import has_data
from ingest.pipeline import build
from tests.conftest import sample_config, write_config
from twin.crs import parse_crs
from twin.errors import ConfigError, CRSError, InputError, TwinWarning

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """A sample district of 60 buildings (EPSG:31258+5778, around Klagenfurt's Neuer Platz)."""
    from ingest.synthetic import generate_district

    out = tmp_path_factory.mktemp("sources") / "district"
    generate_district(out, buildings=60, seed=5, lidar=False, ortho=False)
    return out


@pytest.fixture(scope="module")
def footprints(sources) -> gpd.GeoDataFrame:
    return gpd.read_file(sources / "cadastre.gpkg", layer="buildings")


def warned_build(config: BuildConfig, out) -> tuple[object, list[str]]:
    """Build, expecting warnings; return the model and the warnings' texts."""
    with pytest.warns(TwinWarning) as record:
        model = build(config, out, progress=False)
    return model, [str(w.message) for w in record]


def run_warnings(model) -> list[str]:
    return json.loads(model.layers["runs"]["warnings"].iloc[-1])


def with_source(config: BuildConfig, name: str, path, **options) -> BuildConfig:
    sources = {**config.sources, name: Source(name=name, path=path, options=options)}
    return dataclasses.replace(config, sources=sources)


def with_lod1(config: BuildConfig, **options) -> BuildConfig:
    return dataclasses.replace(config, lod1=dataclasses.replace(config.lod1, **options))


def rewrite_raster(src_path, dst_path, *, values=None, shift=(0.0, 0.0), width=None):
    """A copy of a raster, with other values, moved by ``shift`` m, or cut to ``width``."""
    with rasterio.open(src_path) as src:
        profile = src.profile
        data = src.read(1)
    if values is not None:
        data = np.full_like(data, values)
    if width is not None:
        data = data[:, :width]
        profile.update(width=width)
    t = profile["transform"]
    profile.update(transform=Affine(t.a, t.b, t.c + shift[0], t.d, t.e, t.f + shift[1]))
    with rasterio.open(dst_path, "w", **profile) as dst:
        dst.write(data, 1)
    return dst_path


# -- sources that cannot be right ------------------------------------------------------------


def test_a_crs_override_that_moves_the_footprints_off_the_rasters_is_refused(sources, tmp_path):
    """The cadastre is in GK M31; an override says GK M34 (EPSG:31259). Its coordinates then
    land about 70 km west: x = 524,670 in M34 (false easting 750 km, central meridian
    16°20'E) is 225 km west of 16.33°E, so near 13.3°E, M31's own central meridian (false
    easting 450 km): x near 454,500, still inside M31's area of use, but off the DTM."""
    config = sample_config(sources, {"cadastre", "dtm", "dsm"})
    cadastre = config.sources["cadastre"]
    moved = dataclasses.replace(cadastre, options={**cadastre.options, "crs": "EPSG:31259"})
    config = dataclasses.replace(config, sources={**config.sources, "cadastre": moved})
    out = tmp_path / "city.gpkg"
    with pytest.raises(InputError) as caught:
        build(config, out, progress=False)
    message = str(caught.value)
    assert message.startswith(f"{sources / 'dtm.tif'}: the extent of the DTM (")
    assert f"misses that of the footprints in {sources / 'cadastre.gpkg'} (45" in message
    assert message.endswith("is its CRS right?")
    assert not out.exists()


def test_footprints_in_another_crs_altogether_are_refused(sources, tmp_path):
    """Read as UTM 33N, the GK coordinates (524,670; 165,505) fall near 1.5°N, 15.2°E, in
    the Gulf of Guinea: thousands of km outside GK M31's area of use (Austria, 11.83-14.84°E,
    46.4-48.79°N)."""
    config = sample_config(sources, {"cadastre"})
    cadastre = config.sources["cadastre"]
    moved = dataclasses.replace(cadastre, options={**cadastre.options, "crs": "EPSG:32633"})
    config = dataclasses.replace(config, sources={"cadastre": moved})
    with pytest.raises(CRSError, match="every footprint lies more than 10 km outside the area"):
        build(config, tmp_path / "city.gpkg", progress=False)


def test_a_dtm_shifted_away_is_refused(sources, tmp_path):
    """The DTM moved 5 km east: 524462 + 5000 = 529462 is its new western edge (the sample's
    DTM starts at the district's edge, 524462, see generate_district's extent)."""
    with rasterio.open(sources / "dtm.tif") as src:
        left, bottom, _, _ = src.bounds
    shifted = rewrite_raster(sources / "dtm.tif", tmp_path / "dtm.tif", shift=(5000.0, 0.0))
    config = sample_config(sources, {"cadastre", "dtm"}, dtm=shifted)
    with pytest.raises(InputError) as caught:
        build(config, tmp_path / "city.gpkg", progress=False)
    message = str(caught.value)
    assert f"{shifted}: the extent of the DTM ({left + 5000:.0f}, {bottom:.0f} - " in message
    assert str(sources / "cadastre.gpkg") in message


def test_survey_points_far_from_the_footprints_are_refused(sources, tmp_path):
    table = pd.read_csv(sources / "survey_points.csv", dtype={"code": str, "point_no": str})
    table["y"] += 20_000.0  # 20 km north
    table.to_csv(tmp_path / "survey.csv", index=False)
    config = sample_config(sources, {"cadastre", "survey"}, survey=tmp_path / "survey.csv")
    with pytest.raises(InputError, match=r"survey.csv: the extent of the survey points .* by more"):
        build(config, tmp_path / "city.gpkg", progress=False)


def test_a_dtm_under_few_footprints_is_a_warning(sources, footprints, tmp_path):
    """The DTM cut to its western 60 m: it touches few footprints; the others take their
    ground from the survey, with the reason."""
    with rasterio.open(sources / "dtm.tif") as src:
        left, bottom, _, top = src.bounds
        cut = rewrite_raster(sources / "dtm.tif", tmp_path / "dtm.tif", width=60)
    touched = len(footprints.cx[left : left + 60.0, bottom:top])  # geopandas' own box query
    n = len(footprints)
    assert 0 < touched < n / 2
    config = sample_config(sources, {"cadastre", "dtm", "survey"}, dtm=cut)
    model, said = warned_build(config, tmp_path / "city.gpkg")
    expected = f"dtm.tif: the DTM covers only {touched} of {n} footprints ({touched / n:.0%})"
    assert any(s.startswith(expected) for s in said)
    assert any(s.startswith(expected) for s in run_warnings(model))
    b = model.buildings
    away = b["ground_method"] != "dtm"
    assert away.sum() >= n - touched
    reasons = b.loc[away, "height_fallback_reason"]
    assert reasons.str.contains("ground: footprint outside the DTM").all()
    assert set(b.loc[away, "ground_method"].dropna()) == {"survey"}


def test_an_all_nodata_dtm_falls_back_with_the_reason(sources, tmp_path):
    empty = rewrite_raster(sources / "dtm.tif", tmp_path / "dtm.tif", values=-9999.0)
    assert not has_data(empty)
    config = sample_config(sources, {"cadastre", "dtm", "dsm", "survey"}, dtm=empty)
    model, said = warned_build(config, tmp_path / "city.gpkg")
    assert any(s.startswith("dtm.tif: all cells no-data; no terrain in the twin") for s in said)
    assert any(s.startswith("dtm.tif: all cells no-data") for s in run_warnings(model))
    assert model.terrain is None
    b = model.buildings
    assert b["height_fallback_reason"].str.contains("ground: DTM: all cells no-data").all()
    assert (b["ground_method"] == "survey").mean() > 0.8
    assert "dtm" not in set(b["ground_method"])


def test_has_data_sees_one_pixel_an_overview_drops(tmp_path):
    """2048 x 2048 no-data pixels but one: the coarsest overview (1/16, nearest neighbour)
    loses it, the full mask does not."""
    path = tmp_path / "sparse.tif"
    profile = dict(
        driver="GTiff", width=2048, height=2048, count=1, dtype="float32", nodata=-9999.0,
        tiled=True, blockxsize=256, blockysize=256, crs="EPSG:31258",
        transform=Affine(1, 0, 524000, 0, -1, 166000),
    )  # fmt: skip
    data = np.full((2048, 2048), -9999.0, dtype=np.float32)
    data[1001, 1003] = 445.0
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.build_overviews([2, 4, 8, 16], Resampling.nearest)
    with rasterio.open(path) as src:
        assert src.overviews(1) == [2, 4, 8, 16]
        assert not src.read_masks(1, out_shape=(128, 128)).any()
    assert has_data(path)
    data[1001, 1003] = -9999.0
    with rasterio.open(path, "r+") as dst:
        dst.write(data, 1)
    assert not has_data(path)


def test_a_footprint_at_1e15_m_is_left_out(sources, tmp_path):
    frame = pyogrio.read_dataframe(sources / "cadastre.gpkg", layer="buildings")
    far = frame.index[7]
    frame.loc[far, "geometry"] = shapely.box(1e15, 1e15, 1e15 + 12, 1e15 + 9)
    path = tmp_path / "cadastre.gpkg"
    pyogrio.write_dataframe(frame, path, layer="buildings")
    parcels = pyogrio.read_dataframe(sources / "cadastre.gpkg", layer="parcels")
    pyogrio.write_dataframe(parcels, path, layer="parcels")
    config = sample_config(sources, {"cadastre", "dtm", "dsm"}, cadastre=path)
    model, said = warned_build(config, tmp_path / "city.gpkg")
    name = frame.loc[far, "building_id"]
    expected = f"{path}: 1 footprint(s) more than 10 km outside the area of use of MGI / Austria"
    assert any(s.startswith(expected) and f"{name} at (1000000000000000, " in s for s in said)
    b = model.buildings.set_index("building_id")
    assert "left out" in b.loc[name, "footprint_issue"]
    assert b.loc[name, "geometry"] is None and np.isnan(b.loc[name, "lod1_z"])
    solids = model.layers["lod12"].set_index("building_id").geometry
    assert solids[name] is None and solids.drop(name).notna().all()
    # The origin stays in the district (x ≈ 524,700 m), not at 5e14.
    assert 524_000 < model.metadata["origin"][0] < 525_500


# -- the project CRS --------------------------------------------------------------------------


def test_web_mercator_is_refused_then_accepted_with_its_scale_factor(sources, tmp_path):
    """Web Mercator at the sample's latitude, 46.62° N: k = 1/cos(46.62°) = 1/0.68677 = 1.4561
    (the sphere's secant; the ellipsoid's differs in the 5th digit), areas k² = 2.1202 times
    too large."""
    config = sample_config(sources, {"cadastre"})
    config = dataclasses.replace(config, crs=parse_crs("EPSG:3857"))
    config = with_lod1(config, ground_z=445.0)
    out = tmp_path / "city.gpkg"
    with pytest.raises(CRSError, match=r"scale factor of 1\.456\d where the data lie"):
        build(config, out, progress=False)
    assert not out.exists()
    k = 1.0 / math.cos(math.radians(46.62))
    assert f"{k:.3f}" == "1.456"
    model, said = warned_build(dataclasses.replace(config, allow_scale_error=True), out)
    scale = [s for s in said if "scale factor of 1.456" in s]
    assert len(scale) == 1 and "areas +112.0" in scale[0] and "accepted by" in scale[0]
    assert any("scale factor of 1.456" in s for s in run_warnings(model))
    # The twin measures what the CRS says: areas k² too large against GK M31's (k ≈ 1.00007).
    gk = pyogrio.read_dataframe(sources / "cadastre.gpkg", layer="buildings")
    ratio = model.buildings["area_footprint"].sum() / gk.geometry.area.sum()
    assert ratio == pytest.approx(k * k, rel=2e-3)


def test_the_cli_refuses_web_mercator_naming_the_factor(sources, tmp_path):
    config = write_config(
        tmp_path / "merc.toml",
        f'[project]\ncrs = "EPSG:3857"\n[sources.cadastre]\npath = "{sources / "cadastre.gpkg"}"\n'
        'buildings_layer = "buildings"\n',
    )
    result = subprocess.run(
        [sys.executable, "-m", "twin.cli", "build", str(config), "-o", str(tmp_path / "c.gpkg")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "scale factor of 1.456" in result.stderr and "allow_scale_error = true" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "c.gpkg").exists()


def test_allow_scale_error_must_be_a_boolean(tmp_path):
    config = write_config(
        tmp_path / "t.toml",
        '[project]\nallow_scale_error = "yes"\n[sources.cadastre]\npath = "t.toml"\n',
    )
    with pytest.raises(
        ConfigError, match=r"\[project\] allow_scale_error = 'yes': must be true or false"
    ):
        BuildConfig.load(config)


def test_a_project_crs_without_heights_datum_is_noted(sources, tmp_path):
    config = sample_config(sources, {"cadastre", "dtm", "dsm"})
    config = dataclasses.replace(config, crs=parse_crs("EPSG:31258"))
    model, said = warned_build(config, tmp_path / "city.gpkg")
    expected = "heights have no stated datum: the project CRS MGI / Austria GK M31 has no"
    assert [s for s in said if s.startswith(expected)]
    assert [s for s in run_warnings(model) if s.startswith(expected)]
    assert model.layers["lod12"].geometry.notna().all()


# -- ground without terrain -------------------------------------------------------------------


def test_storeys_without_terrain_stand_on_a_constant_ground(sources, footprints, tmp_path):
    """Footprints only and [lod1] ground_z = 445.0: a block of 4 storeys of 3 m reaches
    445 + 4 x 3 = 457 m."""
    config = with_lod1(sample_config(sources, {"cadastre"}), ground_z=445.0)
    b = build(config, tmp_path / "city.gpkg", progress=False).buildings
    storeys = footprints.set_index("building_id")["storeys"].reindex(b["building_id"]).to_numpy()
    has = ~np.isnan(storeys)
    assert (b["ground_method"] == "constant").all() and (b["ground_z"] == 445.0).all()
    np.testing.assert_allclose(b.loc[has, "lod1_z"], 445.0 + 3.0 * storeys[has])
    four = b.loc[storeys == 4, "lod1_z"]
    assert len(four) and (four == 457.0).all()
    assert b.loc[has, "volume_lod1"].gt(0).all()


def test_storeys_with_survey_ground(sources, footprints, tmp_path):
    """No DTM: the 10th percentile of the surveyed ground points within 30 m, worked out here
    with plain distances, plus storeys x 3 m."""
    config = sample_config(sources, {"cadastre", "survey"})
    model = build(config, tmp_path / "city.gpkg", progress=False)
    b = model.buildings.set_index("building_id")
    table = pd.read_csv(sources / "survey_points.csv", dtype={"code": str})
    ground = table[table["code"] == "GEL"]  # the code table's "ground"
    points = shapely.points(ground["x"].to_numpy(), ground["y"].to_numpy())
    checked = 0
    for row in footprints.itertuples():
        if b.loc[row.building_id, "ground_method"] != "survey":
            continue
        near = shapely.distance(row.geometry, points) <= 30.0
        z = np.sort(ground["z"].to_numpy()[near])
        pos = 0.1 * (len(z) - 1)  # linear interpolation, as pandas' quantile(0.1)
        expected = z[int(pos)] + (pos - int(pos)) * (z[min(int(pos) + 1, len(z) - 1)] - z[int(pos)])
        assert b.loc[row.building_id, "ground_z"] == pytest.approx(expected, abs=1e-9)
        if b.loc[row.building_id, "height_method"] == "attribute storeys":
            top = expected + 3.0 * row.storeys
            assert b.loc[row.building_id, "lod1_z"] == pytest.approx(top, abs=1e-9)
        checked += 1
    assert checked > 30


def test_storeys_on_a_coarse_dem_then_a_constant(sources, footprints, tmp_path):
    """A 25 m DEM at 446.5 m, no-data over its western half: footprints (grown by the 2 m
    ground buffer) wholly in its eastern half stand on 446.5, wholly in the western half on
    [lod1] ground_z = 445.0, and say why."""
    with rasterio.open(sources / "dtm.tif") as src:
        left, bottom, right, top = src.bounds
    cols, rows = math.ceil((right - left) / 25.0), math.ceil((top - bottom) / 25.0)
    data = np.full((rows, cols), 446.5, dtype=np.float32)
    data[:, : cols // 2] = -9999.0
    middle = left + 25.0 * (cols // 2)
    profile = dict(
        driver="GTiff", width=cols, height=rows, count=1, dtype="float32", nodata=-9999.0,
        crs="EPSG:31258+5778", transform=Affine(25.0, 0, left, 0, -25.0, top),
    )  # fmt: skip
    with rasterio.open(tmp_path / "dem.tif", "w", **profile) as dst:
        dst.write(data, 1)
    config = with_source(sample_config(sources, {"cadastre"}), "dem", tmp_path / "dem.tif")
    config = with_lod1(config, ground_z=445.0)
    b = build(config, tmp_path / "city.gpkg", progress=False).buildings
    bounds = shapely.bounds(footprints.geometry.to_numpy())
    east = (bounds[:, 0] - 2.0 > middle).tolist()
    west = (bounds[:, 2] + 2.0 < middle).tolist()
    assert any(east) and any(west)
    b = b.set_index("building_id").loc[footprints["building_id"]]
    assert (b.loc[east, "ground_method"] == "dem").all() and (
        b.loc[east, "ground_z"] == 446.5
    ).all()
    assert (b.loc[west, "ground_method"] == "constant").all()
    assert (b.loc[west, "ground_z"] == 445.0).all()
    reasons = b.loc[west, "height_fallback_reason"]
    assert reasons.str.contains("ground: DEM no-data around the footprint").all()
    storeys = footprints["storeys"].to_numpy()
    both = np.array(east) & ~np.isnan(storeys)
    np.testing.assert_allclose(b.loc[both, "lod1_z"], 446.5 + 3.0 * storeys[both])


def test_storeys_without_any_ground_are_reported(sources, footprints, tmp_path):
    config = sample_config(sources, {"cadastre"})
    model, said = warned_build(config, tmp_path / "city.gpkg")
    storeys = int((footprints["storeys"] > 0).sum())  # each of them has a height, no ground
    expected = f"{storeys} building(s) have a height but no ground height, so no solid"
    assert [s for s in said if s.startswith(expected)]
    assert [s for s in run_warnings(model) if s.startswith(expected)]
    reasons = model.buildings["height_fallback_reason"]
    assert reasons.str.contains("ground: no terrain source").all()
    assert model.layers["lod12"].geometry.isna().all()
