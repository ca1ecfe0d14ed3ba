"""The bad-input corpus (``tests/data/bad/``) through the real ``twin`` command line.

One row a case: the command, the exit code, the fragments its message must hold (the file, the
feature or key, the problem), and a pre-existing output that must come out of the failed
command byte for byte as it went in (sha256 before and after). Each case runs ``python -m
twin.cli`` as a process of its own, as a user or a script would; no traceback may reach
standard error.

Exit codes: 1 for a refused input (a :class:`twin.errors.TwinError` becomes a message),
2 for click's usage errors, and for ``twin dig check`` 3 (unusable input or options; 0, 1 and
2 are its verdicts, see ``docs/excavation.md``).

Rows marked ``broken`` fail today and are strict xfails: each names what is missing, so that
the mark is dropped when it is mended. Rows of exit code 0 are flawed inputs a command accepts
by design, flagging or warning about the flaw (a footprint repaired, a line read as cp1252):
they write a new output and check what the command says.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DATA, ROOT

BAD = DATA / "bad"
TWIN = (sys.executable, "-m", "twin.cli")
"""The command line, run as a user runs it."""
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
"""This checkout first on the path of the command's Python."""

#: the sample district's sources, as the config of a build case names them
CADASTRE = """
[sources.cadastre]
path = "{sources}/cadastre.gpkg"
buildings_layer = "buildings"
building_id = "building_id"
"""
TERRAIN = """
[sources.dtm]
path = "{sources}/dtm.tif"

[sources.dsm]
path = "{sources}/dsm.tif"
"""
PROJECT = '[project]\ncrs = "EPSG:31258+5778"\n'
SURVEY = """
[sources.survey]
path = "{survey}"
codes = "{codes}"
crs = "EPSG:31258+5778"
"""

#: the pre-existing output of a case: what is written at ``{out}`` before the command runs
OUTPUTS = ("twin", "json", "png", "tileset", "reports", "folder", "input")


@dataclass(frozen=True)
class Case:
    """One bad input and what the command line must make of it.

    Attributes
    ----------
    id
        The test id.
    args
        The arguments after ``twin``, with placeholders: ``{file}`` the corpus file (``file``
        under ``tests/data/bad``, or a generated one), ``{config}`` the build config written
        from ``config``, ``{twin}`` the built sample twin, ``{sources}`` its source folder,
        ``{nodatum_twin}`` a twin whose CRS has no vertical datum, ``{trench}`` a good
        trench, ``{out}`` the output path, ``{tmp}`` a fresh folder.
    code
        The exit code.
    fragments
        Texts the command's output (standard error and output) must hold; ``{name}`` is the
        corpus file's name.
    output
        The kind of pre-existing output at ``{out}`` (one of :data:`OUTPUTS`), whose sha256
        must not change; ``None`` for a command that writes nothing.
    file
        The corpus file, relative to ``tests/data/bad``, or ``@name`` for a generated one.
    config
        A build config (TOML) with ``{file}`` and ``{sources}`` placeholders; ``@copy``
        places the corpus file (a config itself) beside links to the sample's sources.
    broken
        Why the case fails today (the part of issue 15 that fixes it): a strict xfail.
    timeout
        Seconds the command may take.
    slow
        Marks a case that takes long (``-m "not slow"`` leaves it out).
    """

    id: str
    args: str
    code: int
    fragments: tuple[str, ...]
    output: str | None = None
    file: str | None = None
    config: str | None = None
    broken: str | None = None
    timeout: float = 120.0
    slow: bool = False


def _id(file: str) -> str:
    """``cityjson/scale_zero.city.json`` -> ``cityjson-scale_zero``; a generated file is a
    raster."""
    folder, _, name = file.rpartition("/")
    return f"{folder or 'raster'}-{name.lstrip('@').split('.')[0]}"


def build(file: str, fragments: tuple[str, ...], *, config: str = "@copy", **kw) -> Case:
    """A ``twin build`` case: a refused build leaves the twin it would replace untouched."""
    return Case(
        kw.pop("id", _id(file)),
        "build {config} -o {out} -q",
        kw.pop("code", 1),
        fragments,
        output=kw.pop("output", "twin"),
        file=file,
        config=config,
        **kw,
    )


def cadastre(file: str, fragments: tuple[str, ...], *, options: str = "", **kw) -> Case:
    """The corpus file as the cadastre of a build over the sample's terrain."""
    toml = PROJECT + f'[sources.cadastre]\npath = "{{file}}"\n{options}' + TERRAIN
    return build(file, fragments, config=toml, **kw)


def survey(file: str, fragments: tuple[str, ...], **kw) -> Case:
    """The corpus file as the survey points of a build of the sample."""
    toml = CADASTRE + TERRAIN + SURVEY.replace("{survey}", "{file}")
    toml = toml.replace("{codes}", "{sources}/survey_codes.csv")
    return build(file, fragments, config=toml, **kw)


def dtm(file: str, fragments: tuple[str, ...], **kw) -> Case:
    """The corpus file as the DTM of a build of the sample."""
    toml = PROJECT + CADASTRE + '[sources.dtm]\npath = "{file}"\n'
    return build(file, fragments, config=toml, **kw)


def imported(file: str, fragments: tuple[str, ...], *, options: str = "", **kw) -> Case:
    """A ``twin import`` case: a refused import leaves the twin it would replace untouched."""
    return Case(
        _id(file),
        "import {file} -o {out}" + options,
        1,
        fragments,
        output="twin",
        file=file,
        **kw,
    )


def trench(file: str, fragments: tuple[str, ...], *, options: str = "", **kw) -> Case:
    """A ``twin dig check`` case: unusable input exits with 3, no report is written."""
    return Case(
        kw.pop("id", _id(file)),
        "dig check {twin} {file} --out {out}" + options,
        3,
        fragments,
        output="reports",
        file=file,
        **kw,
    )


def works(file: str, fragments: tuple[str, ...], *, code: int = 1, **kw) -> Case:
    """A ``twin dig coordinate`` case with the corpus file as the planned works."""
    return Case(
        _id(file),
        "dig coordinate {twin} {file} --out {out}",
        code,
        fragments,
        output="reports",
        file=file,
        **kw,
    )


def rules(file: str, fragments: tuple[str, ...], **kw) -> Case:
    """A city's rules file for ``twin dig check``: refused before anything is checked."""
    return Case(
        _id(file),
        "dig check {twin} {trench} --rules {file} --out {out}",
        3,
        fragments,
        output="reports",
        file=file,
        **kw,
    )


ACCEPTED = {"code": 0, "output": None, "slow": True}
"""An input that is flawed but usable: the command succeeds (and takes a whole build)."""

CASES: list[Case] = [
    # --- config: twin.toml variants, placed beside the sample's sources ---------------------
    build("config/not_toml.toml", ("{name}", "not valid TOML", "line 1")),
    build("config/unknown_table.toml", ("{name}", "unknown table", "lod3")),
    build("config/unknown_source.toml", ("{name}", "unknown source", "[sources.lidr]")),
    build("config/unknown_source_key.toml", ("{name}", "[sources.cadastre] layer", "unknown key")),
    build("config/source_without_path.toml", ("{name}", "[sources.cadastre]", "needs a 'path'")),
    build("config/missing_file.toml", ("{name}", "kataster_2024.gpkg", "does not exist")),
    build(
        "config/terrain_only.toml", ("{name}", "needs [sources.cadastre]", "or [sources.citymodel]")
    ),
    build("config/lidar_only.toml", ("{name}", "not derived from a point cloud alone")),
    build("config/citymodel_with_cadastre.toml", ("{name}", "[sources.citymodel]", "stands alone")),
    build(
        "config/percentile_150.toml",
        ("{name}", "[lod1] roof_percentile", "150", "100"),
    ),
    build(
        "config/ground_buffer_negative.toml",
        ("{name}", "[lod1] ground_buffer", "-5"),
    ),
    build("config/storey_height_text.toml", ("{name}", "[lod1] storey_height", "three")),
    build("config/chunk_size_zero.toml", ("{name}", "[lidar] chunk_size", "0")),
    build("config/lod1_misspelt_key.toml", ("{name}", "[lod1]", "roof_percentil")),
    build("config/base_curved.toml", ("{name}", "[lod1] base", "'flat' or 'sloped'", "curved")),
    build("config/crs_unknown.toml", ("{name}", "[project] crs", "EPSG:999999")),
    build("config/crs_geographic.toml", ("{name}", "WGS 84", "not projected")),
    build("config/sources_not_table.toml", ("{name}", "sources")),
    build("config/project_not_table.toml", ("{name}", "project")),
    build("config/path_number.toml", ("{name}", "[sources.cadastre] path", "2024")),
    build("config/codes_missing.toml", ("{name}", "[sources.survey] codes", "does not exist")),
    build("config/empty.toml", ("{name}", "needs [sources.cadastre]")),
    build("config/latin1.toml", ("{name}", "not valid TOML", "utf-8")),
    Case(
        "config-folder_without_twin_toml",
        "build {tmp} -o {out} -q",
        1,
        ("no twin.toml in this folder",),
        output="twin",
    ),
    Case(
        "config-output_is_an_input",
        "build {sources} -o {sources}/cadastre.gpkg -q",
        1,
        ("cadastre.gpkg", "input"),
    ),
    # --- cadastre: footprints (GeoJSON, CSV) over the sample's terrain -------------------------
    cadastre("cadastre/no_features.geojson", ("{name}", "cadastre buildings", "no features")),
    cadastre("cadastre/html_error_page.geojson", ("{name}", "cannot read cadastre buildings")),
    cadastre(
        "cadastre/all_null_geometry.geojson",
        ("{name}", "no building has a usable footprint"),
    ),
    cadastre(
        "cadastre/points.geojson",
        ("{name}", "no building has a usable footprint"),
    ),
    cadastre(
        "cadastre/projected_without_crs.geojson",
        ("{name}", "cadastre buildings", "look like projected coordinates"),
    ),
    cadastre("cadastre/wkt_without_crs.csv", ("{name}", "cadastre buildings", "has no CRS")),
    # a real file: the BGT tram tracks of the Amsterdam demo tiles, a header and no rows
    cadastre(
        "cadastre/bgt_tramtracks_header_only.csv",
        ("{name}", "cadastre buildings", "has no geometry"),
        options='crs = "EPSG:28992"\n',
    ),
    cadastre(
        "cadastre/duplicate_ids.geojson",
        ("{name}", "no column 'gml_id'", "building_id"),
        options='building_id = "gml_id"\n',
        id="cadastre-id_column_missing",
    ),
    # accepted: every input building yields a row; what was repaired or left out is flagged
    # (footprint_issue), as docs/build.md says
    cadastre("cadastre/bowtie.geojson", ("(2 buildings)", "1 footprint(s) flagged"), **ACCEPTED),
    cadastre(
        "cadastre/duplicate_ids.geojson", ("(2 buildings)", "1 footprint(s) flagged"), **ACCEPTED
    ),
    cadastre(
        "cadastre/null_geometry.geojson", ("(2 buildings)", "1 footprint(s) flagged"), **ACCEPTED
    ),
    cadastre(
        "cadastre/empty_geometry.geojson", ("(2 buildings)", "1 footprint(s) flagged"), **ACCEPTED
    ),
    # one footprint at 10^15 m among good ones is left out with a warning (all: refused)
    cadastre("cadastre/footprint_1e15.geojson", ("{name}", "K-far", "left out"), **ACCEPTED),
    cadastre(
        "cadastre/crs_member_wrong.geojson",
        ("{name}", "every footprint", "outside the area of use", "K-1"),
    ),
    cadastre("cadastre/latin1_attribute.geojson", ("{name}", "field 'street'", "0xF6", "cp1252")),
    # --- survey points: CSV, with the sample's code table -------------------------------------
    survey("survey/missing_z.csv", ("{name}", "survey points", "lack column", "'z'")),
    survey("survey/text_in_numbers.csv", ("{name}", "line 3", "point 2", "finite numbers")),
    survey("survey/empty.csv", ("{name}", "cannot read survey points")),
    survey("survey/header_only.csv", ("{name}", "no points")),
    survey("survey/semicolons.csv", ("{name}", "lack column", "'x'")),
    survey("survey/decimal_comma.csv", ("{name}", "line 2", "point 1", "finite numbers")),
    survey("survey/nan_z.csv", ("{name}", "line 3", "point 2", "finite numbers")),
    survey("survey/inf_x.csv", ("{name}", "line 3", "point 2", "finite")),
    # accepted: text that is not UTF-8 read as cp1252 with a warning naming line, field and
    # byte; a byte order mark skipped; codes the code table lacks, and point numbers given
    # twice, kept with a warning
    survey("survey/latin1.csv", ("{name}", "line 3", "field 'code'", "0xE4", "cp1252"), **ACCEPTED),
    survey("survey/bom.csv", ("wrote", "survey 1"), **ACCEPTED),
    survey(
        "survey/unknown_codes.csv",
        ("{name}", "2 point(s) with code(s) the code table lacks ('XX', 'ZZ')", "wrote"),
        **ACCEPTED,
    ),
    survey(
        "survey/duplicate_point_no.csv",
        ("{name}", "1 point number(s) given to more than one point", "1 (line 2), 1 (line 3)"),
        **ACCEPTED,
    ),
    build(
        "survey/codes_bad_meaning.csv",
        ("{name}", "line 3", "'DA'", "'roof'", "known meanings"),
        config=CADASTRE
        + TERRAIN
        + SURVEY.replace("{survey}", "{sources}/survey_points.csv").replace("{codes}", "{file}"),
    ),
    Case(
        "survey-without_crs",
        "build {config} -o {out} -q",
        1,
        ("survey_points.csv", "carries no CRS", "crs ="),
        output="twin",
        config=CADASTRE + '[sources.survey]\npath = "{sources}/survey_points.csv"\n',
    ),
    # --- rasters -----------------------------------------------------------------------------
    dtm("raster/text_named.tif", ("{name}", "cannot read")),
    dtm("raster/empty.tif", ("{name}", "cannot read")),
    dtm("@truncated_dtm.tif", ("{name}", "truncated")),
    dtm("@dtm_without_crs.tif", ("{name}", "no CRS")),
    # --- CityJSON and CityJSONSeq, imported ---------------------------------------------------
    imported("cityjson/not_json.city.json", ("{name}", "not valid JSON")),
    imported("cityjson/wrong_version.city.json", ("{name}", "version '3.0'", "not supported")),
    imported("cityjson/wrong_type.city.json", ("{name}", "not a CityJSON file")),
    imported(
        "cityjson/no_transform.city.json",
        ("{name}", "CityJSON 2.0 requires a 'transform'"),
    ),
    imported("cityjson/scale_zero.city.json", ("{name}", "transform.scale")),
    imported("cityjson/scale_text.city.json", ("{name}", "'transform'", "three numbers")),
    imported("cityjson/vertices_1e300.city.json", ("{name}", "vertex", "6")),
    imported("cityjson/vertices_pairs.city.json", ("{name}", "'vertices'", "[x, y, z]")),
    imported("cityjson/index_out_of_range.city.json", ("{name}", "'B1'", "vertex index 99")),
    imported("cityjson/dangling_children.city.json", ("{name}", "B1", "B1-part-1")),
    imported("cityjson/dangling_parents.city.json", ("{name}", "B1-part-1", "B-nowhere")),
    imported("cityjson/unknown_geometry_type.city.json", ("{name}", "'B1'", "'Polyhedron'")),
    imported("cityjson/unknown_object_type.city.json", ("{name}", "'B1'", "'Skyscraper'")),
    imported(
        "cityjson/empty_cityobjects.city.json",
        ("{name}", "no buildings"),
    ),
    imported("cityjson/no_crs.city.json", ("{name}", "names no CRS", "--crs")),
    imported("cityjson/geographic_crs.city.json", ("{name}", "WGS 84", "not projected")),
    imported("cityjson/solid_not_nested.city.json", ("{name}", "'B1'", "Solid")),
    imported("cityjson/lod_seven.city.json", ("{name}", "LoD '7'", "not supported")),
    imported("cityjson/semantic_values_text.city.json", ("{name}", "semantic values")),
    imported("cityjson/attributes_list.city.json", ("{name}", "'B1'", "'attributes'")),
    imported("cityjson/cityobjects_list.city.json", ("{name}", "'CityObjects'", "not an object")),
    imported("cityjson/seq_cut_line.city.jsonl", ("{name}", "line 3", "not valid JSON")),
    imported("cityjson/seq_not_feature.city.jsonl", ("{name}", "line 3", "not a CityJSONFeature")),
    imported("cityjson/seq_no_cityobjects.city.jsonl", ("{name}", "feature 'B1'", "'CityObjects'")),
    # --- CityGML, imported -------------------------------------------------------------------
    imported("citygml/not_xml.gml", ("{name}", "not well-formed XML", "line 5")),
    imported("citygml/unknown_namespace.gml", ("{name}", "not a CityGML 2.0 or 3.0")),
    imported(
        "citygml/no_buildings.gml",
        ("{name}", "no buildings"),
        options=" --crs EPSG:31258",
    ),
    imported("citygml/poslist_odd_count.gml", ("{name}", "'G1'", "14 numbers")),
    imported("citygml/poslist_text.gml", ("{name}", "'G1'", "not numbers")),
    imported("citygml/no_srs.gml", ("{name}", "names no CRS", "--crs")),
    imported("citygml/doctype_entity.gml", ("{name}", "refused", "entit")),
    Case(
        "import-output_is_the_input",
        "import {file} -o {file}",
        1,
        ("{name}", "is the input"),
        output="input",
        file="cityjson/wrong_version.city.json",
    ),
    # --- trench centrelines for twin dig check ------------------------------------------------
    trench("trench/point.geojson", ("{name}", "TR-9", "LineString, not a Point")),
    trench("trench/polygon.geojson", ("{name}", "TR-9", "not a Polygon")),
    trench("trench/no_features.geojson", ("{name}", "trench", "no features")),
    trench("trench/coordinates_1.geojson", ("{name}", "TR-9", "empty geometry")),
    trench("trench/width_negative.geojson", ("{name}", "TR-9", "must be positive", "-0.6")),
    trench("trench/width_text.geojson", ("{name}", "TR-9", "width_m 'wide'", "not a number")),
    trench("trench/width_50m.geojson", ("{name}", "TR-9", "width 50 m", "10 m")),
    trench("trench/depth_nan.geojson", ("{name}", "TR-9", "depth", "finite")),
    trench("trench/soil_unknown.geojson", ("{name}", "TR-9", "soil class", "'sand'")),
    trench("trench/far_away.geojson", ("{name}", "TR-9", "outside the twin")),
    trench("trench/projected_without_crs.geojson", ("{name}", "look like projected", "--crs")),
    # a crs member saying Web Mercator: the degrees become a line 2 cm long near 0 m, 0 m
    trench("trench/crs_member_wrong.geojson", ("{name}", "TR-9", "no length")),
    trench("trench/self_crossing.geojson", ("{name}", "TR-9", "intersects itself")),
    trench("trench/zero_length.geojson", ("{name}", "TR-9", "no length")),
    trench("cadastre/html_error_page.geojson", ("{name}", "cannot read trench"), id="trench-html"),
    trench(
        "trench/ok.geojson",
        ("--method", "shovel"),
        options=" --method shovel",
        id="trench-option_method_unknown",
    ),
    trench(
        "trench/ok.geojson",
        ("--width", "abc"),
        options=" --width abc",
        id="trench-option_width_text",
    ),
    trench(
        "trench/ok.geojson",
        ("width", "0"),
        options=" --width 0",
        id="trench-option_width_zero",
    ),
    trench(
        "trench/ok.geojson",
        ("--crs", "EPSG:0"),
        options=" --crs EPSG:0",
        id="trench-option_crs_unknown",
    ),
    # --- planned works for twin dig coordinate ------------------------------------------------
    works("works/missing_dates.geojson", ("{name}", "W-1", "start or end date")),
    works("works/end_before_start.geojson", ("{name}", "W-2", "end before they start")),
    works("works/date_text.geojson", ("{name}", "W-2", "start or end date")),
    works("works/duplicate_ids.geojson", ("{name}", "W-1", "share a work_id")),
    works("works/no_work_id.geojson", ("{name}", "lack column", "work_id")),
    works("works/null_work_id.geojson", ("{name}", "without a work_id")),
    works("works/no_operator.geojson", ("{name}", "lack column", "operator")),
    works("works/points.geojson", ("{name}", "W-2", "not (Multi)LineStrings")),
    works("works/width_text.geojson", ("{name}", "W-2", "trench_width_m")),
    works("works/soil_unknown.geojson", ("{name}", "W-2", "soil")),
    # accepted: an operator is free text, the operators table serves the enquiries only
    Case(
        "works-unknown_operator",
        "dig coordinate {twin} {file}",
        0,
        ("2 planned works",),
        file="works/unknown_operator.geojson",
    ),
    # --- a city's excavation rules ------------------------------------------------------------
    rules("rules/not_toml.toml", ("{name}", "cannot read excavation rules")),
    rules("rules/unknown_rule.toml", ("{name}", "unknown rule", "old_plans.year")),
    rules("rules/no_source.toml", ("{name}", "clearance.horizontal", "no source")),
    rules("rules/not_a_table.toml", ("{name}", "clearance.horizontal", "table")),
    rules("rules/latin1.toml", ("{name}", "cannot read excavation rules")),
    rules("rules/value_text.toml", ("{name}", "clearance.horizontal", "'half a metre'", "number")),
    rules("rules/value_negative.toml", ("{name}", "clearance.vertical", "-0.2", "negative")),
    Case(
        "rules-coordinate_unknown_rule",
        "dig coordinate {twin} --rules {file} --out {out}",
        1,
        ("{name}", "unknown rule", "old_plans.year"),
        output="reports",
        file="rules/unknown_rule.toml",
    ),
    # --- command-line options, no file --------------------------------------------------------
    Case(
        "option-export_scale_zero",
        "export {twin} -f cityjson -o {out} --scale 0",
        2,
        ("--scale", "0"),
        output="json",
    ),
    Case(
        "option-export_bbox_inverted",
        "export {twin} -f cityjson -o {out} --bbox 524900 165600 524400 165300",
        2,
        ("--bbox", "524900"),
        output="json",
    ),
    Case(
        "option-export_format_unknown",
        "export {twin} -f shapefile -o {out}",
        2,
        ("--format", "shapefile"),
        output="json",
    ),
    Case(
        "option-export_tiles_over_a_file",
        "export {twin} -f 3dtiles -o {out}",
        1,
        ("out.json", "is a file, not a folder"),
        output="json",
    ),
    Case(
        "option-export_tiles_without_datum",
        "export {nodatum_twin} -f 3dtiles -o {out}",
        1,
        ("MGI / Austria GK M31", "no vertical datum", "--no-geoid"),
        output="tileset",
    ),
    Case(
        "option-sample_no_buildings",
        "sample {out} --buildings 0",
        2,
        ("--buildings", "0 is not in the range"),
        output="folder",
    ),
    Case(
        "option-render_size_tiny",
        "render {twin} -o {out} --size 5 5",
        1,
        ("--size 5 5", "16 to 8192"),
        output="png",
    ),
    Case(
        "option-render_extension_unknown",
        "render {twin} -o {tmp}/picture.bmp",
        1,
        ("picture.bmp", ".png"),
    ),
    Case(
        "option-serve_port_beyond_65535",
        "serve {twin} --port 99999",
        2,
        ("--port", "99999"),
    ),
    Case("option-info_no_twin", "info {tmp}/none.gpkg", 1, ("none.gpkg", "no such twin")),
    Case(
        "option-info_not_a_twin",
        "info {file}",
        1,
        ("{name}", "unknown twin store type (known: .gpkg, postgresql://)"),
        file="survey/missing_z.csv",
    ),
    Case(
        "option-import_crs_unknown",
        "import {file} -o {out} --crs EPSG:bogus",
        1,
        ("{name}", "EPSG:bogus", "not a coordinate reference system"),
        output="twin",
        file="cityjson/no_crs.city.json",
    ),
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def places(sample_sources, sample_twin, tmp_path_factory) -> dict[str, Path]:
    """What the commands of the table refer to, made once: the sample's sources and twin, a
    twin without vertical datum, and the generated bad rasters."""
    import json

    import rasterio

    folder = tmp_path_factory.mktemp("bad_inputs")
    # a 10 m block whose CityJSON names EPSG:31258 alone: a twin with no height datum
    doc = json.loads((BAD / "cityjson" / "wrong_version.city.json").read_text(encoding="utf-8"))
    doc["version"] = "2.0"
    block = folder / "block.city.json"
    block.write_text(json.dumps(doc), encoding="utf-8")
    nodatum = folder / "nodatum.gpkg"
    subprocess.run(
        [*TWIN, "import", str(block), "-o", str(nodatum)], env=ENV, check=True, capture_output=True
    )
    # the sample's DTM cut off half-way, as a failed copy leaves it
    dtm = (sample_sources / "dtm.tif").read_bytes()
    generated = folder / "generated"
    generated.mkdir()
    (generated / "truncated_dtm.tif").write_bytes(dtm[: len(dtm) // 2])
    # a DTM with its cells and geotransform but no CRS
    with rasterio.open(sample_sources / "dtm.tif") as src:
        profile = {**src.profile, "crs": None}
        cells = src.read(1)
    with rasterio.open(generated / "dtm_without_crs.tif", "w", **profile) as dst:
        dst.write(cells, 1)
    return {
        "sources": sample_sources,
        "twin": sample_twin,
        "nodatum_twin": nodatum,
        "trench": BAD / "trench" / "ok.geojson",
        "generated": generated,
    }


def _prepare(case: Case, places: dict[str, Path], tmp: Path) -> tuple[dict[str, str], Path | None]:
    """The placeholders of ``case`` and the file whose sha256 must not change."""
    assert case.output in (*OUTPUTS, None), case.output
    values = {k: str(v) for k, v in places.items() if k != "generated"}
    scratch = tmp / "scratch"
    scratch.mkdir()
    values["tmp"] = str(scratch)
    if case.file is not None:
        file = places["generated"] / case.file[1:] if case.file.startswith("@") else BAD / case.file
        values["file"] = str(file)
        values["name"] = file.name
    if case.config == "@copy":  # the corpus config beside links to the sample's sources
        folder = tmp / "sources"
        folder.mkdir()
        for source in places["sources"].iterdir():
            (folder / source.name).symlink_to(source)
        config = folder / Path(values["file"]).name
        shutil.copyfile(values["file"], config)
        values["config"] = str(config)
    elif case.config is not None:
        config = tmp / "twin.toml"
        text = case.config.replace("{file}", values.get("file", "")).replace(
            "{sources}", values["sources"]
        )
        config.write_text(text, encoding="utf-8")
        values["config"] = str(config)
    watched = None
    if case.output == "twin":
        watched = tmp / "out.gpkg"
        shutil.copyfile(places["twin"], watched)
        values["out"] = str(watched)
    elif case.output == "json":
        watched = tmp / "out.json"
        watched.write_text('{"type": "CityJSON", "note": "an earlier export"}\n')
        values["out"] = str(watched)
    elif case.output == "png":
        watched = tmp / "out.png"
        watched.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
        values["out"] = str(watched)
    elif case.output in ("tileset", "reports", "folder"):
        folder = tmp / "out"
        folder.mkdir()
        name = {"tileset": "tileset.json", "reports": "trench.json"}.get(case.output, "keep.txt")
        watched = folder / name
        watched.write_text('{"note": "an earlier run"}\n')
        values["out"] = str(folder)
    elif case.output == "input":
        watched = Path(values["file"])
    else:  # a command that writes nothing, or an accepted input: a new output
        values["out"] = str(tmp / "new.gpkg")
    return values, watched


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=case.broken)] if case.broken else []
    marks += [pytest.mark.slow] if case.slow else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input(case: Case, places, tmp_path):
    values, watched = _prepare(case, places, tmp_path)
    before = _sha256(watched) if watched is not None else None
    args = [_fill(arg, values) for arg in case.args.split()]
    run = subprocess.run(
        [*TWIN, *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=case.timeout,
        cwd=tmp_path,
    )
    said = run.stderr + run.stdout
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == case.code, said
    for fragment in case.fragments:
        assert _fill(fragment, values) in said, said
    if watched is not None:
        assert _sha256(watched) == before, f"{watched} changed"
