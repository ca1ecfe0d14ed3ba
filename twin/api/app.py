"""The FastAPI application: thin routes over :class:`~twin.api.service.FeatureService`.

Routers are built by factories (titiler's pattern) so each can be mounted and tested alone;
the routes only read the request, call the service and pick the media type.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from twin.api import html
from twin.api.collections import DEFAULT_COLLECTIONS
from twin.api.config import ApiConfig
from twin.api.openapi import OPENAPI_MEDIA_TYPE, openapi
from twin.api.problems import Problem
from twin.api.security import AuditLog, Principal, RateLimiter, authenticate
from twin.api.service import FeatureService, Result
from twin.api.source import GeoPackageSource
from twin.errors import InputError
from twin.processes import JobRunner, processes

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


def principal(request: Request) -> Principal:
    """The caller of ``request`` (set by the app's middleware)."""
    return request.state.principal


def base_url(request: Request) -> str:
    """The service root URL, without a trailing slash."""
    return str(request.base_url).rstrip("/")


def wants_html(request: Request) -> bool:
    """``f=html``, or a browser's Accept header (text/html before any JSON)."""
    f = request.query_params.get("f")
    if f is not None:
        if f not in ("json", "html"):
            raise Problem(400, f"f={f!r}: use json or html")
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept.split("text/html")[0]


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
        return HTMLResponse(html.features(title, result.body), headers=headers)
    if result.number_matched is not None:
        headers["OGC-NumberMatched"] = str(result.number_matched)
    return Response(result.body, media_type=GEOJSON, headers=headers)


def core_router(service: FeatureService, *, title: str) -> APIRouter:
    """Landing page, conformance and the OpenAPI document."""
    router = APIRouter()

    @router.get("/")
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

    @router.get("/conformance")
    def conformance(request: Request) -> Response:
        only(request)
        return document(request, {"conformsTo": CONFORMANCE}, "Conformance")

    @router.get("/api")
    def api(request: Request) -> Response:
        only(request)
        doc = openapi(base_url(request), title=title)
        return Response(json.dumps(doc), media_type=OPENAPI_MEDIA_TYPE)

    return router


def features_router(service: FeatureService) -> APIRouter:
    """``/collections`` and everything below it."""
    router = APIRouter()

    @router.get("/collections")
    def collections(request: Request) -> Response:
        only(request)
        return document(
            request, service.collections(principal(request), base_url(request)), "Collections"
        )

    @router.get("/collections/{collection_id}")
    def collection(collection_id: str, request: Request) -> Response:
        only(request)
        spec = service.spec(collection_id, principal(request))
        return document(request, service.collection(spec, base_url(request)), spec.title)

    @router.get("/collections/{collection_id}/queryables")
    def queryables(collection_id: str, request: Request) -> Response:
        only(request)
        spec = service.spec(collection_id, principal(request))
        doc = service.queryables(spec, base_url(request))
        return document(request, doc, f"{spec.title}: queryables", media="application/schema+json")

    @router.get("/collections/{collection_id}/items")
    def items(collection_id: str, request: Request) -> Response:
        spec = service.spec(collection_id, principal(request))
        url = f"{base_url(request)}/collections/{collection_id}/items"
        result = service.items(spec, request.query_params, principal(request), url)
        return geojson(request, result, spec.title)

    @router.get("/collections/{collection_id}/items/{feature_id}")
    def item(collection_id: str, feature_id: str, request: Request) -> Response:
        spec = service.spec(collection_id, principal(request))
        url = f"{base_url(request)}/collections/{collection_id}/items/{feature_id}"
        result = service.item(spec, feature_id, request.query_params, principal(request), url)
        return geojson(request, result, f"{spec.title}: {feature_id}")

    return router


def processes_router(
    twin_path: Path, config: ApiConfig, jobs: JobRunner, audit: AuditLog | None
) -> APIRouter:
    """OGC API - Processes: list, describe, execute (sync or as a job), job status."""
    router = APIRouter()

    def visible(who: Principal) -> dict[str, Any]:
        return {
            pid: p
            for pid, p in processes().items()
            if who.allows(config.process_scopes.get(pid, p.scope))
        }

    def describe(p, base: str, *, full: bool) -> dict[str, Any]:
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

    def get_process(pid: str, who: Principal):
        found = visible(who).get(pid)
        if found is None:
            raise Problem(404, f"no process {pid!r}")
        return found

    @router.get("/processes")
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

    @router.get("/processes/{process_id}")
    def process_description(process_id: str, request: Request) -> Response:
        only(request)
        p = get_process(process_id, principal(request))
        return document(request, describe(p, base_url(request), full=True), p.title)

    @router.post("/processes/{process_id}/execution")
    async def execute(process_id: str, request: Request) -> Response:
        only(request)
        who = principal(request)
        p = get_process(process_id, who)
        if "json" not in request.headers.get("content-type", ""):
            raise Problem(415, "send the execute request as application/json")
        body = await request.body()
        if len(body) > config.max_body_bytes:
            raise Problem(413, f"request body over {config.max_body_bytes} bytes")
        try:
            inputs = json.loads(body or b"{}").get("inputs", {})
        except (ValueError, AttributeError):
            raise Problem(400, "the body must be a JSON object with 'inputs'") from None
        if audit is not None and config.process_scopes.get(p.id, p.scope):
            audit.record(who, "execute", process=p.id, inputs=inputs)
        if "respond-async" in request.headers.get("prefer", ""):
            job = jobs.submit(p, twin_path, inputs, owner=who.name, area=who.area)
            url = f"{base_url(request)}/jobs/{job.id}"
            return JSONResponse(
                _status(job, base_url(request)),
                status_code=201,
                headers={"Location": url, "Preference-Applied": "respond-async"},
            )
        from starlette.concurrency import run_in_threadpool

        result = await run_in_threadpool(p.run, twin_path, inputs, area=who.area)
        return JSONResponse(result)

    @router.get("/jobs/{job_id}")
    def job_status(job_id: str, request: Request) -> Response:
        only(request)
        job = jobs.get(job_id, owner=principal(request).name)
        if job is None:
            raise Problem(404, f"no job {job_id!r}")
        return JSONResponse(_status(job, base_url(request)))

    @router.get("/jobs/{job_id}/results")
    def job_results(job_id: str, request: Request) -> Response:
        only(request)
        job = jobs.get(job_id, owner=principal(request).name)
        if job is None:
            raise Problem(404, f"no job {job_id!r}")
        if job.status != "successful":
            raise Problem(404, f"job {job_id!r} has no results (status {job.status})")
        return JSONResponse(job.result)

    return router


def _status(job, base: str) -> dict[str, Any]:
    doc = {
        "jobID": job.id,
        "processID": job.process,
        "type": "process",
        "status": job.status,
        "created": job.created,
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


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    p = Problem(status, detail, headers=headers)
    return JSONResponse(
        p.body(), status_code=status, headers=p.headers, media_type="application/problem+json"
    )


def create_app(twin_path: str | Path, *, config: ApiConfig | Path | None = None) -> FastAPI:
    """The web service of a twin.

    Parameters
    ----------
    twin_path
        The twin's GeoPackage.
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
    twin_path = Path(twin_path)
    if not isinstance(config, ApiConfig):
        config = ApiConfig() if config is None else ApiConfig.load(config)
    source = GeoPackageSource(twin_path, timeout=config.timeout)
    audit = AuditLog(config.audit_log) if config.audit_log else None
    service = FeatureService(source, config, DEFAULT_COLLECTIONS, audit=audit)
    title = str(source.metadata.get("name") or twin_path.stem)
    jobs = JobRunner()
    limiter = RateLimiter()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        jobs.shutdown()

    app = FastAPI(title=title, openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.include_router(core_router(service, title=title))
    app.include_router(features_router(service))
    app.include_router(processes_router(twin_path, config, jobs, audit))

    @app.middleware("http")
    async def guard(request: Request, call_next):
        try:
            length = int(request.headers.get("content-length") or 0)
            if length > config.max_body_bytes:
                raise Problem(413, f"request body over {config.max_body_bytes} bytes")
            if len(str(request.url)) > 8192:
                raise Problem(414, "request URL too long")
            client = request.client.host if request.client else "unknown"
            who = authenticate(request.headers, client, config)
            limiter.check(who)
            request.state.principal = who
        except Problem as exc:
            return _problem(exc.status, exc.detail, exc.headers)
        except ValueError:
            return _problem(400, "invalid Content-Length")
        return await call_next(request)

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

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return _problem(500, "internal error; the administrator can find it in the log")

    return app


def app_from_env() -> FastAPI:
    """The app for ``twin serve``'s uvicorn workers: twin and config from the environment.

    ``TWIN_API_TWIN`` names the twin, ``TWIN_API_CONFIG`` the ``api.toml`` (may be empty).
    """
    config = os.environ.get("TWIN_API_CONFIG") or None
    return create_app(os.environ["TWIN_API_TWIN"], config=Path(config) if config else None)
