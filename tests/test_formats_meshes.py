"""OBJ, GLB and STL exports: the Khronos glTF validator and trimesh read back what we wrote."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import trimesh
from click.testing import CliRunner

import twin
from twin.cli import main
from twin.errors import InputError
from twin.formats import cityjson, meshes

ROOT = Path(__file__).resolve().parents[1]
VALIDATOR = ROOT / "tools" / "gltf_validate.mjs"
DATA = Path(__file__).parent / "data"
ZURICH = DATA / "zurich_cityjson" / "zurich_lod2_12.city.json"
BAG = DATA / "3dbag_cityjsonseq" / "9-444-728_sm.city.jsonl"


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
    }


@pytest.mark.parametrize("name", ["sample", "zurich", "3dbag"])
def test_glb_passes_the_khronos_validator(models, name, tmp_path):
    model, lod = models[name]
    out = meshes.write_glb(model, tmp_path / f"{name}.glb", lod=lod)
    report = gltf_report(out)
    assert report["numErrors"] == 0 and report["numWarnings"] == 0, report["messages"]
    mesh, _ = meshes.mesh(model, lod=lod)
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
