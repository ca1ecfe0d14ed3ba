"""File helpers shared by the readers and writers.

:func:`atomic` writes beside the target (at a :func:`temporary_path`) and renames at the end;
:func:`gc_paused` keeps Python's cyclic garbage collector from scanning every object again and
again while a reader or writer builds the million small lists and dicts of a large JSON tree.
"""

from __future__ import annotations

import errno
import gc
import os
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

    On an exception the temporary file or folder is removed and ``path`` is left as it was.
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
    path = Path(path)
    tmp = temporary_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        if path.is_dir() and tmp.is_dir():
            old = temporary_path(path, "old")
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except OSError:
                os.replace(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except OSError as exc:
        if isinstance(exc, OutputError) or not _about(exc, path, tmp):
            raise  # an input the block was reading, say: not ours to rename
        raise cannot_write(path, exc) from exc
    finally:
        _discard(tmp)


def _about(exc: OSError, path: Path, tmp: Path, /) -> bool:
    """Whether ``exc`` is about writing ``path`` (its folder, its temporary file or folder)
    or about the disk it is written to."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return True
    names = [Path(os.fsdecode(n)) for n in (exc.filename, exc.filename2) if n]
    return any(n in (path, tmp, *path.parents) or tmp in n.parents for n in names)


def _discard(tmp: Path, /) -> None:
    """Remove a temporary file or folder if there is one; never raises (a clean-up must not
    hide the error that called it)."""
    with suppress(OSError):
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


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
