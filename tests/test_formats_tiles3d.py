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
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import twin
from tests.formats_checks import SPEC
from tests.test_formats_meshes import gltf_report
from twin.cli import main
from twin.formats import cityjson, tiles3d

TILES = SPEC / "3d-tiles-1.1"
BAG = Path(__file__).parent / "data" / "3dbag_cityjsonseq" / "9-444-728_sm.city.jsonl"


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
    zurich = cityjson.read(
        Path(__file__).parent / "data" / "zurich_cityjson" / "zurich_lod2_12.city.json"
    )
    assert "no vertical datum" in tiles3d.heights(zurich.crs).note
