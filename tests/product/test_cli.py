"""The ``twin`` command line, in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import DATA
from twin import __version__
from twin.cli import main
from twin.errors import TwinWarning


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


# -- options: units and ranges checked before any work ------------------------------------------

BAG = DATA / "3dbag_cityjsonseq" / "9-444-728_sm.city.jsonl"


@pytest.fixture(scope="module")
def bag_twin(tmp_path_factory) -> Path:
    """The real 3DBAG tile (2 buildings, 2 parts, EPSG:7415) imported as a twin."""
    out = tmp_path_factory.mktemp("bag") / "bag.gpkg"
    result = CliRunner().invoke(main, ["import", str(BAG), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--scale", "0"], "'--scale': '0': scale must be a finite number between 1e-06 and 1 (m)"),
        (["--scale", "-0.001"], "'-0.001': scale must be a finite number between 1e-06 and 1"),
        (["--scale", "nan"], "'nan': scale must be a finite number"),
        (["--scale", "2"], "'2': scale must be a finite number between 1e-06 and 1 (m)"),
        (
            ["--bbox", "125100", "489000", "125000", "489500"],
            "'--bbox': 125100 489000 125000 489500: must be XMIN YMIN XMAX YMAX with XMIN < XMAX "
            "and YMIN < YMAX",
        ),
        (["--bbox", "125000", "489000", "125000", "489500"], "with XMIN < XMAX and YMIN < YMAX"),
        (["--bbox", "125000", "489000", "inf", "489500"], "'inf': bbox must be a finite number"),
        (["--bbox", "1", "2", "3"], "'--bbox' requires 4 arguments"),
    ],
)
def test_export_options_are_checked_before_any_work(bag_twin, tmp_path, options, message):
    out = tmp_path / "bag.city.json"
    args = ["export", str(bag_twin), "-f", "cityjson", "-o", str(out), *options]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_serve_refuses_ports_it_cannot_listen_on(bag_twin):
    import socket

    runner = CliRunner()
    # uvicorn would listen on 99999 mod 65536 = 34463 and print 99999
    result = runner.invoke(main, ["serve", str(bag_twin), "--port", "99999"])
    assert result.exit_code == 2
    assert "Invalid value for '--port': 99999 is not in the range 1<=x<=65535" in result.output
    result = runner.invoke(main, ["serve", str(bag_twin), "--port", "0"])
    assert result.exit_code == 2 and "0 is not in the range 1<=x<=65535" in result.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(main, ["serve", str(bag_twin), "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use: another program" in (
        result.output
    )
    result = runner.invoke(main, ["serve", str(bag_twin), "--host", "no-such-host.invalid"])
    assert result.exit_code == 1 and "--host no-such-host.invalid: not an address" in result.output


def test_sample_counts_are_checked(tmp_path):
    runner = CliRunner()
    for option, value in (("--buildings", "-1"), ("-n", "0"), ("--seed", "-1")):
        result = runner.invoke(main, ["sample", str(tmp_path / "s"), option, value])
        assert result.exit_code == 2, result.output
        assert f"{value} is not in the range x>=" in result.output
    assert list(tmp_path.iterdir()) == []


def test_dig_check_sizes_are_lengths(bag_twin, tmp_path):
    trench = tmp_path / "trench.geojson"
    trench.write_text('{"type": "FeatureCollection", "features": []}')
    runner = CliRunner()
    for option, value in (("--width", "0"), ("--depth", "-1.5"), ("--depth", "nan")):
        args = ["dig", "check", str(bag_twin), str(trench), option, value]
        result = runner.invoke(main, args)
        assert result.exit_code == 3, result.output  # unusable options: never a verdict
        name = option.removeprefix("--")
        assert f"'{value}': {name} must be a finite number > 0 (m)" in result.output


def test_render_refuses_a_bbox_outside_the_twin(bag_twin, tmp_path):
    pytest.importorskip("pyvista")
    import twin

    out = tmp_path / "r.png"
    args = ["render", str(bag_twin), "-o", str(out), "--size", "160", "120", "--bbox"]
    result = CliRunner().invoke(main, [*args, "0", "0", "10", "10"])
    assert result.exit_code == 1, result.output
    # the extent it names is that of the buildings (all the twin shows), from their
    # footprints here
    left, bottom, right, top = twin.open(bag_twin).buildings.total_bounds
    assert (
        f"--bbox 0 0 10 10 lies wholly outside the twin, whose extent (what it shows) is "
        f"{left:.1f} {bottom:.1f} {right:.1f} {top:.1f} in its CRS" in result.output
    )
    assert not out.exists()
    # a box that meets a corner of the twin is rendered
    box = [str(v) for v in (left - 100, bottom - 100, left + 5, bottom + 5)]
    with pytest.warns(TwinWarning, match="the twin has no"):  # footprints and solids only
        result = CliRunner().invoke(main, [*args, *box])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0


# -- commands from entry points -----------------------------------------------------------------

#: a script running ``twin`` with the viewer extra missing (no PyVista: an import of it fails
#: as in an installation without it), its arguments after the script's name
WITHOUT_PYVISTA = "import sys; sys.modules['pyvista'] = None; from twin.cli import main; main()"


def _twin(*args: str, script: str = "from twin.cli import main; main()"):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300
    )


def test_help_lists_every_command_and_loads_neither_pipeline_nor_viewer():
    """``twin --help`` names the twelve commands of the ``twin.commands`` entry points with their
    short help, and imports none of the point-cloud, pipeline or rendering stacks."""
    script = (
        "import sys; from twin.cli import main\n"
        "try: main(['--help'])\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in ('pyvista', 'vtk', 'laspy', 'ingest.pipeline', 'viewer.scene')"
        " if m in sys.modules))\n"
    )
    run = _twin(script=script)
    assert run.returncode == 0, run.stderr
    commands = run.stdout.split("Commands:\n")[1].splitlines()[:-1]
    names = [line.split()[0] for line in commands]
    assert names == [
        *("build", "copy", "diff", "dig", "export", "import", "info", "render", "sample"),
        *("serve", "validate", "view"),
    ]
    assert "Render the twin TWIN off-screen" in run.stdout  # viewer.cli.render's short help
    assert "Build the twin OUTPUT from SOURCES" in run.stdout  # ingest.cli.build's
    assert run.stdout.splitlines()[-1] == "[]"


def test_a_command_without_its_extra_says_what_to_install(tmp_path):
    run = _twin("render", str(tmp_path / "city.gpkg"), "-o", "x.png", script=WITHOUT_PYVISTA)
    assert run.returncode == 1
    assert run.stderr == (
        "Error: twin render needs the viewer extra (no module pyvista): "
        "pip install 'twin[viewer]'\n"
    )
    assert not (tmp_path / "x.png").exists()
    # the other commands are untouched, and the help still lists render with its own help
    run = _twin("--help", script=WITHOUT_PYVISTA)
    assert run.returncode == 0 and "render    Render the twin TWIN off-screen" in run.stdout


def test_an_unknown_command_is_a_usage_error():
    run = _twin("rendr")
    assert run.returncode == 2
    assert "No such command 'rendr'" in run.stderr
