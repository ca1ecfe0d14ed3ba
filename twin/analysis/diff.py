"""What changed between two twins: the buildings added, removed and changed.

Buildings are matched by ``building_id``. A matched building has changed when its footprint,
its height (``height``, m above ground, ``docs/model.md``), one of its LoD solids (``lod12``,
``lod13``, ``lod22``, and the imported ``lod0``, ``lod1``, ``lod2``) or another of its
attributes differs; :class:`TwinDiff` lists each such building with what changed. Everything is
compared over arrays (shapely 2, numpy, pandas): no Python loop per building, so twins of
100,000 buildings diff in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from twin.analysis.records import to_records
from twin.crs import same_horizontal, transform_geometry, vertical
from twin.errors import InputError
from twin.layers import LOD_LAYERS, layer_order
from twin.model import CityModel

#: How a building differs between the two twins.
CHANGES = ("added", "removed", "changed")
#: The column of a building's height (m above its ground height, ``docs/model.md``).
HEIGHT = "height"
#: Columns of ``buildings`` that are not compared as attributes: the key, the height (compared
#: with its own threshold), ``source_fid``, the building's position in the source layer,
#: which moves for every building after one added to or removed from the cadastre, and
#: ``source_digest``, the digest of the record whose changes are listed themselves.
NOT_ATTRIBUTES = frozenset({"building_id", HEIGHT, "source_fid", "source_digest"})
#: Where a twin's GeoJSON goes: RFC 7946 § 4, WGS 84 longitude and latitude.
CRS84 = pyproj.CRS("OGC:CRS84")
#: Buildings named at most in an error message.
_NAMED = 5


@dataclass(frozen=True)
class TwinDiff:
    """The differences of two twins' buildings (:func:`diff`).

    Attributes
    ----------
    buildings
        One row per building added, removed or changed, ordered by ``building_id``, in the
        twins' CRS: ``building_id``; ``change`` (one of :data:`CHANGES`); ``changed``, what
        changed, of :attr:`kinds`, ``", "``-joined (empty for a building added or removed);
        ``attributes``, the attribute columns that changed, ``", "``-joined;
        ``height_old_m``, ``height_new_m`` and ``height_change_m`` (m, new minus old; NaN
        where a twin has no height); ``footprint_area_old_m2`` and ``footprint_area_new_m2``
        (m²; NaN for the twin without the building); the geometry: the new footprint, the
        old one for a building removed.
    unchanged
        ``(k,) object``: the footprints of the buildings in both twins that did not change.
    kinds
        What is compared, in order: ``footprint``, ``height``, each LoD layer either twin has
        (``lod12``...) and ``attributes``.
    counts
        Buildings per change and ``unchanged``.
    by_kind
        Changed buildings per kind of change (a building may count under several).
    height_threshold
        The height change (m) beyond which a height changed.
    tolerance
        The distance (m) within which coordinates are equal.
    """

    buildings: gpd.GeoDataFrame
    unchanged: NDArray[np.object_]
    kinds: tuple[str, ...]
    counts: dict[str, int]
    by_kind: dict[str, int]
    height_threshold: float
    tolerance: float

    @property
    def crs(self) -> pyproj.CRS:
        """The CRS of both twins (of the geometries)."""
        return self.buildings.crs

    def __bool__(self) -> bool:
        """Whether any building was added, removed or changed."""
        return len(self.buildings) > 0

    def to_dict(self) -> dict[str, Any]:
        """The thresholds, the counts and one object per building (without geometry), with
        ``changed`` and ``attributes`` as lists: plain data for JSON."""
        records = to_records(self.buildings)
        for record in records:  # the changed buildings only, and two splits each
            record["changed"] = _listed(record["changed"])
            record["attributes"] = _listed(record["attributes"])
        return {
            "crs": self.crs.name,
            "thresholds": {"height_m": self.height_threshold, "tolerance_m": self.tolerance},
            "summary": self.counts,
            "changed_by_kind": self.by_kind,
            "buildings": records,
        }

    def to_geojson(self) -> str:
        """The buildings added, removed and changed as an RFC 7946 FeatureCollection in CRS84
        (longitude, latitude), with their properties (``changed`` and ``attributes`` as
        text, as a GIS shows them).

        Raises
        ------
        InputError
            When a footprint lies outside the area where its CRS can be turned into WGS 84.
        """
        geoms, _ = transform_geometry(self.buildings.geometry.to_numpy(), self.crs, CRS84)
        absent = shapely.is_missing(geoms) | shapely.is_empty(geoms)  # a footprint-less row
        bad = ~np.isfinite(shapely.bounds(geoms)).all(axis=1) & ~absent
        if bad.any():
            named = ", ".join(self.buildings["building_id"].to_numpy()[bad][:_NAMED])
            raise InputError(
                f"buildings {named}: outside the area where {self.crs.name} can be turned "
                "into WGS 84"
            )
        texts = np.where(absent, "null", shapely.to_geojson(np.where(absent, None, geoms)))
        features = [
            {"type": "Feature", "properties": properties, "geometry": orjson.Fragment(text)}
            for properties, text in zip(to_records(self.buildings), texts, strict=True)
        ]
        return orjson.dumps({"type": "FeatureCollection", "features": features}).decode()


def _listed(text: str | None) -> list[str]:
    """``"a, b"`` as ``["a", "b"]``; nothing as ``[]``."""
    return text.split(", ") if text else []


def diff(
    old: CityModel,
    new: CityModel,
    /,
    *,
    height_threshold: float = 0.5,
    tolerance: float = 0.001,
    names: tuple[str, str] = ("old", "new"),
) -> TwinDiff:
    """The buildings added to, removed from and changed between two twins.

    Buildings are matched by ``building_id``. A building in both twins has changed when

    - ``footprint``: its footprint differs, vertex by vertex after normalising (GEOS
      ``equals_exact``), by more than ``tolerance``;
    - ``height``: its ``height`` changed by more than ``height_threshold``, or it has one in
      one twin only;
    - ``lod12``, ``lod13``, ``lod22`` (and any other LoD layer of :data:`twin.layers.LOD_LAYERS`
      either twin has): its solid differs, a vertex's x, y or z by more than ``tolerance``;
      a solid present in one twin only counts;
    - ``attributes``: another column of ``buildings`` that both twins have differs (missing
      equals missing; :data:`NOT_ATTRIBUTES` are not compared).

    Parameters
    ----------
    old, new
        The two twins, in the same CRS.
    height_threshold
        Height changes up to this (m) are noise, not a change.
    tolerance
        Coordinates within this distance (m, in each of x, y and z) are equal.
    names
        How error messages name the two twins (their locations, say).

    Returns
    -------
    TwinDiff
        The buildings that differ, what differs, and the counts.

    Raises
    ------
    InputError
        When the twins are in different CRSs (both named), when a twin repeats a
        ``building_id`` or has a building without one (some named), when a threshold is not
        a finite number >= 0 (m), or when ``height`` is not a number.

    Examples
    --------
    >>> crs = pyproj.CRS("EPSG:31258+5778")
    >>> def twin(heights):
    ...     ids = [f"B{k}" for k in range(len(heights))]
    ...     boxes = [shapely.box(10 * k, 0, 10 * k + 8, 8) for k in range(len(heights))]
    ...     frame = gpd.GeoDataFrame({"building_id": ids, "height": heights}, geometry=boxes)
    ...     return CityModel(crs=crs, layers={"buildings": frame.set_crs(crs)})
    >>> result = diff(twin([9.0, 6.0, 12.0]), twin([9.2, 9.0]))
    >>> result.counts
    {'added': 0, 'removed': 1, 'changed': 1, 'unchanged': 1}
    >>> result.buildings[["building_id", "change", "changed", "height_change_m"]].to_numpy()
    array([['B1', 'changed', 'height', 3.0],
           ['B2', 'removed', '', nan]], dtype=object)
    """
    for value, what in ((height_threshold, "height_threshold"), (tolerance, "tolerance")):
        if not (math.isfinite(value) and value >= 0):
            raise InputError(f"{what} {value!r}: must be a finite number >= 0 (m)")
    _check_crs(old.crs, new.crs, names)
    a, b = old.buildings, new.buildings
    ids_a, ids_b = _ids(a, names[0]), _ids(b, names[1])
    in_old = pd.Index(ids_a).get_indexer(ids_b)  # each new building's row in the old twin
    in_new = pd.Index(ids_b).get_indexer(ids_a)
    added, removed = np.flatnonzero(in_old < 0), np.flatnonzero(in_new < 0)
    ni = np.flatnonzero(in_old >= 0)
    oi = in_old[ni]

    lods = [n for n in layer_order(list(LOD_LAYERS.values())) if n in old.layers or n in new.layers]
    kinds = ("footprint", HEIGHT, *lods, "attributes")
    foot_a, foot_b = _multi(a.geometry.to_numpy()), _multi(b.geometry.to_numpy())
    h_a, h_b = _heights(a, names[0]), _heights(b, names[1])
    flags = [
        _differ(foot_a[oi], foot_b[ni], tolerance, heights=False),
        (np.abs(h_b[ni] - h_a[oi]) > height_threshold) | (np.isnan(h_a[oi]) != np.isnan(h_b[ni])),
    ]
    for layer in lods:
        solids_a = _solids(old, layer, ids_a, names[0])[oi]
        solids_b = _solids(new, layer, ids_b, names[1])[ni]
        flags.append(_differ(solids_a, solids_b, tolerance, heights=True))
    columns, attribute_flags = _attributes(a, b, oi, ni)
    flags.append(attribute_flags.any(axis=1))
    matrix = np.column_stack(flags)
    changed = matrix.any(axis=1)
    oc, nc = oi[changed], ni[changed]

    area_a, area_b = shapely.area(foot_a), shapely.area(foot_b)
    nothing = np.full(len(added) + len(removed), "", dtype=object)
    none_added, none_removed = np.full(len(added), np.nan), np.full(len(removed), np.nan)
    frame = gpd.GeoDataFrame(
        {
            "building_id": np.concatenate([ids_b[nc], ids_b[added], ids_a[removed]]),
            "change": np.repeat(
                ["changed", "added", "removed"], [len(nc), len(added), len(removed)]
            ),
            "changed": np.concatenate([_joined(matrix[changed], kinds), nothing]),
            "attributes": np.concatenate([_joined(attribute_flags[changed], columns), nothing]),
            "height_old_m": np.concatenate([h_a[oc], none_added, h_a[removed]]),
            "height_new_m": np.concatenate([h_b[nc], h_b[added], none_removed]),
            "footprint_area_old_m2": np.concatenate([area_a[oc], none_added, area_a[removed]]),
            "footprint_area_new_m2": np.concatenate([area_b[nc], area_b[added], none_removed]),
        },
        geometry=np.concatenate([foot_b[nc], foot_b[added], foot_a[removed]]),
        crs=new.crs,
    )
    frame.insert(6, "height_change_m", frame["height_new_m"] - frame["height_old_m"])
    frame = frame.iloc[np.argsort(frame["building_id"].to_numpy(dtype=object), kind="stable")]
    counts = dict(zip(CHANGES, (len(added), len(removed), len(nc)), strict=True))
    counts["unchanged"] = len(ni) - len(nc)
    return TwinDiff(
        buildings=frame.reset_index(drop=True),
        unchanged=foot_b[ni[~changed]],
        kinds=kinds,
        counts=counts,
        by_kind=dict(zip(kinds, matrix.sum(axis=0).tolist(), strict=True)),
        height_threshold=float(height_threshold),
        tolerance=float(tolerance),
    )


def _check_crs(a: pyproj.CRS, b: pyproj.CRS, names: tuple[str, str], /) -> None:
    """Raise unless both CRSs are the same horizontally and name the same vertical datum
    (or none): heights and coordinates are compared as they are, never transformed."""
    va, vb = vertical(a), vertical(b)
    same_height = (va is None and vb is None) or (
        va is not None and vb is not None and va.equals(vb)
    )
    if not (same_horizontal(a, b) and same_height):
        raise InputError(
            f"the twins are in different CRSs: {names[0]} in {a.name}, {names[1]} in {b.name}; "
            "compare twins in one CRS"
        )


def _ids(buildings: pd.DataFrame, name: str, /) -> NDArray[np.object_]:
    """The ``building_id`` of each building ``(n,) object``, checked: present and unique."""
    if "building_id" not in buildings.columns:
        raise InputError(f"{name}: the buildings have no building_id column")
    ids = buildings["building_id"].to_numpy(dtype=object, na_value=None)
    missing = pd.isna(ids)
    if missing.any():
        raise InputError(f"{name}: {int(missing.sum())} building(s) without a building_id")
    repeated = pd.unique(ids[pd.Index(ids).duplicated()])
    if len(repeated):
        named = ", ".join(map(str, repeated[:_NAMED])) + (", ..." if len(repeated) > _NAMED else "")
        raise InputError(
            f"{name}: building_id repeated ({len(repeated)} ids: {named}); buildings are "
            "matched by building_id, which must be unique"
        )
    return ids


def _heights(buildings: pd.DataFrame, name: str, /) -> NDArray[np.float64]:
    """Each building's ``height`` (m), NaN where it has none (or the twin has no column)."""
    if HEIGHT not in buildings.columns:
        return np.full(len(buildings), np.nan)
    try:
        return buildings[HEIGHT].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise InputError(f"{name}: buildings.{HEIGHT} holds values that are not numbers") from None


def _solids(model: CityModel, layer: str, ids: NDArray[np.object_], name: str, /):
    """The solid of each of the buildings ``ids`` in LoD layer ``layer`` ``(n,) object``:
    ``None`` where it has none (or the twin has no such layer)."""
    solids = np.full(len(ids), None, dtype=object)
    if layer not in model.layers:
        return solids
    frame = model.layer(layer)
    keys = frame["building_id"].to_numpy(dtype=object, na_value=None)
    index = pd.Index(keys)
    if index.has_duplicates:
        repeated = ", ".join(map(str, pd.unique(keys[index.duplicated()])[:_NAMED]))
        raise InputError(f"{name}: {layer} has more than one solid for a building ({repeated})")
    rows = index.get_indexer(ids)
    found = rows >= 0
    solids[found] = frame.geometry.to_numpy()[rows[found]]
    return solids


def _multi(geoms: NDArray[np.object_], /) -> NDArray[np.object_]:
    """``geoms`` with each Polygon made a one-part MultiPolygon (a store writes footprints
    as MultiPolygons; one read back equals one made in memory)."""
    geoms = np.asarray(geoms, dtype=object).copy()
    polygon = shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON
    if polygon.any():
        geoms[polygon] = shapely.multipolygons(geoms[polygon][:, np.newaxis])
    return geoms


def _differ(
    a: NDArray[np.object_], b: NDArray[np.object_], tolerance: float, /, *, heights: bool
) -> NDArray[np.bool_]:
    """Whether each geometry of ``a`` differs from its pair in ``b``: by more than
    ``tolerance`` in a vertex's x or y (and z, with ``heights``) after normalising, by its
    structure (parts, rings, vertices), or by being missing (``None`` or empty) in one only.

    Pairs identical to the bit (most, between two builds) are settled first, cheaply; GEOS's
    ``equals_exact`` compares the others' x and y only, and where it holds the two have the
    same structure, so their z coordinates pair up one to one.
    """
    gone_a = shapely.is_missing(a) | shapely.is_empty(a)
    gone_b = shapely.is_missing(b) | shapely.is_empty(b)
    differ = gone_a != gone_b
    both = np.flatnonzero(~gone_a & ~gone_b)
    rest = both[~shapely.equals_identical(a[both], b[both])]
    na, nb = shapely.normalize(a[rest]), shapely.normalize(b[rest])
    same = shapely.equals_exact(na, nb, tolerance=tolerance)
    differ[rest[~same]] = True
    if heights and same.any():
        rows = rest[same]
        za, owner = shapely.get_coordinates(na[same], include_z=True, return_index=True)
        zb = shapely.get_coordinates(nb[same], include_z=True)
        za, zb = za[:, 2], zb[:, 2]
        moved = (np.abs(za - zb) > tolerance) | (np.isnan(za) != np.isnan(zb))
        differ[rows] |= np.bincount(owner, weights=moved, minlength=len(rows)) > 0
    return differ


def _attributes(
    a: pd.DataFrame, b: pd.DataFrame, oi: NDArray[np.intp], ni: NDArray[np.intp], /
) -> tuple[list[str], NDArray[np.bool_]]:
    """The attribute columns both twins' buildings have, and whether each differs for each
    matched building ``(m, k) bool`` (missing equals missing; ``1`` equals ``1.0``)."""
    geometry = {a.geometry.name, b.geometry.name}
    columns = [c for c in a.columns if c in b.columns and c not in NOT_ATTRIBUTES | geometry]
    flags = np.zeros((len(oi), len(columns)), dtype=bool)
    for k, column in enumerate(columns):  # one comparison of m values per column
        va = a[column].to_numpy(dtype=object, na_value=None)[oi]
        vb = b[column].to_numpy(dtype=object, na_value=None)[ni]
        flags[:, k] = ~(va == vb).astype(bool)
    return columns, flags


def _joined(flags: NDArray[np.bool_], names: Sequence[str], /) -> NDArray[np.object_]:
    """For each row of ``flags`` ``(n, k)``, the ``names`` of its true columns joined by
    ``", "``: one join per distinct row, not per building.

    Examples
    --------
    >>> _joined(np.array([[True, False, True], [False, False, False]]), ["a", "b", "c"])
    array(['a, c', ''], dtype=object)
    """
    if len(flags) == 0:
        return np.array([], dtype=object)
    rows, inverse = np.unique(flags, axis=0, return_inverse=True)
    labels = np.array([", ".join(np.asarray(names)[row]) for row in rows], dtype=object)
    return labels[inverse.reshape(-1)]
