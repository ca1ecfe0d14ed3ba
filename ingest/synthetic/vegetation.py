"""Street, square and park trees of the sample district, and the surface of their crowns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from ingest.synthetic.geom import FloatArray, IntArray
from ingest.synthetic.grid import PARK, SQUARE, Grid, Segments
from ingest.synthetic.terrain import terrain_z

#: latin name, German name, columnar, mature height (m), crown diameter / height, girth growth
#: (cm of trunk circumference per year)
SPECIES = (
    ("Tilia cordata", "Winter-Linde", False, 25.0, 0.60, 2.6),
    ("Acer platanoides", "Spitz-Ahorn", False, 22.0, 0.65, 2.6),
    ("Aesculus hippocastanum", "Rosskastanie", False, 24.0, 0.70, 3.0),
    ("Platanus \u00d7 acerifolia", "Platane", False, 30.0, 0.65, 3.2),
    ("Carpinus betulus 'Fastigiata'", "Säulen-Hainbuche", True, 15.0, 0.25, 2.2),
    ("Quercus robur", "Stieleiche", False, 30.0, 0.70, 2.8),
    ("Betula pendula", "Hänge-Birke", False, 22.0, 0.45, 2.0),
)
#: year of the survey the attributes describe
SURVEY_YEAR = 2026
#: vertical semi-axis of the crown ellipsoid as a share of the tree height
CROWN_DEPTH = 0.3
#: distance of the street trees from the facade line, and the largest crown overhang (pruned)
STREET_TREE_SETBACK, STREET_TREE_OVERHANG = 3.5, 1.0


@dataclass(frozen=True)
class Trees:
    """Trees in the world frame with their true crown geometry and their attribute table.

    The attribute ``crown_diameter_m`` is missing for some trees; ``crown_radius`` is the true
    radius the DSM, LiDAR and orthophoto are drawn with.
    """

    x: FloatArray
    y: FloatArray
    ground_z: FloatArray
    height: FloatArray
    crown_radius: FloatArray
    table: pd.DataFrame

    def __len__(self) -> int:
        return len(self.x)


def _spaced(length: FloatArray, spacing: FloatArray) -> tuple[IntArray, FloatArray]:
    """Evenly spaced stations along lines: owner line and distance from its start."""
    count = np.floor(np.maximum(length, 0.0) / spacing).astype(np.int64) + 1
    owner = np.repeat(np.arange(len(length)), count)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    step = np.where(count > 1, length / np.maximum(count - 1, 1), 0.0)
    return owner, np.where(count[owner] > 1, rank * step[owner], length[owner] / 2)


def _street_trees(grid: Grid, seg: Segments, rng: np.random.Generator) -> tuple[FloatArray, ...]:
    """Avenues: both sides of ~60 % of the streets at least 15 m wide (and of the widest)."""
    street = seg.street
    width = np.zeros(len(grid.v_name) + len(grid.h_name))
    width[street] = seg.width
    avenue = (width >= 15.0) & (rng.random(len(width)) < 0.6)
    avenue[np.argmax(width)] = True
    species = rng.integers(len(SPECIES), size=len(width))
    planted = rng.integers(1950, 2016, size=len(width))
    spacing = rng.uniform(8.0, 12.0, len(width))
    s = np.flatnonzero(avenue[street])
    lo = np.where(seg.vertical[s], seg.bounds[s, 1], seg.bounds[s, 0]) + 6.0
    hi = np.where(seg.vertical[s], seg.bounds[s, 3], seg.bounds[s, 2]) - 6.0
    line = np.repeat(s, 2)
    side = np.tile([-1.0, 1.0], len(s))
    owner, dist = _spaced(np.repeat(hi - lo, 2), spacing[street[line]])
    sg = line[owner]
    x, y = seg.point(
        sg, np.repeat(lo, 2)[owner] + dist, side[owner] * (seg.width[sg] / 2 - STREET_TREE_SETBACK)
    )
    st = street[sg]
    year = planted[st] + rng.integers(-2, 3, len(sg))
    year = np.where(rng.random(len(sg)) < 0.12, rng.integers(2005, 2024, len(sg)), year)
    return x, y, species[st], year


def park_paths(grid: Grid, /) -> NDArray[np.object_]:
    """Centre lines of the park paths (local frame): both axes and both diagonals per park."""
    b = grid.block_bounds()[grid.kind == PARK]
    xc, yc = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    ends = np.stack(
        [
            np.c_[b[:, 0], yc, b[:, 2], yc],
            np.c_[xc, b[:, 1], xc, b[:, 3]],
            np.c_[b[:, 0], b[:, 1], b[:, 2], b[:, 3]],
            np.c_[b[:, 0], b[:, 3], b[:, 2], b[:, 1]],
        ],
        axis=1,
    ).reshape(-1, 2, 2)
    return shapely.linestrings(ends)


def _park_and_square_trees(grid: Grid, rng: np.random.Generator) -> tuple[FloatArray, ...]:
    """Parks: a jittered 12 m grid clear of the paths; squares: a row 4 m inside the edges."""
    bounds = grid.block_bounds()
    park = bounds[grid.kind == PARK]
    w, h = park[:, 2] - park[:, 0] - 12.0, park[:, 3] - park[:, 1] - 12.0
    nx, ny = np.floor(w / 12.0).astype(np.int64) + 1, np.floor(h / 12.0).astype(np.int64) + 1
    owner = np.repeat(np.arange(len(park)), nx * ny)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(nx * ny) - nx * ny, nx * ny)
    jitter = rng.uniform(-3.0, 3.0, (2, len(owner)))
    px = park[owner, 0] + 6.0 + (rank % nx[owner]) * w[owner] / np.maximum(nx[owner] - 1, 1)
    py = park[owner, 1] + 6.0 + (rank // nx[owner]) * h[owner] / np.maximum(ny[owner] - 1, 1)
    px, py = px + jitter[0], py + jitter[1]
    paths = park_paths(grid)
    near = shapely.dwithin(paths[owner * 4 + np.arange(4)[:, None]], shapely.points(px, py), 4.0)
    keep = ~near.any(axis=0) & (rng.random(len(owner)) < 0.7)
    px, py = px[keep], py[keep]
    n_park = len(px)
    sq = bounds[grid.kind == SQUARE]
    corners = np.stack(
        [sq[:, [0, 1]], sq[:, [2, 1]], sq[:, [2, 3]], sq[:, [0, 3]]], axis=1
    ) + np.array([[4.0, 4.0], [-4.0, 4.0], [-4.0, -4.0], [4.0, -4.0]])
    start, end = corners.reshape(-1, 2), np.roll(corners, -1, axis=1).reshape(-1, 2)
    length = np.hypot(*(end - start).T)
    edge, dist = _spaced(length, np.full(len(length), 10.0))
    last = np.r_[edge[1:] != edge[:-1], True]  # the corner is the next edge's first tree
    edge, dist = edge[~last], dist[~last]
    f = (dist / length[edge])[:, None]
    sxy = start[edge] + f * (end[edge] - start[edge])
    x, y = np.r_[px, sxy[:, 0]], np.r_[py, sxy[:, 1]]
    species = np.r_[
        rng.integers(len(SPECIES), size=n_park),
        rng.choice([0, 3], size=len(sq))[edge // 4],
    ]
    planted = np.r_[rng.integers(1890, 2021, n_park), rng.integers(1960, 1990, len(edge))]
    return x, y, species, planted


def plant_trees(grid: Grid, seg: Segments, rng: np.random.Generator, /) -> Trees:
    """Plant the street, square and park trees and draw their attributes."""
    parts = [_street_trees(grid, seg, rng), _park_and_square_trees(grid, rng)]
    n_street = len(parts[0][0])
    lx, ly, species, planted = (np.concatenate(c) for c in zip(*parts, strict=True))
    x, y = grid.frame.to_world(lx, ly)
    n = len(x)
    table = np.array(SPECIES, dtype=object)
    hmax, ratio, growth = (table[species, k].astype(float) for k in (3, 4, 5))
    age = np.maximum(SURVEY_YEAR - planted, 3)
    height = np.round(
        np.maximum(hmax * (1 - np.exp(-age / 30.0)) * rng.uniform(0.85, 1.1, n), 3.0), 1
    )
    widest = np.where(
        np.arange(n) < n_street, 2 * (STREET_TREE_SETBACK + STREET_TREE_OVERHANG), 18.0
    )
    crown = np.round(np.clip(ratio * height * rng.uniform(0.85, 1.15, n), 1.5, widest), 1)
    girth = np.round(np.clip(growth * age * rng.uniform(0.8, 1.2, n), 10.0, 500.0), 0)
    crown_attr = np.where(rng.random(n) < 0.05, np.nan, crown)
    attrs = pd.DataFrame(
        {
            "tree_id": [f"T{i:06d}" for i in range(1, n + 1)],
            "species": table[species, 0],
            "species_de": table[species, 1],
            "trunk_circumference_cm": girth,
            "crown_diameter_m": crown_attr,
            "height_m": height,
            "columnar": table[species, 2].astype(bool),
            "planted": planted.astype(np.int64),
        }
    )
    return Trees(x, y, terrain_z(x, y), height, crown / 2, attrs)


def crown_raster(
    trees: Trees, left: float, top: float, res: float, shape: tuple[int, int]
) -> FloatArray:
    """Highest crown surface at the pixel centres of a north-up grid, -inf outside crowns.

    Each crown is the upper half of an ellipsoid: horizontal radius ``crown_radius``, vertical
    semi-axis ``CROWN_DEPTH · height``, top at ``ground_z + height``.

    Parameters
    ----------
    trees : Trees
    left, top : float
        EPSG:31258 coordinates of the grid's upper-left corner.
    res : float
        Pixel size, metres.
    shape : tuple of int
        ``(rows, columns)``.

    Returns
    -------
    ndarray of float64, shape ``shape``
    """
    rows, cols = shape
    out = np.full(rows * cols, -np.inf)
    r = trees.crown_radius
    idx = np.flatnonzero(
        (trees.x + r > left)
        & (trees.x - r < left + cols * res)
        & (trees.y - r < top)
        & (trees.y + r > top - rows * res)
    )
    if idx.size == 0:
        return out.reshape(shape)
    k = int(np.ceil(2 * r[idx].max() / res)) + 2
    off = np.arange(k)
    batch = max(1, 2_000_000 // (k * k))
    for start in range(0, len(idx), batch):
        t = idx[start : start + batch]
        tx, ty, tr = trees.x[t], trees.y[t], r[t]
        c = (np.floor((tx - tr - left) / res).astype(np.int64)[:, None] + off)[:, None, :]
        rr = (np.floor((top - ty - tr) / res).astype(np.int64)[:, None] + off)[:, :, None]
        d2 = (left + (c + 0.5) * res - tx[:, None, None]) ** 2
        d2 = d2 + (top - (rr + 0.5) * res - ty[:, None, None]) ** 2
        r2 = (tr * tr)[:, None, None]
        ok = (d2 < r2) & (rr >= 0) & (rr < rows) & (c >= 0) & (c < cols)
        depth = (CROWN_DEPTH * trees.height[t])[:, None, None]
        top_z = (trees.ground_z[t] + trees.height[t])[:, None, None]
        z = top_z - depth * (1.0 - np.sqrt(np.maximum(1.0 - d2 / r2, 0.0)))
        flat = np.broadcast_to(rr * cols + c, ok.shape)
        np.maximum.at(out, flat[ok], np.broadcast_to(z, ok.shape)[ok])
    return out.reshape(shape)
