"""The OpenAPI 3.0 description of the service, served at ``/api``.

Collection paths are generic (``{collectionId}``): the document is the same for every caller
and names no collection, so it never reveals a restricted one.
"""

from __future__ import annotations

from typing import Any

from twin._version import __version__
from twin.api.service import ITEMS_PARAMS

OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"

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
        "type": "object",
        "required": ["title", "status"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
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
    "queryables": {"type": "object", "required": ["type", "properties"]},
    "sortables": {"type": "object", "required": ["type", "properties"]},
    "processList": {
        "type": "object",
        "required": ["processes", "links"],
        "properties": {
            "processes": {"type": "array", "items": {"type": "object"}},
            "links": _LINKS,
        },
    },
    "process": {"type": "object", "required": ["id", "version"]},
    "statusInfo": {
        "type": "object",
        "required": ["jobID", "status", "type"],
        "properties": {
            "jobID": {"type": "string"},
            "status": {"type": "string"},
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
    required: bool = False,
    explode: bool | None = None,
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }
    if explode is not None:
        p["style"], p["explode"] = "form", explode
    return p


_PARAMS = {
    "f": _param("f", {"type": "string", "enum": ["json", "html"]}, "Output format."),
    "fFeatures": _param(
        "f",
        {"type": "string", "enum": ["json", "html", "cityjson", "cityjsonseq"]},
        "Output format: GeoJSON, HTML, or the buildings as CityJSON 2.0 (cityjsonseq: one "
        "CityJSONFeature a line).",
    ),
    "tilePath": _param(
        "name",
        {"type": "string", "pattern": "^(tileset\\.json|tiles/[0-9]+\\.glb)$"},
        "tileset.json, or one of its content files (tiles/N.glb).",
        where="path",
    ),
    "collectionId": _param("collectionId", {"type": "string"}, "Collection id.", where="path"),
    "featureId": _param("featureId", {"type": "string"}, "Feature id.", where="path"),
    "processId": _param("processId", {"type": "string"}, "Process id.", where="path"),
    "jobId": _param("jobId", {"type": "string"}, "Job id.", where="path"),
    "bbox": _param(
        "bbox",
        {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
        "minx,miny,maxx,maxy in bbox-crs (CRS84 by default).",
        explode=False,
    ),
    "bbox-crs": _param("bbox-crs", {"type": "string", "format": "uri"}, "CRS of bbox."),
    "crs": _param("crs", {"type": "string", "format": "uri"}, "CRS of the response."),
    "limit": _param(
        "limit",
        {"type": "integer", "minimum": 1, "default": 10},
        "Features per page (clamped to the configured maximum).",
    ),
    "offset": _param("offset", {"type": "integer", "minimum": 0, "default": 0}, "Start."),
    "filter": _param("filter", {"type": "string"}, "CQL2 filter."),
    "filter-lang": _param(
        "filter-lang", {"type": "string", "enum": ["cql2-text", "cql2-json"]}, "Language of filter."
    ),
    "filter-crs": _param(
        "filter-crs", {"type": "string", "format": "uri"}, "CRS of geometries in filter."
    ),
    "sortby": _param("sortby", {"type": "string"}, "Comma-separated [+|-]property."),
    "properties": _param("properties", {"type": "string"}, "Comma-separated properties."),
    "lod": _param("lod", {"type": "string"}, "Level of detail of the geometry (0, 1.2)."),
}


#: the 3D encodings of features (buildings only)
CITYJSON_CONTENT = {
    "application/city+json": {"schema": {"type": "object"}},
    "application/city+json-seq": {"schema": {"type": "string"}},
}


def _responses(
    schema: str | None,
    media: str = "application/json",
    codes: tuple[int, ...] = (400,),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK"}
    if schema:
        ok["content"] = {
            media: {"schema": {"$ref": f"#/components/schemas/{schema}"}},
            "text/html": {"schema": {"type": "string"}},
            **(extra or {}),
        }
    problem = {
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/exception"}}
        }
    }
    out: dict[str, Any] = {"200": ok}
    for code in (*codes, 401, 429):
        out[str(code)] = {"description": "Error", **problem}
    out["default"] = {"description": "Error", **problem}
    return out


def _get(
    op: str,
    summary: str,
    params: list[str],
    schema: str | None,
    media: str = "application/json",
    codes: tuple[int, ...] = (400,),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "get": {
            "operationId": op,
            "summary": summary,
            "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in params],
            "responses": _responses(schema, media, codes, extra),
        }
    }


def openapi(base: str, /, *, title: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document for a service at ``base``."""
    items = ["collectionId", *sorted(ITEMS_PARAMS - {"f"}), "fFeatures"]
    paths = {
        "/": _get("getLandingPage", "Landing page", ["f"], "landingPage"),
        "/conformance": _get("getConformance", "Conformance classes", ["f"], "confClasses"),
        "/api": _get("getOpenAPI", "This document", [], None),
        "/collections": _get("getCollections", "Collections", ["f"], "collections"),
        "/collections/{collectionId}": _get(
            "describeCollection",
            "A collection",
            ["collectionId", "f"],
            "collection",
            codes=(400, 404),
        ),
        "/collections/{collectionId}/queryables": _get(
            "getQueryables",
            "Queryables",
            ["collectionId", "f"],
            "queryables",
            "application/schema+json",
            codes=(400, 404),
        ),
        "/collections/{collectionId}/sortables": _get(
            "getSortables",
            "Sortables: the properties sortby takes",
            ["collectionId", "f"],
            "sortables",
            "application/schema+json",
            codes=(400, 404),
        ),
        "/collections/{collectionId}/items": _get(
            "getFeatures",
            "Features",
            items,
            "featureCollectionGeoJSON",
            "application/geo+json",
            codes=(400, 404, 503),
            extra=CITYJSON_CONTENT,
        ),
        "/collections/{collectionId}/items/{featureId}": _get(
            "getFeature",
            "A feature",
            ["collectionId", "featureId", "fFeatures", "crs", "properties", "lod"],
            "featureGeoJSON",
            "application/geo+json",
            codes=(400, 404),
            extra=CITYJSON_CONTENT,
        ),
        "/collections/{collectionId}/3dtiles/{name}": {
            "get": {
                "operationId": "get3DTiles",
                "summary": "The buildings as 3D Tiles 1.1: tileset.json and its GLB content",
                "parameters": [
                    {"$ref": "#/components/parameters/collectionId"},
                    {"$ref": "#/components/parameters/tilePath"},
                ],
                "responses": {
                    **_responses(None, codes=(400, 404)),
                    "200": {
                        "description": "The tileset or a tile (ETag; 304 on If-None-Match)",
                        "content": {
                            "application/json": {"schema": {"type": "object"}},
                            "model/gltf-binary": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    "304": {"description": "Not modified"},
                },
            }
        },
        "/processes": _get("getProcesses", "Processes", ["f"], "processList"),
        "/processes/{processId}": _get(
            "getProcessDescription", "A process", ["processId", "f"], "process", codes=(400, 404)
        ),
        "/processes/{processId}/execution": {
            "post": {
                "operationId": "execute",
                "summary": "Run a process (Prefer: respond-async for a job)",
                "parameters": [{"$ref": "#/components/parameters/processId"}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"inputs": {"type": "object"}},
                            }
                        }
                    },
                },
                "responses": {
                    **_responses(None, codes=(400, 404, 413, 415)),
                    "201": {
                        "description": "Job created",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/statusInfo"}
                            }
                        },
                    },
                },
            }
        },
        "/jobs/{jobId}": _get("getStatus", "Job status", ["jobId"], "statusInfo", codes=(400, 404)),
        "/jobs/{jobId}/results": _get(
            "getResult", "Job results", ["jobId"], None, codes=(400, 404)
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
            "parameters": _PARAMS,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
        "security": [{}, {"apiKey": []}, {"bearer": []}],
    }
