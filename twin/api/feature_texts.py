"""GeoJSON texts of every feature of a collection, written once per twin version and shared
by all worker processes.

Clients ask for features with all their properties, in the storage CRS or in CRS84, far more
often than anything else. For these two, the first request of a collection starts a writer
(one thread, in one worker process: a file lock) that writes the GeoJSON Feature of every
feature of the layer to one file in the store's derived-cache place
(``city.geojson-cache/TOKEN/buildings.1f0c9a2e.bin``, older twin versions removed);
meanwhile requests are answered as before. Once the file is there, every worker maps it
(the operating system keeps one copy in memory for all) and a page reads its features' texts
by id: a box nobody asked for before costs what a box asked for again costs.

A stored text is data and nothing more: which features a caller gets (scopes, service area,
filters) is decided by the store's query as before, and only those ids are looked up.

The file: the texts one after the other, then the feature ids ``(n,) int64`` (ascending),
the offsets of the texts ``(n + 1,) int64``, the stamp (JSON: twin version, store token,
what the texts are), and a trailer of the stamp's length, ``n`` and :data:`MAGIC`.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import shutil
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from twin._version import __version__
from twin.files import atomic

log = logging.getLogger("twin.api")
T = TypeVar("T")

#: the last 8 bytes of a file of feature texts
MAGIC = b"TWINGJ01"
_TRAILER = struct.Struct("<QQ8s")
#: features read and written at a time by the writer (about 7 ms of work for buildings)
CHUNK = 500
#: seconds between two looks for a file that another worker process is writing
RECHECK_S = 1.0


class FeatureTexts:
    """The texts of one file, mapped read-only.

    Parameters
    ----------
    path
        The file.
    stamp
        What it must hold (twin version, store token, kind); another stamp is a ``ValueError``.

    Raises
    ------
    ValueError
        When the file is not one of feature texts, or holds another stamp.
    OSError
        When it cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "texts.bin"
    >>> write(path, "s", [(np.array([2, 5]), [b'{"a":1}', b'{"b":2}'])])
    >>> texts = FeatureTexts(path, "s")
    >>> texts.get([5, 3, 2])
    [b'{"b":2}', None, b'{"a":1}']
    """

    def __init__(self, path: Path, stamp: str, /):
        with path.open("rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        size = len(self._map)
        if size < _TRAILER.size:
            raise ValueError(f"{path}: not a file of feature texts")
        stamp_len, n, magic = _TRAILER.unpack_from(self._map, size - _TRAILER.size)
        end = size - _TRAILER.size - stamp_len
        start = end - 8 * (2 * n + 1)
        if magic != MAGIC or start < 0:
            raise ValueError(f"{path}: not a file of feature texts")
        if self._map[end : end + stamp_len] != stamp.encode():
            raise ValueError(f"{path}: feature texts of another twin version")
        arrays = np.frombuffer(self._map, dtype="<i8", count=2 * n + 1, offset=start)
        self._ids, self._offsets = arrays[:n], arrays[n:]
        #: ids 1..n: an id's place is the id less one, no search
        self._dense = n > 0 and self._ids[0] == 1 and self._ids[-1] == n

    def get(self, ids: Sequence[int], /) -> list[bytes | None]:
        """The texts of features ``ids`` (``None`` for an id the file does not hold)."""
        wanted = np.asarray(ids, dtype=np.int64)
        n = len(self._ids)
        if self._dense:
            held = (wanted >= 1) & (wanted <= n)
            at = np.where(held, wanted - 1, 0)
        else:
            at = np.searchsorted(self._ids, wanted)
            at[at == n] = 0
            held = self._ids[at] == wanted if n else np.zeros(len(wanted), bool)
        starts, ends = self._offsets[at].tolist(), self._offsets[at + 1].tolist()
        data = self._map
        return [
            data[s:e] if h else None for s, e, h in zip(starts, ends, held.tolist(), strict=True)
        ]


def write(path: Path, stamp: str, chunks: Iterator[tuple[np.ndarray, list[bytes]]], /) -> None:
    """Write a file of feature texts atomically from ``chunks`` of (ids, texts), the ids
    ascending across chunks; an exception raised by ``chunks`` leaves no file."""
    ids, offsets, at = [], [0], 0
    with atomic(path) as tmp, tmp.open("wb") as f:
        for chunk_ids, texts in chunks:
            ids.append(np.asarray(chunk_ids, dtype=np.int64))
            for text in texts:
                f.write(text)
                at += len(text)
                offsets.append(at)
        ids = np.concatenate(ids) if ids else np.empty(0, np.int64)
        if len(ids) > 1 and not (np.diff(ids) > 0).all():
            raise ValueError(f"{path}: feature ids not ascending")
        f.write(ids.astype("<i8").tobytes())
        f.write(np.asarray(offsets, dtype="<i8").tobytes())
        f.write(stamp.encode())
        f.write(_TRAILER.pack(len(stamp.encode()), len(ids), MAGIC))


def _paced(chunks: Iterator[T], /) -> Iterator[T]:
    """``chunks``, with a pause after each as long as it took: the writer thread takes at
    most half of the time, and the worker's event loop gets the interpreter lock (held by
    the writer, it would wait for it up to the switch interval, 5 ms, at every turn)."""
    while True:
        started = time.perf_counter()
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        yield chunk
        time.sleep(time.perf_counter() - started)


def _opened(path: Path, stamp: str, /) -> FeatureTexts | None:
    """The file of feature texts at ``path`` when it is there and holds ``stamp``."""
    try:
        return FeatureTexts(path, stamp)
    except (OSError, ValueError):
        return None


#: what writes the texts: (ids, texts) of every feature of a layer, ids ascending
Chunks = Callable[[], Iterator[tuple[np.ndarray, list[bytes]]]]


class SharedTexts:
    """The files of feature texts of one twin, for one worker process: mapped when there,
    written (by one worker process at a time, in a thread) when missing.

    Parameters
    ----------
    root
        The cache folder (``store.cache_path("geojson-cache")``).
    """

    def __init__(self, root: Path, /):
        self.root = Path(root)
        self._token = ""
        self._open: dict[bytes, FeatureTexts] = {}
        self._looked: dict[bytes, float] = {}
        self._failed: set[bytes] = set()
        self._lock = threading.Lock()

    def reset(self, token: str, /) -> None:
        """Forget the files of the twin before (its token changed to ``token``)."""
        with self._lock:
            self._token = token
            self._open.clear()
            self._looked.clear()
            self._failed.clear()

    def get(self, layer: str, kind: bytes, chunks: Chunks, /) -> FeatureTexts | None:
        """The texts of ``kind`` (what they are: layer, CRS, properties), or ``None`` while
        they are not written; then a writer is started, unless one failed for this twin
        version (a look every :data:`RECHECK_S` seconds at most)."""
        texts = self._open.get(kind)
        if texts is not None:
            return texts
        now = time.monotonic()
        with self._lock:
            if now - self._looked.get(kind, -RECHECK_S) < RECHECK_S or kind in self._failed:
                return None
            self._looked[kind] = now
            token = self._token
        path = self.root / token / f"{layer}.{hashlib.sha256(kind).hexdigest()[:16]}.bin"
        stamp = f"{__version__}:{token}:{kind.decode()}"
        texts = _opened(path, stamp)
        if texts is None:
            args = (path, token, kind, stamp, chunks)
            threading.Thread(target=self._write, args=args, daemon=True).start()
            return None
        with self._lock:
            if self._token == token:
                self._open[kind] = texts
        return texts

    def _write(self, path: Path, token: str, kind: bytes, stamp: str, chunks: Chunks) -> None:
        """Write the file of ``kind`` unless another worker process is writing one."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with (self.root / ".lock").open("w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # another worker process writes (this or another kind): look later
                try:
                    if _opened(path, stamp) is not None:
                        return
                    for old in self.root.iterdir():
                        if old.is_dir() and old.name != token:
                            shutil.rmtree(old, ignore_errors=True)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    started = time.perf_counter()
                    write(path, stamp, _paced(chunks()))
                    log.info("wrote %s in %.1f s", path, time.perf_counter() - started)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        except Exception as exc:  # a thread of its own: whatever it meets, it must report
            # requests are answered as before (written per request); no new attempt for this
            # twin version
            log.warning("cannot write the feature texts %s: %s", path, exc)
            with self._lock:
                self._failed.add(kind)
