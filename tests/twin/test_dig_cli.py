"""``twin dig`` end to end on the sample district, with its reports; the exit codes of
``twin dig check`` in real processes; each on a twin in a GeoPackage and in PostGIS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import imageio.v3 as iio
import pyogrio
import pytest
import shapely
from click.testing import CliRunner

from tests.conftest import ROOT
from tests.twin.test_trench import line, model, pipe
from twin.cli import main
from twin.store import write


def _trench_file(sample_twin, tmp_path):
    """A trench 1.5 m beside the sample's first water main in service (read from the
    GeoPackage by pyogrio), in WGS 84."""
    u = pyogrio.read_dataframe(sample_twin, layer="utilities")
    main_line = u[(u["network"] == "water") & (u["status"] == "in_service")].geometry.iloc[0]
    axis = shapely.offset_curve(main_line, 1.5)
    path = tmp_path / "trench.geojson"
    gpd.GeoDataFrame({"trench_id": ["T-1"]}, geometry=[axis], crs=u.crs).to_crs(
        "EPSG:4326"
    ).to_file(path)
    return path


def test_dig_check_prints_verdict_and_writes_reports(sample_store, sample_twin, tmp_path):
    # The trench, sent in WGS 84, runs 1.5 m beside a water main: 1.5 - 0.3 - 0.15 = 1.05 m
    # at most from the bottom edge, and the transformation to MGI (1.5 m) alone makes the
    # main's position uncertain by more: it may lie inside, the verdict is RED, exit code 2.
    trench = _trench_file(sample_twin, tmp_path)
    out = tmp_path / "report"
    args = [
        "dig",
        "check",
        str(sample_store),
        str(trench),
        "--width",
        "0.6",
        "--depth",
        "1.8",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("RED trench T-1")
    assert "m³ excavated" in result.output and "non_cohesive soil: city default" in result.output
    data = json.loads((out / "trench.json").read_text())
    assert data["trench_id"] == "T-1" and data["utilities"]
    assert "MGI to WGS 84" in data["data_quality"]["transformation"]["description"]
    geo = json.loads((out / "trench.geojson").read_text())
    kinds = {f["properties"]["kind"] for f in geo["features"]}
    assert {"body", "utility", "parcel"} <= kinds
    lon, lat = geo["features"][0]["geometry"]["coordinates"][0][0][:2]
    assert 14.0 < lon < 14.6 and 46.4 < lat < 46.8  # Klagenfurt, in WGS 84
    page = (out / "trench.html").read_text()
    assert "<svg" in page and "Rules applied" in page and "T-1" in page
    assert '<img src="trench.png"' in page  # the 3D snapshot, rendered off-screen
    image = iio.imread(out / "trench.png").astype(int)
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    orange = (r > 150) & (g > 85) & (g < 150) & (b < 55)  # the excavation; roofs are redder
    assert orange.sum() > 30  # the same view without the trench has about 10 such pixels
    assert (out / "trench_utilities.csv").read_text().startswith("utility_id,")
    result = CliRunner().invoke(main, [*args[:-2], "--json"])
    assert result.exit_code == 2
    assert json.loads(result.output)[0]["status"] == "red"


def test_dig_check_bad_trench_is_a_message(sample_store, tmp_path):
    path = tmp_path / "bad.geojson"
    gpd.GeoDataFrame(
        geometry=[shapely.LineString([(14.0, 47.5), (14.001, 47.5)])], crs="EPSG:4326"
    ).to_file(path)
    result = CliRunner().invoke(main, ["dig", "check", str(sample_store), str(path)])
    assert result.exit_code == 3
    assert "outside the twin" in result.output and "Traceback" not in result.output


def test_dig_coordinate(sample_store, tmp_path):
    out = tmp_path / "coord"
    result = CliRunner().invoke(main, ["dig", "coordinate", str(sample_store), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "cluster(s) to combine" in result.output
    data = json.loads((out / "coordination.json").read_text())
    assert len(data["clusters"]) >= 1
    assert "<svg" in (out / "coordination.html").read_text()


# --- exit codes, in real processes ----------------------------------------------------------


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def crossing_twin(request, tmp_path_factory) -> Path | str:
    """A flat twin (tests/twin/test_trench.py) with one water main along x = 50, 1.65 m cover
    measured to ± 0.1 m, and nothing else; in a GeoPackage, or in a schema of PostGIS."""
    folder = tmp_path_factory.mktemp("crossing")
    main_line = pipe("W1", "water", line(50, 5, 50, 95), 1.65)
    where = folder / "city.gpkg"
    if request.param == "postgis":
        cluster = request.getfixturevalue("postgis")
        where = cluster.url(request.getfixturevalue("postgis_db"), schema="crossing")
    return write(model(folder, utilities=[main_line]), where)


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "twin.cli", "dig", "check", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _trenches(path: Path, *features: dict, crs="EPSG:31258") -> Path:
    rows = [dict(f) for f in features]
    geometry = [r.pop("geometry") for r in rows]
    gpd.GeoDataFrame(rows, geometry=geometry, crs=crs).to_file(path)
    return path


# 20 m west of the main: nothing within reach.
QUIET = {"trench_id": "quiet", "geometry": line(10, 20, 30, 20)}
# Across the main, 1.8 m deep: the main's top (1.55 m) lies inside the excavation.
ACROSS = {"trench_id": "across", "depth_m": 1.8, "geometry": line(40, 50, 60, 50)}


@pytest.mark.parametrize(
    ("features", "options", "code", "says"),
    [
        ([QUIET], [], 0, "GREEN trench quiet"),
        # 0.5 m wide at 1.2 m: narrower than BauV § 49 (4)'s 0.6 m, a warning
        ([QUIET], ["--width", "0.5"], 1, "AMBER trench quiet"),
        ([QUIET, ACROSS], [], 2, "RED trench across"),  # the worst of the file
    ],
)
def test_exit_code_is_the_verdict(crossing_twin, tmp_path, features, options, code, says):
    trenches = _trenches(tmp_path / "trenches.gpkg", *features)
    done = _run(str(crossing_twin), str(trenches), *options)
    assert done.returncode == code, done.stdout + done.stderr
    assert says in done.stdout


def test_exit_code_of_unusable_input(crossing_twin, tmp_path):
    # Projected coordinates in a GeoJSON file, which claims WGS 84: 3, with a hint.
    projected = tmp_path / "projected.geojson"
    gpd.GeoDataFrame(geometry=[line(10, 20, 30, 20)]).set_crs("EPSG:4326").to_file(projected)
    done = _run(str(crossing_twin), str(projected))
    assert done.returncode == 3
    assert "look like projected coordinates: pass --crs" in done.stderr
    assert "Traceback" not in done.stderr
    # ... which --crs fixes: the quiet trench is green.
    assert _run(str(crossing_twin), str(projected), "--crs", "EPSG:31258").returncode == 0
    # A depth that is no number, an option that is none: 3 too, never a verdict's code.
    words = _trenches(tmp_path / "words.gpkg", {**QUIET, "depth_m": "deep"})
    done = _run(str(crossing_twin), str(words))
    assert done.returncode == 3 and "depth_m 'deep' is not a number" in done.stderr
    done = _run(str(crossing_twin), str(words), "--soil", "clay")
    assert done.returncode == 3 and "Invalid value for '--soil'" in done.stderr
    inf = _trenches(tmp_path / "inf.gpkg", QUIET)
    done = _run(str(crossing_twin), str(inf), "--depth", "inf")
    assert done.returncode == 3 and "depth must be a finite number" in done.stderr


def test_a_reader_that_stops_reading_leaves_the_verdict(crossing_twin, tmp_path):
    # `twin dig check ... | head -0`: the reader closes the pipe before a line is written;
    # the exit code is still the verdict (RED: 2), and no traceback
    trenches = _trenches(tmp_path / "trenches.gpkg", QUIET, ACROSS)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "twin.cli", "dig", "check", str(crossing_twin)]
    with subprocess.Popen(
        [*command, str(trenches)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    ) as check:
        check.stdout.close()
        errors = check.stderr.read().decode()
        assert check.wait(timeout=300) == 2, errors
    assert "Traceback" not in errors and "internal error" not in errors


def test_exit_codes_are_documented():
    result = CliRunner().invoke(main, ["dig", "check", "--help"])
    assert result.exit_code == 0
    for line_ in ("0  GREEN", "1  AMBER", "2  RED", "3  unusable input", "4  the check broke"):
        assert line_ in result.output


def test_reports_without_the_viewer_have_no_picture_and_say_why(crossing_twin, tmp_path):
    # An installation without the viewer extra (no PyVista): the trench renderer of the
    # twin.renderers entry points cannot load, so the reports come without the 3D picture,
    # with a warning saying what to install; the verdict is the same (QUIET: GREEN, 0).
    trenches = _trenches(tmp_path / "trenches.gpkg", QUIET)
    out = tmp_path / "report"
    script = "import sys; sys.modules['pyvista'] = None; from twin.cli import main; main()"
    args = ["dig", "check", str(crossing_twin), str(trenches), "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "warning: no 3D picture in the report: the trench picture needs the viewer extra "
        "(no module pyvista): pip install 'twin[viewer]'\n"
    )
    assert (out / "trench.html").is_file() and not (out / "trench.png").exists()
    assert "<img" not in (out / "trench.html").read_text(encoding="utf-8")
