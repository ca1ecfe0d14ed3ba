"""``twin dig`` end to end on the sample district, with its reports."""

from __future__ import annotations

import json

import geopandas as gpd
import imageio.v3 as iio
import shapely
from click.testing import CliRunner

import twin
from twin.cli import main


def _trench_file(sample_twin, tmp_path):
    model = twin.open(sample_twin)
    u = model.layers["utilities"]
    main_line = u[(u["network"] == "water") & (u["status"] == "in_service")].geometry.iloc[0]
    axis = shapely.offset_curve(main_line, 1.5)
    path = tmp_path / "trench.geojson"
    gpd.GeoDataFrame({"trench_id": ["T-1"]}, geometry=[axis], crs=model.crs).to_crs(
        "EPSG:4326"
    ).to_file(path)
    return path


def test_dig_check_prints_verdict_and_writes_reports(sample_twin, tmp_path):
    trench = _trench_file(sample_twin, tmp_path)
    out = tmp_path / "report"
    args = [
        "dig",
        "check",
        str(sample_twin),
        str(trench),
        "--width",
        "0.6",
        "--depth",
        "1.8",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith(("RED trench T-1", "AMBER trench T-1"))
    assert "m³ excavated" in result.output
    data = json.loads((out / "trench.json").read_text())
    assert data["trench_id"] == "T-1" and data["utilities"]
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
    assert json.loads(result.output)[0]["status"] in ("red", "amber")


def test_dig_check_bad_trench_is_a_message(sample_twin, tmp_path):
    path = tmp_path / "bad.geojson"
    gpd.GeoDataFrame(
        geometry=[shapely.LineString([(14.0, 47.5), (14.001, 47.5)])], crs="EPSG:4326"
    ).to_file(path)
    result = CliRunner().invoke(main, ["dig", "check", str(sample_twin), str(path)])
    assert result.exit_code == 1
    assert "outside the twin" in result.output and "Traceback" not in result.output


def test_dig_coordinate(sample_twin, tmp_path):
    out = tmp_path / "coord"
    result = CliRunner().invoke(main, ["dig", "coordinate", str(sample_twin), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "cluster(s) to combine" in result.output
    data = json.loads((out / "coordination.json").read_text())
    assert len(data["clusters"]) >= 1
    assert "<svg" in (out / "coordination.html").read_text()
