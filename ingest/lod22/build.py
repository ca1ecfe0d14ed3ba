"""LoD2.2 for every building: planes, regular roof, solid, checks, and the fallback.

Each building with enough roof points gets its planes detected (:mod:`ingest.lod22.planes`),
regularised into a roof (:mod:`ingest.lod22.regularise`) and built into a solid
(:mod:`ingest.lod22.solid`). The solid must pass the safety checks (no roof above the p98
of the points plus :data:`P98_TOLERANCE`, none at or below the ground) and
:func:`twin.validity.check`; a building that fails any step keeps its LoD1.2 block as its
LoD2.2 solid, with the reason in ``lod22_fallback_reason``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from ingest.lidar.stats import PointStats
from ingest.lod22.planes import detect
from ingest.lod22.regularise import Frame, envelope, regularise
from ingest.lod22.solid import roof_solid
from twin.polygon3d import extrude
from twin.semantics import Semantic
from twin.validity import check, names

#: fewest roof points for planes
MIN_POINTS = 30
#: largest no-data share of the footprint for planes
MAX_NODATA = 0.5
#: metres a roof may rise above the 98th percentile of its points
P98_TOLERANCE = 0.5
#: largest RMSE (m) of the plane inliers to the regular roof
MAX_RMSE = 0.3
#: inlier distance (m) of the plane detection
THRESHOLD = 0.15


@dataclass(frozen=True)
class Lod22:
    """LoD2.2 solids and attributes of ``n`` buildings.

    Attributes
    ----------
    solids : (n,) object
        MultiPolygon Z shells (``None`` where the building has no LoD1.2 block either).
    faces : (k,) object
        Their faces as Polygon Z.
    owner : (k,) int
        The building of each face.
    semantic : (k,) int8
        :class:`twin.semantics.Semantic` of each face.
    attributes
        ``roof_type``, ``roof_planes``, ``eave_z_lod22``, ``ridge_z_lod22``, ``rmse_lod22``,
        ``lod22_method``, ``lod22_fallback_reason`` (see ``docs/model.md``).
    """

    solids: NDArray[np.object_]
    faces: NDArray[np.object_]
    owner: NDArray[np.intp]
    semantic: NDArray[np.int8]
    attributes: pd.DataFrame


def reconstruct(
    geoms: NDArray[np.object_],
    stats: PointStats,
    /,
    *,
    ground_z: NDArray[np.float64],
    lod1_z: NDArray[np.float64],
) -> Lod22:
    """Reconstruct the LoD2.2 roofs of footprints from their roof points.

    Parameters
    ----------
    geoms : (n,) object
        Footprints (``None`` allowed).
    stats
        Point statistics of the footprints, with their roof points.
    ground_z, lod1_z : (n,) float
        Ground and LoD1.2 roof height of each building (the fallback block).

    Returns
    -------
    Lod22
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
        planes = detect(local, threshold=THRESHOLD, min_points=max(10, MIN_POINTS // 3))
        roof = regularise(local, planes, Frame.of(footprint))
        roof_type[i], planes_n[i] = roof.roof_type, len(planes.coef)
        if roof.reason is not None:
            reason[i] = roof.reason
            continue
        inlier = planes.label >= 0
        residual = local[:, 2] - envelope(roof.planes, local[:, :2])
        fit = float(np.sqrt(np.mean(residual[inlier] ** 2)))
        if fit > MAX_RMSE:
            reason[i] = f"{roof.roof_type} roof misfits its points by {fit:.2f} m"
            continue
        world = roof.planes - np.column_stack(
            [np.zeros((len(roof.planes), 2)), roof.planes[:, :2] @ origin[:2]]
        )
        faces, semantic = roof_solid(geoms[i], world, ground_z[i])
        top = shapely.get_coordinates(faces[semantic == Semantic.RoofSurface], include_z=True)
        if top[:, 2].max() > p98[i] + P98_TOLERANCE:
            reason[i] = f"roof reaches {top[:, 2].max() - p98[i]:.2f} m above the p98 of its points"
            continue
        if top[:, 2].min() <= ground_z[i]:
            reason[i] = "roof at or below the ground"
            continue
        models[i] = faces, semantic
        rmse[i] = float(np.sqrt(np.mean(residual**2)))
    modelled = np.array(sorted(models), dtype=np.intp)
    solids = np.full(n, None, dtype=object)
    if len(modelled):
        solids[modelled] = [shapely.MultiPolygon(list(models[i][0])) for i in modelled]
        codes, _ = check(solids[modelled])
        for i, c in zip(modelled, codes, strict=True):
            if c:
                reason[i] = f"invalid solid: {', '.join(names(c))}"
                del models[i]
                solids[i] = None
    fallback = np.flatnonzero(reason != None)  # noqa: E711 (element-wise)
    block, block_faces, block_owner, block_sem = extrude(
        geoms[fallback], ground_z[fallback], lod1_z[fallback]
    )
    solids[fallback] = block
    # RMSE of a fallback block: its points against its flat top.
    owner = np.repeat(np.arange(n), count)
    dev = stats.roof_xyz[:, 2] - lod1_z[owner]
    with np.errstate(invalid="ignore", divide="ignore"):
        flat = np.sqrt(np.bincount(owner, dev * dev, n) / count)
    rmse[fallback] = flat[fallback]
    kept = np.array(sorted(models), dtype=np.intp)
    faces = [models[i][0] for i in kept] + [block_faces]
    sems = [models[i][1] for i in kept] + [block_sem]
    owners = [np.full(len(models[i][0]), i, np.intp) for i in kept] + [fallback[block_owner]]
    owner_all = np.concatenate(owners) if owners else np.empty(0, np.intp)
    order = np.argsort(owner_all, kind="stable")
    all_faces = np.concatenate(faces)[order]
    all_sem = np.concatenate(sems)[order]
    roof_faces = all_faces[all_sem == Semantic.RoofSurface]
    roof_owner = owner_all[order][all_sem == Semantic.RoofSurface]
    z, z_owner = shapely.get_coordinates(roof_faces, include_z=True, return_index=True)
    eave, ridge = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(eave, roof_owner[z_owner], z[:, 2])
    np.maximum.at(ridge, roof_owner[z_owner], z[:, 2])
    method = np.where(reason == None, "planes", np.where(solids != None, "lod1.2", None))  # noqa: E711
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
    return Lod22(
        solids=solids,
        faces=all_faces,
        owner=owner_all[order],
        semantic=all_sem,
        attributes=attributes,
    )
