"""Airborne LiDAR of the sample district: a LAS 1.4 point cloud written in strips."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from math import ceil
from pathlib import Path

import laspy
import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray

from ingest.synthetic.geom import FloatArray, IntArray
from ingest.synthetic.rasters import RasterGrid, burn
from ingest.synthetic.roofs import FLAT, Roofs
from ingest.synthetic.terrain import terrain_z
from ingest.synthetic.vegetation import Trees, crown_raster

GROUND, HIGH_VEGETATION, BUILDING = 2, 5, 6
#: pulses per square metre
DENSITY = 10.0
#: standard deviation of the heights, metres
Z_SIGMA = 0.03
#: points per strip (one flight line each) at most, about
STRIP_POINTS = 1_500_000
#: flight speed (m/s) and time to turn between lines (s)
SPEED, TURN = 60.0, 40.0
#: GPS week second of the first pulse (adjusted standard GPS time, spring 2025)
T0 = 4.3e8
FLIGHT_DATE = datetime.date(2025, 4, 14)


def _locate(x: FloatArray, y: FloatArray, tree: shapely.STRtree, strip: RasterGrid) -> IntArray:
    """Index of the footprint containing each point, -1 outside all.

    A candidate comes from a 0.5 m raster of touched pixels, confirmed exactly; the few points
    near walls whose candidate fails are looked up in the tree.
    """
    cand = burn(tree, strip, 0, strip.height, all_touched=True)
    col = np.minimum(((x - strip.left) / strip.res).astype(np.int64), strip.width - 1)
    row = np.minimum(((strip.top - y) / strip.res).astype(np.int64), strip.height - 1)
    b = cand[row, col].astype(np.int64)
    inside = np.flatnonzero(b >= 0)
    hit = shapely.contains_xy(tree.geometries[b[inside]], x[inside], y[inside])
    retry = inside[~hit]
    b[retry] = -1
    pt, poly = tree.query(shapely.points(x[retry], y[retry]), predicate="within")
    b[retry[pt]] = poly
    return b


def strips(grid: RasterGrid) -> list[tuple[float, float]]:
    """``(top, height)`` in metres of the flight strips covering ``grid``."""
    left, bottom, right, top = grid.bounds
    strip_h = max(1, int(STRIP_POINTS / (DENSITY * (right - left))))
    return [(float(t), float(min(strip_h, t - bottom))) for t in np.arange(top, bottom, -strip_h)]


def _pulses(
    left: float,
    right: float,
    top: float,
    h: float,
    westward: bool,
    buildings: shapely.STRtree,
    roofs: Roofs,
    trees: Trees,
    rng: np.random.Generator,
) -> dict[str, NDArray]:
    """Returns of one strip in flight order, without noise.

    Keys: ``x, y, time`` (per pulse; time in seconds from the start of the line) and
    ``z, ret, n_ret, cls, flat, pulse`` (per return; ``pulse`` indexes the pulse).
    """
    width = right - left
    n = round(DENSITY * width * h)
    # uniform pulses already in flight order: sorted uniforms as normalised exponential sums
    gaps = np.cumsum(rng.exponential(size=n + 1))
    along = width * gaps[:n] / gaps[n]
    x, y = (right - along if westward else left + along), top - rng.random(n) * h
    b = _locate(x, y, buildings, RasterGrid(left, top, int(width * 2), ceil(h * 2), 0.5))
    ground = terrain_z(x, y)
    roof = np.full(n, -np.inf)
    inb = np.flatnonzero(b >= 0)
    roof[inb] = roofs.surface(b[inb], x[inb], y[inb])[0]
    shape = (ceil(h * 4), int(width * 4))
    crown = crown_raster(trees, left, top, 0.25, shape)[
        np.minimum(((top - y) * 4).astype(np.int64), shape[0] - 1),
        np.minimum(((x - left) * 4).astype(np.int64), shape[1] - 1),
    ]
    below = np.maximum(ground, roof)
    veg = crown > below
    under = np.where(roof > ground, BUILDING, GROUND)
    # pulses through a crown may return once more inside it and once from below it
    n_ret = np.where(veg, rng.choice([1, 2, 3], size=n, p=[0.4, 0.35, 0.25]), 1)
    first = np.cumsum(n_ret) - n_ret
    m = int(first[-1] + n_ret[-1]) if n else 0
    pulse = np.repeat(np.arange(n), n_ret)
    ret = np.arange(m) - first[pulse] + 1
    last = ret == n_ret[pulse]
    z = np.where(ret == 1, np.maximum(below, crown)[pulse], below[pulse])
    cls = np.where(ret == 1, np.where(veg, HIGH_VEGETATION, under)[pulse], under[pulse])
    mid = ~last & (ret > 1)
    z[mid] = np.maximum(
        crown[pulse[mid]] - rng.uniform(0.5, 3.0, np.count_nonzero(mid)), below[pulse[mid]] + 1.0
    )
    cls[mid] = HIGH_VEGETATION
    flat = roofs.roof_type[np.maximum(b, 0)][pulse] == FLAT
    return {
        "x": x,
        "y": y,
        "z": z,
        "time": along / SPEED,
        "pulse": pulse,
        "ret": ret,
        "n_ret": n_ret[pulse],
        "cls": cls,
        "flat": flat,
    }


def write_lidar(
    path: Path,
    grid: RasterGrid,
    buildings: shapely.STRtree,
    roofs: Roofs,
    trees: Trees,
    crs: pyproj.CRS,
    rng: np.random.Generator,
    step: Callable[[], object],
) -> int:
    """Write a LAZ point cloud of ``grid``'s extent, one east-west flight line per strip.

    Pulses are uniform at ``DENSITY`` per m²; the first return lies on the highest of terrain,
    roof and crown (classes 2, 6, 5). Pulses hitting a crown may return again inside it and
    from below it. Heights carry 3 cm noise; GPS time increases along and between lines.
    ``step`` is called after each strip.

    Returns
    -------
    int
        Number of points written.
    """
    left, bottom, right, _ = grid.bounds
    header = laspy.LasHeader(point_format=6, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.array([np.floor(left / 1000) * 1000, np.floor(bottom / 1000) * 1000, 0.0])
    header.add_crs(crs)
    header.system_identifier = "twin sample district"
    header.generating_software = "twin ingest.synthetic"
    header.creation_date = FLIGHT_DATE
    total = 0
    with laspy.open(path, mode="w", header=header, do_compress=True) as writer:
        for line, (top, h) in enumerate(strips(grid)):
            r = _pulses(left, right, top, h, line % 2 == 1, buildings, roofs, trees, rng)
            pulse, cls, m = r["pulse"], r["cls"], len(r["pulse"])
            base = np.select(
                [cls == GROUND, (cls == BUILDING) & r["flat"], cls == BUILDING],
                [1100.0, 1400.0, 800.0],
                600.0,
            )
            intensity = base * np.where(r["ret"] > 1, 0.5, 1.0) + rng.normal(0.0, 150.0, m)
            points = laspy.ScaleAwarePointRecord.zeros(m, header=header)
            points.x, points.y = r["x"][pulse], r["y"][pulse]
            points.z = r["z"] + rng.normal(0.0, Z_SIGMA, m)
            points.intensity = np.clip(intensity, 0, 65535).astype(np.uint16)
            points.return_number = r["ret"].astype(np.uint8)
            points.number_of_returns = r["n_ret"].astype(np.uint8)
            points.classification = cls.astype(np.uint8)
            points.gps_time = T0 + line * ((right - left) / SPEED + TURN) + r["time"][pulse]
            points.point_source_id = np.full(m, line + 1, np.uint16)
            writer.write_points(points)
            total += m
            step()
    return total
