"""LoD2.2 for every building: planes, regular roof, solid, checks, and the fallback.

Each building with enough roof points gets its planes detected (:mod:`ingest.reconstruct.planes`),
regularised into a roof (:mod:`ingest.reconstruct.regularise`) and built into a solid
(:mod:`ingest.reconstruct.roofs`); when the planes make no regular roof, or the regular roof
fails a check, the footprint is partitioned among them (:mod:`ingest.reconstruct.partition`) and
built part by part. The solid
must pass the safety checks (its planes' inliers within :data:`MAX_RMSE` RMS, for a
partition all but the worst :data:`PARTITION_TRIM` of them; no roof above the p98 of the
points plus :data:`P98_TOLERANCE`, none at or below the ground) and
:func:`twin.validity.check`; a building that fails any step takes its LoD1.3 solid when that
has several parts (:mod:`ingest.reconstruct.lod13`), else its LoD1.2 block, as its LoD2.2
solid, with the reason in ``lod22_fallback_reason``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from ingest.lidar.stats import PointStats
from ingest.reconstruct.partition import by_planes
from ingest.reconstruct.planes import Planes, detect
from ingest.reconstruct.regularise import Frame, Roof, envelope, regularise
from ingest.reconstruct.roofs import partition_solid, roof_solid
from ingest.reconstruct.solids import Solids, finish
from twin.errors import InputError
from twin.semantics import Semantic
from twin.terrain import Terrain

#: fewest roof points for planes
MIN_POINTS = 30
#: largest no-data share of the footprint for planes
MAX_NODATA = 0.5
#: metres a roof may rise above the 98th percentile of its points
P98_TOLERANCE = 0.5
#: largest RMSE (m) of the plane inliers to the regular roof
MAX_RMSE = 0.3
#: share of the worst-fitting inliers a partitioned roof's RMSE check leaves out
PARTITION_TRIM = 0.05
#: inlier distance (m) of the plane detection
THRESHOLD = 0.15
#: grid cells (of the point statistics, about four points each) over which a plane's inliers
#: must connect: co-planar patches further apart become planes of their own
CONNECT = 1.75


def reconstruct(
    geoms: NDArray[np.object_],
    stats: PointStats,
    /,
    *,
    ground_z: NDArray[np.float64],
    lod1_z: NDArray[np.float64],
    lod13: Solids | None = None,
    terrain: Terrain | None = None,
) -> Solids:
    """Reconstruct the LoD2.2 roofs of footprints from their roof points.

    Parameters
    ----------
    geoms : (n,) object
        Footprints (``None`` allowed).
    stats
        Point statistics of the footprints, with their roof points.
    ground_z, lod1_z : (n,) float
        Ground and LoD1.2 roof height of each building (the fallback block).
    lod13
        The buildings' LoD1.3: a building without planes whose LoD1.3 has several parts
        takes it (``lod22_method = "lod1.3"``) instead of the LoD1.2 block.
    terrain
        A terrain for sloped bases (``[lod1] base = "sloped"``): the solids and fallback
        blocks stand on it as the LoD1.2 blocks do (see :func:`partition_solid`).

    Returns
    -------
    Solids
    """
    n = len(geoms)
    count = np.diff(stats.roof_start)
    roof_type = np.full(n, None, dtype=object)
    planes_n = np.zeros(n, np.int64)
    reason = np.full(n, None, dtype=object)
    rmse = np.full(n, np.nan)
    models: dict[int, tuple[NDArray[np.object_], NDArray[np.int8]]] = {}
    p98 = stats.roof.percentiles[98.0]
    has_geom = ~shapely.is_missing(geoms)
    reason[has_geom & (stats.nodata_fraction > MAX_NODATA)] = (
        f"roof points miss over {MAX_NODATA:.0%} of the footprint"
    )
    reason[has_geom & (count < MIN_POINTS)] = f"fewer than {MIN_POINTS} roof points"
    reason[has_geom & ~np.isfinite(ground_z)] = "no ground height"
    reason[~has_geom] = "no usable footprint"
    for i in np.flatnonzero(reason == None):  # noqa: E711 (element-wise)
        xyz = stats.roof_xyz[stats.roof_start[i] : stats.roof_start[i + 1]]
        origin = np.array([*shapely.get_coordinates(shapely.centroid(geoms[i]))[0], 0.0])
        local = xyz - origin
        footprint = shapely.transform(geoms[i], lambda c, o=origin: c - o[:2])
        planes = detect(
            local,
            threshold=THRESHOLD,
            min_points=max(10, MIN_POINTS // 3),
            connect=CONNECT * stats.cell,
        )
        roof = regularise(local, planes, Frame.of(footprint))
        roof_type[i], planes_n[i] = roof.roof_type, len(planes.coef)
        if not len(planes.coef):
            reason[i] = roof.reason
            continue
        # The regular roof first; a partition among the planes when there is none, or when
        # the regular roof fails a check.
        tried = []
        for regular in [True, False] if roof.reason is None else [False]:
            model, failed = _model(
                geoms[i],
                footprint,
                local,
                planes,
                roof,
                origin,
                regular=regular,
                ground=ground_z[i],
                terrain=terrain,
                p98=p98[i],
                cell=stats.cell,
            )
            if model is not None:
                models[i], rmse[i] = model[:2], model[2]
                if not regular:
                    roof_type[i] = "multiple"
                break
            tried.append(failed)
        else:
            reason[i] = "; then ".join(tried)
    stepped = np.zeros(n, bool)
    if lod13 is not None:
        parts = lod13.attributes
        stepped = (reason != None) & (parts["lod13_method"] == "parts").to_numpy()  # noqa: E711
        stepped &= parts["lod13_parts"].to_numpy() > 1
        by_owner = np.argsort(lod13.owner, kind="stable")
        start = np.concatenate([[0], np.cumsum(np.bincount(lod13.owner, minlength=n))])
        for i in np.flatnonzero(stepped).tolist():
            own = by_owner[start[i] : start[i + 1]]
            models[i] = lod13.faces[own], lod13.semantic[own]
        rmse[stepped] = parts["rmse_lod13"].to_numpy()[stepped]
    solids, all_faces, owner_all, all_sem, kept = finish(
        models, reason, geoms, ground_z=ground_z, lod1_z=lod1_z, terrain=terrain
    )
    stepped &= kept
    fallback = np.flatnonzero((reason != None) & ~stepped)  # noqa: E711 (element-wise)
    # RMSE of a fallback block: its points against its flat top.
    owner = np.repeat(np.arange(n), count)
    dev = stats.roof_xyz[:, 2] - lod1_z[owner]
    with np.errstate(invalid="ignore", divide="ignore"):
        flat = np.sqrt(np.bincount(owner, dev * dev, n) / count)
    rmse[fallback] = flat[fallback]
    roof_faces = all_faces[all_sem == Semantic.RoofSurface]
    roof_owner = owner_all[all_sem == Semantic.RoofSurface]
    z, z_owner = shapely.get_coordinates(roof_faces, include_z=True, return_index=True)
    eave, ridge = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(eave, roof_owner[z_owner], z[:, 2])
    np.maximum.at(ridge, roof_owner[z_owner], z[:, 2])
    method = np.where(
        reason == None,  # noqa: E711 (element-wise)
        "planes",
        np.where(stepped, "lod1.3", np.where(solids != None, "lod1.2", None)),  # noqa: E711
    )
    attributes = pd.DataFrame(
        {
            "roof_type": roof_type,
            "roof_planes": planes_n,
            "eave_z_lod22": np.where(np.isfinite(eave), eave, np.nan),
            "ridge_z_lod22": np.where(np.isfinite(ridge), ridge, np.nan),
            "rmse_lod22": rmse,
            "lod22_method": method.astype(object),
            "lod22_fallback_reason": reason,
        }
    )
    return Solids(
        solids=solids,
        faces=all_faces,
        owner=owner_all,
        semantic=all_sem,
        attributes=attributes,
    )


def _model(
    geom: shapely.Geometry,
    footprint: shapely.Geometry,
    local: NDArray[np.float64],
    planes: Planes,
    roof: Roof,
    origin: NDArray[np.float64],
    /,
    *,
    regular: bool,
    ground: float,
    p98: float,
    cell: float,
    terrain: Terrain | None,
) -> tuple[tuple[NDArray[np.object_], NDArray[np.int8], float] | None, str]:
    """One building's solid: its ``regular`` roof, or its footprint partitioned among its planes.

    Returns the faces, their semantics and the RMSE of all the points to the roof, or
    ``None`` and why the solid failed a check.
    """
    if regular:
        coef, parts, why = roof.planes, None, f"{roof.roof_type} roof"
        fitted = envelope(coef, local[:, :2])
    else:
        why = "partition" if roof.reason is None else f"{roof.reason}; partition"
        try:
            parts, coef = by_planes(footprint, local, planes, cell=cell)
        except shapely.errors.GEOSException as exc:
            return None, f"{why} failed: {exc}"
        fitted = _part_heights(parts, coef, local)
    inlier = planes.label >= 0
    residual = local[:, 2] - fitted
    squared = np.sort(residual[inlier] ** 2)
    if parts is not None:  # the points within a cell of a step may fall on its other side
        squared = squared[: max(int(np.ceil(len(squared) * (1 - PARTITION_TRIM))), 1)]
    fit = float(np.sqrt(np.mean(squared)))
    if fit > MAX_RMSE:
        return None, f"{why} misfits its points by {fit:.2f} m"
    world = coef - np.column_stack([np.zeros((len(coef), 2)), coef[:, :2] @ origin[:2]])
    if parts is None:
        faces, semantic = roof_solid(geom, world, ground, terrain=terrain)
    else:
        moved = shapely.transform(parts, lambda c: c + origin[:2])
        try:
            faces, semantic = partition_solid(geom, moved, world, ground, terrain=terrain)
        except (InputError, shapely.errors.GEOSException) as exc:
            return None, f"{why} has no solid: {exc}"
    top = shapely.get_coordinates(faces[semantic == Semantic.RoofSurface], include_z=True)
    if top[:, 2].max() > p98 + P98_TOLERANCE:
        return None, f"{why} reaches {top[:, 2].max() - p98:.2f} m above the p98 of its points"
    if top[:, 2].min() <= ground:
        return None, f"{why} at or below the ground"
    return (faces, semantic, float(np.sqrt(np.mean(residual**2)))), why


def _part_heights(
    parts: NDArray[np.object_], coef: NDArray[np.float64], xyz: NDArray[np.float64], /
) -> NDArray[np.float64]:
    """The roof height over each point ``(k,)``: the plane of the part it lies in (or nearest)."""
    dist = shapely.distance(parts[:, None], shapely.points(xyz[:, :2])[None, :])
    own = dist.argmin(axis=0)
    return (coef[own, :2] * xyz[:, :2]).sum(axis=1) + coef[own, 2]
