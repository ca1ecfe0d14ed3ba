"""A digital terrain model from the ground points of a cloud, for builds without a DTM.

The ground points (class 2) are binned into a grid of the chosen resolution, streamed chunk by
chunk; each cell takes their mean. Sums are kept in integer millimetres, so the result is the
same bit for bit whatever the chunk size. A cloud without ground class falls back to the
lowest point per cell, with the cells under building footprints left out (a roof is never
ground). Empty cells take the value of the nearest filled cell up to :data:`MAX_FILL` metres
away (the gap under a large roof); farther cells, such as the space between tiles far apart,
stay no-data rather than made-up terrain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import rasterio
import shapely
from affine import Affine
from numpy.typing import NDArray
from scipy import ndimage

from ingest.lidar.read import CHUNK_SIZE, PointCloud, Points, extent, stream
from ingest.zonal import pixels_inside
from twin.errors import InputError
from twin.files import atomic
from twin.terrain import Terrain

GROUND = 2
#: classes that are never the lowest point of bare earth (vegetation, building)
ABOVE_GROUND = (3, 4, 5, 6)
#: metres from a filled cell within which an empty cell takes its value (as GDAL's
#: ``FillNodata`` with a maximum search distance); farther ones stay no-data (NaN)
MAX_FILL = 100.0


_NONE = np.iinfo(np.int64).max  # the lowest height of a cell without a point


@dataclass(frozen=True)
class Binned:
    """The ground points of a part of a cloud, in the cells of the grid holding any (:class:`Bins`).

    Attributes
    ----------
    ground_cell, ground_sum, ground_n : (g,) int
        The cells holding class-2 points (flat index, once each): the sum of their heights
        (integer millimetres) and their number.
    low_cell, low_mm : (k,) int
        The cells holding points of any class but those above ground (once each): the lowest
        height (integer millimetres).
    """

    ground_cell: NDArray[np.int64]
    ground_sum: NDArray[np.int64]
    ground_n: NDArray[np.int64]
    low_cell: NDArray[np.int64]
    low_mm: NDArray[np.int64]


@dataclass(frozen=True)
class Sums:
    """The bins of every cell of the grid: the sums of the ground points' heights (integer
    millimetres) and their numbers, and the lowest height of any point not above ground."""

    ground_sum: NDArray[np.int64]
    ground_n: NDArray[np.int64]
    lowest: NDArray[np.int64]

    def add(self, part: Binned, /) -> None:
        """Add the bins of a part (each of its cells once)."""
        self.ground_sum[part.ground_cell] += part.ground_sum
        self.ground_n[part.ground_cell] += part.ground_n
        self.lowest[part.low_cell] = np.minimum(self.lowest[part.low_cell], part.low_mm)

    def binned(self) -> Binned:
        """These bins as a part's: only the cells holding a point."""
        ground, low = np.flatnonzero(self.ground_n), np.flatnonzero(self.lowest < _NONE)
        return Binned(ground, self.ground_sum[ground], self.ground_n[ground], low, self.lowest[low])


@dataclass(frozen=True)
class Bins:
    """The grid of the DTM, into which the ground points are binned chunk by chunk (:meth:`add`).

    The sums are of integer millimetres, so the bins do not depend on the order of the points:
    a cluster bins parts of the clouds side by side (:meth:`part`) and the calling process
    adds their bins up (:meth:`Sums.add`).

    Attributes
    ----------
    transform
        The grid's upper left corner and cell size.
    width, height
        Its size in cells.
    classes
        The ASPRS classes used: the readers drop the others.
    """

    transform: Affine
    width: int
    height: int
    classes: tuple[int, ...]

    def sums(self) -> Sums:
        """Bins holding no point yet."""
        size = self.width * self.height
        return Sums(np.zeros(size, np.int64), np.zeros(size, np.int64), np.full(size, _NONE))

    def add(self, sums: Sums, pts: Points, /) -> None:
        """Bin the chunk ``pts`` (in the project CRS) into ``sums``."""
        resolution, left, top = self.transform.a, self.transform.c, self.transform.f
        size = self.width * self.height
        col = np.floor((pts.x - left) / resolution).astype(np.int64)
        row = np.floor((top - pts.y) / resolution).astype(np.int64)
        inside = (col >= 0) & (col < self.width) & (row >= 0) & (row < self.height)
        cell = row * self.width + col
        mm = np.rint(pts.z * 1000.0).astype(np.int64)
        ground = inside & (pts.classification == GROUND)
        sums.ground_sum[:] += np.bincount(cell[ground], mm[ground], size).astype(np.int64)
        sums.ground_n[:] += np.bincount(cell[ground], minlength=size)
        other = inside & ~np.isin(pts.classification, ABOVE_GROUND)
        np.minimum.at(sums.lowest, cell[other], mm[other])

    def part(self, cloud: PointCloud, points: range, /, *, size: int = CHUNK_SIZE) -> Binned:
        """The bins of the points ``points`` of ``cloud`` (read ``size`` at a time), as a
        worker of a cluster bins them (:func:`ingest.lidar.read.parts`)."""
        sums = self.sums()
        for pts in cloud.chunks(size=size, classes=self.classes, part=points):
            self.add(sums, pts)
        return sums.binned()


def dtm_from_points(
    clouds: Sequence[PointCloud],
    target: str | Path,
    crs: pyproj.CRS,
    /,
    *,
    resolution: float = 1.0,
    footprints: NDArray[np.object_] | None = None,
    chunk_size: int = CHUNK_SIZE,
    cluster: Callable[[Bins, Sequence[PointCloud], int], Iterable[Binned]] | None = None,
) -> Terrain:
    """Grid the ground points of ``clouds`` into a DTM GeoTIFF written to ``target``.

    Parameters
    ----------
    clouds
        The point clouds (tiles), bound to the project CRS.
    target
        The GeoTIFF to write (atomically: a temporary file renamed over it).
    crs
        The project CRS written into the raster.
    resolution
        Cell size in metres.
    footprints : (n,) object, optional
        Building footprints; their cells are left out when the cloud has no ground class.
    chunk_size
        Points read at once.
    cluster
        Bins the points on a cluster (:func:`ingest.distributed.by_parts`): called with the
        :class:`Bins`, the clouds and ``chunk_size``, it gives every part's bins, in any order.
        By default the points are read and binned here, chunk by chunk.

    Returns
    -------
    Terrain
        The raster written.

    Raises
    ------
    InputError
        When ``resolution`` is not positive or the cloud holds no usable point.
    """
    if not resolution > 0:
        raise InputError(f"{clouds[0].path}: DTM resolution must be positive, got {resolution}")
    target = Path(target)
    # the points above ground are never used here
    kept = tuple(sorted(set(range(256)) - set(ABOVE_GROUND)))
    # decoding starts while the grid is set up (in one process)
    chunks = None if cluster else stream(clouds, size=chunk_size, classes=kept)
    xmin, ymin, xmax, ymax = extent(clouds)
    left = np.floor(xmin / resolution) * resolution
    top = np.ceil(ymax / resolution) * resolution
    width = max(1, int(np.ceil((xmax - left) / resolution)))
    height = max(1, int(np.ceil((top - ymin) / resolution)))
    transform = Affine(resolution, 0.0, left, 0.0, -resolution, top)
    bins = Bins(transform, width, height, kept)
    sums = bins.sums()
    if cluster:
        for part in cluster(bins, clouds, chunk_size):
            sums.add(part)
    else:
        for pts in chunks:
            bins.add(sums, pts)
    ground_sum, ground_n, lowest = sums.ground_sum, sums.ground_n, sums.lowest
    size = width * height
    grid = np.full(size, np.nan)
    if ground_n.any():
        filled = ground_n > 0
        grid[filled] = ground_sum[filled] / ground_n[filled] / 1000.0
    else:
        filled = lowest < np.iinfo(np.int64).max
        if footprints is not None:
            geoms = footprints[~shapely.is_missing(footprints)]
            _, rows, cols = pixels_inside(geoms, (height, width), transform)
            filled[rows * width + cols] = False
        grid[filled] = lowest[filled] / 1000.0
    if not filled.any():
        names = ", ".join(str(cloud.path) for cloud in clouds)
        raise InputError(f"{names}: no ground point to make a terrain model from")
    grid = grid.reshape(height, width)
    gap, (near_r, near_c) = ndimage.distance_transform_edt(
        np.isnan(grid), sampling=resolution, return_indices=True
    )
    grid = np.where(gap <= MAX_FILL, grid[near_r, near_c], np.nan).astype(np.float32)
    with (
        atomic(target) as tmp,
        rasterio.open(
            tmp,
            "w",
            driver="GTiff",
            width=width,
            height=height,
            count=1,
            dtype="float32",
            crs=rasterio.crs.CRS.from_wkt(crs.to_wkt()),
            transform=transform,
            nodata=np.nan,
            compress="deflate",
        ) as dst,
    ):
        dst.write(grid, 1)
    return Terrain.from_raster(target)
