"""Generated input for the readers and the CQL2 filters: only the documented errors come out.

Hypothesis writes config files, survey CSVs, CityJSON documents near a valid one, and CQL2
filters in text and JSON. A reader may accept the input or refuse it with its documented
error (:class:`twin.errors.InputError` and its subclasses :class:`~twin.errors.ConfigError`
and :class:`~twin.errors.CRSError`); a CQL2 filter may match or be refused with a
:class:`twin.api.problems.Problem` of status 400, which the API answers with a 400. Anything
else (a KeyError, a TypeError, a warning that is no :class:`twin.errors.TwinWarning`, a 500)
is a bug. The runs are derandomised: the same examples every time.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import warnings
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import httpx
import pyproj
import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ingest.config import BuildConfig, LidarOptions, Lod1Options, Lod13Options, Source
from ingest.survey import read_points
from tests import tomltext
from tests.conftest import DATA, DERANDOMISED
from twin.api import create_app
from twin.api.config import ApiConfig
from twin.api.cql import parse
from twin.api.problems import Problem
from twin.errors import ConfigError, CRSError, InputError, TwinWarning
from twin.formats import read
from twin.store.gpkg_cql import SQLCompiler

FUZZ = settings(DERANDOMISED, max_examples=200)


@contextmanager
def only_twin_warnings():
    """Let warnings through only when they are :class:`twin.errors.TwinWarning`s (a reader's
    notes on flawed data); any other (a numpy overflow, a pandas parser notice) fails."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    others = [w for w in caught if not issubclass(w.category, TwinWarning)]
    assert not others, [f"{w.category.__name__}: {w.message}" for w in others]


# --- values as a TOML file or a JSON document holds them -------------------------------------

NAMES = st.text(st.characters(codec="utf-8"), max_size=12)
NUMBERS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 70, 150, 1e300, -0.0]),
)
SCALARS = st.one_of(st.booleans(), NUMBERS, NAMES)
TOML_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
    max_leaves=5,
)


# --- the config reader ------------------------------------------------------------------------

FILES = ("cadastre.gpkg", "dtm.tif", "codes.csv", "missing.gpkg", ".", "..")
OPTION_KEYS = {
    "lod1": [f.name for f in fields(Lod1Options)],
    "lidar": [f.name for f in fields(LidarOptions)],
    "lod13": [f.name for f in fields(Lod13Options)],
    "project": ["name", "crs", "allow_scale_error"],
}
SOURCES = ["cadastre", "survey", "dtm", "dsm", "dem", "ortho", "lidar", "citymodel", "utilities",
           "trees", "planned_works", "surface_works", "operators", "lidr"]  # fmt: skip
SECTION_KEYS = ["path", "crs", "layer", "buildings_layer", "parcels_layer", "building_id",
                "codes", "encoding", "unknown_key"]  # fmt: skip
PLAUSIBLE = st.one_of(
    TOML_VALUES,
    st.sampled_from(
        ["EPSG:31258+5778", "EPSG:31258", "EPSG:4326", "EPSG:3857", "EPSG:0", "flat", "sloped"]
    ),
    st.sampled_from(FILES),
)


@st.composite
def config_documents(draw) -> dict:
    """A config near a real one: known tables and keys (and some unknown), random values."""
    document: dict = {}
    for table, keys in OPTION_KEYS.items():
        if draw(st.integers(0, 2)) == 0:
            continue
        if draw(st.integers(0, 9)) == 0:  # not a table at all
            document[table] = draw(SCALARS)
            continue
        names = st.sampled_from([*keys, "unknown_key"])
        document[table] = draw(st.dictionaries(names, PLAUSIBLE, max_size=4))
    if draw(st.integers(0, 9)) == 0:
        document["sources"] = draw(PLAUSIBLE)
    else:
        sources = {}
        for name in draw(st.lists(st.sampled_from(SOURCES), max_size=3)):
            section = draw(st.dictionaries(st.sampled_from(SECTION_KEYS), PLAUSIBLE, max_size=4))
            if draw(st.integers(0, 3)):
                section["path"] = draw(st.sampled_from(FILES))
            sources[name] = section
        document["sources"] = sources
    if draw(st.integers(0, 9)) == 0:
        document[draw(NAMES)] = draw(TOML_VALUES)
    return document


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A folder with the files a config may name (their content is not read by the config)."""
    out = tmp_path_factory.mktemp("fuzz")
    for name in ("cadastre.gpkg", "dtm.tif", "codes.csv"):
        (out / name).write_bytes(b"")
    return out


@FUZZ
@given(text=st.text(st.characters(codec="utf-8")) | st.binary().map(repr))
def test_config_text_is_read_or_refused(folder, text):
    path = folder / "twin.toml"
    path.write_text(text, encoding="utf-8")
    try:
        BuildConfig.load(path)
    except (ConfigError, CRSError):
        pass


@FUZZ
@given(data=st.binary(max_size=200))
def test_config_bytes_are_read_or_refused(folder, data):
    path = folder / "twin.toml"
    path.write_bytes(data)
    try:
        BuildConfig.load(path)
    except (ConfigError, CRSError):
        pass


@FUZZ
@given(document=config_documents())
def test_config_tables_are_read_or_refused(folder, document):
    path = folder / "twin.toml"
    path.write_text(tomltext.document(document), encoding="utf-8")
    try:
        config = BuildConfig.load(path)
    except (ConfigError, CRSError):
        return
    # what loads has the documented types: numbers are finite numbers, choices are strings
    for options in (config.lod1, config.lidar, config.lod13):
        defaults = type(options)()
        for field in fields(options):
            value, default = getattr(options, field.name), getattr(defaults, field.name)
            if isinstance(default, int | float):
                assert isinstance(value, int | float) and not isinstance(value, bool)
                assert math.isfinite(value), (field.name, value)
            elif isinstance(default, str):
                assert isinstance(value, str), (field.name, value)


# --- the survey CSV reader -------------------------------------------------------------------

COLUMNS = ("point_no", "x", "y", "z", "code")
CELLS = st.one_of(
    st.floats(524_000, 525_000).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers().map(str),
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e309", "457,5", "n.v.", '"', "'", "TR"]),
    st.text(max_size=8),
)


@st.composite
def survey_files(draw) -> bytes:
    """A survey CSV: the real columns (some missing, repeated or renamed), any separator,
    cells of numbers, text, NaN and infinity, in one of the encodings files come in."""
    columns = draw(
        st.lists(st.sampled_from([*COLUMNS, *COLUMNS, "X", "note", ""]), max_size=7)
        | st.permutations(COLUMNS)
    )
    separator = draw(st.sampled_from([",", ";", "\t", "|", " "]))
    width = st.just(len(columns)) if draw(st.integers(0, 4)) else st.integers(0, 8)
    rows = draw(
        st.lists(width.flatmap(lambda n: st.lists(CELLS, min_size=n, max_size=n)), max_size=5)
    )
    text = "\n".join(separator.join(row) for row in [list(columns), *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"]))
    return text.encode(encoding, errors="replace")


@FUZZ
@given(data=survey_files())
def test_survey_csv_is_read_or_refused(folder, data):
    path = folder / "survey.csv"
    path.write_bytes(data)
    source = Source(name="survey", path=path, options={"crs": "EPSG:31258"})
    try:
        with only_twin_warnings():
            points = read_points(source, pyproj.CRS("EPSG:31258+5778"))
    except InputError:
        return
    xyz = shapely.get_coordinates(points.geometry.to_numpy(), include_z=True)
    assert len(points) > 0 and (abs(xyz) < math.inf).all()


# --- the CityJSON reader ---------------------------------------------------------------------


def _small_delft() -> dict:
    """Three buildings and a road of the Delft subset (CityJSON 1.0), vertices renumbered."""
    doc = json.loads((DATA / "delft_cityjson" / "testarea_subset.city.json").read_text())
    buildings = [k for k, o in doc["CityObjects"].items() if o["type"] == "Building"][:3]
    road = next(k for k, o in doc["CityObjects"].items() if o["type"] == "Road")
    objects = {k: doc["CityObjects"][k] for k in (*buildings, road)}
    used: dict[int, int] = {}

    def renumber(node):
        if isinstance(node, list):
            return [renumber(v) for v in node]
        return used.setdefault(node, len(used))

    for item in objects.values():
        for geometry in item.get("geometry", []):
            geometry["boundaries"] = renumber(geometry["boundaries"])
    vertices = [None] * len(used)
    for old, new in used.items():
        vertices[new] = doc["vertices"][old]
    return {**doc, "CityObjects": objects, "vertices": vertices}


BASES = {
    "delft": _small_delft(),
    "block": {
        **json.loads((DATA / "bad" / "cityjson" / "wrong_version.city.json").read_text()),
        "version": "2.0",
    },
}
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.integers() | NAMES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
    max_leaves=6,
)


def _nodes(node, path=()):
    """Every place in a JSON document, as a path of keys and indices."""
    yield path
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        yield from _nodes(value, (*path, key))


@st.composite
def cityjson_documents(draw) -> bytes:
    """A valid document with one to three places changed: a value replaced by another of any
    type, a number made huge, zero or negative, a member or item removed, one added."""
    doc = copy.deepcopy(BASES[draw(st.sampled_from(sorted(BASES)))])
    for _ in range(draw(st.integers(1, 3))):
        places = list(_nodes(doc))[1:]
        path = draw(st.sampled_from(places))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key, action = path[-1], draw(st.integers(0, 4))
        value = parent[key]
        if action == 0:
            parent[key] = draw(JSON_VALUES)
        elif action == 1 and isinstance(value, int | float) and not isinstance(value, bool):
            parent[key] = value * draw(st.sampled_from([0, -1, 1e300, 1e-300, 2**40]))
        elif action == 2:
            del parent[key]
        elif action == 3 and isinstance(value, dict):
            value[draw(NAMES)] = draw(JSON_VALUES)
        elif action == 4 and isinstance(value, list):
            value.append(draw(JSON_VALUES))
    return json.dumps(doc, allow_nan=True).encode()


@FUZZ
@given(data=cityjson_documents())
def test_cityjson_is_read_or_refused(folder, data):
    path = folder / "fuzz.city.json"
    path.write_bytes(data)
    try:
        with only_twin_warnings():
            model = read(path, crs="EPSG:7415")
    except InputError:
        return
    assert model.crs is not None


@FUZZ
@given(
    scale=st.lists(st.sampled_from([0.001, 0.0, -0.001, 1e-300, 1e300]), min_size=3, max_size=3),
    factor=st.sampled_from([1, -1, 1e300, 1e308]),
    vertex=st.integers(0, 7),
)
def test_cityjson_numbers_at_the_extremes_are_refused_or_finite(folder, scale, factor, vertex):
    """A zero, negative or huge ``transform.scale``, a vertex at 10^300: refused, or read
    into finite coordinates."""
    doc = copy.deepcopy(BASES["block"])
    doc["transform"]["scale"] = scale
    doc["vertices"][vertex] = [v * factor for v in doc["vertices"][vertex]]
    path = folder / "extreme.city.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    try:
        with only_twin_warnings():
            model = read(path)
    except InputError:
        return
    solids = model.layers["lod1"].geometry.to_numpy()
    xyz = shapely.get_coordinates(solids, include_z=True)
    assert (abs(xyz) < 1e9).all(), "coordinates beyond any CRS's range were read"
    assert (shapely.area(solids) > 0).all(), "a solid was read flat"


@FUZZ
@given(data=st.binary(max_size=300) | st.text().map(str.encode))
def test_cityjson_bytes_are_read_or_refused(folder, data):
    path = folder / "fuzz.city.json"
    path.write_bytes(data)
    try:
        with only_twin_warnings():
            read(path, crs="EPSG:7415")
    except InputError:
        pass


# --- CQL2 filters ----------------------------------------------------------------------------

PROPERTIES = ["height", "storeys", "use", "building_id", "geometry", "nosuch", "HEIGHT"]
LITERALS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=6).map(lambda s: "'" + s.replace("'", "''") + "'"),
    st.sampled_from(
        [
            "TRUE",
            "NULL",
            "DATE('2027-01-01')",
            "TIMESTAMP('2027-13-45T25:00:00Z')",
            "POINT(14.3 46.6)",
            "POLYGON((14.30 46.62, 14.31 46.62, 14.31 46.63, 14.30 46.62))",
            "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))",
            "BBOX(14.30, 46.62, 14.31, 46.63)",
            "BBOX(1, 2, 3)",
            "BBOX(14.31, 46.63, 14.30, 46.62)",
            "ENVELOPE(14.30, 14.31, 46.62, 46.63)",
        ]
    ),
)
COMPARE = st.sampled_from(["=", "<>", "<", ">", "<=", ">=", "LIKE", "NOT LIKE"])
SPATIAL = st.sampled_from(["S_INTERSECTS", "S_WITHIN", "S_CONTAINS", "S_DISJOINT", "S_EQUALS"])


def _predicates():
    prop = st.sampled_from(PROPERTIES)
    return st.one_of(
        st.tuples(prop, COMPARE, LITERALS).map(" ".join),
        st.tuples(prop, LITERALS, LITERALS).map(lambda t: f"{t[0]} BETWEEN {t[1]} AND {t[2]}"),
        st.tuples(prop, st.lists(LITERALS, min_size=1, max_size=3)).map(
            lambda t: f"{t[0]} IN ({', '.join(t[1])})"
        ),
        prop.map(lambda p: f"{p} IS NULL"),
        st.tuples(SPATIAL, prop, LITERALS).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
    )


CQL_TEXT = st.recursive(
    _predicates(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(" ".join),
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(" ".join),
        inner.map(lambda s: f"({s})"),
    ),
    max_leaves=8,
)
# pygeofilter's grammar reads NOT (a) but not NOT ((a)) nor NOT (NOT (a)), valid CQL2 both: a
# 400 that is pygeofilter's, so the NOTs here wrap single predicates
CQL_TEXT = CQL_TEXT | st.tuples(CQL_TEXT, _predicates()).map(lambda t: f"{t[0]} AND NOT ({t[1]})")
# and the same, cut or spliced at random: what a hand-typed filter looks like
CQL_TEXTS = CQL_TEXT | st.tuples(CQL_TEXT, st.integers(0, 60), st.text(max_size=3)).map(
    lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
)

JSON_LITERALS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    NAMES,
    st.booleans(),
    st.none(),
    st.sampled_from([{"date": "2027-01-01"}, {"timestamp": "2027-13-45T25:00:00Z"}]),
)
JSON_GEOMETRIES = st.one_of(
    st.lists(NUMBERS, min_size=3, max_size=7).map(lambda v: {"bbox": v}),
    st.just({"bbox": [14.30, 46.62, 14.31, 46.63]}),
    st.just({"type": "Point", "coordinates": [14.3, 46.6]}),
    st.just({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}),
    st.fixed_dictionaries({"type": NAMES, "coordinates": JSON_VALUES}),
)


def _json_predicates():
    prop = st.sampled_from(PROPERTIES).map(lambda p: {"property": p})
    compare = st.sampled_from(["=", "<>", "<", ">", "<=", ">=", "like"])
    spatial = st.sampled_from(["s_intersects", "s_within", "s_contains", "s_disjoint"])
    return st.one_of(
        st.tuples(compare, prop, JSON_LITERALS).map(lambda t: {"op": t[0], "args": list(t[1:])}),
        st.tuples(prop, st.lists(JSON_LITERALS, max_size=3)).map(
            lambda t: {"op": "in", "args": list(t)}
        ),
        st.tuples(prop, JSON_LITERALS, JSON_LITERALS).map(
            lambda t: {"op": "between", "args": list(t)}
        ),
        prop.map(lambda p: {"op": "isNull", "args": [p]}),
        st.tuples(spatial, prop, JSON_GEOMETRIES).map(lambda t: {"op": t[0], "args": list(t[1:])}),
    )


CQL_JSON = st.recursive(
    _json_predicates(),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["and", "or"]), st.lists(inner, min_size=2, max_size=3)).map(
            lambda t: {"op": t[0], "args": t[1]}
        ),
        inner.map(lambda x: {"op": "not", "args": [x]}),
    ),
    max_leaves=8,
)
# and what is not quite a filter: any operator with any arguments, any JSON
OPS = ["=", "<>", "and", "or", "not", "like", "in", "between", "isNull", "s_intersects", "nosuch"]
CQL_JSONS = (
    CQL_JSON
    | JSON_VALUES
    | st.fixed_dictionaries(
        {"op": st.sampled_from(OPS), "args": st.lists(JSON_VALUES | CQL_JSON, max_size=3)}
    )
)


def _compile(text: str, lang: str) -> None:
    """Parse as the API does and compile as the store does, with the buildings' queryables
    (the API answers the store's InputError with a 400)."""
    columns = {
        "height": "number",
        "storeys": "integer",
        "use": "string",
        "building_id": "string",
        "geometry": "geometry",
    }
    compiler = SQLCompiler(columns, to_store=lambda g, whole=False: g, rtree="rtree_buildings_geom")
    compiler.compile(parse(text, lang=lang))


@FUZZ
@given(text=CQL_TEXTS)
def test_cql2_text_compiles_or_is_a_400(text):
    try:
        _compile(text, "cql2-text")
    except Problem as exc:
        assert exc.status == 400
    except InputError:
        pass


@FUZZ
@given(document=CQL_JSONS)
@example(document={"op": "in", "args": [{"property": "height"}, True]})  # IN over a boolean
def test_cql2_json_compiles_or_is_a_400(document):
    try:
        _compile(json.dumps(document), "cql2-json")
    except Problem as exc:
        assert exc.status == 400
    except InputError:
        pass


@pytest.fixture(scope="module")
def api(sample_twin):
    """The planner API of the sample twin, called in process (no server)."""
    return create_app(sample_twin, config=ApiConfig())


async def _get(app, params: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get("/collections/buildings/items", params=params)


@settings(FUZZ, max_examples=150)
@given(
    filter_=st.one_of(
        CQL_TEXTS.map(lambda t: (t, "cql2-text")),
        CQL_JSONS.map(lambda d: (json.dumps(d), "cql2-json")),
    )
)
@example(filter_=("height BETWEEN storeys AND 3", "cql2-text"))  # was a 500: a property
@example(filter_=("height IN (storeys, 3)", "cql2-text"))  # where a literal was bound
@example(filter_=("use LIKE use", "cql2-text"))
def test_cql2_through_the_api_is_answered_or_a_400(api, filter_):
    text, lang = filter_
    params = {"filter": text, "filter-lang": lang, "limit": "2"}
    r = asyncio.run(_get(api, params))
    assert r.status_code in (200, 400), (r.status_code, r.text)
    if r.status_code == 400:
        assert r.headers["content-type"] == "application/problem+json"
        assert "Traceback" not in r.json()["detail"]
