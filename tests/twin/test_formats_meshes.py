"""OBJ, GLB and STL exports: the Khronos glTF validator and trimesh read back what we wrote."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import shapely
import trimesh
from click.testing import CliRunner

import twin
from tests.conftest import DATA, ROOT
from twin.cli import main
from twin.errors import DataQualityWarning, InputError, TwinWarning
from twin.formats import citygml, cityjson, meshes, write
from twin.polygon3d import triangulate

VALIDATOR = ROOT / "tools" / "gltf_validate.mjs"
ZURICH = DATA / "zurich_cityjson" / "zurich_lod2_12.city.json"
BAG = DATA / "3dbag_cityjsonseq" / "9-444-728_sm.city.jsonl"
BERLIN = DATA / "berlin_citygml" / "3900_5819.gml"
# one Berlin building with a wall GEOS cannot triangulate as given (tests/data README)
SPIKE = DATA / "berlin_citygml" / "3910_5819_1bldg.gml"
SPIKE_NOTE = "1 degenerate face(s) (a spike or folded collinear vertices) rebuilt"


def gltf_report(path: Path) -> dict:
    """The Khronos glTF validator's report on one file (tools/install-test-deps.sh installs it)."""
    if not (ROOT / "tools" / "node" / "node_modules" / "gltf-validator").exists():
        pytest.fail("gltf-validator is not installed: run bash tools/install-test-deps.sh")
    done = subprocess.run(
        ["node", str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=120
    )
    return json.loads(done.stdout.splitlines()[0])


def surface_area(model: twin.CityModel, lod: str) -> float:
    surfaces = model.layers["building_surfaces"]
    return float(surfaces.loc[surfaces["lod"] == lod, "area"].sum())


@pytest.fixture(scope="module")
def models(sample_twin):
    return {
        "sample": (twin.open(sample_twin), "1.2"),
        "zurich": (cityjson.read(ZURICH), "2"),
        "3dbag": (cityjson.read(BAG), "2.2"),
        "berlin": (citygml.read(BERLIN), "2"),
        "berlin-spike": (citygml.read(SPIKE), "2"),
    }


def spike_warned(name: str) -> contextlib.AbstractContextManager:
    """The one warning the Berlin building with the spiked wall is to raise, else none."""
    if name == "berlin-spike":
        return pytest.warns(DataQualityWarning, match=r"1 degenerate face\(s\)")
    return contextlib.nullcontext()


@pytest.mark.parametrize("name", ["sample", "zurich", "3dbag", "berlin", "berlin-spike"])
def test_glb_passes_the_khronos_validator(models, name, tmp_path):
    """Every real file the formats read (CityJSON Zürich, 3DBAG Amsterdam, CityGML Berlin)
    exports to a GLB the validator accepts without a warning: the Berlin tile 3900_5819 has a
    sliver roof triangle whose corners got zero-length (ACCESSOR_VECTOR3_NON_UNIT) normals."""
    model, lod = models[name]
    with spike_warned(name):
        out = meshes.write_glb(model, tmp_path / f"{name}.glb", lod=lod)
    report = gltf_report(out)
    assert report["numErrors"] == 0 and report["numWarnings"] == 0, report["messages"]
    with spike_warned(name):
        mesh, _, _ = meshes.mesh(model, lod=lod)
    assert report["info"]["totalTriangleCount"] == len(mesh)
    scene = trimesh.load(out, force="scene")
    assert {str(k) for k in scene.geometry} <= set(meshes.COLORS)
    assert scene.area == pytest.approx(surface_area(model, lod), rel=1e-4)
    # y-up, relative to the origin: the height range is glTF's y range.
    z = mesh.vertices[:, 2] - model.origin[2]
    assert scene.bounds[:, 1] == pytest.approx([z.min(), z.max()], abs=1e-3)


def test_obj_and_mtl_by_semantic_class(models, tmp_path):
    model, lod = models["zurich"]
    out = meshes.write_obj(model, tmp_path / "zurich.obj", lod=lod)
    text = out.read_text()
    assert "mtllib zurich.mtl" in text and "CH1903+ / LV95" in text
    mtl = (tmp_path / "zurich.mtl").read_text()
    assert {line.split()[1] for line in mtl.splitlines() if line.startswith("newmtl")} == set(
        meshes.COLORS
    )
    named = {line[2:] for line in text.splitlines() if line.startswith("o ")}
    parts = model.buildings.loc[model.buildings["object_type"] == "BuildingPart", "building_id"]
    assert named == set(parts)  # the parts carry Zürich's geometry
    used = {line.split()[1] for line in text.splitlines() if line.startswith("usemtl")}
    assert used == {"GroundSurface", "WallSurface", "RoofSurface"}
    loaded = trimesh.load(out, force="mesh")
    assert loaded.area == pytest.approx(surface_area(model, lod), rel=1e-4)


def test_stl_keeps_the_lod12_volume(models, tmp_path):
    model, lod = models["sample"]
    out = meshes.write_stl(model, tmp_path / "sample.stl", lod=lod)
    loaded = trimesh.load(out, force="mesh")
    expected = np.nansum(model.buildings["volume_lod1"].to_numpy(dtype=float))
    assert loaded.volume == pytest.approx(expected, rel=1e-3)
    assert loaded.area == pytest.approx(surface_area(model, lod), rel=1e-4)


def test_cli_mesh_exports(sample_twin, tmp_path):
    runner = CliRunner()
    for fmt in ("obj", "glb", "stl"):
        out = tmp_path / f"city.{fmt}"
        result = runner.invoke(main, ["export", str(sample_twin), "-f", fmt, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 1000
    assert gltf_report(tmp_path / "city.glb")["numErrors"] == 0
    args = ["export", str(sample_twin), "-f", "glb", "-o", str(tmp_path / "x.glb")]
    result = runner.invoke(main, [*args, "--lod", "1.2", "--lod", "2.2"])
    assert result.exit_code != 0 and "one LoD at a time" in result.output


def test_unknown_lod_is_an_error(models, tmp_path):
    model, _ = models["zurich"]
    with pytest.raises(InputError, match=r"no LoD 2\.2"):
        meshes.write_glb(model, tmp_path / "x.glb", lod="2.2")
    assert not list(tmp_path.iterdir())


def test_a_wall_with_a_spike_is_rebuilt_from_its_ring():
    """Wall GEOM_847286 of Berlin building BLDG_0003000e00180b94 (3910_5819_1bldg.gml): its
    ring A-B-C-D has B on the segment D-A, so the edges A-B and D-A overlap (a spike) and
    GEOS finds no convex corner. Rebuilt, it is the triangle B-C-D."""
    a = (391864.18966667, 5819093.45398854, 61.6466990247379)
    b = (391865.753966832, 5819090.15029087, 61.6466990247379)
    c = (391869.358395131, 5819082.53799535, 61.8621824905604)
    d = (391869.950085878, 5819081.28836748, 61.6466990247379)
    wall = shapely.Polygon([a, b, c, d, a])
    with pytest.raises(shapely.errors.GEOSException, match="convex corner"):
        shapely.constrained_delaunay_triangles(wall)  # what stopped every export
    with pytest.warns(DataQualityWarning, match=r"1 degenerate face\(s\).* 0 left out"):
        corners, owner = triangulate(np.array([wall]))
    assert owner.tolist() == [0]
    assert {tuple(p) for p in corners[0].tolist()} == {b, c, d}
    # By hand: B->D = (4.196119, -8.861924, 0), B->C = (3.604428, -7.612296, 0.215483);
    # their cross product is (-1.909593, -0.904193, ~0.0001), of length
    # sqrt(3.646546 + 0.817565) = 2.112844: the triangle's area is 1.056422 m².
    p, q, r = corners[0]
    assert np.linalg.norm(np.cross(q - p, r - p)) / 2.0 == pytest.approx(1.056422, abs=1e-5)


@pytest.mark.parametrize("fmt", ["obj", "glb", "stl", "3dtiles"])
def test_a_degenerate_wall_never_stops_an_export(models, fmt, tmp_path):
    """The Berlin building whose wall stopped every mesh export is written whole, and the
    output's notes say what was repaired."""
    model, lod = models["berlin-spike"]
    name = "spike" if fmt == "3dtiles" else f"spike.{fmt}"
    # the tile names no height datum: its heights go into 3D Tiles unchanged, as asked
    heights = {"no_geoid": True} if fmt == "3dtiles" else {}
    with pytest.warns(DataQualityWarning, match=r"1 degenerate face\(s\)"):
        out = write(model, tmp_path / name, format=fmt, lods=[lod], **heights)
    if fmt == "obj":
        assert f"# note: {SPIKE_NOTE}" in out.read_text()
    elif fmt == "glb":
        assert gltf_report(out)["numErrors"] == 0
        data = out.read_bytes()  # GLB: 12-byte header, then the JSON chunk's length and type
        head = json.loads(data[20 : 20 + int.from_bytes(data[12:16], "little")])
        assert head["asset"]["extras"]["notes"][0].startswith(SPIKE_NOTE)
    elif fmt == "stl":
        # every face is in: the triangles cover the surfaces' summed (Newell) area
        assert trimesh.load(out, force="mesh").area == pytest.approx(
            surface_area(model, lod), rel=1e-6
        )
    else:
        tileset = json.loads(out.read_text())
        assert tileset["asset"]["extras"]["notes"][0].startswith(SPIKE_NOTE)


def test_a_degenerate_wall_never_stops_a_render(tmp_path):
    """``twin import`` then ``twin render`` of the same building draw a picture."""
    runner = CliRunner()
    store, picture = tmp_path / "spike.gpkg", tmp_path / "spike.png"
    assert runner.invoke(main, ["import", str(SPIKE), "-o", str(store)]).exit_code == 0
    with (
        pytest.warns(TwinWarning, match="the twin has no"),  # one building, nothing around it
        pytest.warns(DataQualityWarning, match=r"1 degenerate face\(s\)"),
    ):
        result = runner.invoke(
            main, ["render", str(store), "-o", str(picture), "--size", "160", "120"]
        )
    assert result.exit_code == 0, result.output
    image = iio.imread(picture)
    assert image.shape == (120, 160, 3)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50  # the building, not a blank sky
