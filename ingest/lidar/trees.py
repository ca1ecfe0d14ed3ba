"""Trees from vegetation points: tree tops, crowns, and the merge with a tree inventory.

A canopy height model (the highest vegetation point per cell minus the terrain) is smoothed;
its local maxima above ``min_height`` are tree tops, and a marker-controlled watershed
(scipy's ``watershed_ift``) grows each top into its crown, whose area gives the crown
diameter. Deterministic: no random sampling anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import ndimage

from ingest.lidar.read import CHUNK_SIZE, PointCloud, extent, stream
from twin.terrain import Terrain

VEGETATION = (3, 4, 5)
"""ASPRS classes of low, medium and high vegetation."""
SMOOTHING = 1.0
"""Metres: standard deviation of the Gaussian that smooths the canopy before tops are sought."""
WINDOW = 4.0
"""Metres: a tree top is the highest point of the smoothed canopy within this window."""


def detect_trees(
    clouds: Sequence[PointCloud],
    dtm: Terrain,
    crs: pyproj.CRS,
    /,
    *,
    resolution: float = 1.0,
    min_height: float = 3.0,
    min_crown: float = 1.5,
    chunk_size: int = CHUNK_SIZE,
) -> gpd.GeoDataFrame:
    """Tree tops and crowns from the vegetation points of ``clouds``.

    Parameters
    ----------
    clouds
        The point clouds, bound to the project CRS.
    dtm
        The terrain, for heights above ground.
    crs
        The project CRS of the result.
    resolution
        Cell size (m) of the canopy height model.
    min_height
        Tree tops lower than this above the ground (m) are left out.
    min_crown
        Crowns narrower than this (m) are left out.

    Returns
    -------
    GeoDataFrame
        Points at the tree tops with ``height_m`` (above ground), ``crown_diameter_m`` (of the
        circle with the crown's area) and ``top_z`` (m, vertical datum).
    """
    # The canopy grid covers the clouds' extent: the highest point per cell is kept chunk by
    # chunk, so memory grows with the area, not with the vegetation points.
    columns = {"height_m": [], "crown_diameter_m": [], "top_z": []}
    xmin, ymin, xmax, ymax = extent(clouds)
    x0 = np.floor(xmin / resolution) * resolution
    y1 = np.ceil(ymax / resolution) * resolution
    shape = (
        max(1, int(np.ceil((y1 - ymin) / resolution))),
        max(1, int(np.ceil((xmax - x0) / resolution))),
    )
    top = np.full(shape[0] * shape[1], -np.inf)
    for pts in stream(clouds, size=chunk_size, classes=VEGETATION):
        keep = np.isin(pts.classification, VEGETATION)
        col = np.clip(((pts.x[keep] - x0) / resolution).astype(np.int64), 0, shape[1] - 1)
        row = np.clip(((y1 - pts.y[keep]) / resolution).astype(np.int64), 0, shape[0] - 1)
        np.maximum.at(top, row * shape[1] + col, pts.z[keep])
    if not np.isfinite(top).any():
        return gpd.GeoDataFrame(columns, geometry=[], crs=crs)
    filled = np.flatnonzero(np.isfinite(top))
    centres = np.column_stack(
        [x0 + (filled % shape[1] + 0.5) * resolution, y1 - (filled // shape[1] + 0.5) * resolution]
    )
    chm = np.zeros(top.size)
    chm[filled] = top[filled] - dtm.sample(centres)
    chm = np.nan_to_num(chm, nan=0.0).reshape(shape)
    smooth = ndimage.gaussian_filter(chm, sigma=SMOOTHING / resolution)
    window = max(3, round(WINDOW / resolution) | 1)
    peaks = (smooth == ndimage.maximum_filter(smooth, size=window)) & (chm >= min_height)
    markers, n = ndimage.label(peaks)
    if n == 0:
        return gpd.GeoDataFrame(columns, geometry=[], crs=crs)
    # The watershed grows each top downhill over the canopy; cells under min_height stay out.
    canopy = chm >= min_height / 2.0
    depth = np.clip(chm.max() - smooth, 0, None)
    levels = np.round(depth / max(depth.max(), 1e-9) * 65000).astype(np.uint16)
    seeds = np.where(canopy, markers, -1).astype(np.int32)
    seeds[canopy & (markers == 0)] = 0
    crowns = ndimage.watershed_ift(levels, seeds)
    crowns[~canopy] = 0
    index = np.arange(1, n + 1)
    area = ndimage.sum_labels(np.ones(shape), crowns, index) * resolution**2
    height = ndimage.maximum(chm, crowns, index)
    where = np.array(ndimage.maximum_position(chm, crowns, index), dtype=float).reshape(-1, 2)
    tx = x0 + (where[:, 1] + 0.5) * resolution
    ty = y1 - (where[:, 0] + 0.5) * resolution
    diameter = 2.0 * np.sqrt(area / np.pi)
    keep = (diameter >= min_crown) & (height >= min_height)
    ground = dtm.sample(np.column_stack([tx, ty]))
    return gpd.GeoDataFrame(
        {
            "height_m": np.round(height[keep], 2),
            "crown_diameter_m": np.round(diameter[keep], 2),
            "top_z": np.round(ground[keep] + height[keep], 3),
        },
        geometry=shapely.points(tx[keep], ty[keep]),
        crs=crs,
    )


def merge_trees(
    inventory: gpd.GeoDataFrame | None, detected: gpd.GeoDataFrame, /, *, distance: float = 3.0
) -> gpd.GeoDataFrame:
    """The tree inventory with the LiDAR trees merged in.

    Each detected tree is matched to the nearest inventory tree within ``distance`` metres
    (one to one, nearest pairs first). Matched trees get ``height_lidar_m`` and
    ``crown_diameter_lidar_m`` and, where the inventory has none, their crown diameter;
    unmatched detections become new trees (``tree_id`` ``L000001``...) with ``source`` "lidar".
    """
    detected = detected.reset_index(drop=True)
    if inventory is None or len(inventory) == 0:
        inventory = gpd.GeoDataFrame(
            {"tree_id": pd.Series(dtype=str)}, geometry=[], crs=detected.crs
        )
    trees = inventory.reset_index(drop=True).copy()
    trees["source"] = "inventory"
    tree_index, det_index = shapely.STRtree(detected.geometry.to_numpy()).query(
        trees.geometry.to_numpy(), predicate="dwithin", distance=distance
    )
    gap = shapely.distance(
        trees.geometry.to_numpy()[tree_index], detected.geometry.to_numpy()[det_index]
    )
    order = np.argsort(gap, kind="stable")
    match = np.full(len(trees), -1)  # detection matched to each inventory tree
    taken = np.zeros(len(detected), dtype=bool)
    for t, d in zip(tree_index[order], det_index[order], strict=True):
        if match[t] < 0 and not taken[d]:
            match[t] = d
            taken[d] = True
    matched = match >= 0
    height = np.full(len(trees), np.nan)
    crown = np.full(len(trees), np.nan)
    height[matched] = detected["height_m"].to_numpy()[match[matched]]
    crown[matched] = detected["crown_diameter_m"].to_numpy()[match[matched]]
    trees["height_lidar_m"] = height
    trees["crown_diameter_lidar_m"] = crown
    if "crown_diameter_m" in trees:
        trees["crown_diameter_m"] = trees["crown_diameter_m"].fillna(pd.Series(crown))
    new = detected[~taken].reset_index(drop=True)
    added = gpd.GeoDataFrame(
        {
            "tree_id": [f"L{i:06d}" for i in range(1, len(new) + 1)],
            "height_m": new["height_m"].to_numpy(),
            "crown_diameter_m": new["crown_diameter_m"].to_numpy(),
            "height_lidar_m": new["height_m"].to_numpy(),
            "crown_diameter_lidar_m": new["crown_diameter_m"].to_numpy(),
            "source": "lidar",
        },
        geometry=new.geometry.to_numpy(),
        crs=detected.crs,
    )
    return gpd.GeoDataFrame(pd.concat([trees, added], ignore_index=True), crs=detected.crs)
