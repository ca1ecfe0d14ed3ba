"""The stores: exact round trips, atomic writes, clear errors, and each method of the store
protocol checked against an independent reading (pyogrio, sqlite3, shapely, rasterio of the
GeoPackage the PostGIS twin was copied from). What applies to both backends runs on both
(``sample_store``, ``new_twin``); file paths, the R-tree's float32 bounds and edits through
SQLite are the GeoPackage's own. The PostGIS store's own: tests/twin/test_store_postgis.py.
"""

from __future__ import annotations

import contextlib
import gc
import json
import shutil
import sqlite3
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner
from geopandas.testing import assert_geodataframe_equal

import twin
from twin.api.cql import parse
from twin.cli import main
from twin.errors import InputError, StoreError
from twin.model import CityModel, layer_columns
from twin.store import files, is_database, open_store, write
from twin.store.base import Selection, Store
from twin.terrain import Terrain


def _model() -> CityModel:
    crs = pyproj.CRS("EPSG:31258+5778")
    footprints = gpd.GeoDataFrame(
        {
            "building_id": ["B1", "B2", "B3"],
            "height": [12.5, np.nan, 7.25],
            "storeys": [4, 2, 1],
            "use": ["residential", None, "garage"],
            "flag": [True, False, True],
        },
        geometry=[
            shapely.box(524600, 165500, 524612, 165510),
            shapely.Polygon(
                shapely.box(524620, 165500, 524650, 165530).exterior.coords,
                [shapely.box(524630, 165510, 524640, 165520).exterior.coords],
            ),
            None,
        ],
        crs=crs,
    )
    runs = pd.DataFrame({"started": ["2026-01-01T00:00:00+00:00"], "counts": ['{"a": 1}']})
    return CityModel(
        crs=crs,
        layers={"buildings": footprints, "runs": runs},
        metadata={"name": "test", "origin": [524600.0, 165500.0, 440.0]},
    )


def test_round_trip_is_exact(new_twin):
    model = _model()
    path = write(model, new_twin)
    back = twin.open(path)
    assert back.crs == model.crs
    assert back.metadata == model.metadata
    expected = model.buildings.copy()
    expected["geometry"] = expected.geometry.apply(
        lambda g: g if g is None else shapely.MultiPolygon([g])
    )
    assert_geodataframe_equal(back.buildings, expected, check_dtype=False, check_crs=False)
    assert back.buildings.crs.equals(model.crs)
    pd.testing.assert_frame_equal(back.layers["runs"], model.layers["runs"], check_dtype=False)


def test_gdal_reads_compound_crs(tmp_path):
    path = write(_model(), tmp_path / "city.gpkg")
    info = pyogrio.read_info(path, layer="buildings")
    assert 'AUTHORITY["EPSG","31258"]' in info["crs"]
    assert 'AUTHORITY["EPSG","5778"]' in info["crs"]
    assert info["geometry_type"] == "MultiPolygon"


def test_failed_write_leaves_previous_twin(tmp_path):
    path = write(_model(), tmp_path / "city.gpkg")
    before = path.read_bytes()
    broken = _model()
    # The terrain copy fails after every layer has been written to the temporary file.
    broken.terrain = Terrain(
        path=tmp_path / "missing.tif",
        crs=broken.crs,
        transform=Affine.identity(),
        shape=(1, 1),
        nodata=None,
    )
    with pytest.raises(StoreError, match="cannot copy the terrain"):
        write(broken, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.gpkg"]


def _terrain(path, z: float) -> Terrain:
    """A 2 x 2 m terrain at height ``z``, written to ``path``."""
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=2,
        height=2,
        count=1,
        dtype="float32",
        crs="EPSG:31258",
        transform=Affine(1, 0, 524600, 0, -1, 165512),
    ) as dst:
        dst.write(np.full((1, 2, 2), z, dtype="float32"))
    return Terrain.from_raster(path)


def test_the_twin_and_its_terrain_are_replaced_together(tmp_path):
    """The orthophoto copy fails after the new terrain was written: neither the GeoPackage
    nor its terrain is replaced, and no temporary is left; a write that succeeds replaces
    both."""
    sources, path = tmp_path / "sources", tmp_path / "city.gpkg"
    sources.mkdir()
    first = _model()
    first.terrain = _terrain(sources / "old.tif", 440.0)
    write(first, path)
    before = {p.name: p.read_bytes() for p in files(path) if p.exists()}
    assert sorted(before) == ["city.dtm.tif", "city.gpkg"]
    broken = _model()
    broken.terrain = _terrain(sources / "new.tif", 450.0)
    broken.ortho = sources / "ortho.tif"
    broken.ortho.write_text("not an image", encoding="utf-8")
    with pytest.raises(StoreError, match="cannot copy the orthophoto"):
        write(broken, path)
    assert {p.name: p.read_bytes() for p in files(path) if p.exists()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.dtm.tif", "city.gpkg", "sources"]
    broken.ortho = None
    write(broken, path)
    with rasterio.open(path.with_suffix(".dtm.tif")) as dtm:
        assert dtm.read(1).tolist() == [[450.0, 450.0], [450.0, 450.0]]
    assert path.read_bytes() != before["city.gpkg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.dtm.tif", "city.gpkg", "sources"]


def test_open_errors_name_the_file(tmp_path):
    with pytest.raises(StoreError, match="no such twin"):
        twin.open(tmp_path / "missing.gpkg")
    plain = tmp_path / "plain.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs="EPSG:31258").to_file(plain)
    with pytest.raises(StoreError, match="not a twin"):
        twin.open(plain)
    with pytest.raises(StoreError, match="unknown twin store type"):
        twin.open(tmp_path / "city.shp")


def test_mesh_cache_is_used_and_never_stale(sample_twin, new_twin):
    path = write(twin.open(sample_twin), new_twin)
    # beside a GeoPackage; in the local cache folder for a database twin
    cache = open_store(path).cache_path("mesh-1.2.npz")
    assert not cache.exists()
    built = twin.open(path).mesh("1.2")
    assert cache.exists()
    again = twin.open(path)
    loaded = again.mesh("1.2")
    assert not again.layers.replaced("building_surfaces")
    np.testing.assert_array_equal(loaded.vertices, built.vertices)
    np.testing.assert_array_equal(loaded.owner, built.owner)
    # A model whose surfaces were replaced in memory never takes the file's cache.
    changed = twin.open(path)
    surfaces = changed.layers["building_surfaces"]
    changed.layers["building_surfaces"] = surfaces[surfaces["semantic"] != "GroundSurface"]
    assert len(changed.mesh("1.2").triangles) < len(built.triangles)
    # Writing the twin again changes the key: the old cache is not used, a new one is written.
    write(changed, path)
    assert len(twin.open(path).mesh("1.2").triangles) < len(built.triangles)


def test_validate_rewrites_the_twin_and_refreshes_its_mesh_cache(sample_twin, new_twin):
    """``twin validate`` rewrites the twin in its store, with the codes of a broken solid,
    and keeps the meshes the store's cache held (files beside a GeoPackage, the local cache
    folder of a database twin) for the new version of the twin."""
    model = twin.open(sample_twin)
    lod12 = model.layers["lod12"]
    row = int(np.flatnonzero(lod12.geometry.notna().to_numpy())[0])
    # without its first face (the ground) the solid is open: val3dity's 302
    broken = shapely.MultiPolygon(list(lod12.geometry.iloc[row].geoms)[1:])
    lod12.loc[lod12.index[row], "geometry"] = broken
    path = write(model, new_twin)
    store = open_store(path)
    twin.open(path).mesh("1.2")  # built and kept for this version of the twin
    before = store.token()
    assert store.mesh_cache().load("1.2") is not None

    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    bid = lod12["building_id"].iloc[row]
    assert f"{bid}: 302 SHELL_NOT_CLOSED" in result.output
    assert store.token() != before
    validity = twin.open(path).layers["lod12"]["validity"]
    assert validity.iloc[row] == "302" and validity.drop(index=row).isna().all()
    kept = store.mesh_cache().load("1.2")  # refreshed for the rewritten twin
    assert kept is not None
    fresh = twin.open(path)
    fresh.layers["building_surfaces"] = fresh.layers["building_surfaces"]  # not the cache's
    built = fresh.mesh("1.2")
    np.testing.assert_array_equal(kept.vertices, built.vertices)
    np.testing.assert_array_equal(kept.triangles, built.triangles)


def test_features_within_a_box_are_read_through_the_index(sample_store, sample_twin):
    """``model.layers.within`` reads the features meeting a box through the store's spatial
    index (the GeoPackage's R-tree, PostGIS's GiST) before the layer is loaded, and gives
    the rows pyogrio's whole layer gives filtered by shapely."""
    bounds = (524600.0, 165450.0, 524700.0, 165550.0)
    lines = pyogrio.read_dataframe(sample_twin, layer="utilities")
    meeting = lines[shapely.intersects(lines.geometry.to_numpy(), shapely.box(*bounds))]
    first = twin.open(sample_store).layers.within("utilities", bounds)
    model = twin.open(sample_store)
    assert 0 < len(first) < len(lines)
    assert sorted(first["utility_id"]) == sorted(meeting["utility_id"])
    assert len(model.layers["utilities"]) == len(lines)  # loaded whole now
    assert first.crs == model.crs  # the exact CRS, as a whole layer has it
    again = model.layers.within("utilities", bounds)  # filtered in memory
    assert sorted(again["utility_id"]) == sorted(meeting["utility_id"])


# -- the Store protocol: each answer checked against pyogrio, sqlite3 and rasterio ------------


def _sqlite(path, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchall()


def test_open_store_gives_a_store_that_describes_the_twin(sample_store, sample_twin):
    store = open_store(sample_store)
    assert isinstance(store, Store)
    stored = dict(_sqlite(sample_twin, "SELECT key, value FROM twin_metadata"))
    assert store.crs == pyproj.CRS.from_wkt(json.loads(stored["crs"]))
    # the metadata without the CRS and the raster files, which the store names itself
    expected = {k: json.loads(v) for k, v in stored.items() if k not in ("crs", "terrain")}
    assert store.metadata() == expected
    with rasterio.open(sample_twin.with_suffix(".dtm.tif")) as given:
        with rasterio.open(store.terrain_path()) as dtm:
            assert (dtm.crs, dtm.transform, dtm.nodata) == (
                given.crs,
                given.transform,
                given.nodata,
            )
            np.testing.assert_array_equal(dtm.read(1), given.read(1))
    assert store.ortho_path() is None  # the sample district is built without an orthophoto

    layers = store.layers()
    listed = {str(n): t for n, t in pyogrio.list_layers(sample_twin) if n != "twin_metadata"}
    assert sorted(layers) == sorted(listed)
    assert list(layers)[:3] == ["buildings", "lod12", "building_surfaces"]  # documented order
    for name, info in layers.items():
        pinfo = pyogrio.read_info(sample_twin, layer=name, force_feature_count=True)
        assert info.count == pinfo["features"], name
        assert sorted(info.columns) == sorted(pinfo["fields"]), name
        kind = None if info.geometry_type is None else info.geometry_type
        kind = kind and kind + (" Z" if info.has_z else "")
        assert kind == listed[name], name
        assert info.kind == ("table" if listed[name] is None else "features")
        if info.kind == "features" and info.count:
            exact = shapely.total_bounds(
                pyogrio.read_dataframe(sample_twin, layer=name).geometry.to_numpy()
            )
            if is_database(sample_store):  # PostGIS measures the extent in double precision
                assert info.bounds == tuple(exact.tolist()), name
                continue
            # the R-tree's float32 rounds outward: at x = 524,949 one float32 step is 1/32 m
            lower, upper = np.asarray(info.bounds[:2]), np.asarray(info.bounds[2:])
            assert (lower <= exact[:2]).all() and (exact[:2] - lower < 1 / 16).all()
            assert (upper >= exact[2:]).all() and (upper - exact[2:] < 1 / 16).all()
    assert layers["buildings"].columns["height"] == "number"
    assert layers["buildings"].columns["footprint_repaired"] == "boolean"
    assert store.aligned("buildings", "lod12")
    assert not store.aligned("buildings", "building_surfaces")


def test_a_store_let_go_leaves_no_connection_open(sample_store):
    """A reader lets a store go (a server's store of a twin since rebuilt, a command's at its
    end): whatever it had open is closed with it, never left to a warning of the driver's."""
    store = open_store(sample_store)
    assert len(store.read_layer("runs")) >= 1
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        del store
        gc.collect()  # the store and its queries refer to each other
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []


def test_a_geopackage_store_keeps_its_files_beside_the_twin(sample_twin):
    store = open_store(sample_twin)
    assert store.location == sample_twin
    assert store.terrain_path() == sample_twin.with_suffix(".dtm.tif")
    assert store.cache_path("mesh-1.2.npz") == sample_twin.with_name("city.mesh-1.2.npz")


def test_read_layer_by_box_ids_columns_and_values(sample_store, sample_twin):
    store = open_store(sample_store)
    whole = pyogrio.read_dataframe(sample_twin, layer="buildings", fid_as_index=True)
    box = (524500.0, 165350.0, 524700.0, 165550.0)
    inside = whole[shapely.intersects(whole.geometry.to_numpy(), shapely.box(*box))]
    got = store.read_layer("buildings", bbox=box)
    assert 0 < len(got) < len(whole)
    assert sorted(got["building_id"]) == sorted(inside["building_id"])
    assert got.crs == store.crs  # the exact CRS, not GDAL's WKT1

    got = store.read_layer("buildings", fids=[7, 3, 999_999, 5], columns=["height"])
    assert list(got.columns) == ["height", "geometry"]  # the missing id is left out
    np.testing.assert_array_equal(got["height"], whole.loc[[7, 3, 5], "height"])

    ids = [*whole["building_id"].iloc[:3], "no'such"]  # a quote is data, not SQL
    surfaces = store.read_layer(
        "building_surfaces", where_in={"building_id": ids}, columns=["building_id"], geometry=False
    )
    every = pyogrio.read_dataframe(sample_twin, layer="building_surfaces", read_geometry=False)
    assert len(surfaces) == every["building_id"].isin(ids).sum() > 0
    assert type(surfaces) is pd.DataFrame

    with pytest.raises(InputError, match="no layer 'roads'"):
        store.read_layer("roads")
    with pytest.raises(InputError, match="no columns"):
        store.read_layer("buildings", columns=["colour"])


def test_pages_select_sort_and_count_as_an_independent_reading_does(sample_store, sample_twin):
    store = open_store(sample_store)
    whole = pyogrio.read_dataframe(sample_twin, layer="buildings", fid_as_index=True)
    box = shapely.box(524500.0, 165350.0, 524700.0, 165550.0)
    high = whole[shapely.intersects(whole.geometry.to_numpy(), box) & (whole["height"] > 10)]
    expected = high.sort_values("height", ascending=False, kind="stable").index.tolist()
    sel = Selection(
        bbox=box,
        filter=parse("height > 10"),
        sortby=[("height", False)],
    )
    page = store.page("buildings", sel, limit=5, offset=2)
    assert page.number_matched == len(expected) > 7
    assert page.ids.tolist() == expected[2:7]

    # no condition: the count of the whole layer; equality and feature ids
    assert store.page("buildings", Selection(), limit=3).number_matched == len(whole)
    use = whole["use"].dropna().iloc[0]
    equal = store.page("buildings", Selection(equals={"use": use}), limit=1000)
    assert equal.ids.tolist() == whole.index[whole["use"] == use].tolist()
    one = store.page("buildings", Selection(fids=[12]), limit=1, count=False)
    assert one.ids.tolist() == [12] and one.number_matched is None

    rows = store.features("buildings", sel, page.ids, names=["building_id", "height"])
    assert rows.ids.tolist() == expected[2:7]
    props = [json.loads(p) for p in rows.properties]
    assert [p["building_id"] for p in props] == whole.loc[expected[2:7], "building_id"].tolist()
    assert shapely.equals(rows.geometries, whole.geometry.loc[expected[2:7]].to_numpy()).all()
    lod = store.features("buildings", Selection(lod="lod12"), page.ids, names=[])
    assert shapely.has_z(lod.geometries).all() and lod.properties == ["{}"] * 5

    with pytest.raises(InputError, match="unknown property 'colour'"):
        store.page("buildings", Selection(filter=parse("colour = 'red'")), limit=1)


def test_the_token_changes_with_the_twin_and_keys_the_mesh_cache(sample_twin, tmp_path):
    path = tmp_path / "city.gpkg"
    shutil.copy(sample_twin, path)
    shutil.copy(sample_twin.with_suffix(".dtm.tif"), tmp_path / "city.dtm.tif")
    store = open_store(path)
    token = store.token()
    assert store.token() == token  # nothing changed

    cache = store.mesh_cache()
    assert cache.load("1.2") is None and not cache.has("1.2")
    built = store.read_model().mesh("1.2")  # built, and kept for this version of the twin
    assert cache.has("1.2")
    np.testing.assert_array_equal(cache.load("1.2").triangles, built.triangles)

    # edited in place (as a desktop GIS saves): a new token; the store reads it anew
    _sqlite_edit(path, "DELETE FROM runs")
    edited = store.token()
    assert edited != token
    assert store.layers()["runs"].count == 0
    assert cache.load("1.2") is None  # the mesh of the older twin is never taken

    # rebuilt (renamed over): a new token again, and the new twin's layers
    model = store.read_model()
    model.layers["buildings"] = model.buildings.iloc[:10]
    store.write_model(model)
    assert store.token() not in (token, edited)
    assert store.layers()["buildings"].count == 10
    assert store.page("buildings", Selection(), limit=100).number_matched == 10


def _sqlite_edit(path, sql: str) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(sql)
        db.commit()


def test_open_store_errors_and_files(tmp_path):
    with pytest.raises(StoreError, match="no such twin"):
        open_store(tmp_path / "missing.gpkg")
    with pytest.raises(StoreError, match="unknown twin store type"):
        open_store(tmp_path / "city.shp")
    assert files(tmp_path / "city.gpkg") == [
        tmp_path / "city.gpkg",
        tmp_path / "city.dtm.tif",
        tmp_path / "city.ortho.tif",
    ]


def test_a_few_columns_of_a_layer_are_read_without_its_geometry(sample_store, sample_twin):
    """What an export asks of the LoD layers: their columns, not their solids; read alone
    from the store, or taken from the loaded layer, with the same values as pyogrio reads."""
    expected = pyogrio.read_dataframe(sample_twin, layer="lod12", read_geometry=False)
    model = twin.open(sample_store)
    alone = layer_columns(model.layers, "lod12", ["building_id", "lod", "no_such_column"])
    assert "lod12" not in model.layers._frames  # read alone: the layer was not loaded
    assert list(alone.columns) == ["building_id", "lod"]
    assert alone["building_id"].tolist() == expected["building_id"].tolist()
    loaded = model.layers["lod12"]  # loaded whole: the columns come from memory
    assert layer_columns(model.layers, "lod12", ["building_id"]).equals(
        pd.DataFrame(loaded[["building_id"]])
    )
    assert layer_columns(model.layers, "no_such_layer", ["building_id"]) is None
