"""Validity of solids (val3dity's codes) and ``twin validate``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import shapely
from click.testing import CliRunner

import twin
from twin.cli import main
from twin.validity import check

BOTTOM = [(0, 0, 0), (0, 1, 0), (1, 1, 0), (1, 0, 0)]
TOP = [(0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)]
SIDES = [
    [(0, 0, 0), (1, 0, 0), (1, 0, 1), (0, 0, 1)],
    [(1, 0, 0), (1, 1, 0), (1, 1, 1), (1, 0, 1)],
    [(1, 1, 0), (0, 1, 0), (0, 1, 1), (1, 1, 1)],
    [(0, 1, 0), (0, 0, 0), (0, 0, 1), (0, 1, 1)],
]


def solid(*faces):
    return shapely.MultiPolygon([shapely.Polygon(f) for f in faces])


def codes_of(geom):
    codes, repaired = check(np.array([geom], dtype=object))
    return codes[0], repaired[0]


def test_a_cube_is_valid():
    assert codes_of(solid(BOTTOM, TOP, *SIDES))[0] == []


def test_open_shell_302_and_too_few_polygons_301():
    assert codes_of(solid(BOTTOM, TOP, *SIDES[:3]))[0] == [302]
    assert 301 in codes_of(solid(BOTTOM, TOP, SIDES[0]))[0]


def test_one_face_turned_over_307():
    assert codes_of(solid(BOTTOM, TOP[::-1], *SIDES))[0] == [307]


def test_inside_out_shell_is_repaired():
    faces = [f[::-1] for f in (BOTTOM, TOP, *SIDES)]
    codes, repaired = codes_of(solid(*faces))
    assert codes == []
    assert shapely.equals(repaired.geoms[0].exterior, shapely.Polygon(BOTTOM).exterior)


def test_non_planar_roof_203_but_not_204():
    top = [(0, 0, 1), (1, 0, 1), (1, 1, 1.05), (0, 1, 1)]
    sides = [list(s) for s in SIDES]
    sides[1][2], sides[2][3] = (1, 1, 1.05), (1, 1, 1.05)
    assert codes_of(solid(BOTTOM, top, *sides))[0] == [203]


def test_sharply_bent_face_204():
    top = [(0, 0, 1), (1, 0, 1), (1, 1, 2), (0, 1, 1)]
    sides = [list(s) for s in SIDES]
    sides[1][2], sides[2][3] = (1, 1, 2), (1, 1, 2)
    assert {203, 204} <= set(codes_of(solid(BOTTOM, top, *sides))[0])


def test_planarity_is_checked_after_rounding():
    """A 4 mm warp stays under the 1 cm tolerance; coordinates are snapped to mm."""
    top = [(0, 0, 1), (1, 0, 1), (1, 1, 1.0041), (0, 1, 1)]
    sides = [list(s) for s in SIDES]
    sides[1][2], sides[2][3] = (1, 1, 1.0041), (1, 1, 1.0041)
    codes, repaired = codes_of(solid(BOTTOM, top, *sides))
    assert codes == []
    assert shapely.get_coordinates(repaired, include_z=True)[:, 2].max() == 1.004


def test_repeated_vertex_is_dropped_and_bowtie_flagged():
    bottom = [BOTTOM[0], BOTTOM[1], (0, 1.0001, 0), BOTTOM[2], BOTTOM[3]]
    assert codes_of(solid(bottom, TOP, *SIDES))[0] == []
    bowtie = [(0, 0, 0), (1, 1, 0), (1, 0, 0), (0, 1, 0)]
    assert 104 in codes_of(solid(bowtie, TOP, *SIDES))[0]


def test_non_manifold_edge_304():
    fin = [(0, 0, 1), (1, 0, 1), (0.5, -1, 1)]
    fin_under = fin[::-1]
    assert 304 in codes_of(solid(BOTTOM, TOP, *SIDES, fin, fin_under))[0]


def test_validate_command_on_the_sample(sample_twin, tmp_path):
    path = tmp_path / "city.gpkg"
    shutil.copy(sample_twin, path)
    shutil.copy(sample_twin.with_name("city.dtm.tif"), tmp_path / "city.dtm.tif")
    result = CliRunner().invoke(main, ["validate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["summary"]["1.2"]["invalid"] == 0
    assert report["summary"]["1.2"]["solids"] > 150
    lod12 = twin.open(path).layers["lod12"]
    assert "validity" in lod12.columns and lod12["validity"].isna().all()


def test_validate_reports_and_fails_on_invalid(sample_twin, tmp_path):
    path = tmp_path / "city.gpkg"
    shutil.copy(sample_twin, path)
    shutil.copy(sample_twin.with_name("city.dtm.tif"), tmp_path / "city.dtm.tif")
    model = twin.open(path)
    lod12 = model.layers["lod12"]
    row = int(np.flatnonzero(lod12.geometry.notna().to_numpy())[0])
    broken = shapely.MultiPolygon(list(lod12.geometry.iloc[row].geoms)[1:])  # no ground
    lod12.loc[lod12.index[row], "geometry"] = broken
    model.save(path)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    bid = lod12["building_id"].iloc[row]
    assert f"{bid}: 302 SHELL_NOT_CLOSED" in result.output
    assert twin.open(path).layers["lod12"]["validity"].iloc[row] == "302"
