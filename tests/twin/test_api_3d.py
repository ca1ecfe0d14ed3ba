"""3D outputs of the planner API: CityJSON items (official 2.0 schemas) and the buildings'
3D Tiles 1.1 tileset (official schemas, Khronos validator), its cache, ETags and access; from
a copy of the sample twin in each store, checked against the GeoPackage."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
import shapely

import twin
from tests.conftest import DATA
from tests.formats_checks import schema_errors
from tests.servers import serving
from tests.twin.test_api_cache import _execute
from tests.twin.test_formats_tiles3d import check_glb, check_tileset
from twin.api.config import hash_key
from twin.formats import cityjson
from twin.store import Location, open_store, read, write

KEY = "area-key-0123456789"
AREA = (524500.0, 165350.0, 524700.0, 165550.0)


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def twin_copy(request, sample_twin, tmp_path_factory) -> Location:
    """A copy of the sample twin in each store, whose tileset cache the tests may change: the
    GeoPackage's folder (the cache is written beside the twin), or a schema of its own in
    PostGIS (the cache in the local cache folder)."""
    if request.param == "postgis":
        cluster = request.getfixturevalue("postgis")
        location = cluster.url(request.getfixturevalue("postgis_db"), schema="api3d")
        return write(read(sample_twin), location)
    folder = tmp_path_factory.mktemp("api3d") / "twin"
    shutil.copytree(sample_twin.parent, folder)
    return folder / sample_twin.name


def _touch(where: Location) -> None:
    """Change the twin at ``where`` without changing a value: a new modification time of the
    GeoPackage, an edit of a PostGIS schema's table that writes what was there (counted by
    the table's triggers all the same)."""
    if isinstance(where, Path):
        stat = where.stat()
        os.utime(where, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    else:
        _execute(where, "UPDATE buildings SET height = height WHERE fid = 1")


@contextlib.contextmanager
def _serve(twin, folder, *, restricted: str = ""):
    """``twin serve`` on a free loopback port; an area-scoped key, ``restricted`` buildings."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "api.toml"
    text = (
        f'[[keys]]\nname = "operator"\nhash = "{hash_key(KEY)}"\nroles = []\narea = {list(AREA)}\n'
    )
    if restricted:
        text += f'[collections.buildings]\nscope = "{restricted}"\n'
    config.write_text(text, encoding="utf-8")
    with (
        serving(twin, folder, "--config", str(config)) as url,
        httpx.Client(base_url=url, timeout=120) as http,
    ):
        yield http


@pytest.fixture(scope="module")
def client(twin_copy, tmp_path_factory):
    with _serve(twin_copy, tmp_path_factory.mktemp("server")) as http:
        yield http


def _coordinates(doc: dict, obj: dict) -> np.ndarray:
    """Every boundary vertex of a city object, dequantised, in boundary order."""
    scale, move = np.array(doc["transform"]["scale"]), np.array(doc["transform"]["translate"])
    vertices = np.array(doc["vertices"]) * scale + move

    def flat(node):
        return [i for x in node for i in flat(x)] if isinstance(node, list) else [node]

    index = [i for g in obj["geometry"] for i in flat(g["boundaries"])]
    return vertices[index]


def test_cityjson_items_match_the_geojson_page_and_the_export(client, sample_twin):
    extent = client.get("/collections/buildings").json()["extent"]["spatial"]["bbox"][0]
    query = f"bbox={','.join(map(str, extent))}&limit=7&offset=3"
    page = client.get(f"/collections/buildings/items?{query}").json()
    ids = [f["properties"]["building_id"] for f in page["features"]]
    assert len(ids) == 7

    r = client.get(f"/collections/buildings/items?{query}&f=cityjson")
    assert r.status_code == 200 and r.headers["content-type"] == "application/city+json"
    doc = r.json()
    assert schema_errors(doc) == []
    assert list(doc["CityObjects"]) == ids
    assert r.headers["OGC-NumberMatched"] == str(page["numberMatched"])
    assert 'rel="next"' in r.headers["Link"] and "f=cityjson" in r.headers["Link"]

    # the same buildings as the interchange export of the whole twin (its GeoPackage), vertex
    # for vertex
    full = cityjson.document(twin.open(sample_twin))
    for bid in ids:
        ours, theirs = doc["CityObjects"][bid], full["CityObjects"][bid]
        assert ours["attributes"] == theirs["attributes"]
        np.testing.assert_allclose(_coordinates(doc, ours), _coordinates(full, theirs), atol=1e-9)

    seq = client.get(f"/collections/buildings/items?{query}&f=cityjsonseq")
    assert seq.headers["content-type"] == "application/city+json-seq"
    lines = [json.loads(line) for line in seq.text.splitlines()]
    assert schema_errors(lines[0]) == []
    assert all(schema_errors(line, "cityjsonfeature") == [] for line in lines[1:])
    assert [line["id"] for line in lines[1:]] == ids
    negotiated = client.get(
        f"/collections/buildings/items?{query}", headers={"Accept": "application/city+json-seq"}
    )
    assert negotiated.content == seq.content

    fid = page["features"][0]["id"]
    one = client.get(
        f"/collections/buildings/items/{fid}", headers={"Accept": "application/city+json"}
    )
    assert one.headers["content-type"] == "application/city+json"
    assert schema_errors(one.json()) == [] and list(one.json()["CityObjects"]) == ids[:1]

    empty = client.get("/collections/buildings/items?bbox=0,0,0.001,0.001&f=cityjson")
    assert empty.status_code == 200 and schema_errors(empty.json()) == []
    assert empty.json()["CityObjects"] == {}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/collections/trees/items?f=cityjson", 400),
        (
            "/collections/buildings/items?f=cityjson&crs=http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            400,
        ),
        ("/collections/buildings/items?f=cityjson&lod=1.2", 400),
        ("/collections/buildings/items?f=obj", 400),
        ("/collections/buildings/items/999999?f=cityjson", 404),
        ("/collections/buildings/items/x1?f=cityjson", 404),
        ("/collections/utilities/items?f=cityjson", 404),
        ("/collections/utilities/3dtiles/tileset.json", 404),
        ("/collections/trees/3dtiles/tileset.json", 404),
        ("/collections/buildings/3dtiles/tiles/../../city.gpkg", 404),
        ("/collections/buildings/3dtiles/tiles/99999.glb", 404),
    ],
)
def test_bad_3d_requests_are_clear_4xx(client, path, status):
    r = client.get(path)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    if "utilities" in path:  # the answer for a collection that does not exist
        assert r.json()["detail"] == "no collection 'utilities'"


def _fetch_tileset(client, tmp_path, headers=None) -> dict:
    """Download the tileset with its content into ``tmp_path`` and run the 3D Tiles checks."""
    base = "/collections/buildings/3dtiles/"
    r = client.get(base + "tileset.json", headers=headers)
    assert r.status_code == 200, r.text
    tmp_path.mkdir(parents=True)
    (tmp_path / "tileset.json").write_bytes(r.content)
    tileset = json.loads(r.content)
    stack = [tileset["root"]]
    while stack:
        tile = stack.pop()
        stack += tile.get("children", [])
        if "content" in tile:
            glb = client.get(base + tile["content"]["uri"], headers=headers)
            assert glb.headers["content-type"] == "model/gltf-binary"
            (tmp_path / tile["content"]["uri"]).parent.mkdir(exist_ok=True)
            (tmp_path / tile["content"]["uri"]).write_bytes(glb.content)
    checked = check_tileset(tmp_path)
    return {"etag": r.headers["ETag"], **checked}


def test_tileset_is_linked_valid_cached_and_invalidated(client, twin_copy, sample_twin, tmp_path):
    collection = client.get("/collections/buildings").json()
    link = [x for x in collection["links"] if x["type"] == "application/json+3dtiles"]
    assert [x["rel"] for x in link] == ["items"]
    assert link[0]["href"].endswith("/collections/buildings/3dtiles/tileset.json")
    assert collection["content"][0]["href"] == link[0]["href"]
    assert "content" not in client.get("/collections/trees").json()

    first = _fetch_tileset(client, tmp_path / "a")
    names = []
    for tile in first["contents"]:
        names += check_glb(tmp_path / "a" / tile["content"]["uri"])["names"]
    model = twin.open(sample_twin)
    assert sorted(names) == sorted(model.buildings["building_id"])

    uri = first["contents"][0]["content"]["uri"]
    tile = client.get(f"/collections/buildings/3dtiles/{uri}")
    again = client.get(
        f"/collections/buildings/3dtiles/{uri}", headers={"If-None-Match": tile.headers["ETag"]}
    )
    assert again.status_code == 304 and again.content == b""
    cache = open_store(twin_copy).cache_path("3dtiles-cache")
    if isinstance(twin_copy, Path):  # beside the GeoPackage
        assert cache == twin_copy.with_name(f"{twin_copy.stem}.3dtiles-cache")
    (version,) = [p.name for p in cache.iterdir() if p.is_dir()]
    assert (
        client.get("/collections/buildings/3dtiles/tileset.json").headers["ETag"] == first["etag"]
    )

    _touch(twin_copy)  # the twin changes: a new tileset, the old one is gone
    changed = client.get(
        f"/collections/buildings/3dtiles/{uri}", headers={"If-None-Match": tile.headers["ETag"]}
    )
    assert changed.status_code == 200 and changed.headers["ETag"] != tile.headers["ETag"]
    assert [p.name for p in cache.iterdir() if p.is_dir()] != [version]


def test_area_key_gets_its_area_and_hidden_buildings_stay_hidden(twin_copy, sample_twin, tmp_path):
    with _serve(twin_copy, tmp_path / "area-server") as http:
        scoped = _fetch_tileset(http, tmp_path / "area", headers={"X-API-Key": KEY})
        names = []
        for tile in scoped["contents"]:
            names += check_glb(tmp_path / "area" / tile["content"]["uri"])["names"]
        items = http.get(
            "/collections/buildings/items?f=cityjson&limit=1000", headers={"X-API-Key": KEY}
        ).json()
    buildings = twin.open(sample_twin).buildings
    inside = buildings["building_id"][shapely.intersects(buildings.geometry, shapely.box(*AREA))]
    assert 0 < len(inside) < len(buildings)
    assert sorted(names) == sorted(inside) == sorted(items["CityObjects"])

    with _serve(twin_copy, tmp_path / "hidden-server", restricted="city:read") as http:
        assert "buildings" not in http.get("/collections").text
        for path in (
            "/collections/buildings/3dtiles/tileset.json",
            "/collections/buildings/items?f=cityjson",
            "/collections/buildings/items/1?f=cityjson",
        ):
            r = http.get(path)
            assert r.status_code == 404 and r.json()["detail"] == "no collection 'buildings'"


def test_a_twin_without_a_height_datum_gets_a_409_not_tiles(new_twin, tmp_path):
    """Tiles of heights with no vertical datum would sit a geoid undulation (47 m at Zürich)
    too low: the API answers a 409 problem naming the CRS and the ways out, every time."""
    source = DATA / "zurich_cityjson" / "zurich_lod2_12.city.json"
    store = write(cityjson.read(source), new_twin)
    (tmp_path / "server").mkdir()
    with (
        serving(store, tmp_path / "server") as url,
        httpx.Client(base_url=url, timeout=120) as http,
    ):
        assert http.get("/collections/buildings/items?limit=1").status_code == 200
        for path in ("tileset.json", "tiles/0.glb", "tileset.json"):
            r = http.get(f"/collections/buildings/3dtiles/{path}")
            assert r.status_code == 409, r.text
            assert r.headers["content-type"] == "application/problem+json"
            detail = r.json()["detail"]
            assert "CH1903+ / LV95 names no vertical datum" in detail
            assert "twin import --crs" in detail and "--no-geoid" in detail
