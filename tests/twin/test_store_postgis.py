"""The PostGIS store on a real PostgreSQL server (tests/postgis.py): exact round trips and
copies both ways, PostGIS's own catalogue of the layers, the history of each building,
one-transaction builds that a failure or a kill leaves undone, one build at a time, and clear
errors for the database's faults. Expected values come from the GeoPackage the twin was
copied from (read with pyogrio), from PostGIS's catalogue, or from the models written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from geopandas.testing import assert_geodataframe_equal

from tests.conftest import ROOT, twin_cli
from tests.postgis import PASSWORDED
from tests.twin.test_store import _model
from twin.errors import StoreError
from twin.layers import LAYERS
from twin.model import CityModel
from twin.store import open_store, read, write
from twin.terrain import Terrain


def _sql(url: str, query: str, /) -> list[tuple]:
    """Rows of one query on the database of a twin URL (its schema parameter dropped)."""
    dsn = url.split("?")[0]
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(query)
        return cur.fetchall() if cur.description is not None else []


def _schema(url: str, /) -> str:
    return url.rsplit("schema=", 1)[1]


def _frame(path, layer: str) -> pd.DataFrame:
    return pyogrio.read_dataframe(path, layer=layer, fid_as_index=True)


# -- round trips -------------------------------------------------------------------------------


def test_a_model_round_trips_exactly_as_through_a_geopackage(pg_twin, tmp_path):
    model = _model()  # NaN, None, booleans, a hole, a building without geometry
    write(model, pg_twin)
    write(model, tmp_path / "city.gpkg")
    store = open_store(pg_twin)
    assert store.crs == model.crs  # the exact compound CRS, heights included
    assert store.metadata() == model.metadata
    got, expected = store.read_layer("buildings"), read(tmp_path / "city.gpkg").buildings
    assert_geodataframe_equal(got, expected, check_less_precise=False)
    pd.testing.assert_frame_equal(store.read_layer("runs"), model.layers["runs"])

    # PostGIS's own catalogue: typed geometry columns in the SRID of the CRS's horizontal part
    rows = _sql(
        pg_twin,
        "SELECT f_table_name, type, coord_dimension, srid FROM geometry_columns "
        f"WHERE f_table_schema = '{_schema(pg_twin)}' AND f_table_name NOT LIKE 'twin%'",
    )
    assert rows == [("buildings", "MULTIPOLYGON", 2, 31258)]
    indexes = _sql(
        pg_twin,
        f"SELECT indexdef FROM pg_indexes WHERE schemaname = '{_schema(pg_twin)}' "
        "AND tablename = 'buildings'",
    )
    assert any("USING gist (geom)" in d for d in (r[0] for r in indexes))


def test_a_terrain_larger_than_a_row_is_kept_in_parts(pg_twin, tmp_path, monkeypatch):
    # PostgreSQL refuses a value over 1 GB, as the terrain of a city of 1,000,000 buildings
    # is: the store keeps a raster in parts, here of 50,000 bytes for a 160 kB COG
    monkeypatch.setattr("twin.store.postgis_write.RASTER_PART", 50_000)
    noise = np.random.default_rng(5).uniform(400, 500, (200, 200)).astype("float32")
    plain = tmp_path / "plain.tif"
    profile = {"driver": "GTiff", "dtype": "float32", "count": 1, "width": 200, "height": 200}
    transform = Affine(1.0, 0.0, 524500.0, 0.0, -1.0, 165700.0)  # 1 m cells
    with rasterio.open(plain, "w", **profile, crs="EPSG:31258", transform=transform) as dst:
        dst.write(noise, 1)
    model = _model()
    model.terrain = Terrain.from_raster(plain)
    write(model, pg_twin)
    written = tmp_path / "city.gpkg"
    write(model, written)  # the same COG, as a file beside a GeoPackage
    cog = written.with_suffix(".dtm.tif").read_bytes()
    rows = _sql(
        pg_twin,
        f"SELECT part, length(content) FROM {_schema(pg_twin)}.twin_rasters "
        "WHERE name = 'dtm' ORDER BY part",
    )
    whole, rest = divmod(len(cog), 50_000)
    assert rows == [(i, 50_000) for i in range(whole)] + ([(whole, rest)] if rest else [])
    assert open_store(pg_twin).terrain_path().read_bytes() == cog
    with rasterio.open(open_store(pg_twin).terrain_path()) as src:
        np.testing.assert_array_equal(src.read(1), noise)


def test_a_twin_of_another_layout_is_a_clear_error_and_a_build_replaces_it(pg_twin):
    # a column the store reads renamed: the tables as an older version may have left them
    write(_model(), pg_twin)
    _sql(pg_twin, f"ALTER TABLE {_schema(pg_twin)}.twin_state RENAME COLUMN layer TO name")
    with pytest.raises(StoreError, match=r"not those this version of twin writes.*anew"):
        open_store(pg_twin)
    write(_model(), pg_twin)
    assert len(open_store(pg_twin).read_layer("buildings")) == 3


def test_twin_copy_both_ways_is_lossless(sample_twin, pg_twin, tmp_path):
    there = twin_cli("copy", str(sample_twin), pg_twin)
    assert there.returncode == 0, there.stderr
    back = tmp_path / "back.gpkg"
    again = twin_cli("copy", pg_twin, str(back))
    assert again.returncode == 0, again.stderr
    assert "500 buildings" not in again.stdout and "copied postgresql://" in again.stdout

    listed = [str(n) for n, _ in pyogrio.list_layers(sample_twin)]
    assert [str(n) for n, _ in pyogrio.list_layers(back)] == listed
    for layer in listed:
        if layer == "twin_metadata":  # the store's own record, names its files: below
            continue
        before, after = _frame(sample_twin, layer), _frame(back, layer)
        assert list(after.columns) == list(before.columns), layer
        assert after.index.tolist() == before.index.tolist(), layer  # the feature ids
        if isinstance(before, gpd.GeoDataFrame):
            same = shapely.to_wkb(after.geometry.to_numpy()) == shapely.to_wkb(
                before.geometry.to_numpy()
            )
            assert same.all(), layer  # every coordinate, to the bit
            before, after = (
                pd.DataFrame(before.drop(columns="geometry")),
                pd.DataFrame(after.drop(columns="geometry")),
            )
        pd.testing.assert_frame_equal(after, before, check_dtype=True, obj=layer)
    assert open_store(back).crs == open_store(sample_twin).crs
    assert open_store(back).metadata() == open_store(sample_twin).metadata()
    with (
        rasterio.open(sample_twin.with_suffix(".dtm.tif")) as a,
        rasterio.open(back.with_suffix(".dtm.tif")) as b,
    ):
        assert a.transform == b.transform and a.crs == b.crs
        np.testing.assert_array_equal(a.read(1), b.read(1))


def test_the_store_describes_the_twin_as_postgis_catalogues_it(sample_twin, pg_twin):
    write(read(sample_twin), pg_twin)
    store, schema = open_store(pg_twin), _schema(pg_twin)
    catalogue = {
        name: (kind, dims, srid)
        for name, kind, dims, srid in _sql(
            pg_twin,
            "SELECT f_table_name, type, coord_dimension, srid FROM geometry_columns "
            f"WHERE f_table_schema = '{schema}'",
        )
    }
    gist = {
        table
        for table, definition in _sql(
            pg_twin, f"SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = '{schema}'"
        )
        if "USING gist (geom)" in definition
    }
    layers = store.layers()
    listed = [str(n) for n, _ in pyogrio.list_layers(sample_twin) if n != "twin_metadata"]
    assert list(layers) == listed
    for name, info in layers.items():
        pinfo = pyogrio.read_info(sample_twin, layer=name, force_feature_count=True)
        assert info.count == pinfo["features"], name
        assert sorted(info.columns) == sorted(pinfo["fields"]), name
        if info.geometry_type is None:
            assert name not in catalogue
            continue
        documented = LAYERS[name]  # "MultiPolygon Z": type and heights as the model says
        assert catalogue[name] == (
            documented.split()[0].upper(),
            3 if documented.endswith(" Z") else 2,
            31258,
        ), name
        assert (info.geometry_type, info.has_z) == (documented.split()[0], documented.endswith("Z"))
        assert name in gist, name
        exact = shapely.total_bounds(pyogrio.read_dataframe(sample_twin, layer=name).geometry)
        np.testing.assert_allclose(info.bounds, exact, rtol=0, atol=1e-6)  # exact, not float32
    assert store.aligned("buildings", "lod12") and not store.aligned(
        "buildings", "building_surfaces"
    )


# -- history ---------------------------------------------------------------------------------


def _town(
    heights: dict[str, float], shifted: set[str] = frozenset(), roof: float = 0.0
) -> CityModel:
    """Buildings ``B1``... of the given heights, 10 m squares 20 m apart (``shifted``: 1 m
    east), with an LoD1.2 block each (``roof`` m higher for B1)."""
    crs = "EPSG:31258+5778"
    ids = list(heights)
    feet = [
        shapely.box(x, 0, x + 10, 10)
        for x in (20.0 * i + (1.0 if b in shifted else 0.0) for i, b in enumerate(ids))
    ]
    blocks = []
    for b, foot in zip(ids, feet, strict=True):
        top = heights[b] + (roof if b == "B1" else 0.0)
        x0, y0, x1, y1 = foot.bounds
        blocks.append(
            shapely.MultiPolygon(
                [
                    shapely.Polygon([(x0, y0, 0), (x1, y0, 0), (x1, y1, 0), (x0, y1, 0)]),
                    shapely.Polygon([(x0, y0, top), (x1, y0, top), (x1, y1, top), (x0, y1, top)]),
                ]
            )
        )
    buildings = gpd.GeoDataFrame(
        {"building_id": ids, "height": [heights[b] for b in ids]}, geometry=feet, crs=crs
    )
    lod12 = gpd.GeoDataFrame({"building_id": ids, "lod": "1.2"}, geometry=blocks, crs=crs)
    return CityModel(crs=buildings.crs, layers={"buildings": buildings, "lod12": lod12})


def test_a_building_keeps_its_history_across_builds(pg_twin):
    write(_town({"B1": 10.0, "B2": 12.0, "B3": 8.0}), pg_twin)
    store = open_store(pg_twin)
    first = store.versions().set_index("building_id")["valid_from"]
    assert first.nunique() == 1 and len(first) == 3
    t1 = first["B1"]
    assert store.history().empty

    # B1 unchanged, B2 higher, B3 demolished, B4 new
    write(_town({"B1": 10.0, "B2": 15.0, "B4": 9.0}), pg_twin)
    now = store.versions().set_index("building_id")["valid_from"]
    t2 = now["B2"]
    assert t2 > t1 and now["B1"] == t1 and now["B4"] == t2 and "B3" not in now
    old = store.history()
    assert old["building_id"].tolist() == ["B2", "B3"]
    assert (old["valid_from"] == t1).all() and (old["valid_to"] == t2).all()
    assert [p["height"] for p in old["properties"]] == [12.0, 8.0]  # the old values
    assert shapely.equals(old.geometry.iloc[1], shapely.box(40, 0, 50, 10))  # B3's footprint

    # B2's footprint moves; then B1's LoD1.2 roof alone changes (attributes and footprint not)
    write(_town({"B1": 10.0, "B2": 15.0, "B4": 9.0}, shifted={"B2"}), pg_twin)
    t3 = store.versions().set_index("building_id")["valid_from"]["B2"]
    write(_town({"B1": 10.0, "B2": 15.0, "B4": 9.0}, shifted={"B2"}, roof=2.0), pg_twin)
    versions = store.versions().set_index("building_id")["valid_from"]
    assert versions["B4"] == t2 and versions["B2"] == t3 and versions["B1"] > t3
    history = store.history()
    assert history["building_id"].tolist() == ["B1", "B2", "B2", "B3"]
    b2 = history[history["building_id"] == "B2"]
    assert b2["valid_from"].tolist() == [t1, t2] and b2["valid_to"].tolist() == [t2, t3]
    assert shapely.equals(b2.geometry.iloc[1], shapely.box(20, 0, 30, 10))  # before the move
    # the old LoD1.2 solid of B1 is kept: its roof at 10 m, the new one at 12 m
    roof = _sql(
        pg_twin,
        f"SELECT ST_ZMax(lod12) FROM {_schema(pg_twin)}.twin_building_history "
        "WHERE building_id = 'B1'",
    )
    assert roof == [(10.0,)]


# -- transactions, kills and locks -------------------------------------------------------------

_SLOW_WRITE = textwrap.dedent(
    """
    import sys
    import geopandas as gpd, numpy as np, shapely
    from twin.model import CityModel
    from twin.store import write

    n = 600_000  # enough rows that the write takes seconds
    x = np.arange(n, dtype=float)
    trees = gpd.GeoDataFrame(
        {"tree_id": [f"T{i}" for i in range(n)], "height": x % 30},
        geometry=shapely.points(x % 1000, x // 1000),
        crs="EPSG:31258+5778",
    )
    write(CityModel(crs=trees.crs, layers={"trees": trees}), sys.argv[1])
    print("written")
    """
)


def _slow_writer(url: str) -> subprocess.Popen:
    """A process writing a 600,000-tree twin to ``url`` (its connection named
    ``twin-slow-write``, as libpq's ``application_name`` lets a client name itself)."""
    named = f"{url}&application_name=twin-slow-write"
    return subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITE, named],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _holding_the_lock(url: str) -> bool:
    """Whether the slow writer's connection holds an advisory lock (its build has begun)."""
    return bool(
        _sql(
            url,
            "SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted "
            "AND a.application_name = 'twin-slow-write'",
        )
    )


def _wait(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_failed_build_leaves_the_previous_twin(pg_twin):
    write(_town({"B1": 10.0, "B2": 12.0}), pg_twin)
    store = open_store(pg_twin)
    token, layers = store.token(), store.layers()
    wrong = _town({"B1": 10.0})
    wrong.layers["buildings"] = wrong.buildings.set_geometry(shapely.points([[5.0, 5.0]]))
    with pytest.raises(StoreError, match=r"cannot write the twin.*Point"):
        write(wrong, pg_twin)  # a point in the layer of footprints: PostGIS refuses it
    assert store.token() == token and store.layers() == layers
    assert store.read_layer("buildings")["building_id"].tolist() == ["B1", "B2"]
    assert _sql(pg_twin, "SELECT nspname FROM pg_namespace WHERE nspname LIKE '%\\_\\_build'") == []


def test_a_killed_build_leaves_the_previous_twin(pg_twin):
    write(_town({"B1": 10.0, "B2": 12.0}), pg_twin)
    store = open_store(pg_twin)
    token = store.token()
    with _slow_writer(pg_twin) as writer:  # the pipes closed and the process reaped
        try:
            _wait(lambda: _holding_the_lock(pg_twin) or writer.poll() is not None, "the build")
            assert writer.poll() is None, writer.stderr.read()
            time.sleep(0.5)  # well into the transaction: tables being made and filled
        finally:
            writer.send_signal(signal.SIGKILL)
    # the server notices the closed connection and rolls its transaction back
    _wait(lambda: not _holding_the_lock(pg_twin), "the rollback", timeout=60)
    assert store.token() == token
    assert list(store.layers()) == ["buildings", "lod12"]
    assert store.read_layer("buildings")["building_id"].tolist() == ["B1", "B2"]
    assert _sql(pg_twin, "SELECT nspname FROM pg_namespace WHERE nspname LIKE '%\\_\\_build'") == []
    write(_town({"B9": 3.0}), pg_twin)  # the lock is free again
    assert store.read_layer("buildings")["building_id"].tolist() == ["B9"]


def test_a_second_build_at_once_is_refused_and_nothing_interleaves(pg_twin):
    write(_town({"B1": 10.0}), pg_twin)
    with _slow_writer(pg_twin) as writer:
        try:
            _wait(lambda: _holding_the_lock(pg_twin) or writer.poll() is not None, "the build")
            with pytest.raises(StoreError, match="another build is writing this twin"):
                write(_town({"B2": 12.0}), pg_twin)
            _, err = writer.communicate(timeout=600)
        finally:
            if writer.poll() is None:
                writer.kill()
    assert writer.returncode == 0, err
    store = open_store(pg_twin)
    assert list(store.layers()) == ["trees"]  # the first build's twin, whole
    assert store.layers()["trees"].count == 600_000


# -- the change token ------------------------------------------------------------------------


def test_the_token_follows_edits_in_place_and_builds(sample_twin, pg_twin):
    write(read(sample_twin), pg_twin)
    store = open_store(pg_twin)
    token = store.token()
    assert store.token() == token
    cache = store.mesh_cache()
    built = store.read_model().mesh("1.2")
    np.testing.assert_array_equal(cache.load("1.2").triangles, built.triangles)

    runs = store.layers()["runs"].count
    _sql(pg_twin, f"DELETE FROM {_schema(pg_twin)}.runs")  # as a desktop GIS edits in place
    edited = store.token()
    assert edited != token and store.layers()["runs"].count == 0 < runs
    assert cache.load("1.2") is None  # the mesh of the older twin is never taken
    schema = _schema(pg_twin)
    assert _sql(pg_twin, f"SELECT layer FROM {schema}.twin_state WHERE edits > 0") == [("runs",)]

    # the easternmost building deleted in place: the layer's count and extent measured anew
    frame = pyogrio.read_dataframe(sample_twin, layer="buildings", fid_as_index=True)
    east = int(frame.geometry.bounds["maxx"].idxmax())
    _sql(pg_twin, f"DELETE FROM {schema}.buildings WHERE fid = {east}")
    rest = frame.drop(index=east)
    info = store.layers()["buildings"]
    assert info.count == len(rest)
    np.testing.assert_allclose(info.bounds, shapely.total_bounds(rest.geometry), atol=1e-6)
    assert store.token() != edited

    model = store.read_model()
    model.layers["buildings"] = model.buildings.iloc[:10]
    store.write_model(model)
    assert store.token() not in (token, edited)
    assert store.layers()["buildings"].count == 10


# -- commands and faults ---------------------------------------------------------------------


def test_twin_build_and_info_on_postgis(sample_sources, sample_twin, pg_twin):
    done = twin_cli("build", str(sample_sources), "-o", pg_twin, "--quiet")
    assert done.returncode == 0, done.stderr
    assert "password" not in done.stdout
    info = twin_cli("info", pg_twin, "--json")
    assert info.returncode == 0, info.stderr
    described = json.loads(info.stdout)
    expected = {
        str(name): pyogrio.read_info(sample_twin, layer=str(name), force_feature_count=True)[
            "features"
        ]
        for name, _ in pyogrio.list_layers(sample_twin)
        if name != "twin_metadata"
    }
    assert {layer["name"]: layer["features"] for layer in described["layers"]} == expected
    assert len(described["runs"]) == 1 and described["terrain"] is not None
    built = open_store(pg_twin).read_layer("buildings")
    reference = pyogrio.read_dataframe(sample_twin, layer="buildings")
    assert built["building_id"].tolist() == reference["building_id"].tolist()
    np.testing.assert_array_equal(built["height"], reference["height"])

    again = twin_cli("build", str(sample_sources), "-o", pg_twin, "--quiet")
    assert again.returncode == 0, again.stderr
    store = open_store(pg_twin)
    assert len(store.read_layer("runs")) == 2  # the run history carried over
    assert store.history().empty  # the same sources: no building changed
    assert store.versions()["valid_from"].nunique() == 1


def test_the_database_s_faults_are_clear_errors(postgis, postgis_db, pg_twin):
    port = postgis.port
    with pytest.raises(StoreError, match="cannot connect"):
        open_store(f"postgresql://twin@127.0.0.1:1/{postgis_db}?schema=a")  # nothing listens
    with pytest.raises(StoreError, match='role "nobody" does not exist'):
        open_store(f"postgresql://nobody@127.0.0.1:{port}/{postgis_db}?schema=a")
    with pytest.raises(StoreError, match="no twin in schema"):
        open_store(pg_twin)
    with pytest.raises(StoreError, match="not a plain lower-case name"):
        open_store(f"postgresql://twin@127.0.0.1:{port}/{postgis_db}?schema=Drop;x")
    shown = f"postgresql://twin@127.0.0.1:{port}/{postgis_db}?schema=a"
    with pytest.raises(StoreError) as caught:
        open_store(f"postgresql://twin:secret@127.0.0.1:{port}/{postgis_db}?schema=a")
    assert "secret" not in str(caught.value) and shown in str(caught.value)
    # wrong credentials: a login that must give its password gives a wrong one
    postgis.execute(postgis_db, f"CREATE ROLE {PASSWORDED} NOLOGIN")
    postgis.execute(postgis_db, f"CREATE ROLE keeper LOGIN PASSWORD 'right' IN ROLE {PASSWORDED}")
    wrong = f"postgresql://keeper:wrong@127.0.0.1:{port}/{postgis_db}?schema=a"
    with pytest.raises(
        StoreError, match='password authentication failed for user "keeper"'
    ) as caught:
        open_store(wrong)
    assert ":wrong@" not in str(caught.value)
    refused = twin_cli("info", wrong)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "password authentication failed" in refused.stderr and ":wrong@" not in refused.stderr

    # a database without PostGIS, and a login that may not add it
    bare = postgis.database(postgis=False)
    postgis.execute(bare, "CREATE ROLE clerk LOGIN")
    postgis.execute(bare, f'GRANT CREATE ON DATABASE "{bare}" TO clerk')
    with pytest.raises(StoreError, match=r"no PostGIS.*CREATE EXTENSION postgis"):
        write(_town({"B1": 1.0}), postgis.url(bare, user="clerk", schema="town"))

    # a schema holding other data is never replaced
    schema = _schema(pg_twin)
    _sql(pg_twin, f"CREATE SCHEMA {schema}")
    _sql(pg_twin, f"CREATE TABLE {schema}.ledger (entry text)")
    _sql(pg_twin, f"INSERT INTO {schema}.ledger VALUES ('keep me')")
    with pytest.raises(StoreError, match="holds tables that are not a twin \\(ledger\\)"):
        write(_town({"B1": 1.0}), pg_twin)
    assert _sql(pg_twin, f"SELECT entry FROM {schema}.ledger") == [("keep me",)]
    refused = twin_cli("copy", str(ROOT / "no-such.gpkg"), pg_twin)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr


def test_a_page_counts_its_matches_in_the_same_query_and_past_the_last_page(sample_twin, pg_twin):
    from twin.api.cql import parse
    from twin.store.base import Selection

    write(read(sample_twin), pg_twin)
    store = open_store(pg_twin)
    frame = pyogrio.read_dataframe(sample_twin, layer="buildings")
    high = int((frame["height"] > 10).sum())  # pandas' count of the same filter
    sel = Selection(filter=parse("height > 10"))
    assert 5 < high < len(frame)
    assert store.page("buildings", sel, limit=5).number_matched == high
    beyond = store.page("buildings", sel, limit=5, offset=high + 10)
    assert beyond.ids.tolist() == [] and beyond.number_matched == high
    nothing = store.page("buildings", Selection(filter=parse("height > 1000")), limit=5)
    assert nothing.ids.tolist() == [] and nothing.number_matched == 0
