"""The ``twin`` command line, in process."""

from __future__ import annotations

import json

from click.testing import CliRunner

from twin import __version__
from twin.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_build_then_info(delft_config, tmp_path):
    out = tmp_path / "delft.gpkg"
    runner = CliRunner()
    result = runner.invoke(main, ["build", str(delft_config), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "160 buildings" in result.output
    assert "dsm 160" in result.output
    result = runner.invoke(main, ["info", str(out), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    layers = {layer["name"]: layer for layer in info["layers"]}
    assert layers["lod12"]["geometry_type"] == "MultiPolygon Z"
    assert layers["buildings"]["features"] == 160
    assert info["crs"]["horizontal_epsg"] == 28992
    assert info["crs"]["vertical"] == "NAP height"
    assert len(info["runs"]) == 1 and info["runs"][0]["height_methods"] == {"dsm": 160}
    assert info["terrain"]["pixel_size"] == 0.5
    text = runner.invoke(main, ["info", str(out)]).output
    assert "lod12" in text and "runs: 1" in text


def test_errors_are_messages_not_tracebacks(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[sources.cadastre]\npath = "missing.gpkg"\n')
    result = CliRunner().invoke(main, ["build", str(config), "-o", str(tmp_path / "x.gpkg")])
    assert result.exit_code == 1
    assert "missing.gpkg does not exist" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(main, ["info", str(tmp_path / "none.gpkg")])
    assert result.exit_code == 1
    assert "no such twin" in result.output


def test_bad_sources_give_one_clear_line(sample_sources, tmp_path):
    """Broken files of every kind: exit 1, a message naming the file, no traceback."""
    import shutil

    runner = CliRunner()
    cases = {
        "survey_points.csv": (b"", "survey_points.csv: cannot read survey points"),
        "cadastre.gpkg": (b"garbage", "cadastre.gpkg: cannot read cadastre buildings"),
        "dsm.tif": (b"II*\x00garbage", "dsm.tif: cannot read"),
    }
    for name, (content, message) in cases.items():
        folder = tmp_path / name.replace(".", "_")
        shutil.copytree(sample_sources, folder)
        (folder / name).write_bytes(content)
        result = runner.invoke(main, ["build", str(folder), "-o", str(tmp_path / "x.gpkg")])
        assert result.exit_code == 1, (name, result.output)
        assert message in result.output, (name, result.output)
        assert "Traceback" not in result.output
    assert not (tmp_path / "x.gpkg").exists()
    folder = tmp_path / "bad_coords"
    shutil.copytree(sample_sources, folder)
    csv = folder / "survey_points.csv"
    lines = csv.read_text().splitlines()
    lines[3] = lines[3].replace(",", ",x", 1)
    csv.write_text("\n".join(lines) + "\n")
    result = runner.invoke(main, ["build", str(folder), "-o", str(tmp_path / "x.gpkg")])
    assert result.exit_code == 1
    assert "survey_points.csv, line 4" in result.output


def test_serve_starts_quietly():
    """Importing the API stack prints nothing (third-party grammars once printed pages)."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", "import twin.api"], capture_output=True, text=True, check=True
    )
    assert run.stdout == "" and run.stderr == ""


def test_importing_twin_leaves_the_model_stack_unloaded():
    """``import twin`` (the CLI's ``--version``, the point cloud reader process) loads neither
    pandas nor geopandas: the model classes are imported on first use."""
    import subprocess
    import sys

    code = "import sys, twin; print(sorted({'pandas', 'geopandas'} & set(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
