"""Spatial answers of the planner API against a real server of the sample twin in each store
(the GeoPackage, and its copy in PostGIS), each checked against geopandas, shapely and pyproj
working on the GeoPackage directly (never against the code under test)."""

from __future__ import annotations

import json

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from tests.servers import serving
from twin.api import cql
from twin.api.problems import Problem

EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
GK = "http://www.opengis.net/def/crs/EPSG/0/31258"
WORLD = "POLYGON((-180 -90, 180 -90, 180 90, -180 90, -180 -90))"
AUSTRALIA = "POLYGON((120 -35, 150 -35, 150 -15, 120 -15, 120 -35))"
PREDICATES = {
    "S_INTERSECTS": "intersects",
    "S_DISJOINT": "disjoint",
    "S_WITHIN": "within",
    "S_CONTAINS": "contains",
    "S_TOUCHES": "touches",
    "S_CROSSES": "crosses",
    "S_OVERLAPS": "overlaps",
    "S_EQUALS": "geom_equals",
}


@pytest.fixture(scope="module")
def api(sample_store, sample_twin, tmp_path_factory):
    """``twin serve`` with the default config over the sample twin in each store; its URL,
    its log and the GeoPackage (for expected values)."""
    folder = tmp_path_factory.mktemp("spatial")
    with serving(sample_store, folder) as url:
        yield {"url": url, "log": folder / "server.log", "twin": sample_twin}


@pytest.fixture(scope="module")
def buildings(sample_twin) -> gpd.GeoDataFrame:
    """The buildings in CRS84 as geopandas (pyproj) transforms them, indexed by fid."""
    store = gpd.read_file(sample_twin, layer="buildings", fid_as_index=True)
    return store.to_crs("OGC:CRS84")


def _box(frame: gpd.GeoDataFrame, fractions: tuple[float, float, float, float]) -> tuple:
    """A box at ``fractions`` of the frame's bounds (x0, y0, x1, y1 in 0..1)."""
    x0, y0, x1, y1 = frame.total_bounds.tolist()
    fx0, fy0, fx1, fy1 = fractions
    return (
        x0 + fx0 * (x1 - x0),
        y0 + fy0 * (y1 - y0),
        x0 + fx1 * (x1 - x0),
        y0 + fy1 * (y1 - y0),
    )


def matched(api, collection: str = "buildings", **params: str) -> tuple[int, set[int]]:
    """``numberMatched`` and the ids of all matching features (one page of up to 1,000)."""
    r = httpx.get(
        f"{api['url']}/collections/{collection}/items",
        params={"limit": "1000", "properties": "", **params},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["numberReturned"] == len(doc["features"]) <= 1000
    ids = {f["id"] for f in doc["features"]}
    assert doc["numberMatched"] == len(ids)
    return doc["numberMatched"], ids


def refused(api, path: str, **params: str) -> str:
    """The detail of the 400 problem ``path`` answers; the server logged no traceback."""
    r = httpx.get(f"{api['url']}{path}", params=params, timeout=30)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in r.text
    assert "Traceback" not in api["log"].read_text()
    return r.json()["detail"]


def expected(frame: gpd.GeoDataFrame, predicate: str, literal: shapely.Geometry) -> set[int]:
    """The fids whose geometry (in the frame's CRS) satisfies ``predicate`` with ``literal``."""
    return set(frame.index[getattr(frame.geometry, predicate)(literal)].tolist())


def _json_filter(op: str, literal: dict) -> str:
    return json.dumps({"op": op.lower(), "args": [{"property": "geometry"}, literal]})


# -- 1. BBOX literals --------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["cql2-text", "cql2-json"])
@pytest.mark.parametrize("op", list(PREDICATES))
def test_bbox_literal_in_every_spatial_predicate(api, buildings, op, lang):
    region = _box(buildings, (0.2, 0.25, 0.6, 0.7))
    # a box of about 0.2 m inside one building: the only one that contains it
    inside = buildings.geometry.iloc[17].representative_point()
    tiny = (inside.x - 1e-6, inside.y - 1e-6, inside.x + 1e-6, inside.y + 1e-6)
    for box in (region, tiny):
        text = f"{op}(geometry, BBOX({', '.join(map(repr, box))}))"
        if lang == "cql2-json":
            text = _json_filter(op, {"bbox": list(box)})
        ids = matched(api, filter=text, **{"filter-lang": lang})[1]
        assert ids == expected(buildings, PREDICATES[op], shapely.box(*box)), text
    if op == "S_CONTAINS":
        assert ids == {buildings.index[17]}


def test_bbox_literal_forms(api, buildings):
    x0, y0, x1, y1 = _box(buildings, (0.1, 0.1, 0.5, 0.55))
    want = expected(buildings, "intersects", shapely.box(x0, y0, x1, y1))
    assert 0 < len(want) < len(buildings)
    forms = {
        "literal first": ({"filter": f"S_INTERSECTS(BBOX({x0},{y0},{x1},{y1}), geometry)"}),
        "lower case": ({"filter": f"s_intersects(geometry, bbox({x0},{y0},{x1},{y1}))"}),
        "six numbers": ({"filter": f"S_INTERSECTS(geometry, BBOX({x0},{y0},-10,{x1},{y1},900))"}),
        "json, six numbers": {
            "filter": _json_filter("s_intersects", {"bbox": [x0, y0, -10, x1, y1, 900]}),
            "filter-lang": "cql2-json",
        },
        "EPSG:4326, latitude first": {
            "filter": f"S_INTERSECTS(geometry, BBOX({y0},{x0},{y1},{x1}))",
            "filter-crs": EPSG4326,
        },
    }
    for name, params in forms.items():
        assert matched(api, **params)[1] == want, name
    # in the storage CRS (northing first) the BBOX is a plain rectangle
    store = gpd.read_file(api["twin"], layer="buildings", fid_as_index=True)
    e0, n0, e1, n1 = _box(store, (0.1, 0.1, 0.5, 0.55))
    in_gk = {"filter": f"S_INTERSECTS(geometry, BBOX({n0},{e0},{n1},{e1}))", "filter-crs": GK}
    assert matched(api, **in_gk)[1] == expected(store, "intersects", shapely.box(e0, n0, e1, n1))


@pytest.mark.parametrize(
    "params",
    [
        {"filter": "S_INTERSECTS(geometry, BBOX(14.3, 46.6, 14.4))"},
        {"filter": "S_INTERSECTS(geometry, BBOX(14.4, 46.6, 14.3, 46.7))"},
        {"filter": "S_INTERSECTS(geometry, BBOX(14.3, 'a', 14.4, 46.7))"},
        {"filter": "S_INTERSECTS(geometry, BBOX(14.3, 46.6, 14.4, 46.7, 1, 2, 3))"},
        {"filter": "S_INTERSECTS(geometry, BBOX(14.3, height, 14.4, 46.7))"},
        {
            "filter": _json_filter("s_intersects", {"bbox": [14.3, 46.6]}),
            "filter-lang": "cql2-json",
        },
        {
            "filter": _json_filter("s_intersects", {"bbox": [14.3, 46.6, "x", 46.7]}),
            "filter-lang": "cql2-json",
        },
        {"filter": "height > BBOX(14.3, 46.6, 14.4, 46.7)"},
    ],
)
def test_bad_bbox_literals_are_a_400(api, params):
    assert "filter" in refused(api, "/collections/buildings/items", **params)


# -- 2. geographic literals reaching outside the store CRS -------------------------------------


@pytest.mark.parametrize("lang", ["cql2-text", "cql2-json"])
def test_whole_world_and_far_away_literals(api, buildings, lang):
    world = shapely.from_wkt(WORLD)
    far = shapely.from_wkt(AUSTRALIA)
    for name, literal in {"world": world, "australia": far}.items():
        for op in ("S_INTERSECTS", "S_DISJOINT", "S_WITHIN", "S_CONTAINS"):
            text = f"{op}(geometry, {literal.wkt})"
            if lang == "cql2-json":
                text = _json_filter(op, json.loads(shapely.to_geojson(literal)))
            ids = matched(api, filter=text, **{"filter-lang": lang})[1]
            assert ids == expected(buildings, PREDICATES[op], literal), (name, op)
    assert matched(api, filter=f"S_INTERSECTS(geometry, {WORLD})")[0] == len(buildings)
    assert matched(api, filter=f"S_DISJOINT(geometry, {WORLD})")[0] == 0
    assert matched(api, filter="S_INTERSECTS(geometry, BBOX(-180, -90, 180, 90))")[0] == 200


def test_whole_world_latitude_first_and_other_layers(api, sample_twin):
    lat_first = "POLYGON((-90 -180, -90 180, 90 180, 90 -180, -90 -180))"
    for layer in ("buildings", "trees", "parcels", "surface_works"):
        total = len(gpd.read_file(sample_twin, layer=layer))
        params = {"filter": f"S_INTERSECTS(geometry, {lat_first})", "filter-crs": EPSG4326}
        assert matched(api, layer, **params)[0] == total, layer
        assert matched(api, layer, filter=f"S_DISJOINT(geometry, {WORLD})")[0] == 0, layer


def test_long_lonlat_edges_follow_their_curve(api, buildings):
    """A polygon with edges of a degree and more, straight in longitude/latitude: in the
    projected store CRS they are curves, tens of metres off the straight chord."""
    cx, cy = np.mean(buildings.total_bounds.reshape(2, 2), axis=0)
    # one edge runs 1.2 degrees across the district, skewed; the others are far away
    polygon = shapely.Polygon(
        [(cx - 0.9, cy - 0.6), (cx + 0.9, cy + 0.6), (cx + 0.9, cy - 1.0), (cx - 0.9, cy - 1.0)]
    )
    for op in ("S_INTERSECTS", "S_WITHIN", "S_DISJOINT"):
        want = expected(buildings, PREDICATES[op], polygon)
        assert 0 < len(want) < len(buildings)
        assert matched(api, filter=f"{op}(geometry, {polygon.wkt})")[1] == want, op
    # without densifying the edge, its chord in the store CRS would pick other buildings
    gk = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:31258", always_xy=True)
    chord = shapely.transform(polygon, lambda c: np.column_stack(gk.transform(*c.T)))
    store = gpd.read_file(api["twin"], layer="buildings", fid_as_index=True)
    assert expected(store, "intersects", chord) != expected(buildings, "intersects", polygon)


def test_point_literal_outside_the_area_matches_nothing(api, buildings):
    assert matched(api, filter="S_INTERSECTS(geometry, POINT(151.2 -33.9))")[0] == 0
    assert matched(api, filter="S_DISJOINT(geometry, POINT(151.2 -33.9))")[0] == len(buildings)


# -- 3. bbox parameter -------------------------------------------------------------------------

BOXES = [
    (0.0, 0.0, 0.5, 0.5),
    (0.1, 0.2, 0.45, 0.6),
    (0.3, 0.1, 0.8, 0.7),
    (0.5, 0.5, 1.0, 1.0),
    (0.25, 0.3, 0.75, 0.65),
    (0.6, 0.05, 0.95, 0.4),
    (-0.1, -0.1, 1.1, 1.1),
]


@pytest.mark.parametrize("fractions", BOXES)
def test_bbox_matches_geopandas_exactly(api, buildings, fractions):
    box = _box(buildings, fractions)
    want = expected(buildings, "intersects", shapely.box(*box))
    count, ids = matched(api, bbox=",".join(map(repr, box)))
    assert (count, ids) == (len(want), want)
    x0, y0, x1, y1 = box
    lat_first = {"bbox": f"{y0!r},{x0!r},{y1!r},{x1!r}", "bbox-crs": EPSG4326}
    assert matched(api, **lat_first) == (len(want), want)


def test_bbox_with_heights_and_in_the_store_crs(api, buildings):
    x0, y0, x1, y1 = _box(buildings, (0.1, 0.2, 0.45, 0.6))
    want = expected(buildings, "intersects", shapely.box(x0, y0, x1, y1))
    assert matched(api, bbox=f"{x0!r},{y0!r},-100,{x1!r},{y1!r},3000")[1] == want
    store = gpd.read_file(api["twin"], layer="buildings", fid_as_index=True)
    e0, n0, e1, n1 = _box(store, (0.1, 0.2, 0.45, 0.6))
    params = {"bbox": f"{n0},{e0},{n1},{e1}", "bbox-crs": GK}  # northing first
    assert matched(api, **params)[1] == expected(store, "intersects", shapely.box(e0, n0, e1, n1))


def test_bbox_outside_the_store_area_matches_nothing(api):
    assert matched(api, bbox="151.1,-33.95,151.2,-33.85")[0] == 0
    assert matched(api, filter="S_INTERSECTS(geometry, BBOX(151.1,-33.95,151.2,-33.85))")[0] == 0


def test_bbox_area_limit_uses_the_area_in_the_store_crs(api, buildings):
    """A box of 24.6 km2 whose transformed envelope covers 25.2 km2 is under the default
    25 km2; a larger one is refused."""
    x0, y0 = buildings.total_bounds[:2].tolist()
    box = shapely.box(x0, y0, x0 + 0.065, y0 + 0.0445)
    dense = gpd.GeoSeries([shapely.segmentize(box, 1e-4)], crs="OGC:CRS84")
    assert 24.4e6 < dense.to_crs("EPSG:31258").area.iloc[0] < 25e6
    gk = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:31258", always_xy=True)
    e0, n0, e1, n1 = gk.transform_bounds(*box.bounds, densify_pts=21)
    assert (e1 - e0) * (n1 - n0) > 25e6
    matched(api, bbox=",".join(map(repr, box.bounds)))
    big = shapely.box(x0, y0, x0 + 0.07, y0 + 0.05)
    detail = refused(api, "/collections/buildings/items", bbox=",".join(map(repr, big.bounds)))
    assert "km²" in detail


# -- 4. sortables ----------------------------------------------------------------------------


@pytest.mark.parametrize("collection", ["buildings", "parcels", "trees"])
def test_sortables_are_the_attribute_columns(api, sample_twin, collection):
    url = f"{api['url']}/collections/{collection}"
    r = httpx.get(f"{url}/sortables")
    assert r.status_code == 200 and r.headers["content-type"] == "application/schema+json"
    doc = r.json()
    assert doc["$id"] == f"{url}/sortables" and doc["type"] == "object"
    columns = set(gpd.read_file(sample_twin, layer=collection, rows=1).columns) - {"geometry"}
    owner = {"owner", "owners", "owner_name", "owner_address"}  # never served (docs/api.md)
    assert set(doc["properties"]) == columns - owner
    for name in doc["properties"]:
        r = httpx.get(f"{url}/items", params={"sortby": f"-{name}", "limit": "3"})
        assert r.status_code == 200, (name, r.text)
    for bad in ("geometry", "geom", "fid", *sorted(owner)[:1]):
        assert "sortby" in refused(api, f"/collections/{collection}/items", sortby=bad)
    html = httpx.get(f"{url}/sortables?f=html")
    assert html.headers["content-type"].startswith("text/html")
    links = {lnk["rel"]: lnk for lnk in httpx.get(url).json()["links"]}
    sortables = links["http://www.opengis.net/def/rel/ogc/1.0/sortables"]
    assert sortables["href"] == f"{url}/sortables"
    assert sortables["type"] == "application/schema+json"


def test_sortables_of_hidden_collections_and_in_openapi(api):
    hidden = httpx.get(f"{api['url']}/collections/utilities/sortables")
    missing = httpx.get(f"{api['url']}/collections/nope/sortables")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace("utilities", "X") == missing.json()["detail"].replace(
        "nope", "X"
    )
    paths = httpx.get(f"{api['url']}/api").json()["paths"]
    assert paths["/collections/{collectionId}/sortables"]["get"]["operationId"] == "getSortables"
    assert "unknown" in refused(api, "/collections/buildings/sortables", x="1")


def test_sorted_pages_follow_the_store(api, sample_twin):
    store = gpd.read_file(sample_twin, layer="trees", fid_as_index=True)
    # ties are broken by fid, ascending
    want = store.assign(id=store.index).sort_values(["height_m", "id"], ascending=[False, True])
    r = httpx.get(
        f"{api['url']}/collections/trees/items",
        params={"sortby": "-height_m", "limit": "1000", "properties": "height_m"},
    )
    assert [f["id"] for f in r.json()["features"]] == want.index.tolist()


# -- 5. robustness of CQL2 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"filter": "height > 9223372036854775808"},
        {"filter": "height < -9223372036854775809"},
        {"filter": "survey_points IN (1, 99999999999999999999)"},
        {"filter": "height BETWEEN 0 AND 18446744073709551616"},
        {
            "filter": '{"op": ">", "args": [{"property": "height"}, 9223372036854775808]}',
            "filter-lang": "cql2-json",
        },
    ],
)
def test_integers_beyond_64_bits_are_a_400(api, params):
    assert "64-bit" in refused(api, "/collections/buildings/items", **params)


def test_equality_parameter_beyond_64_bits_is_a_400(api):
    detail = refused(api, "/collections/buildings/items", survey_points="99999999999999999999")
    assert "64-bit" in detail


def test_the_largest_64_bit_integers_still_work(api, buildings):
    assert matched(api, filter="survey_points < 9223372036854775807")[0] == len(buildings)
    assert matched(api, filter="survey_points > -9223372036854775808")[0] == len(buildings)


@pytest.mark.parametrize("op", ["AND", "OR"])
def test_long_and_or_chains(api, sample_twin, op):
    store = gpd.read_file(sample_twin, layer="buildings")
    steps = [i / 10 for i in range(100)]
    text = f" {op} ".join(f"height > {s}" for s in steps)
    want = (store["height"] > (max(steps) if op == "AND" else min(steps))).sum()
    assert matched(api, filter=text)[0] == want
    args = [{"op": ">", "args": [{"property": "height"}, s]} for s in steps[:60]]
    as_json = json.dumps({"op": op.lower(), "args": args}, separators=(",", ":"))
    want = (store["height"] > (steps[59] if op == "AND" else 0)).sum()
    assert matched(api, filter=as_json, **{"filter-lang": "cql2-json"})[0] == want


def test_too_many_terms_is_a_400_naming_the_limit(api):
    text = "height IN (" + ",".join(map(str, range(600))) + ")"
    assert str(cql.MAX_TERMS) in refused(api, "/collections/buildings/items", filter=text)


def _nested(depth: int) -> str:
    """Groups nested ``depth`` deep, alternately OR and AND (no chain to flatten)."""
    text = "height > 0"
    for i in range(depth):
        text = f"(height > {i} {'OR' if i % 2 else 'AND'} {text})"
    return text


def _not_json(depth: int) -> str:
    """``depth`` NOTs around ``height > 1`` in CQL2 JSON (as text: too deep for ``json``)."""
    leaf = '{"op":">","args":[{"property":"height"},1]}'
    return '{"op":"not","args":[' * depth + leaf + "]}" * depth


def test_deep_filters_are_a_400_naming_the_limit(api, sample_twin):
    items = "/collections/buildings/items"
    assert str(cql.MAX_DEPTH) in refused(api, items, filter=_nested(cql.MAX_DEPTH + 5))
    json_lang = {"filter-lang": "cql2-json"}
    assert str(cql.MAX_DEPTH) in refused(api, items, filter=_not_json(cql.MAX_DEPTH), **json_lang)


def test_the_deepest_allowed_filters_run(api, sample_twin):
    """As deep as allowed, with spatial predicates at the bottom: the parser of each store
    (SQLite's, PostgreSQL's) copes."""
    height = gpd.read_file(sample_twin, layer="buildings")["height"]
    levels = cql.MAX_DEPTH - 3  # the predicate, its bbox and the bbox's numbers below
    deepest = _nested(levels).replace(
        "height > 0", "S_INTERSECTS(geometry, BBOX(-180, -90, 180, 90))"
    )
    want = pd.Series(True, index=height.index)  # every building intersects the world
    for i in range(levels):
        want = (height > i) | want if i % 2 else (height > i) & want
    assert matched(api, filter=deepest)[0] == want.sum()
    levels = cql.MAX_DEPTH - 2  # the comparison and its operands below the NOTs
    want = (height > 1) if levels % 2 == 0 else (height <= 1)
    nots = _not_json(levels)
    assert matched(api, filter=nots, **{"filter-lang": "cql2-json"})[0] == want.sum()


def test_absurdly_nested_filters_are_a_400_not_a_500(api):
    """As deep as fits in the 8,000 characters of a URL once percent-encoded."""
    items = "/collections/buildings/items"
    parens = "(" * 1200 + "height > 1" + ")" * 1200
    assert str(cql.MAX_NESTING) in refused(api, items, filter=parens)
    assert "filter" in refused(api, items, filter="NOT " * 1200 + "height > 1")
    json_lang = {"filter-lang": "cql2-json"}
    assert str(cql.MAX_NESTING) in refused(api, items, filter=_not_json(150), **json_lang)
    collection = "GEOMETRYCOLLECTION(" * 250 + "POINT(14 46)" + ")" * 250
    text = f"S_INTERSECTS(geometry, {collection})"
    assert str(cql.MAX_NESTING) in refused(api, items, filter=text)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("NOT " * 2000 + "height > 1", "cql2-text"),
        ("(" * 2000 + "height > 1" + ")" * 2000, "cql2-text"),
        ("(" * 100_000 + "height > 1" + ")" * 100_000, "cql2-text"),
        (
            "S_INTERSECTS(geometry, " + "GEOMETRYCOLLECTION(" * 2000 + "POINT(1 2)" + ")" * 2001,
            "cql2-text",
        ),
        (_not_json(2000), "cql2-json"),
        ("[" * 100_000 + "]" * 100_000, "cql2-json"),
        (" AND ".join(f"height > {i}" for i in range(2000)), "cql2-text"),
    ],
)
def test_huge_filters_are_refused_before_any_recursion(text, lang):
    with pytest.raises(Problem) as caught:
        cql.parse(text, lang=lang)
    assert caught.value.status == 400
