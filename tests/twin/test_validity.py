"""Validity of solids (val3dity's codes) and ``twin validate``."""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
import numpy as np
import pytest
import shapely
import shapely.affinity
import trimesh
from click.testing import CliRunner
from lxml import etree

import twin
from tests.conftest import DATA
from tests.formats_checks import schema_errors
from twin import formats
from twin.cli import main
from twin.errors import InputError
from twin.polygon3d import triangulate, vector_area
from twin.store import open_store, write
from twin.validity import CODES, check, check_faces, repair_surfaces, surface_rows

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


def test_faces_turned_over_in_a_closed_shell_are_repaired():
    codes, repaired = codes_of(solid(BOTTOM, TOP[::-1], SIDES[0], SIDES[1][::-1], *SIDES[2:]))
    assert codes == []
    assert shapely.equals(repaired, solid(BOTTOM, TOP, *SIDES))
    normals = vector_area(np.array(repaired.geoms))
    assert normals[1].tolist() == [0, 0, 1] and normals[3].tolist() == [1, 0, 0]


def test_face_turned_over_in_an_open_shell_stays_307():
    assert codes_of(solid(BOTTOM, TOP[::-1], *SIDES[:3]))[0] == [302, 307]


def test_inside_out_shell_is_repaired():
    faces = [f[::-1] for f in (BOTTOM, TOP, *SIDES)]
    codes, repaired = codes_of(solid(*faces))
    assert codes == []
    assert shapely.equals(repaired.geoms[0].exterior, shapely.Polygon(BOTTOM).exterior)


def test_warped_roof_203_is_split_into_planar_triangles():
    """5 cm out of plane (203) but only 3 degrees of bend (no 204): split, shell kept closed."""
    top = [(0, 0, 1), (1, 0, 1), (1, 1, 1.05), (0, 1, 1)]
    sides = [list(s) for s in SIDES]
    sides[1][2], sides[2][3] = (1, 1, 1.05), (1, 1, 1.05)
    codes, repaired = codes_of(solid(BOTTOM, top, *sides))
    assert codes == []
    assert len(repaired.geoms) == 7
    assert shapely.get_num_coordinates(np.array(repaired.geoms)[1:3]).tolist() == [4, 4]
    assert codes_of(repaired) == ([], repaired)
    assert abs(shapely.area(shapely.force_2d(shapely.union_all(repaired.geoms[1:3]))) - 1) < 1e-9


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


def shifted(geom, offset):
    return shapely.transform(geom, lambda c: c + offset, include_z=True)


def test_duplicated_rings_202_and_duplicated_faces_304():
    # val3dity's 202 is polygon-level: two rings of one face alike (here a hole run through
    # the exterior's vertices, and two equal holes); a face repeated in a shell makes its
    # edges non-manifold instead
    ring = [(0.0, 0.0, 0.0), (4.0, 0.0, 0.0), (4.0, 4.0, 0.0), (0.0, 4.0, 0.0)]
    hole = [(1.0, 1.0, 0.0), (1.0, 2.0, 0.0), (2.0, 2.0, 0.0), (2.0, 1.0, 0.0)]
    faces = np.array(
        [
            shapely.MultiPolygon([shapely.Polygon(ring, [ring[::-1]])]),
            shapely.MultiPolygon([shapely.Polygon(ring, [hole, hole[1:] + hole[:1]])]),
            shapely.MultiPolygon([shapely.Polygon(ring, [hole])]),
        ],
        dtype=object,
    )
    codes, _ = check(faces, kinds=np.array(["MultiSurface"] * 3))
    assert [202 in c for c in codes] == [True, True, False]
    repeated = codes_of(solid(BOTTOM, TOP, *SIDES, TOP))[0]
    assert 304 in repeated and 202 not in repeated


def test_duplicated_rings_202_at_the_precision_checked():
    """Rings alike at millimetres but not at micrometres are duplicates only at the first."""
    ring = [(0.0, 0.0, 0.0), (4.0, 0.0, 0.0), (4.0, 4.0, 0.0), (0.0, 4.0, 0.0)]
    inset = [(0.0003, 0.0003, 0.0), (0.0003, 3.9997, 0.0), (3.9997, 3.9997, 0.0)]
    face = shapely.MultiPolygon([shapely.Polygon(ring, [[*inset, (3.9997, 0.0003, 0.0)]])])
    kinds = np.array(["MultiSurface"])
    assert 202 in check(np.array([face], dtype=object), kinds=kinds)[0][0]
    assert check(np.array([face], dtype=object), kinds=kinds, decimals=6)[0] == [[]]


def test_face_collapsed_in_its_plane_101():
    """A face on one line has no plane; projected on the y-z plane its vertices are one
    point, which GEOS calls too few points (101)."""
    line = shapely.MultiPolygon([shapely.Polygon([(0, 0, 0), (1, 0, 0), (2, 0, 0)])])
    assert 101 in codes_of(line)[0]


def test_parts_of_a_building_are_shells_but_one_solid_is_one_shell_305_303():
    cube = solid(BOTTOM, TOP, *SIDES)
    apart = shapely.MultiPolygon([*cube.geoms, *shifted(cube, (3, 0, 0)).geoms])
    touching = shapely.MultiPolygon([*cube.geoms, *shifted(cube, (1, 1, 1)).geoms])
    kinds = np.array(["MultiSolid", "Solid", "MultiSolid", "Solid"])
    codes, _ = check(np.array([apart, apart, touching, touching], dtype=object), kinds=kinds)
    # two parts of a multi-part building are fine; as one Solid they are 305, and where
    # they touch at a corner that vertex has two fans of faces (303)
    assert codes == [[], [305], [], [303, 305]]


def test_each_part_is_oriented_on_its_own():
    cube = solid(BOTTOM, TOP, *SIDES)
    inside_out = shifted(shapely.reverse(cube), (3, 0, 0))
    codes, repaired = codes_of(shapely.MultiPolygon([*cube.geoms, *inside_out.geoms]))
    assert codes == []
    assert (vector_area(np.array(repaired.geoms))[[1, 7], 2] == 1).all()  # both roofs up


def test_large_solids_at_fine_precision():
    """Over 2**21 grid steps across (here micrometres), vertices are matched row-wise."""
    cube = shapely.affinity.scale(solid(BOTTOM, TOP, *SIDES), 3, 3, 3, origin=(0, 0, 0))
    codes, _ = check(np.array([cube, solid(BOTTOM, TOP, *SIDES[:3])]), decimals=6)
    assert codes == [[], [302]]


def test_non_manifold_vertex_303_inside_one_shell():
    """A pyramid without two opposite sides: its faces are joined through the base, but
    around the apex they make two separate fans."""
    apex, base = (0.5, 0.5, 1), BOTTOM
    sides = [[base[0], base[3], apex], [base[2], base[1], apex]]
    codes = codes_of(solid(base, *sides))[0]
    assert codes == [301, 302, 303]
    whole = [[base[(i + 1) % 4], base[i], apex] for i in range(4)]
    assert codes_of(solid(base, *whole))[0] == []


def test_shell_self_intersection_306():
    """A roof pyramid pushed down through the ground: closed and manifold, but folded."""
    apex = (0.5, 0.5, -1)
    roof = [[TOP[(i + 1) % 4], apex, TOP[i]] for i in range(4)]
    assert codes_of(solid(BOTTOM, *SIDES, *roof))[0] == [306]
    # the same pyramid pointing up is a valid solid: faces meeting at shared edges only
    up = [[TOP[(i + 1) % 4], (0.5, 0.5, 2), TOP[i]][::-1] for i in range(4)]
    assert codes_of(solid(BOTTOM, *SIDES, *up))[0] == []


def test_surfaces_get_polygon_checks_only():
    bowtie = [(0, 0, 0), (1, 1, 0), (1, 0, 0), (0, 1, 0)]
    kinds = np.array(["MultiSurface", "CompositeSurface"])
    codes, _ = check(np.array([solid(BOTTOM, TOP), solid(bowtie)], dtype=object), kinds=kinds)
    assert codes[0] == [] and 104 in codes[1]


def test_unknown_kinds_are_refused():
    with pytest.raises(InputError, match="unknown geometry types"):
        check(np.array([solid(BOTTOM)], dtype=object), kinds=np.array(["Tin"]))
    with pytest.raises(InputError, match="2 types for 1 solids"):
        check(np.array([solid(BOTTOM)], dtype=object), kinds=np.array(["Solid", "Solid"]))


@pytest.mark.parametrize(
    ("source", "invalid"),
    [
        # a roof ring of a Zürich BuildingPart passes twice through one vertex
        (
            "zurich_cityjson/zurich_lod2_12.city.json",
            {"2": {"UUID_cb878e1d-bbc7-4b38-b5e9-789e1136fa82": ["104 RING_SELF_INTERSECTION"]}},
        ),
        # a Berlin wall whose four vertices lie on one line in plan (a sliver)
        (
            "berlin_citygml_validity/3910_5819_2bldg.gml",
            {"2": {"BLDG_0003000e00180b94": ["104 RING_SELF_INTERSECTION"]}},
        ),
        ("berlin_citygml/3900_5819.gml", {"2": {}}),  # 3 Solids, 1 MultiSurface
        # 3DBAG's solids (checked by val3dity upstream) are valid here too, LoD2.2 included
        (
            "3dbag_cityjsonseq/9-444-728_sm.city.jsonl",
            {"1.2": {}, "0": {}, "1.3": {}, "2.2": {}},
        ),
    ],
)
def test_validate_imported_real_models(tmp_path, source, invalid):
    path = tmp_path / "city.gpkg"
    write(formats.read(DATA / source), path)
    result = CliRunner().invoke(main, ["validate", str(path), "--json"])
    assert result.exit_code == (1 if any(invalid.values()) else 0), result.output
    assert json.loads(result.output)["invalid"] == invalid


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
    write(model, path)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    bid = lod12["building_id"].iloc[row]
    assert f"{bid}: 302 SHELL_NOT_CLOSED" in result.output
    assert twin.open(path).layers["lod12"]["validity"].iloc[row] == "302"


def _broken_twin(sample_twin, tmp_path):
    """A copy of the sample twin with one building's roof turned over and another's warped
    by 5 cm at one corner, in its LoD1.2 solid and its rows of ``building_surfaces``."""
    path = tmp_path / "city.gpkg"
    shutil.copy(sample_twin, path)
    shutil.copy(sample_twin.with_name("city.dtm.tif"), tmp_path / "city.dtm.tif")
    shutil.copy(sample_twin.with_name("city.mesh-1.2.npz"), tmp_path / "city.mesh-1.2.npz")
    model = twin.open(path)
    lod12, surfaces = model.layers["lod12"], model.layers["building_surfaces"]
    # two rectangular blocks (6 faces: ground, 4 walls, roof)
    n_faces = shapely.get_num_geometries(lod12.geometry.to_numpy())
    turned, warped = (int(i) for i in np.flatnonzero(n_faces == 6)[:2])
    ids = lod12["building_id"].to_numpy()
    for row, change in ((turned, _turn_roof), (warped, _warp_roof)):
        faces = list(lod12.geometry.iloc[row].geoms)
        new = change(faces)
        lod12.loc[lod12.index[row], "geometry"] = shapely.MultiPolygon(new)
        rows = surfaces.index[(surfaces["building_id"] == ids[row]) & (surfaces["lod"] == "1.2")]
        surfaces.loc[rows, "geometry"] = new
    model.layers["lod12"], model.layers["building_surfaces"] = lod12, surfaces
    write(model, path)
    return path, ids[turned], ids[warped]


def _turn_roof(faces):
    return [f.reverse() if i == len(faces) - 1 else f for i, f in enumerate(faces)]


def _warp_roof(faces):
    """Lift the roof's first corner by 5 cm (3 degrees of bend: 203, not 204), in the roof
    and in the walls that share it."""
    corner = np.array(faces[-1].exterior.coords[0])

    def lift(c):
        c = c.copy()
        c[np.all(np.abs(c - corner) < 1e-9, axis=1), 2] += 0.05
        return c

    return [shapely.transform(f, lift, include_z=True) for f in faces]


def _signed_volume(polygons):
    corners, _ = triangulate(np.asarray(polygons, dtype=object))
    local = corners - corners[0, 0]
    return float(np.einsum("ij,ij->i", local[:, 0], np.cross(local[:, 1], local[:, 2])).sum() / 6)


def test_repairs_reach_surfaces_exports_and_meshes(sample_twin, tmp_path):
    path, turned, warped = _broken_twin(sample_twin, tmp_path)
    before = twin.open(path).layers["building_surfaces"]
    roof = before[(before["building_id"] == turned) & (before["lod"] == "1.2")].iloc[-1]
    assert roof["semantic"] == "RoofSurface" and vector_area(np.array([roof.geometry]))[0, 2] < 0
    result = CliRunner().invoke(main, ["validate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    model = twin.open(path)
    surfaces = model.layers["building_surfaces"]
    assert len(surfaces) == len(before) + 1  # the warped roof is two triangles now
    assert (surfaces["lod"] == "1.2").sum() == (before["lod"] == "1.2").sum() + 1
    # the exported faces are the repaired ones: closed, outward, planar
    out = tmp_path / "city.city.json"
    result = CliRunner().invoke(main, ["export", str(path), "-f", "cityjson", "-o", str(out)])
    assert result.exit_code == 0, result.output
    exported = formats.read(out)
    assert schema_errors(json.loads(out.read_text())) == []
    got = exported.layers["building_surfaces"]
    for bid in (turned, warped):
        faces = got[got["building_id"] == bid]
        assert _signed_volume(faces.geometry.to_numpy()) > 0
        assert check(np.array([shapely.MultiPolygon(list(faces.geometry))]))[0] == [[]]
    faces = got[got["building_id"] == warped]
    roofs = faces[faces["semantic"] == "RoofSurface"]
    assert shapely.get_num_coordinates(roofs.geometry.to_numpy()).tolist() == [4, 4]
    up = vector_area(roofs.geometry.to_numpy())
    assert (up[:, 2] > 0).all() and (roofs["slope"] > 0).all() and (roofs["slope"] < 5).all()
    assert np.isclose(roofs["area"].sum(), np.linalg.norm(up, axis=1).sum())
    turned_roof = got[(got["building_id"] == turned) & (got["semantic"] == "RoofSurface")]
    assert vector_area(turned_roof.geometry.to_numpy())[0, 2] > 0
    # the mesh cache was rebuilt for the new twin; both buildings' meshes closed and outward
    assert open_store(path).mesh_cache().load("1.2") is not None
    mesh = model.mesh("1.2")
    rows = model.buildings["building_id"].reset_index(drop=True)
    for bid in (turned, warped):
        pick = mesh.owner == int(rows.index[rows == bid][0])
        tm = trimesh.Trimesh(mesh.vertices, mesh.triangles[pick], process=True)
        assert tm.is_watertight and tm.is_winding_consistent and tm.volume > 0


def test_ring_not_closed_in_citygml_103(tmp_path):
    """A real Berlin building whose first ring lost its closing point (GML requires it):
    the reader closes it but notes 103, which ``twin validate`` reports for that building."""
    tree = etree.parse(str(DATA / "berlin_citygml" / "3900_5819.gml"))
    pos_list = tree.xpath("//*[local-name()='posList']")[0]
    values = pos_list.text.split()
    assert values[:3] == values[-3:]
    pos_list.text = " ".join(values[:-3])
    building = pos_list.xpath("ancestor::*[local-name()='Building'][1]")[0]
    bid = building.get("{http://www.opengis.net/gml}id")
    source = tmp_path / "open.gml"
    tree.write(str(source))
    path = tmp_path / "city.gpkg"
    write(formats.read(source), path)
    result = CliRunner().invoke(main, ["validate", str(path), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["invalid"] == {"2": {bid: ["103 RING_NOT_CLOSED"]}}
    assert report["summary"]["2"] == {"solids": 4, "invalid": 1}
    lod2 = twin.open(path).layers["lod2"].set_index("building_id")
    assert lod2.loc[bid, "validity"] == "103"
    assert lod2.drop(index=bid)["validity"].isna().all()
    again = CliRunner().invoke(main, ["validate", str(path), "--json"])  # kept in the twin
    assert json.loads(again.output)["invalid"] == report["invalid"]


def test_repair_surfaces_keeps_classes_and_places():
    """The rows of a repaired solid are replaced in place; faces whose rows no longer have
    their vertices (here: stored before the warp) are matched by position."""
    top = [(0, 0, 1), (1, 0, 1), (1, 1, 1.05), (0, 1, 1)]
    sides = [list(s) for s in SIDES]
    sides[1][2], sides[2][3] = (1, 1, 1.05), (1, 1, 1.05)
    warped = solid(BOTTOM, top, *sides)
    cube = shifted(solid(BOTTOM, TOP, *SIDES), (3, 0, 0))
    flat = [shapely.Polygon(f) for f in (BOTTOM, TOP, *SIDES)]
    classes = ["GroundSurface", "RoofSurface", *["WallSurface"] * 4]
    surfaces = gpd.GeoDataFrame(
        {
            "building_id": ["a"] * 6 + ["b"] * 6,
            "lod": "1.2",
            "semantic": classes * 2,
            "area": 1.0,
            "slope": 0.0,
            "azimuth": np.nan,
        },
        geometry=flat + list(cube.geoms),
    )
    solids = np.array([warped, cube], dtype=object)
    checked = check_faces(solids)
    assert checked.changed.tolist() == [True, False]
    out = repair_surfaces(surfaces, solids, np.array(["a", "b"], dtype=object), checked, lod="1.2")
    assert out["building_id"].tolist() == ["a"] * 7 + ["b"] * 6
    assert out["semantic"].tolist()[:7] == ["GroundSurface", *["RoofSurface"] * 2, *classes[2:]]
    assert shapely.equals_exact(out.geometry.to_numpy()[:7], checked.faces[:7], 0).all()
    roofs = out.iloc[1:3]
    assert np.isclose(roofs["area"].sum(), 1.0, atol=2e-3) and (roofs["slope"] < 5).all()
    assert out.iloc[7:].reset_index(drop=True).equals(surfaces.iloc[6:].reset_index(drop=True))


def test_surface_rows_by_vertices_else_by_position():
    """A face takes the row with its vertices (``decimals``), else the row at its position
    when its building has as many rows as faces, else none (-1)."""
    cube = solid(BOTTOM, TOP, *SIDES)
    moved = shifted(cube, (0.01, 0, 0))  # b's rows: no vertices in common with its faces
    rows_a = [shapely.reverse(f) for f in cube.geoms][:0:-1]  # a: turned, reversed, one less
    surfaces = gpd.GeoDataFrame(
        {"building_id": ["a"] * 5 + ["b"] * 6 + ["a"], "lod": ["1.2"] * 11 + ["2.2"]},
        geometry=[*rows_a, *moved.geoms, cube.geoms[0]],
    )
    solids = np.array([cube, None, cube], dtype=object)
    ids = np.array(["a", "c", "b"], dtype=object)
    rows, owner, face_row = surface_rows(surfaces, solids, ids, lod="1.2")
    assert rows.tolist() == list(range(11)) and owner.tolist() == [0] * 5 + [2] * 6
    assert face_row.tolist() == [-1] * 6 + list(range(5, 11))
    face_row = surface_rows(surfaces, solids, ids, lod="1.2", decimals=3)[2]
    assert face_row.tolist() == [-1, 4, 3, 2, 1, 0, *range(5, 11)]


def _box(low, high, *, inward):
    """The six faces of an axis-aligned box as rings of (x, y, z), outwards or inwards."""
    (x0, y0, z0), (x1, y1, z1) = low, high
    rings = [
        [(x0, y0, z0), (x0, y1, z0), (x1, y1, z0), (x1, y0, z0)],
        [(x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)],
        [(x0, y0, z0), (x1, y0, z0), (x1, y0, z1), (x0, y0, z1)],
        [(x1, y0, z0), (x1, y1, z0), (x1, y1, z1), (x1, y0, z1)],
        [(x1, y1, z0), (x0, y1, z0), (x0, y1, z1), (x1, y1, z1)],
        [(x0, y1, z0), (x0, y0, z0), (x0, y0, z1), (x0, y1, z1)],
    ]
    return [r[::-1] for r in rings] if inward else rings


#: a cavity per case, as (low, high corner offsets from the anchor, inward) per inner shell;
#: the anchor is a point inside the footprint at ground height, "top" the roof's highest z
CAVITIES = {
    "valid": [((-0.5, -0.5, 0.5), (0.5, 0.5, 1.5), True)],
    "401": [((-0.5, -0.5, 0.5), (0.5, 0.5, "top"), True)],  # pokes through the roof
    "402": [((-0.5, -0.5, 0.5), (0.5, 0.5, 1.5), True)] * 2,
    "403": [((99.5, -0.5, 0.5), (100.5, 0.5, 1.5), True)],  # 100 m away
    "404": [((-0.5, -0.5, 0.0), (0.5, 0.5, 1.0), True)],  # lies on the ground surface
    "405": [((-0.5, -0.5, 0.5), (0.5, 0.5, 1.5), False)],  # points outwards
}


def cavity_document(case: str = "valid") -> tuple[dict, str]:
    """A real 3DBAG building (CityJSON 2.0, LoD 1.2/1.3/2.2 Solids) whose LoD 2.2 Solid is
    given the inner shells of ``CAVITIES[case]``; the document and the BuildingPart's id."""
    header, feature = (
        json.loads(line)
        for line in (DATA / "3dbag_cityjsonseq" / "9-444-728_sm.city.jsonl")
        .read_text()
        .splitlines()[:2]
    )
    doc = {**header, "CityObjects": feature["CityObjects"], "vertices": feature["vertices"]}
    scale = np.array(header["transform"]["scale"])
    translate = np.array(header["transform"]["translate"])
    xyz = np.array(doc["vertices"]) * scale + translate
    part_id, part = next((k, v) for k, v in doc["CityObjects"].items() if v["geometry"])
    lod22 = next(g for g in part["geometry"] if g["lod"] == "2.2")
    shell = lod22["boundaries"][0]
    ground = shapely.Polygon(xyz[shell[0][0]][:, :2])  # 3DBAG: the first face is the ground
    anchor = shapely.get_coordinates(ground.representative_point())[0]
    base = xyz[shell[0][0], 2].min()
    top = xyz[[i for face in shell for ring in face for i in ring], 2].max() + 2.0
    values = lod22["semantics"]["values"][0]
    for low, high, inward in CAVITIES[case]:
        corner = [
            [anchor[0] + c[0], anchor[1] + c[1], top if c[2] == "top" else base + c[2]]
            for c in (low, high)
        ]
        rings = _box(*corner, inward=inward)
        points = np.rint((np.array(rings).reshape(-1, 3) - translate) / scale).astype(int)
        first = len(doc["vertices"])
        doc["vertices"] += points.tolist()
        lod22["boundaries"].append(
            [[list(range(first + 4 * k, first + 4 * k + 4))] for k in range(6)]
        )
        lod22["semantics"]["values"].append([None] * 6)
    assert len(values) == len(shell)
    return doc, part_id


def _cavity_twin(tmp_path, case):
    doc, part_id = cavity_document(case)
    source = tmp_path / f"{case}.city.json"
    source.write_text(json.dumps(doc))
    path = tmp_path / f"{case}.gpkg"
    write(formats.read(source), path)
    return path, part_id


def test_solid_with_a_cavity_is_valid_and_kept(tmp_path):
    """An imported Solid with an inner shell: shells stored, valid, cavity left pointing in."""
    path, part_id = _cavity_twin(tmp_path, "valid")
    surfaces = twin.open(path).layers["building_surfaces"]
    at = surfaces[(surfaces["building_id"] == part_id) & (surfaces["lod"] == "2.2")]
    assert at["shell"].tolist().count(1) == 6 and set(at["shell"]) == {0, 1}
    assert (surfaces[surfaces["lod"] != "2.2"]["shell"] == 0).all()
    result = CliRunner().invoke(main, ["validate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["invalid"]["2.2"] == {}
    after = twin.open(path).layers["building_surfaces"]
    cavity = after[(after["building_id"] == part_id) & (after["shell"] == 1)]
    assert _signed_volume(cavity.geometry.to_numpy()) == pytest.approx(-1.0, abs=1e-6)
    # without the shells, the same solid is two components of one Solid
    lod22 = twin.open(path).layers["lod22"]
    codes, _ = check(lod22.geometry.to_numpy(), kinds=lod22["geometry_type"].to_numpy())
    assert [305] in codes


@pytest.mark.parametrize("case", ["401", "402", "403", "404", "405"])
def test_invalid_cavities_are_reported_by_code(tmp_path, case):
    path, part_id = _cavity_twin(tmp_path, case)
    result = CliRunner().invoke(main, ["validate", str(path), "--json"])
    assert result.exit_code == 1, result.output
    name = CODES[int(case)]
    assert json.loads(result.output)["invalid"] == {
        "0": {},
        "1.2": {},
        "1.3": {},
        "2.2": {part_id: [f"{case} {name}"]},
    }
    if case == "405":  # reported, not turned outwards
        surfaces = twin.open(path).layers["building_surfaces"]
        cavity = surfaces[(surfaces["building_id"] == part_id) & (surfaces["shell"] == 1)]
        assert _signed_volume(cavity.geometry.to_numpy()) == pytest.approx(1.0, abs=1e-6)


def test_shells_must_match_the_faces():
    cube = solid(BOTTOM, TOP, *SIDES)
    with pytest.raises(InputError, match="shells"):
        check(np.array([cube], dtype=object), shells=np.zeros(5, dtype=int))


def test_shells_may_come_in_any_order():
    """The faces of a solid's shells may be interleaved; each shell is still one shell."""
    outer = _box((0, 0, 0), (10, 10, 10), inward=False)
    inner = _box((2, 2, 2), (4, 4, 4), inward=True)
    faces = [*outer[:3], *inner[:3], *outer[3:], *inner[3:]]
    geom = shapely.MultiPolygon([shapely.Polygon(f) for f in faces])
    shells = np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1])
    kinds = np.array(["Solid"], dtype=object)
    assert check(np.array([geom], dtype=object), kinds=kinds, shells=shells)[0] == [[]]
    assert check(np.array([geom], dtype=object), kinds=kinds)[0] == [[305]]
