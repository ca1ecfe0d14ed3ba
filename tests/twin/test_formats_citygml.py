"""CityGML 2.0 and 3.0: import of real Berlin data, round trips, hostile XML, 2.0 export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import citysmith
import numpy as np
import pytest
from click.testing import CliRunner
from lxml import etree

import twin
from tests.conftest import DATA
from tests.formats_checks import assert_same_model, per_building, schema_errors
from twin.cli import main
from twin.errors import CRSError, InputError
from twin.formats import citygml, cityjson, read
from twin.store import write

BERLIN = DATA / "berlin_citygml"
TILE = BERLIN / "3900_5819.gml"
BLOCK = BERLIN / "Block020023.gml"
MOABIT2 = BERLIN / "Berlin_Moabit_1Bldg_v2.gml"
MOABIT3 = BERLIN / "Berlin_Moabit_1Bldg_v3.gml"


@pytest.mark.parametrize(
    ("source", "buildings", "solids", "semantics"),
    [
        (TILE, 4, 3, {"WallSurface": 70, "RoofSurface": 47, "GroundSurface": 5}),
        (BLOCK, 4, 1, {"WallSurface": 60, "RoofSurface": 30, "GroundSurface": 7}),
        (MOABIT2, 1, 0, {"WallSurface": 4, "RoofSurface": 1, "GroundSurface": 1}),
        (MOABIT3, 1, 0, {"WallSurface": 4, "RoofSurface": 1, "GroundSurface": 1}),
    ],
    ids=["tile-2.0", "block-2.0", "moabit-2.0", "moabit-3.0"],
)
def test_berlin_round_trip_through_cityjson(source, buildings, solids, semantics, tmp_path):
    """Import -> twin -> CityJSON -> import keeps ids, attributes, semantics, 1 mm, 0.1 %."""
    imported = read(source)
    assert imported.metadata["source"]["format"] == "CityGML"
    assert (imported.buildings["object_type"] == "Building").sum() == buildings
    assert imported.metadata["lods"] == ["2"]
    lod2 = imported.layers["lod2"]
    assert (lod2["geometry_type"] == "Solid").sum() == solids
    assert imported.layers["building_surfaces"]["semantic"].value_counts().to_dict() == semantics
    reopened = twin.open(write(imported, tmp_path / "berlin.gpkg"))
    out = cityjson.write(reopened, tmp_path / "berlin.city.json")
    assert schema_errors(json.loads(out.read_text())) == []
    diff = assert_same_model(imported, cityjson.read(out))
    assert diff["vertex_m"] <= 0.0005 + 1e-9
    # The stored solids are closed: their volume is positive and the round trip keeps it.
    volume = per_building(imported)["volume"][per_building(imported)["solid"]]
    assert (volume > 0).all()


def test_attributes_and_addresses():
    model = citygml.read(TILE)
    first = model.buildings.iloc[0]
    assert first["building_id"] == "BLDG_0003000e00964090"
    assert (first["function"], first["roofType"]) == ("1411", "1130")
    assert first["measuredHeight"] == pytest.approx(30.18406)
    assert json.loads(first["address"]) == [
        {
            "LocalityName": "Berlin",
            "ThoroughfareNumber": "36",
            "ThoroughfareName": "Leipziger Str.",
        },
        {
            "LocalityName": "Berlin",
            "ThoroughfareNumber": "24",
            "ThoroughfareName": "Charlottenstr.",
        },
    ]
    moabit = citygml.read(MOABIT2).buildings.iloc[0]
    assert (moabit["EIG_KL_PV"], moabit["H_First_Max"], moabit["FOLIE"]) == (3, 37.13551, "011")
    assert model.crs.to_epsg() == 25833
    assert citygml.read(MOABIT2).crs.equals(twin.crs.parse_crs("EPSG:25833+5783"))


def test_citygml_2_and_3_of_one_building_agree():
    """The 2.0 file and its 3.0 conversion give the same twin (3.0 con:height included)."""
    v2, v3 = citygml.read(MOABIT2), citygml.read(MOABIT3)
    assert v3.metadata["source"]["version"] == "3.0"
    diff = assert_same_model(v2, v3)
    assert diff == {"vertex_m": 0.0, "area_rel": 0.0, "volume_rel": 0.0}


@pytest.mark.parametrize("source", [TILE, BLOCK, MOABIT3], ids=["tile", "block", "moabit-3.0"])
def test_citygml_export_reimports_to_the_millimetre(source, tmp_path):
    model = citygml.read(source)
    out = citygml.write(model, tmp_path / "out.gml")
    tree = etree.parse(str(out))  # well-formed
    assert tree.getroot().tag == "{http://www.opengis.net/citygml/2.0}CityModel"
    again = citygml.read(out)
    assert again.metadata["source"]["version"] == "2.0"
    # written at 3 decimals: each coordinate moves by at most half a millimetre
    assert assert_same_model(model, again)["vertex_m"] <= 0.0005 + 1e-9
    assert again.crs.equals(model.crs)
    # Solids reference the polygons of their thematic surfaces; every href resolves.
    ids = set(tree.xpath("//gml:Polygon/@gml:id", namespaces=citygml.NS2))
    hrefs = tree.xpath("//gml:surfaceMember/@xlink:href", namespaces=citygml.NS2)
    assert {h.lstrip("#") for h in hrefs} <= ids


def test_built_twin_exports_citygml(sample_twin, tmp_path):
    """A built twin's LoD1.2 solids go out as lod1Solid and come back as LoD1 solids."""
    model = twin.open(sample_twin)
    out = citygml.write(model, tmp_path / "sample.gml")
    back = citygml.read(out)
    assert back.buildings["building_id"].tolist() == model.buildings["building_id"].tolist()
    assert back.metadata["lods"] == ["1"]
    assert back.crs.equals(model.crs)  # the compound CRS (GK M31 + GHA) survives
    computed = per_building(back)["volume"]
    expected = model.buildings["volume_lod1"].to_numpy(dtype=float)
    has = np.isfinite(expected)
    assert np.allclose(computed[has], expected[has], rtol=1e-3)


SCHEMAS = Path(citysmith.__file__).parent / "data" / "schemas"  # official OGC files, offline


class _LocalSchemas(etree.Resolver):
    """Resolves the schemas' http(s) imports to citysmith's copies, laid out by URL; never
    the network (a schema missing from the copy fails the test)."""

    def resolve(self, url, pubid, context):
        for scheme in ("http://", "https://"):
            if url.startswith(scheme):
                local = SCHEMAS / url[len(scheme) :]
                assert local.is_file(), f"{url} is not in citysmith's schema copy"
                return self.resolve_filename(str(local), context)
        return None


@pytest.fixture(scope="module")
def citygml_xsd():
    """The CityGML 2.0 building and generics schemas (with GML 3.1.1, xAL, xlink), offline."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_LocalSchemas())
    imports = "".join(
        f'<xs:import namespace="http://www.opengis.net/citygml/{module}/2.0" '
        f'schemaLocation="http://schemas.opengis.net/citygml/{module}/2.0/{module}.xsd"/>'
        for module in ("building", "generics")
    )
    wrapper = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:twin:test">'
        f"{imports}</xs:schema>"
    )
    root = etree.fromstring(wrapper.encode(), parser, base_url=str(SCHEMAS / "twin-test.xsd"))
    return etree.XMLSchema(root), parser


def _xsd_errors(schema_and_parser, path: Path) -> list[str]:
    schema, parser = schema_and_parser
    schema.validate(etree.parse(str(path), parser))
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


@pytest.mark.parametrize("source", [TILE, BLOCK, MOABIT3], ids=["tile", "block", "moabit-3.0"])
def test_citygml_export_is_xsd_valid(source, citygml_xsd, tmp_path):
    """Berlin CityGML (2.0 and 3.0) -> twin -> CityGML 2.0 passes the official 2.0 XSDs."""
    out = citygml.write(citygml.read(source), tmp_path / "berlin.gml")
    assert _xsd_errors(citygml_xsd, out) == []
    # the validator is live: an element the schema does not know is reported
    tree = etree.parse(str(out))
    assert tree.xpath("//bldg:address//xAL:ThoroughfareName", namespaces=citygml.NS2)
    building = tree.find(f".//{{{citygml.NS2['bldg']}}}Building")
    etree.SubElement(building, f"{{{citygml.NS2['bldg']}}}unknownProperty").text = "x"
    tree.write(str(tmp_path / "broken.gml"))
    assert any("unknownProperty" in e for e in _xsd_errors(citygml_xsd, tmp_path / "broken.gml"))


def test_built_twin_citygml_is_xsd_valid(sample_twin, citygml_xsd, tmp_path):
    """The sample twin's export (LoD1 solids, attributes, addresses) passes the 2.0 XSDs."""
    out = citygml.write(twin.open(sample_twin), tmp_path / "sample.gml")
    assert _xsd_errors(citygml_xsd, out) == []
    assert_millimetres_and_one_declaration(out)


def assert_millimetres_and_one_declaration(path: Path) -> None:
    """Every coordinate has at most 3 decimals, none ends in 0; the seven namespaces are
    declared once, on the root."""
    text = path.read_text(encoding="utf-8")
    root_tag = text[: text.index(">", text.index("<core:CityModel")) + 1]
    assert text.count("xmlns:") == root_tag.count("xmlns:") == len(citygml.NS2) == 7
    tree = etree.parse(str(path))
    lists = tree.xpath(
        "//gml:posList/text() | //gml:lowerCorner/text() | //gml:upperCorner/text()",
        namespaces=citygml.NS2,
    )
    numbers = " ".join(lists).split()
    assert numbers and all(re.fullmatch(r"-?\d+(\.\d{0,2}[1-9])?", n) for n in numbers)


@pytest.mark.parametrize("source", [TILE, MOABIT2], ids=["tile", "moabit"])
def test_citygml_export_writes_millimetres_and_declares_namespaces_once(
    source, citygml_xsd, tmp_path
):
    """The Berlin coordinates (up to 9 decimals in the source) are written to the
    millimetre, with the namespaces declared on the root only, and the file stays valid."""
    out = citygml.write(citygml.read(source), tmp_path / "berlin.gml")
    assert _xsd_errors(citygml_xsd, out) == []
    assert_millimetres_and_one_declaration(out)
    if source == MOABIT2:
        # The lowest corner of the Moabit building, 388662.279883488 5818795.00074437
        # 33.0499992370605 in the source, rounds to 388662.280 5818795.001 33.050: written
        # without the trailing zeros.
        envelope = etree.parse(str(out)).find(".//{http://www.opengis.net/gml}lowerCorner")
        assert envelope.text == "388662.28 5818795.001 33.05"


HOSTILE = {
    "billion-laughs": (
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]>',
        "&lol3;",
        r"declares entities \(lol, lol2, lol3\)",
    ),
    "external-entity": (
        '<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        "&xxe;",
        r"external entities: xxe \(file:///etc/passwd\)",
    ),
    "external-dtd": (
        '<!DOCTYPE CityModel SYSTEM "http://127.0.0.1:9/evil.dtd">',
        "",
        r"external DTD \(http://127.0.0.1:9/evil.dtd\)",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_xml_is_refused(case, tmp_path):
    doctype, body, message = HOSTILE[case]
    path = tmp_path / f"{case}.gml"
    path.write_text(
        f'<?xml version="1.0"?>{doctype}<CityModel xmlns="http://www.opengis.net/citygml/2.0">'
        f"<cityObjectMember>{body}</cityObjectMember></CityModel>"
    )
    with pytest.raises(InputError, match=rf"{case}\.gml: refused: .*{message}"):
        read(path)


def test_bad_input_names_file_and_object(tmp_path):
    text = BLOCK.read_text()
    cut = tmp_path / "cut.gml"
    cut.write_text(text[: len(text) // 2])
    with pytest.raises(InputError, match=r"cut\.gml: not well-formed XML"):
        citygml.read(cut)
    broken = tmp_path / "broken.gml"
    broken.write_text(text.replace("</gml:posList>", " 1.5</gml:posList>", 1))
    with pytest.raises(InputError, match=r"broken\.gml: city object 'BLDG_\w+': a ring of \d+"):
        citygml.read(broken)
    no_crs = tmp_path / "no_crs.gml"
    no_crs.write_text(MOABIT2.read_text().replace('srsName="', 'x="'))
    with pytest.raises(CRSError, match="names no CRS"):
        citygml.read(no_crs)
    assert citygml.read(no_crs, crs="EPSG:25833").crs.to_epsg() == 25833
    other = tmp_path / "other.gml"
    other.write_text('<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"/>')
    with pytest.raises(InputError, match=r"other\.gml: not a CityGML 2\.0 or 3\.0 CityModel"):
        citygml.read(other)


def test_cli_import_export_and_build(tmp_path):
    runner = CliRunner()
    store = tmp_path / "berlin.gpkg"
    result = runner.invoke(main, ["import", str(MOABIT3), "-o", str(store)])
    assert result.exit_code == 0, result.output
    assert "1 Building; LoDs 2" in result.output and "read CityGML 3.0\n" in result.output
    out = tmp_path / "berlin.gml"
    result = runner.invoke(main, ["export", str(store), "-f", "citygml", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert_same_model(citygml.read(MOABIT3), citygml.read(out))
    config = tmp_path / "twin.toml"
    config.write_text(
        f'[project]\nname = "berlin"\ncrs = "EPSG:25833+5783"\n\n'
        f'[sources.citymodel]\npath = "{TILE}"\n',
        encoding="utf-8",
    )
    result = runner.invoke(main, ["build", str(config), "-o", str(tmp_path / "b.gpkg"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "4 buildings" in result.output


def test_solid_with_a_cavity_exports_gml_interior(citygml_xsd, tmp_path):
    """A Solid's inner shell (a real 3DBAG building given a cavity) is written as a
    gml:interior that passes the 2.0 XSDs, and read back as the same shell."""
    from tests.twin.test_validity import cavity_document

    doc, part_id = cavity_document("valid")
    source = tmp_path / "cavity.city.json"
    source.write_text(json.dumps(doc))
    model = cityjson.read(source)
    out = citygml.write(model, tmp_path / "cavity.gml")
    assert _xsd_errors(citygml_xsd, out) == []
    tree = etree.parse(str(out))
    interior = tree.xpath("//gml:Solid/gml:interior//gml:Polygon", namespaces=citygml.NS2)
    assert len(interior) == 6
    before = model.layers["building_surfaces"]
    after = citygml.read(out).layers["building_surfaces"]
    for table, lod in ((before, "2.2"), (after, "2")):  # CityGML 2.0 has LoD 2 only
        at = table[(table["building_id"] == part_id) & (table["lod"] == lod)]
        assert at["shell"].tolist()[-7:] == [0] + [1] * 6
    assert int(after["shell"].sum()) == 6
