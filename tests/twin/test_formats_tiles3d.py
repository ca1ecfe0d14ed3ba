"""3D Tiles 1.1 export: official schemas, structural checks, the glTF validator, heights."""

from __future__ import annotations

import itertools
import json
import struct
from functools import cache
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from scipy.spatial import cKDTree

import twin
import twin.formats
from tests.conftest import DATA
from tests.formats_checks import SPEC
from tests.twin.test_formats_meshes import gltf_report
from twin.cli import main
from twin.errors import CRSError
from twin.formats import cityjson, tiles3d

TILES = SPEC / "3d-tiles-1.1"
BAG = DATA / "3dbag_cityjsonseq" / "9-444-728_sm.city.jsonl"


@cache
def registry() -> Registry:
    """Every 3D Tiles and glTF-extension schema under its file:// URI, with the aliases the
    spec README names (glTF core files, rootProperty for the extensions)."""
    resources = []
    for path in TILES.rglob("*.json"):
        contents = json.loads(path.read_text())
        resources.append((path.as_uri(), Resource(contents, specification=DRAFT202012)))
    core = TILES / "gltf" / "specification" / "2.0" / "schema"
    vendor = TILES / "gltf" / "extensions" / "2.0" / "Vendor"
    for folder in vendor.iterdir():
        for name in ("glTFProperty.schema.json", "glTFid.schema.json", "textureInfo.schema.json"):
            contents = json.loads((core / name).read_text())
            alias = (folder / "schema" / name).as_uri()
            resources.append((alias, Resource(contents, specification=DRAFT202012)))
    return Registry().with_resources(resources)


def errors(document: dict, schema: Path) -> list[str]:
    validator = Draft202012Validator({"$ref": schema.as_uri()}, registry=registry())
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(document)
    ]


def glb_json(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    magic, version, total = struct.unpack_from("<4sII", data)
    assert (magic, version, total) == (b"glTF", 2, len(data))
    length, _ = struct.unpack_from("<I4s", data, 12)
    document = json.loads(data[20 : 20 + length])
    return document, data[20 + length + 8 :]


def walk(tile: dict, parent: dict | None = None):
    yield tile, parent
    for child in tile.get("children", []):
        yield from walk(child, tile)


def check_tileset(folder: Path) -> dict:
    """Schema-validate ``tileset.json`` and check what a schema cannot."""
    tileset = json.loads((folder / "tileset.json").read_text())
    assert errors(tileset, TILES / "specification" / "schema" / "tileset.schema.json") == []
    assert tileset["asset"]["version"] == "1.1"
    assert tileset["root"]["refine"] in ("ADD", "REPLACE")
    assert tileset["geometricError"] > tileset["root"]["geometricError"] or (
        tileset["geometricError"] > 0 and "children" not in tileset["root"]
    )
    contents = []
    for tile, parent in walk(tileset["root"]):
        w, s, e, n, lo, hi = tile["boundingVolume"]["region"]
        assert -np.pi <= w <= e <= np.pi and -np.pi / 2 <= s <= n <= np.pi / 2  # radians
        assert lo <= hi
        if parent is not None:
            pw, ps, pe, pn, plo, phi = parent["boundingVolume"]["region"]
            assert pw <= w and ps <= s and e <= pe and n <= pn and plo <= lo and hi <= phi
            assert tile["geometricError"] < parent["geometricError"]
        if "content" in tile:
            assert (folder / tile["content"]["uri"]).exists()
            contents.append(tile)
        else:
            assert tile["children"]
    return {"tileset": tileset, "contents": contents}


def check_glb(path: Path, *, buildings: int | None = None) -> dict:
    """The glTF validator, the two extensions' schemas, and feature ids within the table."""
    report = gltf_report(path)
    assert report["numErrors"] == 0 and report["numWarnings"] == 0, report["messages"]
    document, blob = glb_json(path)
    vendor = TILES / "gltf" / "extensions" / "2.0" / "Vendor"
    metadata = document["extensions"]["EXT_structural_metadata"]
    assert (
        errors(
            metadata,
            vendor / "EXT_structural_metadata/schema/glTF.EXT_structural_metadata.schema.json",
        )
        == []
    )
    primitive = document["meshes"][0]["primitives"][0]
    features = primitive["extensions"]["EXT_mesh_features"]
    schema = vendor / "EXT_mesh_features/schema/mesh.primitive.EXT_mesh_features.schema.json"
    assert errors(features, schema) == []
    table = metadata["propertyTables"][0]
    count = features["featureIds"][0]["featureCount"]
    assert table["count"] == count
    if buildings is not None:
        assert count == buildings
    accessor = document["accessors"][primitive["attributes"]["_FEATURE_ID_0"]]
    view = document["bufferViews"][accessor["bufferView"]]
    ids = np.frombuffer(blob, "<f4", accessor["count"], view["byteOffset"])
    assert ids.min() == 0 and ids.max() == count - 1 and np.all(ids == np.round(ids))
    strings = table["properties"]["building_id"]
    offsets_view = document["bufferViews"][strings["stringOffsets"]]
    offsets = np.frombuffer(blob, "<u4", count + 1, offsets_view["byteOffset"])
    values_view = document["bufferViews"][strings["values"]]
    text = blob[values_view["byteOffset"] : values_view["byteOffset"] + int(offsets[-1])]
    names = [text[a:b].decode() for a, b in itertools.pairwise(offsets)]
    return {"document": document, "names": names}


def test_sample_tileset_is_valid_and_in_place(sample_twin, tmp_path):
    model = twin.open(sample_twin)
    report = tiles3d.write_tileset(model, tmp_path / "tiles", max_features=40)
    assert report["geoid_applied"] and "GHA height" in report["heights"]
    checked = check_tileset(tmp_path / "tiles")
    buildings = model.layers["lod12"].geometry.notna().sum()
    assert report["buildings"] == buildings and report["tiles"] == len(checked["contents"])
    assert len(checked["contents"]) > 4  # a real quadtree
    names = []
    for tile in checked["contents"]:
        names += check_glb(tmp_path / "tiles" / tile["content"]["uri"])["names"]
        assert tile["geometricError"] == 0
    assert sorted(names) == sorted(model.layers["lod12"].dropna(subset="geometry")["building_id"])
    # Placement: a building's ground, put into ECEF the tile's way, is where PROJ puts it.
    tileset = checked["tileset"]
    assert tileset["metadata"]["properties"]["geoid_applied"] is True
    w, s, e, n, lo, _ = tileset["root"]["boundingVolume"]["region"]
    lon, lat = np.degrees([(w + e) / 2, (s + n) / 2])
    assert 14.2 < lon < 14.4 and 46.6 < lat < 46.7  # Klagenfurt
    ground = model.buildings["ground_z"].min()
    assert lo == pytest.approx(ground + 48.0, abs=2.0)  # GHA to ellipsoid is about +48 m here


def test_vertices_land_on_the_proj_ecef_position(tmp_path):
    model = cityjson.read(BAG)
    tiles3d.write_tileset(model, tmp_path / "bag", lod="2.2")
    checked = check_tileset(tmp_path / "bag")
    tile = checked["contents"][0]
    document, blob = glb_json(tmp_path / "bag" / tile["content"]["uri"])
    accessor = document["accessors"][0]
    view = document["bufferViews"][accessor["bufferView"]]
    local = np.frombuffer(blob, "<f4", 3 * accessor["count"], view["byteOffset"]).reshape(-1, 3)
    ecef = np.column_stack([local[:, 0], -local[:, 2], local[:, 1]]) + tile["transform"][12:15]
    to_ecef = pyproj.Transformer.from_crs("EPSG:7415", "EPSG:4978", always_xy=True)
    surfaces = model.layers["building_surfaces"]
    first = surfaces[surfaces["lod"] == "2.2"].geometry.iloc[0]
    x, y, z = np.asarray(first.exterior.coords[0])
    expected = np.asarray(to_ecef.transform(x, y, z))
    assert np.min(np.linalg.norm(ecef - expected, axis=1)) < 0.01  # 1 cm, float32 tile-local
    names = check_glb(tmp_path / "bag" / tile["content"]["uri"], buildings=2)["names"]
    assert names == ["NL.IMBAG.Pand.0363100012137139-0", "NL.IMBAG.Pand.0363100012105349-0"]


def test_cli_says_what_happened_to_heights(tmp_path):
    runner = CliRunner()
    store = tmp_path / "bag.gpkg"
    assert runner.invoke(main, ["import", str(BAG), "-o", str(store)]).exit_code == 0
    out = tmp_path / "tiles"
    result = runner.invoke(main, ["export", str(store), "-f", "3dtiles", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "NAP height" in result.output and "converted to ellipsoidal" in result.output


def tile_vertices(folder: Path) -> np.ndarray:
    """Every vertex of a tileset's GLB content in ECEF ``(n, 3)`` (float32 tile-local + the
    tile's translation, glTF y-up turned back to ECEF z-up)."""
    out = []
    for tile in check_tileset(folder)["contents"]:
        document, blob = glb_json(folder / tile["content"]["uri"])
        accessor = document["accessors"][0]
        view = document["bufferViews"][accessor["bufferView"]]
        n = 3 * accessor["count"]
        local = np.frombuffer(blob, "<f4", n, view["byteOffset"]).reshape(-1, 3)
        out.append(
            np.column_stack([local[:, 0], -local[:, 2], local[:, 1]]) + tile["transform"][12:15]
        )
    return np.concatenate(out)


def grid_value(path: Path, lon: float, lat: float) -> float:
    """A PROJ vertical-offset grid at a point, interpolated bilinearly between its nodes (the
    grids are 'AREA_OR_POINT=Point': GDAL puts each node at a cell centre)."""
    with rasterio.open(path) as grid:
        col, row = ~grid.transform @ (lon, lat)
        col, row = col - 0.5, row - 0.5
        c0, r0 = int(np.floor(col)), int(np.floor(row))
        (a, b), (c, d) = grid.read(1, window=((r0, r0 + 2), (c0, c0 + 2))).astype(float)
    fc, fr = col - c0, row - r0
    return a * (1 - fc) * (1 - fr) + b * fc * (1 - fr) + c * (1 - fc) * fr + d * fc * fr


def height_gap(ecef: np.ndarray, lon: float, lat: float, h: float) -> float:
    """How far (m) the ellipsoidal height of the tile vertex nearest to ``(lon, lat, h)``
    is from ``h``. The vertex may sit a few cm aside: a datum shift computed at the point's
    height (as the compound operation does) moves it from where a 2D one at h = 0 puts it."""
    expected = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True).transform(
        lon, lat, h
    )
    distance = np.linalg.norm(ecef - np.asarray(expected), axis=1)
    assert distance.min() < 0.1  # the same vertex
    nearest = ecef[np.argmin(distance)]
    to_geographic = pyproj.Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
    return abs(to_geographic.transform(*nearest)[2] - h)


PROJ_GRIDS = Path(twin.__file__).parent / "proj"
ZURICH = DATA / "zurich_cityjson" / "zurich_lod2_12.city.json"
BERLIN = DATA / "berlin_citygml" / "3900_5819.gml"
MOABIT = DATA / "berlin_citygml" / "Berlin_Moabit_1Bldg_v2.gml"


@pytest.mark.parametrize(
    ("source", "crs", "grid", "undulation"),
    [
        # Stated LHN95 (EPSG:5729), the height system whose grid is shipped. The Stadt Zürich
        # model itself is in LN02, whose grid is not (test_heights_without_a_geoid_model).
        (ZURICH, "EPSG:2056+5729", "ch_swisstopo_chgeo2004_ETRS89_LHN95.tif", (47.0, 48.0)),
        # The Berlin tile names EPSG:25833 only; stated DHHN2016, the grid is GCG2016.
        (BERLIN, "EPSG:25833+7837", "de_bkg_gcg2016.tif", (39.0, 40.0)),
    ],
)
def test_real_heights_move_by_the_geoid_grid_at_their_place(
    source, crs, grid, undulation, tmp_path
):
    """A real model imported with its heights' datum stated: each vertex of the tiles sits
    at its orthometric height plus the geoid grid's value there, read from the grid file."""
    model = twin.formats.read(source, crs=crs)
    assert model.crs.equals(pyproj.CRS(crs))
    report = tiles3d.write_tileset(model, tmp_path / "tiles")
    assert report["geoid_applied"] is True
    assert check_tileset(tmp_path / "tiles")["tileset"]["metadata"]["properties"]["geoid_applied"]
    got = tile_vertices(tmp_path / "tiles")
    surfaces = model.layers["building_surfaces"]
    ring = np.asarray(surfaces.geometry.iloc[0].exterior.coords)
    x, y, z = ring[0]
    # Expected, independently of the operation under test: ETRS89 longitude and latitude of
    # the point (horizontal only), the grid's offset there, h = H + N, then ECEF.
    lon, lat = pyproj.Transformer.from_crs(
        crs.split("+")[0], "EPSG:4258", always_xy=True
    ).transform(x, y)
    n = grid_value(PROJ_GRIDS / grid, lon, lat)
    assert undulation[0] < n < undulation[1]  # Zürich about 47.3 m, Berlin about 39.3 m
    assert height_gap(got, lon, lat, z + n) < 0.01  # 1 cm


@pytest.mark.parametrize(
    ("source", "crs", "named"),
    [
        (ZURICH, None, ["CH1903+ / LV95 names no vertical datum"]),
        # the Stadt Zürich model's own heights: LN02, whose geoid grid is not shipped
        (ZURICH, "EPSG:2056+5728", ["LN02 height", "ch_swisstopo_chgeo2004_ETRS89_LN02.tif"]),
        # the Moabit file names DHHN92 (EPSG:5783): PROJ relates no geoid model to it
        (MOABIT, None, ["DHHN92 height", "PROJ knows no geoid model"]),
    ],
)
def test_heights_without_a_geoid_model_are_refused_unless_asked(source, crs, named, tmp_path):
    model = twin.formats.read(source, crs=crs)
    with pytest.raises(CRSError) as refused:
        tiles3d.write_tileset(model, tmp_path / "tiles")
    message = str(refused.value)
    for words in [model.crs.name, *named, "--vertical-crs", "--no-geoid"]:
        assert words in message
    assert not (tmp_path / "tiles").exists()
    report = tiles3d.write_tileset(model, tmp_path / "tiles", no_geoid=True)
    assert report["geoid_applied"] is False and "unchanged" in report["heights"]
    tileset = check_tileset(tmp_path / "tiles")["tileset"]
    assert tileset["metadata"]["properties"]["geoid_applied"] is False
    # heights unchanged: the lowest tile height is the lowest vertex height of the model
    lowest = min(
        shapely.get_coordinates(g, include_z=True)[:, 2].min()
        for g in model.layers["building_surfaces"].geometry
    )
    assert tileset["root"]["boundingVolume"]["region"][4] == pytest.approx(lowest, abs=1e-6)


def test_cli_states_the_vertical_datum_or_writes_heights_as_asked(tmp_path):
    runner = CliRunner()
    store = tmp_path / "zurich.gpkg"
    assert runner.invoke(main, ["import", str(ZURICH), "-o", str(store)]).exit_code == 0
    export = ["export", str(store), "-f", "3dtiles", "-o"]
    refused = runner.invoke(main, [*export, str(tmp_path / "a")])
    assert refused.exit_code != 0 and "CH1903+ / LV95 names no vertical datum" in refused.output
    assert "Traceback" not in refused.output and not (tmp_path / "a").exists()
    stated = runner.invoke(main, [*export, str(tmp_path / "b"), "--vertical-crs", "EPSG:5729"])
    assert stated.exit_code == 0, stated.output
    assert "orthometric heights (LHN95 height) converted" in stated.output
    kept = runner.invoke(main, [*export, str(tmp_path / "c"), "--no-geoid"])
    assert kept.exit_code == 0, kept.output
    assert "used as ellipsoidal heights unchanged" in kept.output
    # the stated datum, and no geoid: 47.3 m apart (the grid's value at Zürich, as above)
    lo_b = json.loads((tmp_path / "b" / "tileset.json").read_text())["root"]
    lo_c = json.loads((tmp_path / "c" / "tileset.json").read_text())["root"]
    shift = lo_b["boundingVolume"]["region"][4] - lo_c["boundingVolume"]["region"][4]
    assert 47.0 < shift < 48.0
    # a twin whose CRS names its heights' datum takes no other
    sample = runner.invoke(
        main, ["import", str(ZURICH), "-o", str(tmp_path / "lhn.gpkg"), "--crs", "EPSG:2056+5729"]
    )
    assert sample.exit_code == 0 and "LHN95 height" in sample.output
    clash = runner.invoke(
        main,
        [
            "export",
            str(tmp_path / "lhn.gpkg"),
            "-f",
            "3dtiles",
            "-o",
            str(tmp_path / "d"),
            "--vertical-crs",
            "EPSG:5728",
        ],
    )
    assert clash.exit_code != 0 and "(LHN95 height), not LN02 height" in clash.output
    wrong = runner.invoke(
        main, ["export", str(store), "-f", "cityjson", "-o", str(tmp_path / "e.json"), "--no-geoid"]
    )
    assert wrong.exit_code == 2 and "--no-geoid is for -f 3dtiles only" in wrong.output


def test_sample_heights_survive_cityjson_and_import(sample_twin, tmp_path):
    """Twin (GHA) -> CityJSON -> twin -> 3D Tiles: the CityJSON names GHA beside the
    horizontal CRS, the re-imported twin keeps it, and its tiles' vertices are the original
    twin's tiles' vertices within 1 cm, geoid applied."""
    original = twin.open(sample_twin)
    first = tiles3d.write_tileset(original, tmp_path / "first", max_features=40)
    path = cityjson.write(original, tmp_path / "sample.city.json")
    metadata = json.loads(path.read_text())["metadata"]
    assert metadata["referenceSystem"] == "https://www.opengis.net/def/crs/EPSG/0/31258"
    assert metadata["verticalReferenceSystem"] == "https://www.opengis.net/def/crs/EPSG/0/5778"
    store = tmp_path / "again.gpkg"
    result = CliRunner().invoke(main, ["import", str(path), "-o", str(store)])
    assert result.exit_code == 0 and "MGI / Austria GK M31 + GHA height" in result.output
    again = twin.open(store)
    assert again.crs.equals(original.crs)
    second = tiles3d.write_tileset(again, tmp_path / "second", max_features=40)
    assert first["geoid_applied"] and second["geoid_applied"]
    a, b = tile_vertices(tmp_path / "first"), tile_vertices(tmp_path / "second")
    assert len(a) == len(b)
    gap, _ = cKDTree(a).query(b)  # each vertex of the second tiles to its nearest in the first
    assert gap.max() < 0.01
    # and a known vertex: a building's ground at its GHA height plus the BEV grid's offset
    ground = again.layers["building_surfaces"]
    ring = np.asarray(ground.geometry.iloc[0].exterior.coords)
    x, y, z = ring[0]
    lon, lat = pyproj.Transformer.from_crs("EPSG:31258", "EPSG:4258", always_xy=True).transform(
        x, y
    )
    n = grid_value(PROJ_GRIDS / "at_bev_GV_Hoehengrid_plus_Geoid_V2.tif", lon, lat)
    assert height_gap(b, lon, lat, z + n) < 0.01
