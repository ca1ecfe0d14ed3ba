"""File helpers shared by the readers and writers.

:func:`atomic` writes beside the target and renames at the end; :func:`gc_paused` keeps
Python's cyclic garbage collector from scanning every object again and again while a reader or
writer builds the million small lists and dicts of a large JSON tree.
"""

from __future__ import annotations

import gc
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic(path: str | Path, /) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    On an exception the temporary file or folder is removed and ``path`` is left as it was.
    Works for files and for folders (a 3D Tiles tileset); an existing folder is replaced.

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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        if path.is_dir() and tmp.is_dir():
            old = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp)
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
