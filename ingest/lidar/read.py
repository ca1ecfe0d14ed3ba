"""Reading LAS/LAZ point clouds in chunks, in the project CRS and in metres.

laspy (with the lazrs backend for LAZ) streams a file chunk by chunk, so memory stays bounded
whatever the cloud's size. Each chunk comes out as plain arrays in the project CRS: the
file's CRS (from its VLRs, or the config's when it has none) is transformed with one pyproj
transformer, and heights in feet are scaled to metres. Chunks are decoded ahead of their
use, by a thread or, for large clouds, by a reading process (:func:`stream`).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from queue import Full, Queue
from typing import IO, Protocol, TypeVar

import laspy
import numpy as np
import pyproj
from numpy.typing import NDArray

from twin.crs import horizontal, same_horizontal, transformer, vertical
from twin.errors import CRSError, InputError

CHUNK_SIZE = 1_000_000
"""Points read at once by default (about 40 MB of arrays)."""
READ_AHEAD = 2
"""Chunks decoded ahead of the one being worked on (memory: that many chunks more)."""
PROCESS_CHUNKS = 4
"""Clouds of more chunks than this are decoded in a process of their own (see :func:`stream`)."""
PIPE_BYTES = 1 << 20
"""Size asked for the pipe from a reading process (Linux's default limit for it)."""
DROP_SHARE = 0.2
"""Share of a chunk's points that must be of classes the caller does not use before the reader
drops them (:meth:`PointCloud.chunks`)."""
_LAYER = laspy.DecompressionSelection
FIELDS = _LAYER.XY_RETURNS_CHANNEL | _LAYER.Z | _LAYER.CLASSIFICATION
"""The LAZ layers decoded (x, y, returns, z, class): point formats 6-10 skip the others."""


@dataclass(frozen=True)
class Points:
    """One chunk of points in the project CRS.

    Attributes
    ----------
    x, y, z : (n,) float
        Coordinates in metres (z in the project's vertical datum).
    classification : (n,) uint8
        ASPRS class (0 never classified, 1 unclassified, 2 ground, 3-5 vegetation,
        6 building, 9 water).
    last_return : (n,) bool
        Whether the point is the last return of its pulse (return number = number of returns).
    """

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    z: NDArray[np.float64]
    classification: NDArray[np.uint8]
    last_return: NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class PointCloud:
    """A LAS/LAZ file opened for streaming into the project CRS.

    Attributes
    ----------
    path
        The file.
    crs
        The cloud's own CRS (from the file's VLRs, or the config's).
    count
        Points the header announces.
    bounds
        ``(xmin, ymin, xmax, ymax)`` of the header, in the project CRS.
    vertical_given
        Whether the CRS names a height datum (without one, heights are taken to be in the
        project's).
    z_scale
        Factor from the file's height unit to metres.
    transformer
        From the cloud's to the project's horizontal CRS; ``None`` when they agree.
    scales, offsets
        The file's x, y, z scales and offsets: a point's ``x`` is ``X * scale + offset`` of its
        integer ``X`` (before any transform and the height unit).
    """

    path: Path
    crs: pyproj.CRS
    vertical_given: bool
    count: int
    bounds: tuple[float, float, float, float]
    z_scale: float
    transformer: pyproj.Transformer | None
    scales: tuple[float, ...]
    offsets: tuple[float, ...]

    @classmethod
    def open(
        cls, path: str | Path, target: pyproj.CRS, /, *, crs: pyproj.CRS | None = None
    ) -> PointCloud:
        """Open a point cloud and work out how to bring it into ``target``.

        Parameters
        ----------
        path
            A LAS 1.2-1.4 or LAZ file.
        target
            The project CRS (projected, metric, usually compound with a height datum).
        crs
            The CRS to use: required when the file carries none, and overriding the file's.

        Raises
        ------
        InputError
            When the file is missing or not a readable LAS/LAZ file.
        CRSError
            When neither the file nor ``crs`` gives a CRS (the CRS is never guessed).
        """
        path = Path(path)
        try:
            with laspy.open(path) as reader:
                header = reader.header
                own = header.parse_crs()
        except (OSError, laspy.errors.LaspyException, ValueError) as exc:
            raise InputError(f"{path}: not a readable LAS/LAZ file: {exc}") from exc
        chosen = crs if crs is not None else own
        if chosen is None:
            raise CRSError(
                f"{path}: the point cloud carries no CRS; name it in [sources.lidar] crs"
            )
        if not chosen.is_projected:
            raise CRSError(f"{path}: point cloud CRS {chosen.name} is not projected")
        theirs, ours = vertical(chosen), vertical(target)
        if theirs is not None and ours is not None and not same_horizontal(theirs, ours):
            raise CRSError(f"{path}: heights are in {theirs.name}, the project's in {ours.name}")
        # Without a vertical CRS the heights are taken in the horizontal unit (feet with feet).
        unit = (theirs or horizontal(chosen)).axis_info[0].unit_conversion_factor
        move = transformer(chosen, target)
        corners_x = np.array([header.mins[0], header.maxs[0]] * 2)
        corners_y = np.repeat([header.mins[1], header.maxs[1]], 2)
        if move is not None:
            corners_x, corners_y = move.transform(corners_x, corners_y)
        return cls(
            path=path,
            crs=chosen,
            vertical_given=theirs is not None,
            count=int(header.point_count),
            bounds=(
                float(np.min(corners_x)),
                float(np.min(corners_y)),
                float(np.max(corners_x)),
                float(np.max(corners_y)),
            ),
            z_scale=float(unit),
            transformer=move,
            scales=tuple(float(v) for v in header.scales),
            offsets=tuple(float(v) for v in header.offsets),
        )

    def chunks(
        self,
        *,
        size: int = CHUNK_SIZE,
        classes: Collection[int] | None = None,
        part: range | None = None,
    ) -> Iterator[Points]:
        """Stream the points in chunks of at most ``size``, in file order, in the project CRS
        (``classes`` and ``part`` as :meth:`decoded` takes them).

        Raises
        ------
        InputError
            When the file is truncated or corrupt, or holds fewer points than its header says.
        """
        chunks = self.decoded(size=size, classes=classes, part=part)
        return (self.moved(points) for points in chunks)

    def decoded(
        self,
        *,
        size: int = CHUNK_SIZE,
        classes: Collection[int] | None = None,
        part: range | None = None,
    ) -> Iterator[Points]:
        """The chunks as :meth:`chunks`, but in the cloud's own horizontal CRS (heights in metres).

        ``classes`` (ASPRS codes), when given, are the classes the caller uses: a chunk's other
        points are dropped where they are at least :data:`DROP_SHARE` of the ``size`` points
        read (dropping costs a pass over the chunk, which only enough fewer points repay), so
        the caller still selects its classes itself. LAZ is decoded by lazrs on all cores (its
        parallel decompressor). ``part``, a range of point positions in the file (step 1),
        reads only those points (:func:`parts`): LAZ seeks to the compressed chunk holding the
        first.
        """
        if size < 1:
            raise InputError(f"{self.path}: chunk size must be positive, got {size}")
        wanted = None if classes is None else _class_table(classes)
        whole = range(self.count)
        part = whole if part is None else part
        if part.step != 1 or part.start < 0 or part.stop > self.count:
            raise InputError(f"{self.path}: points {part} are not a part of its {self.count}")
        seen = 0
        try:
            with laspy.open(
                self.path,
                laz_backend=laspy.LazBackend.LazrsParallel,
                decompression_selection=FIELDS,
            ) as reader:
                scale, offset = reader.header.scales, reader.header.offsets
                if part != whole:
                    reader.seek(part.start)
                while seen < len(part):
                    chunk = reader.read_points(min(size, len(part) - seen))
                    if not len(chunk):
                        break  # the file ends before its header's count
                    seen += len(chunk)
                    cls = np.asarray(chunk.classification, dtype=np.uint8)
                    keep: slice | NDArray[np.bool_] = slice(None)
                    if wanted is not None:
                        used = wanted[cls]
                        if np.count_nonzero(used) <= (1 - DROP_SHARE) * len(cls):
                            keep = used
                    # scaled as laspy scales (integer * scale + offset), the dropped points not
                    yield Points(
                        x=np.asarray(chunk.X)[keep] * scale[0] + offset[0],
                        y=np.asarray(chunk.Y)[keep] * scale[1] + offset[1],
                        z=(np.asarray(chunk.Z)[keep] * scale[2] + offset[2]) * self.z_scale,
                        classification=cls[keep],
                        last_return=np.asarray(chunk.return_number)[keep]
                        == np.asarray(chunk.number_of_returns)[keep],
                    )
        except (laspy.errors.LaspyException, ValueError, RuntimeError) as exc:
            raise InputError(f"{self.path}: corrupt or truncated point cloud: {exc}") from exc
        if seen != len(part):
            held = part.start + seen
            raise InputError(
                f"{self.path}: the header announces {self.count} points, the file holds {held}"
            )

    def moved(self, points: Points, /) -> Points:
        """``points`` (decoded by :meth:`decoded`) in the project CRS."""
        if self.transformer is None:
            return points
        x, y = self.transformer.transform(points.x, points.y)
        return replace(points, x=x, y=y)


def _class_table(classes: Collection[int]) -> NDArray[np.bool_]:
    """Per ASPRS class code (0-255), whether it is one of ``classes``.

    Examples
    --------
    >>> np.flatnonzero(_class_table([2, 6])).tolist()
    [2, 6]
    """
    table = np.zeros(256, bool)
    table[np.asarray(list(classes), dtype=np.intp)] = True
    return table


def open_clouds(
    path: str | Path, target: pyproj.CRS, /, *, crs: pyproj.CRS | None = None
) -> list[PointCloud]:
    """Open one LAS/LAZ file, or every ``*.las``/``*.laz`` of a folder (tiles), sorted by name.

    Raises
    ------
    InputError
        When a folder holds no point cloud, or a file is unreadable (see :meth:`PointCloud.open`).
    """
    path = Path(path)
    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in {".las", ".laz"})
        if path.is_dir()
        else [path]
    )
    if not files:
        raise InputError(f"{path}: the folder holds no .las or .laz file")
    return [PointCloud.open(file, target, crs=crs) for file in files]


def stream(
    clouds: Sequence[PointCloud],
    /,
    *,
    size: int = CHUNK_SIZE,
    classes: Collection[int] | None = None,
) -> Iterator[Points]:
    """The chunks of every cloud in turn (see :meth:`PointCloud.chunks`), decoded ahead.

    ``classes``, when given, are the ASPRS classes the caller uses: the reader drops the other
    points (see :meth:`PointCloud.chunks`) before handing a chunk over, so they cost neither
    transfer nor work.

    Up to :data:`READ_AHEAD` chunks are decoded while the caller works on the current one: by
    a thread, or, when the clouds hold more than :data:`PROCESS_CHUNKS` chunks, by a process of
    their own (lazrs holds the GIL while it decodes, so only a process decodes while the
    caller computes). The process starts at once, so it starts up (about half a second) while
    the caller prepares; the thread at the first chunk asked for. Either way the chunks come in
    file order, an error of the reader is raised here, in the caller's thread, and a caller
    that stops early, or never starts, stops the reader.
    """
    own = [replace(cloud, transformer=None) for cloud in clouds]
    ahead = _from_process if sum(c.count for c in clouds) > PROCESS_CHUNKS * size else _from_thread
    return _moved(clouds, ahead(own, size, None if classes is None else sorted(set(classes))))


def _moved(clouds: Sequence[PointCloud], items: Iterator[tuple[int, Points]]) -> Iterator[Points]:
    """The chunks of ``items`` moved into the project CRS by their clouds."""
    try:
        for cloud, points in items:
            yield clouds[cloud].moved(points)
    finally:
        items.close()


_Item = tuple[int | None, Points | None, BaseException | None]
"""What a reader hands over: ``(cloud, points, None)``, ``(None, None, error)`` at an error,
``(None, None, None)`` at the end."""


def _decode(
    clouds: Sequence[PointCloud],
    size: int,
    classes: list[int] | None,
    put: Callable[[_Item], bool],
) -> None:
    """Decode the clouds' chunks in turn and hand them to ``put``; stop when it refuses one."""
    try:
        for i, cloud in enumerate(clouds):
            chunks = cloud.decoded(size=size, classes=classes)
            try:
                for points in chunks:
                    if not put((i, points, None)):
                        return
            finally:
                chunks.close()  # closes the file when the caller stopped early
        put((None, None, None))
    except BaseException as exc:  # handed over to the caller's thread
        put((None, None, exc))


def _serve() -> None:
    """A reading process: ``(clouds, size, classes)`` pickled on stdin, :func:`_decode`'s items
    on stdout."""
    clouds, size, classes = pickle.load(sys.stdin.buffer)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints go to stderr

    def put(item: _Item) -> None:
        pickle.dump(item, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:  # decoded ahead by a thread while this one writes (writing releases the GIL)
        for cloud, points in _from_thread(clouds, size, classes):
            put((cloud, points, None))
        put((None, None, None))
    except BaseException as exc:  # handed over to the caller's process
        put((None, None, exc))


def _items(get: Callable[[], _Item]) -> Iterator[tuple[int, Points]]:
    """``(cloud, points)`` from a reader until its end; its error raised here."""
    while True:
        cloud, points, error = get()
        if error is not None:
            raise error
        if points is None or cloud is None:
            return
        yield cloud, points


def _from_thread(
    clouds: Sequence[PointCloud], size: int, classes: list[int] | None
) -> Iterator[tuple[int, Points]]:
    """The chunks of ``clouds`` (in their own CRS) decoded ahead by a thread."""
    queue: Queue[_Item] = Queue(maxsize=READ_AHEAD)
    stop = threading.Event()

    def put(item: _Item) -> bool:
        """Hand ``item`` over unless the caller stopped; whether it was handed over."""
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    reader = threading.Thread(
        target=_decode, args=(clouds, size, classes, put), name="twin-lidar-read", daemon=True
    )
    reader.start()
    try:
        yield from _items(queue.get)
    finally:
        stop.set()
        reader.join()


def _from_process(
    clouds: Sequence[PointCloud], size: int, classes: list[int] | None
) -> Iterator[tuple[int, Points]]:
    """The chunks of ``clouds`` (in their own CRS) decoded ahead by a process (:func:`_serve`).

    The process decodes up to :data:`READ_AHEAD` chunks ahead of the one it hands over.
    """
    root = str(Path(__file__).resolve().parents[2])  # where this ``ingest`` package lies
    path = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
    reader = subprocess.Popen(
        [sys.executable, "-c", "from ingest.lidar.read import _serve; _serve()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert reader.stdin is not None and reader.stdout is not None
    _widen(reader.stdout)
    with reader.stdin as task:
        pickle.dump((list(clouds), size, classes), task)
    items = _read_from(reader, clouds)
    weakref.finalize(items, _stop, reader)  # also when the caller never starts reading
    return items


def _widen(pipe: IO[bytes]) -> None:
    """Let ``pipe`` hold :data:`PIPE_BYTES` where the system allows (Linux): a chunk then
    passes in a few large writes instead of hundreds of 64 kB ones, each a switch between
    the processes."""
    try:
        import fcntl  # POSIX only
    except ImportError:  # Windows: pipes keep their size
        return
    try:
        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except OSError:  # above the system's limit: the pipe keeps its size
        pass


def _stop(reader: subprocess.Popen) -> None:
    """End a reading process and close its pipe."""
    reader.kill()
    reader.wait()
    if reader.stdout is not None:
        reader.stdout.close()


def _read_from(
    reader: subprocess.Popen, clouds: Sequence[PointCloud]
) -> Iterator[tuple[int, Points]]:
    """The items a reading process (:func:`_serve`) hands over, until its end."""
    out = reader.stdout

    def get() -> _Item:
        try:
            return pickle.load(out)
        except EOFError:
            names = ", ".join(str(cloud.path) for cloud in clouds)
            raise InputError(
                f"{names}: the reading process stopped (exit code {reader.wait()})"
            ) from None

    try:
        yield from _items(get)
    finally:
        _stop(reader)


T_co = TypeVar("T_co", covariant=True)


class PartWork(Protocol[T_co]):
    """Work on the points of a cloud that can be done part by part (:func:`parts`), each
    part by another process: the results of the parts together are the whole cloud's."""

    def part(self, cloud: PointCloud, points: range, /, *, size: int) -> T_co:
        """The result of the points ``points`` of ``cloud``, read ``size`` at a time."""
        ...


def parts(clouds: Sequence[PointCloud], /, *, size: int) -> list[tuple[int, range]]:
    """The clouds cut into parts of at most ``size`` points: ``(cloud, points)`` pairs, the
    clouds in turn and each one's points in file order, for readers working side by side
    (:meth:`PointCloud.decoded` with ``part``).

    Examples
    --------
    >>> cloud = PointCloud(Path("a.laz"), None, False, 5, (0, 0, 1, 1), 1.0, None, (), ())
    >>> parts([cloud, replace(cloud, count=2)], size=2)
    [(0, range(0, 2)), (0, range(2, 4)), (0, range(4, 5)), (1, range(0, 2))]
    """
    if size < 1:
        raise InputError(f"part size must be positive, got {size}")
    return [
        (i, range(start, min(start + size, cloud.count)))
        for i, cloud in enumerate(clouds)
        for start in range(0, cloud.count, size)
    ]


def extent(clouds: Sequence[PointCloud], /) -> tuple[float, float, float, float]:
    """``(xmin, ymin, xmax, ymax)`` of all clouds together, in the project CRS."""
    b = np.array([cloud.bounds for cloud in clouds])
    return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())
