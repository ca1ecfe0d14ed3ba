"""Rasters a store keeps with a twin: the orthophoto copied as a compressed COG."""

from __future__ import annotations

from pathlib import Path

import rasterio
import rasterio.shutil

from twin.errors import StoreError
from twin.terrain import RASTER_ERRORS, raster_problem


def copy_imagery(source: Path, target: Path, /) -> None:
    """Copy an RGB(A) image as a JPEG-compressed Cloud-Optimised GeoTIFF.

    Raises
    ------
    StoreError
        When ``source`` cannot be read or ``target`` written.
    """
    try:
        with rasterio.open(source) as src:
            rasterio.shutil.copy(
                src, target, driver="COG", COMPRESS="JPEG", QUALITY=90, NUM_THREADS="ALL_CPUS"
            )
    except RASTER_ERRORS as exc:
        problem = raster_problem(source, exc, read=False)
        raise StoreError(f"{source}: cannot copy the orthophoto: {problem}") from exc
