"""Where a command may write: never over one of its inputs, never over something else.

Every command that writes files calls :func:`check_output` before its real work, so that a
wrong ``-o`` fails at once and leaves every file as it was:

- an output is never one of the command's inputs: the same path, or the same file through a
  hard or symbolic link (compared by device and inode), and a folder output (a 3D Tiles
  tileset, a folder of reports) never holds one;
- an existing output is replaced only when it is of the :class:`Kind` the command writes (an
  older twin, JSON under a CityJSON name, an earlier tileset) or is empty; anything else needs
  ``--overwrite``;
- the output's folder must take a new file (it is checked by making one and removing it, the
  only test that holds for every user, root included, and every file system).

The writers themselves write atomically (:func:`twin.files.atomic`), so a disk that fills
up mid-way leaves the old output untouched and says so.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from twin.errors import OutputError, StoreError
from twin.files import temporary_path

__all__ = [
    "EMPTY_FOLDER",
    "GLB",
    "JSON",
    "OBJ",
    "PICTURE",
    "REPORTS",
    "STL",
    "TILESET",
    "TWIN",
    "XML",
    "Kind",
    "check_output",
    "twin_files",
]

_HEAD = 1024
"""Bytes read from the start of an existing file to recognise its kind."""


@dataclass(frozen=True)
class Kind:
    """What a command writes, as far as finding one already at the output path goes.

    Attributes
    ----------
    name
        How messages name it (``"a twin (GeoPackage)"``).
    recognise
        Whether an existing, non-empty file or folder is one (then it may be replaced).
    folder
        A folder (3D Tiles, reports) rather than a file.
    """

    name: str
    recognise: Callable[[Path], bool]
    folder: bool = False


def _head(path: Path, /) -> bytes:
    """The first bytes of a file, without a UTF-8 byte order mark and leading white space."""
    with path.open("rb") as stream:
        return stream.read(_HEAD).lstrip(b"\xef\xbb\xbf \t\r\n")


def _is_twin(path: Path, /) -> bool:
    from twin.store import open_store

    try:
        open_store(path)
    except StoreError:
        return False
    return True


def _is_obj(path: Path, /) -> bool:
    words = _head(path).split(maxsplit=1)
    return bool(words) and words[0] in {b"#", b"v", b"vn", b"vt", b"f", b"o", b"g", b"mtllib"}


def _is_stl(path: Path, /) -> bool:
    with path.open("rb") as stream:
        head = stream.read(84)
    if head.lstrip().startswith(b"solid"):  # ASCII STL
        return True
    # binary STL: an 80-byte header, a uint32 triangle count, 50 bytes a triangle
    return len(head) == 84 and path.stat().st_size == 84 + 50 * struct.unpack("<I", head[80:])[0]


def _is_picture(path: Path, /) -> bool:
    with path.open("rb") as stream:
        head = stream.read(12)
    magic = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
    return head.startswith(magic) or head[4:8] == b"ftyp"  # PNG, JPEG, GIF, MP4


TWIN = Kind("a twin (GeoPackage)", _is_twin)
JSON = Kind("a JSON file", lambda p: _head(p)[:1] in (b"{", b"["))
XML = Kind("an XML file", lambda p: _head(p)[:1] == b"<")
OBJ = Kind("a Wavefront OBJ file", _is_obj)
GLB = Kind("a glTF binary (GLB) file", lambda p: _head(p)[:4] == b"glTF")
STL = Kind("an STL file", _is_stl)
PICTURE = Kind("a picture or video (PNG, JPEG, GIF, MP4)", _is_picture)
TILESET = Kind("a 3D Tiles tileset folder", lambda p: (p / "tileset.json").is_file(), folder=True)
REPORTS = Kind("a folder", lambda p: True, folder=True)
"""A folder the reports are written into: what else it holds stays."""
EMPTY_FOLDER = Kind("an empty folder", lambda p: False, folder=True)
"""A folder that is replaced whole when it exists (``twin sample``)."""


def twin_files(path: str | Path, /) -> list[Path]:
    """The files of the twin at ``path``: the GeoPackage and the terrain and orthophoto COGs
    that are written and read with it (whether they exist or not)."""
    from twin.store import files

    return files(path)


def check_output(
    path: str | Path,
    /,
    kind: Kind,
    *,
    inputs: Iterable[str | Path | None] = (),
    overwrite: bool = False,
    also: Iterable[str | Path] = (),
    option: str = "--output",
) -> Path:
    """Check that a command may write ``path``; raise before anything is written if not.

    Parameters
    ----------
    path
        The output: a file, or a folder for a folder ``kind``.
    kind
        What the command writes there.
    inputs
        The files and folders the command reads (``None`` and missing ones are skipped).
    overwrite
        Replace an existing output of another kind (the command's ``--overwrite``).
    also
        Other files written with ``path`` (a twin's terrain COG, an OBJ's MTL): they, too,
        must not be inputs.
    option
        The command-line option that named ``path``, for the messages.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OutputError
        When ``path`` (or a file of ``also``) is an input or, for a folder, holds one; when it
        exists as a folder where a file is written or the other way round; when it exists and
        is neither empty nor of ``kind`` and ``overwrite`` is not given; when its folder cannot
        take a new file. The message names the path and the problem.

    Examples
    --------
    >>> import tempfile
    >>> source = Path(tempfile.mkdtemp()) / "city.gpkg"
    >>> _ = source.write_bytes(b"SQLite format 3")
    >>> check_output(source.with_name("city.json"), JSON, inputs=[source]).name
    'city.json'
    >>> check_output(source, JSON, inputs=[source])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    twin.errors.OutputError: --output ... is the input ...city.gpkg: writing it would ...
    """
    path = Path(path)
    sources = [Path(p) for p in inputs if p is not None and os.path.lexists(p)]
    for written in (path, *map(Path, also)):
        for source in sources:
            _not_over(written, source, option, folder=kind.folder and written == path)
    if path.is_dir() and not kind.folder:
        raise OutputError(f"{option} {path} is a folder, not a file: give a file's path")
    if path.exists() and kind.folder and not path.is_dir():
        raise OutputError(f"{option} {path} is a file, not a folder: give a folder's path")
    if path.exists() and not overwrite and not _empty(path) and not _is(kind, path):
        raise OutputError(
            f"{option} {path} exists and is not {kind.name}: pass --overwrite to replace it, "
            "or choose another path"
        )
    _writable(path)
    return path


def _not_over(written: Path, source: Path, option: str, /, *, folder: bool) -> None:
    """Raise when writing ``written`` would write over the input ``source``."""
    same = written.resolve() == source.resolve()
    if same or (written.exists() and os.path.samefile(written, source)):  # st_dev, st_ino
        how = "is" if written.absolute() == source.absolute() else "is the same file (a link) as"
        raise OutputError(
            f"{option} {written} {how} the input {source}: writing it would destroy the "
            "input; choose another path"
        )
    if folder and written.resolve() in source.resolve().parents:
        raise OutputError(
            f"{option} {written} holds the input {source}, which writing the folder could "
            "replace or remove: choose a folder without inputs"
        )


def _is(kind: Kind, path: Path, /) -> bool:
    """Whether the existing ``path`` is of ``kind``; one that cannot be read is not."""
    try:
        return kind.recognise(path)
    except OSError:
        return False


def _empty(path: Path, /) -> bool:
    """Whether ``path`` is an empty folder or an empty file (nothing to lose)."""
    return not any(path.iterdir()) if path.is_dir() else path.stat().st_size == 0


def _writable(path: Path, /) -> None:
    """Raise unless the folder of ``path`` (or, if missing, its nearest existing ancestor,
    where the writer makes it) takes a new file of the writer's temporary name."""
    ancestor = path.absolute().parent
    while not os.path.lexists(ancestor):
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"cannot write {path}: {ancestor} is a file, not a folder")
    probe = temporary_path(ancestor / path.name)
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: no new file can be made in {ancestor} ({exc.strerror})"
        ) from exc
    probe.unlink(missing_ok=True)
