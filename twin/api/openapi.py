"""The OpenAPI 3.0 description of the service, served at ``/api``.

Collection paths are generic (``{collectionId}``): the document is the same for every caller
and names no collection, so it never reveals a restricted one. It states the constraints the
server enforces (parameter ranges, enums, patterns) and every status a route answers with;
what depends on the collection (its properties, its CRSs, its levels of detail, CQL2) is in
the descriptions and in each collection's own documents.
"""

from __future__ import annotations

from typing import Any

from twin._version import __version__
from twin.api.citymodel import CITYJSON, CITYJSONSEQ
from twin.api.service import ITEMS_PARAMS, FeatureService
from twin.store.base import INTEGERS

OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"
PROBLEM = "application/problem+json"
GEOJSON = "application/geo+json"

_LINK = {
    "type": "object",
    "required": ["href", "rel"],
    "properties": {
        "href": {"type": "string"},
        "rel": {"type": "string"},
        "type": {"type": "string"},
        "title": {"type": "string"},
    },
}
_LINKS = {"type": "array", "items": {"$ref": "#/components/schemas/link"}}
_FEATURE = {
    "type": "object",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"type": "integer"},
        "geometry": {"type": "object", "nullable": True},
        "properties": {"type": "object", "nullable": True},
        "links": _LINKS,
    },
}
_SCHEMAS: dict[str, Any] = {
    "link": _LINK,
    "exception": {
        "description": "An RFC 9457 problem document.",
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
        },
    },
    "landingPage": {
        "type": "object",
        "required": ["links"],
        "properties": {
            "title": {"type": "string"},
            "description": {"type": "string"},
            "links": _LINKS,
        },
    },
    "confClasses": {
        "type": "object",
        "required": ["conformsTo"],
        "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
    },
    "collection": {
        "type": "object",
        "required": ["id", "links"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "links": _LINKS,
            "crs": {"type": "array", "items": {"type": "string"}},
            "storageCrs": {"type": "string"},
            "itemType": {"type": "string"},
            "extent": {"type": "object"},
        },
    },
    "collections": {
        "type": "object",
        "required": ["links", "collections"],
        "properties": {
            "links": _LINKS,
            "crs": {"type": "array", "items": {"type": "string"}},
            "collections": {"type": "array", "items": {"$ref": "#/components/schemas/collection"}},
        },
    },
    "featureGeoJSON": _FEATURE,
    "featureCollectionGeoJSON": {
        "type": "object",
        "required": ["type", "features"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": {"$ref": "#/components/schemas/featureGeoJSON"}},
            "links": _LINKS,
            "timeStamp": {"type": "string", "format": "date-time"},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0},
        },
    },
    "queryables": {
        "type": "object",
        "required": ["$schema", "$id", "type", "properties"],
        "properties": {
            "$schema": {"type": "string"},
            "$id": {"type": "string"},
            "type": {"type": "string", "enum": ["object"]},
            "properties": {"type": "object"},
        },
    },
    "processSummary": {
        "type": "object",
        "required": ["id", "version", "links"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "version": {"type": "string"},
            "jobControlOptions": {"type": "array", "items": {"type": "string"}},
            "links": _LINKS,
        },
    },
    "processList": {
        "type": "object",
        "required": ["processes", "links"],
        "properties": {
            "processes": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/processSummary"},
            },
            "links": _LINKS,
        },
    },
    "process": {
        "allOf": [
            {"$ref": "#/components/schemas/processSummary"},
            {
                "type": "object",
                "required": ["inputs", "outputs"],
                "properties": {
                    "inputs": {"type": "object"},
                    "outputs": {"type": "object"},
                },
            },
        ]
    },
    "execute": {
        "description": "An execute request; each process describes its inputs at "
        "/processes/{processId} (an input outside its schema is a 400).",
        "type": "object",
        "properties": {"inputs": {"type": "object"}},
    },
    "jobList": {
        "type": "object",
        "required": ["jobs", "links"],
        "properties": {
            "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/statusInfo"}},
            "links": _LINKS,
        },
    },
    "statusInfo": {
        "type": "object",
        "required": ["jobID", "status", "type"],
        "properties": {
            "jobID": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["accepted", "running", "successful", "failed", "dismissed"],
            },
            "type": {"type": "string", "enum": ["process"]},
        },
    },
}


def _param(
    name: str,
    schema: dict[str, Any],
    description: str,
    *,
    where: str = "query",
    explode: bool | None = None,
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": description,
    }
    if explode is not None:
        p["style"], p["explode"] = "form", explode
    return p


def _format(*formats: str) -> dict[str, Any]:
    return _param(
        "f",
        {"type": "string", "enum": list(formats)},
        "Output format (instead of the Accept header; JSON when neither names one).",
    )


def _parameters(service: FeatureService) -> dict[str, Any]:
    """The parameters; ranges and enums from the service's limits, CRSs and LoDs."""
    config = service.config
    crs_uris = service.crs.uris(three_d=True)
    crs = {"type": "string", "format": "uri", "enum": crs_uris}
    lods = sorted({"0", *(lod for spec in service.specs.values() for lod in spec.lods)})
    return {
        "f": _format("json", "html"),
        "fFeatures": _format("json", "html", "cityjson", "cityjsonseq"),
        "tilePath": _param(
            "name",
            {"type": "string", "pattern": "^(tileset\\.json|tiles/[0-9]{1,9}\\.glb)$"},
            "tileset.json, or one of its content files (tiles/N.glb).",
            where="path",
        ),
        "collectionId": _param(
            "collectionId",
            {"type": "string"},
            "Collection id (GET /collections lists those the caller may see; any other is a 404).",
            where="path",
        ),
        "featureId": _param(
            "featureId",
            {"type": "string", "pattern": "^[0-9]{1,18}$"},
            "Feature id: the GeoPackage fid, in ASCII digits (anything else is a 404).",
            where="path",
        ),
        "processId": _param("processId", {"type": "string"}, "Process id.", where="path"),
        "prefer": {
            **_param(
                "Prefer",
                {"type": "string"},
                "respond-async runs the process as a job (201 with its Location); without it "
                "(or with other preferences, which are ignored) the response is the result.",
                where="header",
            ),
            "example": "respond-async",
        },
        "jobId": _param("jobId", {"type": "string"}, "Job id.", where="path"),
        "bbox": _param(
            "bbox",
            {
                "type": "array",
                "oneOf": [{"minItems": 4, "maxItems": 4}, {"minItems": 6, "maxItems": 6}],
                "items": {"type": "number"},
            },
            "minx,miny,maxx,maxy (or with minz and maxz: 6 numbers) in bbox-crs (CRS84 by "
            "default), lower corner first; at most "
            f"{config.max_bbox_area / 1e6:g} km², inside the area of use of bbox-crs.",
            explode=False,
        ),
        "bbox-crs": _param(
            "bbox-crs",
            crs,
            "CRS of bbox; one of the collection's crs (CRS84h for 3D collections only).",
        ),
        "crs": _param(
            "crs",
            crs,
            "CRS of the response; one of the collection's crs (CRS84h for 3D collections "
            "only). The Content-Crs header names it.",
        ),
        "limit": _param(
            "limit",
            {
                "type": "integer",
                "minimum": 1,
                "maximum": config.max_limit,
                "default": config.default_limit,
            },
            f"Features per page. A larger limit is not an error: it is clamped to "
            f"{config.max_limit}, as OGC API - Features requires.",
        ),
        "offset": _param(
            "offset",
            {"type": "integer", "minimum": 0, "maximum": INTEGERS[-1], "default": 0},
            "Features to skip (paging; the next and prev links carry it).",
        ),
        "filter": _param(
            "filter",
            {"type": "string", "minLength": 1},
            "CQL2 filter (basic CQL2 and spatial functions) on the queryables of the "
            "collection; an invalid filter is a 400.",
        ),
        "filter-lang": _param(
            "filter-lang",
            {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"},
            "Language of filter (only with filter).",
        ),
        "filter-crs": _param(
            "filter-crs",
            crs,
            "CRS of geometries in filter (only with filter; CRS84 by default).",
        ),
        "sortby": _param(
            "sortby",
            {"type": "string"},
            "Comma-separated [+|-]property, properties of the collection's queryables.",
        ),
        "properties": _param(
            "properties",
            {"type": "string"},
            "Comma-separated properties to return, of the collection's queryables.",
        ),
        "lod": _param(
            "lod",
            {"type": "string", "enum": lods, "default": "0"},
            "Level of detail of the geometry; the collection document lists the LoDs it has "
            "(lods), 0 is the footprint.",
        ),
    }


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": schema or {"type": "string"}}


_PROBLEM_CONTENT = {PROBLEM: {"schema": {"$ref": "#/components/schemas/exception"}}}
_ERRORS: dict[int, dict[str, Any]] = {
    400: {"description": "Bad request: an invalid or unknown parameter or input"},
    401: {
        "description": "An invalid API key or token",
        "headers": {"WWW-Authenticate": _header("The accepted credentials")},
    },
    404: {"description": "Not found (or not visible to the caller)"},
    405: {
        "description": "A method this path does not support",
        "headers": {"Allow": _header("The methods of the path")},
    },
    409: {
        "description": "The twin cannot answer this as it is (3D Tiles: its heights name no "
        "vertical datum, or one with no geoid model here)"
    },
    413: {"description": "The request body is over the configured limit"},
    414: {"description": "The URL is over 8000 bytes"},
    415: {"description": "The request body is not application/json"},
    429: {
        "description": "Rate limit exceeded",
        "headers": {"Retry-After": _header("Seconds to wait", {"type": "integer"})},
    },
    503: {"description": "The query ran over the configured time limit"},
}
#: statuses any route may answer with: from the middleware (credentials, rate, sizes) and
#: the router (method), and 400 for unknown query parameters
_COMMON = (400, 401, 405, 413, 414, 429)


def _responses(
    ok: dict[str, Any] | None, codes: tuple[int, ...] = (), *, status: str = "200"
) -> dict[str, Any]:
    out: dict[str, Any] = {status: {"description": "OK", **({"content": ok} if ok else {})}}
    for code in sorted({*_COMMON, *codes}):
        out[str(code)] = {**_ERRORS[code], "content": _PROBLEM_CONTENT}
    out["default"] = {"description": "Unexpected error", "content": _PROBLEM_CONTENT}
    return out


def _content(schema: str, media: str = "application/json", **extra: Any) -> dict[str, Any]:
    """A JSON document of ``schema`` as ``media``, and its HTML page."""
    return {
        media: {"schema": {"$ref": f"#/components/schemas/{schema}"}},
        "text/html": {"schema": {"type": "string"}},
        **extra,
    }


def _get(
    op: str,
    summary: str,
    params: list[str],
    content: dict[str, Any] | None,
    codes: tuple[int, ...] = (),
    headers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    responses = _responses(content, codes)
    if headers:
        responses["200"]["headers"] = headers
    return {
        "get": {
            "operationId": op,
            "summary": summary,
            "description": "HEAD answers the same status and headers, without a body.",
            "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in params],
            "responses": responses,
        }
    }


def _follow(op: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link: where ids in a response lead (clients and fuzzers follow them)."""
    return {"operationId": op, "parameters": parameters}


#: Content-Crs of a features response
_CONTENT_CRS = {
    "Content-Crs": _header("The CRS of the coordinates, as <URI>", {"pattern": "^<.+>$"})
}
#: the 3D encodings of features (buildings only)
_CITYJSON = {
    CITYJSON: {"schema": {"type": "object"}},
    CITYJSONSEQ: {"schema": {"type": "string"}},
}


def openapi(base: str, service: FeatureService, /, *, title: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of ``service`` at ``base``.

    Parameters
    ----------
    base
        The service root URL.
    service
        The features service: its limits, CRSs and levels of detail go into the parameters.
    title
        The service title.
    """
    items = ["collectionId", *sorted(ITEMS_PARAMS - {"f"}), "fFeatures"]
    paths = {
        "/": _get("getLandingPage", "Landing page", ["f"], _content("landingPage")),
        "/conformance": _get(
            "getConformance", "Conformance classes", ["f"], _content("confClasses")
        ),
        "/api": _get(
            "getOpenAPI",
            "This document",
            ["f"],
            {
                OPENAPI_MEDIA_TYPE: {"schema": {"type": "object"}},
                "text/html": {"schema": {"type": "string"}},
            },
        ),
        "/collections": _get(
            "getCollections",
            "Collections",
            ["f"],
            _content("collections"),
        ),
        "/collections/{collectionId}": _get(
            "describeCollection",
            "A collection",
            ["collectionId", "f"],
            _content("collection"),
            codes=(404,),
        ),
        "/collections/{collectionId}/queryables": _get(
            "getQueryables",
            "Queryables",
            ["collectionId", "f"],
            _content("queryables", "application/schema+json"),
            codes=(404,),
        ),
        "/collections/{collectionId}/sortables": _get(
            "getSortables",
            "Sortables: the properties sortby takes",
            ["collectionId", "f"],
            _content("queryables", "application/schema+json"),
            codes=(404,),
        ),
        "/collections/{collectionId}/items": _get(
            "getFeatures",
            "Features; any other query parameter that names a queryable selects features "
            "whose property equals its value",
            items,
            _content("featureCollectionGeoJSON", GEOJSON, **_CITYJSON),
            codes=(404, 503),
            headers=_CONTENT_CRS,
        ),
        "/collections/{collectionId}/items/{featureId}": _get(
            "getFeature",
            "A feature",
            ["collectionId", "featureId", "fFeatures", "crs", "properties", "lod"],
            _content("featureGeoJSON", GEOJSON, **{CITYJSON: _CITYJSON[CITYJSON]}),
            codes=(404, 503),
            headers=_CONTENT_CRS,
        ),
        "/collections/{collectionId}/3dtiles/{name}": {
            "get": {
                "operationId": "get3DTiles",
                "summary": "The buildings as 3D Tiles 1.1: tileset.json and its GLB content",
                "description": "HEAD answers the same status and headers, without a body.",
                "parameters": [
                    {"$ref": "#/components/parameters/collectionId"},
                    {"$ref": "#/components/parameters/tilePath"},
                ],
                "responses": {
                    **_responses(
                        {
                            "application/json": {"schema": {"type": "object"}},
                            "model/gltf-binary": {"schema": {"type": "string", "format": "binary"}},
                        },
                        codes=(404, 409),
                    ),
                    "304": {"description": "Not modified (If-None-Match names the ETag)"},
                },
            }
        },
        "/processes": _get(
            "getProcesses",
            "Processes",
            ["f"],
            _content("processList"),
        ),
        "/processes/{processId}": _get(
            "getProcessDescription",
            "A process",
            ["processId", "f"],
            _content("process"),
            codes=(404,),
        ),
        "/processes/{processId}/execution": {
            "post": {
                "operationId": "execute",
                "summary": "Run a process (Prefer: respond-async for a job)",
                "description": "The body is JSON without NaN or Infinity, with integers of "
                "64 bits at most and nesting of 32 levels at most, no larger than the "
                "configured body limit (413, whatever the framing).",
                "parameters": [
                    {"$ref": "#/components/parameters/processId"},
                    {"$ref": "#/components/parameters/prefer"},
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/execute"}}
                    },
                },
                "responses": {
                    **_responses({"application/json": {"schema": {"type": "object"}}}, (404, 415)),
                    "201": {
                        "description": "Job created",
                        "headers": {
                            "Location": _header("The job's URL"),
                            "Preference-Applied": _header(
                                "respond-async", {"type": "string", "enum": ["respond-async"]}
                            ),
                        },
                        "links": {
                            op: _follow(op, jobId="$response.body#/jobID")
                            for op in ("getStatus", "getResult")
                        },
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/statusInfo"}
                            }
                        },
                    },
                },
            }
        },
        "/jobs": _get(
            "getJobs",
            "The caller's own jobs, newest first",
            ["f"],
            _content("jobList"),
        ),
        "/jobs/{jobId}": _get(
            "getStatus",
            "Job status",
            ["jobId", "f"],
            _content("statusInfo"),
            codes=(400, 404),
        ),
        "/jobs/{jobId}/results": _get(
            "getResult",
            "Job results",
            ["jobId", "f"],
            {
                "application/json": {"schema": {"type": "object"}},
                "text/html": {"schema": {"type": "string"}},
            },
            codes=(400, 404),
        ),
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": title,
            "version": __version__,
            "description": (
                "OGC API - Features (Parts 1-3, and sortables of Part 5) and Processes for a "
                "city twin."
            ),
        },
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "parameters": _parameters(service),
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
        "security": [{}, {"apiKey": []}, {"bearer": []}],
    }
