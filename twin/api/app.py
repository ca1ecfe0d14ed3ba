"""The FastAPI application: thin routes over :class:`~twin.api.service.FeatureService`.

Routers are built by factories (titiler's pattern) so each can be mounted and tested alone;
the routes only read the request, call the service and pick the media type.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import shapely
from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from twin.api import html
from twin.api.citymodel import CITY_MEDIA, CITYJSON, CITYJSONSEQ, document_bytes, sequence_bytes
from twin.api.collections import DEFAULT_COLLECTIONS
from twin.api.config import ApiConfig
from twin.api.openapi import OPENAPI_MEDIA_TYPE, openapi
from twin.api.problems import Problem
from twin.api.security import (
    AuditLog,
    LoginGuard,
    Principal,
    RateLimiter,
    authenticate,
    has_credentials,
)
from twin.api.service import FeatureService, Result
from twin.api.tiles import TilesetCache
from twin.errors import InputError, StoreError
from twin.processes import Job, JobRunner, Process, processes
from twin.store import Store, location, open_store
from twin.store.base import INTEGERS

log = logging.getLogger("twin.api")

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/sortables",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/job-list",
]
GEOJSON = "application/geo+json"
#: GET routes answer HEAD too (same status and headers, no body), as Starlette's own routes
#: do; FastAPI's ``router.get`` registers GET alone.
GET = ["GET", "HEAD"]
_JSON_DEPTH = 32


def _json_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body.

    Stricter than :func:`json.loads`, which takes ``NaN``, ``Infinity`` and ``1e999`` (not
    JSON numbers, and no process can use them), integers of any size (SQLite and numpy stop
    at 64 bits), nesting deep enough to exhaust the recursion limit later, and lone
    surrogates (``"\\ud800"``), which no UTF-8 response can echo.

    Raises
    ------
    Problem
        400 for anything but such an object.
    """

    def integer(text: str) -> int:
        # int() of 5,000 digits is an error of its own: longer than 20 is out of range anyway
        value = int(text) if len(text) <= 20 else INTEGERS.stop
        if value not in INTEGERS:
            raise Problem(400, f"the body has an integer beyond 64 bits ({text[:24]})")
        return value

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise Problem(400, f"the body has a number beyond the float range ({text[:30]})")
        return value

    def constant(text: str) -> None:
        raise Problem(400, f"the body has {text}, which is not JSON")

    try:
        doc = json.loads(body, parse_int=integer, parse_float=number, parse_constant=constant)
    except (ValueError, RecursionError):
        raise Problem(400, "the body is not JSON") from None
    if not isinstance(doc, dict):
        raise Problem(400, "the body must be a JSON object")
    level, depth = [doc], 1
    while level:
        if depth > _JSON_DEPTH:
            raise Problem(400, f"the body is nested deeper than {_JSON_DEPTH} levels")
        children = [v for c in level for v in (c.values() if isinstance(c, dict) else c)]
        level, depth = [c for c in children if isinstance(c, dict | list)], depth + 1
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise Problem(400, "the body has a lone surrogate: not Unicode text") from None
    return doc


def principal(request: Request) -> Principal:
    """The caller of ``request`` (set by the app's middleware)."""
    return request.state.principal


def base_url(request: Request) -> str:
    """The service root URL, without a trailing slash (set by the app's middleware from the
    configured public URL, never from the request's ``Host`` header)."""
    return request.state.base_url


def output(request: Request, *, city: bool = False) -> str:
    """The format asked for: ``json``, ``html`` or, where ``city``, ``cityjson`` or
    ``cityjsonseq``; from ``f``, else from the Accept header (JSON when it names none)."""
    allowed = ("json", "html", *CITY_MEDIA) if city else ("json", "html")
    f = request.query_params.get("f")
    if f is not None:
        if f not in allowed:
            raise Problem(400, f"f={f!r}: use one of {', '.join(allowed)}")
        return f
    accept = request.headers.get("accept", "")
    if city and CITYJSONSEQ in accept:
        return "cityjsonseq"
    if city and CITYJSON in accept.replace(CITYJSONSEQ, ""):
        return "cityjson"
    if "text/html" in accept and "json" not in accept.split("text/html")[0]:
        return "html"
    return "json"


def wants_html(request: Request) -> bool:
    """``f=html``, or a browser's Accept header (text/html before any JSON)."""
    return output(request) == "html"


def link_header(links: list[dict[str, str]]) -> str:
    """An RFC 8288 ``Link`` header of the paging links."""
    return ", ".join(
        f'<{link["href"]}>; rel="{link["rel"]}"; type="{link["type"]}"'
        for link in links
        if link["rel"] in ("next", "prev", "self")
    )


def cached_file(request: Request, path: Path, etag: str, media: str) -> Response:
    """A file with its ETag, or 304 when the client has it (``If-None-Match``)."""
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    seen = {
        t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")
    }
    if etag in seen or "*" in seen:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media, headers=headers)


def only(request: Request, *allowed: str) -> None:
    """Refuse query parameters other than ``allowed`` (and ``f``)."""
    unknown = sorted(set(request.query_params) - {"f", *allowed})
    if unknown:
        raise Problem(400, f"unknown query parameters {unknown}")


def document(
    request: Request, doc: dict[str, Any], title: str, *, media: str = "application/json"
) -> Response:
    """A JSON document, or its HTML page for browsers."""
    if wants_html(request):
        return HTMLResponse(html.document(title, doc))
    return Response(json.dumps(doc), media_type=media)


def geojson(request: Request, result: Result, title: str) -> Response:
    """A GeoJSON result with its ``Content-Crs`` header, or the HTML page."""
    headers = {"Content-Crs": f"<{result.content_crs}>"}
    if wants_html(request):
        return HTMLResponse(html.features(title, result.body.decode()), headers=headers)
    if result.number_matched is not None:
        headers["OGC-NumberMatched"] = str(result.number_matched)
    return Response(result.body, media_type=GEOJSON, headers=headers)


def core_router(service: FeatureService, *, title: str) -> APIRouter:
    """Landing page, conformance and the OpenAPI document."""
    router = APIRouter()

    @router.api_route("/", methods=GET)
    def landing(request: Request) -> Response:
        only(request)
        base = base_url(request)
        doc = {
            "title": title,
            "description": "OGC API - Features and Processes for the city twin.",
            "links": [
                {"href": f"{base}/", "rel": "self", "type": "application/json"},
                {"href": f"{base}/?f=html", "rel": "alternate", "type": "text/html"},
                {
                    "href": f"{base}/api",
                    "rel": "service-desc",
                    "type": OPENAPI_MEDIA_TYPE,
                    "title": "OpenAPI 3.0",
                },
                {"href": f"{base}/api?f=html", "rel": "service-doc", "type": "text/html"},
                {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json"},
                {"href": f"{base}/collections", "rel": "data", "type": "application/json"},
                {
                    "href": f"{base}/processes",
                    "rel": "http://www.opengis.net/def/rel/ogc/1.0/processes",
                    "type": "application/json",
                },
            ],
        }
        return document(request, doc, title)

    @router.api_route("/conformance", methods=GET)
    def conformance(request: Request) -> Response:
        only(request)
        return document(request, {"conformsTo": CONFORMANCE}, "Conformance")

    @router.api_route("/api", methods=GET)
    def api(request: Request) -> Response:
        only(request)
        doc = openapi(base_url(request), service, title=title)
        return document(request, doc, f"{title}: API", media=OPENAPI_MEDIA_TYPE)

    return router


def features_router(service: FeatureService, tileset: TilesetCache) -> APIRouter:
    """``/collections`` and everything below it (3D Tiles of city objects from ``tileset``)."""
    router = APIRouter()

    def city_items(spec, request: Request, url: str, f: str) -> Response:
        who = principal(request)
        model, links, matched = service.city_items(spec, request.query_params, who, url, f=f)
        body = sequence_bytes(model) if f == "cityjsonseq" else document_bytes(model)
        headers = {"Content-Crs": f"<{service.crs.storage_uri}>", "Link": link_header(links)}
        if matched is not None:
            headers["OGC-NumberMatched"] = str(matched)
        return Response(body, media_type=CITY_MEDIA[f], headers=headers)

    def city_item(spec, feature_id: str, request: Request) -> Response:
        model = service.city_item(spec, feature_id, request.query_params, principal(request))
        headers = {"Content-Crs": f"<{service.crs.storage_uri}>"}
        return Response(document_bytes(model), media_type=CITYJSON, headers=headers)

    # GeoJSON pages and features are short CPU work (bounded by max_limit and timeout_s):
    # they run on the worker's event loop, one after the other, rather than in a thread pool
    # where dozens of concurrent requests contend for the GIL and the slowest wait longest.
    # CityJSON (and 3D Tiles, built on first use) go to the thread pool. They are plain
    # Starlette routes, matched first: FastAPI's matching and dependency solving cost a page
    # more than its SQL did (they take nothing but the path and the request).
    async def items(request: Request) -> Response:
        collection_id = request.path_params["collection_id"]
        who = principal(request)
        spec = service.spec(collection_id, who, action="items")
        url = f"{base_url(request)}/collections/{collection_id}/items"
        f = output(request, city=spec.city_objects)
        if f in CITY_MEDIA:
            return await run_in_threadpool(city_items, spec, request, url, f)
        result = service.items(spec, request.query_params, who, url)
        return geojson(request, result, spec.title)

    async def item(request: Request) -> Response:
        collection_id = request.path_params["collection_id"]
        feature_id = request.path_params["feature_id"]
        who = principal(request)
        spec = service.spec(collection_id, who, action="item")
        if output(request, city=spec.city_objects) in CITY_MEDIA:
            return await run_in_threadpool(city_item, spec, feature_id, request)
        url = f"{base_url(request)}/collections/{collection_id}/items/{feature_id}"
        result = service.item(spec, feature_id, request.query_params, who, url)
        return geojson(request, result, f"{spec.title}: {feature_id}")

    router.add_route("/collections/{collection_id}/items", items, methods=GET)
    router.add_route("/collections/{collection_id}/items/{feature_id}", item, methods=GET)

    @router.api_route("/collections", methods=GET)
    def collections(request: Request) -> Response:
        only(request)
        return document(
            request, service.collections(principal(request), base_url(request)), "Collections"
        )

    @router.api_route("/collections/{collection_id}", methods=GET)
    def collection(collection_id: str, request: Request) -> Response:
        only(request)
        who = principal(request)
        spec = service.spec(collection_id, who, action="collection")
        service.accessed(spec, who, "collection")
        return document(request, service.collection(spec, base_url(request)), spec.title)

    def schema(collection_id: str, request: Request, kind: str, make: Any) -> Response:
        """A collection's queryables or sortables (``kind``), as ``make`` writes them."""
        only(request)
        who = principal(request)
        spec = service.spec(collection_id, who, action=kind)
        service.accessed(spec, who, kind)
        doc = make(spec, base_url(request))
        return document(request, doc, f"{spec.title}: {kind}", media="application/schema+json")

    @router.api_route("/collections/{collection_id}/queryables", methods=GET)
    def queryables(collection_id: str, request: Request) -> Response:
        return schema(collection_id, request, "queryables", service.queryables)

    @router.api_route("/collections/{collection_id}/sortables", methods=GET)
    def sortables(collection_id: str, request: Request) -> Response:
        return schema(collection_id, request, "sortables", service.sortables)

    @router.api_route("/collections/{collection_id}/3dtiles/{name:path}", methods=GET)
    def tiles(collection_id: str, name: str, request: Request) -> Response:
        only(request)
        who = principal(request)
        spec = service.spec(collection_id, who, action="3dtiles")
        if not spec.city_objects:
            raise Problem(404, f"collection {collection_id!r} has no 3D Tiles")
        path, etag = tileset.file(name, who.area)
        service.accessed(spec, who, "3dtiles", file=name)
        media = "application/json" if name == "tileset.json" else "model/gltf-binary"
        return cached_file(request, path, etag, media)

    return router


def processes_router(
    twin_path: Path, config: ApiConfig, service: FeatureService, jobs: JobRunner
) -> APIRouter:
    """OGC API - Processes: list, describe, execute (sync or as a job), jobs and results.

    A process needs its own scope (``[processes.ID] scope`` in ``api.toml``, else the
    process's default) and the read scope of every collection it reads; it runs within the
    caller's service area. Jobs belong to the caller who started them (its unique id), and
    every read of a job's status or results checks again that the caller still holds those
    scopes and sees that area. Runs, reads and refusals of restricted processes and jobs are
    audited.
    """
    router = APIRouter()
    audit = service.audit

    def needs(p: Process) -> frozenset[str]:
        own = config.process_scopes.get(p.id, p.scope)
        scopes = {own, *(service.scope_of(c) for c in p.reads)}
        return frozenset(s for s in scopes if s is not None)

    def visible(who: Principal) -> dict[str, Process]:
        return {pid: p for pid, p in processes().items() if who.allows(*needs(p))}

    def record(who: Principal, action: str, restricted: bool, /, **details: Any) -> None:
        """Audit ``action`` when it touched restricted data (or was a refusal of it)."""
        if audit is not None and restricted:
            audit.record(who, action, **details)

    def describe(p: Process, base: str, *, full: bool) -> dict[str, Any]:
        doc = {
            "id": p.id,
            "title": p.title,
            "description": p.description,
            "version": p.version,
            "jobControlOptions": ["sync-execute", "async-execute"],
            "outputTransmission": ["value"],
            "links": [
                {"href": f"{base}/processes/{p.id}", "rel": "self", "type": "application/json"},
                {
                    "href": f"{base}/processes/{p.id}/execution",
                    "rel": "http://www.opengis.net/def/rel/ogc/1.0/execute",
                    "type": "application/json",
                },
            ],
        }
        if full:
            doc["inputs"], doc["outputs"] = p.inputs, p.outputs
        return doc

    def get_process(pid: str, who: Principal, action: str) -> Process:
        p = processes().get(pid)
        if p is None:
            raise Problem(404, f"no process {pid!r}")
        if not who.allows(*needs(p)):
            record(who, "denied", bool(needs(p)), request=action, process=pid)
            raise Problem(404, f"no process {pid!r}")
        return p

    def readable(who: Principal, job: Job) -> bool:
        """Whether ``who`` still holds the scopes of ``job``'s run and sees its area."""
        area = None if job.area is None else shapely.from_wkt(job.area)
        return who.allows(*job.scopes) and who.covers(area)

    def get_job(job_id: str, who: Principal, action: str) -> Job:
        """The caller's job, 404 alike for a missing job and one the caller may not read."""
        job = jobs.get(job_id)
        if job is None:
            raise Problem(404, f"no job {job_id!r}")
        if job.owner != who.id or not readable(who, job):
            # someone else's job, or one whose scopes or area the caller lost: always audited
            record(who, "denied", True, request=action, job=job_id)
            raise Problem(404, f"no job {job_id!r}")
        record(who, action, bool(job.scopes), job=job_id, process=job.process)
        return job

    @router.api_route("/processes", methods=GET)
    def list_processes(request: Request) -> Response:
        only(request)
        base = base_url(request)
        doc = {
            "processes": [
                describe(p, base, full=False) for p in visible(principal(request)).values()
            ],
            "links": [{"href": f"{base}/processes", "rel": "self", "type": "application/json"}],
        }
        return document(request, doc, "Processes")

    @router.api_route("/processes/{process_id}", methods=GET)
    def process_description(process_id: str, request: Request) -> Response:
        only(request)
        p = get_process(process_id, principal(request), "process")
        return document(request, describe(p, base_url(request), full=True), p.title)

    @router.post("/processes/{process_id}/execution")
    async def execute(process_id: str, request: Request) -> Response:
        only(request)
        who = principal(request)
        p = get_process(process_id, who, "execute")
        if "json" not in request.headers.get("content-type", ""):
            raise Problem(415, "send the execute request as application/json")
        # the Guard cuts a body off at max_body_bytes (413), whatever its framing
        inputs = _json_body(await request.body()).get("inputs", {})
        scopes = needs(p)
        record(who, "execute", bool(scopes), process=p.id, inputs=inputs)
        # A job belongs to a caller who can be told apart from every other: an anonymous
        # caller's preference for a job is not applied (RFC 7240) and the run is synchronous.
        if "respond-async" in request.headers.get("prefer", "") and who.id is not None:
            job = jobs.submit(p, twin_path, inputs, owner=who.id, scopes=scopes, area=who.area)
            url = f"{base_url(request)}/jobs/{job.id}"
            return JSONResponse(
                _status(job, base_url(request)),
                status_code=201,
                headers={"Location": url, "Preference-Applied": "respond-async"},
            )
        result = await run_in_threadpool(p.run, twin_path, inputs, area=who.area)
        return JSONResponse(result)

    @router.api_route("/jobs", methods=GET)
    def job_list(request: Request) -> Response:
        only(request)
        who = principal(request)
        base = base_url(request)
        mine = [job for job in jobs.jobs(owner=who.id) if readable(who, job)]
        record(who, "jobs", any(job.scopes for job in mine), jobs=len(mine))
        doc = {
            "jobs": [_status(job, base) for job in mine],
            "links": [{"href": f"{base}/jobs", "rel": "self", "type": "application/json"}],
        }
        return document(request, doc, "Jobs")

    @router.api_route("/jobs/{job_id}", methods=GET)
    def job_status(job_id: str, request: Request) -> Response:
        only(request)
        job = get_job(job_id, principal(request), "job")
        return document(request, _status(job, base_url(request)), f"Job {job.id}")

    @router.api_route("/jobs/{job_id}/results", methods=GET)
    def job_results(job_id: str, request: Request) -> Response:
        only(request)
        job = get_job(job_id, principal(request), "job-results")
        result = jobs.result(job)
        if result is None:
            raise Problem(404, f"job {job_id!r} has no results (status {job.status})")
        return document(request, result, f"Job {job.id}: results")

    return router


def _status(job: Job, base: str) -> dict[str, Any]:
    """The OGC ``statusInfo`` of a job, with the link to its results once it has them."""
    doc = {
        "jobID": job.id,
        "processID": job.process,
        "type": "process",
        "status": job.status,
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
        "message": job.message,
        "links": [{"href": f"{base}/jobs/{job.id}", "rel": "self", "type": "application/json"}],
    }
    if job.status == "successful":
        doc["links"].append(
            {
                "href": f"{base}/jobs/{job.id}/results",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/results",
                "type": "application/json",
            }
        )
    return {k: v for k, v in doc.items() if v is not None}


def _store_problem(exc: StoreError, store: Store, /) -> str:
    """What a client is told of a store that cannot answer: its message without the folder
    of the twin; of a database that cannot answer, only that (where the twin lies is none of
    a client's business, and the database server's words name its host and port). The
    server's log has the whole message."""
    if isinstance(store.location, Path):
        return str(exc).replace(str(store.location.parent) + os.sep, "")
    if str(store.location) in str(exc):  # of the database (unreachable, the twin gone)
        return "the twin's database cannot answer now; try again later"
    return str(exc)  # of the query (over its time)


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    p = Problem(status, detail, headers=headers)
    return JSONResponse(
        p.body(), status_code=status, headers=p.headers, media_type="application/problem+json"
    )


class Guard:
    """ASGI middleware: who is calling, from where, and through which URL; limits first;
    and the answer to anything unexpected.

    Before any route runs it refuses oversized requests, blocked addresses (failed logins,
    :class:`~twin.api.security.LoginGuard`) and callers over their rate, authenticates the
    caller and sets ``request.state.principal`` and ``request.state.base_url``.

    The base URL of every link is the configured ``public_url``, else the address the
    connection was accepted on: never the ``Host`` header, which any client sets at will.
    ``X-Forwarded-For``, ``-Proto``, ``-Host`` and ``-Prefix`` count only when the connection
    comes from a configured trusted proxy (uvicorn's own proxy handling is off, since it
    trusts loopback by default and would hide the proxy's address from this check).

    A plain ASGI middleware (not Starlette's ``BaseHTTPMiddleware``, which wraps every
    response in a stream and a task group): its results go to ``scope["state"]``, where
    ``request.state`` finds them.
    """

    def __init__(
        self,
        app: Any,
        *,
        config: ApiConfig,
        limiter: RateLimiter,
        logins: LoginGuard,
    ):
        self.app, self.config, self.limiter, self.logins = app, config, limiter, logins
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in config.trusted_proxies]

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.proxies)

    def _origin(self, scope: dict, request: Request) -> tuple[str, str]:
        """The client address and the base URL of a request."""
        peer = scope["client"][0] if scope.get("client") else "unknown"
        scheme = scope.get("scheme", "http")
        host, port = scope.get("server") or ("localhost", None)
        netloc = f"[{host}]" if ":" in host else host
        if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
            netloc = f"{netloc}:{port}"
        prefix = scope.get("root_path", "")
        client = peer
        if self.proxies and self._trusted(peer):
            headers = request.headers
            # the nearest address that is not one of our proxies is the client
            hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
            while hops and self._trusted(hops[-1]):
                hops.pop()
            client = hops[-1] if hops else peer
            scheme = headers.get("x-forwarded-proto", scheme).split(",")[0].strip() or scheme
            netloc = headers.get("x-forwarded-host", netloc).split(",")[0].strip() or netloc
            prefix = headers.get("x-forwarded-prefix", prefix).rstrip("/")
        base = self.config.public_url or f"{scheme}://{netloc}{prefix}".rstrip("/")
        return client, base

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        limit = self.config.max_body_bytes
        try:
            length = int(request.headers.get("content-length") or 0)
            if length > limit:
                raise Problem(413, f"request body over {limit} bytes")
            if len(scope.get("query_string", b"")) + len(scope.get("path", "")) > 8000:
                raise Problem(414, "request URL too long")
            client, base = self._origin(scope, request)
            credentials = has_credentials(request.headers)
            if credentials:
                self.logins.check(client)
            try:
                who = authenticate(request.headers, client, self.config)
            except Problem as exc:
                if exc.status == 401:
                    self.logins.failed(client)
                raise
            self.limiter.check(who)
        except Problem as exc:
            await _problem(exc.status, exc.detail, exc.headers)(scope, receive, send)
            return
        except ValueError:
            await _problem(400, "invalid Content-Length")(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"], state["base_url"] = who, base
        received, started = 0, False

        async def bounded_receive() -> dict[str, Any]:
            # A chunked body has no Content-Length to check above: count what arrives, and
            # stop the route reading it (413) as soon as it passes the limit.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise Problem(413, f"request body over {limit} bytes")
            return message

        async def watched_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, watched_send)
        except Exception:
            # Handled here rather than by an exception handler for Exception: Starlette
            # re-raises after such a handler answers, and uvicorn then drops the connection.
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if started:
                raise  # the status line is out: only closing the connection can tell
            await _problem(500, "internal error; the administrator can find it in the log")(
                scope, receive, send
            )


def create_app(twin_path: str | Path, *, config: ApiConfig | Path | None = None) -> FastAPI:
    """The web service of a twin.

    Parameters
    ----------
    twin_path
        The twin: its GeoPackage, or its PostgreSQL URL.
    config
        An :class:`ApiConfig`, the path of an ``api.toml``, or ``None`` for the defaults
        (public collections only, anonymous access).

    Raises
    ------
    StoreError
        When the twin cannot be read.
    ConfigError
        When the config is invalid.
    """
    twin_path = location(twin_path)
    if not isinstance(config, ApiConfig):
        config = ApiConfig() if config is None else ApiConfig.load(config)
    store = open_store(twin_path, timeout=config.timeout)
    audit = AuditLog(config.audit_log) if config.audit_log else None
    service = FeatureService(store, config, DEFAULT_COLLECTIONS, audit=audit)
    default_title = twin_path.stem if isinstance(twin_path, Path) else "twin"
    title = str(store.metadata().get("name") or default_title)
    # Job status in files beside the twin (in the local cache of a database twin), so that
    # every worker process can answer for a job.
    jobs = JobRunner(folder=config.jobs or store.cache_path("jobs"))
    limiter = RateLimiter()
    logins = LoginGuard(
        burst=config.auth_failures,
        block_s=config.auth_block_s,
        block_max_s=config.auth_block_max_s,
        audit=audit,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        jobs.shutdown()

    app = FastAPI(title=title, openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)
    cache = config.tiles_cache or store.cache_path("3dtiles-cache")
    app.include_router(features_router(service, TilesetCache(store, cache)))  # items first
    app.include_router(core_router(service, title=title))
    app.include_router(processes_router(twin_path, config, service, jobs))

    app.add_middleware(Guard, config=config, limiter=limiter, logins=logins)

    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Accept", "Prefer"],
            expose_headers=["Content-Crs", "Location", "OGC-NumberMatched"],
        )

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return _problem(exc.status, exc.detail, exc.headers)

    @app.exception_handler(InputError)
    async def on_input(request: Request, exc: InputError) -> JSONResponse:
        return _problem(400, str(exc))

    @app.exception_handler(StoreError)
    async def on_store(request: Request, exc: StoreError) -> JSONResponse:
        # the twin is being replaced, unreadable for now, or a query ran over its time
        log.warning("the twin could not answer: %s", exc)
        return _problem(503, _store_problem(exc, store))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem(exc.status_code, str(exc.detail), exc.headers)  # 405: Allow

    return app


def app_from_env() -> FastAPI:
    """The app for ``twin serve``'s uvicorn workers: twin and config from the environment.

    ``TWIN_API_TWIN`` names the twin, ``TWIN_API_CONFIG`` the ``api.toml`` (may be empty).
    """
    config = os.environ.get("TWIN_API_CONFIG") or None
    return create_app(os.environ["TWIN_API_TWIN"], config=Path(config) if config else None)
