"""Utility data stays restricted: every route, process and job checks the caller, and says so.

Each test is one way in that an attacker or a curious planner tried: a process that reads a
collection its scope does not cover, a job read under a name or an address that is not its
owner's, reads that left no audit line, guessing keys at full speed, a forged ``Host``; each
against the sample twin in both stores (its GeoPackage, its copy in PostGIS).
"""

from __future__ import annotations

import json
import re
import stat
import time

import httpx
import jwt
import pytest

from tests.servers import serving
from tests.twin.test_api_server import JWT_SECRET, PLANNER_KEY
from twin.api.config import hash_key

READER_KEY = "reader-key-0123456789"  # utilities:read only
WORKS = ("planned_works", "utilities", "surface_works")  # what works-coordination reads


def _token(sub: str, roles: list[str], **claims) -> dict[str, str]:
    payload = {"sub": sub, "roles": roles, "exp": time.time() + 300, **claims}
    return {"Authorization": f"Bearer {jwt.encode(payload, JWT_SECRET)}"}


@pytest.fixture(scope="module")
def api(sample_store, tmp_path_factory):
    """``twin serve`` with a planner key, a utilities-only key, tokens and an audit log."""
    folder = tmp_path_factory.mktemp("security")
    config = f"""
[auth]
jwt_key = "{JWT_SECRET}"
audit_log = "audit.jsonl"

[roles]
planner = ["utilities:read", "works:read"]
reader = ["utilities:read"]

[[keys]]
name = "planning-office"
hash = "{hash_key(PLANNER_KEY)}"
roles = ["planner"]

[[keys]]
name = "utility-reader"
hash = "{hash_key(READER_KEY)}"
roles = ["reader"]

[jobs]
folder = "jobs"
"""
    with serving(sample_store, folder, config=config) as url:
        yield {"url": url, "audit": folder / "audit.jsonl", "jobs": folder / "jobs"}


def _audit(api) -> list[dict]:
    if not api["audit"].exists():  # made with the first record
        return []
    return [json.loads(line) for line in api["audit"].read_text().splitlines()]


def _run_job(api, process: str, inputs: dict, headers: dict) -> str:
    """Start ``process`` as a job; wait for it; its status URL."""
    r = httpx.post(
        f"{api['url']}/processes/{process}/execution",
        json={"inputs": inputs},
        headers={"Prefer": "respond-async", **headers},
    )
    assert r.status_code == 201, r.text
    for _ in range(200):
        status = httpx.get(r.headers["Location"], headers=headers).json()
        if status["status"] in ("successful", "failed"):
            break
        time.sleep(0.05)
    assert status["status"] == "successful", status
    return r.headers["Location"]


def test_a_process_needs_the_scope_of_every_collection_it_reads(api):
    url = api["url"]
    reader = {"X-API-Key": READER_KEY}
    # the key reads utilities, but not the planned works that works-coordination reads
    assert httpx.get(f"{url}/collections/utilities/items", headers=reader).status_code == 200
    assert httpx.get(f"{url}/collections/planned_works/items", headers=reader).status_code == 404
    listed = {p["id"] for p in httpx.get(f"{url}/processes", headers=reader).json()["processes"]}
    assert "works-coordination" not in listed and "trench-check" in listed
    run = httpx.post(
        f"{url}/processes/works-coordination/execution", json={"inputs": {}}, headers=reader
    )
    assert run.status_code == 404  # as for a process that does not exist
    denied = [r for r in _audit(api) if r["action"] == "denied"]
    assert {"who": "key:utility-reader", "request": "execute"}.items() <= denied[-1].items()
    planner = {"X-API-Key": PLANNER_KEY}
    run = httpx.post(
        f"{url}/processes/works-coordination/execution", json={"inputs": {}}, headers=planner
    )
    assert run.status_code == 200 and "clusters" in run.json()["result"]


def test_results_are_checked_again_when_they_are_read(api):
    # A token-holder with both scopes starts the coordination; the same subject later holds
    # a token with utilities:read only, and may no longer read what the run returned.
    full = _token("site-engineer", ["planner"])
    status = _run_job(api, "works-coordination", {}, full)
    assert httpx.get(status + "/results", headers=full).status_code == 200
    reduced = _token("site-engineer", ["reader"])
    assert httpx.get(status, headers=reduced).status_code == 404
    assert httpx.get(status + "/results", headers=reduced).status_code == 404
    records = _audit(api)
    job_id = status.rsplit("/", 1)[1]
    assert any(
        r["action"] == "job-results" and r["job"] == job_id and r["who"] == "jwt::site-engineer"
        for r in records
    )
    assert any(
        r["action"] == "denied" and r["request"] == "job-results" and r.get("job") == job_id
        for r in records
    )


def test_a_job_belongs_to_its_caller_not_to_a_name_or_an_address(api):
    url = api["url"]
    key = {"X-API-Key": PLANNER_KEY}
    status = _run_job(
        api, "parcel-buildings", {"bbox": [524550.0, 165400.0, 524700.0, 165550.0]}, key
    )
    assert httpx.get(status + "/results", headers=key).status_code == 200
    page = httpx.get(status + "?f=html", headers=key)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert httpx.get(status + "/results?f=xml", headers=key).status_code == 400
    for other in (
        _token("planning-office", []),  # the key's name as a token subject
        _token("planning-office", ["planner"]),  # ... even with the scopes
        _token("key:planning-office", ["planner"]),  # the key's owner id as a subject
        _token("anonymous@127.0.0.1", []),  # the address an anonymous caller had
        {},  # anonymous
    ):
        assert httpx.get(status, headers=other).status_code == 404
        assert httpx.get(status + "/results", headers=other).status_code == 404
    # /jobs lists the caller's own jobs only
    mine = httpx.get(f"{url}/jobs", headers=key)
    assert mine.status_code == 200
    assert status.rsplit("/", 1)[1] in {j["jobID"] for j in mine.json()["jobs"]}
    same_name = _token("planning-office", ["planner"])
    assert httpx.get(f"{url}/jobs", headers=same_name).json()["jobs"] == []
    assert httpx.get(f"{url}/jobs").json()["jobs"] == []
    # the job's files are the service user's alone, like the audit log
    files = list(api["jobs"].glob("*.json"))
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert stat.S_IMODE(api["jobs"].stat().st_mode) == 0o700


def test_an_anonymous_caller_runs_synchronously(api):
    body = {"inputs": {"bbox": [524550.0, 165400.0, 524700.0, 165550.0]}}
    r = httpx.post(
        f"{api['url']}/processes/parcel-buildings/execution",
        json=body,
        headers={"Prefer": "respond-async"},
    )
    # nobody could be told apart as its owner: the preference is not applied (RFC 7240)
    assert r.status_code == 200 and "Preference-Applied" not in r.headers
    assert r.json()["parcels"]


ANONYMOUS = [
    "/collections/utilities",
    "/collections/utilities/queryables",
    "/collections/utilities/sortables",
    "/collections/utilities/items",
    "/collections/utilities/items/1",
    "/collections/planned_works/items",
    "/processes/trench-check",
]
WRONG_SCOPE = ["/collections/planned_works", "/processes/works-coordination"]


@pytest.mark.parametrize(
    ("who", "path"), [("anonymous", p) for p in ANONYMOUS] + [("reader", p) for p in WRONG_SCOPE]
)
def test_every_refusal_is_audited(api, who, path):
    headers = {"X-API-Key": READER_KEY} if who == "reader" else {}
    before = len(_audit(api))
    assert httpx.get(api["url"] + path, headers=headers).status_code == 404
    new = _audit(api)[before:]
    assert len(new) == 1 and new[0]["action"] == "denied"
    assert new[0]["who"] == ("key:utility-reader" if headers else "anonymous")
    assert new[0]["client"] == "127.0.0.1"


def test_restricted_documents_are_audited(api):
    key = {"X-API-Key": PLANNER_KEY}
    for path, action in (
        ("/collections/utilities", "collection"),
        ("/collections/utilities/queryables", "queryables"),
        ("/collections/utilities/sortables", "sortables"),
    ):
        before = len(_audit(api))
        assert httpx.get(api["url"] + path, headers=key).status_code == 200
        new = _audit(api)[before:]
        assert [(r["action"], r["collection"], r["who"]) for r in new] == [
            (action, "utilities", "key:planning-office")
        ]
    before = len(_audit(api))
    assert httpx.get(api["url"] + "/collections", headers=key).status_code == 200
    new = _audit(api)[before:]
    assert [(r["action"], r["collections"]) for r in new] == [
        ("collections", ["utilities", "planned_works"])
    ]
    before = len(_audit(api))
    assert httpx.get(api["url"] + "/collections/buildings", headers=key).status_code == 200
    assert httpx.get(api["url"] + "/collections").status_code == 200  # sees public ones only
    assert len(_audit(api)) == before  # public: nothing to record


def test_links_never_come_from_the_host_header(api):
    r = httpx.get(api["url"] + "/collections", headers={"Host": "evil.example"})
    assert r.status_code == 200
    assert "evil.example" not in r.text
    links = [link["href"] for link in r.json()["links"]]
    assert all(href.startswith(api["url"]) for href in links), links


@pytest.fixture(scope="module")
def guarded(sample_store, tmp_path_factory):
    """A service behind a trusted proxy on loopback, with a public URL and a small burst of
    allowed failures."""
    folder = tmp_path_factory.mktemp("logins")
    config = f"""
[server]
public_url = "https://twin.klagenfurt.example/api/"
trusted_proxies = ["127.0.0.1"]

[limits]
auth_failures = 5
auth_block_s = 2

[auth]
audit_log = "audit.jsonl"

[[keys]]
name = "planning-office"
hash = "{hash_key(PLANNER_KEY)}"
roles = []
"""
    with serving(sample_store, folder, config=config) as url:
        yield {"url": url, "audit": folder / "audit.jsonl"}


def test_failed_logins_are_limited_per_address_and_audited_in_aggregate(guarded):
    url = guarded["url"]
    attacker = {"X-Forwarded-For": "203.0.113.7"}  # as the trusted proxy passes it on
    # one kept-alive connection: the 40 guesses take a fraction of the 2 s block even on a
    # loaded machine (a new connection each took longer than the block there)
    with httpx.Client() as client:
        codes = [
            client.get(f"{url}/", headers={**attacker, "X-API-Key": f"guess-{i}"}).status_code
            for i in range(40)
        ]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    blocked = httpx.get(f"{url}/", headers={**attacker, "X-API-Key": PLANNER_KEY})
    assert blocked.status_code == 429  # while blocked, no key is even looked at
    wait = int(blocked.headers["Retry-After"])
    assert 1 <= wait <= 2
    # the address may still read public data without credentials; others are not blocked
    assert httpx.get(f"{url}/", headers=attacker).status_code == 200
    other = {"X-Forwarded-For": "203.0.113.8", "X-API-Key": PLANNER_KEY}
    assert httpx.get(f"{url}/", headers=other).status_code == 200
    time.sleep(wait + 0.2)
    assert httpx.get(f"{url}/", headers={**attacker, "X-API-Key": PLANNER_KEY}).status_code == 200
    # the next burst blocks for twice as long
    for i in range(5):
        httpx.get(f"{url}/", headers={**attacker, "X-API-Key": f"again-{i}"})
    again = httpx.get(f"{url}/", headers={**attacker, "X-API-Key": PLANNER_KEY})
    assert again.status_code == 429 and 3 <= int(again.headers["Retry-After"]) <= 4
    records = [json.loads(line) for line in guarded["audit"].read_text().splitlines()]
    mine = [r for r in records if r.get("client") == "203.0.113.7"]
    assert [r["action"] for r in mine] == ["auth-failed", "auth-blocked", "auth-blocked"]
    assert [r.get("blocked_s") for r in mine] == [None, 2, 4]
    assert sum(r["failures"] for r in mine) == 10  # every failure counted, 3 lines in all
    assert mine[2]["refused"] == 36  # the 35 guesses and the key refused while blocked


def test_links_use_the_public_url(guarded):
    r = httpx.get(guarded["url"] + "/collections", headers={"Host": "evil.example"})
    links = [link["href"] for link in r.json()["links"]]
    assert links and all(h.startswith("https://twin.klagenfurt.example/api/") for h in links)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {
                "keys": [
                    {"name": "office", "hash": hash_key("a"), "roles": []},
                    {"name": "office", "hash": hash_key("b"), "roles": []},
                ]
            },
            "key names ['office'] are used more than once",
        ),
        ({"server": {"public_url": "twin.example"}}, "must be an http(s) URL"),
        ({"server": {"public_url": "https://twin.example/?x=1"}}, "must be an http(s) URL"),
    ],
)
def test_config_refuses_ambiguous_callers_and_bad_public_urls(data, message):
    from twin.api.config import ApiConfig
    from twin.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        ApiConfig.from_dict(data)


def test_the_default_rate_limit_lets_a_planner_page_through_a_layer(api):
    # 6,500 requests as fast as one client sends them (GDAL or QGIS paging through a layer of
    # 65,000 features 10 at a time): not one 429. The old default, 6,000 a minute with a
    # burst of as many, refused every request after the 6,000th.
    with httpx.Client(base_url=api["url"]) as client:
        codes = {
            client.get(f"/collections/trees/items?limit=10&offset={10 * (i % 50)}").status_code
            for i in range(6500)
        }
    assert codes == {200}
