"""OGC API - Features for a twin, framework-free: parameters in, documents out.

Route functions hand the query parameters and the caller to :class:`FeatureService`; it
checks the parameters, asks the twin's :class:`~twin.store.base.Store` which features a page
holds, takes their texts from the twin's shared feature texts
(:mod:`twin.api.feature_texts`) or from what it has written already
(:class:`~twin.api.geojson.FeatureCache`), reads and writes the others
(:mod:`twin.api.geojson`) and puts the page together. Collections
a caller may not read do not exist for that caller.

Before each request the service compares the store's change token with the one it served
last: a rebuilt or edited twin is read anew (its layers, their LoDs) and what was written from
the old one is dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any
from urllib.parse import quote_plus, urlencode

import numpy as np
import orjson
import shapely

from twin.api import cql, geojson
from twin.api.citymodel import CITY_MEDIA, CITYJSON, CITYJSONSEQ, page_model
from twin.api.collections import CollectionSpec
from twin.api.config import ApiConfig
from twin.api.crsuri import CRS84, CRSRegistry, OutputCRS
from twin.api.feature_texts import CHUNK, SharedTexts
from twin.api.geojson import FeatureCache
from twin.api.problems import Problem, not_found
from twin.api.security import AuditLog, Principal
from twin.api.tiles import TILESET
from twin.errors import StoreError
from twin.model import CityModel
from twin.store.base import INTEGERS, LayerInfo, Page, Selection, Store

ITEMS_PARAMS = frozenset(
    {
        "f",
        "bbox",
        "bbox-crs",
        "limit",
        "offset",
        "crs",
        "filter",
        "filter-lang",
        "filter-crs",
        "sortby",
        "properties",
        "lod",
    }
)
ITEM_PARAMS = frozenset({"f", "crs", "properties", "lod"})
FILTER_LANGS = ("cql2-text", "cql2-json")


@dataclass(frozen=True)
class Result:
    """A GeoJSON document (as UTF-8 text) with what the route needs for headers and HTML."""

    body: bytes
    content_crs: str
    number_returned: int
    number_matched: int | None


_INTEGER = re.compile(r"[+-]?[0-9]+")
_FEATURE_ID = re.compile(r"[0-9]{1,18}")


def _integer(raw: str, what: str) -> int:
    """``raw`` as a 64-bit integer: ASCII digits with an optional sign.

    :func:`int` also takes Unicode digits (``"٣"``), underscores and spaces, and
    numbers SQLite cannot bind; none of them is an integer in a URL.
    """
    if _INTEGER.fullmatch(raw) is None:
        raise Problem(400, f"{what} must be an integer, not {raw!r}")
    value = int(raw)
    if value not in INTEGERS:
        raise Problem(400, f"{what} {raw!r} is beyond the 64-bit integer range")
    return value


def _int(params: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    value = _integer(raw, name)
    if value < minimum:
        raise Problem(400, f"{name} must be at least {minimum}")
    return value


def _feature_id(spec: CollectionSpec, feature_id: str) -> int:
    """The fid named in a URL; 404 for anything but 1 to 18 ASCII digits (as for a missing
    feature: ``"²"`` and ``"٣"`` are digits to :meth:`str.isdigit`, not feature ids)."""
    if _FEATURE_ID.fullmatch(feature_id) is None:
        raise Problem(404, f"no feature {feature_id!r} in collection {spec.id!r}")
    return int(feature_id)


def _bbox(raw: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in raw.split(","))
    except ValueError:
        raise Problem(400, f"bbox {raw!r}: four or six comma-separated numbers") from None
    if len(values) not in (4, 6) or not all(math.isfinite(v) for v in values):
        raise Problem(400, f"bbox {raw!r}: four or six comma-separated finite numbers")
    half = len(values) // 2
    if any(values[i] > values[i + half] for i in range(half)):
        raise Problem(400, f"bbox {raw!r}: a lower corner is above the upper corner")
    return values


class FeatureService:
    """The Features API of one twin.

    Parameters
    ----------
    store
        The twin.
    config
        Limits and scopes.
    specs
        The collections to offer (those whose layer exists).
    audit
        Where access to restricted collections is recorded (``None``: not recorded).

    Features with all their properties in the storage CRS or CRS84 are read from
    :attr:`texts`, written once per twin version for all workers; other written features are
    kept in :attr:`cache` (``config.feature_cache_bytes``). Both follow the store's token.
    """

    def __init__(
        self,
        store: Store,
        config: ApiConfig,
        specs: tuple[CollectionSpec, ...],
        *,
        audit: AuditLog | None = None,
    ):
        self.store = store
        self.config = config
        self.audit = audit
        self.cache = FeatureCache(config.feature_cache_bytes)
        self.texts = SharedTexts(store.cache_path("geojson-cache"))
        self._defaults = {spec.id: spec for spec in specs}
        self._token = ""
        self._refresh()

    # -- collections -------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Read a changed twin anew (its layers, CRS and the LoDs its collections offer), and
        forget what was written from the old one."""
        token = self.store.token()
        if token == self._token:
            return
        layers = self.store.layers()
        specs = {}
        for spec in self._defaults.values():
            if layers.get(spec.layer) is None or layers[spec.layer].kind != "features":
                continue
            scope = self.config.collection_scopes.get(spec.id, spec.scope)
            lods = {
                k: v
                for k, v in spec.lods.items()
                if v in layers and self.store.aligned(spec.layer, v)
            }
            specs[spec.id] = replace(spec, scope=scope, lods=lods)
        self.layers: dict[str, LayerInfo] = layers
        self.specs: dict[str, CollectionSpec] = specs
        self.crs = CRSRegistry(self.store.crs)
        self.cache.clear()
        self.texts.reset(token)
        self._token = token

    def visible(self, principal: Principal, /) -> list[CollectionSpec]:
        """The collections the caller may know of."""
        return [s for s in self.specs.values() if principal.allows(s.scope)]

    def scope_of(self, collection_id: str, /) -> str | None:
        """The scope a caller needs to read ``collection_id``, also where the twin lacks the
        layer (a process that reads it needs the scope all the same)."""
        spec = self.specs.get(collection_id) or self._defaults.get(collection_id)
        if spec is None:
            return self.config.collection_scopes.get(collection_id)
        return self.config.collection_scopes.get(collection_id, spec.scope)

    def spec(
        self, collection_id: str, principal: Principal, /, *, action: str = "collection"
    ) -> CollectionSpec:
        """A collection the caller may read; 404 alike for missing and forbidden ones.

        A refusal of a restricted collection is audited as ``denied`` with ``action`` (the
        route: ``collection``, ``items``, ``queryables``...).
        """
        self._refresh()
        spec = self.specs.get(collection_id)
        if spec is None or spec.layer not in self.layers:
            raise not_found(collection_id)
        if not principal.allows(spec.scope):
            self.denied(principal, action, collection=collection_id)
            raise not_found(collection_id)
        return spec

    def denied(self, principal: Principal, action: str, /, **details: Any) -> None:
        """Audit a refused attempt on restricted data (``action``: what was asked)."""
        if self.audit is not None:
            self.audit.record(principal, "denied", request=action, **details)

    def accessed(
        self, spec: CollectionSpec, principal: Principal, action: str, /, **details: Any
    ) -> None:
        """Audit an access to ``spec`` when the collection is restricted."""
        if self.audit is not None and spec.scope is not None:
            self.audit.record(principal, action, collection=spec.id, **details)

    def _three_d(self, spec: CollectionSpec) -> bool:
        return self.layers[spec.layer].has_z or bool(spec.lods)

    def _columns(self, spec: CollectionSpec) -> dict[str, str]:
        columns = self.layers[spec.layer].columns
        return {k: v for k, v in columns.items() if k not in spec.exclude}

    def collection(self, spec: CollectionSpec, base: str, /) -> dict[str, Any]:
        """The collection document (Part 1 and Part 2 members)."""
        layer = self.layers[spec.layer]
        url = f"{base}/collections/{spec.id}"
        doc: dict[str, Any] = {
            "id": spec.id,
            "title": spec.title,
            "description": spec.description,
            "itemType": "feature",
            "crs": self.crs.uris(three_d=self._three_d(spec)),
            "storageCrs": self.crs.storage_uri,
            "links": [
                {"href": url, "rel": "self", "type": "application/json", "title": spec.title},
                {"href": f"{url}?f=html", "rel": "alternate", "type": "text/html"},
                {
                    "href": f"{url}/items",
                    "rel": "items",
                    "type": "application/geo+json",
                    "title": "Features",
                },
                {"href": f"{url}/items?f=html", "rel": "items", "type": "text/html"},
                {
                    "href": f"{url}/queryables",
                    "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                    "type": "application/schema+json",
                    "title": "Queryables",
                },
                {
                    "href": f"{url}/sortables",
                    "rel": "http://www.opengis.net/def/rel/ogc/1.0/sortables",
                    "type": "application/schema+json",
                    "title": "Sortables",
                },
            ],
        }
        if layer.bounds is not None:
            geo = self.crs.get(CRS84, allowed=[CRS84])
            box = geo.from_store(np.array([shapely.box(*layer.bounds)], dtype=object))[0]
            doc["extent"] = {"spatial": {"bbox": [list(shapely.bounds(box))], "crs": CRS84}}
        if spec.lods:
            doc["lods"] = ["0", *spec.lods]
        if spec.city_objects:
            tileset = f"{url}/3dtiles/tileset.json"
            doc["links"] += [
                {"href": f"{url}/items?f=cityjson", "rel": "items", "type": CITYJSON},
                {"href": f"{url}/items?f=cityjsonseq", "rel": "items", "type": CITYJSONSEQ},
                {"href": tileset, "rel": "items", "type": TILESET, "title": "3D Tiles 1.1"},
            ]
            # OGC API - 3D GeoVolumes (draft): the collection's 3D content
            doc["content"] = [
                {"href": tileset, "rel": "original", "type": TILESET, "title": "3D Tiles 1.1"}
            ]
        return doc

    def collections(self, principal: Principal, base: str, /) -> dict[str, Any]:
        """The ``/collections`` document with the collections the caller may see (the
        restricted ones among them audited, as their own documents are)."""
        self._refresh()
        visible = [s for s in self.visible(principal) if s.layer in self.layers]
        restricted = [s.id for s in visible if s.scope is not None]
        if restricted and self.audit is not None:
            self.audit.record(principal, "collections", collections=restricted)
        return {
            "links": [
                {"href": f"{base}/collections", "rel": "self", "type": "application/json"},
                {"href": f"{base}/collections?f=html", "rel": "alternate", "type": "text/html"},
            ],
            "crs": self.crs.uris(three_d=True),
            "collections": [self.collection(s, base) for s in visible],
        }

    def queryables(self, spec: CollectionSpec, base: str, /) -> dict[str, Any]:
        """The queryables of a collection as a JSON Schema (Part 3)."""
        layer = self.layers[spec.layer]
        props: dict[str, Any] = {
            name: {"title": name, "type": kind} for name, kind in self._columns(spec).items()
        }
        props["geometry"] = {
            "title": "geometry",
            "format": f"geometry-{layer.geometry_type.lower()}",
            "x-ogc-role": "primary-geometry",
        }
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{base}/collections/{spec.id}/queryables",
            "type": "object",
            "title": spec.title,
            "properties": props,
            "additionalProperties": True,
        }

    def sortables(self, spec: CollectionSpec, base: str, /) -> dict[str, Any]:
        """The properties ``sortby`` takes, as a JSON Schema (Part 5): the attribute columns
        (not the geometry)."""
        props = {name: {"title": name, "type": kind} for name, kind in self._columns(spec).items()}
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{base}/collections/{spec.id}/sortables",
            "type": "object",
            "title": spec.title,
            "properties": props,
            "additionalProperties": False,
        }

    # -- items -----------------------------------------------------------------------------

    def _selection(
        self,
        spec: CollectionSpec,
        params: Mapping[str, str],
        principal: Principal,
        *,
        allowed: frozenset[str],
    ) -> tuple[Selection, list[str], OutputCRS]:
        columns = self._columns(spec)
        unknown = sorted(set(params) - allowed - set(columns))
        if unknown:
            raise Problem(400, f"unknown query parameters {unknown}")
        crs_list = self.crs.uris(three_d=self._three_d(spec))
        out = self.crs.get(params.get("crs"), allowed=crs_list)
        sel = Selection(area=principal.area)
        lod = params.get("lod", "0")
        if lod != "0":
            if lod not in spec.lods:
                raise Problem(400, f"lod {lod!r}: collection {spec.id!r} has {['0', *spec.lods]}")
            sel.lod = spec.lods[lod]
        names = list(columns)
        if "properties" in params:
            names = [p for p in params["properties"].split(",") if p]
            bad = sorted(set(names) - set(columns))
            if bad:
                raise Problem(400, f"properties: unknown {bad}; known: {sorted(columns)}")
        if "bbox" in params:
            bbox_crs = self.crs.get(params.get("bbox-crs"), what="bbox-crs", allowed=crs_list)
            sel.bbox, sel.bbox_inner = bbox_crs.bbox_to_store(_bbox(params["bbox"]))
            area = float(shapely.area(sel.bbox))
            # not "area > max": a side beyond the float range times a side of 0 is NaN
            if not area <= self.config.max_bbox_area:
                size = "an unbounded area" if math.isnan(area) else f"{area / 1e6:.1f} km²"
                raise Problem(
                    400,
                    f"bbox covers {size}, more than the "
                    f"{self.config.max_bbox_area / 1e6:g} km² allowed",
                )
        elif "bbox-crs" in params:
            raise Problem(400, "bbox-crs without bbox")
        sel.equals = {
            k: _typed(v, columns[k], k)
            for k, v in params.items()
            if k in columns and k not in allowed
        }
        if "filter" in params:
            lang = params.get("filter-lang", "cql2-text")
            if lang not in FILTER_LANGS:
                raise Problem(400, f"filter-lang {lang!r}: use one of {list(FILTER_LANGS)}")
            fcrs = self.crs.get(params.get("filter-crs"), what="filter-crs", allowed=crs_list)
            # the store compiles it, refusing what is not among the columns (a 400)
            sel.filter = cql.parse(params["filter"], lang=lang)
            sel.filter_to_store = fcrs.to_store
        elif "filter-lang" in params or "filter-crs" in params:
            raise Problem(400, "filter-lang or filter-crs without filter")
        if "sortby" in params:
            for key in (k.strip() for k in params["sortby"].split(",") if k.strip()):
                name, asc = (key[1:], key[0] != "-") if key[0] in "+-" else (key, True)
                if name not in columns:
                    known = ", ".join(columns)
                    raise Problem(400, f"sortby: {name!r} is not sortable; sortables: {known}")
                sel.sortby.append((name, asc))
        return sel, names, out

    def _paged(
        self,
        spec: CollectionSpec,
        params: Mapping[str, str],
        principal: Principal,
        url: str,
        /,
        *,
        f: str | None = None,
    ) -> tuple[Page, Selection, list[str], OutputCRS, list[dict[str, str]]]:
        """A page of ``/items``: its features' ids, what to write of them, and its
        ``self``/``alternate``/``next``/``prev`` links."""
        sel, names, out = self._selection(spec, params, principal, allowed=ITEMS_PARAMS)
        limit = min(
            _int(params, "limit", self.config.default_limit, minimum=1), self.config.max_limit
        )
        offset = _int(params, "offset", 0, minimum=0)
        page = self.store.page(spec.layer, sel, limit=limit, offset=offset)
        n = len(page.ids)
        media = CITY_MEDIA.get(f, "application/geo+json")
        keep = {"f": f} if f else {}
        here = {k: params[k] for k in ("offset", "limit") if k in params}
        link = _linker(url, params)
        links = [
            link({**here, **keep}, "self", media),
            link({**here, "f": "html"}, "alternate", "text/html"),
        ]
        if offset + n < (page.number_matched or 0):
            links.append(link({"offset": offset + n, "limit": limit, **keep}, "next", media))
        if offset > 0:
            links.append(
                link({"offset": max(0, offset - limit), "limit": limit, **keep}, "prev", media)
            )
        self._audit(spec, principal, "items", params, n)
        return page, sel, names, out, links

    def _written(
        self,
        spec: CollectionSpec,
        sel: Selection,
        names: list[str],
        out: OutputCRS,
        ids: np.ndarray,
    ) -> list[bytes]:
        """The GeoJSON Features ``ids`` (those still in the twin), from the cache or read and
        written now (and kept)."""
        # one text, hashed once, rather than a tuple hashed again for every feature; with the
        # token, a feature written from an older twin is never served
        kind = orjson.dumps([self._token, spec.layer, sel.lod, out.uri, out.decimals, names])
        wanted = ids.tolist()
        stored = None
        if (
            sel.lod is None
            and out.uri in (CRS84, self.crs.storage_uri)
            and names == list(self._columns(spec))
        ):
            every = partial(self._every_feature, spec.layer, names, out, self._token)
            stored = self.texts.get(spec.layer, kind, every)
        texts = stored.get(wanted) if stored is not None else self.cache.get(kind, wanted)
        missing = [fid for fid, text in zip(wanted, texts, strict=True) if text is None]
        if not missing:
            return texts
        rows = self.store.features(spec.layer, sel, np.array(missing, dtype=np.int64), names=names)
        written = geojson.features(rows, out)
        fids = rows.ids.tolist()
        self.cache.put(kind, fids, written)
        new = dict(zip(fids, written, strict=True))
        return [
            new[fid] if text is None else text
            for fid, text in zip(wanted, texts, strict=True)
            if text is not None or fid in new
        ]

    def _every_feature(
        self, layer: str, names: list[str], out: OutputCRS, token: str
    ) -> Iterator[tuple[np.ndarray, list[bytes]]]:
        """The ids and GeoJSON texts of every feature of ``layer``, ids ascending, a chunk at
        a time (for the shared texts of the twin version ``token``)."""
        everything = Selection()
        ids = self.store.page(layer, everything, limit=2**62, count=False).ids
        for start in range(0, len(ids), CHUNK):
            rows = self.store.features(layer, everything, ids[start : start + CHUNK], names=names)
            yield rows.ids, geojson.features(rows, out)
        if self.store.token() != token:
            raise StoreError(f"{self.store.location} changed while its features were written")

    def items(
        self, spec: CollectionSpec, params: Mapping[str, str], principal: Principal, url: str, /
    ) -> Result:
        """The ``/items`` response: a GeoJSON FeatureCollection with paging links."""
        page, sel, names, out, links = self._paged(spec, params, principal, url)
        features = self._written(spec, sel, names, out, page.ids)
        n = len(features)
        head = orjson.dumps(
            {
                "type": "FeatureCollection",
                "numberMatched": page.number_matched,
                "numberReturned": n,
                "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
                "links": links,
            }
        )
        body = b"".join((head[:-1], b',"features":[', b",".join(features), b"]}"))
        return Result(body, out.uri, n, page.number_matched)

    def _city_spec(self, spec: CollectionSpec, params: Mapping[str, str]) -> None:
        if not spec.city_objects:
            raise Problem(400, f"collection {spec.id!r} has no CityJSON output")
        if params.get("crs", self.crs.storage_uri) != self.crs.storage_uri:
            raise Problem(400, f"CityJSON is served in the storage CRS {self.crs.storage_uri}")
        if "properties" in params or "lod" in params:
            raise Problem(400, "CityJSON has every attribute and LoD: drop properties and lod")

    def _city_model(self, fids: list[int]) -> CityModel:
        return page_model(self.store, fids)

    def _feature(self, spec: CollectionSpec, feature_id: str, sel: Selection) -> Page:
        """The page of one feature (no id when it does not exist or ``sel`` leaves it out)."""
        sel = replace(sel, fids=[_feature_id(spec, feature_id)])
        return self.store.page(spec.layer, sel, limit=1, count=False)

    def city_items(
        self,
        spec: CollectionSpec,
        params: Mapping[str, str],
        principal: Principal,
        url: str,
        /,
        *,
        f: str = "cityjson",
    ) -> tuple[CityModel, list[dict[str, str]], int | None]:
        """A page of ``/items`` as a city model, its links (to more pages in format ``f``,
        ``cityjson`` or ``cityjsonseq``) and the number of matching features."""
        self._city_spec(spec, params)
        page, _, _, _, links = self._paged(spec, params, principal, url, f=f)
        return self._city_model(page.ids.tolist()), links, page.number_matched

    def city_item(
        self,
        spec: CollectionSpec,
        feature_id: str,
        params: Mapping[str, str],
        principal: Principal,
        /,
    ) -> CityModel:
        """One feature as a city model (for CityJSON); 404 as :meth:`item`."""
        self._city_spec(spec, params)
        sel, _, _ = self._selection(spec, params, principal, allowed=ITEM_PARAMS)
        page = self._feature(spec, feature_id, sel)
        self._audit(spec, principal, "item", dict(params, id=feature_id), len(page.ids))
        if len(page.ids) == 0:
            raise Problem(404, f"no feature {feature_id!r} in collection {spec.id!r}")
        return self._city_model(page.ids.tolist())

    def item(
        self,
        spec: CollectionSpec,
        feature_id: str,
        params: Mapping[str, str],
        principal: Principal,
        url: str,
        /,
    ) -> Result:
        """One feature as GeoJSON; 404 when it does not exist or is outside the caller's area."""
        sel, names, out = self._selection(spec, params, principal, allowed=ITEM_PARAMS)
        page = self._feature(spec, feature_id, sel)
        features = self._written(spec, sel, names, out, page.ids)
        self._audit(spec, principal, "item", dict(params, id=feature_id), len(features))
        if not features:
            raise Problem(404, f"no feature {feature_id!r} in collection {spec.id!r}")
        base = url.rsplit("/items/", 1)[0]
        links = [
            {"href": url, "rel": "self", "type": "application/geo+json"},
            {"href": f"{url}?f=html", "rel": "alternate", "type": "text/html"},
            {"href": base, "rel": "collection", "type": "application/json"},
        ]
        body = b"".join((features[0][:-1], b',"links":', orjson.dumps(links), b"}"))
        return Result(body, out.uri, 1, None)

    def _audit(
        self,
        spec: CollectionSpec,
        principal: Principal,
        action: str,
        params: Mapping[str, str],
        count: int,
    ) -> None:
        self.accessed(
            spec,
            principal,
            action,
            count=count,
            bbox=params.get("bbox"),
            filter=params.get("filter"),
            query={k: v for k, v in params.items() if k not in ("bbox", "filter")},
        )


def _typed(value: str, kind: str, name: str) -> Any:
    if kind == "integer":
        return _integer(value, name)
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise Problem(400, f"{name} must be a finite number, not {value!r}")
        return number
    if kind == "boolean":
        return int(value.lower() in ("true", "1"))
    return value


#: :func:`~urllib.parse.quote_plus` with the values quoted last kept: the long CRS URIs and
#: the few values of ``f``, ``offset`` and ``limit`` come again and again (quoting them was
#: 20 of the 30 µs a page's links took)
_quoted = lru_cache(maxsize=1024)(quote_plus)


def _linker(url: str, params: Mapping[str, str]) -> Callable[..., dict[str, str]]:
    """A maker of links to ``url`` with the request's ``params`` but ``f``, ``offset`` and
    ``limit``, and the ones it is given: what they share is encoded once (quoting the long
    CRS URIs again for every link was most of the time the links took)."""
    rest = {k: v for k, v in params.items() if k not in ("f", "offset", "limit")}
    rest = urlencode(rest, quote_via=_quoted)

    def link(change: dict[str, Any], rel: str, kind: str) -> dict[str, str]:
        query = "&".join(q for q in (rest, urlencode(change, quote_via=_quoted)) if q)
        return {"href": f"{url}?{query}" if query else url, "rel": rel, "type": kind}

    return link
