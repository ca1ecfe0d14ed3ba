"""File helpers shared by the readers and writers.

:func:`atomic` writes beside the target and renames at the end (:func:`atomic_group` a file
with the files that go with it); its temporary names come from a :class:`Scratch`, which
first clears what killed writes of the same target left behind (a SIGKILL or a power cut runs
no ``finally``); :func:`gc_paused` keeps Python's cyclic garbage collector from scanning every
object again and again while a reader or writer builds the million small lists and dicts of a
large JSON tree.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from twin.errors import OutputError


def temporary_path(path: Path, /, tag: str = "tmp") -> Path:
    """A hidden, unique path beside ``path`` (``.city.json.1a2b3c4d.tmp``) to write first."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.{tag}")


def cannot_write(path: Path, exc: OSError, /) -> OutputError:
    """An :class:`~twin.errors.OutputError` naming ``path`` and the system's reason."""
    reason = exc.strerror or str(exc)
    where = exc.filename and Path(exc.filename).parent != path.parent
    return OutputError(f"cannot write {path}: {reason}" + (f" ({exc.filename})" if where else ""))


@contextmanager
def atomic(path: str | Path, /) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    On an exception the temporary file or folder is removed and ``path`` is left as it was;
    the temporary names come from a :class:`Scratch`, which first clears what killed writes of
    the same target left. The temporary ends as ``path`` does (``.shot.png.1a2b3c4d.tmp.png``),
    for the libraries that choose a format by the file's extension.
    Works for files and for folders (a 3D Tiles tileset); an existing folder is replaced, and
    put back if its replacement cannot be renamed into place.

    Raises
    ------
    OutputError
        When the folder of ``path`` cannot be made or written, or the result cannot be
        renamed to ``path`` (no permission, a read-only or full disk, a file in the way).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    with atomic_group(path) as (tmp,):
        yield tmp


@contextmanager
def atomic_group(path: str | Path, /, *companions: str | Path) -> Iterator[tuple[Path, ...]]:
    """Yield temporaries for ``path`` and its ``companions``, files beside it written with
    it; when the block succeeds, rename each into place, the companions in turn and ``path``
    last.

    As :func:`atomic` (of which it is the general case), for a file or folder ``path`` and
    the files that go with it, such as a twin's GeoPackage and its terrain COG. All
    temporaries belong to one :class:`Scratch` of ``path``, so a later write of ``path``
    clears those of a killed one, companions included. A companion whose temporary the block
    did not write is left as it is. Renamed last, ``path`` is what its companions are read
    through: until it is in place, a reader sees the previous set; a run killed between the
    renames (a few system calls) leaves new companions beside the previous ``path``.

    Raises
    ------
    OutputError
        As :func:`atomic`.
    ValueError
        When a companion is ``path`` itself, named twice, or in another folder (a rename
        across file systems is no rename).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "city.gpkg"
    >>> with atomic_group(target, target.with_suffix(".dtm.tif")) as (tmp, tmp_dtm):
    ...     _ = tmp.write_text("twin"), tmp_dtm.write_text("terrain")
    >>> sorted(p.name for p in target.parent.iterdir())
    ['city.dtm.tif', 'city.gpkg']
    """
    path = Path(path)
    others = [Path(c) for c in companions]
    if len({path, *others}) != 1 + len(others) or any(c.parent != path.parent for c in others):
        raise ValueError(f"the companions of {path} must be other files beside it: {others}")
    scratch = None
    tmps: tuple[Path, ...] = ()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = Scratch(path)
        tmps = (
            scratch.path(f".tmp{path.suffix}"),
            *(scratch.path(f".tmp{i}{c.suffix}") for i, c in enumerate(others, start=1)),
        )
        yield tmps
        for companion, tmp in zip(others, tmps[1:], strict=True):
            if tmp.exists():
                os.replace(tmp, companion)
        _replace(tmps[0], path, scratch.path(OLD))
    except OSError as exc:
        if isinstance(exc, OutputError) or not _about(exc, [path, *others], tmps):
            raise  # an input the block was reading, say: not ours to rename
        raise cannot_write(path, exc) from exc
    finally:
        if scratch is not None:
            scratch.release()


def _replace(tmp: Path, path: Path, old: Path, /) -> None:
    """Rename ``tmp`` to ``path``; a folder ``path`` is moved to ``old`` first, and back if
    ``tmp`` cannot take its place."""
    if path.is_dir() and tmp.is_dir():
        os.replace(path, old)
        try:
            os.replace(tmp, path)
        except OSError:
            os.replace(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def _about(exc: OSError, paths: list[Path], tmps: tuple[Path, ...], /) -> bool:
    """Whether ``exc`` is about writing ``paths`` (their folder, their temporary files or
    folders) or about the disk they are written to."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return True
    names = [Path(os.fsdecode(n)) for n in (exc.filename, exc.filename2) if n]
    ours = f".{paths[0].name}."  # the write's temporaries and lock (:class:`Scratch`)
    return any(
        n in (*paths, *tmps, *paths[0].parents)
        or any(tmp in n.parents for tmp in tmps)
        or (n.parent == paths[0].parent and n.name.startswith(ours))
        for n in names
    )


#: the suffix of a replaced folder kept until its successor is in place (:func:`atomic`)
OLD = ".old"


class Scratch:
    """Temporary names beside ``target`` for one write, held under a lock until released.

    Names are ``.NAME.TOKEN.lock`` and ``.NAME.TOKEN<suffix>`` (``city.gpkg`` ->
    ``.city.gpkg.1f0c9a2e.tmp``): hidden, beside the target so that the final rename stays on
    one file system. The writer holds an advisory lock (``flock``) on the ``.lock`` file while
    it writes; the kernel drops it when the process ends, however it ends. Creating a scratch
    first clears the temporaries of earlier writes of the same target whose lock is free
    (:func:`clear_stale`). A lock rather than a process ID, because process IDs are reused and
    mean nothing across containers or hosts that share a folder. Use as a context manager or
    call :meth:`release`.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "city.gpkg"
    >>> with Scratch(target) as scratch:
    ...     _ = scratch.path(".gpkg").write_text("half a twin")
    >>> list(target.parent.iterdir())
    []
    """

    def __init__(self, target: Path, /) -> None:
        self.target = target
        clear_stale(target)
        while True:
            self.token = uuid.uuid4().hex[:8]
            lock = self.path(".lock")
            self._fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except OSError:
                return  # a file system without locks: no one can clear this write, nor others
            # a clearing run may have taken the lock between open and flock and removed the
            # file: then this lock guards nothing, and a fresh token is drawn
            if _same_file(self._fd, lock):
                return
            os.close(self._fd)

    def path(self, suffix: str, /) -> Path:
        """The temporary path ``.NAME.TOKEN<suffix>`` beside the target (``suffix`` ".tmp")."""
        return self.target.with_name(f".{self.target.name}.{self.token}{suffix}")

    def release(self) -> None:
        """Remove what is left of this write's temporaries, then the lock."""
        _remove_group(self.target, self.token)
        os.close(self._fd)

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def clear_stale(target: Path, /) -> list[Path]:
    """Remove the temporaries of writes of ``target`` that are no longer running.

    A write is over when its ``.lock`` file can be locked, or is gone while its temporaries
    remain (a lock is made before its temporaries and removed after them). A folder that a
    killed :func:`atomic` had moved aside (``.NAME.TOKEN.old``) while ``target`` itself is
    missing is the previous output: it is moved back rather than removed.

    Returns
    -------
    list of Path
        The temporaries removed (a folder moved back is not among them).
    """
    pattern = re.compile(rf"\.{re.escape(target.name)}\.([0-9a-f]{{8}})\..+")
    try:
        names = os.listdir(target.parent)
    except FileNotFoundError:
        return []
    removed: list[Path] = []
    for token in sorted({m[1] for m in map(pattern.fullmatch, names) if m}):
        lock = target.with_name(f".{target.name}.{token}.lock")
        try:
            fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = None  # its writer finished or was cleared between listing and now
        except OSError:
            continue  # another user's write, say: not ours to judge
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # BlockingIOError: a live write; else a file system without locks
                os.close(fd)
                continue
        old = target.with_name(f".{target.name}.{token}{OLD}")
        if not target.exists() and old.is_dir():
            os.replace(old, target)
        removed += _remove_group(target, token)
        if fd is not None:
            os.close(fd)
    return removed


def _remove_group(target: Path, token: str, /) -> list[Path]:
    """Remove the temporaries ``.NAME.TOKEN*`` beside ``target``, its lock last.

    Never raises: what cannot be removed (no permission) stays for a later run, and the write
    that called this goes on (or its own error is the one reported).
    """
    prefix = f".{target.name}.{token}."
    lock = target.with_name(f"{prefix}lock")
    group = [target.with_name(n) for n in os.listdir(target.parent) if n.startswith(prefix)]
    for path in [*(p for p in group if p != lock), lock]:
        with suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    return group


def _same_file(fd: int, path: Path, /) -> bool:
    """Whether ``path`` still names the open file ``fd``."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (reference counting goes on).

    Building a JSON tree allocates objects by the million, and every few hundred allocations
    the collector would walk the young ones, every few thousand all of them: that walk, not
    the parsing, was most of the time of a large CityJSON read. The trees hold no reference
    cycles, so nothing is left for the collector to do afterwards. Nested use is fine; the
    previous state is restored.

    Examples
    --------
    >>> with gc_paused():
    ...     gc.isenabled()
    False
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
