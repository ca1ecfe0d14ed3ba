"""The planner API never answers a request with a 500: hostile and odd input against a real
``twin serve`` of the sample twin in each store (its GeoPackage, its copy in PostGIS), each
refused with a 4xx RFC 9457 problem document."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading

import httpx
import pytest
import uvicorn

from tests.servers import STOP_S, free_port, serving, wait_until
from tests.twin.test_api_server import PLANNER_KEY
from twin.api import create_app
from twin.api.config import ApiConfig, hash_key
from twin.store import read, write

PROBLEM = "application/problem+json"
KEY = {"X-API-Key": PLANNER_KEY}
MAX_BODY = 1_000_000


@pytest.fixture(scope="module")
def url(sample_store, tmp_path_factory):
    """``twin serve`` of the sample twin in each store, with the planner key, a high rate and
    a 500-feature page limit."""
    folder = tmp_path_factory.mktemp("robust")
    config = f"""
[limits]
max_limit = 500
max_body_bytes = {MAX_BODY}
rate_per_minute = 100000

[roles]
planner = ["utilities:read", "works:read"]

[[keys]]
name = "planning-office"
hash = "{hash_key(PLANNER_KEY)}"
roles = ["planner"]
"""
    with serving(sample_store, folder, config=config) as served:
        yield served


def problem(r: httpx.Response, status: int) -> dict:
    """The problem document of ``r``, after checking its status and media type."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    doc = r.json()
    assert doc["status"] == status and doc["detail"] and "Traceback" not in doc["detail"]
    return doc


@pytest.mark.parametrize(
    "query",
    [
        "offset=9223372036854775808",
        "offset=99999999999999999999999999999",
        "limit=9223372036854775808",
        "limit=-9223372036854775809",
        "roof_points=9223372036854775808",  # an integer column: equality
        "roof_points=-99999999999999999999",
        "offset=%D9%A3",  # Arabic-Indic three: a digit to int(), not in a URL
        "limit=1_0",
        "height=nan",  # a number column
        "height=1e999",
        # an area beyond the float range (2e308 m²: infinite), refused all the same
        "bbox=0,-1e308,2,1e308&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/31258",
    ],
)
def test_integers_beyond_64_bits_and_odd_numbers_are_a_400(url, query):
    problem(httpx.get(f"{url}/collections/buildings/items?{query}"), 400)


def test_the_largest_offset_is_an_empty_page(url):
    r = httpx.get(f"{url}/collections/buildings/items?offset=9223372036854775807")
    assert r.status_code == 200 and r.json()["features"] == []


@pytest.mark.parametrize("fid", ["%C2%B2", "%D9%A3", "%EF%BC%91", "1%20", "+1", "0x1"])
@pytest.mark.parametrize("f", ["json", "cityjson"])
def test_only_ascii_digits_are_feature_ids(url, fid, f):
    """``²`` (a 500 once: a digit to str.isdigit, not to int), ``٣`` and the fullwidth one
    (3 and 1 to int) name no feature."""
    problem(httpx.get(f"{url}/collections/buildings/items/{fid}?f={f}"), 404)
    assert httpx.get(f"{url}/collections/buildings/items/1?f={f}").status_code == 200


def _trench(**change) -> dict:
    line = {"type": "LineString", "coordinates": [[14.30, 46.62], [14.3003, 46.62]]}
    return {"inputs": {"trench": line, "width": 0.6, "depth": 1.5, **change}}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (_trench(trench={"type": "LineString", "coordinates": [[1]]}), "trench"),
        (_trench(trench="x"), "trench"),
        (_trench(trench={"type": "Point", "coordinates": [14.3, 46.62]}), "trench"),
        (_trench(trench={"type": "LineString", "coordinates": [[14.3, 46.6, 1, 2]] * 2}), ""),
        (_trench(trench={"type": "LineString", "coordinates": [[14.3, 46.6], [14.3, 46.6]]}), ""),
        (_trench(trench={"type": "LineString", "coordinates": [[1, 2], [3, 4, 5]]}), "line"),
        (_trench(trench={"type": "LineString", "coordinates": [[1e308, 1], [-1e308, 1]]}), ""),
        (_trench(width=1e308), "width"),
        (_trench(width=10.5), "width"),
        (_trench(depth=11), "depth"),
        (_trench(width=0), "width"),
        (_trench(crs="EPSG:99999"), "EPSG:99999"),
        (_trench(crs="/etc/passwd"), "crs"),
        (_trench(crs="http://www.opengis.net/def/crs/EPSG/0/../../etc/passwd"), "crs"),
        (_trench(crs="EPSG:5778"), "EPSG:5778"),  # heights only: no way to the twin's CRS
        (_trench(trench_id="x" * 101), "trench_id"),
    ],
)
def test_trench_check_refuses_bad_input_with_a_400(url, body, says):
    doc = problem(
        httpx.post(f"{url}/processes/trench-check/execution", json=body, headers=KEY), 400
    )
    assert says in doc["detail"]


def test_trench_check_describes_strict_inputs(url):
    inputs = httpx.get(f"{url}/processes/trench-check", headers=KEY).json()["inputs"]
    assert inputs["width"]["schema"]["maximum"] == inputs["depth"]["schema"]["maximum"] == 10
    assert inputs["crs"]["schema"]["pattern"].startswith("^(EPSG:[0-9]")
    line = inputs["trench"]["schema"]["oneOf"][0]["properties"]["coordinates"]
    assert line["minItems"] == 2 and line["items"]["minItems"] == 2
    assert line["items"]["maxItems"] == 3 and line["items"]["items"] == {"type": "number"}


@pytest.mark.parametrize(
    ("process", "inputs"),
    [
        ("parcel-buildings", {"bbox": [0, 0, 1e308, 1e308]}),
        ("parcel-buildings", {"bbox": [-1e308, 0, 1e308, 1]}),
        ("parcel-buildings", {"bbox": [524600, 165400, 524550, 165450]}),
        ("parcel-buildings", {"bbox": [1, 2, 3]}),
        ("parcel-buildings", {"bbox": ["1", 2, 3, 4]}),
        ("works-coordination", {"join_distance": 1e308}),
        ("works-coordination", {"join_distance": -1}),
        ("works-coordination", {"window_days": 9223372036854775807}),
        ("works-coordination", {"window_days": 1.5}),
        ("works-coordination", {"other": 1}),
    ],
)
def test_other_processes_refuse_bad_input_with_a_400(url, process, inputs):
    r = httpx.post(f"{url}/processes/{process}/execution", json={"inputs": inputs}, headers=KEY)
    problem(r, 400)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"inputs": {"bbox": [NaN, 165400, 524600, 165450]}}', "NaN"),
        (b'{"inputs": {"bbox": [Infinity, 165400, 524600, 165450]}}', "Infinity"),
        (b'{"inputs": {"bbox": [-Infinity, 165400, 524600, 165450]}}', "Infinity"),
        (b'{"inputs": {"bbox": [1e999, 165400, 524600, 165450]}}', "float range"),
        (b'{"inputs": {"bbox": [18446744073709551616, 1, 2, 3]}}', "64 bits"),
        (b'{"inputs": {"bbox": [-9223372036854775809, 1, 2, 3]}}', "64 bits"),
        (b'{"inputs": {"bbox": [' + b"9" * 5000 + b", 1, 2, 3]}}", ""),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "32 levels"),
        (b"[" * 100_000, "JSON"),
        (b'{"inputs": {"bbox": "\\ud800"}}', "surrogate"),
        (b"", "JSON"),
        (b"[]", "object"),
        (b'{"inputs": []}', "object"),
        (b"\xff\xfe{}", "JSON"),
    ],
)
def test_the_execute_body_is_strict_json(url, body, says):
    r = httpx.post(
        f"{url}/processes/parcel-buildings/execution",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert says in problem(r, 400)["detail"]


def _chunks(total: int, size: int = 65536):
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_large_body_is_refused_with_a_413(url, framing):
    body = b"x" * 20_000_000 if framing == "content-length" else _chunks(20_000_000)
    r = httpx.post(
        f"{url}/processes/parcel-buildings/execution",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert "request body over" in problem(r, 413)["detail"]
    small = iter([b'{"inputs": {"bbox": ', b"[524550, 165400, 524600, 165450]}}"])
    ok = httpx.post(
        f"{url}/processes/parcel-buildings/execution",
        content=small,
        headers={"Content-Type": "application/json"},
    )
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_the_413_comes_as_soon_as_the_body_passes_the_limit(url, framing):
    """A body that never ends: the answer comes once the limit is passed, not at its end."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        "Content-Length: 20000000" if framing == "content-length" else "Transfer-Encoding: chunked"
    )
    chunk = b"x" * 65536
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(
            b"POST /processes/parcel-buildings/execution HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/json\r\n" + head.encode() + b"\r\n\r\n"
        )
        for _ in range(MAX_BODY // len(chunk) + 2):
            s.sendall(chunk if framing == "content-length" else b"10000\r\n" + chunk + b"\r\n")
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert PROBLEM.encode() in answer


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/collections", {"GET", "HEAD"}),
        ("POST", "/collections/buildings/items", {"GET", "HEAD"}),
        ("PUT", "/api", {"GET", "HEAD"}),
        ("TRACE", "/", {"GET", "HEAD"}),
        ("GET", "/processes/parcel-buildings/execution", {"POST"}),
        ("HEAD", "/processes/parcel-buildings/execution", {"POST"}),
    ],
)
def test_405_names_the_allowed_methods(url, method, path, allowed):
    r = httpx.request(method, url + path)
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} == allowed
    if method != "HEAD":
        problem(r, 405)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api",
        "/api?f=html",
        "/conformance",
        "/collections",
        "/collections/buildings",
        "/collections/buildings/queryables",
        "/collections/buildings/items?limit=3&offset=2",
        "/collections/buildings/items?f=cityjson&limit=2",
        "/collections/buildings/items/1",
        "/collections/buildings/3dtiles/tileset.json",
        "/collections/nope",
        "/collections/buildings/items?limit=0",
        "/processes",
        "/processes/parcel-buildings",
        "/jobs/nope",
    ],
)
def test_head_answers_as_get_without_a_body(url, path):
    get, head = httpx.get(url + path), httpx.head(url + path)
    assert head.status_code == get.status_code and head.content == b""
    for name in ("content-type", "content-length", "content-crs", "etag", "ogc-numbermatched"):
        assert head.headers.get(name) == get.headers.get(name), name


def test_api_document_as_html_and_unknown_formats(url):
    page = httpx.get(f"{url}/api?f=html")
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.startswith("<!DOCTYPE html>") and "getFeatures" in page.text
    problem(httpx.get(f"{url}/api?f=yaml"), 400)
    landing = httpx.get(f"{url}/").json()
    assert {"rel": "service-doc", "type": "text/html", "href": f"{url}/api?f=html"} in landing[
        "links"
    ]


def test_api_document_states_the_enforced_constraints(url):
    text = httpx.get(f"{url}/api").text
    for hidden in ("utilities", "planned_works", "trench-check", "works-coordination"):
        assert hidden not in text
    doc = json.loads(text)
    params = doc["components"]["parameters"]
    assert params["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 500,
        "default": 10,
    }
    assert "clamped" in params["limit"]["description"]
    assert params["offset"]["schema"]["maximum"] == 2**63 - 1
    assert params["featureId"]["schema"]["pattern"] == "^[0-9]{1,18}$"
    bbox = params["bbox"]
    assert (bbox["style"], bbox["explode"]) == ("form", False)
    assert [o["minItems"] for o in bbox["schema"]["oneOf"]] == [4, 6]
    crs = params["crs"]["schema"]
    assert crs["format"] == "uri" and "http://www.opengis.net/def/crs/OGC/1.3/CRS84" in crs["enum"]
    assert params["bbox-crs"]["schema"] == crs
    assert params["fFeatures"]["schema"]["enum"] == ["json", "html", "cityjson", "cityjsonseq"]
    paths = doc["paths"]
    items = paths["/collections/{collectionId}/items"]["get"]["responses"]
    assert set(items) >= {"200", "400", "401", "404", "405", "413", "414", "429", "503"}
    assert set(items["200"]["content"]) >= {"application/geo+json", "text/html"}
    assert set(items["400"]["content"]) == {PROBLEM}
    assert items["405"]["headers"]["Allow"]["required"]
    queryables = paths["/collections/{collectionId}/queryables"]["get"]["responses"]["200"]
    assert "application/schema+json" in queryables["content"]
    execute = paths["/processes/{processId}/execution"]["post"]
    assert execute["requestBody"]["required"]
    assert set(execute["responses"]) >= {"200", "201", "400", "404", "413", "415"}


def test_an_unexpected_error_is_a_500_problem_and_the_connection_survives(sample_store, caplog):
    """The catch-all answers 500 without Starlette re-raising (which made uvicorn drop the
    connection); the traceback goes to the log."""
    app = create_app(sample_store, config=ApiConfig())

    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_config=None, ws="none"))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),))
    thread.start()
    try:
        wait_until(lambda: server.started, thread.is_alive)
        with caplog.at_level(logging.ERROR, "twin.api"), httpx.Client() as client:
            r = client.get(f"http://127.0.0.1:{port}/boom")
            assert r.status_code == 500 and r.headers["content-type"] == PROBLEM
            assert "a bug" not in r.text and r.json()["title"] == "Internal Server Error"
            first = r.extensions["network_stream"].get_extra_info("client_addr")
            again = client.get(f"http://127.0.0.1:{port}/conformance")
            assert again.status_code == 200
            assert again.extensions["network_stream"].get_extra_info("client_addr") == first
        assert "RuntimeError: a bug" in caplog.text
    finally:
        server.should_exit = True
        thread.join(timeout=STOP_S)
        assert not thread.is_alive()


def test_a_database_restart_costs_no_request_a_503(postgis, sample_twin, tmp_path):
    """PostgreSQL ends every connection when it restarts (or ends idle ones, with
    ``idle_session_timeout``): the served twin's next queries are read again on new
    connections, and no caller sees the database's hiccup."""
    database = postgis.database()  # of its own: no other server's connections ended
    location = postgis.url(database, schema="served")
    write(read(sample_twin), location)
    with serving(location, tmp_path) as served, httpx.Client(base_url=served) as http:
        first = http.get("/collections/buildings/items?limit=3")
        assert first.status_code == 200, first.text
        assert http.get("/collections/buildings/items/3").status_code == 200
        ended = postgis.execute(
            database,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND backend_type = 'client backend' "
            "AND pid <> pg_backend_pid()",
        )[0][0]
        assert ended >= 1  # the server's connections (one per thread that queried)
        for path in ("/collections/buildings/items?limit=3", "/collections/buildings/items/3"):
            again = http.get(path)
            assert again.status_code == 200, again.text
        assert again.json()["id"] == 3
        page = http.get("/collections/buildings/items?limit=3").json()
        assert page["features"] == first.json()["features"]


def test_a_database_that_refuses_the_server_is_a_503_naming_no_address(
    postgis, sample_twin, tmp_path
):
    """A database that cannot be reached is a 503 that says so and nothing more: libpq's own
    words name the database server's host and port, which are none of a client's business
    (as the folder of a GeoPackage twin is not); the server's log has them."""
    database = postgis.database()
    location = postgis.url(database, schema="served")
    write(read(sample_twin), location)
    with serving(location, tmp_path) as served, httpx.Client(base_url=served) as http:
        assert http.get("/collections/buildings/items?limit=3").status_code == 200
        postgis.execute("postgres", f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        postgis.execute(
            "postgres",
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'",
        )
        refused = http.get("/collections/buildings/items?limit=3")
        detail = problem(refused, 503)["detail"]
        assert "database" in detail
        for hidden in ("127.0.0.1", str(postgis.port), database, "served", "postgresql"):
            assert hidden not in refused.text
        postgis.execute("postgres", f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        assert http.get("/collections/buildings/items?limit=3").status_code == 200
    assert "not currently accepting connections" in (tmp_path / "server.log").read_text()
