"""The compiled JSON minifier (``twin.formats._walk.minified``, C in ``_minify.h``) against a
pure-Python statement of its rules, on every kernel this CPU runs: real CityJSON indented
several ways, random documents with whitespace everywhere (escapes, quotes and runs landing on
every offset around the kernels' 64-byte blocks), random bytes, truncations; and invalid JSON
never turns valid."""

from __future__ import annotations

import json
import random

import orjson
import pytest

from tests.conftest import DATA
from twin.formats._walk import MINIFY_PATHS, minified, minify_path

ZURICH = DATA / "zurich_cityjson" / "zurich_lod2_12.city.json"
PATHS = [path for path in MINIFY_PATHS if minify_path(path) == path]

WHITESPACE = frozenset(b" \t\n\r")
NOT_OTHER = frozenset(b' \t\n\r{}[],:"')


def reference(text):
    """Pure-Python statement of the rules, written independently of the C code."""
    out = bytearray()
    in_string = escaped = after_space = False
    for c in text:
        if in_string:
            out.append(c)
            if escaped:
                escaped = False
            elif c == 0x5C:
                escaped = True
            elif c == 0x22:
                in_string = False
            continue
        if c in WHITESPACE:
            after_space = True
            continue
        # out[-1] is the byte before the removed run (the closing quote after
        # a string); it is empty for a run at the start of the text.
        if after_space and out and out[-1] not in NOT_OTHER and c not in NOT_OTHER:
            return None
        after_space = False
        out.append(c)
        in_string = c == 0x22
    return bytes(out)


def check(text, path):
    assert minified(text, path) == reference(text), text


# ---------------------------------------------------------------- generators

SPACES = ["", "", "", " ", "\n", "\t", "\r\n", "  ", "\n    ", " \t\r\n "]


def random_space(rng):
    """Whitespace between tokens: mostly short, sometimes runs across blocks."""
    if rng.random() < 0.03:
        return "".join(rng.choice(" \t\n\r") for _ in range(rng.randrange(40, 140)))
    return rng.choice(SPACES)


STRING_PIECES = [
    "a", "b", "Z", "0", " ", "  ", "\\\"", "\\\\", "\\n", "\\t", "\\/", "\\u00e9",
    "\\ud83d\\ude00", "é", "Zürich", "€", "😀", ",", ":", "{", "]", "'", "/",
]  # fmt: skip


def random_string(rng):
    return '"' + "".join(rng.choice(STRING_PIECES) for _ in range(rng.randrange(0, 12))) + '"'


def random_number(rng):
    kind = rng.randrange(4)
    if kind == 0:
        return str(rng.randrange(-(10**6), 10**6))
    if kind == 1:
        return repr(rng.uniform(-1e4, 1e4))
    if kind == 2:
        return f"{rng.uniform(-10, 10):.3e}"
    return rng.choice(["0", "-0", "1E5", "2.5e-3", "-1.0E+2"])


def random_value(rng, depth=0):
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return random_string(rng)
    if kind == 1:
        return random_number(rng)
    if kind == 2:
        return rng.choice(["true", "false", "null"])
    if kind == 3:
        return random_number(rng)
    sp = random_space
    if kind in (4, 5):
        items = [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
        inner = ",".join(sp(rng) + item + sp(rng) for item in items) or sp(rng)
        return "[" + inner + "]"
    keys = [random_string(rng) for _ in range(rng.randrange(0, 4))]
    inner = ",".join(
        sp(rng) + key + sp(rng) + ":" + sp(rng) + random_value(rng, depth + 1) + sp(rng)
        for key in keys
    ) or sp(rng)
    return "{" + inner + "}"


def random_document(rng):
    """Mostly containers of a few values: lengths spread over 0 to ~1000 bytes."""
    if rng.random() < 0.1:
        value = random_value(rng)
    else:
        sp = random_space
        items = [random_value(rng, 1) for _ in range(rng.randrange(0, 8))]
        value = "[" + ",".join(sp(rng) + item + sp(rng) for item in items) + sp(rng) + "]"
    return (random_space(rng) + value + random_space(rng)).encode()


def random_documents(seed, count):
    rng = random.Random(seed)
    return [random_document(rng) for _ in range(count)]


def shifted_escapes():
    """Escapes and quotes landing on every offset around the 64-byte boundary."""
    docs = []
    tail = " " * 70 + ",1" * 40  # whole blocks after the escape, spaces then other
    for pad in range(0, 140):
        for body in ('"x\\"y"', '"\\\\"', '"a\\\\\\"b"', '"\\u0041 "', '""', '" "'):
            docs.append(("[" + " " * pad + body + " ]").encode())
            docs.append(("[" + " " * pad + body + tail + "]").encode())
            ones = "1," * (pad // 2) + "7" * (pad % 2 + 1)
            docs.append(("[" + ones + "," + body + "]").encode())
            docs.append(("[" + ones + "," + body + tail + "]").encode())
    return docs


BYTE_POOL = b' \t\n\r{}[],:"\\"\\ab01-.e\x00\xc3\xa9\xff'


def random_bytes(seed, count):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        n = rng.randrange(0, 300)
        if rng.random() < 0.5:
            out.append(bytes(rng.choice(BYTE_POOL) for _ in range(n)))
        else:
            out.append(bytes(rng.randrange(256) for _ in range(n)))
    return out


SMALL_DOC = b"""{
    "type": "CityJSON",
    "name": "a \\"quoted\\" name with \\\\ and spaces  ",
    "list":
    [
        1.5,
        -2e3,
        true,
        null,
        { "k" : [ ] }
    ]
}
"""

SAFETY_NONE = [b"[1 2]", b"[1 .5]", b"tr ue", b"- 1", b"[1\t\n2]", b'["a"1 2]']
SAFETY_OK = [b"[1, 2]", b'{"a" : 1}', b'[ "a" ]', b"1\n]", b' "a" 1', b'"a" "b"', b"1 ", b" 1"]


# ---------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def zurich() -> list[bytes]:
    """The Zürich test file as it is (minified), indented by four spaces, with tabs and CRLF."""
    doc = orjson.loads(ZURICH.read_bytes())
    indented = json.dumps(doc, indent=4, ensure_ascii=False).encode()
    return [
        ZURICH.read_bytes(),
        indented,
        json.dumps(doc, indent="\t").encode(),
        indented.replace(b"\n", b"\r\n"),
    ]


def test_the_fastest_kernel_is_taken_and_others_refused():
    assert minify_path() in PATHS
    assert minify_path(7) == 0
    with pytest.raises(ValueError, match="kernel 7"):
        minified(b"[]", 7)


@pytest.mark.parametrize("path", [0, *PATHS])
def test_zurich(zurich, path):
    expected = zurich[0]
    for text in zurich:
        assert minified(text, path) == reference(text) == expected
        assert minified(bytearray(text), path) == expected  # any buffer
        assert minified(memoryview(text)[1:], path) == reference(text[1:])


@pytest.mark.parametrize("path", PATHS)
def test_zurich_json_equal(zurich, path):
    for text in zurich:
        assert orjson.loads(minified(text, path)) == orjson.loads(text)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("seed", range(4))
def test_random_documents(path, seed):
    for doc in random_documents(seed, 1000):
        result = minified(doc, path)
        assert result == reference(doc), doc
        assert orjson.loads(result) == orjson.loads(doc), doc


@pytest.mark.parametrize("path", PATHS)
def test_random_documents_concatenated(path):
    """Longer texts: many documents in an array, blocks of every kind in a row."""
    rng = random.Random(99)
    for _ in range(100):
        docs = random_documents(rng.randrange(10**6), rng.randrange(1, 40))
        text = b"[" + b",".join(docs) + b"]"
        result = minified(text, path)
        assert result == reference(text)
        assert orjson.loads(result) == orjson.loads(text)


@pytest.mark.parametrize("path", PATHS)
def test_shifted_escapes(path):
    for doc in shifted_escapes():
        result = minified(doc, path)
        assert result == reference(doc), doc
        assert orjson.loads(result) == orjson.loads(doc), doc


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("seed", range(2))
def test_random_bytes(path, seed):
    for text in random_bytes(seed, 3000):
        check(text, path)


@pytest.mark.parametrize("path", PATHS)
def test_truncations(path):
    for pad in (0, 1, 63):  # shift the document against the blocks too
        doc = b" " * pad + SMALL_DOC * 2
        for end in range(len(doc) + 1):
            check(doc[:end], path)
            check(doc[end:], path)


@pytest.mark.parametrize("path", PATHS)
def test_safety_rule_at_every_offset(path):
    for case in SAFETY_NONE + SAFETY_OK:
        for shift in range(130):
            for text in (
                b" " * shift + case,  # the case anywhere in a block
                b" " * shift + case + b" " * 70,  # ... and a whole block after it
                case + b" " * shift,
                b"[" + b" " * shift + case + b"]",
                case.replace(b" ", b" " * (shift + 1)),  # runs across blocks
                case.replace(b" ", b"\n" + b" " * shift),
                b'"' + b"\\" * (shift % 3) + b'"' + b" " * shift + case,  # after a string
            ):
                check(text, path)
        expected_none = case in SAFETY_NONE
        assert (minified(case, path) is None) == expected_none, case


@pytest.mark.parametrize("path", PATHS)
def test_invalid_stays_invalid(path):
    rng = random.Random(5)
    checked = 0
    for doc in random_documents(7, 3000):
        text = bytearray(doc)
        for _ in range(rng.randrange(1, 3)):
            i = rng.randrange(len(text) + 1)
            op = rng.randrange(3)
            if op == 0:
                text[i:i] = bytes([rng.choice(BYTE_POOL)])
            elif op == 1:
                del text[i : i + 1]
            else:
                text[i:i] = b" "
        text = bytes(text)
        try:
            orjson.loads(text)
            continue  # still valid: not an invalid sample
        except orjson.JSONDecodeError:
            pass
        result = minified(text, path)
        assert result == reference(text)
        if result is not None:
            checked += 1
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(result)
    assert checked > 500


@pytest.mark.parametrize("path", PATHS)
def test_small_inputs(path):
    for text in (b"", b" ", b'"', b"\\", b'"\\', b'" ', b"a", b"  \n", b'"a\\" b', b"\\ \\"):
        check(text, path)
    assert minified(b"", path) == b""
