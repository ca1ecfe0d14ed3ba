"""Reading vector sources (any OGR format) into the project CRS, their text decoded.

The encoding of a source's text is taken from, in this order: the ``encoding`` key of its
section in the build config; the file (a Shapefile's ``.cpg`` or the code page of its
``.dbf``; GeoPackage, GeoJSON and the other formats GDAL reads as UTF-8 by definition); and,
where nothing declares one (a Shapefile without ``.cpg``, a CSV file), the text itself: UTF-8
when all of it is valid UTF-8, else :data:`FALLBACK` with a
:class:`~twin.errors.DataQualityWarning` naming the fields. Text that is not valid in a
declared encoding is an :class:`~twin.errors.InputError` naming the field, the feature and
the byte. :func:`read_table` does this for every OGR format, :func:`read_text` for a text
file read whole (the survey's CSV files).
"""

from __future__ import annotations

import codecs
import csv
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pyproj

from twin.crs import horizontal, same_horizontal
from twin.errors import CRSError, DataQualityWarning, InputError

FALLBACK = "cp1252"
"""The encoding of text that declares none and is not UTF-8: Windows-1252, the code page
Windows (and so the desktop GIS that wrote most older Shapefiles and CSV files) uses in
Western Europe. It decodes every byte ISO-8859-1 (GDAL's assumption for a Shapefile without
``.cpg``) decodes to a printable character alike, and 0x80-0x9F as the characters Windows put
there (``€``, ``–``, ``„``, ...) rather than as control codes (WHATWG Encoding Standard,
https://encoding.spec.whatwg.org/#names-and-labels: labels ``latin1`` and ``iso-8859-1``
mean windows-1252 on the web for the same reason)."""

_RAW = "ISO-8859-1"
"""Read text as this to get its bytes back unchanged (byte ``b`` becomes ``chr(b)``): GDAL
and Python both know the name, and it decodes every byte."""

_NON_ASCII = r"[^\x00-\x7f]"


def read_layer(
    path: Path,
    /,
    *,
    layer: str | None,
    target: pyproj.CRS | None,
    crs: pyproj.CRS | None = None,
    what: str,
    allow_empty: bool = False,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read one vector layer and reproject it to the project CRS.

    Parameters
    ----------
    path
        Any format OGR reads (GeoPackage, Shapefile, GeoJSON, SpatiaLite, ...).
    layer
        The layer; ``None`` takes the only (or first) one.
    target
        The project CRS; the result carries it (compound, with its vertical datum). ``None``
        keeps the source's CRS, for a caller that reprojects itself.
    crs
        The source's CRS from the config; it overrides the file's own, as ``ogr2ogr -s_srs``
        does, and is required when the file has none.
    what
        Names the source in messages (``"cadastre buildings"``).
    allow_empty
        Accept a layer without features.
    encoding
        The encoding of its text from the config (``encoding = "cp1252"``); it overrides
        the file's (a ``.cpg``). ``None``: the file's, else detected (see the module).

    Raises
    ------
    InputError
        Unreadable file, unknown layer, an empty layer when not allowed, text that is not
        valid in its declared encoding, or coordinates that cannot be longitude and latitude
        in a geographic CRS.
    CRSError
        The file has no CRS and the config names none.
    """
    try:
        layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        raise InputError(f"{path}: cannot read {what}: {exc}") from exc
    if not layers:
        raise InputError(f"{path}: {what}: the file holds no layer")
    if layer is not None and layer not in layers:
        raise InputError(f"{path}: {what}: no layer {layer!r} (layers: {', '.join(layers)})")
    try:
        frame = read_table(path, layer=layer or layers[0], what=what, encoding=encoding)
    except pyogrio.errors.DataLayerError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc}") from exc
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{path}: {what}: layer {layer or layers[0]!r} has no geometry")
    if len(frame) == 0 and not allow_empty:
        raise InputError(f"{path}: {what}: layer {layer or layers[0]!r} has no features")
    if crs is not None:
        frame = frame.set_crs(crs, allow_override=True)
    elif frame.crs is None:
        raise CRSError(
            f'{path}: {what} has no CRS; name it in the config (crs = "EPSG:...") '
            "rather than have it guessed"
        )
    if horizontal(frame.crs).is_geographic and len(frame):
        _check_lonlat(frame, path, what)
    if target is None:
        return frame
    if not same_horizontal(frame.crs, target):
        frame = frame.to_crs(horizontal(target))
    return frame.set_crs(target, allow_override=True)


def _check_lonlat(frame: gpd.GeoDataFrame, path: Path, what: str) -> None:
    """Refuse coordinates in a geographic CRS that cannot be longitude and latitude
    (RFC 7946: |longitude| <= 180, |latitude| <= 90): they are projected coordinates in a file
    that does not say so, as a GeoJSON file always claims WGS 84."""
    xmin, ymin, xmax, ymax = frame.total_bounds
    if max(abs(xmin), abs(xmax)) > 180.0 or max(abs(ymin), abs(ymax)) > 90.0:
        raise InputError(
            f"{path}: {what}: coordinates up to ({max(abs(xmin), abs(xmax)):.0f}, "
            f"{max(abs(ymin), abs(ymax)):.0f}) cannot be longitude and latitude in "
            f"{frame.crs.name}; these look like projected coordinates: pass --crs (or name "
            'the crs in the config, crs = "EPSG:...")'
        )


def read_table(
    path: Path, /, *, layer: str | None, what: str, encoding: str | None = None, **options: Any
) -> pd.DataFrame:
    """Read a layer with :func:`pyogrio.read_dataframe`, its text decoded in the encoding
    the config or the file declares, or else detected (see the module).

    Parameters
    ----------
    path, layer
        The file and layer (``None``: the first).
    what
        Names the source in messages.
    encoding
        The encoding of the text from the config, overriding the file's; any name Python
        knows (``"cp1252"``, ``"latin-1"``, ``"utf-8"``).
    **options
        Passed on to :func:`pyogrio.read_dataframe` (``read_geometry``, ``fid_as_index``).

    Returns
    -------
    pandas.DataFrame
        A :class:`geopandas.GeoDataFrame` when the layer has geometry and it is read.

    Raises
    ------
    InputError
        An unknown ``encoding``, or text that is not valid in the declared encoding: the
        message names the field, the feature (a CSV file's line) and the byte, and the
        encoding the text reads in if it is UTF-8 or :data:`FALLBACK`.
    pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError
        An unreadable file or layer, as pyogrio raises them.
    """
    with warnings.catch_warnings():
        # GDAL's notices about the file (e.g. SpatiaLite metadata) are not the user's problem.
        warnings.simplefilter("ignore", RuntimeWarning)
        if encoding is not None:
            declared = _codec(encoding, path, what)
            return _read_declared(
                path, layer, what, declared, f'its encoding = "{encoding}"', options
            )
        info = pyogrio.read_info(path, layer=layer)
        shapefile = info["driver"] == "ESRI Shapefile"
        if info["driver"] == "CSV" or (shapefile and info["encoding"] != "UTF-8"):
            return _read_undeclared(path, layer, what, options)
        # GDAL recodes a Shapefile's text from its code page to UTF-8: text that is not
        # UTF-8 after that was declared UTF-8.
        by = "its code page (.cpg, .dbf)" if shapefile else f"the {info['driver']} format"
        return _read_declared(path, layer, what, None, by, options)


def _codec(encoding: str, path: Path, what: str, /) -> str:
    """Python's name of ``encoding``, which GDAL knows too (``latin-1`` -> ``iso8859-1``)."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise InputError(
            f'{path}: {what}: unknown encoding = "{encoding}" (e.g. "utf-8", "cp1252", '
            '"iso8859-15")'
        ) from None


def _read_declared(
    path: Path, layer: str | None, what: str, encoding: str | None, by: str, options: dict
) -> pd.DataFrame:
    """Read text in the ``encoding`` that ``by`` declares (``None``: the file's, which GDAL
    turns into UTF-8); say where it is wrong."""
    try:
        return pyogrio.read_dataframe(path, layer=layer, encoding=encoding, **options)
    except UnicodeDecodeError as exc:
        encoding = encoding or "utf-8"
        raw = pyogrio.read_dataframe(
            path, layer=layer, encoding=_RAW, read_geometry=False, fid_as_index=True
        )
        names = {f"the name of field {c!r}": c.encode(_RAW) for c in raw if not c.isascii()}
        bad = _first_undecodable({"": pd.Series(names, dtype=object), **_non_ascii(raw)}, encoding)
        if bad is None:  # neither in the names nor in the values: say what pyogrio said
            raise InputError(
                f"{path}: {what}: not {encoding} text, which {by} declares: {exc}"
            ) from exc
        column, label, value, error = bad
        raise InputError(
            f"{path}: {what}: {label if not column else _row(path, label, column)}: byte "
            f"0x{value[error.start]:02X} at position {error.start} of {value!r} is not "
            f"{encoding} text, which {by} declares{_hint(value, encoding)}"
        ) from exc


def _read_undeclared(path: Path, layer: str | None, what: str, options: dict) -> pd.DataFrame:
    """Read text whose encoding nothing declares: UTF-8 if all of it is, else
    :data:`FALLBACK`, with a :class:`DataQualityWarning` naming the fields."""
    fid_as_index = options.pop("fid_as_index", False)  # the feature ids name bad values
    frame = pyogrio.read_dataframe(path, layer=layer, encoding=_RAW, fid_as_index=True, **options)
    raw = _non_ascii(frame)
    if raw:
        encoding = "utf-8" if _first_undecodable(raw, "utf-8") is None else FALLBACK
        bad = _first_undecodable(raw, encoding)
        if bad is not None:
            column, label, value, error = bad
            raise InputError(
                f"{path}: {what}: {_row(path, label, column)}: {value!r} is neither UTF-8 nor "
                f"{FALLBACK} text (byte 0x{value[error.start]:02X} at position "
                f'{error.start}): state its encoding (encoding = "..." in the source\'s '
                "section of the build config)"
            )
        decoded = {column: values.str.decode(encoding) for column, values in raw.items()}
        for column, values in decoded.items():
            frame.loc[values.index, column] = values
        if encoding == FALLBACK:
            warnings.warn(
                DataQualityWarning(
                    f"{path}: {what}: no encoding declared and the text of field(s) "
                    f"{', '.join(map(repr, raw))} is not UTF-8: read as {FALLBACK} (e.g. "
                    f"{next(iter(decoded.values())).iloc[0]!r}); declare it (encoding = "
                    f'"{FALLBACK}" in the source\'s section of the build config, or a .cpg '
                    "file beside a Shapefile)"
                ),
                stacklevel=2,
            )
    return frame if fid_as_index else frame.reset_index(drop=True)


def _non_ascii(frame: pd.DataFrame, /) -> dict[str, pd.Series]:
    """The bytes of the text values with non-ASCII characters of ``frame`` (its text read as
    :data:`_RAW`), by column; only those can fail to decode (or decode otherwise) in an
    ASCII-compatible encoding."""
    out = {}
    for column in frame.columns:
        values = frame[column]
        if column == "geometry" or not pd.api.types.is_string_dtype(values):
            continue
        values = values[values.str.contains(_NON_ASCII, na=False)]
        if len(values):
            out[column] = values.str.encode(_RAW)
    return out


def _first_undecodable(
    raw: dict[str, pd.Series], encoding: str, /
) -> tuple[str, Any, bytes, UnicodeDecodeError] | None:
    """The first of the ``raw`` bytes, by column, that are not valid ``encoding``: column,
    index label, bytes and the decoding error; ``None`` when all are."""
    for column, values in raw.items():
        for label, value in values.items():  # the text with non-ASCII characters only
            try:
                value.decode(encoding)
            except UnicodeDecodeError as error:
                return column, label, value, error
    return None


def _row(path: Path, fid: Any, column: str, /) -> str:
    """``"feature 12, field 'street'"``; a CSV file's features are its lines from 2 on."""
    row = f"line {fid + 1}" if path.suffix.lower() == ".csv" else f"feature {fid}"
    return f"{row}, field {column!r}"


def _hint(value: bytes, declared: str, /) -> str:
    """How to read ``value`` right, if UTF-8 or :data:`FALLBACK` does."""
    for encoding in ("utf-8", FALLBACK):
        if encoding == declared:
            continue
        try:
            text = value.decode(encoding)
        except UnicodeDecodeError:
            continue
        return (
            f"; it reads as {encoding} ({text!r}): if that is right, declare it "
            f'(encoding = "{encoding}" in the source\'s section of a build config) or '
            "convert the file to UTF-8"
        )
    return ""


def read_text(path: Path, /, *, what: str, encoding: str | None = None) -> str:
    """The text of a CSV file, decoded in ``encoding`` (from the config) or, when ``None``,
    as UTF-8 (a byte order mark is dropped) if it all is, else as :data:`FALLBACK` with a
    :class:`DataQualityWarning`.

    Raises
    ------
    InputError
        An unknown ``encoding``, or bytes that are not valid in it (or in neither UTF-8 nor
        :data:`FALLBACK`): the message names the line, the field (by the CSV header) and the
        byte with its offset in the file.
    OSError
        When the file cannot be read.
    """
    data = path.read_bytes()
    if encoding is not None:
        declared = _codec(encoding, path, what)
        try:
            return data.decode(declared)
        except UnicodeDecodeError as exc:
            hint = _hint(_line(data, exc.start), declared)
            raise InputError(
                f"{path}: {what}: {_text_position(data, exc.start)} is not {declared} text, "
                f'which its encoding = "{encoding}" declares{hint}'
            ) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        first = exc
    try:
        text = data.decode(FALLBACK)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: {what}: {_text_position(data, exc.start)} is neither UTF-8 nor "
            f'{FALLBACK} text: state its encoding (encoding = "..." in the source\'s section of '
            "the build config)"
        ) from exc
    warnings.warn(
        DataQualityWarning(
            f"{path}: {what}: no encoding declared and the text is not UTF-8 "
            f"({_text_position(data, first.start)}): read as {FALLBACK} "
            f"({_line(data, first.start).decode(FALLBACK)!r}); declare it (encoding = "
            f'"{FALLBACK}" in the source\'s section of the build config)'
        ),
        stacklevel=2,
    )
    return text


def _line(data: bytes, offset: int, /) -> bytes:
    """The line of ``data`` that holds the byte at ``offset``."""
    start = data.rfind(b"\n", 0, offset) + 1
    end = data.find(b"\n", offset)
    return data[start : end if end >= 0 else len(data)].rstrip(b"\r")


def _text_position(data: bytes, offset: int, /) -> str:
    """``"line 4, field 'code': byte 0xF6 at offset 123"`` for the byte at ``offset`` of a
    CSV file (fields named by its header, counted by the delimiters before the byte)."""
    start = data.rfind(b"\n", 0, offset) + 1
    header = next(csv.reader([_line(data, 0).decode(_RAW)]), [])
    before = next(csv.reader([data[start:offset].decode(_RAW)]), [""])
    column = max(len(before) - 1, 0)
    field = f", field {header[column]!r}" if column < len(header) and start > 0 else ""
    line = data.count(b"\n", 0, offset) + 1
    return f"line {line}{field}: byte 0x{data[offset]:02X} at offset {offset}"
