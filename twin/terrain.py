"""The terrain of a twin: a digital terrain model kept as a Cloud-Optimised GeoTIFF."""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import rasterio
import rasterio.shutil
from affine import Affine
from numpy.typing import NDArray

# GDAL's own errors, as rasterio raises them where it does not wrap them in a RasterioIOError
# (rasterio.shutil.copy, some reads); rasterio does not re-export the class.
from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from twin.errors import CRSError, InputError, StoreError

RASTER_ERRORS = (RasterioIOError, CPLE_BaseError)
"""What GDAL raises through rasterio when a raster cannot be opened or a block of it read."""
#: how GDAL describes a GeoTIFF its COG driver wrote as :meth:`Terrain.write_cog` asks
COG_STRUCTURE = {
    "LAYOUT": "COG",
    "COMPRESSION": "DEFLATE",
    "INTERLEAVE": "BAND",
    "PREDICTOR": "3",
}


@contextmanager
def reading(path: str | Path, what: str, /) -> Iterator[None]:
    """Turn GDAL's errors on opening or reading a raster into an :class:`InputError` that
    names the file and says what is wrong with it.

    A damaged or truncated GeoTIFF opens without complaint (its header is intact); the error
    comes when a damaged block is read, which a windowed read may do long after the open.
    So this wraps the reads, not only the open.

    Parameters
    ----------
    path
        The raster.
    what
        Names it in the message (``"terrain"``, ``"orthophoto"``).

    Raises
    ------
    InputError
        Instead of rasterio's ``RasterioIOError`` or GDAL's ``CPLE_*`` errors: ``"<path>:
        cannot read the <what>: the file is truncated: ..."``, ``"...: the file is damaged
        ..."``, or, when it does not open at all, GDAL's reason.
    """
    try:
        yield
    except RASTER_ERRORS as exc:
        problem = raster_problem(path, exc)
        raise InputError(f"{path}: cannot read the {what}: {problem}", path=path) from exc


def raster_problem(path: str | Path, exc: Exception, /, *, read: bool = True) -> str:
    """What is wrong with a raster that GDAL failed to open, read or copy, for a message.

    ``"no such file"``, ``"the file is truncated: ..."`` (a GeoTIFF shorter than its image
    data), for a failed read of a file that opens ``"the file is damaged"``, and GDAL's
    own words in brackets. ``read=False``: the failure may have been in writing (a copy), so a
    file that is not truncated is not called damaged.
    """
    path = Path(path)
    # rasterio's "Read failed. See previous exception for details." has GDAL's as its cause
    detail = f"GDAL: {exc.__cause__ or exc}"
    if not path.exists():
        return f"no such file ({detail})"
    try:
        end = _data_end(path)
    except RASTER_ERRORS:
        return detail
    size = path.stat().st_size
    if end > size:
        return (
            f"the file is truncated: it has {size:,} bytes, its image data runs to byte "
            f"{end:,} (an interrupted copy or download?); copy it again ({detail})"
        )
    if read:
        return f"the file is damaged; copy it again from its source ({detail})"
    return detail


def _data_end(path: Path, /) -> int:
    """Where the last block of a GeoTIFF's full-resolution image ends, in bytes from the
    start of the file (GDAL's TIFF metadata ``BLOCK_OFFSET_x_y``, ``BLOCK_SIZE_x_y``); 0 for
    other formats. Writers put the full-resolution blocks last (a Cloud-Optimised GeoTIFF too,
    after its overviews), so a file shorter than this is truncated."""
    with rasterio.open(path) as src:
        if src.driver != "GTiff":
            return 0
        end = 0
        for band, (rows, cols) in enumerate(src.block_shapes, start=1):
            key = f"{math.ceil(src.width / cols) - 1}_{math.ceil(src.height / rows) - 1}"
            offset = src.get_tag_item(f"BLOCK_OFFSET_{key}", "TIFF", bidx=band)
            size = src.get_tag_item(f"BLOCK_SIZE_{key}", "TIFF", bidx=band)
            if offset and size:
                end = max(end, int(offset) + int(size))
    return end


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
    dataset
        The raster kept open for many small reads (:meth:`opened`); ``None``: each read
        opens the file.
    """

    path: Path
    crs: pyproj.CRS
    transform: Affine
    shape: tuple[int, int]
    nodata: float | None
    dataset: Any = dataclasses.field(default=None, compare=False, repr=False)

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
        with reading(path, "terrain raster"), rasterio.open(path) as src:
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

    @contextmanager
    def opened(self) -> Iterator[Terrain]:
        """This terrain with its file kept open for the block.

        For a loop of small reads, one building at a time: opening the file costs some
        milliseconds, more than reading a few pixels.
        """
        with reading(self.path, "terrain raster"):  # the reads wrap their own errors
            src = rasterio.open(self.path)
        with src:
            yield dataclasses.replace(self, dataset=src)

    def _open(self) -> AbstractContextManager[Any]:
        return nullcontext(self.dataset) if self.dataset is not None else rasterio.open(self.path)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` in the model CRS."""
        rows, cols = self.shape
        xs, ys = zip(*(self.transform @ (c, r) for c, r in [(0, 0), (cols, rows)]), strict=True)
        return min(xs), min(ys), max(xs), max(ys)

    def read(self) -> NDArray[np.float32]:
        """The whole raster as float32 with no-data as NaN.

        Raises
        ------
        InputError
            When the file cannot be read (damaged, truncated: :func:`reading`).
        """
        with reading(self.path, "terrain raster"), self._open() as src:
            data = src.read(1, masked=True).astype(np.float32)
        return data.filled(np.nan)

    def sample(self, xy: NDArray[np.float64], /) -> NDArray[np.float64]:
        """Terrain heights at points ``(n, 2)`` (nearest pixel); NaN outside or on no-data.

        Reads only the window that covers the points; :class:`InputError` when it cannot
        (:func:`reading`).
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
        with reading(self.path, "terrain raster"), self._open() as src:
            block = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
        values = block.astype(np.float64).filled(np.nan)
        out[inside] = values[rows[inside] - r0, cols[inside] - c0]
        return out

    def interpolate(self, xy: NDArray[np.float64], /, *, strip: int = 512) -> NDArray[np.float64]:
        """Terrain heights at points ``(n, 2)``, interpolated bilinearly between pixel centres.

        Within half a pixel of the raster's edge the edge pixels are extended; where one of
        the four pixels is no-data the nearest pixel's value is taken. Outside the raster the
        height is NaN. The raster is read in strips of ``strip`` rows, each only as wide as
        its points need, so memory stays bounded for a city-wide terrain. A strip that
        cannot be read is an :class:`InputError` (:func:`reading`).
        """
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        out = np.full(len(xy), np.nan)
        rows, cols = self.shape
        fc, fr = ~self.transform @ (xy[:, 0], xy[:, 1])
        inside = np.flatnonzero((fc >= 0) & (fc <= cols) & (fr >= 0) & (fr <= rows))
        if not inside.size:
            return out
        # pixel-centre coordinates, clamped so that the four pixels exist
        fc = np.clip(fc[inside] - 0.5, 0.0, cols - 1.0)
        fr = np.clip(fr[inside] - 0.5, 0.0, rows - 1.0)
        c0 = np.minimum(np.floor(fc).astype(np.int64), max(cols - 2, 0))
        r0 = np.minimum(np.floor(fr).astype(np.int64), max(rows - 2, 0))
        c1, r1 = np.minimum(c0 + 1, cols - 1), np.minimum(r0 + 1, rows - 1)
        tc, tr = fc - c0, fr - r0
        near_r, near_c = np.where(tr < 0.5, r0, r1), np.where(tc < 0.5, c0, c1)
        order = np.argsort(r0 // strip, kind="stable")
        strips = np.split(order, np.flatnonzero(np.diff(r0[order] // strip)) + 1)
        with reading(self.path, "terrain raster"), self._open() as src:
            for sel in strips:
                top, left = int(r0[sel].min()), int(c0[sel].min())
                width = int(c1[sel].max()) + 1 - left
                window = Window(left, top, width, int(r1[sel].max()) + 1 - top)
                block = src.read(1, window=window, masked=True).astype(np.float64).filled(np.nan)
                a, b, c, d = r0[sel] - top, r1[sel] - top, c0[sel] - left, c1[sel] - left
                t, u = tc[sel], tr[sel]
                upper = block[a, c] * (1.0 - t) + block[a, d] * t
                lower = block[b, c] * (1.0 - t) + block[b, d] * t
                z = upper * (1.0 - u) + lower * u
                out[inside[sel]] = np.where(
                    np.isnan(z), block[near_r[sel] - top, near_c[sel] - left], z
                )
        return out

    def write_cog(self, target: str | Path, /) -> Terrain:
        """Copy the raster to ``target`` as a deflate-compressed Cloud-Optimised GeoTIFF (byte
        for byte when it is one already: a twin's own terrain, many an open-data DTM)."""
        try:
            with rasterio.open(self.path, NUM_THREADS="ALL_CPUS") as src:
                if src.tags(ns="IMAGE_STRUCTURE") == COG_STRUCTURE:
                    shutil.copyfile(self.path, target)
                    return Terrain.from_raster(target)
                rasterio.shutil.copy(
                    src,
                    target,
                    driver="COG",
                    COMPRESS="DEFLATE",
                    PREDICTOR="FLOATING_POINT",
                    NUM_THREADS="ALL_CPUS",
                )
        except RASTER_ERRORS as exc:
            problem = raster_problem(self.path, exc, read=False)
            raise StoreError(f"{self.path}: cannot copy the terrain: {problem}") from exc
        return Terrain.from_raster(target)
