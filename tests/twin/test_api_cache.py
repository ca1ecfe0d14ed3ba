"""Written features kept per worker (:class:`twin.api.geojson.FeatureCache`): its bound, and
a twin rebuilt or edited while a real ``twin serve`` serves it, in each store (a GeoPackage
renamed over or edited by SQLite; a PostGIS schema replaced or edited by SQL)."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import shutil
import sqlite3
from pathlib import Path

import httpx
import psycopg
import pytest
import shapely

import twin
from tests.servers import serving
from twin.api.geojson import ENTRY_BYTES, FeatureCache
from twin.store import Location, is_database, read, write
from twin.store.postgis import Database

TIME = re.compile(rb'"timeStamp":"[^"]*"')


def test_the_cache_keeps_the_recently_used_within_its_bound():
    assert ENTRY_BYTES == 400
    texts = [bytes([65 + i]) * 100 for i in range(4)]
    # each feature costs its 100 bytes of text + 400: three are 1,500 bytes, four 2,000
    cache = FeatureCache(1600)
    cache.put("buildings", [1, 2, 3], texts[:3])
    assert cache.size == 1500
    assert cache.get("buildings", [1]) == [texts[0]]  # 1 is now the most recently used
    cache.put("buildings", [4], texts[3:])  # 2,000 > 1,600: 2, the least recently used, goes
    assert cache.get("buildings", [1, 2, 3, 4]) == [texts[0], None, texts[2], texts[3]]
    assert cache.size == 1500
    assert cache.get("parcels", [1]) == [None]  # another kind of feature is another entry
    cache.put("buildings", [4], [b"x" * 50])  # replaced, not counted twice: 1,500 - 100 + 50
    assert cache.size == 1450 and cache.get("buildings", [4]) == [b"x" * 50]
    cache.clear()
    assert cache.size == 0 and cache.get("buildings", [1, 3]) == [None, None]

    off = FeatureCache(0)  # feature_cache_mb = 0 keeps nothing
    off.put("buildings", [1], texts[:1])
    assert off.size == 0 and off.get("buildings", [1]) == [None]


def copy_of(request: pytest.FixtureRequest, sample_twin: Path, folder: Path) -> Location:
    """A copy of the sample twin that a test may edit or rebuild, in the store
    ``request.param`` names: the GeoPackage's folder (without the derived caches of whoever
    served it) as ``folder``, or a schema of its own in PostGIS (``twin copy``'s way)."""
    if request.param == "postgis":
        return write(read(sample_twin), request.getfixturevalue("pg_twin"))
    shutil.copytree(sample_twin.parent, folder, ignore=shutil.ignore_patterns("*-cache"))
    return folder / sample_twin.name


@pytest.fixture(params=["gpkg", "postgis"])
def twin_copy(request, sample_twin, tmp_path) -> Location:
    """A copy of the sample twin in each store, for one test to edit or rebuild."""
    return copy_of(request, sample_twin, tmp_path / "twin")


def _geometry(blob: bytes) -> shapely.Geometry:
    """A GeoPackage geometry blob's geometry: WKB after the header (8 bytes and the envelope
    its flags name, GeoPackage 1.3 table 2.1.3.1)."""
    envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[(blob[3] >> 1) & 7]
    return shapely.from_wkb(blob[8 + envelope :])


def _execute(where: Location, sql: str) -> None:
    """One statement on the twin at ``where``, committed, as a desktop GIS saves an edit: on a
    GeoPackage with the SQL functions GDAL gives its R-tree triggers; in PostGIS on the
    schema's tables (whose statement triggers count the edit)."""
    if is_database(where):
        database = Database.parse(where)
        path = f"-c search_path={database.schema},public"
        with psycopg.connect(database.dsn, autocommit=True, options=path) as conn:
            conn.execute(sql)
        return
    with contextlib.closing(sqlite3.connect(where)) as db:
        db.create_function("ST_IsEmpty", 1, lambda g: int(_geometry(g).is_empty))
        for i, name in enumerate(("ST_MinX", "ST_MinY", "ST_MaxX", "ST_MaxY")):
            db.create_function(name, 1, lambda g, i=i: _geometry(g).bounds[i])
        db.execute(sql)
        db.commit()


def test_a_twin_rebuilt_or_edited_while_served_is_served_anew(twin_copy, tmp_path):
    with (
        serving(twin_copy, tmp_path) as url,
        httpx.Client(base_url=url, timeout=60) as http,
    ):
        page = http.get("/collections/buildings/items?limit=5")
        again = http.get("/collections/buildings/items?limit=5")  # from the cache
        assert TIME.sub(b"", again.content) == TIME.sub(b"", page.content)
        assert page.json()["numberMatched"] == 200  # the sample district's buildings
        first = http.get("/collections/buildings/items/1").json()["properties"]

        # rebuilt: twin.store writes a new file and renames it over the served one (a new
        # schema swapped for the served one)
        model = twin.open(twin_copy)
        model.buildings["height"] += 100
        write(model, twin_copy)
        rebuilt_height = http.get("/collections/buildings/items/1").json()["properties"]
        assert rebuilt_height["height"] == pytest.approx(first["height"] + 100, abs=1e-9)
        assert http.get("/collections/buildings/items?limit=5").json()["features"][0]["properties"][
            "height"
        ] == pytest.approx(first["height"] + 100, abs=1e-9)

        # edited in place: the feature changes, a deleted one is gone and no longer counted
        _execute(twin_copy, "UPDATE buildings SET storeys = 42 WHERE fid = 1")
        _execute(twin_copy, "DELETE FROM buildings WHERE fid = 2")
        assert http.get("/collections/buildings/items/1").json()["properties"]["storeys"] == 42
        assert http.get("/collections/buildings/items/2").status_code == 404
        edited = http.get("/collections/buildings/items?limit=5").json()
        assert edited["numberMatched"] == 199
        assert [f["id"] for f in edited["features"]] == [1, 3, 4, 5, 6]


def _tile_names(http: httpx.Client) -> list[str]:
    """The building ids in the served 3D Tiles of the buildings (every tile's GLB read)."""
    tileset = http.get("/collections/buildings/3dtiles/tileset.json").json()
    names, stack = [], [tileset["root"]]
    while stack:
        tile = stack.pop()
        stack += tile.get("children", [])
        if "content" in tile:
            glb = http.get(f"/collections/buildings/3dtiles/{tile['content']['uri']}").content
            document, blob = _glb(glb)
            table = document["extensions"]["EXT_structural_metadata"]["propertyTables"][0]
            names += _strings(document, blob, table["properties"]["building_id"])
    return names


def _glb(data: bytes) -> tuple[dict, bytes]:
    """The JSON and binary chunks of a GLB (glTF 2.0 §4.4: a 12-byte header, then chunks of
    length, type and data)."""
    length = int.from_bytes(data[12:16], "little")
    document = json.loads(data[20 : 20 + length])
    start = 20 + length
    blob_length = int.from_bytes(data[start : start + 4], "little")
    return document, data[start + 8 : start + 8 + blob_length]


def _strings(document: dict, blob: bytes, prop: dict) -> list[str]:
    """A STRING property of EXT_structural_metadata: UTF-8 bytes cut at the uint32 offsets of
    its string offset buffer view (the extension's default offset type)."""

    def view(index: int) -> bytes:
        v = document["bufferViews"][index]
        return blob[v.get("byteOffset", 0) : v.get("byteOffset", 0) + v["byteLength"]]

    text, offsets = view(prop["values"]), view(prop["stringOffsets"])
    cut = [int.from_bytes(offsets[i : i + 4], "little") for i in range(0, len(offsets), 4)]
    return [text[a:b].decode() for a, b in itertools.pairwise(cut)]


def test_a_rebuilt_twin_is_served_anew_by_features_and_tiles_alike(twin_copy, tmp_path):
    """A rebuild with half the buildings under a running ``twin serve``: without a restart,
    ``/items`` counts and lists the new buildings, and the 3D Tiles hold the same ones."""
    with (
        serving(twin_copy, tmp_path) as url,
        httpx.Client(base_url=url, timeout=120) as http,
    ):
        assert http.get("/collections/buildings/items?limit=1").json()["numberMatched"] == 200
        assert len(_tile_names(http)) == 200

        model = twin.open(twin_copy)
        kept = set(model.buildings["building_id"].iloc[::2])  # every second: 100 of 200
        for name in ("buildings", "lod12", "building_surfaces"):
            frame = model.layers[name]
            model.layers[name] = frame[frame["building_id"].isin(kept)].reset_index(drop=True)
        write(model, twin_copy)  # renamed over the served file (the schema replaced)

        page = http.get("/collections/buildings/items?limit=1000").json()
        assert page["numberMatched"] == 100 == len(kept)
        served = sorted(f["properties"]["building_id"] for f in page["features"])
        assert served == sorted(kept)
        assert sorted(_tile_names(http)) == served
