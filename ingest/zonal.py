"""Per-footprint raster statistics for many footprints at once (percentiles, counts, RMSE).

GIS users run zonal statistics one polygon at a time (rasterstats, QGIS); here the raster is
read in tiles (rasterio windows), every footprint of a tile is burnt into one label raster,
and the percentiles of all footprints come from one sort. No library does grouped
percentiles over a label raster, hence this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from numpy.typing import NDArray
from rasterio.features import rasterize
from rasterio.windows import Window, from_bounds
from tqdm import tqdm

from twin.errors import InputError


@dataclass(frozen=True)
class ZonalStats:
    """Statistics of the pixels of each of ``n`` footprints.

    Attributes
    ----------
    count : (n,) int
        Valid pixels (plus valid extra samples) per footprint.
    nodata : (n,) int
        No-data pixels inside the footprint (pixels outside the raster are not counted).
    percentiles : dict of float -> (n,) float
        Linear-interpolated percentiles; NaN where ``count`` is 0.
    centre, s1, s2 : (n,) float
        ``p50`` and the sums of ``v - p50`` and ``(v - p50)²``, for RMSEs to any height.
    """

    count: NDArray[np.int64]
    nodata: NDArray[np.int64]
    percentiles: dict[float, NDArray[np.float64]]
    centre: NDArray[np.float64]
    s1: NDArray[np.float64]
    s2: NDArray[np.float64]

    def rmse(self, height: NDArray[np.float64], /) -> NDArray[np.float64]:
        """Root-mean-square difference of each footprint's pixels to ``height`` (n,)."""
        d = np.asarray(height, dtype=np.float64) - self.centre
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_sq = (self.s2 - 2.0 * d * self.s1 + self.count * d * d) / self.count
        return np.sqrt(np.clip(mean_sq, 0.0, None))


def grouped_percentiles(
    labels: NDArray[np.integer],
    values: NDArray[np.floating],
    n: int,
    percentiles: Sequence[float],
    /,
) -> tuple[NDArray[np.int64], dict[float, NDArray[np.float64]], NDArray[np.float64]]:
    """Percentiles of ``values`` grouped by ``labels`` in ``range(n)``, with one sort.

    Returns the count per group, the percentiles (NaN for empty groups), and the values
    sorted by group then value.

    Examples
    --------
    >>> count, p, _ = grouped_percentiles(
    ...     np.array([1, 0, 1, 1]), np.array([5.0, 2.0, 1.0, 3.0]), 3, [0, 50, 100]
    ... )
    >>> count.tolist(), p[50].tolist()
    ([1, 3, 0], [2.0, 3.0, nan])
    """
    labels = np.asarray(labels, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    count = np.bincount(labels, minlength=n).astype(np.int64)
    if values.size:
        # Sorting one float key (group * span + value) is several times faster than lexsort.
        low = values.min()
        span = values.max() - low + 1.0
        key = np.sort(labels * span + (values - low))
        ordered = key - np.repeat(np.arange(n, dtype=np.float64), count) * span + low
    else:
        ordered = values
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    has = count > 0
    out = {}
    for q in percentiles:
        pos = start + (count - 1) * (q / 100.0)
        lo = np.floor(pos).astype(np.int64)
        frac = pos - lo
        hi = np.minimum(lo + 1, start + count - 1)
        res = np.full(n, np.nan)
        res[has] = ordered[lo[has]] * (1.0 - frac[has]) + ordered[hi[has]] * frac[has]
        out[float(q)] = res
    return count, out, ordered


def zonal_stats(
    path: Path,
    geoms: NDArray[np.object_],
    percentiles: Sequence[float],
    /,
    *,
    extra_xy: NDArray[np.float64] | None = None,
    extra_owner: NDArray[np.integer] | None = None,
    margin: float = 0.0,
    tile: int = 1024,
    progress: bool = False,
) -> ZonalStats:
    """Zonal statistics of a single-band raster for ``n`` footprints (polygons in its CRS).

    A pixel belongs to a footprint when its centre lies inside; footprints too small or thin
    to hold a pixel centre take every pixel they touch instead. Extra sample points (for
    example a ring around each footprint, for ground heights) join the pixels of their owner.

    Parameters
    ----------
    path
        The raster.
    geoms : (n,) object
        Polygons; ``None`` yields empty statistics.
    percentiles
        Percentiles to compute, 0-100.
    extra_xy : (k, 2) float, optional
        Extra sample points, read from the pixel they fall in.
    extra_owner : (k,) int, optional
        The footprint each extra point belongs to.
    margin
        Metres read around the footprints: how far the extra points may lie outside them.
    tile
        Footprints are processed in square tiles of this many pixels (by their centre).
    progress
        Show a progress bar over the tiles.
    """
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    count = np.zeros(n, np.int64)
    nodata = np.zeros(n, np.int64)
    pct = {float(q): np.full(n, np.nan) for q in percentiles}
    centre, s1, s2 = np.full(n, np.nan), np.zeros(n), np.zeros(n)
    if extra_xy is None:
        extra_xy, extra_owner = np.empty((0, 2)), np.empty(0, np.int64)
    extra_owner = np.asarray(extra_owner, dtype=np.int64)
    present = np.flatnonzero(~shapely.is_missing(geoms) & ~shapely.is_empty(geoms))
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"{path}: cannot read raster: {exc}") from exc
    with src:
        bounds = shapely.bounds(geoms[present])
        cx = (bounds[:, 0] + bounds[:, 2]) / 2.0
        cy = (bounds[:, 1] + bounds[:, 3]) / 2.0
        size = tile * abs(src.transform.a)
        key = np.floor(cx / size).astype(np.int64) * 1_000_003 + np.floor(cy / size).astype(
            np.int64
        )
        order = np.argsort(key, kind="stable")
        splits = np.flatnonzero(np.diff(key[order])) + 1
        extra_order = np.argsort(extra_owner, kind="stable")
        extra_start = np.searchsorted(extra_owner[extra_order], np.arange(n + 1))
        full = Window(0, 0, src.width, src.height)
        groups = np.split(order, splits) if len(order) else []
        for group in tqdm(groups, desc=f"zonal {path.name}", disable=not progress, unit="tile"):
            rows = present[group]
            b = bounds[group]
            f = from_bounds(
                b[:, 0].min() - margin,
                b[:, 1].min() - margin,
                b[:, 2].max() + margin,
                b[:, 3].max() + margin,
                src.transform,
            )
            c0, r0 = int(np.floor(f.col_off)) - 1, int(np.floor(f.row_off)) - 1
            c1 = int(np.ceil(f.col_off + f.width)) + 1
            r1 = int(np.ceil(f.row_off + f.height)) + 1
            try:
                window = Window(c0, r0, c1 - c0, r1 - r0).intersection(full)
            except rasterio.errors.WindowError:
                continue  # no overlap with the raster: these footprints stay empty
            try:
                data = src.read(1, window=window, masked=True)
            except rasterio.errors.RasterioIOError as exc:
                raise InputError(f"{path}: cannot read raster: {exc}") from exc
            # rasterio's window_transform trips affine's deprecation of '*'; same result.
            transform = src.transform @ Affine.translation(window.col_off, window.row_off)
            label = _burn(geoms[rows], data.shape, transform)
            inside = label > 0
            local = label[inside] - 1
            valid = ~np.ma.getmaskarray(data)[inside]
            vals = np.asarray(data.data, dtype=np.float64)[inside][valid]
            nodata += np.bincount(rows[local[~valid]], minlength=n)
            local = local[valid]
            n_extra = extra_start[rows + 1] - extra_start[rows]
            if n_extra.sum():
                first = np.repeat(extra_start[rows] - (np.cumsum(n_extra) - n_extra), n_extra)
                idx = extra_order[first + np.arange(n_extra.sum())]
                ex_vals, ex_ok = _sample(data, transform, extra_xy[idx])
                vals = np.concatenate([vals, ex_vals[ex_ok]])
                ex_local = np.repeat(np.arange(len(rows)), n_extra)
                local = np.concatenate([local, ex_local[ex_ok]])
            c, p, ordered = grouped_percentiles(local, vals, len(rows), [50, *percentiles])
            count[rows] = c
            for q in pct:
                pct[q][rows] = p[q]
            centre[rows] = p[50.0]
            dev = ordered - np.repeat(p[50.0], c)
            s1[rows] = np.bincount(np.repeat(np.arange(len(rows)), c), dev, len(rows))
            s2[rows] = np.bincount(np.repeat(np.arange(len(rows)), c), dev * dev, len(rows))
    return ZonalStats(count=count, nodata=nodata, percentiles=pct, centre=centre, s1=s1, s2=s2)


def _burn(
    geoms: NDArray[np.object_], shape: tuple[int, int], transform: rasterio.Affine
) -> NDArray[np.int32]:
    """Label raster: 1-based index of the footprint whose polygon holds each pixel centre.

    Footprints that hold no pixel centre are burnt again with every pixel they touch, into
    pixels no other footprint has.
    """
    labels = np.arange(1, len(geoms) + 1)
    label = rasterize(
        zip(geoms, labels, strict=True), out_shape=shape, transform=transform, fill=0, dtype="int32"
    )
    missing = np.setdiff1d(labels, np.unique(label))
    if missing.size:
        touched = rasterize(
            zip(geoms[missing - 1], missing, strict=True),
            out_shape=shape,
            transform=transform,
            fill=0,
            dtype="int32",
            all_touched=True,
        )
        free = (label == 0) & (touched > 0)
        label[free] = touched[free]
    return label


def _sample(
    data: np.ma.MaskedArray, transform: rasterio.Affine, xy: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Values of ``data`` at points ``(k, 2)`` and whether each is valid (inside, not no-data)."""
    cols, rows = ~transform @ (xy[:, 0], xy[:, 1])
    rows, cols = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    ok = (rows >= 0) & (rows < data.shape[0]) & (cols >= 0) & (cols < data.shape[1])
    values = np.full(len(xy), np.nan)
    values[ok] = np.ma.filled(data[rows[ok], cols[ok]].astype(np.float64), np.nan)
    ok &= ~np.isnan(values)
    return values, ok
