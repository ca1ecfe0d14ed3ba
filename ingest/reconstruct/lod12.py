"""LoD1.2: choose each building's ground and roof height (its block is extruded by
:func:`ingest.reconstruct.solids.blocks`).

Heights come, in order of precedence, from surveyed eave and ridge points, from measured
roofs (LiDAR points, then DSM pixels: a percentile of the roof heights, 3DBAG's choice), and
from a height or storeys attribute.
Every building gets a row; where no height could be found, the reason is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from ingest.config import Lod1Options
from ingest.issues import IssueLog
from ingest.reconstruct.solids import MIN_HEIGHT
from ingest.zonal import ZonalStats, zonal_stats

ROOF_PERCENTILES = (0.0, 10.0, 50.0, 70.0, 95.0, 100.0)
FLAT_SPREAD = 0.5
"""Metres between the 10th and 95th roof percentile below which a roof counts as horizontal."""
MAX_NODATA = 0.5
"""Largest share of no-data under a footprint for measured roof heights to be trusted."""


@dataclass(frozen=True)
class RoofSource:
    """Roof heights measured by one source for every footprint.

    Attributes
    ----------
    method
        The ``height_method`` of buildings lifted from it (``"lidar"``, ``"dsm"``).
    label
        Its name in messages (``"LiDAR"``, ``"DSM"``).
    stats
        Counts, percentiles (at least :data:`ROOF_PERCENTILES` and the roof percentile) and
        RMSE sums of each footprint's roof heights.
    nodata_fraction : (n,) float
        Share of each footprint without data.
    columns
        Attributes of the source to store as they are (``dsm_pixels``, ``point_density``...).
    """

    method: str
    label: str
    stats: ZonalStats
    nodata_fraction: NDArray[np.float64]
    columns: dict[str, NDArray] = field(default_factory=dict)


def dsm_roofs(
    geoms: NDArray[np.object_], dsm: Path, options: Lod1Options, /, *, progress: bool = False
) -> RoofSource:
    """Roof heights from the DSM pixels whose centre lies in each footprint."""
    q = options.roof_percentile
    stats = zonal_stats(dsm, geoms, sorted({*ROOF_PERCENTILES, q}), progress=progress)
    total = stats.count + stats.nodata
    with np.errstate(invalid="ignore", divide="ignore"):
        nodata_fraction = np.where(total > 0, stats.nodata / total, 1.0)
    return RoofSource("dsm", "DSM", stats, nodata_fraction, {"dsm_pixels": stats.count})


def lift(
    buildings: pd.DataFrame,
    /,
    *,
    ground_z: NDArray[np.float64],
    ground_reason: NDArray[np.object_] | None = None,
    roofs: Sequence[RoofSource] = (),
    survey: pd.DataFrame | None,
    options: Lod1Options,
) -> pd.DataFrame:
    """Decide the LoD1.2 height of every building and compute its attributes.

    Parameters
    ----------
    buildings
        Footprints (``geometry``) with their source attributes.
    ground_z : (n,) float
        Ground heights (NaN where unknown).
    ground_reason : (n,) object
        Why the better ground sources gave none (:meth:`ingest.ground.Ground.reasons`),
        ``None`` where the first did.
    roofs
        Measured roof heights, best first (LiDAR points, then DSM pixels): each building takes
        its height from the first source with good data.
    survey
        Per-building ``eave_z_survey``, ``ridge_z_survey``, ``survey_points`` (or ``None``).
    options
        The ``[lod1]`` options.

    Returns
    -------
    DataFrame
        One row per building, in the input order; columns documented in ``docs/model.md``.
    """
    n = len(buildings)
    geoms = buildings.geometry.to_numpy()
    has_geom = ~shapely.is_missing(geoms)
    out = pd.DataFrame(index=buildings.index)
    out["ground_z"] = ground_z
    top = np.full(n, np.nan)
    method = np.full(n, "none", dtype=object)
    notes = IssueLog(n)

    q = options.roof_percentile
    if survey is not None:
        eave = survey["eave_z_survey"].to_numpy(dtype=float)
        ridge = survey["ridge_z_survey"].to_numpy(dtype=float)
        flat = np.isnan(ridge) | (ridge - eave < 0.1)
        # A percentile of a roof whose heights spread evenly from eave to ridge (a gable
        # roof's do), so that surveyed and DSM heights mean the same thing.
        surveyed = np.where(flat, eave, eave + (q / 100.0) * (ridge - eave))
        use = ~np.isnan(surveyed)
        top[use], method[use] = surveyed[use], "survey"
        out["eave_z_survey"] = eave
        out["ridge_z_survey"] = ridge
        out["survey_points"] = survey["survey_points"].to_numpy(dtype=np.int64)

    chosen = np.full(n, -1)
    for k, source in enumerate(roofs):
        p, count, nodata = source.stats.percentiles, source.stats.count, source.nodata_fraction
        good = (count > 0) & (nodata <= MAX_NODATA)
        above = p[q] - ground_z
        low = good & (above < MIN_HEIGHT)
        pending = np.isnan(top) & has_geom
        use = pending & good & ~low
        top[use], method[use], chosen[use] = p[q][use], source.method, k
        empty = np.flatnonzero(pending & (count == 0))
        notes.add_many(empty, [f"no {source.label} data in the footprint"] * len(empty))
        bad = pending & (count > 0) & (nodata > MAX_NODATA)
        notes.add_many(
            np.flatnonzero(bad),
            [f"{source.label} no-data under {f:.0%} of it" for f in nodata[bad]],
        )
        low &= pending
        notes.add_many(
            np.flatnonzero(low), [f"{source.label} only {h:.2f} m above ground" for h in above[low]]
        )
        for column, values in source.columns.items():
            out[column] = values
    if roofs:
        # Roof attributes from the source that gave the height, else the best one with data.
        first = np.argmax(np.stack([r.stats.count > 0 for r in roofs]), axis=0)
        pick = np.where(chosen >= 0, chosen, first)

        def picked(values: Sequence[NDArray]) -> NDArray:
            return np.choose(pick, np.stack(values))

        p = {q_: picked([r.stats.percentiles[q_] for r in roofs]) for q_ in ROOF_PERCENTILES}
        for name, pct in zip(("min", "p50", "p70", "max"), (0.0, 50.0, 70.0, 100.0), strict=True):
            out[f"roof_z_{name}"] = p[pct]
        out["roof_type"] = np.where(
            picked([r.stats.count for r in roofs]) == 0,
            None,
            np.where(p[95.0] - p[10.0] < FLAT_SPREAD, "horizontal", "slanted"),
        )
        out["nodata_fraction"] = picked([r.nodata_fraction for r in roofs])

    relative = np.full(n, np.nan)
    for column, scale, label in (
        (options.height_attribute, 1.0, "attribute height"),
        (options.storeys_attribute, options.storey_height, "attribute storeys"),
    ):
        if column in buildings.columns:
            value = pd.to_numeric(buildings[column], errors="coerce").to_numpy(dtype=float)
            use = np.isnan(top) & np.isnan(relative) & (value > 0) & has_geom
            relative[use], method[use] = scale * value[use], label
    if not roofs:
        fallback = np.flatnonzero(np.isin(method, ["attribute height", "attribute storeys"]))
        notes.add_many(fallback, ["no survey, LiDAR or DSM heights"] * len(fallback))
    top = np.where(np.isnan(top), ground_z + relative, top)
    height = np.where(np.isnan(ground_z), relative, top - ground_z)
    none = np.flatnonzero((method == "none") & has_geom)
    notes.add_many(none, ["no height from survey, DSM or attributes"] * len(none))
    if ground_reason is not None:
        given = np.flatnonzero(pd.notna(ground_reason) & has_geom)
        notes.add_many(given, ground_reason[given])
    no_ground = np.flatnonzero(np.isnan(ground_z) & has_geom)
    notes.add_many(no_ground, ["no ground height: no solid"] * len(no_ground))
    notes.add_many(np.flatnonzero(~has_geom), ["no usable footprint"] * int((~has_geom).sum()))

    area = shapely.area(geoms)
    slanted = (out["roof_type"] == "slanted").to_numpy() if "roof_type" in out else False
    eave_guess = np.where(slanted, out.get("roof_z_min", top), top)
    storeys = np.maximum(1.0, np.floor((eave_guess - ground_z) / options.storey_height + 0.5))
    solid = np.isfinite(top) & np.isfinite(ground_z)
    out["lod1_z"] = top
    out["height"] = height
    out["storeys_est"] = np.where(solid, storeys, np.nan)
    out["area_footprint"] = area
    out["volume_lod1"] = np.where(solid, area * height, np.nan)
    out["area_roof_lod1"] = np.where(solid, area, np.nan)
    out["area_wall_lod1"] = np.where(solid, shapely.length(geoms) * height, np.nan)
    out["rmse_lod1"] = (
        np.choose(pick, np.stack([r.stats.rmse(top) for r in roofs])) if roofs else np.nan
    )
    out["height_method"] = method
    out["height_fallback_reason"] = notes.texts()
    return out
