"""Elevation models and orthophoto of the sample district, written in row blocks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.features
import shapely
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.windows import Window

from ingest.synthetic.geom import FloatArray
from ingest.synthetic.roofs import FLAT, Roofs
from ingest.synthetic.terrain import terrain_z
from ingest.synthetic.vegetation import Trees, crown_raster

NODATA = -9999.0
#: standard deviation of the DSM noise, metres
DSM_SIGMA = 0.03
#: rows of the 1 m grid per block (a multiple of the 256-pixel tiles)
BLOCK_ROWS = 256
#: ground classes of the orthophoto and their colours
GROUND_CLASSES = ("meadow", "garden", "road", "park", "square", "sidewalk", "path", "yard")
PALETTE = np.array(
    [
        [135, 155, 95],
        [90, 135, 65],
        [95, 95, 100],
        [80, 145, 70],
        [190, 182, 168],
        [160, 156, 150],
        [205, 192, 160],
        [120, 140, 90],
    ],
    dtype=np.float32,
)
CROWN_RGB = np.array([52, 92, 44], dtype=np.float32)
#: direction towards the sun (azimuth 315°, elevation 45°) for roof shading
SUN = np.array([-0.5, 0.5, np.sqrt(0.5)])


@dataclass(frozen=True)
class RasterGrid:
    """A north-up grid: upper-left corner, size in pixels and pixel size in metres."""

    left: float
    top: float
    width: int
    height: int
    res: float

    @classmethod
    def around(cls, bounds: FloatArray, margin: float, res: float = 1.0) -> RasterGrid:
        """The whole-metre aligned grid covering ``bounds`` plus ``margin`` metres."""
        left, bottom = np.floor(bounds[:2] - margin)
        right, top = np.ceil(bounds[2:] + margin)
        return cls(float(left), float(top), int(right - left), int(top - bottom), res)

    def scaled(self, res: float) -> RasterGrid:
        """The same extent at another pixel size (which must divide it)."""
        f = self.res / res
        return RasterGrid(self.left, self.top, round(self.width * f), round(self.height * f), res)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``left, bottom, right, top`` in metres."""
        return (
            self.left,
            self.top - self.height * self.res,
            self.left + self.width * self.res,
            self.top,
        )

    def transform(self, row0: int = 0) -> Affine:
        """Affine transform of the grid, or of the block starting at ``row0``."""
        return Affine(self.res, 0.0, self.left, 0.0, -self.res, self.top - row0 * self.res)

    def blocks(self, rows: int) -> Iterator[tuple[int, int]]:
        """``(row0, nrows)`` of consecutive row blocks."""
        for row0 in range(0, self.height, rows):
            yield row0, min(rows, self.height - row0)

    def centres(self, row0: int, nrows: int) -> tuple[FloatArray, FloatArray]:
        """Pixel-centre coordinates of a row block: x ``(1, width)`` and y ``(nrows, 1)``."""
        x = self.left + (np.arange(self.width) + 0.5) * self.res
        y = self.top - (row0 + np.arange(nrows) + 0.5) * self.res
        return x[None, :], y[:, None]


def burn(
    tree: shapely.STRtree,
    grid: RasterGrid,
    row0: int,
    nrows: int,
    values: NDArray[np.int64] | None = None,
    *,
    all_touched: bool = False,
) -> NDArray[np.int32]:
    """Rasterize the tree's geometries on a row block: each pixel the value of the last one.

    Values default to the geometries' indices; pixels outside all get -1. Pixels are burnt
    when their centre lies inside (or, with ``all_touched``, when touched).
    """
    left, _, right, top = grid.bounds
    top = top - row0 * grid.res
    cand = np.sort(tree.query(shapely.box(left, top - nrows * grid.res, right, top)))
    out = np.full((nrows, grid.width), -1, dtype=np.int32)
    if cand.size:
        vals = cand if values is None else values[cand]
        rasterio.features.rasterize(
            zip(tree.geometries[cand], vals.tolist(), strict=True),
            out=out,
            transform=grid.transform(row0),
            all_touched=all_touched,
        )
    return out


def _profile(grid: RasterGrid, crs: CRS, **kwargs: object) -> dict[str, object]:
    return {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "crs": crs,
        "transform": grid.transform(),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "num_threads": "all_cpus",
        "bigtiff": "if_safer",
        **kwargs,
    }


def write_elevation(
    dtm_path: Path,
    dsm_path: Path,
    grid: RasterGrid,
    buildings: shapely.STRtree,
    roofs: Roofs,
    trees: Trees,
    crs: CRS,
    rng: np.random.Generator,
    step: Callable[[], object],
) -> None:
    """Write the DTM (terrain at pixel centres) and the DSM (roofs, crowns, 3 cm noise).

    ``step`` is called after each block of ``BLOCK_ROWS`` rows.
    """
    profile = _profile(grid, crs, count=1, dtype="float32", nodata=NODATA, predictor=3)
    with (
        rasterio.open(dtm_path, "w", **profile) as dtm,
        rasterio.open(dsm_path, "w", **profile) as dsm,
    ):
        for row0, nrows in grid.blocks(BLOCK_ROWS):
            x, y = grid.centres(row0, nrows)
            ground = terrain_z(x, y)
            surface = ground.copy()
            idx = burn(buildings, grid, row0, nrows)
            rr, cc = np.nonzero(idx >= 0)
            z, _, _ = roofs.surface(idx[rr, cc], x[0, cc], y[rr, 0])
            surface[rr, cc] = np.maximum(surface[rr, cc], z)
            top = grid.top - row0 * grid.res
            np.maximum(
                surface,
                crown_raster(trees, grid.left, top, grid.res, (nrows, grid.width)),
                out=surface,
            )
            noise = rng.standard_normal((nrows, grid.width), dtype=np.float32) * np.float32(
                DSM_SIGMA
            )
            window = Window(0, row0, grid.width, nrows)
            dtm.write(ground.astype(np.float32), 1, window=window)
            dsm.write(surface.astype(np.float32) + noise, 1, window=window)
            step()


def write_ortho(
    path: Path,
    grid: RasterGrid,
    ground: shapely.STRtree,
    ground_class: NDArray[np.int64],
    buildings: shapely.STRtree,
    roofs: Roofs,
    trees: Trees,
    crs: CRS,
    rng: np.random.Generator,
    step: Callable[[], object],
) -> None:
    """Write the RGB orthophoto drawn from land use, roofs and tree crowns.

    ``ground`` holds the ground polygons in drawing order with their ``ground_class`` codes
    (indices into ``PALETTE``). Pitched roofs are red-brown, flat roofs grey, both shaded by
    their slope towards the sun and varied per building; crowns are dark green discs.
    """
    n = len(roofs.roof_type)
    tint = rng.normal(0.0, 1.0, (n, 1)) * np.array([12.0, 8.0, 6.0]) + rng.normal(0.0, 4.0, (n, 3))
    grey = rng.normal(0.0, 10.0, (n, 1))
    roof_rgb = np.where(
        (roofs.roof_type == FLAT)[:, None],
        np.array([128.0, 130.0, 136.0]) + grey,
        np.array([170.0, 84.0, 62.0]) + tint,
    ).astype(np.float32)
    profile = _profile(grid, crs, count=3, dtype="uint8", photometric="RGB", predictor=2)
    rows = BLOCK_ROWS * 2
    with rasterio.open(path, "w", **profile) as out:
        for row0, nrows in grid.blocks(rows):
            cls = burn(ground, grid, row0, nrows, ground_class)
            rgb = PALETTE[np.maximum(cls, 0)]
            x, y = grid.centres(row0, nrows)
            idx = burn(buildings, grid, row0, nrows)
            rr, cc = np.nonzero(idx >= 0)
            b = idx[rr, cc]
            z, gx, gy = roofs.surface(b, x[0, cc], y[rr, 0])
            shade = (SUN[2] - gx * SUN[0] - gy * SUN[1]) / np.sqrt(1 + gx * gx + gy * gy) / SUN[2]
            rgb[rr, cc] = roof_rgb[b] * np.clip(shade, 0.55, 1.3)[:, None].astype(np.float32)
            roof_z = np.full(idx.shape, -np.inf)
            roof_z[rr, cc] = z
            top = grid.top - row0 * grid.res
            crown = crown_raster(trees, grid.left, top, grid.res, idx.shape)
            cr, ccol = np.nonzero(crown > roof_z)
            relief = crown[cr, ccol] - terrain_z(x[0, ccol], y[cr, 0])
            rgb[cr, ccol] = CROWN_RGB * np.clip(0.7 + 0.02 * relief, 0.7, 1.2)[:, None].astype(
                np.float32
            )
            rgb += rng.normal(0.0, 5.0, rgb.shape).astype(np.float32)
            image = np.clip(np.rint(rgb), 0, 255).astype(np.uint8).transpose(2, 0, 1)
            out.write(image, window=Window(0, row0, grid.width, nrows))
            step()
