"""The synthetic sample district: real files generated into a temporary folder."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import laspy
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from shapely.ops import polylabel

from ingest.synthetic import FILES, generate_district, terrain_z
from twin.cli import main
from twin.errors import InputError

N = 60
LAYERS = {
    "cadastre.gpkg": ["parcels", "buildings"],
    "utilities.gpkg": ["utilities"],
    "trees.gpkg": ["trees"],
    "works.gpkg": ["planned_works", "surface_works"],
}


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "district"
    summary = generate_district(out, buildings=N, seed=0)
    assert summary["out_dir"] == out.absolute()
    assert summary["counts"]["buildings"] == N
    return out


@pytest.fixture(scope="module")
def buildings(district: Path) -> pd.DataFrame:
    df = pyogrio.read_dataframe(district / "cadastre.gpkg", layer="buildings")
    truth = pd.read_csv(district / "truth" / "buildings.csv")
    return df.merge(truth, on="building_id", validate="one_to_one")


def _pixel(path: Path, x: float, y: float) -> float:
    with rasterio.open(path) as ds:
        row, col = ds.index(x, y)
        return float(ds.read(1, window=((row, row + 1), (col, col + 1)))[0, 0])


def _is_sample_crs(crs: pyproj.CRS) -> bool:
    # GeoPackage keeps the horizontal part as WKT1 (GIS axis order, 15-digit meridian), which
    # PROJ no longer finds identical to EPSG:31258; the WKT still carries the EPSG ID
    horizontal, vertical = crs.sub_crs_list
    gk_m31 = horizontal.to_json_dict()["id"] == {"authority": "EPSG", "code": 31258}
    return crs.is_compound and gk_m31 and vertical.to_epsg() == 5778


def test_every_file_is_written_and_configured(district: Path) -> None:
    for name in FILES.values():
        assert (district / name).is_file(), name
    config = tomllib.loads((district / "twin.toml").read_text(encoding="utf-8"))
    assert config["project"] == {"name": "Klagenfurt sample district", "crs": "EPSG:31258+5778"}
    assert config["sources"]["cadastre"]["building_id"] == "building_id"
    for source in config["sources"].values():
        assert (district / source["path"]).is_file()
    assert set(config["sources"]) == {
        "cadastre", "survey", "dtm", "dsm", "ortho", "lidar", "utilities", "trees",
        "planned_works", "surface_works", "operators",
    }  # fmt: skip
    assert not list(district.parent.glob(f".{district.name}.*"))  # no temporary left


def test_layers_are_in_the_compound_crs(district: Path) -> None:
    for name, layers in LAYERS.items():
        assert pyogrio.list_layers(district / name)[:, 0].tolist() == layers
        for layer in layers:
            df = pyogrio.read_dataframe(district / name, layer=layer)
            assert len(df) > 0
            assert _is_sample_crs(df.crs), (name, layer)
    for name in ("dtm.tif", "dsm.tif", "ortho.tif"):
        with rasterio.open(district / name) as ds:
            assert _is_sample_crs(pyproj.CRS.from_wkt(ds.crs.to_wkt()))


def test_footprints_are_valid_touching_and_never_overlap(buildings: pd.DataFrame) -> None:
    geoms = buildings.geometry.to_numpy()
    assert len(geoms) == N
    assert buildings["building_id"].is_unique
    assert shapely.is_valid(geoms).all()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    a, b = a[a < b], b[a < b]
    common = shapely.intersection(geoms[a], geoms[b])
    assert shapely.area(common).max() < 1e-6
    assert np.count_nonzero(shapely.length(common) > 5.0) >= 10  # shared walls
    parts = shapely.get_num_geometries(geoms)
    assert 2 in parts
    holes = shapely.get_num_interior_rings(shapely.get_parts(geoms))
    assert holes.max() >= 1


def test_parcels_tile_the_district(district: Path, buildings: pd.DataFrame) -> None:
    parcels = pyogrio.read_dataframe(district / "cadastre.gpkg", layer="parcels")
    geoms = parcels.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    union = shapely.union_all(geoms)
    assert union.geom_type == "Polygon"
    assert union.area == pytest.approx(shapely.area(geoms).sum(), rel=1e-9)
    assert set(parcels["land_use"]) == {"building", "garden", "road", "park", "square"}
    assert (parcels["public"] == parcels["land_use"].isin(["road", "park", "square"])).all()
    assert parcels["gst"].is_unique
    assert parcels.loc[parcels["land_use"] == "building", "gst"].str.fullmatch(r"\.\d+").all()
    assert parcels.loc[parcels["land_use"] == "road", "gst"].str.fullmatch(r"\d+/\d+").all()
    assert parcels.loc[parcels["land_use"] == "road", "street"].notna().all()
    assert (parcels["area_m2"] == np.round(shapely.area(geoms))).all()
    host = parcels.set_index("gst").loc[buildings["gst"]]
    inside = shapely.covers(shapely.buffer(host.geometry.to_numpy(), 1e-6), buildings.geometry)
    assert inside.all()
    present = buildings["storeys"].notna().mean()
    assert 0.6 < present < 0.95


def test_truth_is_consistent(buildings: pd.DataFrame) -> None:
    t = buildings
    assert (t["ridge_z"] >= t["eave_z"]).all()
    assert (t["eave_z"] - t["ground_z"]).between(5.0, 22.0).all()
    flat = t["roof_type"] == "flat"
    assert (t.loc[flat, "ridge_z"] == t.loc[flat, "eave_z"]).all()
    assert (t.loc[~flat, "ridge_z"] > t.loc[~flat, "eave_z"]).all()
    assert set(t["roof_type"]) == {"flat", "shed", "gabled", "hipped"}
    xy, owner = shapely.get_coordinates(t.geometry.to_numpy(), return_index=True)
    lowest = pd.Series(terrain_z(xy[:, 0], xy[:, 1])).groupby(owner).min().to_numpy()
    np.testing.assert_allclose(t["ground_z"], lowest, atol=6e-4)


def test_truth_columns_are_exact(district: Path) -> None:
    header = (district / "truth" / "buildings.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "building_id,roof_type,ground_z,eave_z,ridge_z"


def test_dsm_shows_flat_roofs_and_dtm_the_terrain(district: Path, buildings: pd.DataFrame) -> None:
    trees = pyogrio.read_dataframe(district / "trees.gpkg")
    crowns = shapely.buffer(trees.geometry.to_numpy(), 10.0)
    flat = buildings[buildings["roof_type"] == "flat"]
    checked = 0
    for geom, eave in zip(flat.geometry, flat["eave_z"], strict=True):
        centre = polylabel(geom.geoms[0], 0.1)
        if shapely.intersects(crowns, centre).any():
            continue
        assert _pixel(district / "dsm.tif", centre.x, centre.y) == pytest.approx(eave, abs=0.15)
        checked += 1
    assert checked >= 3
    with rasterio.open(district / "dtm.tif") as ds:
        assert ds.res == (1.0, 1.0) and ds.nodata == -9999
        assert ds.transform.c == round(ds.transform.c) and ds.transform.f == round(ds.transform.f)
        dtm = ds.read(1)
        row, col = np.mgrid[0 : ds.height : 7, 0 : ds.width : 7]
        x, y = rasterio.transform.xy(ds.transform, row.ravel(), col.ravel())
    assert (dtm != -9999).all()
    np.testing.assert_allclose(dtm[row, col].ravel(), terrain_z(x, y), atol=1e-4)
    c = buildings.geometry.centroid
    for x, y, ground in zip(c.x, c.y, buildings["ground_z"], strict=True):
        assert _pixel(district / "dtm.tif", x, y) == pytest.approx(ground, abs=0.5)


def test_lidar_is_classified_and_dense(district: Path) -> None:
    with laspy.open(district / "lidar.laz") as reader:
        header = reader.header
        las = reader.read()
    assert header.point_format.id == 6 and str(header.version) == "1.4"
    assert _is_sample_crs(header.parse_crs())
    np.testing.assert_allclose(header.scales, 0.001)
    assert set(np.unique(las.classification)) == {2, 5, 6}
    with rasterio.open(district / "dsm.tif") as ds:
        left, bottom, right, top = ds.bounds
    returns, of = np.asarray(las.return_number), np.asarray(las.number_of_returns)
    density = np.count_nonzero(returns == 1) / ((right - left) * (top - bottom))
    assert density == pytest.approx(10.0, rel=0.2)
    assert np.all(np.diff(las.gps_time) >= 0)
    assert (returns >= 1).all() and (returns <= of).all()


def test_survey_codes_come_from_the_code_table(district: Path, buildings: pd.DataFrame) -> None:
    codes = pd.read_csv(district / "survey_codes.csv")
    assert list(codes.columns) == ["code", "meaning", "description"]
    assert set(codes["meaning"]) == {"eave", "ridge", "ground", "manhole_cover", "tree"}
    points = pd.read_csv(district / "survey_points.csv")
    assert list(points.columns) == ["point_no", "x", "y", "z", "code"]
    assert points["point_no"].is_unique
    assert set(points["code"]) == set(codes["code"])
    meaning = points["code"].map(codes.set_index("code")["meaning"])
    eaves = points[meaning == "eave"]
    walls = shapely.boundary(buildings.geometry.to_numpy())
    where = shapely.points(eaves[["x", "y"]].to_numpy())
    # a corner on a shared wall belongs to both neighbours: one of them must match
    point, wall = shapely.STRtree(walls).query(where, predicate="dwithin", distance=0.06)
    match = np.abs(eaves["z"].to_numpy()[point] - buildings["eave_z"].to_numpy()[wall]) < 0.1
    assert set(point[match]) == set(range(len(eaves)))


def test_networks_trees_and_works(district: Path) -> None:
    util = pyogrio.read_dataframe(district / "utilities.gpkg")
    networks = {"water", "sewer", "gas", "district_heating", "power_lv", "power_mv", "telecom"}
    assert set(util["network"]) <= networks and {"water", "sewer"} <= set(util["network"])
    assert set(util["status"]) <= {"in_service", "abandoned", "planned"}
    unknown = util["depth_source"] == "unknown"
    assert util.loc[unknown, "depth_m"].isna().all()
    assert util.loc[~unknown, "depth_m"].notna().all()
    trees = pyogrio.read_dataframe(district / "trees.gpkg")
    assert trees["tree_id"].is_unique
    assert (trees.loc[trees["columnar"], "species"] == "Carpinus betulus 'Fastigiata'").all()
    works = pyogrio.read_dataframe(district / "works.gpkg", layer="planned_works")
    assert (works["start"] <= works["end"]).all()
    assert works["start"].str[:4].astype(int).between(2027, 2029).all()
    geoms = works.geometry.to_numpy()
    a, b = shapely.STRtree(shapely.buffer(geoms, 1.0)).query(
        shapely.buffer(geoms, 1.0), predicate="intersects"
    )
    w = works.to_numpy()
    op, start, end = (works.columns.get_loc(c) for c in ("operator", "start", "end"))
    clash = (
        (a < b) & (w[a, op] != w[b, op]) & (w[a, start] <= w[b, end]) & (w[b, start] <= w[a, end])
    )
    assert clash.any()
    surface = pyogrio.read_dataframe(district / "works.gpkg", layer="surface_works")
    done = surface["status"] == "completed"
    assert surface.loc[done, "completed"].str[:4].astype(int).between(2021, 2026).all()
    assert surface.loc[~done, "planned"].str[:4].astype(int).between(2027, 2029).all()
    assert (surface.loc[~done, "kind"] == "resurfacing").all()


def test_operators_have_a_row_each_with_fictitious_contacts(district: Path) -> None:
    table = pd.read_csv(district / "operators.csv", dtype=str)
    assert list(table.columns) == [
        "operator", "department", "phone", "email", "emergency_phone", "web",
    ]  # fmt: skip
    assert table["operator"].is_unique and table.notna().all().all()
    used = set(pyogrio.read_dataframe(district / "utilities.gpkg")["operator"])
    used |= set(pyogrio.read_dataframe(district / "works.gpkg", layer="planned_works")["operator"])
    assert used <= set(table["operator"])
    # the Bundesnetzagentur's numbers for media productions (never assigned): Berlin,
    # +49 30 23125 000 to 999; the addresses under example.org (RFC 2606)
    for column in ("phone", "emergency_phone"):
        assert table[column].str.fullmatch(r"\+49 30 23125 \d{3}").all()
    assert table["email"].str.fullmatch(r"[\w.-]+@([\w-]+\.)*example\.org").all()
    assert table["web"].str.fullmatch(r"https://([\w-]+\.)*example\.org(/\S*)?").all()


def test_trench_is_rfc7946_and_lies_in_a_street_across_and_beside_lines(district: Path) -> None:
    document = json.loads((district / "trench.geojson").read_text(encoding="utf-8"))
    assert document["type"] == "FeatureCollection" and "crs" not in document  # RFC 7946
    [feature] = document["features"]
    assert feature["properties"] == {"trench_id": "TR-1", "width_m": 0.6, "depth_m": 1.2}
    assert feature["geometry"]["type"] == "LineString"
    lonlat = np.array(feature["geometry"]["coordinates"])
    assert lonlat.shape[1] == 2
    assert ((14.2 < lonlat[:, 0]) & (lonlat[:, 0] < 14.4)).all()  # Klagenfurt, longitude first
    assert ((46.55 < lonlat[:, 1]) & (lonlat[:, 1] < 46.7)).all()
    to_gk = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:31258", always_xy=True)
    trench = shapely.LineString(np.column_stack(to_gk.transform(lonlat[:, 0], lonlat[:, 1])))
    parcels = pyogrio.read_dataframe(district / "cadastre.gpkg", layer="parcels")
    road = shapely.union_all(parcels.geometry[parcels["land_use"] == "road"].to_numpy())
    assert shapely.within(trench, shapely.buffer(road, 0.01))  # 1 cm: 7 decimals of a degree
    lines = pyogrio.read_dataframe(district / "utilities.gpkg")
    live = lines.geometry[lines["status"] == "in_service"].to_numpy()
    assert shapely.crosses(live, trench).any()
    run = shapely.LineString(shapely.get_coordinates(trench)[1:])  # the leg along the street
    beside = (shapely.distance(live, run) < 2.0) & ~shapely.intersects(live, run)
    assert beside.any()
    trees = pyogrio.read_dataframe(district / "trees.gpkg").geometry.to_numpy()
    assert np.count_nonzero(shapely.distance(trees, trench) < 4.0) == 1


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path, district: Path) -> None:
    again = tmp_path / "again"
    generate_district(again, buildings=N, seed=0, lidar=False, ortho=False)
    for name in ("truth/buildings.csv", "survey_points.csv", "operators.csv", "trench.geojson"):
        assert (again / name).read_bytes() == (district / name).read_bytes()
    for name, layers in LAYERS.items():
        for layer in layers:
            a = pyogrio.read_dataframe(district / name, layer=layer, read_geometry=False)
            b = pyogrio.read_dataframe(again / name, layer=layer, read_geometry=False)
            pd.testing.assert_frame_equal(a, b)
    with rasterio.open(district / "dsm.tif") as one, rasterio.open(again / "dsm.tif") as two:
        np.testing.assert_array_equal(one.read(1), two.read(1))
    assert not (again / "lidar.laz").exists() and not (again / "ortho.tif").exists()
    assert "[sources.lidar]" not in (again / "twin.toml").read_text(encoding="utf-8")
    other = tmp_path / "other"
    generate_district(other, buildings=N, seed=1, lidar=False, ortho=False)
    assert (other / "truth/buildings.csv").read_bytes() != (
        district / "truth/buildings.csv"
    ).read_bytes()


def test_bad_arguments_and_occupied_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        generate_district(tmp_path / "x", buildings=0)
    keep = tmp_path / "keep.txt"
    keep.write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match="not an empty folder"):
        generate_district(tmp_path, buildings=5, lidar=False, ortho=False)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_cli_writes_then_refuses_a_full_folder(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    runner = CliRunner()
    result = runner.invoke(main, ["sample", str(out), "--buildings", "30"])
    assert result.exit_code == 0, result.output
    assert "buildings" in result.stdout and (out / "twin.toml").is_file()
    assert len(pd.read_csv(out / "truth" / "buildings.csv")) == 30
    result = runner.invoke(main, ["sample", str(out), "--buildings", "30"])
    assert result.exit_code == 1 and "--overwrite" in result.output
    result = runner.invoke(
        main, ["sample", str(out), "-n", "12", "--no-lidar", "--no-ortho", "--overwrite"]
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out / "truth" / "buildings.csv")) == 12
    assert not (out / "lidar.laz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli"]
    result = runner.invoke(main, ["sample", str(tmp_path / "zero"), "--buildings", "0"])
    assert result.exit_code == 2 and "'--buildings' / '-n': 0 is not in the range x>=1" in (
        result.output
    )
    assert not (tmp_path / "zero").exists()
