"""Spatial answers of the planner API against a real server, each checked against geopandas,
shapely and pyproj working on the GeoPackage directly (never against the code under test)."""

from __future__ import annotations

import json

import geopandas as gpd
import httpx
import pyproj
import pytest
import shapely

from .test_api_server import serving

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
def api(sample_twin, tmp_path_factory):
    """``twin serve`` with the default config over the sample twin; its URL and log."""
    folder = tmp_path_factory.mktemp("spatial")
    with serving(sample_twin, folder) as url:
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
