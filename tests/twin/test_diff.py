"""``twin diff``: two small twins whose differences were made by hand, every expected row
worked out below; the GeoJSON, the map, the command in a real process, a GeoPackage against
its PostGIS copy, the errors, and 20,000 generated buildings.

The twins lie near Klagenfurt's Neuer Platz (EPSG:31258 + GHA heights), ground at 445 m.
Each building is a box footprint (local metres from X0, Y0) with an LoD1.2 block from its
``ground_z`` to its ``lod1_z``; ``height`` = lod1_z - ground_z.

| id  | footprint (local)   | old                          | new                                  |
|-----|---------------------|------------------------------|--------------------------------------|
| B01 | 0,0 - 10,8   (80)   | residential, 9 m             | the same (*)                         |
| B02 | 20,0 - 32,10 (120)  | 6 m                          | gone                                 |
| B03 | 40,0 - 50,10 (100)  | 9 m (lod1_z 454)             | raised 3 m: 12 m, lod1_z 457, block  |
| B04 | 0,20 - 10,30 (100)  | 6 m                          | height 6.2 m only (0.2 m: under 0.5) |
| B05 | 20,20 - 30,28 (80)  | 8 m                          | moved 1 m east (footprint and block) |
| B06 | 40,20 - 48,30 (80)  | 6 m                          | block's roof 0.3 m higher only       |
| B07 | 0,40 - 12,50 (120)  | use residential, 9 m         | use office                           |
| B08 | 60,0 - 70,12 (120)  | -                            | new, 9 m                             |
| B09 | 40,40 - 50,50 (100) | storeys missing, 6 m         | the same (missing equals missing)    |
| B10 | 20,40 - 30,50 (100) | no ground height: no block   | ground 445, lod1_z 452, block        |

(*) its footprint's ring starts at another corner and runs the other way: the same footprint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import pytest
import shapely
from click.testing import CliRunner
from PIL import Image

from tests.conftest import ROOT
from twin.analysis.diff import diff
from twin.analysis.diffmap import COLOURS, UNCHANGED, draw_diff
from twin.cli import main
from twin.errors import InputError
from twin.model import CityModel
from twin.store import read, write

CRS = pyproj.CRS("EPSG:31258+5778")
X0, Y0 = 524600.0, 165500.0
NAN = float("nan")


def block(x0, y0, x1, y1, bottom, top) -> shapely.MultiPolygon:
    """A closed box solid (local metres): ground, four walls and roof, outward-facing."""
    x0, y0, x1, y1 = X0 + x0, Y0 + y0, X0 + x1, Y0 + y1
    c = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    ground = [(*p, bottom) for p in reversed(c)]
    roof = [(*p, top) for p in c]
    walls = [
        [(*c[k], bottom), (*c[(k + 1) % 4], bottom), (*c[(k + 1) % 4], top), (*c[k], top)]
        for k in range(4)
    ]
    return shapely.MultiPolygon([shapely.Polygon(r) for r in [ground, *walls, roof]])


def building(bid, box, *, use="residential", storeys=3.0, ground=445.0, top=None, height=None):
    """A row of ``buildings`` (dict) and its LoD1.2 solid (``None`` without a ground)."""
    top = ground + height if top is None else top
    height = top - ground if height is None else height
    x0, y0, x1, y1 = box
    row = {
        "building_id": bid,
        "use": use,
        "storeys": storeys,
        "ground_z": ground,
        "lod1_z": top,
        "height": height,
        "geometry": shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1),
    }
    solid = None if np.isnan(ground) else block(*box, ground, top)
    return row, solid


def twin_of(*rows, crs=CRS) -> CityModel:
    """A twin of ``buildings`` and ``lod12`` from :func:`building` pairs."""
    rows, solids = zip(*rows, strict=True)
    buildings = gpd.GeoDataFrame(list(rows), geometry="geometry", crs=crs)
    lod12 = gpd.GeoDataFrame(
        {"building_id": buildings["building_id"], "lod": "1.2"}, geometry=list(solids), crs=crs
    )
    return CityModel(crs=crs, layers={"buildings": buildings, "lod12": lod12})


def old_twin(crs=CRS) -> CityModel:
    return twin_of(
        building("B01", (0, 0, 10, 8), height=9.0),
        building("B02", (20, 0, 32, 10), height=6.0),
        building("B03", (40, 0, 50, 10), height=9.0),
        building("B04", (0, 20, 10, 30), height=6.0),
        building("B05", (20, 20, 30, 28), height=8.0),
        building("B06", (40, 20, 48, 30), height=6.0),
        building("B07", (0, 40, 12, 50), height=9.0),
        building("B09", (40, 40, 50, 50), storeys=NAN, height=6.0),
        building("B10", (20, 40, 30, 50), ground=NAN, top=NAN, height=7.0),
        crs=crs,
    )


def new_twin(crs=CRS) -> CityModel:
    b01, b01_solid = building("B01", (0, 0, 10, 8), height=9.0)
    b01["geometry"] = shapely.Polygon([(X0 + 10, Y0), (X0, Y0), (X0, Y0 + 8), (X0 + 10, Y0 + 8)])
    b06, _ = building("B06", (40, 20, 48, 30), height=6.0)
    return twin_of(
        building("B08", (60, 0, 70, 12), height=9.0),  # first: matched by id, not by row
        (b01, b01_solid),
        building("B03", (40, 0, 50, 10), height=12.0),
        building("B04", (0, 20, 10, 30), top=451.0, height=6.2),
        building("B05", (21, 20, 31, 28), height=8.0),
        (b06, block(40, 20, 48, 30, 445.0, 451.3)),
        building("B07", (0, 40, 12, 50), use="office", height=9.0),
        building("B09", (40, 40, 50, 50), storeys=NAN, height=6.0),
        building("B10", (20, 40, 30, 50), height=7.0),
        crs=crs,
    )


@pytest.fixture
def twins(tmp_path):
    """The two twins written to GeoPackages (old.gpkg, new.gpkg)."""
    return write(old_twin(), tmp_path / "old.gpkg"), write(new_twin(), tmp_path / "new.gpkg")


#: The rows expected, by building_id (sorted), worked out from the table above:
#: (change, changed, attributes, height old, new, change (m), area old, new (m²)).
#: B03 raised: 12 - 9 = +3 > 0.5; its lod1_z 454 -> 457 an attribute, its block 3 m higher.
#: B05 moved: the same 10 × 8 = 80 m², its block moved with it. B06: only the block's roof.
#: B10: ground_z and lod1_z appear (445, 452); a block where there was none.
EXPECTED = {
    "B02": ("removed", "", "", 6.0, NAN, NAN, 120.0, NAN),  # 12 × 10
    "B03": ("changed", "height, lod12, attributes", "lod1_z", 9.0, 12.0, 3.0, 100.0, 100.0),
    "B05": ("changed", "footprint, lod12", "", 8.0, 8.0, 0.0, 80.0, 80.0),
    "B06": ("changed", "lod12", "", 6.0, 6.0, 0.0, 80.0, 80.0),
    "B07": ("changed", "attributes", "use", 9.0, 9.0, 0.0, 120.0, 120.0),
    "B08": ("added", "", "", NAN, 9.0, NAN, NAN, 120.0),  # 10 × 12
    "B10": ("changed", "lod12, attributes", "ground_z, lod1_z", 7.0, 7.0, 0.0, 100.0, 100.0),
}
COLUMNS = [
    "change",
    "changed",
    "attributes",
    "height_old_m",
    "height_new_m",
    "height_change_m",
    "footprint_area_old_m2",
    "footprint_area_new_m2",
]


def _check_rows(frame: gpd.GeoDataFrame) -> None:
    assert frame["building_id"].tolist() == sorted(EXPECTED)
    for row in frame.itertuples(index=False):
        got = tuple(getattr(row, c) for c in COLUMNS)
        want = EXPECTED[row.building_id]
        assert got[:3] == want[:3], row.building_id
        np.testing.assert_allclose(got[3:], want[3:], atol=1e-9, err_msg=row.building_id)


def test_diff_of_two_twins_written_to_geopackages(twins):
    result = diff(read(twins[0]), read(twins[1]))
    # 9 old, 9 new; B02 gone, B08 new; B03, B05, B06, B07, B10 changed; B01, B04, B09 not
    assert result.counts == {"removed": 1, "added": 1, "changed": 5, "unchanged": 3}
    assert result.kinds == ("footprint", "height", "lod12", "attributes")
    # footprint: B05; height: B03; lod12: B03, B05, B06, B10; attributes: B03, B07, B10
    assert result.by_kind == {"footprint": 1, "height": 1, "lod12": 4, "attributes": 3}
    _check_rows(result.buildings)
    geoms = dict(zip(result.buildings["building_id"], result.buildings.geometry, strict=True))
    assert geoms["B02"].equals(shapely.box(X0 + 20, Y0, X0 + 32, Y0 + 10))  # the old one
    assert geoms["B05"].equals(shapely.box(X0 + 21, Y0 + 20, X0 + 31, Y0 + 28))  # the new one
    assert result.crs.equals(CRS)
    # unchanged: B01 (80), B04 (100), B09 (100) m²
    assert sorted(shapely.area(result.unchanged).tolist()) == pytest.approx([80, 100, 100])
    # At a 0.1 m threshold B04's 0.2 m is a change; within 1.5 m, B05's footprint and block
    # (moved 1 m) and B06's roof (0.3 m) are equal, B03's block (3 m higher) is not.
    loose = diff(read(twins[0]), read(twins[1]), height_threshold=0.1, tolerance=1.5)
    assert loose.counts == {"removed": 1, "added": 1, "changed": 4, "unchanged": 4}
    changed = dict(zip(loose.buildings["building_id"], loose.buildings["changed"], strict=True))
    assert changed == {
        "B02": "",
        "B03": "height, lod12, attributes",
        "B04": "height",
        "B07": "attributes",
        "B08": "",
        "B10": "lod12, attributes",
    }


def test_diff_as_json_and_geojson_text(twins):
    result = diff(read(twins[0]), read(twins[1]))
    data = json.loads(json.dumps(result.to_dict()))  # plain JSON values only
    assert data["thresholds"] == {"height_m": 0.5, "tolerance_m": 0.001}
    assert data["summary"] == {"removed": 1, "added": 1, "changed": 5, "unchanged": 3}
    rows = {r["building_id"]: r for r in data["buildings"]}
    assert rows["B10"]["changed"] == ["lod12", "attributes"]
    assert rows["B10"]["attributes"] == ["ground_z", "lod1_z"]
    assert rows["B08"]["changed"] == [] and rows["B08"]["height_old_m"] is None
    assert "geometry" not in rows["B03"]


def _twin_cli(*args: str) -> subprocess.CompletedProcess:
    """``twin diff ...`` in a process of its own (the checkout's code first on the path)."""
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run(
        [sys.executable, "-m", "twin.cli", "diff", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=path),
        timeout=300,
    )


def test_twin_diff_command_writes_json_geojson_and_map(twins, tmp_path):
    old, new = twins
    geojson, picture = tmp_path / "changes.geojson", tmp_path / "changes.png"
    done = _twin_cli(
        str(old), str(new), "--json", "--exit-code", "--geojson", str(geojson), "--picture",
        str(picture),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # --exit-code: the twins differ
    data = json.loads(done.stdout)
    assert data["old"] == str(old) and data["new"] == str(new)
    assert data["summary"] == {"removed": 1, "added": 1, "changed": 5, "unchanged": 3}
    assert data["changed_by_kind"] == {"footprint": 1, "height": 1, "lod12": 4, "attributes": 3}
    assert [r["building_id"] for r in data["buildings"]] == sorted(EXPECTED)

    # the GeoJSON, read by GDAL: WGS 84 longitude, latitude, with every row's properties
    frame = pyogrio.read_dataframe(geojson)
    assert frame.crs.equals(pyproj.CRS("OGC:CRS84")) or frame.crs.to_epsg() == 4326
    assert frame["building_id"].tolist() == sorted(EXPECTED)
    assert frame["changed"].fillna("").tolist() == [EXPECTED[b][1] for b in sorted(EXPECTED)]
    b08 = frame.geometry[frame["building_id"] == "B08"].iloc[0]
    # B08's corner (60, 12) at X0 + 60, Y0 + 12 in EPSG:31258, by pyproj
    to_lonlat = pyproj.Transformer.from_crs("EPSG:31258", "OGC:CRS84", always_xy=True)
    corner = shapely.Point(to_lonlat.transform(X0 + 60, Y0 + 12))
    assert 14.2 < corner.x < 14.4 and 46.5 < corner.y < 46.7  # Klagenfurt
    assert min(shapely.distance(corner, shapely.points(shapely.get_coordinates(b08)))) < 1e-9
    raw = json.loads(geojson.read_text())
    assert raw["type"] == "FeatureCollection" and "crs" not in raw  # RFC 7946: no crs member

    # the map: its size, and each of the three change colours filling a building
    pixels = _map_pixels(picture, (1200, 900))
    for name, colour in COLOURS.items():
        assert (pixels == _rgb(colour)).all(axis=1).sum() > 200, name


def _map_pixels(path, size) -> np.ndarray:
    """The RGB pixels ``(n, 3)`` of the map frame of a picture of ``size`` (its left 74 %:
    the legend is to its right)."""
    with Image.open(path) as image:
        assert image.size == size
        rgb = np.asarray(image.convert("RGB"))
    return rgb[:, : int(0.74 * size[0])].reshape(-1, 3)


def _rgb(colour: str) -> list[int]:
    return [int(colour[k : k + 2], 16) for k in (1, 3, 5)]


def test_twin_diff_summary_and_exit_codes(twins):
    old, new = map(str, twins)
    result = CliRunner().invoke(main, ["diff", old, new])
    assert result.exit_code == 0, result.output  # changes, but no --exit-code
    lines = result.output.splitlines()
    assert lines[1] == (
        "buildings: 1 added, 1 removed, 5 changed, 3 unchanged "
        "(height threshold 0.5 m, tolerance 0.001 m)"
    )
    assert lines[2] == "changed: footprint 1, height 1, lod12 4, attributes 3"
    assert "  changed  B03: height, lod12, attributes (lod1_z); height 9.00 m -> 12.00 m" in lines
    assert "  removed  B02" in lines and "  added    B08" in lines
    same = CliRunner().invoke(main, ["diff", old, old, "--exit-code"])
    assert same.exit_code == 0, same.output
    assert "0 added, 0 removed, 0 changed, 9 unchanged" in same.output


def test_a_geopackage_and_its_postgis_copy_do_not_differ(tmp_path, pg_twin):
    model = old_twin()
    gpkg = write(model, tmp_path / "city.gpkg")
    write(model, pg_twin)
    result = diff(read(gpkg), read(pg_twin))
    assert result.counts == {"removed": 0, "added": 0, "changed": 0, "unchanged": 9}
    assert not result and len(result.buildings) == 0
    assert sorted(shapely.area(result.unchanged).tolist()) == pytest.approx(
        sorted([80, 120, 100, 100, 80, 80, 120, 100, 100])
    )
    done = CliRunner().invoke(main, ["diff", pg_twin, str(gpkg), "--exit-code"])
    assert done.exit_code == 0, done.output
    # and the new twin in PostGIS against the old in a GeoPackage: the same differences
    write(new_twin(), pg_twin)
    _check_rows(diff(read(gpkg), read(pg_twin)).buildings)


def test_no_changes_map_is_framed_on_the_whole_twin(tmp_path):
    model = old_twin()
    result = diff(model, model)
    path = draw_diff(result, tmp_path / "same.png", old="a", new="b", size=(800, 600))
    pixels = _map_pixels(path, (800, 600))
    for colour in COLOURS.values():
        assert not (pixels == _rgb(colour)).all(axis=1).any()
    # Framed on the whole twin: its buildings span 0..50 m both ways, with 20 m around them
    # 90 m × 90 m, widened to the map's 592 × 516 px (0.74 × 800, 0.86 × 600): 90 / 516 × 592
    # = 103.3 m across, 5.733 px a metre. The 880 m² of footprints fill 880 × 5.733² = 28,924
    # px of grey, less their outlines.
    grey = (pixels == _rgb(UNCHANGED[0])).all(axis=1).sum()
    assert 0.9 * 28924 < grey < 28924


def test_twins_in_different_crss_are_refused():
    other = pyproj.CRS("EPSG:31259+5778")  # MGI / Austria GK M34
    with pytest.raises(InputError) as caught:
        diff(old_twin(), new_twin(other), names=("a.gpkg", "b.gpkg"))
    message = str(caught.value)
    assert "different CRSs" in message
    assert "a.gpkg in MGI / Austria GK M31 + GHA height" in message
    assert "b.gpkg in MGI / Austria GK M34 + GHA height" in message


def test_repeated_building_ids_are_refused():
    model = twin_of(
        building("B01", (0, 0, 10, 8), height=9.0),
        building("B07", (0, 40, 12, 50), height=9.0),
        building("B01", (20, 0, 30, 8), height=9.0),
    )
    with pytest.raises(InputError, match=r"new: building_id repeated \(1 ids: B01\)"):
        diff(old_twin(), model)


def test_errors_are_one_line_without_a_traceback(twins, tmp_path):
    old, new = twins
    missing = _twin_cli(str(old), str(tmp_path / "nothing.gpkg"))
    assert missing.returncode == 2
    assert "nothing.gpkg': no such twin" in missing.stderr
    other = write(new_twin(pyproj.CRS("EPSG:31259+5778")), tmp_path / "m34.gpkg")
    crs = _twin_cli(str(old), str(other), "--exit-code")
    assert crs.returncode == 2  # not 1: nothing was compared
    assert f"Error: the twins are in different CRSs: {old} in MGI / Austria GK M31" in crs.stderr
    assert "m34.gpkg in MGI / Austria GK M34 + GHA height" in crs.stderr
    over = _twin_cli(str(old), str(new), "--picture", str(new))
    assert over.returncode == 2 and "is the input" in over.stderr
    assert new.stat().st_size > 0 and read(new).buildings["building_id"].size == 9
    for done in (missing, crs, over):
        assert "Traceback" not in done.stderr and done.stdout == ""


def test_diff_of_20000_buildings_is_vectorised():
    # 200 × 100 boxes of 8 × 8 m on a 10 m grid, 3 to 12 m high, each with its block.
    n = 20_000
    k = np.arange(n)
    x, y = X0 + 10.0 * (k % 200), Y0 + 10.0 * (k // 200)
    boxes = shapely.box(x, y, x + 8, y + 8)
    height = 3.0 + k % 10
    ids = np.char.add("B", k.astype(str)).astype(object)

    def model(ids, boxes, height, solid_height):
        buildings = gpd.GeoDataFrame(
            {"building_id": ids, "use": "residential", "height": height}, geometry=boxes, crs=CRS
        )
        from twin.polygon3d import extrude

        solids, *_ = extrude(boxes, np.full(len(boxes), 445.0), 445.0 + solid_height)
        lod12 = gpd.GeoDataFrame({"building_id": ids}, geometry=solids, crs=CRS)
        return CityModel(crs=CRS, layers={"buildings": buildings, "lod12": lod12})

    old = model(ids, boxes, height, height)
    raised = k % 10 == 0  # 2,000 raised 2 m, their blocks too
    noise = k % 10 == 5  # 2,000 whose height moved 0.1 m (the block not): under 0.5 m
    removed = k % 100 == 99  # 200 gone (none raised: 99 is not a multiple of 10)
    new_height = height + 2.0 * raised + 0.1 * noise
    solid_height = height + 2.0 * raised
    # 300 new buildings north of the grid
    j = np.arange(300)
    new_boxes = shapely.box(X0 + 10.0 * j, Y0 + 1010.0, X0 + 10.0 * j + 8, Y0 + 1018.0)
    keep = ~removed
    order = np.random.default_rng(1).permutation(keep.sum() + 300)  # rows in any order
    new = model(
        np.concatenate([ids[keep], np.char.add("N", j.astype(str)).astype(object)])[order],
        np.concatenate([boxes[keep], new_boxes])[order],
        np.concatenate([new_height[keep], np.full(300, 6.0)])[order],
        np.concatenate([solid_height[keep], np.full(300, 6.0)])[order],
    )
    result = diff(old, new)
    # 20,000 - 200 removed - 2,000 raised = 17,800 unchanged
    assert result.counts == {"removed": 200, "added": 300, "changed": 2000, "unchanged": 17800}
    assert result.by_kind == {"footprint": 0, "height": 2000, "lod12": 2000, "attributes": 0}
    changed = result.buildings[result.buildings["change"] == "changed"]
    assert (changed["changed"] == "height, lod12").all()
    assert changed["height_change_m"].to_numpy() == pytest.approx(np.full(2000, 2.0))
    assert changed["footprint_area_new_m2"].to_numpy() == pytest.approx(np.full(2000, 64.0))
