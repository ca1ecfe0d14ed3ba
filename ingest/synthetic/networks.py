"""Utility networks under the streets: mains along the street axes and house connections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from ingest.synthetic.geom import FloatArray, IntArray
from ingest.synthetic.grid import Grid, Segments, segment_of_side
from ingest.synthetic.parcels import Footprints


class Network(NamedTuple):
    """One network's typical layout under a street."""

    network: str
    operator: str
    prefix: str
    #: offset of the line from the street axis as a share of the half width (+x / +y side)
    offset: float
    #: share of the street segments carrying the network
    share: float
    #: range of the cover depth, metres below ground
    depth: tuple[float, float]
    #: nominal diameters, mm (empty for cables)
    diameters: tuple[float, ...]
    materials: tuple[str, ...]


NETWORKS = (
    Network(
        "water",
        "Stadtwerke Klagenfurt \u2013 Wasser",
        "W",
        0.45,
        0.9,
        (1.3, 1.8),
        (100.0, 150.0, 200.0, 250.0, 300.0),
        ("ductile_iron", "PE", "cast_iron"),
    ),
    Network(
        "sewer",
        "Stadtwerke Klagenfurt \u2013 Kanal",
        "K",
        0.0,
        0.95,
        (2.0, 4.0),
        (300.0, 400.0, 500.0, 600.0, 800.0),
        ("concrete", "PVC", "vitrified_clay"),
    ),
    Network(
        "gas",
        "Energie Klagenfurt \u2013 Gas",
        "G",
        -0.45,
        0.6,
        (0.9, 1.3),
        (63.0, 90.0, 110.0, 160.0, 225.0),
        ("PE", "steel"),
    ),
    Network(
        "district_heating",
        "Energie Klagenfurt \u2013 Fernwärme",
        "F",
        0.2,
        0.35,
        (0.7, 1.2),
        (200.0, 250.0, 315.0, 400.0, 450.0),
        ("steel_prefab",),
    ),
    Network("power_lv", "KNG-Kärnten Netz", "N", -0.8, 0.9, (0.6, 0.9), (), ("cable_NAYY",)),
    Network("power_mv", "KNG-Kärnten Netz", "M", 0.8, 0.35, (0.8, 1.1), (), ("cable_N2XSY",)),
    Network(
        "telecom",
        "A1 Telekom Austria",
        "T",
        -0.65,
        0.7,
        (0.5, 0.8),
        (50.0, 110.0),
        ("HDPE_duct", "copper"),
    ),
    Network("telecom", "Magenta Telekom", "T", 0.65, 0.3, (0.5, 0.8), (50.0,), ("HDPE_duct",)),
)
#: years in which each material was laid
MATERIAL_YEARS = {
    "cast_iron": (1925, 1972),
    "ductile_iron": (1970, 2025),
    "PE": (1985, 2025),
    "concrete": (1950, 2000),
    "PVC": (1975, 2010),
    "vitrified_clay": (1930, 2025),
    "steel": (1930, 1990),
    "steel_prefab": (1980, 2025),
    "cable_NAYY": (1960, 2025),
    "cable_N2XSY": (1985, 2025),
    "HDPE_duct": (1995, 2025),
    "copper": (1960, 1995),
}
DEPTH_SOURCES = np.array(["measured", "design", "default", "unknown"], dtype=object)
DEPTH_ACCURACY = np.array([0.1, 0.3, 0.5, np.nan])
#: spacing of the sewer manholes at most, metres
MANHOLE_SPACING = 60.0


@dataclass(frozen=True)
class Utilities:
    """The utility layer: attributes, LineStrings (world frame) and sewer nodes ``(k, 2)``."""

    table: pd.DataFrame
    geometry: NDArray[np.object_]
    manholes: FloatArray


def _attributes(net: Network, n: int, rng: np.random.Generator) -> dict[str, NDArray]:
    """Diameter, material, year and depth columns of ``n`` lines of one network."""
    k = rng.integers(len(net.materials), size=n)
    span = np.array([MATERIAL_YEARS[m] for m in net.materials])
    source = rng.choice(4, size=n, p=[0.45, 0.3, 0.2, 0.05])
    lo, hi = net.depth
    depth = np.select(
        [source == 0, source == 1, source == 2],
        [
            np.round(rng.uniform(lo, hi, n), 2),
            np.round(rng.uniform(lo, hi, n), 1),
            np.full(n, round((lo + hi) / 2, 1)),
        ],
        np.nan,
    )
    diameter = rng.choice(np.array(net.diameters), size=n) if net.diameters else np.full(n, np.nan)
    return {
        "diameter_mm": diameter,
        "material": np.array(net.materials, dtype=object)[k],
        "depth_m": depth,
        "depth_accuracy_m": DEPTH_ACCURACY[source],
        "depth_source": DEPTH_SOURCES[source],
        "year_laid": rng.integers(span[k, 0], span[k, 1] + 1).astype(np.int64),
    }


def _along(
    seg: Segments, s: IntArray, offset: FloatArray, n_vert: IntArray
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Vertices (local) of lines along whole segments ``s`` at ``offset`` from the axis."""
    line = np.repeat(np.arange(len(s)), n_vert)
    rank = np.arange(len(line)) - np.repeat(np.cumsum(n_vert) - n_vert, n_vert)
    t = rank / (n_vert[line] - 1)
    sl = s[line]
    along = seg.along0[sl] + t * (seg.along1 - seg.along0)[sl]
    x, y = seg.point(sl, np.where(t == 1.0, seg.along1[sl], along), offset[line])
    return x, y, line


def _frame(net: Network, attrs: dict[str, NDArray], status: object) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "network": net.network,
            "operator": net.operator,
            "prefix": net.prefix,
            **attrs,
            "status": status,
        }
    )


def lay_utilities(
    grid: Grid, seg: Segments, footprints: Footprints, rng: np.random.Generator, /
) -> Utilities:
    """Lay all networks along the streets, with abandoned and planned lines and connections.

    Mains run from intersection centre to intersection centre; sewers have a node (manhole)
    at least every ``MANHOLE_SPACING`` metres; ~6 % of the water and gas mains have an
    abandoned predecessor 0.8 m beside them; ~15 % of the district-heating lines are planned.
    """
    half = seg.width / 2
    length = seg.along1 - seg.along0
    share = np.array([n.share for n in NETWORKS])[:, None]
    present = rng.random((len(NETWORKS), len(seg))) < share
    frames: list[pd.DataFrame] = []
    parts: list[tuple[FloatArray, FloatArray, IntArray]] = []
    for k, net in enumerate(NETWORKS):
        s = np.flatnonzero(present[k])
        n_vert = np.full(len(s), 2)
        if net.network == "sewer":
            n_vert = np.ceil(length[s] / MANHOLE_SPACING).astype(np.int64) + 1
        attrs = _attributes(net, len(s), rng)
        status = np.full(len(s), "in_service", dtype=object)
        if net.network == "district_heating":
            planned = rng.random(len(s)) < 0.15
            status[planned] = "planned"
            attrs["year_laid"][planned] = rng.integers(2027, 2029, np.count_nonzero(planned))
            attrs["depth_source"][planned] = "design"
            attrs["depth_m"][planned] = np.round(
                rng.uniform(*net.depth, np.count_nonzero(planned)), 1
            )
            attrs["depth_accuracy_m"][planned] = DEPTH_ACCURACY[1]
        frames.append(_frame(net, attrs, status))
        parts.append(_along(seg, s, net.offset * half[s], n_vert))
        if net.network in ("water", "gas"):
            old = s[rng.random(len(s)) < 0.06]
            attrs = _attributes(net, len(old), rng)
            attrs["material"][:] = "cast_iron" if net.network == "water" else "steel"
            attrs["year_laid"] = rng.integers(1925, 1966, len(old))
            unknown = rng.random(len(old)) < 0.5
            attrs["depth_m"] = np.where(unknown, np.nan, round(sum(net.depth) / 2, 1))
            attrs["depth_accuracy_m"] = np.where(unknown, np.nan, DEPTH_ACCURACY[2])
            attrs["depth_source"] = np.where(unknown, "unknown", "default").astype(object)
            frames.append(_frame(net, attrs, "abandoned"))
            parts.append(_along(seg, old, net.offset * half[old] + 0.8, np.full(len(old), 2)))
    # house connections: from the water or gas main straight to the facade
    fronting = np.flatnonzero(footprints.side >= 0)
    fseg = segment_of_side(grid, footprints.block[fronting], footprints.side[fronting])
    for k, p, diameters in ((0, 0.12, (32.0, 40.0, 50.0)), (2, 0.05, (32.0,))):
        net = NETWORKS[k]
        pick = (rng.random(len(fronting)) < p) & present[k, fseg]
        b, s = fronting[pick], fseg[pick]
        fx, fy = footprints.facade_x[b], footprints.facade_y[b]
        mx, my = seg.point(s, np.where(seg.vertical[s], fy, fx), net.offset * half[s])
        attrs = _attributes(net._replace(diameters=diameters, materials=("PE",)), len(b), rng)
        frames.append(_frame(net, attrs, "in_service"))
        parts.append(
            (np.c_[mx, fx].ravel(), np.c_[my, fy].ravel(), np.repeat(np.arange(len(b)), 2))
        )
    table = pd.concat(frames, ignore_index=True)
    first = np.cumsum([0] + [len(f) for f in frames[:-1]])  # first line of each part
    x, y, owner = (np.concatenate(c) for c in zip(*parts, strict=True))
    owner = owner + np.repeat(first, [len(p[2]) for p in parts])
    wx, wy = grid.frame.to_world(x, y)
    geometry = shapely.linestrings(np.c_[wx, wy], indices=owner)
    seq = table.groupby("prefix", sort=False).cumcount().to_numpy() + 1
    ids = [f"{p}-{i:06d}" for p, i in zip(table["prefix"], seq, strict=True)]
    table = table.drop(columns="prefix")
    table.insert(0, "utility_id", ids)
    sewer = geometry[(table["network"] == "sewer").to_numpy()]
    nodes = np.unique(np.round(shapely.get_coordinates(sewer), 3), axis=0)
    return Utilities(table, geometry, nodes)
