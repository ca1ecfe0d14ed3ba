"""Build config files (``twin.toml``): every key checked for its type, unit and range before
any work, and whatever is wrong told in one ConfigError naming the file and the key.

The planner API's ``api.toml``: ``tests/twin/test_api_config.py``."""

from __future__ import annotations

import dataclasses
import tomllib

import numpy as np
import pytest
from click.testing import CliRunner

from ingest.config import BuildConfig, LidarOptions, Lod1Options, Lod13Options, Sources
from tests import tomltext
from tests.conftest import DELFT, write_config
from twin.cli import main
from twin.errors import ConfigError

FOOTPRINTS = DELFT / "bgt_pand.sqlite"
CADASTRE = f'[sources.cadastre]\npath = "{FOOTPRINTS}"\nbuilding_id = "gml_id"\n'


def _load(tmp_path, text):
    return BuildConfig.load(write_config(tmp_path / "twin.toml", text))


def test_a_valid_config_keeps_its_values_and_defaults(tmp_path):
    config = _load(
        tmp_path,
        '[project]\nname = "Delft"\ncrs = 7415\n'
        + CADASTRE
        + "[lod1]\nroof_percentile = 90\nstorey_height = 2.8\nbase = 'sloped'\n"
        + "[lidar]\nchunk_size = 250000\nnodata_cell = 0.5\n[lod13]\nmin_area = 0\n",
    )
    assert config.name == "Delft" and config.crs.to_epsg() == 7415
    assert config.sources["cadastre"].path == FOOTPRINTS.resolve()
    assert config.sources["cadastre"].options == {"building_id": "gml_id"}  # only keys given
    # an integer is a number: 90 is read as 90.0 %
    assert config.lod1.roof_percentile == 90.0 and isinstance(config.lod1.roof_percentile, float)
    assert (config.lod1.storey_height, config.lod1.base) == (2.8, "sloped")
    assert config.lod1.ground_buffer == 2.0 and config.lod1.ground_percentile == 5.0  # defaults
    assert (config.lidar.chunk_size, config.lidar.nodata_cell) == (250_000, 0.5)
    assert config.lidar.dtm_resolution == 1.0 and config.lod13 == Lod13Options(min_area=0.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # the values of the issue, each with its key, value, range and unit
        (
            "[lod1]\nroof_percentile = 150",
            "[lod1] roof_percentile = 150: must be between 0 and 100 (%)",
        ),
        ("[lod1]\nground_buffer = -5", "[lod1] ground_buffer = -5: must be >= 0 (m)"),
        (
            '[lod1]\nstorey_height = "three"',
            "[lod1] storey_height = 'three': must be a number between 2 and 10 (m)",
        ),
        # a boolean or a numeric string is no number: never coerced
        ("[lod1]\nstorey_height = true", "[lod1] storey_height = True: must be a number"),
        ('[lod1]\nsurvey_snap = "0.2"', "[lod1] survey_snap = '0.2': must be a number >= 0 (m)"),
        (
            "[lod1]\nstorey_height = 12.5",
            "[lod1] storey_height = 12.5: must be between 2 and 10 (m)",
        ),
        ("[lod1]\nsliver_area = -1", "[lod1] sliver_area = -1: must be >= 0 (m²)"),
        ('[lod1]\nbase = "tilted"', "[lod1] base = 'tilted': must be 'flat' or 'sloped'"),
        ("[lod1]\nheight_attribute = 3", "[lod1] height_attribute = 3: must be a string"),
        ("[lidar]\ndtm_resolution = 0", "[lidar] dtm_resolution = 0: must be > 0 (m)"),
        # TOML has inf and nan; neither is a size
        ("[lidar]\ndtm_resolution = inf", "dtm_resolution = inf: must be a finite number > 0 (m)"),
        ("[lidar]\nground_distance = nan", "ground_distance = nan: must be a finite number >= 0"),
        (
            "[lidar]\nchunk_size = 0",
            "[lidar] chunk_size = 0: must be between 1 and 100000000 (points)",
        ),
        ("[lidar]\nchunk_size = 1e6", "[lidar] chunk_size = 1000000.0: must be a whole number"),
        ("[lidar]\nnodata_cell = -0.5", "[lidar] nodata_cell = -0.5: must be > 0 (m)"),
        ('[lidar]\nroof_sampling = "nearest"', "must be 'inside' or '3dfier'"),
        ("[lod13]\nstep = 0", "[lod13] step = 0: must be > 0 (m)"),
        # unknown keys, tables and sources, with what is known
        ("[lod1]\nroof_pct = 3", "[lod1] roof_pct: unknown key; known: roof_percentile, "),
        ("[lod2]\nstep = 1", "unknown table [lod2]; known: project, sources, lod1, lidar, lod13"),
        ("[sources.radar]\npath = 'x'", "unknown source [sources.radar]; known: cadastre, "),
        # malformed types anywhere
        ("lod1 = 3", "[lod1] = 3: must be a table"),
        ("[[lod1]]\nstep = 1", "[lod1] = [{'step': 1}]: must be a table"),
        ("[sources.dtm]\npath = ['a.tif']", "[sources.dtm] path = ['a.tif']: must be a string"),
        ("[sources.dtm]\ncrs = 'EPSG:7415'", "[sources.dtm] needs a 'path'"),
        ("[project]\ncrs = [7415]", "[project] crs = [7415]: must be a CRS"),
        ("[project]\nname = {a = 1}", "[project] name = a table: must be a string"),
        ("[sources.dtm]\npath = 'dtm.tif'", "[sources.dtm] path: file "),
        ("[project]\ncrs = 'EPSG:999999'", "[project] crs: 'EPSG:999999' is not a coordinate"),
        ('[sources.dtm]\npath = "a\\u0000b.tif"', "[sources.dtm] path: embedded null byte"),
    ],
)
def test_bad_values_name_the_file_key_value_and_range(tmp_path, text, message):
    # a key outside any table goes before the cadastre's table, which would hold it
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, CADASTRE + text if text.startswith("[") else f"{text}\n{CADASTRE}")
    assert str(error.value).startswith(f"{tmp_path / 'twin.toml'}: ")
    assert message in str(error.value)


def test_every_bad_key_of_a_file_is_in_its_one_message(tmp_path):
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, CADASTRE + "[lod1]\nroof_percentile = -1\n[lod13]\nmin_area = -4\n")
    assert str(error.value) == (
        f"{tmp_path / 'twin.toml'}: [lod1] roof_percentile = -1: must be between 0 and 100 (%); "
        "[lod13] min_area = -4: must be >= 0 (m²)"
    )


def test_options_made_in_python_are_checked_alike():
    # the same declarations guard the dataclasses (a ValidationError is a ValueError)
    with pytest.raises(ValueError, match="storey_height"):
        Lod1Options(storey_height=1.0)
    with pytest.raises(ValueError, match="less than or equal to 100"):
        dataclasses.replace(Lod1Options(), roof_percentile=101.0)
    assert dataclasses.replace(Lod1Options(), base="sloped").base == "sloped"
    assert LidarOptions(chunk_size=1).chunk_size == 1


def test_fuzzed_configs_raise_only_config_errors(tmp_path):
    """Random keys and values of every type in every table: a config is read or refused with
    a ConfigError, never a TypeError, KeyError or AttributeError."""
    rng = np.random.default_rng(15)
    tables = {
        "lod1": [*Lod1Options.__pydantic_fields__, "roof"],
        "lidar": list(LidarOptions.__pydantic_fields__),
        "lod13": list(Lod13Options.__pydantic_fields__),
        "project": ["name", "crs"],
        "sources.cadastre": ["path", "crs", "buildings_layer", "building_id", "layer"],
        "sources.survey": ["path", "codes", "crs"],
    }
    sources = [*Sources.model_fields, "radar"]
    outcomes = {"read": 0, "refused": 0}
    for n in range(400):
        lines = [CADASTRE] if rng.random() < 0.8 else []
        for table in rng.choice(list(tables), size=rng.integers(1, 4), replace=False):
            if table == "sources.cadastre" and lines:
                continue
            lines.append(f"[{table}]")
            for key in rng.choice(tables[table], size=rng.integers(1, 3), replace=False):
                drawn = tomltext.VALUES[rng.integers(len(tomltext.VALUES))]
                lines.append(f"{key} = {tomltext.value(drawn)}")
        if rng.random() < 0.2:  # a whole table or source replaced by a value
            name = str(
                rng.choice(["lod1", "sources", "project", *(f"sources.{s}" for s in sources)])
            )
            lines.insert(0, f"{name} = {tomltext.value(tomltext.VALUES[n % len(tomltext.VALUES)])}")
        text = "\n".join(lines) + "\n"
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            continue  # a key given twice: not what this test is about
        try:
            _load(tmp_path, text)
            outcomes["read"] += 1
        except ConfigError as exc:
            assert str(tmp_path / "twin.toml") in str(exc), text
            assert "Traceback" not in str(exc)
            outcomes["refused"] += 1
    assert outcomes["read"] >= 5 and outcomes["refused"] >= 200, outcomes


def test_build_refuses_a_bad_config_before_any_work(tmp_path):
    config = write_config(tmp_path / "twin.toml", CADASTRE + "[lod1]\nground_buffer = -5\n")
    out = tmp_path / "out" / "city.gpkg"
    result = CliRunner().invoke(main, ["build", str(config), "-o", str(out), "--quiet"])
    assert result.exit_code == 1, result.output
    assert f"{config}: [lod1] ground_buffer = -5: must be >= 0 (m)" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["twin.toml"]  # nothing written
