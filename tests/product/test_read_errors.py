"""Damaged inputs through the real ``twin`` command line: text in an unexpected encoding, a
truncated terrain or orthophoto, an output that cannot be what the command writes. Each is a
message naming the file (and the field and byte), exit code 1 (``dig check``: 3), no
traceback, and whatever output was there before stays as it was."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyogrio
import pytest
from click.testing import CliRunner

import twin
from twin.cli import main
from twin.errors import DataQualityWarning

STREET = "Völkermarkter Straße"
"""A Klagenfurt street: ö (0xF6) and ß (0xDF) in cp1252 and ISO-8859-1 alike."""
RING = "St. Veiter Ring – Nord"
"""The en dash is 0x96 in cp1252 and a control code in ISO-8859-1 (GDAL's assumption for a
Shapefile without .cpg): only cp1252 reads it right."""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _twin(*args: str):
    """``twin ARGS`` in this process; its stdout and stderr."""
    return CliRunner().invoke(main, [str(a) for a in args])


def _fails(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.output


def _truncate(path: Path) -> int:
    """Cut ``path`` to half its bytes (an interrupted copy); the size left."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return len(data) // 2


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """A small sample district with an orthophoto, no point cloud."""
    from ingest.synthetic import generate_district

    out = tmp_path_factory.mktemp("read_errors") / "sources"
    generate_district(out, buildings=30, seed=0, lidar=False, ortho=True)
    return out


@pytest.fixture(scope="module")
def built(sources, tmp_path_factory) -> Path:
    """The twin of :func:`sources` (``city.gpkg`` with its terrain and orthophoto COGs)."""
    out = tmp_path_factory.mktemp("read_errors_twin") / "city.gpkg"
    result = _twin("build", sources, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    return out


def _copy_twin(built: Path, folder: Path) -> Path:
    """The twin's files (``city.*``) copied into ``folder``; its GeoPackage."""
    folder.mkdir()
    for file in built.parent.glob(f"{built.stem}.*"):
        shutil.copy(file, folder / file.name)
    return folder / built.name


def _folder(sources: Path, tmp_path: Path) -> Path:
    """A copy of the sample folder."""
    folder = tmp_path / "sources"
    shutil.copytree(sources, folder)
    return folder


def _configure(folder: Path, after: str, line: str) -> None:
    """Add ``line`` to the folder's twin.toml after the line ``after``."""
    toml = folder / "twin.toml"
    text = toml.read_text(encoding="utf-8")
    assert f"{after}\n" in text
    toml.write_text(text.replace(f"{after}\n", f"{after}\n{line}\n", 1), encoding="utf-8")


CADASTRE = (
    'path = "cadastre.gpkg"\nparcels_layer = "parcels"\nbuildings_layer = "buildings"\n'
    'building_id = "building_id"'
)


def _cadastre(sources: Path, tmp_path: Path, suffix: str, *, config: str = "") -> Path:
    """The sample folder with its buildings in ``houses.<suffix>``, a ``street`` column of
    cp1252 bytes (:data:`STREET`, :data:`RING` in feature 1), named in twin.toml with the
    extra lines ``config``."""
    folder = _folder(sources, tmp_path)
    frame = pyogrio.read_dataframe(sources / "cadastre.gpkg", layer="buildings")
    frame = frame.rename(columns={"building_id": "bid"})  # a .dbf field has 10 characters
    frame["street"] = STREET
    frame.loc[1, "street"] = RING
    path = folder / f"houses.{suffix}"
    if suffix == "shp":
        pyogrio.write_dataframe(frame, path, encoding="cp1252")  # with houses.cpg: CP1252
        path.with_suffix(".cpg").unlink()
    elif suffix == "csv":
        frame["wkt"] = frame.geometry.to_wkt()
        frame.drop(columns="geometry").to_csv(path, index=False, encoding="cp1252")
        config += '\ncrs = "EPSG:31258+5778"'
    elif suffix == "gpkg":  # cp1252 bytes where GeoPackage mandates UTF-8, in feature 3
        frame["street"] = "Domgasse"
        pyogrio.write_dataframe(frame, path, layer="houses", layer_options={"SPATIAL_INDEX": "NO"})
        with sqlite3.connect(path) as db:
            db.execute(
                "UPDATE houses SET street = CAST(? AS TEXT) WHERE fid = 3",
                (STREET.encode("cp1252"),),
            )
        db.close()
    toml = folder / "twin.toml"
    text = toml.read_text(encoding="utf-8").replace(
        CADASTRE, f'path = "{path.name}"\nbuilding_id = "bid"\n{config}'
    )
    toml.write_text(text, encoding="utf-8")
    return folder


def _streets(twin: Path) -> list[str]:
    frame = pyogrio.read_dataframe(twin, layer="buildings", read_geometry=False)
    return frame.sort_values("building_id")["street"].tolist()


# --- encodings ---------------------------------------------------------------------------


def test_shapefile_with_cpg_is_read_in_its_code_page(sources, tmp_path):
    folder = _cadastre(sources, tmp_path, "shp")
    (folder / "houses.cpg").write_text("1252")
    result = _twin("build", folder, "-o", tmp_path / "city.gpkg", "-q")
    assert result.exit_code == 0, result.output
    assert _streets(tmp_path / "city.gpkg") == [STREET, RING] + [STREET] * 28


def test_shapefile_without_cpg_falls_back_to_cp1252_with_a_warning(sources, tmp_path):
    folder = _cadastre(sources, tmp_path, "shp")
    with pytest.warns(DataQualityWarning, match=r"houses\.shp.*field\(s\) 'street'.*cp1252"):
        result = _twin("build", folder, "-o", tmp_path / "city.gpkg", "-q")
    assert result.exit_code == 0, result.output
    # the dash too, which ISO-8859-1 would make the control code U+0096
    assert _streets(tmp_path / "city.gpkg") == [STREET, RING] + [STREET] * 28


def test_a_reader_warning_prints_once_and_reaches_the_run_record(sources, tmp_path):
    """Through the command as a process: the warning is one ``warning:`` line on stderr (no
    Python source line), and the twin's run record keeps it."""
    folder = _cadastre(sources, tmp_path, "shp")
    done = subprocess.run(
        [sys.executable, "-m", "twin.cli", "build", folder, "-o", tmp_path / "city.gpkg", "-q"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    lines = [x for x in done.stderr.splitlines() if "houses.shp" in x]
    assert len(lines) == 1 and lines[0].startswith("warning: "), done.stderr
    assert "vector.py" not in done.stderr and "Traceback" not in done.stderr
    runs = pyogrio.read_dataframe(tmp_path / "city.gpkg", layer="runs", read_geometry=False)
    assert lines[0].removeprefix("warning: ") in json.loads(runs["warnings"].iloc[-1])


def test_wrong_cpg_names_field_feature_and_byte(sources, tmp_path):
    folder = _cadastre(sources, tmp_path, "shp")
    (folder / "houses.cpg").write_text("UTF-8")
    output = tmp_path / "city.gpkg"
    output.write_bytes(b"")  # an earlier output: left alone by a failed build
    result = _twin("build", folder, "-o", output, "-q")
    # feature 0's street: b"V\xf6lk...", the ö (0xF6) at position 1 starts no UTF-8 sequence
    _fails(
        result,
        1,
        "houses.shp: cadastre buildings: feature 0, field 'street': byte 0xF6 at position 1",
        f"it reads as cp1252 ('{STREET}')",
        'encoding = "cp1252"',
    )
    assert output.read_bytes() == b""
    # ... and the config saying so reads it, over the .cpg
    _configure(folder, 'building_id = "bid"', 'encoding = "cp1252"')
    result = _twin("build", folder, "-o", output, "-q")
    assert result.exit_code == 0, result.output
    assert _streets(output) == [STREET, RING] + [STREET] * 28


def test_geopackage_with_cp1252_bytes(sources, tmp_path):
    folder = _cadastre(sources, tmp_path, "gpkg")
    result = _twin("build", folder, "-o", tmp_path / "city.gpkg", "-q")
    _fails(
        result,
        1,
        "houses.gpkg: cadastre buildings: feature 3, field 'street': byte 0xF6 at position 1",
        "not utf-8 text, which the GPKG format declares",
    )
    assert not (tmp_path / "city.gpkg").exists()
    _configure(folder, 'building_id = "bid"', 'encoding = "cp1252"')
    result = _twin("build", folder, "-o", tmp_path / "city.gpkg", "-q")
    assert result.exit_code == 0, result.output
    streets = _streets(tmp_path / "city.gpkg")
    assert streets[2] == STREET and set(streets[:2] + streets[3:]) == {"Domgasse"}


def test_csv_cadastre_declared_and_not(sources, tmp_path):
    folder = _cadastre(sources, tmp_path / "a", "csv")
    with pytest.warns(DataQualityWarning, match=r"houses\.csv.*'street'"):
        result = _twin("build", folder, "-o", tmp_path / "a.gpkg", "-q")
    assert result.exit_code == 0, result.output
    assert _streets(tmp_path / "a.gpkg") == [STREET, RING] + [STREET] * 28
    folder = _cadastre(sources, tmp_path / "b", "csv", config='encoding = "windows-1252"')
    result = _twin("build", folder, "-o", tmp_path / "b.gpkg", "-q")  # no warning
    assert result.exit_code == 0, result.output
    assert _streets(tmp_path / "b.gpkg") == [STREET, RING] + [STREET] * 28
    # 0x81 is no character in cp1252 either; RING is feature 1, line 3 after the header
    houses = folder / "houses.csv"
    houses.write_bytes(houses.read_bytes().replace(b"\x96", b"\x81"))
    folder.joinpath("twin.toml").write_text(
        folder.joinpath("twin.toml")
        .read_text(encoding="utf-8")
        .replace('encoding = "windows-1252"\n', ""),
        encoding="utf-8",
    )
    result = _twin("build", folder, "-o", tmp_path / "c.gpkg", "-q")
    _fails(
        result,
        1,
        "houses.csv: cadastre buildings: line 3, field 'street': b'St. Veiter Ring \\x81 Nord' "
        "is neither UTF-8 nor cp1252 text (byte 0x81 at position 16)",
    )


def test_unknown_encoding_is_a_message(sources, tmp_path):
    folder = _cadastre(sources, tmp_path, "shp", config='encoding = "klingon"')
    result = _twin("build", folder, "-o", tmp_path / "city.gpkg", "-q")
    _fails(result, 1, 'houses.shp: cadastre buildings: unknown encoding = "klingon"')


def test_survey_points_in_cp1252(sources, tmp_path):
    folder = _folder(sources, tmp_path)
    csv = folder / "survey_points.csv"
    lines = csv.read_text(encoding="utf-8").split("\n")
    lines[3] = "3-Straße" + lines[3][lines[3].index(",") :]  # the point number of line 4
    csv.write_bytes("\n".join(lines).encode("cp1252"))
    with pytest.warns(DataQualityWarning, match=r"survey_points\.csv.*line 4, field 'point_no'"):
        result = _twin("build", folder, "-o", tmp_path / "a.gpkg", "-q")
    assert result.exit_code == 0, result.output
    points = pyogrio.read_dataframe(tmp_path / "a.gpkg", layer="survey_points")
    assert "3-Straße" in set(points["point_no"])
    # Declared UTF-8, it is an error: ß (0xDF) follows three lines and "3-Stra".
    offset = len("\n".join(lines[:3]) + "\n3-Stra")
    _configure(folder, 'codes = "survey_codes.csv"', 'encoding = "utf-8"')
    result = _twin("build", folder, "-o", tmp_path / "b.gpkg", "-q")
    _fails(
        result,
        1,
        f"survey_points.csv: survey points: line 4, field 'point_no': byte 0xDF at offset "
        f"{offset} is not utf-8 text",
    )


def test_operators_in_cp1252(sources, tmp_path):
    folder = _folder(sources, tmp_path)
    table = folder / "operators.csv"
    table.write_bytes(table.read_text(encoding="utf-8").encode("cp1252"))
    names = [line.split(",")[0] for line in table.read_text(encoding="cp1252").splitlines()[1:]]
    assert any("–" in name for name in names)  # the sample's operators have dashes
    with pytest.warns(DataQualityWarning, match=r"operators\.csv: operators: .*'operator'"):
        result = _twin("build", folder, "-o", tmp_path / "city.gpkg", "-q")
    assert result.exit_code == 0, result.output
    stored = pyogrio.read_dataframe(tmp_path / "city.gpkg", layer="operators")
    assert stored["operator"].tolist() == names


def test_trench_file_in_cp1252(built, sources, tmp_path):
    text = (sources / "trench.geojson").read_text(encoding="utf-8")
    trench = tmp_path / "trench.geojson"
    trench.write_bytes(text.replace('"TR-1"', f'"{STREET}"').encode("cp1252"))
    result = _twin("dig", "check", built, trench)
    _fails(result, 3, "trench.geojson: trench: feature 0, field 'trench_id': byte 0xF6")


# --- truncated rasters ---------------------------------------------------------------------


def test_truncated_terrain_in_build(sources, built, tmp_path):
    folder = _folder(sources, tmp_path)
    size = _truncate(folder / "dtm.tif")
    output = _copy_twin(built, tmp_path / "old")  # an earlier twin there stays
    before = _sha(output)
    result = _twin("build", folder, "-o", output, "-q")
    _fails(
        result,
        1,
        f"dtm.tif: cannot read the raster: the file is truncated: it has {size:,} bytes",
    )
    assert _sha(output) == before


def test_truncated_orthophoto_in_build(sources, tmp_path):
    folder = _folder(sources, tmp_path)
    size = _truncate(folder / "ortho.tif")
    result = _twin("build", folder, "-o", tmp_path / "city.gpkg", "-q")
    _fails(
        result,
        1,
        f"ortho.tif: cannot copy the orthophoto: the file is truncated: it has {size:,} bytes",
    )
    assert not (tmp_path / "city.gpkg").exists()


@pytest.mark.parametrize("stored", ["dtm", "ortho"])
def test_truncated_twin_rasters_in_render(built, tmp_path, stored):
    twin = _copy_twin(built, tmp_path / "twin")
    size = _truncate(twin.with_suffix(f".{stored}.tif"))
    picture = tmp_path / "city.png"
    picture.write_bytes(b"")  # an earlier picture: left alone
    result = _twin("render", twin, "-o", picture, "--size", "320", "200")
    _fails(
        result,
        1,
        f"city.{stored}.tif: cannot read the raster: the file is truncated: it has {size:,}",
    )
    assert picture.read_bytes() == b""


@pytest.mark.parametrize(("stored", "what"), [("dtm", "terrain raster"), ("ortho", "orthophoto")])
def test_truncated_twin_rasters_in_dig_check(built, sources, tmp_path, stored, what):
    twin = _copy_twin(built, tmp_path / "twin")
    size = _truncate(twin.with_suffix(f".{stored}.tif"))
    result = _twin("dig", "check", twin, sources / "trench.geojson", "--out", tmp_path / "out")
    _fails(
        result,
        3,
        f"city.{stored}.tif: cannot read the {what}: the file is truncated: it has {size:,}",
    )
    assert "trench.geojson" not in result.stderr  # the twin's file is named, not the trench's


def test_terrain_gone_under_a_built_index_is_named(built, tmp_path):
    """A server's excavation index outlives the file it was built from: the terrain that is
    gone by the time a trench is sampled is named, not a rasterio error (a 500)."""
    from twin.analysis.trench import ExcavationIndex
    from twin.errors import InputError

    twin_path = _copy_twin(built, tmp_path / "twin")
    index = ExcavationIndex.from_model(twin.open(twin_path))
    twin_path.with_suffix(".dtm.tif").unlink()
    with pytest.raises(InputError, match=r"city\.dtm\.tif: cannot read the terrain raster"):
        index.ground(np.array([[524600.0, 165400.0]]))


# --- outputs ---------------------------------------------------------------------------------


def test_3dtiles_onto_a_file(built, tmp_path):
    existing = tmp_path / "existing_file.txt"
    existing.write_text("notes\n")
    before = _sha(existing)
    for extra in ([], ["--overwrite"]):
        result = _twin("export", built, "-f", "3dtiles", "-o", existing, *extra)
        _fails(result, 1, "existing_file.txt is a file, not a folder: give a folder's path")
        assert _sha(existing) == before


@pytest.mark.parametrize("name", ["out.bmp", "out.xyz", "out"])
def test_render_to_an_unknown_suffix(built, tmp_path, name):
    result = _twin("render", built, "-o", tmp_path / name, "--size", "320", "200")
    _fails(
        result,
        1,
        f"{name}: twin renders pictures (.png, .jpg, .jpeg) and fly-through videos "
        "(.gif, .mp4), not ",
    )
    assert not (tmp_path / name).exists()
    # over an existing file of that name, with --overwrite: nothing is written either
    (tmp_path / name).write_text("keep\n")
    result = _twin("render", built, "-o", tmp_path / name, "--overwrite")
    _fails(result, 1, "twin renders pictures")
    assert (tmp_path / name).read_text() == "keep\n"
