"""Feature texts written once per twin version and shared by the workers
(:mod:`twin.api.feature_texts`), and pages of a layer read as a range of fids; on a copy of the
sample twin in each store, checked against the GeoPackage read by pyogrio."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely

import twin.store
from tests.twin.test_api_cache import _execute, copy_of
from twin.api.collections import DEFAULT_COLLECTIONS
from twin.api.config import ApiConfig
from twin.api.feature_texts import RECHECK_S, FeatureTexts, SharedTexts, write
from twin.api.security import Principal
from twin.api.service import FeatureService
from twin.errors import StoreError
from twin.store import open_store
from twin.store.base import Selection

STORAGE = "http://www.opengis.net/def/crs/EPSG/0/31258"
ANYONE = Principal(None, "anonymous", frozenset(), None, 10**6)


def _wait_for(files, timeout: float = 60.0) -> list[Path]:
    """The files ``files()`` lists, once there are some (then past the next look)."""
    deadline = time.monotonic() + timeout
    while not (found := list(files())):
        assert time.monotonic() < deadline, "no feature texts written"
        time.sleep(0.05)
    time.sleep(RECHECK_S)
    return found


def test_a_file_of_texts_gives_each_id_its_text(tmp_path):
    path = tmp_path / "texts.bin"
    # ids 1..3 (dense: looked up by place) in two chunks
    write(path, "v1", iter([(np.array([1, 2]), [b"a", b"bb"]), (np.array([3]), [b"ccc"])]))
    texts = FeatureTexts(path, "v1")
    assert texts.get([3, 1, 0, 4, 2]) == [b"ccc", b"a", None, None, b"bb"]
    assert texts.get([]) == []
    # sparse ids (a layer with deletions): looked up by search
    write(path, "v2", iter([(np.array([4, 10, 11]), [b'{"x":4}', b"", b"k"])]))
    texts = FeatureTexts(path, "v2")
    assert texts.get([11, 5, 4, 10, 12]) == [b"k", None, b'{"x":4}', b"", None]
    with pytest.raises(ValueError, match="another twin version"):
        FeatureTexts(path, "v1")
    (tmp_path / "junk.bin").write_bytes(b"not a file of texts")
    with pytest.raises(ValueError, match="not a file of feature texts"):
        FeatureTexts(tmp_path / "junk.bin", "v1")
    # ids out of order: refused, and the file before is left as it was
    with pytest.raises(ValueError, match="not ascending"):
        write(path, "v3", iter([(np.array([2, 1]), [b"b", b"a"])]))
    assert FeatureTexts(path, "v2").get([4]) == [b'{"x":4}']
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.bin", "texts.bin"]


def test_shared_texts_are_written_once_per_twin_version(tmp_path):
    root = tmp_path / "city.geojson-cache"
    shared = SharedTexts(root)
    shared.reset("token1")
    calls = []

    def chunks():
        calls.append(1)
        yield np.array([1, 2, 3]), [b"a", b"bb", b"ccc"]

    assert shared.get("buildings", b'["k"]', chunks) is None  # written meanwhile
    _wait_for(lambda: (root / "token1").glob("buildings.*.bin"))
    texts = shared.get("buildings", b'["k"]', chunks)
    assert texts is not None and texts.get([3, 1]) == [b"ccc", b"a"]
    # another worker process finds the file and writes nothing
    other = SharedTexts(root)
    other.reset("token1")
    assert other.get("buildings", b'["k"]', chunks).get([2]) == [b"bb"]
    assert len(calls) == 1
    # the twin changed: the texts of the version before are neither served nor kept
    shared.reset("token2")
    assert shared.get("buildings", b'["k"]', chunks) is None
    _wait_for(lambda: (root / "token2").glob("buildings.*.bin"))
    assert [p.name for p in root.iterdir() if p.is_dir()] == ["token2"]
    assert len(calls) == 2

    def failing():
        yield np.array([1]), [b"a"]
        raise StoreError("the twin changed while its features were written")

    shared.reset("token3")
    assert shared.get("buildings", b'["k"]', failing) is None
    time.sleep(RECHECK_S + 0.5)
    # no file, and no second attempt for this twin version
    assert shared.get("buildings", b'["k"]', failing) is None
    assert not list((root / "token3").glob("*.bin"))


@pytest.fixture(params=["gpkg", "postgis"])
def twin_copy(request, sample_twin, tmp_path):
    """A copy of the sample twin in each store (its feature texts in a cache of its own)."""
    return copy_of(request, sample_twin, tmp_path / "twin")


def _body(service: FeatureService, params: dict, who: Principal = ANYONE) -> dict:
    spec = service.spec("buildings", who)
    return json.loads(service.items(spec, params, who, "http://x/items").body)


def test_pages_from_the_shared_texts_are_the_features_of_the_store(twin_copy, sample_twin):
    store = open_store(twin_copy)
    service = FeatureService(store, ApiConfig(feature_cache_bytes=0), DEFAULT_COLLECTIONS)
    frame = pyogrio.read_dataframe(sample_twin, layer="buildings", fid_as_index=True)
    x0, y0, x1, y1 = frame.total_bounds
    # a box over the middle third of the district, asked in the storage CRS (northing first)
    box = (x0 + (x1 - x0) / 3, y0 + (y1 - y0) / 3, x1 - (x1 - x0) / 3, y1 - (y1 - y0) / 3)
    params = {
        "bbox": ",".join(str(box[i]) for i in (1, 0, 3, 2)),
        "bbox-crs": STORAGE,
        "crs": STORAGE,
        "limit": "500",
    }
    before = _body(service, params)  # written per request while the texts are written
    root = store.cache_path("geojson-cache")
    _wait_for(lambda: root.glob("*/buildings.*.bin"))
    after = _body(service, params)
    assert after["features"] == before["features"]
    # what geopandas finds in the box, with the GeoPackage's values
    inside = frame[shapely.intersects(frame.geometry.values, shapely.box(*box))]
    assert 0 < len(inside) < len(frame)
    assert [f["id"] for f in after["features"]] == sorted(inside.index)
    for feature in after["features"]:
        row = inside.loc[feature["id"]]
        assert feature["properties"]["building_id"] == row["building_id"]
        assert feature["properties"]["height"] == pytest.approx(row["height"])
        # coordinates rounded to 3 decimals (mm) in the storage CRS, northing first (as
        # EPSG:31258 orders its axes; the GeoPackage keeps easting first)
        served = shapely.transform(
            shapely.geometry.shape(feature["geometry"]), lambda c: c[:, ::-1]
        )
        # each of x and y within 0.5 mm: a vertex within 0.5 * sqrt(2) = 0.71 mm of its place
        assert shapely.equals_exact(served, row.geometry, tolerance=0.0005 * 2**0.5)
    # CRS84: its own file, the same features, about where pyproj puts them
    crs84 = {"bbox": params["bbox"], "bbox-crs": STORAGE, "limit": "500"}
    live = _body(service, crs84)
    _wait_for(lambda: list(root.glob("*/buildings.*.bin"))[1:])  # the second file
    stored = _body(service, crs84)
    assert stored["features"] == live["features"]
    assert [f["id"] for f in stored["features"]] == sorted(inside.index)
    lonlat = shapely.geometry.shape(stored["features"][0]["geometry"])
    assert 14.2 < lonlat.centroid.x < 14.4 and 46.5 < lonlat.centroid.y < 46.7


def test_a_caller_with_a_service_area_gets_no_stored_text_outside_it(twin_copy, sample_twin):
    store = open_store(twin_copy)
    service = FeatureService(store, ApiConfig(), DEFAULT_COLLECTIONS)
    frame = pyogrio.read_dataframe(sample_twin, layer="buildings", fid_as_index=True)
    x0, y0, x1, y1 = frame.total_bounds
    everything = {"bbox-crs": STORAGE, "crs": STORAGE, "limit": "500"}
    everything["bbox"] = f"{y0 - 1},{x0 - 1},{y1 + 1},{x1 + 1}"
    assert len(_body(service, everything)["features"]) == len(frame) == 200
    _wait_for(lambda: store.cache_path("geojson-cache").glob("*/buildings.*.bin"))
    # the western half of the district as the caller's area
    area = shapely.box(x0, y0, (x0 + x1) / 2, y1)
    planner = Principal("key:west", "west", frozenset(), area, 10**6)
    served = _body(service, everything, planner)
    expected = frame.index[shapely.intersects(frame.geometry.values, area)]
    assert 0 < len(expected) < 200
    assert [f["id"] for f in served["features"]] == sorted(expected)
    assert served["numberMatched"] == len(expected)
    # a page without bbox too (the area as the store's own condition)
    paged = _body(service, {"crs": STORAGE, "limit": "500"}, planner)
    assert [f["id"] for f in paged["features"]] == sorted(expected)


def test_an_edited_twin_is_never_served_from_the_texts_of_before(twin_copy):
    store = open_store(twin_copy)
    service = FeatureService(store, ApiConfig(), DEFAULT_COLLECTIONS)
    one = {"crs": STORAGE, "limit": "1", "offset": "6"}
    assert _body(service, one)["features"][0]["id"] == 7
    _wait_for(lambda: store.cache_path("geojson-cache").glob("*/buildings.*.bin"))
    assert _body(service, one)["features"][0]["properties"]["use"] != "edited"
    _execute(twin_copy, "UPDATE buildings SET use = 'edited' WHERE fid = 7")
    # at once (written per request while the new version's texts are written), then from them
    assert _body(service, one)["features"][0]["properties"]["use"] == "edited"
    _wait_for(lambda: store.cache_path("geojson-cache").glob(f"{store.token()}/buildings.*"))
    assert _body(service, one)["features"][0]["properties"]["use"] == "edited"


def test_pages_without_filter_are_ranges_of_fids_while_the_fids_are_dense(twin_copy):
    store = open_store(twin_copy)
    # 200 buildings, fids 1..200: the last page holds 196..200
    page = store.page("buildings", Selection(), limit=10, offset=195)
    assert page.ids.tolist() == [196, 197, 198, 199, 200] and page.number_matched == 200
    assert store.page("buildings", Selection(), limit=10, offset=200).ids.tolist() == []
    _execute(twin_copy, "DELETE FROM buildings WHERE fid = 50")
    # fids 1..49, 51..200 (199): offset 45 starts at the 46th, and skips the gap
    page = store.page("buildings", Selection(), limit=10, offset=45)
    assert page.ids.tolist() == [46, 47, 48, 49, 51, 52, 53, 54, 55, 56]
    assert page.number_matched == 199


def _current_texts(store) -> list[Path]:
    """The files of shared texts of the twin's current version (only CRS84's where a test
    asks for nothing else)."""
    return sorted(store.cache_path("geojson-cache").glob(f"{store.token()}/buildings.*.bin"))


def test_the_crs84_texts_follow_an_edited_twin(twin_copy, sample_twin):
    store = open_store(twin_copy)
    service = FeatureService(store, ApiConfig(feature_cache_bytes=0), DEFAULT_COLLECTIONS)
    one = {"limit": "1", "offset": "6"}  # CRS84, the default output CRS
    assert _body(service, one)["features"][0]["properties"]["use"] != "edited"
    _wait_for(lambda: _current_texts(store))
    stored = _body(service, one)["features"][0]
    # from the texts: the store's geometry as pyproj puts it in CRS84, to 7 decimals
    frame = pyogrio.read_dataframe(sample_twin, layer="buildings", fid_as_index=True)
    expected = frame.to_crs("OGC:CRS84").geometry.loc[7]
    served = shapely.geometry.shape(stored["geometry"])
    # each of lon and lat within half a unit of the 7th decimal
    assert shapely.equals_exact(served, expected, tolerance=0.5e-7 * 2**0.5 + 1e-12)
    _execute(twin_copy, "UPDATE buildings SET use = 'edited' WHERE fid = 7")
    # at once (written per request while the new version's texts are written), then from them
    assert _body(service, one)["features"][0]["properties"]["use"] == "edited"
    new = _wait_for(lambda: _current_texts(store))
    assert all(store.token() in str(path) for path in new)
    edited = _body(service, one)["features"][0]
    assert edited["properties"]["use"] == "edited"
    assert edited["geometry"] == stored["geometry"]
    # the version before is gone from the cache
    folders = [p.name for p in store.cache_path("geojson-cache").iterdir() if p.is_dir()]
    assert folders == [store.token()]


def test_a_caller_with_a_service_area_gets_no_crs84_text_outside_it(twin_copy, sample_twin):
    store = open_store(twin_copy)
    service = FeatureService(store, ApiConfig(), DEFAULT_COLLECTIONS)
    frame = pyogrio.read_dataframe(sample_twin, layer="buildings", fid_as_index=True)
    lonlat = frame.to_crs("OGC:CRS84")
    w, s, e, n = lonlat.total_bounds
    # in CRS84 both ways (the default bbox-crs and crs): the whole district and some margin
    everything = {"bbox": f"{w - 0.001},{s - 0.001},{e + 0.001},{n + 0.001}", "limit": "500"}
    assert len(_body(service, everything)["features"]) == len(frame) == 200
    _wait_for(lambda: _current_texts(store))
    # the western half of the district (in the storage CRS) as the caller's area
    x0, y0, x1, y1 = frame.total_bounds
    area = shapely.box(x0, y0, (x0 + x1) / 2, y1)
    planner = Principal("key:west", "west", frozenset(), area, 10**6)
    expected = frame.index[shapely.intersects(frame.geometry.values, area)]
    assert 0 < len(expected) < 200
    for params in (everything, {"limit": "500"}):  # with a bbox, and without
        served = _body(service, params, planner)
        assert [f["id"] for f in served["features"]] == sorted(expected)
        assert served["numberMatched"] == len(expected)
        # and they are the CRS84 texts: in Klagenfurt's longitudes
        first = shapely.geometry.shape(served["features"][0]["geometry"])
        assert 14.2 < first.centroid.x < 14.4


def test_a_database_twin_edited_again_and_again_keeps_its_connections_few(postgis, sample_twin):
    """Each version of a twin gets its feature texts from a writer thread of its own: the
    connection such a thread opened closes when the thread ends, so a served twin edited in
    place again and again never uses up the database's connections (100 by default)."""
    database = postgis.database()  # of its own: no other store's connections counted
    location = postgis.url(database, schema="edited")
    twin.store.write(twin.store.read(sample_twin), location)
    store = open_store(location)
    service = FeatureService(store, ApiConfig(), DEFAULT_COLLECTIONS)

    def connections() -> int:
        """The twin's connections to the database (not this query's own)."""
        return postgis.execute(
            database,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
        )[0][0]

    for version in range(5):
        _execute(location, f"UPDATE buildings SET storeys = {version} WHERE fid = 1")
        assert _body(service, {"limit": "1"})["features"][0]["properties"]["storeys"] == version
        _wait_for(lambda: _current_texts(store))  # written by a thread of this version
    deadline = time.monotonic() + 30
    while connections() > 1 and time.monotonic() < deadline:  # the writers' threads end
        time.sleep(0.1)
    assert connections() == 1  # this thread's: five writers came and went
    store.close()
    assert connections() == 0
