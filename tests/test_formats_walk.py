"""The compiled CityJSON walk (twin/formats/_walk.pyx) against orjson's parse of real files,
and on broken and hostile text (it must say ``None``, never read past the end or crash)."""

from __future__ import annotations

import doctest
import json
import random

import numpy as np
import orjson
import pytest

import twin
from tests.conftest import DATA
from twin.formats import _walk
from twin.formats._walk import ADDRESS, GEOMETRY_COLUMNS, JSON_TYPES, OBJECT_COLUMNS, walk
from twin.formats.cityjson import write
from twin.formats.objects import ADDRESS as READERS_ADDRESS
from twin.formats.objects import _attribute_kinds, _kinds

ZURICH = DATA / "zurich_cityjson" / "zurich_lod2_12.city.json"
DELFT = DATA / "delft_cityjson" / "testarea_subset.city.json"


def test_doctests():
    assert doctest.testmod(_walk).failed == 0


def _texts(doc: dict) -> list[bytes]:
    """The document minified, as Python's json writes it, and indented."""
    return [orjson.dumps(doc), json.dumps(doc).encode(), json.dumps(doc, indent=2).encode()]


def _expected(doc: dict) -> dict:
    """What the walk should find, from orjson's parse of the whole document."""
    out = {k: [] for k in ("ids", "kinds", "lods", "surfaces", "index", "rings", "values")}
    out["surface_rings"] = []
    for oid, item in doc["CityObjects"].items():
        out["ids"].append(oid)
        for geometry in item.get("geometry") or []:
            shells = geometry["boundaries"]
            surfaces = shells[0] if geometry["type"] == "Solid" else shells
            out["kinds"].append(geometry["type"])
            out["lods"].append(str(geometry["lod"]))
            out["surfaces"].append(len(surfaces))
            for surface in surfaces:
                out["surface_rings"].append(len(surface))
                for ring in surface:
                    out["rings"].append(len(ring))
                    out["index"].extend(ring)
            values = (geometry.get("semantics") or {}).get("values")
            if values and geometry["type"] == "Solid":
                values = values[0]
            out["values"].extend(
                v if v is not None else np.nan for v in values or [None] * len(surfaces)
            )
    return out


def _columns(found: dict) -> dict:
    geometries = np.frombuffer(found["geometries"], dtype=np.int64).reshape(-1, 9)
    geo = dict(zip(GEOMETRY_COLUMNS, geometries.T, strict=True))
    return {
        "ids": found["ids"],
        "kinds": [("MultiSurface", "CompositeSurface", "Solid")[k] for k in geo["kind"]],
        "lods": found["lods"],
        "surfaces": geo["surfaces"].tolist(),
        "index": np.frombuffer(found["index"], dtype=np.int64).tolist(),
        "rings": np.frombuffer(found["ring_length"], dtype=np.int64).tolist(),
        "surface_rings": np.frombuffer(found["surface_rings"], dtype=np.int64).tolist(),
        "values": np.frombuffer(found["values"], dtype=np.float64).tolist(),
    }


def _documents(sample_twin, tmp_path) -> dict[str, dict]:
    exported = tmp_path / "sample.city.json"
    write(twin.open(sample_twin), exported)
    docs = {
        "zurich": orjson.loads(ZURICH.read_bytes()),
        "sample": orjson.loads(exported.read_bytes()),
    }
    delft = orjson.loads(DELFT.read_bytes())  # buildings only: roads are the full parse's
    delft["CityObjects"] = {
        k: v for k, v in delft["CityObjects"].items() if v["type"] in ("Building", "BuildingPart")
    }
    docs["delft"] = delft
    nulls = orjson.loads(ZURICH.read_bytes())  # attributes null, and none: {} both
    first, second = list(nulls["CityObjects"].values())[:2]
    first["attributes"] = None
    del second["attributes"]
    docs["zurich-null-attributes"] = nulls
    return docs


def test_walk_finds_what_orjson_finds(sample_twin, tmp_path):
    for name, doc in _documents(sample_twin, tmp_path).items():
        n_vertices, expected = len(doc["vertices"]), _expected(doc)
        written = []
        for text in _texts(doc):  # whitespace or none: the same columns
            found = walk(text, n_vertices)
            assert found is not None, name
            got = _columns(found)
            for key, value in expected.items():
                if key == "values":
                    np.testing.assert_array_equal(got[key], value, err_msg=name)
                else:
                    assert got[key] == value, (name, key)
            attributes = orjson.loads(found["attributes"])
            objects = doc["CityObjects"].values()
            assert attributes == [item.get("attributes") or {} for item in objects]
            table = np.frombuffer(found["objects"], dtype=np.int64)
            assert len(table) == len(OBJECT_COLUMNS) * len(doc["CityObjects"]), name
            written.append(found["written"])
        # the objects as the writer writes them: minified, whatever the input's whitespace
        assert written[0] == written[1] == written[2], name
        assert b"\n" not in written[0] and b", " not in written[0]
        again = orjson.loads(written[0])
        assert again.keys() == doc["CityObjects"].keys()
        for oid, item in again.items():
            assert item["geometry"] == doc["CityObjects"][oid].get("geometry", []), (name, oid)


def _rows(doc: dict) -> list[dict]:
    """The objects' attributes as the readers keep them: the address under ADDRESS, last."""
    rows = []
    for item in doc["CityObjects"].values():
        row = dict(item.get("attributes") or {})
        if "address" in item:
            row[READERS_ADDRESS] = item["address"]
        rows.append(row)
    return rows


def _random_attributes(seed: int) -> dict:
    """The Zürich document with random attributes and addresses: every JSON type, numbers
    written as integers, fractions and exponents, names shared and not."""
    rng = random.Random(seed)
    doc = orjson.loads(ZURICH.read_bytes())
    values = [
        "text", "", 0, -0, 7, -12, 2**40, 1.5, -0.0, 1e3, 2.5e-3, True, False, None,
        {"nested": [1, None]}, [], [1, "a"], {},
    ]  # fmt: skip
    names = ["height", "class", "year", "Höhe", "a b", "roof", "x"]
    for item in doc["CityObjects"].values():
        item["attributes"] = {
            name: rng.choice(values) for name in rng.sample(names, rng.randrange(0, len(names)))
        }
        if rng.random() < 0.3:
            item["address"] = rng.choice([None, {"Locality": "Zürich"}, [{"x": 1}]])
    return doc


def test_walk_gathers_attribute_types_as_the_readers_do(sample_twin, tmp_path):
    """Each attribute name with each type of its values, in the order first seen: the same
    as the readers gather from the attribute dicts, whence the same columns and kinds."""
    assert ADDRESS == READERS_ADDRESS
    docs = _documents(sample_twin, tmp_path)
    docs.update({f"random-{seed}": _random_attributes(seed) for seed in range(20)})
    for name, doc in docs.items():
        rows = _rows(doc)
        expected = list(dict.fromkeys((k, type(v)) for row in rows for k, v in row.items()))
        texts = [orjson.dumps(doc), json.dumps(doc, ensure_ascii=False, indent=2).encode()]
        for text in texts:  # (names with escapes, as "H\u00f6he", go to the full parse)
            found = walk(text, len(doc["vertices"]))
            got = [(key, JSON_TYPES[code]) for key, code in found["kinds"]]
            assert got == expected, name
            assert _kinds(got) == _attribute_kinds(rows), name


def test_walk_leaves_repeated_and_reserved_attribute_names_to_the_full_parse():
    text = ZURICH.read_bytes()
    n = len(orjson.loads(text)["vertices"])
    first = text.index(b'"attributes":{') + len(b'"attributes":{')
    assert b'"class":' in text[first : text.index(b"}", first)]
    for member, regular in (
        (b'"fresh":1,', True),
        (b'"class":1,', False),
        (b'"+address":1,', False),
    ):
        changed = text[:first] + member + text[first:]
        assert (walk(changed, n) is not None) == regular, member


def _links(ids: list[str], doc: dict) -> tuple[list, bool] | None:
    """What the walk should say of the objects' links (a statement of the rule in Python)."""
    known = set(ids)
    parents: list = [None] * len(ids)
    children: dict[str, list[str]] = {}
    listed: dict[str, list[str]] = {}
    single = True
    for row, item in enumerate(doc["CityObjects"].values()):
        up, down = item.get("parents"), item.get("children")
        for value in (up, down):
            if value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                return None
        if up is not None:
            parents[row] = up[0] if up else None
            if len(up) == 1 and up[0] in known:
                children.setdefault(up[0], []).append(ids[row])
            else:
                single = False
        if down is not None:
            listed[ids[row]] = down
            single = single and all(kid in known for kid in down)
    same = listed.keys() == children.keys() and all(
        sorted(kids) == sorted(children[oid]) for oid, kids in listed.items()
    )
    return parents, single and same


@pytest.mark.parametrize(
    "links",
    [
        {},
        {"a": (None, ["b", "c"]), "b": (["a"], None), "c": (["a"], None)},
        {"a": (None, ["c", "b"]), "b": (["a"], None), "c": (["a"], None)},  # any order
        {"a": (None, ["b"]), "b": (["a"], None), "c": (["a"], None)},  # c not listed
        {"a": (None, ["b", "c", "c"]), "b": (["a"], None), "c": (["a"], None)},
        {"a": (None, []), "b": (None, None)},  # a lists no child, none has it as parent
        {"b": ([], None)},  # no parent in the list
        {"a": (None, ["b"]), "b": (["a", "c"], None)},  # two parents
        {"b": (["zzz"], None)},  # a parent that is not among the objects
        {"b": (["a"], None)},  # the parent does not list it
        {"a": (None, ["zzz"])},  # a child that is not among the objects
        {"b": ([1], None)},
        {"b": ("a", None)},
        {"a": (None, "b")},
        {"a": (None, [1])},
        {"a": ([], ["b"]), "b": (["a"], None)},  # an empty parents list: its children read
        {"a": ([], [1])},
    ],
)
def test_walk_reads_links_as_the_writer_writes_them(links):
    """Parents and children: each object's parent, and whether the file's links are what
    the writer would write; links that are not lists of ids go to the full parse."""
    doc = orjson.loads(ZURICH.read_bytes())
    keys = list(doc["CityObjects"])
    names = dict(zip("abc", keys, strict=False))
    for item in doc["CityObjects"].values():
        item.pop("parents", None)
        item.pop("children", None)
    for name, (up, down) in links.items():
        item = doc["CityObjects"][names[name]]
        for member, value in (("parents", up), ("children", down)):
            if value is not None:
                named = [names.get(v, v) for v in value] if isinstance(value, list) else value
                item[member] = names.get(named, named) if isinstance(named, str) else named
    expected = _links(keys, doc)
    for text in _texts(doc):
        found = walk(text, len(doc["vertices"]))
        got = None if found is None else (found["parents"], found["linked"])
        assert got == expected, links


def test_walk_leaves_the_irregular_to_the_full_parse():
    doc = orjson.loads(ZURICH.read_bytes())
    n = len(doc["vertices"])
    assert walk(orjson.dumps(doc), n) is not None
    assert walk(orjson.dumps(doc), n - 1) is None  # the last vertex is used: out of range
    oid, item = next(iter(doc["CityObjects"].items()))
    for change in (
        {"type": "Road"},  # other object types: skipped and counted by the full parse
        {"geometry": [{"type": "GeometryInstance", "template": 0, "boundaries": [0]}]},
        {"geometry": [{"type": "MultiSurface", "lod": "2", "boundaries": [[[0, 1.5, 2]]]}]},
        {"geometry": [{"type": "Solid", "lod": "2", "boundaries": [[[[0, 1, 2]]], [[[2, 1, 0]]]]}]},
        {"geometry": None},
    ):
        changed = {**doc, "CityObjects": {**doc["CityObjects"], oid: {**item, **change}}}
        assert walk(orjson.dumps(changed), n) is None, change
    escaped = orjson.dumps(doc).replace(b'"type":"Building"', b'"typ\\u0065":"Building"', 1)
    assert walk(escaped, n) is None  # an escaped key: the full parse reads it
    for vertices in ([[0, 1], [2, 3, 4, 5]], [[0, 1, 2, 3]], [[0, "a", 1]]):
        changed = {**doc, "vertices": vertices + doc["vertices"][len(vertices) :]}
        assert walk(orjson.dumps(changed), n) is None, vertices


def test_walk_never_reads_past_the_end_of_broken_text():
    doc = orjson.loads(ZURICH.read_bytes())
    doc["CityObjects"] = dict(list(doc["CityObjects"].items())[:3])
    n = len(doc["vertices"])
    for text in _texts(doc)[::2]:
        assert walk(text, n) is not None
        for end in range(len(text) - 1):  # every truncation
            assert walk(text[:end], n) is None
    text = orjson.dumps(doc)
    rng = np.random.default_rng(7)
    alphabet = np.frombuffer(b'[]{}",:-0123456789 ntrue\\\n', dtype=np.uint8)
    raw = np.frombuffer(text, dtype=np.uint8)
    for _ in range(3000):  # bytes changed at random: an answer or None, never a crash
        changed = raw.copy()
        at = rng.integers(0, len(raw), size=rng.integers(1, 4))
        changed[at] = rng.choice(alphabet, size=len(at))
        found = walk(changed.tobytes(), n)
        assert found is None or len(found["ids"]) <= 3
    assert walk(b"", n) is None and walk(b'{"CityObjects":{},"vertices":[]}', 0)["ids"] == []


@pytest.mark.parametrize(
    "text",
    [b"{", b'{"a"', b'{"CityObjects":', b'{"CityObjects":{"a":{', b'{"vertices":[[0,'],
)
def test_walk_refuses_unfinished_documents(text):
    assert walk(text, 10) is None
