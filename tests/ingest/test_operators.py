"""The operators table: read from CSV or GeoPackage, checked, kept in the twin as a table
without geometry, and left alone by ``twin info``, the API and the exports."""

from __future__ import annotations

import json

import geopandas as gpd
import httpx
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

import twin
from ingest.config import Source
from ingest.operators import COLUMNS, read_operators
from ingest.pipeline import build
from tests.conftest import sample_config, write_config
from tests.servers import serving
from twin.cli import main
from twin.errors import DataQualityWarning, InputError
from twin.info import describe
from twin.store import write

#: the seven operators of the sample's networks (ingest/synthetic/networks.py, NETWORKS)
SAMPLE_OPERATORS = {
    "Stadtwerke Klagenfurt \u2013 Wasser",
    "Stadtwerke Klagenfurt \u2013 Kanal",
    "Energie Klagenfurt \u2013 Gas",
    "Energie Klagenfurt \u2013 Fernwärme",
    "KNG-Kärnten Netz",
    "A1 Telekom Austria",
    "Magenta Telekom",
}


def _csv(path, text: str):
    path.write_text(text, encoding="utf-8")
    return Source(name="operators", path=path)


def test_the_built_sample_keeps_its_operators_as_a_table(sample_twin, sample_sources):
    model = twin.open(sample_twin)
    table = model.layers["operators"]
    assert not isinstance(table, gpd.GeoDataFrame)
    assert list(table.columns) == list(COLUMNS)
    assert set(table["operator"]) == SAMPLE_OPERATORS
    written = pd.read_csv(sample_sources / "operators.csv", dtype=str)
    pd.testing.assert_frame_equal(table, written, check_dtype=False)
    used = set(model.layers["utilities"]["operator"]) | set(
        model.layers["planned_works"]["operator"]
    )
    assert used <= set(table["operator"])
    assert "operators:" not in model.layers["runs"]["warnings"].iloc[-1]  # nobody unlisted


def test_twin_info_the_api_and_an_export_take_a_table_without_geometry(sample_twin, tmp_path):
    layers = {layer["name"]: layer for layer in describe(sample_twin)["layers"]}
    assert layers["operators"] == {"name": "operators", "geometry_type": None, "features": 7}
    text = CliRunner().invoke(main, ["info", str(sample_twin)]).output
    assert "operators            table                   7" in text
    with serving(sample_twin, tmp_path) as url:
        listed = httpx.get(f"{url}/collections", params={"f": "json"}, timeout=30)
        assert listed.status_code == 200
        ids = {c["id"] for c in listed.json()["collections"]}
        assert "buildings" in ids and "operators" not in ids  # not served as features
        missing = httpx.get(f"{url}/collections/operators", params={"f": "json"}, timeout=30)
        assert missing.status_code == 404
    out = tmp_path / "city.city.json"
    result = CliRunner().invoke(
        main, ["export", str(sample_twin), "-f", "cityjson", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0


def test_a_table_made_as_a_geodataframe_without_geometry_is_stored(sample_twin, tmp_path):
    model = twin.open(sample_twin)
    table = gpd.GeoDataFrame({"operator": ["Wasser", "Gas"], "phone": ["+49 30 23125 110", None]})
    model.layers["operators"] = table
    again = twin.open(write(model, tmp_path / "copy.gpkg")).layers["operators"]
    assert again["operator"].tolist() == ["Wasser", "Gas"]
    assert again["phone"].iloc[0] == "+49 30 23125 110" and pd.isna(again["phone"].iloc[1])


def test_csv_and_geopackage_tables_are_read_alike(tmp_path):
    source = _csv(
        tmp_path / "operators.csv",
        "operator,phone,note\n"
        "  Stadtwerke Klagenfurt \u2013 Wasser , +49 30 23125 110,\n"
        "A1 Telekom Austria,,night shift\n",
    )
    table = read_operators(source)
    assert list(table.columns) == [*COLUMNS, "note"]  # missing columns added, extras kept
    assert table["operator"].tolist() == [
        "Stadtwerke Klagenfurt \u2013 Wasser",
        "A1 Telekom Austria",
    ]
    assert table["phone"].iloc[0] == "+49 30 23125 110" and pd.isna(table["phone"].iloc[1])
    assert table["email"].isna().all() and table["note"].iloc[1] == "night shift"
    gpkg = tmp_path / "contacts.gpkg"
    pyogrio.write_dataframe(table, gpkg, layer="operators", driver="GPKG")
    pyogrio.write_dataframe(table.iloc[:1], gpkg, layer="other", driver="GPKG")
    again = read_operators(Source("operators", gpkg, {"layer": "operators"}))
    pd.testing.assert_frame_equal(again, table, check_dtype=False)


def test_bad_tables_name_the_file_and_rows(tmp_path):
    with pytest.raises(InputError, match=r"operators.csv: the operators table has no 'operator'"):
        read_operators(_csv(tmp_path / "operators.csv", "name,phone\nWasser,1\n"))
    duplicated = "operator,phone\nWasser,1\nGas,2\nWasser,3\nGas,4\nKanal,5\n"
    with pytest.raises(InputError) as error:
        read_operators(_csv(tmp_path / "operators.csv", duplicated))
    # the header is line 1: Wasser on lines 2 and 4, Gas on lines 3 and 5
    assert str(error.value) == (
        f"{tmp_path / 'operators.csv'}: operator names must be unique: "
        "'Wasser' in lines 2, 4; 'Gas' in lines 3, 5"
    )
    with pytest.raises(InputError, match=r"operators.csv: no operator name in line 3$"):
        read_operators(_csv(tmp_path / "operators.csv", "operator,phone\nWasser,1\n  ,2\n"))
    gpkg = tmp_path / "contacts.gpkg"
    pyogrio.write_dataframe(
        pd.DataFrame({"operator": ["Gas", "Wasser", "Gas"]}), gpkg, layer="ops", driver="GPKG"
    )
    with pytest.raises(InputError, match=r"contacts.gpkg: .*'Gas' in features 1, 3$"):
        read_operators(Source("operators", gpkg, {"layer": "ops"}))
    with pytest.raises(InputError, match=r"contacts.gpkg: operators: no layer 'x' \(layers: ops\)"):
        read_operators(Source("operators", gpkg, {"layer": "x"}))


def test_a_bad_table_stops_the_build_and_leaves_the_twin_untouched(sample_sources, tmp_path):
    out = tmp_path / "city.gpkg"
    build(sample_config(sample_sources, {"cadastre", "dtm", "operators"}), out, progress=False)
    before = out.read_bytes()
    bad = tmp_path / "operators.csv"
    bad.write_text(
        (sample_sources / "operators.csv").read_text(encoding="utf-8")
        + "Magenta Telekom,Störungsannahme,+49 30 23125 199,,,\n",
        encoding="utf-8",
    )
    config = sample_config(sample_sources, {"cadastre", "operators"}, operators=bad)
    # seven operators on lines 2-8; Magenta Telekom is the last of them (line 8) and line 9
    with pytest.raises(InputError, match=r"'Magenta Telekom' in lines 8, 9$"):
        build(config, out, progress=False)
    assert out.read_bytes() == before
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    toml = write_config(
        tmp_path / "bad.toml",
        f'[sources.cadastre]\npath = "{sample_sources / "cadastre.gpkg"}"\n'
        f'buildings_layer = "buildings"\n\n[sources.operators]\npath = "{bad}"\n',
    )
    result = CliRunner().invoke(main, ["build", str(toml), "-o", str(out), "--quiet"])
    assert result.exit_code == 1
    assert f"{bad}: operator names must be unique" in result.output
    assert "Traceback" not in result.output and out.read_bytes() == before


def test_operators_missing_from_the_table_are_noted_in_the_run(sample_sources, tmp_path):
    short = tmp_path / "operators.csv"
    short.write_text("operator\nStadtwerke Klagenfurt \u2013 Wasser\n", encoding="utf-8")
    config = sample_config(
        sample_sources, {"cadastre", "dtm", "utilities", "operators"}, operators=short
    )
    with pytest.warns(DataQualityWarning, match="operators: no row for "):
        model = build(config, tmp_path / "city.gpkg", progress=False)
    [note] = json.loads(model.layers["runs"]["warnings"].iloc[-1])
    assert note.startswith("operators: no row for ") and note.endswith(", named in utilities")
    named = set(model.layers["utilities"]["operator"]) - {"Stadtwerke Klagenfurt \u2013 Wasser"}
    assert all(repr(name) in note for name in named)
