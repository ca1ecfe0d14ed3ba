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

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyproj
import rasterio
import shapely
from affine import Affine
from numpy.typing import NDArray
from scipy import ndimage

from ingest.lidar.read import CHUNK_SIZE, PointCloud, extent, stream
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


def dtm_from_points(
    clouds: Sequence[PointCloud],
    target: str | Path,
    crs: pyproj.CRS,
    /,
    *,
    resolution: float = 1.0,
    footprints: NDArray[np.object_] | None = None,
    chunk_size: int = CHUNK_SIZE,
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
    # decoding starts while the grid is set up; the points above ground are never used here
    kept = sorted(set(range(256)) - set(ABOVE_GROUND))
    chunks = stream(clouds, size=chunk_size, classes=kept)
    xmin, ymin, xmax, ymax = extent(clouds)
    left = np.floor(xmin / resolution) * resolution
    top = np.ceil(ymax / resolution) * resolution
    width = max(1, int(np.ceil((xmax - left) / resolution)))
    height = max(1, int(np.ceil((top - ymin) / resolution)))
    transform = Affine(resolution, 0.0, left, 0.0, -resolution, top)
    size = width * height
    ground_sum = np.zeros(size, np.int64)
    ground_n = np.zeros(size, np.int64)
    lowest = np.full(size, np.iinfo(np.int64).max)
    for pts in chunks:
        col = np.floor((pts.x - left) / resolution).astype(np.int64)
        row = np.floor((top - pts.y) / resolution).astype(np.int64)
        inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
        cell = row * width + col
        mm = np.rint(pts.z * 1000.0).astype(np.int64)
        ground = inside & (pts.classification == GROUND)
        ground_sum += np.bincount(cell[ground], mm[ground], size).astype(np.int64)
        ground_n += np.bincount(cell[ground], minlength=size)
        other = inside & ~np.isin(pts.classification, ABOVE_GROUND)
        np.minimum.at(lowest, cell[other], mm[other])
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
