"""Terrestrial survey points: eaves, ridges, ground, manhole covers and trees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from ingest.synthetic.geom import FloatArray
from ingest.synthetic.grid import Grid, Segments
from ingest.synthetic.roofs import FLAT, Roofs
from ingest.synthetic.terrain import terrain_z
from ingest.synthetic.vegetation import Trees

#: the code table: code, meaning, description
CODES = pd.DataFrame(
    {
        "code": ["TR", "FI", "GEL", "KD", "BA"],
        "meaning": ["eave", "ridge", "ground", "manhole_cover", "tree"],
        "description": [
            "Traufe: building corner at eave height",
            "First: end of the roof ridge (shed roof: of the high eave)",
            "Gelände: ground point on the street",
            "Kanaldeckel: sewer manhole cover",
            "Baum: tree trunk position at ground level",
        ],
    }
)
#: share of the buildings surveyed
SURVEYED = 0.3
#: standard deviation of the survey in position and in height, metres
SIGMA_XY, SIGMA_Z = 0.01, 0.015
#: spacing of the ground points along the streets, metres
GROUND_SPACING = 20.0


def _corners(geometry: NDArray[np.object_]) -> tuple[FloatArray, NDArray[np.int64]]:
    """Convex and reflex corners of the outer rings (no collinear wall vertices)."""
    parts, owner = shapely.get_parts(geometry, return_index=True)
    ring_xy, ring = shapely.get_coordinates(shapely.get_exterior_ring(parts), return_index=True)
    closing = np.r_[ring[1:] != ring[:-1], True]
    xy, ring = ring_xy[~closing], ring[~closing]
    first = np.r_[True, ring[1:] != ring[:-1]]
    last = np.r_[ring[1:] != ring[:-1], True]
    start = np.maximum.accumulate(np.where(first, np.arange(len(ring)), 0))
    end = np.flatnonzero(last)[np.cumsum(first) - 1]
    prev = np.where(first, end, np.arange(len(ring)) - 1)
    nxt = np.where(last, start, np.arange(len(ring)) + 1)
    a, b = xy - xy[prev], xy[nxt] - xy
    corner = np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]) > 1e-6
    return xy[corner], owner[ring[corner]]


def survey_points(
    geometry: NDArray[np.object_],
    roofs: Roofs,
    grid: Grid,
    seg: Segments,
    manholes: FloatArray,
    trees: Trees,
    rng: np.random.Generator,
    /,
) -> pd.DataFrame:
    """Survey ~30 % of the buildings, the streets, the sewer manholes and the trees.

    Eave points sit on 2-4 footprint corners, ridge points on both ends of the ridge of pitched
    roofs; the ground is surveyed on the axis and both sides of every street every 20 m.
    Positions carry 1 cm, heights 1.5 cm normal noise.

    Returns
    -------
    pandas.DataFrame
        ``point_no, x, y, z, code`` (EPSG:31258, metres GHA, 3 decimals).
    """
    n = len(geometry)
    surveyed = np.flatnonzero(rng.random(n) < SURVEYED)
    xy, b = _corners(geometry[surveyed])
    b = surveyed[b]
    rank = np.empty(len(b), np.int64)
    order = np.lexsort((rng.random(len(b)), b))
    first = np.r_[True, b[order][1:] != b[order][:-1]]
    pos = np.arange(len(b))
    rank[order] = pos - np.maximum.accumulate(np.where(first, pos, 0))
    take = rank < rng.integers(2, 5, n)[b]
    eave = np.c_[xy[take], roofs.eave_z[b[take]]]
    pitched = surveyed[roofs.roof_type[surveyed] != FLAT]
    rx, ry = roofs.ridge_ends(pitched)
    ridge = np.c_[rx.ravel(), ry.ravel(), np.repeat(roofs.ridge_z[pitched], 2)]
    # ground: every 20 m on the axis and 70 % of the half width to either side
    length = seg.along1 - seg.along0
    count = np.floor(length / GROUND_SPACING).astype(np.int64)
    s = np.repeat(np.arange(len(seg)), count)
    along = (
        seg.along0[s]
        + (np.arange(len(s)) - np.repeat(np.cumsum(count) - count, count)) * GROUND_SPACING
    )
    s, along = np.repeat(s, 3), np.repeat(along, 3)
    offset = np.tile([-0.7, 0.0, 0.7], len(s) // 3) * seg.width[s] / 2
    gx, gy = grid.frame.to_world(*seg.point(s, along, offset))
    ground = np.c_[gx, gy, terrain_z(gx, gy)]
    cover = np.c_[manholes, terrain_z(manholes[:, 0], manholes[:, 1])]
    tree = np.c_[trees.x, trees.y, trees.ground_z]
    points = np.concatenate([eave, ridge, ground, cover, tree])
    code = np.repeat(
        CODES["code"].to_numpy(), [len(eave), len(ridge), len(ground), len(cover), len(tree)]
    )
    noise = rng.normal(0.0, 1.0, points.shape) * np.array([SIGMA_XY, SIGMA_XY, SIGMA_Z])
    points = np.round(points + noise, 3)
    return pd.DataFrame(
        {
            "point_no": np.arange(1, len(points) + 1),
            "x": points[:, 0],
            "y": points[:, 1],
            "z": points[:, 2],
            "code": code,
        }
    )
