"""Cadastral footprints and parcels: read, repair, and flag slivers, duplicates and overlaps."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from ingest.config import Lod1Options, Source
from ingest.issues import IssueLog
from twin.errors import InputError
from twin.vector import read_layer

POLYGONAL = np.array(["Polygon", "MultiPolygon"])


def read_buildings(source: Source, target: pyproj.CRS, options: Lod1Options, /) -> gpd.GeoDataFrame:
    """Read building footprints, repair what can be repaired and flag the rest.

    Every input feature yields a row. Columns added: ``building_id`` (from the configured id
    column, else from a ``building_id`` column of the source; missing ids become ``fid:N``,
    repeated ones get a ``~k`` suffix), ``source_fid``, ``footprint_repaired`` and
    ``footprint_issue`` (what was wrong or suspicious, ``None`` when nothing was).

    Raises
    ------
    InputError
        When the file cannot be read, has no features, or lacks the id column.
    """
    layer = source.options.get("buildings_layer")
    frame = read_layer(
        source.path,
        layer=layer,
        target=target,
        crs=source.crs,
        what="cadastre buildings",
        encoding=source.options.get("encoding"),
    )
    id_column = source.options.get("building_id")
    if id_column is None and "building_id" in frame.columns:
        id_column = "building_id"
    if id_column is not None and id_column not in frame.columns:
        raise InputError(
            f"{source.path}: cadastre buildings have no column {id_column!r} "
            f"(columns: {', '.join(map(str, frame.columns.drop('geometry')))})"
        )
    fid = np.arange(len(frame))
    ids = frame[id_column].astype("string") if id_column else pd.Series(pd.NA, index=frame.index)
    ids = ids.fillna(pd.Series([f"fid:{i}" for i in fid], index=frame.index)).astype(str)
    issues = IssueLog(len(frame))
    repeat = ids.groupby(ids).cumcount().to_numpy()
    for i in np.flatnonzero(repeat):
        issues.add(i, f"building id {ids.iloc[i]!r} repeated")
    ids = ids.where(repeat == 0, ids + "~" + repeat.astype(str))
    geoms, repaired = repair_polygons(frame.geometry.to_numpy(), issues)
    geoms, merged = merge_close_vertices(geoms, issues)
    repaired |= merged
    flag_slivers_and_duplicates(geoms, ids.to_numpy(), issues, sliver_area=options.sliver_area)
    attributes = frame.drop(columns=["geometry", *([id_column] if id_column else [])])
    out = gpd.GeoDataFrame(
        {"building_id": ids.to_numpy(), "source_fid": fid},
        geometry=gpd.GeoSeries(geoms, crs=target),
    )
    out = pd.concat([out, attributes.reset_index(drop=True)], axis=1)
    out["footprint_repaired"] = repaired
    out["footprint_issue"] = issues.texts()
    return gpd.GeoDataFrame(out, geometry="geometry", crs=target)


def read_parcels(source: Source, target: pyproj.CRS, /) -> gpd.GeoDataFrame:
    """Read cadastral parcels, repairing invalid polygons (``parcel_issue`` says what was done)."""
    frame = read_layer(
        source.path,
        layer=source.options.get("parcels_layer"),
        target=target,
        crs=source.crs,
        what="cadastre parcels",
        encoding=source.options.get("encoding"),
    )
    issues = IssueLog(len(frame))
    geoms, _ = repair_polygons(frame.geometry.to_numpy(), issues)
    frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=target))
    frame["parcel_issue"] = issues.texts()
    return frame


def repair_polygons(
    geoms: NDArray[np.object_], issues: IssueLog, /
) -> tuple[NDArray[np.object_], NDArray[np.bool_]]:
    """Make polygons valid (GEOS ``make_valid``, structure method) and drop non-polygons.

    Returns the repaired geometries (``None`` where nothing polygonal is left) and a mask of
    the repaired rows; every change is recorded in ``issues`` with GEOS's reason.
    """
    geoms = np.asarray(geoms, dtype=object).copy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    issues.add_many(np.flatnonzero(missing), ["empty geometry"] * int(missing.sum()))
    geoms[missing] = None
    kind = np.asarray(shapely.get_type_id(geoms))
    not_polygonal = ~missing & ~np.isin(kind, (3, 6))
    for row in np.flatnonzero(not_polygonal):
        issues.add(row, f"not a polygon ({geoms[row].geom_type})")
    geoms[not_polygonal] = None
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    rows = np.flatnonzero(invalid)
    if rows.size:
        reasons = shapely.is_valid_reason(geoms[rows])
        fixed = _polygonal_part(shapely.make_valid(geoms[rows], method="structure"))
        for row, reason, geom in zip(rows, reasons, fixed, strict=True):
            if geom is None:
                issues.add(row, f"invalid ({reason}); nothing polygonal left after repair")
            else:
                issues.add(row, f"repaired: {reason}")
        geoms[rows] = fixed
    return geoms, invalid & ~shapely.is_missing(geoms)


#: the grid (m) of the twin's coordinates: its solids are checked and written to millimetres
#: (``decimals=3`` of :func:`twin.validity.check`, ``twin validate``)
GRID = 0.001


def merge_close_vertices(
    geoms: NDArray[np.object_], issues: IssueLog, /
) -> tuple[NDArray[np.object_], NDArray[np.bool_]]:
    """Footprints with an edge shorter than :data:`GRID` snapped to that grid (GEOS
    snap-rounding, ``shapely.set_precision``: valid output), so that no wall of a solid is
    narrower than the millimetre it is checked and written to (such a wall collapses there,
    and the solid is invalid). The others are left as they are; every footprint snapped is
    recorded in ``issues``. (GEOS's ``minimum_clearance`` would also find a vertex that near
    another edge, but takes some 0.2 ms a footprint: minutes for a city.)

    Returns the footprints and a mask of those snapped.
    """
    geoms = np.asarray(geoms, dtype=object).copy()
    # consecutive coordinates of a footprint this near: its candidates (one pair in a
    # footprint of several rings joins two rings' ends), measured ring by ring below
    xy, owner = shapely.get_coordinates(geoms, return_index=True)
    near = (owner[1:] == owner[:-1]) & (np.hypot(*np.diff(xy, axis=0).T) < GRID)
    candidates = np.unique(owner[1:][near])
    shortest = np.full(len(geoms), np.inf)
    shortest[candidates] = _shortest_edges(geoms[candidates])
    rows = np.flatnonzero(shortest < GRID)
    if rows.size:
        snapped = _polygonal_part(shapely.set_precision(geoms[rows], GRID))
        for row, geom in zip(rows, snapped, strict=True):
            what = f"an edge of {shortest[row] * 1000:.2f} mm merged to the millimetre grid"
            issues.add(row, what if geom is not None else f"{what}; nothing polygonal left")
        geoms[rows] = snapped
    return geoms, shortest < GRID


def _shortest_edges(geoms: NDArray[np.object_], /) -> NDArray[np.float64]:
    """The length (m) of the shortest edge of each polygon or multipolygon, any ring."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    rings, part = shapely.get_rings(parts, return_index=True)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    length = np.hypot(*np.diff(xy, axis=0).T)
    same = ring[1:] == ring[:-1]
    shortest = np.full(len(geoms), np.inf)
    np.minimum.at(shortest, owner[part[ring[1:][same]]], length[same])
    return shortest


def _polygonal_part(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """The polygons of each geometry (dropping collapsed lines and points), or ``None``."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    polygons, sub = shapely.get_parts(parts, return_index=True)
    owner = owner[sub]
    keep = shapely.get_type_id(polygons) == 3
    out = np.full(len(geoms), None, dtype=object)
    if keep.any():
        merged = shapely.multipolygons(polygons[keep], indices=owner[keep])
        count = np.bincount(owner[keep], minlength=len(geoms))
        out[: len(merged)][count[: len(merged)] > 0] = merged[count[: len(merged)] > 0]
        single = count == 1
        out[single] = shapely.get_geometry(out[single].astype(object), 0)
    return out


def flag_slivers_and_duplicates(
    geoms: NDArray[np.object_],
    ids: NDArray[np.object_],
    issues: IssueLog,
    /,
    *,
    sliver_area: float,
    duplicate_share: float = 0.9,
    overlap_area: float = 1.0,
) -> None:
    """Flag slivers, duplicates and overlapping footprints (vectorised over an STRtree).

    A pair is a duplicate when its intersection covers ``duplicate_share`` of the smaller
    footprint; the later one is flagged. Smaller overlaps above ``overlap_area`` m² are
    flagged on both. Touching footprints (shared walls) are normal and not flagged.
    """
    area = shapely.area(geoms)
    sliver = ~shapely.is_missing(geoms) & (np.nan_to_num(area, nan=np.inf) < sliver_area)
    issues.add_many(np.flatnonzero(sliver), [f"sliver ({a:.2f} m²)" for a in area[sliver]])
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    shared = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    smaller = np.minimum(area[left], area[right])
    dup = shared >= duplicate_share * smaller
    issues.add_many(right[dup], [f"duplicate of {ids[i]}" for i in left[dup]])
    over = ~dup & (shared > overlap_area)
    for a, b, s in zip(left[over], right[over], shared[over], strict=True):
        issues.add(a, f"overlaps {ids[b]} by {s:.1f} m²")
        issues.add(b, f"overlaps {ids[a]} by {s:.1f} m²")
