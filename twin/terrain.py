"""The terrain of a twin: a digital terrain model kept as a Cloud-Optimised GeoTIFF."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import rasterio
import rasterio.shutil
from affine import Affine
from numpy.typing import NDArray
from rasterio.windows import Window

from twin.errors import CRSError, InputError, StoreError


@dataclass(frozen=True)
class Terrain:
    """A terrain raster on disk, read on demand (rasterio windows) rather than held in memory.

    Attributes
    ----------
    path
        The GeoTIFF.
    crs
        Its CRS, compound with the height datum where the file says so.
    transform
        Pixel to model coordinates.
    shape
        ``(rows, cols)``.
    nodata
        The no-data value, or ``None``.
    """

    path: Path
    crs: pyproj.CRS
    transform: Affine
    shape: tuple[int, int]
    nodata: float | None

    @classmethod
    def from_raster(cls, path: str | Path, /, *, crs: pyproj.CRS | None = None) -> Terrain:
        """Describe a single-band terrain GeoTIFF.

        Parameters
        ----------
        path
            The raster.
        crs
            Its CRS when the file has none.

        Raises
        ------
        InputError
            When the file is unreadable or has more than one band.
        CRSError
            When neither the file nor ``crs`` gives a CRS.
        """
        path = Path(path)
        try:
            with rasterio.open(path) as src:
                if src.crs is None and crs is None:
                    raise CRSError(f"{path}: raster has no CRS; name it in the config")
                if src.count != 1:
                    raise InputError(f"{path}: terrain raster has {src.count} bands, expected 1")
                return cls(
                    path=path,
                    crs=crs if src.crs is None else pyproj.CRS.from_wkt(src.crs.to_wkt()),
                    transform=src.transform,
                    shape=(src.height, src.width),
                    nodata=src.nodata,
                )
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"{path}: cannot read terrain raster: {exc}") from exc

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` in the model CRS."""
        rows, cols = self.shape
        xs, ys = zip(*(self.transform @ (c, r) for c, r in [(0, 0), (cols, rows)]), strict=True)
        return min(xs), min(ys), max(xs), max(ys)

    def read(self) -> NDArray[np.float32]:
        """The whole raster as float32 with no-data as NaN."""
        with rasterio.open(self.path) as src:
            data = src.read(1, masked=True).astype(np.float32)
        return data.filled(np.nan)

    def sample(self, xy: NDArray[np.float64], /) -> NDArray[np.float64]:
        """Terrain heights at points ``(n, 2)`` (nearest pixel); NaN outside or on no-data.

        Reads only the window that covers the points.
        """
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        out = np.full(len(xy), np.nan)
        cols, rows = ~self.transform @ (xy[:, 0], xy[:, 1])
        rows, cols = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
        inside = (rows >= 0) & (rows < self.shape[0]) & (cols >= 0) & (cols < self.shape[1])
        if not inside.any():
            return out
        r0, r1 = rows[inside].min(), rows[inside].max() + 1
        c0, c1 = cols[inside].min(), cols[inside].max() + 1
        with rasterio.open(self.path) as src:
            block = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
        values = block.astype(np.float64).filled(np.nan)
        out[inside] = values[rows[inside] - r0, cols[inside] - c0]
        return out

    def write_cog(self, target: str | Path, /) -> Terrain:
        """Copy the raster to ``target`` as a deflate-compressed Cloud-Optimised GeoTIFF."""
        try:
            with rasterio.open(self.path, NUM_THREADS="ALL_CPUS") as src:
                rasterio.shutil.copy(
                    src,
                    target,
                    driver="COG",
                    COMPRESS="DEFLATE",
                    PREDICTOR="FLOATING_POINT",
                    NUM_THREADS="ALL_CPUS",
                )
        except rasterio.errors.RasterioIOError as exc:
            raise StoreError(f"{self.path}: cannot copy the terrain: {exc}") from exc
        return Terrain.from_raster(target)
