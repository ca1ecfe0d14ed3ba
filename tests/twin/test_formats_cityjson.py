"""CityJSON and CityJSONSeq: import, export against the official 2.0 schemas, round trips."""

from __future__ import annotations

import codecs
import gc
import json
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import twin
from tests.conftest import DATA
from tests.formats_checks import assert_same_model, per_building, schema_errors
from twin.cli import main
from twin.errors import CRSError, InputError
from twin.formats import cityjson, meshes, objects
from twin.store import write

ZURICH = DATA / "zurich_cityjson" / "zurich_lod2_12.city.json"
BAG = DATA / "3dbag_cityjsonseq" / "9-444-728_sm.city.jsonl"
DELFT = DATA / "delft_cityjson" / "testarea_subset.city.json"


def validate_seq(path: Path) -> list[dict]:
    """Validate a CityJSONSeq file line by line; returns the features."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert schema_errors(lines[0]) == []
    assert lines[0]["CityObjects"] == {} and lines[0]["vertices"] == []
    for feature in lines[1:]:
        assert schema_errors(feature, "cityjsonfeature") == []
        assert feature["id"] in feature["CityObjects"]
    return lines[1:]


@pytest.mark.parametrize(
    ("source", "buildings", "lods"),
    [
        (ZURICH, {"Building": 12, "BuildingPart": 27}, ["2"]),
        (BAG, {"Building": 2, "BuildingPart": 2}, ["0", "1.2", "1.3", "2.2"]),
        (DELFT, {"Building": 20}, ["1"]),
    ],
    ids=["zurich-1.1", "3dbag-seq-2.0", "delft-3dfier-1.0"],
)
def test_round_trip_real_data(source, buildings, lods, tmp_path):
    imported = cityjson.read(source)
    assert imported.buildings["object_type"].value_counts().to_dict() == buildings
    assert imported.metadata["lods"] == lods
    store = write(imported, tmp_path / "city.gpkg")
    reopened = twin.open(store)
    for seq in (False, True):
        out = cityjson.write(reopened, tmp_path / f"out{seq}.json", seq=seq)
        if seq:
            validate_seq(out)
        else:
            assert schema_errors(json.loads(out.read_text())) == []
        again = cityjson.read(out)
        diff = assert_same_model(imported, again)
        assert diff["vertex_m"] <= 0.0005 + 1e-9  # quantised to 1 mm: half a step at most
        assert again.crs.equals(imported.crs)


def test_attributes_and_semantics_match_the_source_file(tmp_path):
    """The exported document says what the 3dfier file said, attribute for attribute."""
    source = json.loads(DELFT.read_text())
    out = cityjson.write(cityjson.read(DELFT), tmp_path / "delft.city.json")
    written = json.loads(out.read_text())
    buildings = {k: v for k, v in source["CityObjects"].items() if v["type"] == "Building"}
    assert written["CityObjects"].keys() == buildings.keys()
    for key, item in buildings.items():
        assert written["CityObjects"][key]["attributes"] == item["attributes"]
        assert len(written["CityObjects"][key]["geometry"][0]["boundaries"][0]) == len(
            item["geometry"][0]["boundaries"][0]
        )
    assert written["metadata"]["referenceSystem"].endswith("/EPSG/0/7415")


def test_3dbag_surface_attributes_and_heights_survive(tmp_path):
    model = cityjson.read(BAG)
    features = cityjson.features(model)
    assert [f["id"] for f in features] == [
        "NL.IMBAG.Pand.0363100012137139",
        "NL.IMBAG.Pand.0363100012105349",
    ]
    building = features[0]["CityObjects"]["NL.IMBAG.Pand.0363100012137139"]
    assert building["attributes"]["b3_h_dak_70p"] == 7.263000011444092
    assert building["attributes"]["b3_bouwlagen"] == 3
    assert building["children"] == ["NL.IMBAG.Pand.0363100012137139-0"]
    part = features[0]["CityObjects"]["NL.IMBAG.Pand.0363100012137139-0"]
    roofs = [s for s in part["geometry"][2]["semantics"]["surfaces"] if s["type"] == "RoofSurface"]
    assert part["geometry"][2]["lod"] == "2.2" and "b3_azimut" in roofs[0]
    # The measured volume 3DBAG reports matches the imported LoD2.2 solid.
    volume = per_building(model, ["2.2"])["volume"][0]
    assert volume == pytest.approx(building["attributes"]["b3_volume_lod22"], rel=1e-3)


def test_built_twin_exports_valid_cityjson(sample_twin, tmp_path):
    model = twin.open(sample_twin)
    out = cityjson.write(model, tmp_path / "sample.city.json")
    doc = json.loads(out.read_text())
    assert schema_errors(doc) == []
    assert doc["metadata"]["referenceSystem"].endswith("/EPSG/0/31258")
    solids = model.layers["lod12"].geometry.notna().sum()
    assert sum(1 for o in doc["CityObjects"].values() if o["geometry"]) == solids
    assert len(validate_seq(cityjson.write(model, tmp_path / "s.jsonl", seq=True))) == len(
        model.buildings
    )
    back = cityjson.read(out, target_crs=model.crs)
    # The exported solids keep the volume the build computed for them.
    computed = per_building(back)["volume"]
    expected = model.buildings["volume_lod1"].to_numpy(dtype=float)
    has = np.isfinite(expected)
    assert np.allclose(computed[has], expected[has], rtol=1e-3)
    assert back.buildings["building_id"].tolist() == model.buildings["building_id"].tolist()


def test_irregular_documents_read_as_the_file_says(tmp_path):
    """Geometry members' names ("boundaries", "surfaces") used as attribute names, and
    CityJSON 1.0's numeric LoDs: read and written as the file says."""
    doc = json.loads(ZURICH.read_text())
    key = next(k for k, o in doc["CityObjects"].items() if o.get("geometry"))
    doc["CityObjects"][key]["attributes"]["boundaries"] = [[1, 2]]
    doc["CityObjects"][key]["attributes"]["surfaces"] = [{"type": "RoofSurface"}]
    numeric = json.loads(json.dumps(doc))
    numeric["version"] = "1.0"
    for item in numeric["CityObjects"].values():
        for geometry in item.get("geometry", []):
            geometry["lod"] = 2
    reference = per_building(cityjson.read(ZURICH))
    for name, variant in (("attributes", doc), ("lod", numeric)):
        path = tmp_path / f"{name}.city.json"
        path.write_text(json.dumps(variant))
        model = cityjson.read(path)
        got = per_building(model)
        assert np.array_equal(got["coords"], reference["coords"])
        assert got["semantics"] == reference["semantics"] and model.metadata["lods"] == ["2"]
        written = json.loads(cityjson.write(model, tmp_path / "out.city.json").read_text())
        assert schema_errors(written) == []
        for oid, item in written["CityObjects"].items():
            assert item["attributes"] == variant["CityObjects"][oid]["attributes"]
            assert {g["lod"] for g in item.get("geometry", [])} <= {"2"}


def test_changed_model_is_written_from_its_layers(tmp_path):
    model = cityjson.read(ZURICH)
    model.buildings.loc[0, "class"] = "changed in place"
    doc = json.loads(cityjson.write(model, tmp_path / "z.city.json").read_text())
    assert doc["CityObjects"][model.buildings["building_id"][0]]["attributes"]["class"] == (
        "changed in place"
    )


def test_reproject_on_import():
    model = cityjson.read(DELFT, target_crs="EPSG:3857")
    assert model.crs.to_epsg() == 3857
    assert model.metadata["source"]["reprojected"]
    x, y = model.buildings.geometry.union_all().centroid.coords[0]
    assert 480_000 < x < 490_000 and 6_800_000 < y < 6_820_000  # Delft in web mercator


def _broken(tmp_path: Path, edit) -> Path:
    doc = json.loads(ZURICH.read_text())
    edit(doc)
    path = tmp_path / "broken.city.json"
    path.write_text(json.dumps(doc))
    return path


def test_bad_input_names_file_and_object(tmp_path):
    broken = tmp_path / "cut.city.json"
    broken.write_text(ZURICH.read_text()[:5000])
    with pytest.raises(InputError, match=r"cut\.city\.json: not valid JSON"):
        cityjson.read(broken)

    def out_of_range(doc):
        key = next(k for k, o in doc["CityObjects"].items() if o.get("geometry"))
        doc["CityObjects"][key]["geometry"][0]["boundaries"][0][0][0] = 10**6
        doc["bad_key"] = key

    path = _broken(tmp_path, out_of_range)
    key = json.loads(path.read_text())["bad_key"]
    with pytest.raises(InputError, match=rf"broken\.city\.json: city object '{key}': vertex index"):
        cityjson.read(path)

    def last_ring(doc):
        key = [k for k, o in doc["CityObjects"].items() if o.get("geometry")][-1]
        doc["bad_key"] = key
        return doc["CityObjects"][key]["geometry"][-1]["boundaries"][-1][0]

    for value, problem in ((2.5, "not integers"), ([1], "not nested as rings of surfaces")):
        path = _broken(tmp_path, lambda doc, value=value: last_ring(doc).__setitem__(1, value))
        key = json.loads(path.read_text())["bad_key"]
        with pytest.raises(InputError, match=rf"city object '{key}': {problem}"):
            cityjson.read(path)

    def unknown(doc):
        next(iter(doc["CityObjects"].values()))["type"] = "Spaceship"

    with pytest.raises(InputError, match="unknown city object type 'Spaceship'"):
        cityjson.read(_broken(tmp_path, unknown))

    def ragged(doc):  # as many numbers as three a vertex, but not three each
        doc["vertices"][0].pop()
        doc["vertices"][1].append(0)

    with pytest.raises(InputError, match=r"broken\.city\.json: 'vertices' is not a list of"):
        cityjson.read(_broken(tmp_path, ragged))
    not_utf8 = tmp_path / "latin1.city.json"
    not_utf8.write_bytes(ZURICH.read_bytes().replace(b'"CityObjects"', b'"City\xe9"', 1))
    with pytest.raises(InputError, match=r"latin1\.city\.json: not valid JSON"):
        cityjson.read(not_utf8)

    def no_crs(doc):
        del doc["metadata"]["referenceSystem"]

    path = _broken(tmp_path, no_crs)
    with pytest.raises(CRSError, match="names no CRS"):
        cityjson.read(path)
    assert cityjson.read(path, crs="EPSG:2056").crs.to_epsg() == 2056


def _first_geometry(doc: dict) -> tuple[str, dict, dict]:
    key = next(k for k, o in doc["CityObjects"].items() if o.get("geometry"))
    doc["bad_key"] = key
    return key, doc["CityObjects"][key], doc["CityObjects"][key]["geometry"][0]


def _two_shells(doc):
    _, _, geometry = _first_geometry(doc)
    geometry["type"], geometry["boundaries"] = "Solid", [geometry["boundaries"]] * 2


def _template(doc):
    _, item, _ = _first_geometry(doc)
    matrix = [1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0]
    instance = {"type": "GeometryInstance", "template": 0, "boundaries": [0]}
    item["geometry"].append({**instance, "transformationMatrix": matrix})


def _short_values(doc):
    _first_geometry(doc)[2]["semantics"]["values"].pop()


def _empty_ring(doc):
    _first_geometry(doc)[2]["boundaries"][0].append([])


def _listed_type(doc):
    _first_geometry(doc)[2]["type"] = ["MultiSurface"]


def _numbered_class(doc):
    _first_geometry(doc)[2]["semantics"]["surfaces"][0]["type"] = 5


def _text_index(doc):
    _first_geometry(doc)[2]["boundaries"][0][0][1] = "7"


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        # two shells (an interior one is read) whose values are still those of one
        (_two_shells, "LoD 2: semantic values do not match the shells"),
        (_template, r"geometry templates \(GeometryInstance\)"),
        (_short_values, "LoD 2: 57 semantic values for 58 surfaces"),
        (_empty_ring, "LoD 2 surface 0 has a ring of 0 vertices"),
        (_listed_type, r"geometry type \['MultiSurface'\] is not supported"),
        (_numbered_class, "LoD 2: a semantic surface's 'type' is not text"),
        (_text_index, "not integers in rings"),
    ],
    ids=["two-shells", "template", "short-values", "empty-ring", "type", "class", "index"],
)
def test_irregular_geometry_is_named(edit, problem, tmp_path):
    """A geometry the reader does not take is named with its object and the problem."""
    path = _broken(tmp_path, edit)
    key = json.loads(path.read_text())["bad_key"]
    with pytest.raises(InputError, match=rf"broken\.city\.json: city object '{key}': {problem}"):
        cityjson.read(path)


def test_failed_export_leaves_nothing(tmp_path):
    model = cityjson.read(ZURICH)
    out = tmp_path / "z.city.json"
    out.write_text("previous")
    with pytest.raises(InputError, match=r"no LoD 2\.2"):
        cityjson.write(model, out, lods=["2.2"])
    assert out.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["z.city.json"]


def test_cli_import_and_export(tmp_path):
    runner = CliRunner()
    store = tmp_path / "bag.gpkg"
    result = runner.invoke(main, ["import", str(BAG), "-o", str(store)])
    assert result.exit_code == 0, result.output
    assert "2 Building, 2 BuildingPart" in result.output and "CityJSONSeq 2.0" in result.output
    out = tmp_path / "bag.city.json"
    args = ["export", str(store), "-f", "cityjson", "-o", str(out), "--lod", "2.2"]
    result = runner.invoke(main, [*args, "--bbox", "125000", "489000", "125500", "489500"])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert schema_errors(doc) == []
    assert {g["lod"] for o in doc["CityObjects"].values() for g in o["geometry"]} == {"2.2"}
    result = runner.invoke(main, ["import", str(DELFT), "-o", str(tmp_path / "d.gpkg")])
    assert "upgraded to 2.0" in result.output and "20 Road" in result.output
    result = runner.invoke(main, [*args[:5], str(tmp_path / "x.json"), "--lod", "3"])
    assert result.exit_code != 0 and "no LoD 3" in result.output


def test_build_from_citymodel_source(tmp_path):
    """``twin build`` takes a CityJSON file as a source and reprojects it to the project CRS."""
    config = tmp_path / "twin.toml"
    config.write_text(
        f'[project]\nname = "delft"\ncrs = "EPSG:28992+5709"\n\n'
        f'[sources.citymodel]\npath = "{DELFT}"\n',
        encoding="utf-8",
    )
    out = tmp_path / "delft.gpkg"
    runner = CliRunner()
    result = runner.invoke(main, ["build", str(config), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "20 buildings" in result.output and "citymodel 20" in result.output
    built = twin.open(out)
    assert built.crs.equals(twin.crs.parse_crs("EPSG:28992+5709"))
    assert json.loads(built.layers["runs"]["warnings"][0]) == [
        "skipped 20 PlantCover",
        "skipped 20 Road",
    ]
    # Same-datum CRSs: the model is taken as it is, and exports as it came.
    assert_same_model(
        cityjson.read(DELFT), cityjson.read(cityjson.write(built, tmp_path / "d.json"))
    )


def test_solid_with_a_cavity_round_trips(tmp_path):
    """A Solid's inner shell (a real 3DBAG building given a cavity) survives import, a
    GeoPackage, CityJSON and CityJSONSeq export (schema-valid) and import again."""
    from tests.twin.test_validity import cavity_document

    doc, part_id = cavity_document("valid")
    given = next(g for g in doc["CityObjects"][part_id]["geometry"] if g["lod"] == "2.2")
    source = tmp_path / "cavity.city.json"
    source.write_text(json.dumps(doc))
    read = cityjson.read(source)  # written back as read, or from the layers once stored
    stored = twin.open(write(read, tmp_path / "city.gpkg"))
    for n, (model, seq) in enumerate([(read, False), (stored, False), (stored, True)]):
        out = cityjson.write(model, tmp_path / f"out{n}.json", seq=seq)
        if seq:
            objects = {k: v for f in validate_seq(out) for k, v in f["CityObjects"].items()}
        else:
            written = json.loads(out.read_text())
            assert schema_errors(written) == []
            objects = written["CityObjects"]
        lod22 = next(g for g in objects[part_id]["geometry"] if g["lod"] == "2.2")
        sizes = [len(shell) for shell in lod22["boundaries"]]
        assert sizes == [len(shell) for shell in given["boundaries"]]
        assert [len(v) for v in lod22["semantics"]["values"]] == sizes
        again = cityjson.read(out).layers["building_surfaces"]
        shells = again[(again["building_id"] == part_id) & (again["lod"] == "2.2")]["shell"]
        assert shells.tolist() == [0] * sizes[0] + [1] * 6
    # meshes (OBJ, glTF, STL, 3D Tiles) take every face: the cavity's 12 triangles too
    solid_only = cityjson.read(source)
    solid_only.layers["building_surfaces"] = solid_only.layers["building_surfaces"].query(
        "shell == 0"
    )
    cavity = len(meshes.mesh(read, lod="2.2")[0]) - len(meshes.mesh(solid_only, lod="2.2")[0])
    assert cavity == 12


def test_a_model_read_is_freed_without_the_cycle_collector():
    """No reference cycle: a model read (and one written) is freed as soon as it is dropped,
    not when Python's cyclic collector next runs (a large twin would wait in memory)."""
    gc.collect()
    gc.disable()
    try:
        model = cityjson.read(ZURICH)
        alive = weakref.ref(model.layers)  # what holds the tables
        del model
        assert alive() is None
        model = cityjson.read(ZURICH)
        alive = weakref.ref(model.layers)  # what holds the tables
        assert len(model.buildings) == 39  # the layers made
        del model
        assert alive() is None
    finally:
        gc.enable()


def test_a_layer_set_before_any_is_used_is_written(tmp_path):
    """Setting a layer under an existing name, before any layer is used, is a change: the
    write goes from the layers as they are then."""
    model = cityjson.read(ZURICH)
    one = cityjson.read(ZURICH).buildings.iloc[:1]
    model.layers["buildings"] = one
    doc = json.loads(cityjson.write(model, tmp_path / "out.city.json").read_text())
    assert list(doc["CityObjects"]) == one["building_id"].tolist()  # not the file's 39


def _indented(tmp_path: Path) -> list[Path]:
    """The Zürich test file indented by four spaces, by tabs with CRLF line ends, and by
    one space (what pretty printers write)."""
    doc = json.loads(ZURICH.read_text())
    texts = {
        "spaces": json.dumps(doc, indent=4),
        "tabs-crlf": json.dumps(doc, indent="\t").replace("\n", "\r\n"),
        "one-space": json.dumps(doc, indent=1),
    }
    paths = []
    for name, text in texts.items():  # named as the file: the same title written
        paths.append(tmp_path / name / ZURICH.name)
        paths[-1].parent.mkdir()
        paths[-1].write_text(text)
    return paths


def test_indented_files_read_and_write_as_the_minified(tmp_path):
    """Indented text (spaces, tabs and CRLF) reads as the minified: the same model, the same
    file out."""
    reference = per_building(cityjson.read(ZURICH))
    expected = cityjson.write(cityjson.read(ZURICH), tmp_path / "ref.city.json").read_bytes()
    for path in _indented(tmp_path):
        model = cityjson.read(path)
        out = cityjson.write(model, tmp_path / "out.city.json").read_bytes()
        assert out == expected, path
        got = per_building(cityjson.read(path))
        assert got["ids"] == reference["ids"] and got["attributes"] == reference["attributes"]
        assert np.array_equal(got["coords"], reference["coords"])


def test_an_indented_file_with_glued_numbers_stays_broken(tmp_path):
    """Whitespace between two numbers does not join them: ``5 6`` is not ``56``."""
    path = _indented(tmp_path)[0]
    text = path.read_text()
    assert '"Region": 5,' in text
    path.write_text(text.replace('"Region": 5,', '"Region": 5 6,', 1))
    with pytest.raises(InputError, match=r"spaces/zurich_lod2_12\.city\.json: not valid JSON"):
        cityjson.read(path)


def test_reading_in_threads(tmp_path):
    """Threads read at once and get the same models (the reader shares nothing between
    reads)."""
    paths = [*_indented(tmp_path), DELFT]
    expected = [per_building(cityjson.read(path))["coords"] for path in paths]

    def read_all(_: int) -> list[np.ndarray]:
        return [per_building(cityjson.read(path))["coords"] for path in paths for _ in range(3)]

    with ThreadPoolExecutor(4) as pool:
        for got in pool.map(read_all, range(8)):
            for k, coords in enumerate(got):
                assert np.array_equal(coords, expected[k // 3])


def test_a_byte_order_mark_is_ignored(tmp_path):
    """JSON lets readers ignore a UTF-8 byte order mark: minified and indented files with one
    read as without."""
    expected = per_building(cityjson.read(ZURICH))
    text = ZURICH.read_bytes()
    for name, body in (("minified", text), ("indented", json.dumps(json.loads(text), indent=2))):
        path = tmp_path / name / ZURICH.name
        path.parent.mkdir()
        path.write_bytes(codecs.BOM_UTF8 + (body if isinstance(body, bytes) else body.encode()))
        got = per_building(cityjson.read(path))
        assert got["ids"] == expected["ids"] and np.array_equal(got["coords"], expected["coords"])


@pytest.mark.parametrize(
    "transform",
    [
        {"scale": 0.001, "translate": [0, 0, 0]},
        {"scale": [0.001, 0.001], "translate": [0, 0, 0]},
        {"scale": [0.001] * 4, "translate": [0, 0, 0]},
        {"scale": [0.001] * 3, "translate": [0, "0", 0]},
        {"scale": [0.001] * 3},
        [0.001, 0.001, 0.001],
    ],
    ids=["scalar", "two", "four", "text", "no-translate", "list"],
)
def test_a_bad_transform_is_named(transform, tmp_path):
    path = _broken(tmp_path, lambda doc: doc.__setitem__("transform", transform))
    with pytest.raises(InputError, match=r"broken\.city\.json: 'transform' needs 'scale' and"):
        cityjson.read(path)


@pytest.mark.parametrize("parents", [[{"id": "a"}], [["a"]], "a"], ids=["object", "list", "text"])
def test_parents_that_are_not_ids_are_named(parents, tmp_path):
    def edit(doc):
        _, item, _ = _first_geometry(doc)
        item["parents"] = parents

    path = _broken(tmp_path, edit)
    key = json.loads(path.read_text())["bad_key"]
    with pytest.raises(InputError, match=rf"city object '{key}': 'parents' is not a list of ids"):
        cityjson.read(path)


def _with_metadata(tmp_path: Path, name: str, **members: str) -> Path:
    """The Zürich file with its ``metadata`` members replaced."""
    doc = json.loads(ZURICH.read_text())
    doc["metadata"].update(members)
    path = tmp_path / f"{name}.city.json"
    path.write_text(json.dumps(doc))
    return path


EPSG_URL = "https://www.opengis.net/def/crs/EPSG/0/{}"


@pytest.mark.parametrize(
    ("crs", "members"),
    [
        # no EPSG code for the pair: the horizontal code, the vertical one beside it
        ("EPSG:2056+5728", {"referenceSystem": "2056", "verticalReferenceSystem": "5728"}),
        # a pair with a code of its own (ETRS89 / UTM 33N + DHHN92 height is EPSG:5556)
        ("EPSG:25833+5783", {"referenceSystem": "5556"}),
        ("EPSG:2056", {"referenceSystem": "2056"}),
    ],
)
def test_reference_system_keeps_the_vertical_datum(crs, members, tmp_path):
    """The heights' datum is written (schema-valid CityJSON 2.0) and read back, by file and
    by CityJSONSeq header."""
    model = cityjson.read(ZURICH, crs=crs) if crs.startswith("EPSG:2056") else None
    if model is None:  # the Zürich vertices put in a Berlin CRS: only the CRS matters here
        model = cityjson.read(_with_metadata(tmp_path, "in", referenceSystem=EPSG_URL.format(5556)))
    assert model.crs.equals(twin.crs.parse_crs(crs))
    out = cityjson.write(model, tmp_path / "out.city.json")
    doc = json.loads(out.read_text())
    assert schema_errors(doc) == []
    named = {k: v for k, v in doc["metadata"].items() if "eferenceSystem" in k}
    assert named == {k: EPSG_URL.format(v) for k, v in members.items()}
    assert cityjson.read(out).crs.equals(model.crs)
    seq = cityjson.write(model, tmp_path / "out.city.jsonl", seq=True)
    header = json.loads(seq.read_text().splitlines()[0])
    assert {k: v for k, v in header["metadata"].items() if "eferenceSystem" in k} == named
    assert cityjson.read(seq).crs.equals(model.crs)


def test_compound_reference_system_forms_are_read(tmp_path):
    """The OGC compound CRS URL, which CityJSON 2.0's schema refuses (its pattern wants
    ``/def/crs/``, so the writer does not use it), is read as the compound it names; a
    vertical CRS beside a CRS that has one, or one that is not vertical, is named."""
    compound = (
        "https://www.opengis.net/def/crs-compound?1=" + EPSG_URL.format(2056)
        + "&2=" + EPSG_URL.format(5728)
    )  # fmt: skip
    path = _with_metadata(tmp_path, "compound", referenceSystem=compound)
    assert schema_errors(json.loads(path.read_text()))  # not CityJSON 2.0 as the schema has it
    assert cityjson.read(path).crs.name == "CH1903+ / LV95 + LN02 height"
    clash = _with_metadata(tmp_path, "clash", verticalReferenceSystem=EPSG_URL.format(5729))
    clash.write_text(clash.read_text().replace(EPSG_URL.format(2056), compound))
    with pytest.raises(CRSError, match=r"clash\.city\.json: metadata\.verticalReferenceSystem"):
        cityjson.read(clash)
    flat = _with_metadata(tmp_path, "flat", verticalReferenceSystem=EPSG_URL.format(4326))
    with pytest.raises(CRSError, match="is not a vertical CRS"):
        cityjson.read(flat)
    # a compound --crs completes a file that names only its horizontal CRS, and no other
    assert cityjson.read(ZURICH, crs="EPSG:2056+5729").crs.name == "CH1903+ / LV95 + LHN95 height"
    assert cityjson.read(ZURICH, crs="EPSG:7415").crs.to_epsg() == 2056


@pytest.mark.parametrize(
    "scale", [[0, 0, 0], [0.001, -0.001, 0.001], [0.001, 0.001, 0]], ids=["zero", "negative", "z0"]
)
def test_a_transform_scale_that_is_no_step_is_named(scale, tmp_path):
    # a zero scale puts every vertex on the translate, a negative one mirrors the model
    path = _broken(tmp_path, lambda doc: doc["transform"].__setitem__("scale", scale))
    with pytest.raises(InputError) as error:
        cityjson.read(path)
    assert str(error.value) == (
        f"{path}: transform.scale {scale}: each component must be a finite number of at "
        "least 1e-09 (the size of one step of the quantised coordinates)"
    )


@pytest.mark.parametrize("indent", [None, 1], ids=["minified", "indented"])
def test_vertices_that_are_no_coordinates_are_named(indent, tmp_path):
    # Zürich's transform: scale 0.001, translate [2677116.375, 1241839.025, 0]; vertex 5
    # given as 10^300 steps in y is 10^297 m after it, far beyond any CRS (the bound: 10^9)
    doc = json.loads(ZURICH.read_text())
    doc["vertices"][5][1] = 1e300
    path = tmp_path / "far.city.json"
    path.write_text(json.dumps(doc, indent=indent))
    with pytest.raises(InputError) as error:
        cityjson.read(path)
    x = doc["vertices"][5][0] * 0.001 + 2677116.375
    assert str(error.value).startswith(f"{path}: vertex 5 [{x!r}, 1e+297, ")
    assert str(error.value).endswith(
        "(after the transform) is not a coordinate: each must be finite and within ±1e+09"
    )
    # the bound itself is a coordinate: the translate moved so that the northernmost vertex
    # lands on y = 10^9 m, and the file reads
    doc = json.loads(ZURICH.read_text())
    top = max(v[1] for v in doc["vertices"]) * 0.001 + 1241839.025
    doc["transform"]["translate"][1] += 1e9 - top  # the highest vertex lands on 10^9 m
    path.write_text(json.dumps(doc, indent=indent))
    assert len(cityjson.read(path).buildings) == 39  # 12 buildings, 27 parts


def test_parents_and_children_that_name_no_object_are_named(tmp_path):
    # Zürich's first building lists two parts as children, each names it as its parent
    def ghost_child(doc):
        building = next(k for k, o in doc["CityObjects"].items() if o.get("children"))
        doc["bad_key"] = building
        doc["CityObjects"][building]["children"].append("ghost")

    path = _broken(tmp_path, ghost_child)
    key = json.loads(path.read_text())["bad_key"]
    with pytest.raises(InputError) as error:
        cityjson.read(path)
    assert str(error.value) == (
        f"{path}: city object '{key}': its 'children' name 'ghost', which is no city object "
        "of the file"
    )

    def lost_parent(doc):
        part = next(k for k, o in doc["CityObjects"].items() if o.get("parents"))
        doc["bad_key"] = part
        doc["CityObjects"][part]["parents"] = ["UUID_gone"]

    path = _broken(tmp_path, lost_parent)
    key = json.loads(path.read_text())["bad_key"]
    with pytest.raises(InputError, match=rf"'{key}': its 'parents' name 'UUID_gone', which is no"):
        cityjson.read(path)

    def installation(doc):
        # a child of another type than the buildings is in the file: a valid link
        building = next(k for k, o in doc["CityObjects"].items() if o.get("children"))
        doc["CityObjects"][building]["children"].append("porch")
        doc["CityObjects"]["porch"] = {"type": "BuildingInstallation", "parents": [building]}

    model = cityjson.read(_broken(tmp_path, installation))
    assert len(model.buildings) == 39 and model.metadata["source"]["skipped"] == {
        "BuildingInstallation": 1
    }


def test_cityjsonseq_features_are_checked_alike(tmp_path):
    lines = BAG.read_text().splitlines()
    feature = json.loads(lines[1])
    feature["vertices"][3] = [0, 1e300, 0]
    path = tmp_path / "bag.city.jsonl"
    path.write_text("\n".join([lines[0], json.dumps(feature), *lines[2:]]) + "\n")
    with pytest.raises(
        InputError, match=rf"bag\.city\.jsonl: feature '{feature['id']}': vertex 3 "
    ):
        cityjson.read(path)
    feature = json.loads(lines[1])
    feature["CityObjects"][feature["id"]]["children"].append("NL.IMBAG.Pand.0-9")
    path.write_text("\n".join([lines[0], json.dumps(feature), *lines[2:]]) + "\n")
    with pytest.raises(InputError, match=r"its 'children' name 'NL\.IMBAG\.Pand\.0-9', which"):
        cityjson.read(path)


def test_json_text_forms_and_exact_numbers(tmp_path):
    """What JSON text allows, read as JSON means it and kept through a twin and an export:
    numbers exact (an integer beyond float precision, the shortest repr of a float),
    escaped and unescaped non-ASCII text (a surrogate pair too), and a repeated key (the
    last value, as Python's json reads it). An integer beyond 64 bits is read as the nearest
    float (RFC 8259, section 6, lets a reader limit the range of numbers; orjson does)."""
    doc = json.loads(ZURICH.read_text())
    key = next(k for k, o in doc["CityObjects"].items() if o.get("geometry"))
    given = {"sum": 0.1 + 0.2, "name": "Zürich ☃ 🏠"}  # 0.30000000000000004, not 0.3
    exact = 2**53 + 1  # 9007199254740993: as a float64 it would be ...992
    doc["CityObjects"][key]["attributes"].update(given, exact=exact, huge=2**64, repeated=1)
    text = json.dumps(doc)  # ensure_ascii: "Z\u00fcrich \u2603 \ud83c\udfe0"
    assert "\\ud83c\\udfe0" in text and '"repeated": 1' in text
    text = text.replace('"repeated": 1', '"repeated": 1, "repeated": 2', 1)
    path = tmp_path / "forms.city.json"
    path.write_text(text)
    model = cityjson.read(path)
    stored = twin.open(write(model, tmp_path / "forms.gpkg"))
    for source in (model, stored):
        out = cityjson.write(source, tmp_path / "out.city.json").read_text(encoding="utf-8")
        attributes = json.loads(out)["CityObjects"][key]["attributes"]
        assert {k: attributes[k] for k in given} == given and "0.30000000000000004" in out
        assert attributes["repeated"] == 2
        assert attributes["huge"] == 18446744073709551616.0
    # the integer is exact in the model read (the GeoPackage gives an integer column with
    # missing values back as float64)
    row = int(np.flatnonzero(model.buildings["building_id"] == key)[0])
    assert objects.attributes(model, [row])[0]["exact"] == 9007199254740993
    assert model.metadata["attributes"]["exact"] == ["exact", "int"]


def _tables(path: Path) -> dict[str, list[tuple]]:
    """Every row of every layer of a GeoPackage, read with SQLite itself."""
    import sqlite3

    with sqlite3.connect(path) as db:
        names = [n for (n,) in db.execute("SELECT table_name FROM gpkg_contents")]
        return {n: db.execute(f'SELECT * FROM "{n}" ORDER BY fid').fetchall() for n in names}


@pytest.mark.parametrize("source", [ZURICH, BAG], ids=["zurich", "3dbag"])
def test_layers_written_from_arrow_are_those_of_the_frames(source, tmp_path):
    """A model read from a file hands its 3D layers to the store as Arrow tables made of
    the ragged arrays; made into frames first (the general path), the GeoPackage is the
    same, row by row and byte by byte."""
    read = cityjson.read(source)
    assert read.layers.arrow("building_surfaces") is not None  # the path under test is taken
    fast = write(read, tmp_path / "fast.gpkg")
    model = cityjson.read(source)
    for name in list(model.layers):
        model.layers[name]  # made into a frame: written as one
        assert model.layers.arrow(name) is None
    framed = write(model, tmp_path / "framed.gpkg")
    assert _tables(fast) == _tables(framed)
    # a twin written anew copies the layers it did not change from the store's Arrow tables
    assert _tables(write(twin.open(fast), tmp_path / "copy.gpkg")) == _tables(fast)
    # and the export, which reads the store's surfaces as Arrow, writes what the frames give
    reopened = twin.open(fast)
    assert reopened.layers.arrow("building_surfaces") is not None
    arrow_out = cityjson.write(reopened, tmp_path / "arrow.city.json")
    reopened = twin.open(fast)
    reopened.layers["building_surfaces"] = reopened.layers["building_surfaces"]
    frame_out = cityjson.write(reopened, tmp_path / "frame.city.json")
    assert arrow_out.read_bytes() == frame_out.read_bytes()
