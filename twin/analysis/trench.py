"""Trench check: what a planned trench will hit before anyone digs.

One trench (its centreline, width and depth) is checked against the utility lines, trees and
parcels of a twin: clearances with position and depth uncertainty, hand-digging zones, root
protection zones, parcels and excavated volume, with a verdict that is never "green" on weak
data. The rules and their sources come from :class:`twin.analysis.rules.Rules`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
import shapely.geometry
from numpy.typing import NDArray

from twin.analysis.records import to_records
from twin.analysis.rules import Rules
from twin.analysis.section import section
from twin.crs import transformer
from twin.errors import InputError
from twin.model import CityModel
from twin.processes import Process, register

SEVERITIES = ("critical", "warning", "info")
PUBLIC_LAND_USE = ("road", "square", "park")
SEARCH = 3.0
"""Metres beyond the largest clearance within which lines and trees are reported."""


@dataclass(frozen=True)
class ExcavationIndex:
    """The layers a trench check reads, with spatial indexes built once and reused.

    A service checking many trenches builds this once per twin.
    """

    utilities: gpd.GeoDataFrame
    trees: gpd.GeoDataFrame
    parcels: gpd.GeoDataFrame
    terrain: Any
    utility_tree: shapely.STRtree
    tree_tree: shapely.STRtree
    parcel_tree: shapely.STRtree
    extent: shapely.Geometry

    @classmethod
    def from_model(cls, model: CityModel, /) -> ExcavationIndex:
        """Index the utilities, trees and parcels of ``model`` (missing layers are empty)."""

        def layer(name: str) -> gpd.GeoDataFrame:
            frame = model.layers.get(name)
            if frame is None:
                return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=model.crs))
            return frame.reset_index(drop=True)

        utilities, trees, parcels = layer("utilities"), layer("trees"), layer("parcels")
        if model.terrain is not None:
            extent = shapely.box(*model.terrain.bounds)
        else:
            extent = shapely.box(*parcels.total_bounds) if len(parcels) else shapely.Polygon()
        return cls._indexed(utilities, trees, parcels, model.terrain, extent)

    @classmethod
    def _indexed(
        cls,
        utilities: gpd.GeoDataFrame,
        trees: gpd.GeoDataFrame,
        parcels: gpd.GeoDataFrame,
        terrain: Any,
        extent: shapely.Geometry,
    ) -> ExcavationIndex:
        return cls(
            utilities=utilities,
            trees=trees,
            parcels=parcels,
            terrain=terrain,
            utility_tree=shapely.STRtree(utilities.geometry.to_numpy()),
            tree_tree=shapely.STRtree(trees.geometry.to_numpy()),
            parcel_tree=shapely.STRtree(parcels.geometry.to_numpy()),
            extent=extent,
        )

    def within(self, area: shapely.Geometry, /) -> ExcavationIndex:
        """The index of the features that meet ``area``: a caller limited to a service area
        is checked against, and told of, nothing beyond it."""

        def meeting(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
            keep = shapely.intersects(frame.geometry.to_numpy(), area)
            return frame[keep].reset_index(drop=True)

        return self._indexed(
            meeting(self.utilities),
            meeting(self.trees),
            meeting(self.parcels),
            self.terrain,
            shapely.intersection(self.extent, area),
        )


@dataclass
class TrenchCheck:
    """The result of :func:`check_trench`; tables are GeoDataFrames in the model CRS."""

    trench_id: str
    width: float
    depth: float
    method: str
    support: str
    length: float
    volume: float
    surface_area: float
    body: gpd.GeoDataFrame
    utilities: gpd.GeoDataFrame
    hand_digging: gpd.GeoDataFrame
    trees: gpd.GeoDataFrame
    parcels: gpd.GeoDataFrame
    data_quality: dict[str, Any]
    status: str
    verdict: str
    rules_used: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-serialisable data (tables as lists of records)."""

        return {
            "trench_id": self.trench_id,
            "verdict": self.verdict,
            "status": self.status,
            "width_m": self.width,
            "depth_m": self.depth,
            "method": self.method,
            "support": self.support,
            "length_m": round(self.length, 3),
            "volume_m3": round(self.volume, 3),
            "surface_area_m2": round(self.surface_area, 3),
            "utilities": to_records(self.utilities),
            "hand_digging": to_records(self.hand_digging),
            "trees": to_records(self.trees),
            "parcels": to_records(self.parcels),
            "data_quality": self.data_quality,
            "rules": self.rules_used,
        }


def check_trench(
    index: ExcavationIndex,
    centreline: shapely.LineString | shapely.MultiLineString,
    /,
    *,
    width: float,
    depth: float,
    method: str = "machine",
    support: str = "slope",
    rules: Rules | None = None,
    trench_id: str = "trench",
) -> TrenchCheck:
    """Check a planned trench against the utilities, trees and parcels of a twin.

    Parameters
    ----------
    index
        The twin's layers, indexed (:meth:`ExcavationIndex.from_model`).
    centreline
        The trench axis in the model CRS.
    width, depth
        Trench bottom width and depth below ground (m).
    method
        ``"machine"`` or ``"hand"`` digging (machines damage roots beyond the wall).
    support
        ``"slope"`` (walls sloped when deeper than the support depth) or ``"shoring"``.
    rules
        The rules; the shipped defaults when ``None``.
    trench_id
        Names the trench in the report.

    Raises
    ------
    InputError
        Empty, self-intersecting or zero-length centreline, non-positive width or depth, an
        unknown method or support, or a trench outside the twin.
    """
    rules = rules or Rules.load()
    line = _check_input(index, centreline, width, depth, method, support, trench_id)
    used: dict[str, str] = {}

    def rule(name: str) -> Any:
        used[name] = rules.cite(name)
        return rules.value(name)

    cut = section(width, depth, support=support, rules=rules, used=used)
    run = cut.run
    bottom = shapely.buffer(line, width / 2.0, cap_style="flat")
    surface = shapely.buffer(line, width / 2.0 + run, cap_style="flat")
    working = shapely.buffer(
        line, width / 2.0 + run + rule("trench.working_strip"), cap_style="flat"
    )
    length = float(line.length)
    profile = _ground_profile(index, line, trench_id)
    surface_length = _length_3d(profile)
    body = gpd.GeoDataFrame(
        {"part": ["bottom", "surface", "working area"]},
        geometry=[bottom, surface, working],
        crs=index.utilities.crs,
    )
    utilities, hand = _utilities(index, bottom, depth, run, rule)
    trees = _trees(index, surface, method, rule)
    parcels = _parcels(index, working)
    quality = _data_quality(utilities, trees, rule)
    status, verdict = _verdict(trench_id, utilities, trees, quality)
    return TrenchCheck(
        trench_id=trench_id,
        width=width,
        depth=depth,
        method=method,
        support=cut.support,
        length=length,
        volume=cut.area * length,
        surface_area=cut.top_width * surface_length,
        body=body,
        utilities=utilities,
        hand_digging=hand,
        trees=trees,
        parcels=parcels,
        data_quality=quality,
        status=status,
        verdict=verdict,
        rules_used=used,
    )


def _check_input(index, centreline, width, depth, method, support, trench_id):
    if centreline is None or shapely.is_empty(centreline):
        raise InputError(f"trench {trench_id}: empty geometry")
    if shapely.get_type_id(centreline) not in (1, 5):
        raise InputError(
            f"trench {trench_id}: give the trench centreline as a LineString, "
            f"not a {centreline.geom_type}"
        )
    line = (
        shapely.line_merge(centreline)
        if centreline.geom_type == "MultiLineString"
        else (centreline)
    )
    if not shapely.is_simple(line):
        raise InputError(f"trench {trench_id}: the centreline intersects itself")
    if not (width > 0 and depth > 0):
        raise InputError(
            f"trench {trench_id}: width and depth must be positive (width {width}, depth {depth})"
        )
    if method not in ("machine", "hand"):
        raise InputError(f"trench {trench_id}: method must be 'machine' or 'hand', not {method!r}")
    if support not in ("slope", "shoring"):
        raise InputError(f"trench {trench_id}: support must be 'slope' or 'shoring'")
    if not shapely.within(line, index.extent):
        raise InputError(f"trench {trench_id}: the trench lies (partly) outside the twin")
    if not shapely.length(shapely.get_parts(line)).all():
        raise InputError(f"trench {trench_id}: (a part of) the centreline has no length")
    return line


def _ground_profile(index: ExcavationIndex, line, trench_id: str) -> NDArray[np.float64]:
    """Points ``(k, 3)`` every 0.5 m along the centreline with their terrain height."""
    xy = shapely.get_coordinates(shapely.segmentize(line, 0.5))
    if index.terrain is None:
        return np.c_[xy, np.zeros(len(xy))]
    z = index.terrain.sample(xy)
    if np.isnan(z).any():
        raise InputError(f"trench {trench_id}: the terrain has no height under part of it")
    return np.c_[xy, z]


def _length_3d(profile: NDArray[np.float64]) -> float:
    return float(np.linalg.norm(np.diff(profile, axis=0), axis=1).sum())


def _utilities(
    index: ExcavationIndex, bottom, depth: float, run: float, rule
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Every line crossed by or too close to the excavation, and the hand-digging zones."""
    crs = index.utilities.crs
    reach = (
        rule("clearance.long_distance_main")
        + max(
            rule(f"position_uncertainty.{k}") for k in ("measured", "design", "default", "unknown")
        )
        + run
        + SEARCH
    )
    rows = index.utility_tree.query(bottom, predicate="dwithin", distance=reach)
    lines = index.utilities.iloc[np.sort(rows)].reset_index(drop=True)
    n = len(lines)
    geoms = lines.geometry.to_numpy()
    network = lines.get("network", pd.Series(["unknown"] * n)).astype(str).to_numpy()
    source = lines.get("depth_source", pd.Series(["unknown"] * n)).fillna("unknown")
    source = source.astype(str).to_numpy()
    status = lines.get("status", pd.Series(["in_service"] * n)).astype(str).to_numpy()
    dia = lines.get("diameter_mm", pd.Series(np.nan, index=range(n))).to_numpy(float) / 1000.0
    dia = np.where(np.isfinite(dia), dia, 0.0)
    cover = lines.get("depth_m", pd.Series(np.nan, index=range(n))).to_numpy(float)
    accuracy = lines.get("depth_accuracy_m", pd.Series(np.nan, index=range(n))).to_numpy(float)
    accuracy = np.where(np.isfinite(accuracy), accuracy, rule("depth_accuracy.default"))
    known = np.isfinite(cover) & (source != "unknown")
    # Look-ups per distinct value (a handful of networks and sources), then one gather.
    nets, net_of = np.unique(network, return_inverse=True)
    typical = np.array([_typical(rule, net) for net in nets], dtype=float).reshape(-1, 2)[net_of]
    top_min = np.where(known, cover - accuracy, typical[:, 0])
    top_max = np.where(known, cover + accuracy, typical[:, 1])
    bottom_max = top_max + dia
    kinds, kind_of = np.unique(source, return_inverse=True)
    h_unc = np.array(
        [
            rule(f"position_uncertainty.{k}")
            if k in ("measured", "design", "default")
            else rule("position_uncertainty.unknown")
            for k in kinds
        ],
        dtype=float,
    )[kind_of]
    # Clear horizontal distance from the pipe wall to the excavation wall at the pipe's
    # shallowest possible depth, where a sloped trench is widest.
    to_bottom = shapely.distance(geoms, bottom)
    widening = np.where(run > 0, run * np.clip(1.0 - np.clip(top_min, 0, None) / depth, 0, 1), 0.0)
    horizontal = to_bottom - dia / 2.0 - widening
    crosses = shapely.intersects(geoms, bottom)
    long_main = dia * 1000.0 >= rule("long_distance_main.diameter")
    strip = lines.get("protection_strip_m", pd.Series(np.nan, index=range(n))).to_numpy(float)
    required = np.where(
        long_main, rule("clearance.long_distance_main"), rule("clearance.horizontal")
    )
    required = np.fmax(required, strip)
    inside = crosses & (top_min < depth)
    below = crosses & ~inside
    vertical = top_min - depth
    ids = lines.get("utility_id", pd.Series(range(n))).astype(str).to_numpy()
    abandoned = status == "abandoned"
    severity = np.full(n, "info", dtype=object)
    finding = np.full(n, "nearby, clear", dtype=object)
    rule_name = np.full(n, "", dtype=object)
    # Later assignments are the more serious findings and win.
    near = ~crosses & (horizontal < required + h_unc)
    severity[near] = "warning"
    finding[near] = "closer than the clearance to a parallel line"
    rule_name[near] = np.where(
        long_main[near],
        _cited(rule, "clearance.long_distance_main"),
        _cited(rule, "clearance.horizontal"),
    )
    ok_below = below & (vertical >= rule("clearance.vertical"))
    finding[ok_below] = "crosses under the trench with enough vertical clearance"
    rule_name[ok_below] = "clearance.vertical"
    low = below & ~ok_below
    severity[low] = "critical"
    finding[low] = "crosses under the trench with too little vertical clearance"
    rule_name[low] = "clearance.vertical"
    touch = ~crosses & (horizontal < h_unc)
    severity[touch] = "critical"
    finding[touch] = "may lie inside the excavation (within its position uncertainty)"
    severity[inside] = "critical"
    finding[inside] = "inside the excavation: expose by hand and secure"
    rule_name[inside | touch] = _cited(rule, "hand_digging.distance")
    reported = crosses | (horizontal < required + h_unc + SEARCH)
    # A line of unknown depth is never reported as clear.
    unknown = ~known & reported
    severity[unknown & (severity == "info")] = "warning"
    finding[unknown] = [f + "; depth unknown: exploratory slot required" for f in finding[unknown]]
    severity[abandoned] = "info"
    finding[abandoned] = [f + " (abandoned line)" for f in finding[abandoned]]
    table = gpd.GeoDataFrame(
        {
            "utility_id": ids,
            "network": network,
            "operator": lines.get("operator", pd.Series([None] * n)).to_numpy(),
            "status": status,
            "diameter_m": dia,
            "depth_source": source,
            "year_laid": lines.get("year_laid", pd.Series(np.nan, index=range(n))).to_numpy(float),
            "depth_top_min_m": top_min,
            "depth_top_max_m": top_max,
            "depth_bottom_max_m": bottom_max,
            "position_uncertainty_m": h_unc,
            "crosses": crosses,
            "horizontal_clearance_m": np.where(crosses, np.nan, horizontal),
            "required_clearance_m": required,
            "vertical_clearance_m": np.where(below, vertical, np.nan),
            "inside_excavation": inside,
            "uncertainty_class": np.where(known, source, "unknown depth"),
            "severity": severity,
            "finding": finding,
            "rule": rule_name,
        },
        geometry=geoms,
        crs=crs,
    )[reported]
    live = reported & ~abandoned
    zone_width = rule("hand_digging.distance") + h_unc[live] + dia[live] / 2.0
    zones = shapely.intersection(shapely.buffer(geoms[live], zone_width), bottom)
    has = ~shapely.is_empty(zones)
    hand = gpd.GeoDataFrame(
        {
            "utility_id": ids[live][has],
            "area_m2": shapely.area(zones[has]),
            "reason": "machine digging stops here: hand or vacuum digging",
        },
        geometry=zones[has],
        crs=crs,
    )
    return _by_severity(table).reset_index(drop=True), hand


def _cited(rule, name: str) -> str:
    """Record a rule as used and return its name, for the ``rule`` column."""
    rule(name)
    return name


def _typical(rule, network: str) -> tuple[float, float]:
    try:
        low, high = rule(f"typical_depth.{network}")
    except KeyError:
        low, high = rule("typical_depth.sewer")
    return float(low), float(high)


def _trees(index: ExcavationIndex, surface, method: str, rule) -> gpd.GeoDataFrame:
    """Trees whose root protection zone the trench (and its machine damage) reaches."""
    crs = index.trees.crs
    columns = ["tree_id", "species", "trunk_circumference_cm", "crown_diameter_m", "columnar"]
    damage_margin = rule("trees.machine_damage") if method == "machine" else 0.0
    damage = shapely.buffer(surface, damage_margin) if damage_margin else surface
    rows = np.sort(index.tree_tree.query(damage, predicate="dwithin", distance=30.0))
    trees = index.trees.iloc[rows].reset_index(drop=True)
    n = len(trees)
    circumference = trees.get("trunk_circumference_cm", pd.Series(np.nan, index=range(n)))
    circumference = circumference.to_numpy(float) / 100.0
    crown = trees.get("crown_diameter_m", pd.Series(np.nan, index=range(n))).to_numpy(float)
    columnar = trees.get("columnar", pd.Series(False, index=range(n))).fillna(False)
    columnar = columnar.to_numpy(bool)
    stem = circumference / np.pi
    margin = rule("trees.drip_line_margin") + np.where(columnar, rule("trees.columnar_margin"), 0)
    radius = np.where(np.isfinite(crown), crown / 2.0 + margin, rule("trees.stem_factor") * stem)
    points = trees.geometry.to_numpy()
    zone = shapely.buffer(points, np.nan_to_num(radius), quad_segs=16)
    overlap = shapely.area(shapely.intersection(zone, damage))
    share = np.divide(overlap, shapely.area(zone), out=np.zeros(n), where=shapely.area(zone) > 0)
    trunk = shapely.distance(points, surface)
    trunk_min = np.maximum(
        rule("trees.trunk_min"), rule("trees.trunk_circumference_factor") * circumference
    )
    small = circumference * 100.0 < rule("trees.informational_circumference")
    severity = np.full(n, "info", dtype=object)
    measure = np.full(n, "protect the tree during works (fence, DIN 18920)", dtype=object)
    reach = overlap > 0
    severity[reach] = "warning"
    measure[reach] = "hand or vacuum digging in the root zone, root curtain, cut roots cleanly"
    close = trunk < trunk_min
    severity[close] = "critical"
    measure[close] = "no open trench here: trenchless crossing (drilling, pressing) or reroute"
    severity[small] = "info"
    keep = reach | close
    table = gpd.GeoDataFrame(
        {
            **{c: trees[c].to_numpy() if c in trees else np.full(n, None) for c in columns},
            "root_zone_radius_m": radius,
            "root_zone_from": np.where(np.isfinite(crown), "crown", "stem diameter"),
            "overlap_m2": overlap,
            "overlap_share": share,
            "trunk_distance_m": trunk,
            "trunk_min_m": trunk_min,
            "severity": severity,
            "measure": measure,
        },
        geometry=points,
        crs=crs,
    )[keep]
    for name in (
        "trees.drip_line_margin",
        "trees.stem_factor",
        "trees.trunk_min",
        "trees.trunk_circumference_factor",
    ):
        rule(name)
    return _by_severity(table).reset_index(drop=True)


def _parcels(index: ExcavationIndex, working) -> gpd.GeoDataFrame:
    """Parcels the works (trench, slopes and working strip) occupy, with the area taken."""
    rows = np.sort(index.parcel_tree.query(working, predicate="intersects"))
    parcels = index.parcels.iloc[rows].reset_index(drop=True)
    part = shapely.intersection(parcels.geometry.to_numpy(), working)
    area = shapely.area(part)
    land_use = parcels.get("land_use", pd.Series([None] * len(parcels)))
    public = parcels.get("public", land_use.isin(PUBLIC_LAND_USE)).fillna(False).to_numpy(bool)
    keep = area > 0.01
    return gpd.GeoDataFrame(
        {
            "kg": parcels.get("kg", pd.Series([None] * len(parcels))).to_numpy(),
            "gst": parcels.get("gst", pd.Series([None] * len(parcels))).to_numpy(),
            "land_use": land_use.to_numpy(),
            "public": public,
            "ownership": np.where(public, "public road or space", "private: consent needed"),
            "area_m2": area,
        },
        geometry=part,
        crs=index.parcels.crs,
    )[keep].reset_index(drop=True)


def _data_quality(utilities: gpd.GeoDataFrame, trees: gpd.GeoDataFrame, rule) -> dict[str, Any]:
    unknown = utilities["uncertainty_class"] == "unknown depth"
    old = utilities["depth_source"].isin(["design", "default"]) | (
        utilities["year_laid"] < rule("old_plans.year")
    )
    no_crown = (
        trees["root_zone_from"] == "stem diameter" if len(trees) else pd.Series([], dtype=bool)
    )
    issues = []
    if unknown.any():
        issues.append(f"{int(unknown.sum())} line(s) of unknown depth")
    if old.any():
        issues.append(
            f"{int(old.sum())} line(s) known from plans only or laid before "
            f"{rule('old_plans.year')}"
        )
    if no_crown.any():
        issues.append(f"{int(no_crown.sum())} tree(s) without crown data")
    return {
        "lines_unknown_depth": utilities.loc[unknown, "utility_id"].tolist(),
        "lines_from_old_plans": utilities.loc[old, "utility_id"].tolist(),
        "trees_without_crown": trees.loc[no_crown, "tree_id"].tolist() if len(trees) else [],
        "weak": bool(issues),
        "summary": "; ".join(issues) if issues else "no known weakness",
    }


def _verdict(trench_id, utilities, trees, quality) -> tuple[str, str]:
    critical = int(
        (utilities["severity"] == "critical").sum() + (trees["severity"] == "critical").sum()
    )
    warning = int(
        (utilities["severity"] == "warning").sum() + (trees["severity"] == "warning").sum()
    )
    if critical:
        status = "red"
    elif warning or quality["weak"]:
        status = "amber"
    else:
        status = "green"
    parts = [f"{critical} critical", f"{warning} warning(s)"]
    if quality["weak"]:
        parts.append(f"data: {quality['summary']}")
    return status, f"{status.upper()} trench {trench_id}: " + ", ".join(parts)


def _by_severity(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    order = frame["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    return frame.iloc[np.argsort(order.to_numpy(), kind="stable")]


@functools.lru_cache(maxsize=4)
def _cached_index(path: str, modified: int) -> ExcavationIndex:
    """The index of a twin file, rebuilt when the file changes (``modified``: its mtime)."""
    from twin.store import read

    return ExcavationIndex.from_model(read(path))


@functools.lru_cache(maxsize=8)
def _cached_area_index(path: str, modified: int, area: bytes) -> ExcavationIndex:
    """The index of a twin file within a service area (``area``: its WKB)."""
    return _cached_index(path, modified).within(shapely.from_wkb(area))


def index_for(twin_path: Path, /, *, area: shapely.Geometry | None = None) -> ExcavationIndex:
    """The :class:`ExcavationIndex` of the twin at ``twin_path`` (of what meets ``area``, a
    service area, when given), cached between calls."""
    modified = twin_path.stat().st_mtime_ns
    if area is None:
        return _cached_index(str(twin_path), modified)
    return _cached_area_index(str(twin_path), modified, shapely.to_wkb(area))


def _process(twin_path: Path, inputs: dict[str, Any], /, *, area=None) -> dict[str, Any]:
    """The ``trench-check`` process: a GeoJSON centreline in (CRS84 unless ``crs`` says).

    The inputs have passed their schemas (:data:`INPUTS`); what PROJ and GEOS still refuse
    (an unknown CRS code, a CRS with no way to the twin's, coordinates outside the CRS's
    range) is an :class:`InputError` here, never an internal error.
    """
    index = index_for(twin_path, area=area)
    name = inputs.get("crs", "OGC:CRS84")
    try:
        crs = pyproj.CRS.from_user_input(name)
        move = transformer(crs, index.utilities.crs)
    except pyproj.exceptions.CRSError:
        raise InputError(f"trench-check: crs {name!r} is not a CRS PROJ knows") from None
    except pyproj.exceptions.ProjError:
        raise InputError(
            f"trench-check: crs {name!r} cannot be transformed to the twin's CRS"
        ) from None
    try:
        line = shapely.geometry.shape(inputs["trench"])
    except (shapely.errors.ShapelyError, ValueError, TypeError):
        raise InputError(
            "trench-check: the trench is not a GeoJSON line (positions of 2 or 3 numbers, "
            "all alike)"
        ) from None
    if move is not None:
        with np.errstate(invalid="ignore", over="ignore"):
            line = shapely.transform(line, lambda c: np.c_[move.transform(c[:, 0], c[:, 1])])
    if not np.isfinite(shapely.get_coordinates(line)).all():
        raise InputError(f"trench-check: the trench lies outside the area of crs {name!r}")
    if area is not None and not shapely.within(line, area):
        raise InputError("trench-check: the trench lies outside your service area")
    result = check_trench(
        index,
        line,
        width=float(inputs["width"]),
        depth=float(inputs["depth"]),
        method=inputs.get("method", "machine"),
        support=inputs.get("support", "slope"),
        trench_id=str(inputs.get("trench_id", "trench")),
    )
    return {"result": result.to_dict()}


#: a GeoJSON position: easting and northing (or longitude and latitude), maybe a height
_POSITION = {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "number"}}
_LINE = {"type": "array", "minItems": 2, "items": _POSITION}
#: the most a trench is wide or deep (m): beyond it, it is a pit or a cutting, not a trench
MAX_WIDTH = MAX_DEPTH = 10.0
#: the inputs of ``trench-check``, checked before :func:`_process` runs
INPUTS = {
    "trench": {
        "title": "Centreline",
        "description": "GeoJSON LineString or MultiLineString of the trench axis: positions of "
        "2 or 3 finite numbers, at least 2 a line, in crs",
        "schema": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["type", "coordinates"],
                    "properties": {"type": {"const": "LineString"}, "coordinates": _LINE},
                },
                {
                    "type": "object",
                    "required": ["type", "coordinates"],
                    "properties": {
                        "type": {"const": "MultiLineString"},
                        "coordinates": {"type": "array", "minItems": 1, "items": _LINE},
                    },
                },
            ]
        },
    },
    "width": {
        "title": "Bottom width (m)",
        "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_WIDTH},
    },
    "depth": {
        "title": "Depth (m)",
        "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_DEPTH},
    },
    "method": {"title": "Digging", "minOccurs": 0, "schema": {"enum": ["machine", "hand"]}},
    "support": {
        "title": "Walls deeper than 1.25 m",
        "minOccurs": 0,
        "schema": {"enum": ["slope", "shoring"]},
    },
    "crs": {
        "title": "CRS of the centreline (default CRS84)",
        "description": "EPSG:<code>, OGC:CRS84 or an OGC CRS URI "
        "(http://www.opengis.net/def/crs/EPSG/0/31258); a code PROJ does not know is a 400",
        "minOccurs": 0,
        "schema": {
            "type": "string",
            "pattern": "^(EPSG:[0-9]{1,9}|OGC:CRS84|"
            "http://www\\.opengis\\.net/def/crs/(EPSG/0/[0-9]{1,9}|OGC/1\\.3/CRS84))$",
        },
    },
    "trench_id": {
        "title": "Name",
        "minOccurs": 0,
        "schema": {"type": "string", "maxLength": 100},
    },
}


register(
    Process(
        id="trench-check",
        title="Trench check",
        description=(
            "What a planned trench hits: utility lines crossed or too close (with position and "
            "depth uncertainty), hand-digging zones, trees' root protection zones, parcels, "
            "excavated volume and a verdict. Rules and sources: docs/excavation.md."
        ),
        inputs=INPUTS,
        outputs={"result": {"title": "Findings and verdict", "schema": {"type": "object"}}},
        function=_process,
        reads=("utilities", "trees", "parcels"),
    )
)
