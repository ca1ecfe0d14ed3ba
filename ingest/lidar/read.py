"""Reading LAS/LAZ point clouds in chunks, in the project CRS and in metres.

laspy (with the lazrs backend for LAZ) streams a file chunk by chunk, so memory stays bounded
whatever the cloud's size. Each chunk comes out as plain arrays in the project CRS: the
file's CRS (from its VLRs, or the config's when it has none) is transformed with one pyproj
transformer, and heights in feet are scaled to metres.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import laspy
import numpy as np
import pyproj
from numpy.typing import NDArray

from twin.crs import horizontal, same_horizontal, transformer, vertical
from twin.errors import CRSError, InputError

CHUNK_SIZE = 1_000_000
"""Points read at once by default (about 40 MB of arrays)."""


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
    """

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    z: NDArray[np.float64]
    classification: NDArray[np.uint8]

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
    """

    path: Path
    crs: pyproj.CRS
    vertical_given: bool
    count: int
    bounds: tuple[float, float, float, float]
    z_scale: float
    transformer: pyproj.Transformer | None

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
        )

    def chunks(self, *, size: int = CHUNK_SIZE) -> Iterator[Points]:
        """Stream the points in chunks of at most ``size``, in file order.

        Raises
        ------
        InputError
            When the file is truncated or corrupt, or holds fewer points than its header says.
        """
        if size < 1:
            raise InputError(f"{self.path}: chunk size must be positive, got {size}")
        move = self.transformer
        seen = 0
        try:
            with laspy.open(self.path) as reader:
                for chunk in reader.chunk_iterator(size):
                    x = np.asarray(chunk.x, dtype=np.float64)
                    y = np.asarray(chunk.y, dtype=np.float64)
                    z = np.asarray(chunk.z, dtype=np.float64) * self.z_scale
                    if move is not None:
                        x, y = move.transform(x, y)
                    seen += len(x)
                    yield Points(
                        x=x,
                        y=y,
                        z=z,
                        classification=np.asarray(chunk.classification, dtype=np.uint8),
                    )
        except (laspy.errors.LaspyException, ValueError, RuntimeError) as exc:
            raise InputError(f"{self.path}: corrupt or truncated point cloud: {exc}") from exc
        if seen != self.count:
            raise InputError(
                f"{self.path}: the header announces {self.count} points, the file holds {seen}"
            )


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


def stream(clouds: Sequence[PointCloud], /, *, size: int = CHUNK_SIZE) -> Iterator[Points]:
    """The chunks of every cloud in turn (see :meth:`PointCloud.chunks`)."""
    for cloud in clouds:
        yield from cloud.chunks(size=size)


def extent(clouds: Sequence[PointCloud], /) -> tuple[float, float, float, float]:
    """``(xmin, ymin, xmax, ymax)`` of all clouds together, in the project CRS."""
    b = np.array([cloud.bounds for cloud in clouds])
    return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())
