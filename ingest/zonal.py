"""Per-footprint raster statistics for many footprints at once (percentiles, counts, RMSE).

GIS users run zonal statistics one polygon at a time (rasterstats, QGIS); here the raster is
read in tiles (rasterio windows), the pixels of every footprint of a tile are found with one
vectorised scanline fill, and the percentiles of all footprints come from one sort. No library
does grouped percentiles over many polygons, hence this module.
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
from rasterio.windows import Window, from_bounds
from tqdm import tqdm

from twin.terrain import reading


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

    def take(self, index: NDArray[np.intp], /) -> ZonalStats:
        """The statistics of the footprints ``index`` (in that order)."""
        return ZonalStats(
            count=self.count[index],
            nodata=self.nodata[index],
            percentiles={q: v[index] for q, v in self.percentiles.items()},
            centre=self.centre[index],
            s1=self.s1[index],
            s2=self.s2[index],
        )

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
        # Sorting by one float key (group * span + value) is several times faster than lexsort.
        # The values are then taken as given, not from the key, so a group's percentiles do
        # not depend on the others (an update measuring some footprints gets the figures a
        # full build does, bit for bit); values closer than the key's precision may come out
        # of order, and are then sorted exactly.
        low = values.min()
        span = values.max() - low + 1.0
        order = np.argsort(labels * span + (values - low))
        ordered, grouped = values[order], labels[order]
        if np.any((ordered[1:] < ordered[:-1]) & (grouped[1:] == grouped[:-1])):
            ordered = values[np.lexsort((values, labels))]
    else:
        ordered = values
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    has = count > 0
    out = {}
    for q in percentiles:
        # the rank within the group, so that the fraction does not depend on where it starts
        rank = (count - 1) * (q / 100.0)
        below = np.floor(rank)
        frac = rank - below
        lo = start + below.astype(np.int64)
        hi = np.minimum(lo + 1, start + count - 1)
        res = np.full(n, np.nan)
        a, b, t = ordered[lo[has]], ordered[hi[has]], frac[has]
        # numpy's own interpolation (np.percentile, "linear"): exact where a == b, and the
        # same figures as np.percentile of the group
        res[has] = np.where(t >= 0.5, b - (b - a) * (1.0 - t), a + (b - a) * t)
        out[float(q)] = res
    return count, out, ordered


def zonal_stats(
    path: Path,
    geoms: NDArray[np.object_],
    percentiles: Sequence[float],
    /,
    *,
    tile: int = 1024,
    progress: bool = False,
) -> ZonalStats:
    """Zonal statistics of a single-band raster for ``n`` footprints (polygons in its CRS).

    A pixel belongs to a footprint when its centre lies inside (see :func:`pixels_inside`);
    footprints too small or thin to hold a pixel centre take the pixel under them.
    Footprints may overlap: each gets all of its pixels.

    Parameters
    ----------
    path
        The raster.
    geoms : (n,) object
        Polygons; ``None`` yields empty statistics.
    percentiles
        Percentiles to compute, 0-100.
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
    present = np.flatnonzero(~shapely.is_missing(geoms) & ~shapely.is_empty(geoms))
    with reading(path, "raster"):
        # GDAL decodes the blocks of one read on all cores.
        src = rasterio.open(path, NUM_THREADS="ALL_CPUS")
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
        full = Window(0, 0, src.width, src.height)
        groups = np.split(order, splits) if len(order) else []
        for group in tqdm(groups, desc=f"zonal {path.name}", disable=not progress, unit="tile"):
            rows = present[group]
            b = bounds[group]
            f = from_bounds(
                b[:, 0].min(),
                b[:, 1].min(),
                b[:, 2].max(),
                b[:, 3].max(),
                src.transform,
            )
            c0, r0 = int(np.floor(f.col_off)) - 1, int(np.floor(f.row_off)) - 1
            c1 = int(np.ceil(f.col_off + f.width)) + 1
            r1 = int(np.ceil(f.row_off + f.height)) + 1
            try:
                window = Window(c0, r0, c1 - c0, r1 - r0).intersection(full)
            except rasterio.errors.WindowError:
                continue  # no overlap with the raster: these footprints stay empty
            with reading(path, "raster"):
                data = src.read(1, window=window)
            # rasterio's window_transform trips affine's deprecation of '*'; same result.
            transform = src.transform @ Affine.translation(window.col_off, window.row_off)
            local, prow, pcol = pixels_inside(geoms[rows], data.shape, transform)
            vals = data.ravel()[prow * data.shape[1] + pcol].astype(np.float64)
            valid = _valid(vals, src.nodata)
            vals = vals[valid]
            nodata += np.bincount(rows[local[~valid]], minlength=n)
            local = local[valid]
            c, p, ordered = grouped_percentiles(local, vals, len(rows), [50, *percentiles])
            count[rows] = c
            for q in pct:
                pct[q][rows] = p[q]
            centre[rows] = p[50.0]
            dev = ordered - np.repeat(p[50.0], c)
            s1[rows] = np.bincount(np.repeat(np.arange(len(rows)), c), dev, len(rows))
            s2[rows] = np.bincount(np.repeat(np.arange(len(rows)), c), dev * dev, len(rows))
    return ZonalStats(count=count, nodata=nodata, percentiles=pct, centre=centre, s1=s1, s2=s2)


def pixels_inside(
    geoms: NDArray[np.object_], shape: tuple[int, int], transform: Affine, /
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """The pixels whose centre lies inside each polygon, for all polygons at once.

    A vectorised scanline fill: every edge is cut with the pixel-centre lines it spans, the
    crossings of one polygon on one row are sorted and paired (even-odd rule, so holes and
    multi-part polygons come out right), and each pair yields a run of pixels. Unlike a
    label raster, overlapping polygons each get all of their pixels. A polygon that holds no
    pixel centre (tiny or thin) gets the pixel under its representative point. rasterio's
    rasterize would cost a Python-level GeoJSON conversion per polygon, several times the
    whole fill.

    Parameters
    ----------
    geoms : (n,) object
        Polygons or multipolygons (no missing values).
    shape
        ``(rows, cols)`` of the raster window.
    transform
        Its north-up affine transform.

    Returns
    -------
    owner, rows, cols : (k,) int
        For each pixel found, the polygon it belongs to and its position.

    Examples
    --------
    >>> owner, rows, cols = pixels_inside(
    ...     np.array([shapely.box(1, 1, 3, 2)]), (4, 4), Affine(1, 0, 0, 0, -1, 4)
    ... )
    >>> owner.tolist(), rows.tolist(), cols.tolist()
    ([0, 0], [2, 2], [1, 2])
    """
    height, width = shape
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, coord_ring = shapely.get_coordinates(rings, return_index=True)
    col_f, row_f = ~transform @ (xy[:, 0], xy[:, 1])
    same = coord_ring[:-1] == coord_ring[1:]
    a, b = np.flatnonzero(same), np.flatnonzero(same) + 1
    r0, r1, c0, c1 = row_f[a], row_f[b], col_f[a], col_f[b]
    edge_owner = part_owner[ring_part[coord_ring[a]]]
    first = np.clip(np.ceil(np.minimum(r0, r1) - 0.5), 0, height).astype(np.int64)
    end = np.clip(np.ceil(np.maximum(r0, r1) - 0.5), 0, height).astype(np.int64)
    n = np.maximum(end - first, 0)
    edge = np.repeat(np.arange(len(n)), n)
    row = first[edge] + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    t = (row + 0.5 - r0[edge]) / (r1[edge] - r0[edge])
    x = c0[edge] + t * (c1[edge] - c0[edge])
    key = edge_owner[edge] * height + row
    order = np.lexsort((x, key))
    x, key = x[order], key[order]
    start = np.clip(np.ceil(x[0::2] - 0.5), 0, width).astype(np.int64)
    stop = np.clip(np.ceil(x[1::2] - 0.5), 0, width).astype(np.int64)
    m = np.maximum(stop - start, 0)
    span = np.repeat(np.arange(len(m)), m)
    cols = start[span] + np.arange(m.sum()) - np.repeat(np.cumsum(m) - m, m)
    owner, rows = np.divmod(key[0::2][span], height)
    empty = np.flatnonzero(np.bincount(owner, minlength=len(geoms)) == 0)
    if empty.size:
        point = shapely.get_coordinates(shapely.point_on_surface(geoms[empty]))
        pc, pr = ~transform @ (point[:, 0], point[:, 1])
        pr, pc = np.floor(pr).astype(np.int64), np.floor(pc).astype(np.int64)
        ok = (pr >= 0) & (pr < height) & (pc >= 0) & (pc < width)
        owner = np.concatenate([owner, empty[ok]])
        rows = np.concatenate([rows, pr[ok]])
        cols = np.concatenate([cols, pc[ok]])
    return owner, rows, cols


def _valid(values: NDArray[np.float64], nodata: float | None) -> NDArray[np.bool_]:
    """Which values are data: not NaN and not the no-data value."""
    ok = ~np.isnan(values)
    if nodata is not None and not np.isnan(nodata):
        ok &= values != nodata
    return ok
