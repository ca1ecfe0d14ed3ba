"""Trench check: what a planned trench will hit before anyone digs.

One trench (its centreline, width, depth and soil) is checked against the utility lines,
trees, parcels and soils of a twin: clearances with position and depth uncertainty,
hand-digging zones, root protection zones, parcels, the working width and the excavated
volume, with a verdict that is never "green" on weak data. The rules and their sources come
from :class:`twin.analysis.rules.Rules`; every rule limit is compared with the one tolerance
of :data:`twin.analysis.rules.TOLERANCE_M`. :func:`tree_conflicts` checks many trench
surfaces against the trees at once.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from numpy.typing import NDArray

from twin.analysis.records import to_records
from twin.analysis.rules import TOLERANCE_M, Rules, over, under
from twin.analysis.section import SOILS, Section, section, weakest_soil, working_width_minimum
from twin.crs import Transformation
from twin.errors import InputError
from twin.model import CityModel
from twin.terrain import reading

SEVERITIES = ("critical", "warning", "info")
METHODS = ("machine", "hand")
PUBLIC_LAND_USE = ("road", "square", "park")
POSITION_CLASSES = ("measured", "design", "default", "unknown")
"""Depth sources with a position uncertainty rule; any other source counts as unknown."""
TRANSMISSION = "transmission"
"""The ``function`` of a long-distance main (the ``long_distance_main`` column says so too)."""

#: the most a trench is wide or deep (m): beyond it, it is a pit or a cutting, not a trench
#: (the limit the API has always had; it also catches a size given in cm or mm)
MAX_SIZE_M = 10.0


@dataclass(frozen=True)
class ExcavationIndex:
    """The layers a trench check reads, with spatial indexes built once and reused.

    A service checking many trenches builds this once per twin. ``soils`` (polygons with a
    ``soil_class`` of :data:`twin.analysis.section.SOILS`) may be empty.
    """

    utilities: gpd.GeoDataFrame
    trees: gpd.GeoDataFrame
    parcels: gpd.GeoDataFrame
    terrain: Any
    utility_tree: shapely.STRtree
    tree_tree: shapely.STRtree
    parcel_tree: shapely.STRtree
    extent: shapely.Geometry
    soils: gpd.GeoDataFrame
    handles: threading.local = field(default_factory=threading.local, compare=False, repr=False)
    """Each thread's open terrain file: opening it costs more than a trench's samples."""

    def ground(self, xy: NDArray[np.float64], /) -> NDArray[np.float64]:
        """Terrain heights at ``xy`` ``(n, 2)`` (:meth:`twin.terrain.Terrain.sample`), read
        through this thread's open file (a raster handle serves one thread at a time)."""
        opened = getattr(self.handles, "terrain", None)
        if opened is None:
            with reading(self.terrain.path, "terrain raster"):
                opened = self.handles.terrain = rasterio.open(self.terrain.path)
        return dataclasses.replace(self.terrain, dataset=opened).sample(xy)

    @classmethod
    def from_model(cls, model: CityModel, /) -> ExcavationIndex:
        """Index the utilities, trees, parcels and soils of ``model`` (missing layers are
        empty)."""

        def layer(name: str) -> gpd.GeoDataFrame:
            frame = model.layers.get(name)
            if frame is None:
                return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=model.crs))
            # Arrow-backed columns (as read from the store) are slow to take rows from, and a
            # check takes rows of every layer: held as numpy columns once, here.
            arrow = [
                c
                for c, kind in frame.dtypes.items()
                if isinstance(kind, pd.ArrowDtype | pd.StringDtype)
            ]
            plain = {c: frame[c].to_numpy(dtype=object, na_value=None) for c in arrow}
            return frame.assign(**plain).reset_index(drop=True)

        utilities, trees, parcels = layer("utilities"), layer("trees"), layer("parcels")
        if model.terrain is not None:
            extent = shapely.box(*model.terrain.bounds)
        else:
            extent = shapely.box(*parcels.total_bounds) if len(parcels) else shapely.Polygon()
        return cls._indexed(utilities, trees, parcels, model.terrain, extent, layer("soils"))

    @classmethod
    def _indexed(
        cls,
        utilities: gpd.GeoDataFrame,
        trees: gpd.GeoDataFrame,
        parcels: gpd.GeoDataFrame,
        terrain: Any,
        extent: shapely.Geometry,
        soils: gpd.GeoDataFrame,
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
            soils=soils,
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
            meeting(self.soils),
        )


@dataclass
class TrenchCheck:
    """The result of :func:`check_trench`; tables are GeoDataFrames in the model CRS.

    ``trench_findings`` are findings about the trench itself (its working width), as dicts
    with ``severity``, ``finding`` and ``rule``; ``soil`` is the soil class its walls were
    sloped for and ``soil_from`` where that class came from.
    """

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
    soil: str = ""
    soil_from: str = ""
    slope_angle: float = 90.0
    trench_findings: list[dict[str, str]] = field(default_factory=list)

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
            "soil": self.soil,
            "soil_from": self.soil_from,
            "slope_angle_deg": self.slope_angle,
            "length_m": round(self.length, 3),
            "volume_m3": round(self.volume, 3),
            "surface_area_m2": round(self.surface_area, 3),
            "trench_findings": self.trench_findings,
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
    soil: str | None = None,
    rules: Rules | None = None,
    trench_id: str = "trench",
    transformation: Transformation | None = None,
) -> TrenchCheck:
    """Check a planned trench against the utilities, trees, parcels and soils of a twin.

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
    soil
        The soil class (:data:`twin.analysis.section.SOILS`) of the trench's walls; when
        ``None``, the weakest class of the twin's ``soils`` layer under the trench, or the
        rule ``trench.soil`` where the layer says nothing.
    rules
        The rules; the shipped defaults when ``None``.
    trench_id
        Names the trench in the report.
    transformation
        How the centreline reached the model CRS (:func:`twin.crs.transform_geometry`): its
        stated accuracy, or the rule ``position_uncertainty.ballpark_transformation`` when it
        states none, adds to every position uncertainty, and it is named in the data quality.

    Raises
    ------
    InputError
        Empty, self-intersecting or zero-length centreline, a width or depth that is not a
        finite positive number, an unknown method, support or soil class, or a trench outside
        the twin.
    """
    rules = rules or Rules.load()
    line = _check_input(index, centreline, method, trench_id)
    used: dict[str, str] = {}

    def rule(name: str) -> Any:
        used[name] = rules.cite(name)
        return rules.value(name)

    _check_size(width, depth, trench_id)
    bottom = shapely.buffer(line, width / 2.0, cap_style="flat")
    soil, soil_from = _soil(index, bottom, soil, rules, rule, trench_id)
    cut = section(width, depth, support=support, soil=soil, rules=rules, used=used)
    # The walls slope at the ends as along the sides: the top is the bottom grown by the run,
    # with square corners.
    surface = shapely.buffer(bottom, cut.run, join_style="mitre") if cut.run > 0 else bottom
    working = shapely.buffer(surface, rule("trench.working_strip"), join_style="mitre")
    parts = int(shapely.get_num_geometries(line))
    body = gpd.GeoDataFrame(
        {"part": ["bottom", "surface", "working area"]},
        geometry=[bottom, surface, working],
        crs=index.utilities.crs,
    )
    moved = _moved(transformation, rule)
    utilities, hand = _utilities(index, bottom, surface, cut, moved, rule)
    trees = tree_conflicts(
        index.trees,
        np.array([surface], dtype=object),
        method=method,
        rules=rules,
        used=used,
        index=index.tree_tree,
        uncertainty=moved,
    ).drop(columns="trench")
    parcels = _parcels(index, working)
    findings = _trench_findings(cut, rules, rule)
    quality = _data_quality(utilities, trees, transformation, moved, soil, soil_from)
    status, verdict = _verdict(trench_id, utilities, trees, findings, quality)
    return TrenchCheck(
        trench_id=trench_id,
        width=width,
        depth=depth,
        method=method,
        support=cut.support,
        length=float(line.length),
        volume=cut.volume(float(line.length), parts=parts),
        surface_area=cut.opened(_length_3d(index, line, trench_id), parts=parts),
        body=body,
        utilities=utilities,
        hand_digging=hand,
        trees=trees,
        parcels=parcels,
        data_quality=quality,
        status=status,
        verdict=verdict,
        rules_used=used,
        soil=soil,
        soil_from=soil_from,
        slope_angle=cut.slope_angle,
        trench_findings=findings,
    )


def _check_input(index, centreline, method, trench_id):
    if centreline is None or shapely.is_empty(centreline):
        raise InputError(f"trench {trench_id}: empty geometry")
    if shapely.get_type_id(centreline) not in (1, 5):
        raise InputError(
            f"trench {trench_id}: give the trench centreline as a LineString, "
            f"not a {centreline.geom_type}"
        )
    if not np.isfinite(shapely.get_coordinates(centreline)).all():
        raise InputError(f"trench {trench_id}: the centreline has coordinates that are not finite")
    line = (
        shapely.line_merge(centreline) if centreline.geom_type == "MultiLineString" else centreline
    )
    if not over(shapely.length(shapely.get_parts(line)), 0.0).all():
        raise InputError(
            f"trench {trench_id}: (a part of) the centreline has no length "
            f"(not over {TOLERANCE_M * 1000:.0f} mm)"
        )
    if not shapely.is_simple(line):
        raise InputError(f"trench {trench_id}: the centreline intersects itself")
    if method not in METHODS:
        raise InputError(f"trench {trench_id}: method must be 'machine' or 'hand', not {method!r}")
    if not shapely.within(line, index.extent):
        raise InputError(f"trench {trench_id}: the trench lies (partly) outside the twin")
    return line


def _check_size(width, depth, trench_id) -> None:
    for name, value in (("width", width), ("depth", depth)):
        if not (
            isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
        ):
            raise InputError(f"trench {trench_id}: {name} must be a finite number, not {value!r}")
        if not value > 0:
            raise InputError(
                f"trench {trench_id}: width and depth must be positive "
                f"(width {width}, depth {depth})"
            )
        if value > MAX_SIZE_M:
            raise InputError(
                f"trench {trench_id}: {name} {value:g} m is more than a trench's {MAX_SIZE_M:g} m "
                "(beyond it, it is a pit or a cutting: check the unit)"
            )


def _soil(index, bottom, given, rules, rule, trench_id) -> tuple[str, str]:
    """The soil class of the walls, and where it comes from."""
    if given is not None:
        if given not in SOILS:
            raise InputError(
                f"trench {trench_id}: soil class must be one of {SOILS}, not {given!r}"
            )
        return given, "given"
    soils = index.soils
    if len(soils) and "soil_class" in soils:
        geoms = soils.geometry.to_numpy()
        hit = shapely.intersects(geoms, bottom) & soils["soil_class"].notna().to_numpy()
        met = sorted(set(soils["soil_class"][hit].astype(str)))
        unknown = sorted(set(met) - set(SOILS))
        if unknown:
            raise InputError(
                f"soils layer: soil_class {unknown} under trench {trench_id} is none of {SOILS}"
            )
        if met:
            classes = list(met)
            how = f"soils layer, the weakest of {', '.join(met)}"
            if not shapely.covers(shapely.union_all(geoms[hit]), bottom):
                classes.append(rule("trench.soil"))
                how += f", and the city default {rule('trench.soil')} where the layer has none"
            return weakest_soil(classes, rules=rules), how
    return rule("trench.soil"), "city default"


def _moved(transformation: Transformation | None, rule) -> float:
    """How far (m) the trench may lie from where it was drawn, after its transformation."""
    if transformation is None:
        return 0.0
    if transformation.accuracy is None:
        return float(rule("position_uncertainty.ballpark_transformation"))
    return transformation.accuracy


def _length_3d(index: ExcavationIndex, line, trench_id: str) -> float:
    """The length of the centreline over the terrain, sampled every 0.5 m (each part alone)."""
    parts = shapely.get_parts(shapely.segmentize(line, 0.5))
    xy, part = shapely.get_coordinates(parts, return_index=True)
    if index.terrain is None:
        z = np.zeros(len(xy))
    else:
        z = index.ground(xy)
        if np.isnan(z).any():
            raise InputError(f"trench {trench_id}: the terrain has no height under part of it")
    steps = np.linalg.norm(np.diff(np.c_[xy, z], axis=0), axis=1)
    return float(steps[part[1:] == part[:-1]].sum())


def _column(frame: pd.DataFrame, name: str, default: float = np.nan) -> NDArray[np.float64]:
    """A numeric column as floats (missing or non-numeric values NaN; ``default`` when the
    column is absent)."""
    if name not in frame:
        return np.full(len(frame), default)
    column = frame[name]
    if not pd.api.types.is_numeric_dtype(column):
        column = pd.to_numeric(column, errors="coerce")
    return column.to_numpy(dtype=float, na_value=np.nan)


def _flag(frame: pd.DataFrame, name: str) -> NDArray[np.bool_]:
    """A yes/no column as booleans: true, 1 or "yes" are yes; missing is no."""
    if name not in frame:
        return np.zeros(len(frame), dtype=bool)
    column = frame[name]
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return column.astype("boolean").fillna(False).to_numpy(dtype=bool)
    return column.map(lambda v: str(v).strip().lower() in ("true", "1", "yes")).to_numpy(bool)


def _text(frame: pd.DataFrame, name: str, default: str) -> NDArray[np.object_]:
    if name not in frame:
        return np.full(len(frame), default, dtype=object)
    return frame[name].fillna(default).astype(str).to_numpy(dtype=object)


def _utilities(
    index: ExcavationIndex,
    bottom: shapely.Geometry,
    surface: shapely.Geometry,
    cut: Section,
    moved: float,
    rule: Callable[[str], Any],
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Every line crossed by or too close to the excavation, and the hand-digging zones.

    A line's place is uncertain: across (its position uncertainty, plus ``moved``, the
    trench's own) and in depth (its cover ± accuracy, or the typical range of its network).
    Whether it may lie inside the excavation is decided at its shallowest possible depth,
    where the sloped walls reach furthest (:meth:`Section.reach_at`); a line whose top lies
    below the trench bottom by the vertical clearance is clear however close it runs.

    The steps: the lines near enough to matter (:func:`_lines_near`), where each may lie and
    its clearances (:func:`_line_clearances`), the findings by the rules
    (:func:`_line_findings`), and the zones where machines stop (:func:`_hand_digging`).
    """
    unc = {k: float(rule(f"position_uncertainty.{k}")) for k in POSITION_CLASSES}
    lines = _lines_near(index, bottom, cut, unc, moved, rule)
    m = _line_clearances(lines, bottom, cut, unc, moved, rule)
    severity, finding, rule_name, reported = _line_findings(m, rule)
    known = m["known"]
    columns = {
        "utility_id": m["ids"],
        "network": m["network"],
        "operator": _text(lines, "operator", ""),
        "status": m["status"],
        "diameter_m": m["diameter"],
        "depth_source": m["source"],
        "year_laid": _column(lines, "year_laid"),
        "depth_top_min_m": m["top_min"],
        "depth_top_max_m": m["top_max"],
        "depth_bottom_max_m": m["top_max"] + m["diameter"],
        "position_uncertainty_m": m["h_unc"],
        "long_distance_main": m["long_main"],
        "crosses": m["crosses"],
        "horizontal_clearance_m": np.where(m["crosses"], np.nan, m["horizontal"]),
        "required_clearance_m": m["required"],
        "vertical_clearance_m": np.where(m["below"], m["vertical"], np.nan),
        "inside_excavation": ~m["below"] & m["crosses"],
        "uncertainty_class": np.where(
            known, m["source"], np.where(m["known_net"], "unknown depth", "unknown network")
        ),
        "severity": severity,
        "finding": finding,
        "rule": rule_name,
    }
    keep = np.flatnonzero(reported)
    keep = keep[np.argsort(_severity_rank(severity[keep]), kind="stable")]
    table = gpd.GeoDataFrame(
        {name: values[keep] for name, values in columns.items()},
        geometry=lines.geometry.to_numpy()[keep],
        crs=index.utilities.crs,
    )
    live = reported & (m["status"] != "abandoned") & ~m["deep"]
    return table, _hand_digging(lines, m, live, surface, rule)


def _lines_near(
    index: ExcavationIndex,
    bottom: shapely.Geometry,
    cut: Section,
    unc: dict[str, float],
    moved: float,
    rule: Callable[[str], Any],
) -> gpd.GeoDataFrame:
    """The lines near enough to the trench bottom to matter: within the widest clearance any
    line may need (a long-distance main's, or an operator's protection strip), the largest
    position uncertainty ``unc`` plus ``moved``, the walls' run and the report's search
    distance (m)."""
    all_strips = _column(index.utilities, "protection_strip_m", 0.0)
    widest = max(
        rule("clearance.long_distance_main"),
        float(np.max(all_strips, initial=0.0, where=np.isfinite(all_strips))),
    )
    search = rule("report.search_distance")
    reach = widest + max(unc.values()) + moved + cut.run + search
    rows = index.utility_tree.query(bottom, predicate="dwithin", distance=reach)
    return index.utilities.iloc[np.sort(rows)].reset_index(drop=True)


def _line_clearances(
    lines: gpd.GeoDataFrame,
    bottom: shapely.Geometry,
    cut: Section,
    unc: dict[str, float],
    moved: float,
    rule: Callable[[str], Any],
) -> dict[str, NDArray]:
    """Where each line may lie, and how far it keeps from the excavation.

    Per line ``(n,)``: its attributes (``ids``, ``network``, ``source``, ``status``,
    ``diameter`` in m), its possible depth of top (``top_min``, ``top_max``, m) and whether
    its depth (``known``) and network (``known_net``) are known, its position uncertainty
    across (``h_unc``, m, ``moved`` included), whether it ``crosses`` the bottom, its clear
    ``horizontal`` distance (m) to the excavation wall at its shallowest depth, the
    ``required`` clearance (m) and its ``required_rule``, its ``vertical`` distance (m) below
    the bottom, whether its top lies ``below`` the bottom, ``deep`` below it by the vertical
    clearance, and whether it may ``touch`` the excavation within its position uncertainty.
    """
    n = len(lines)
    geoms = lines.geometry.to_numpy()
    network = _text(lines, "network", "unknown")
    source = _text(lines, "depth_source", "unknown")
    dia = _column(lines, "diameter_mm") / 1000.0
    dia = np.where(np.isfinite(dia) & (dia > 0), dia, 0.0)
    cover = _column(lines, "depth_m")
    accuracy = _column(lines, "depth_accuracy_m")
    accuracy = np.where(np.isfinite(accuracy), accuracy, rule("depth_accuracy.default"))
    known = np.isfinite(cover) & (source != "unknown")
    # Look-ups per distinct value (a handful of networks and sources), then one gather.
    nets, net_of = np.unique(network, return_inverse=True)
    typical = np.array([_typical(rule, net) for net in nets], dtype=float).reshape(-1, 2)[net_of]
    known_net = np.isfinite(typical[:, 0])
    # A line of a network the rules do not know may lie anywhere from the surface down.
    typical_min = np.where(known_net, typical[:, 0], 0.0)
    top_min = np.clip(np.where(known, cover - accuracy, typical_min), 0.0, None)
    top_max = np.where(known, cover + accuracy, typical[:, 1])
    kind = np.where(np.isin(source, POSITION_CLASSES), source, "unknown")
    h_unc = np.array([unc[k] for k in kind], dtype=float).reshape(n) + moved
    crosses = shapely.intersects(geoms, bottom)
    # Clear horizontal distance from the pipe wall to the excavation wall at the pipe's
    # shallowest possible depth, where a sloped trench is widest.
    horizontal = shapely.distance(geoms, bottom) - dia / 2.0 - cut.reach_at(top_min)
    long_main = (_text(lines, "function", "") == TRANSMISSION) | _flag(lines, "long_distance_main")
    strip = _column(lines, "protection_strip_m")
    required = np.where(
        long_main, rule("clearance.long_distance_main"), rule("clearance.horizontal")
    )
    required_rule = np.where(long_main, "clearance.long_distance_main", "clearance.horizontal")
    by_strip = np.isfinite(strip) & (strip > required)
    vertical = top_min - cut.depth
    return {
        "ids": _text(lines, "utility_id", "")
        if "utility_id" in lines
        else np.arange(n).astype(str),
        "network": network,
        "source": source,
        "status": _text(lines, "status", "in_service"),
        "diameter": dia,
        "top_min": top_min,
        "top_max": top_max,
        "known": known,
        "known_net": known_net,
        "h_unc": h_unc,
        "crosses": crosses,
        "horizontal": horizontal,
        "long_main": long_main,
        "required": np.where(by_strip, strip, required),
        "required_rule": np.where(by_strip, "protection_strip_m (operator)", required_rule),
        "vertical": vertical,
        "below": ~under(top_min, cut.depth),  # its top lies at or below the trench bottom
        "deep": ~under(vertical, rule("clearance.vertical")),  # ... by the vertical clearance
        "touch": crosses | under(horizontal, h_unc),  # within its position uncertainty
    }


def _line_findings(
    m: dict[str, NDArray], rule: Callable[[str], Any]
) -> tuple[NDArray[np.object_], NDArray[np.object_], NDArray[np.object_], NDArray[np.bool_]]:
    """Each line judged by the rules, from its clearances ``m`` (:func:`_line_clearances`):
    its severity, finding and rule, and whether it is reported at all (crossed, or within
    the required clearance, its position uncertainty and the report's search distance)."""
    crosses, below, deep, touch = m["crosses"], m["below"], m["deep"], m["touch"]
    horizontal, limit = m["horizontal"], m["required"] + m["h_unc"]
    n = len(crosses)
    severity = np.full(n, "info", dtype=object)
    finding = np.full(n, "nearby, clear", dtype=object)
    rule_name = np.full(n, "", dtype=object)
    # Later assignments are the more serious findings and win.
    near = ~deep & ~touch & under(horizontal, limit)
    severity[near] = "warning"
    finding[near] = "closer than the clearance to a parallel line"
    rule_name[near] = m["required_rule"][near]
    finding[deep & crosses] = "crosses under the trench with enough vertical clearance"
    finding[deep & ~crosses] = "runs deeper than the trench bottom plus the vertical clearance"
    rule_name[deep] = "clearance.vertical"
    low = below & ~deep & touch
    severity[low] = "critical"
    finding[low & crosses] = "crosses under the trench with too little vertical clearance"
    finding[low & ~crosses] = (
        "may cross under the trench with too little vertical clearance "
        "(within its position uncertainty)"
    )
    rule_name[low] = "clearance.vertical"
    inside = ~below & crosses
    maybe = ~below & ~crosses & touch
    severity[inside | maybe] = "critical"
    finding[inside] = "inside the excavation: expose by hand and secure"
    finding[maybe] = "may lie inside the excavation (within its position uncertainty)"
    rule_name[inside | maybe] = "hand_digging.distance"
    reported = crosses | under(horizontal, limit + rule("report.search_distance"))
    # A line of unknown depth is never reported as clear.
    unknown = ~m["known"] & reported
    bump = unknown & (severity == "info")
    severity[bump] = "warning"
    network = m["network"][bump]
    rule_name[bump] = np.where(m["known_net"][bump], "typical_depth." + network, "unknown network")
    finding[unknown] = [f + "; depth unknown: exploratory slot required" for f in finding[unknown]]
    abandoned = m["status"] == "abandoned"
    severity[abandoned] = "info"
    finding[abandoned] = [f + " (abandoned line)" for f in finding[abandoned]]
    return severity, finding, rule_name, reported


def _hand_digging(
    lines: gpd.GeoDataFrame,
    m: dict[str, NDArray],
    live: NDArray[np.bool_],
    surface: shapely.Geometry,
    rule: Callable[[str], Any],
) -> gpd.GeoDataFrame:
    """Where machine digging stops: the excavation at the surface within
    ``hand_digging.distance`` (plus the position uncertainty) of the wall of each ``live``
    line (reported, in service, not deep below the trench); ``m`` its clearances."""
    zone_width = rule("hand_digging.distance") + m["h_unc"][live] + m["diameter"][live] / 2.0
    geoms = lines.geometry.to_numpy()[live]
    zones = shapely.intersection(shapely.buffer(geoms, zone_width), surface)
    has = ~shapely.is_empty(zones)
    return gpd.GeoDataFrame(
        {
            "utility_id": m["ids"][live][has],
            "area_m2": shapely.area(zones[has]),
            "reason": "machine digging stops here: hand or vacuum digging",
        },
        geometry=zones[has],
        crs=lines.crs,
    )


def _typical(rule, network: str) -> tuple[float, float]:
    """The depth range (m) assumed for a line of ``network`` of unknown depth; NaN for a
    network the rules do not know (its depth is unknown, not the sewer's)."""
    try:
        low, high = rule(f"typical_depth.{network}")
    except KeyError:
        return np.nan, np.nan
    return float(low), float(high)


def tree_conflicts(
    trees: gpd.GeoDataFrame,
    surfaces: NDArray[np.object_],
    /,
    *,
    method: str = "machine",
    rules: Rules | None = None,
    used: dict[str, str] | None = None,
    index: shapely.STRtree | None = None,
    uncertainty: float = 0.0,
) -> gpd.GeoDataFrame:
    """The trees whose root protection zone each of many trenches reaches.

    The root zone is the crown drip line plus 1.5 m (5 m for columnar trees), ÖNORM L 1121
    and DIN 18920. A tree is reported when the trench, and for machine digging the strip
    beyond its wall where roots are torn (``trees.machine_damage``), reaches into its root
    zone: a *warning* (hand or vacuum digging, root curtain). Inside the root zone a trench
    must keep max(2.5 m, 4 × trunk circumference) from the trunk (RAS-LP 4): closer, it is
    *critical*. Trees under ``trees.informational_circumference`` are for information only.

    A missing circumference is estimated from the crown diameter, or the height, and a
    missing crown from the circumference, or the height (``trees.crown_stem_ratio``,
    ``trees.height_stem_ratio``); a tree with none of the three gets the crown
    ``trees.default_crown_diameter``. Estimates are flagged (``estimated``, ``stem_from``,
    ``root_zone_from``, ``default_zone``).

    The steps: the trees each trench reaches (:func:`_trees_reached`), each judged by the
    rules (:func:`_tree_findings`), and how much of its root zone the trench takes
    (:func:`_disc_overlap`).

    Parameters
    ----------
    trees
        Points with any of ``tree_id``, ``species``, ``trunk_circumference_cm``,
        ``crown_diameter_m``, ``height_m``, ``columnar``.
    surfaces
        ``(n,)`` Polygons: the excavations at the surface (sloped walls included), in the
        trees' CRS.
    method
        ``"machine"`` or ``"hand"``, for all trenches.
    rules
        The rules; the shipped defaults when ``None``.
    used
        Collects the rules applied (name → citation).
    index
        An STRtree of ``trees.geometry`` to reuse (one is built when ``None``).
    uncertainty
        How far (m) the trenches may lie from where they are drawn.

    Returns
    -------
    GeoDataFrame
        One row per (tree, trench) finding at the tree, ``trench`` the index into
        ``surfaces``; ordered by trench, then severity.

    Examples
    --------
    A lime with an 8 m crown 4 m from a trench wall: its root zone (5.5 m) reaches 1.5 m into
    the trench, which keeps less than 4 × 1.2 m from the trunk.

    >>> lime = gpd.GeoDataFrame(
    ...     {"tree_id": ["L1"], "trunk_circumference_cm": [120.0], "crown_diameter_m": [8.0]},
    ...     geometry=[shapely.Point(0, 4)],
    ... )
    >>> found = tree_conflicts(lime, np.array([shapely.box(-10, -1, 10, 0)]))
    >>> found[["tree_id", "trench", "root_zone_radius_m", "trunk_min_m", "severity"]].values
    array([['L1', 0, 5.5, 4.8, 'critical']], dtype=object)
    """
    rules = rules or Rules.load()
    used = {} if used is None else used

    def rule(name: str) -> Any:
        used[name] = rules.cite(name)
        return rules.value(name)

    if method not in METHODS:
        raise InputError(f"method must be 'machine' or 'hand', not {method!r}")
    surfaces = np.asarray(surfaces, dtype=object)
    margin = rule("trees.machine_damage") if method == "machine" else 0.0
    # Grown with square corners, as the excavation's own: a strip along every wall.
    excavation = (
        shapely.buffer(surfaces, uncertainty, join_style="mitre") if uncertainty else surfaces
    )
    grow = margin + uncertainty
    reach = shapely.buffer(surfaces, grow, join_style="mitre") if grow else surfaces
    points = trees.geometry.to_numpy()
    index = index if index is not None else shapely.STRtree(points)
    surface_of, tree_of, zones = _trees_reached(trees, reach, index, rule)
    trunk = shapely.distance(points[tree_of], excavation[surface_of])
    severity, measure, rule_name = _tree_findings(zones, trunk, rule)
    radius = zones["radius"]
    overlap = _disc_overlap(shapely.get_coordinates(points[tree_of]), radius, reach, surface_of)
    for name in (
        "trees.drip_line_margin",
        "trees.columnar_margin",
        "trees.crown_stem_ratio",
        "trees.height_stem_ratio",
        "trees.default_crown_diameter",
    ):
        rule(name)
    found = trees.iloc[tree_of]
    n = len(tree_of)

    def attribute(name: str) -> NDArray:
        return found[name].to_numpy() if name in found else np.full(n, None, dtype=object)

    columns = {
        "trench": surface_of,
        "tree_id": attribute("tree_id"),
        "species": attribute("species"),
        "trunk_circumference_cm": _column(found, "trunk_circumference_cm"),
        "crown_diameter_m": _column(found, "crown_diameter_m"),
        "height_m": _column(found, "height_m"),
        "columnar": zones["columnar"],
        "stem_diameter_m": zones["stem"],
        "stem_from": zones["stem_from"],
        "root_zone_radius_m": radius,
        "root_zone_from": zones["zone_from"],
        "estimated": zones["estimated"],
        "default_zone": zones["default"],
        "overlap_m2": overlap,
        "overlap_share": overlap / (np.pi * radius**2),
        "trunk_distance_m": trunk,
        "trunk_min_m": zones["trunk_min"],
        "severity": severity,
        "measure": measure,
        "rule": rule_name,
    }
    order = np.lexsort((_severity_rank(severity), surface_of))
    return gpd.GeoDataFrame(
        {name: np.asarray(values)[order] for name, values in columns.items()},
        geometry=points[tree_of][order],
        crs=trees.crs,
    )


def _trees_reached(
    trees: gpd.GeoDataFrame,
    reach: NDArray[np.object_],
    index: shapely.STRtree,
    rule: Callable[[str], Any],
) -> tuple[NDArray[np.intp], NDArray[np.intp], dict[str, NDArray]]:
    """The (trench, tree) pairs where a trench's ``reach`` ``(n,)`` (its excavation, grown by
    the machine damage strip and the position uncertainty) meets the tree's root zone.

    Returns the trench ``(k,)`` and the tree ``(k,)`` of each pair (rows of ``reach`` and
    ``trees``; ``index`` is an STRtree of ``trees.geometry``), and the tree's zones
    (:func:`_tree_zones`) per pair. Candidates come from one query within the largest root
    zone of any tree; each distinct tree's zones are worked out once.
    """
    points = trees.geometry.to_numpy()
    surface_of, tree_of = index.query(
        reach, predicate="dwithin", distance=_largest_zone(trees, rule)
    )
    unique, inverse = np.unique(tree_of, return_inverse=True)
    zones = {k: v[inverse] for k, v in _tree_zones(trees.iloc[unique], rule).items()}
    hit = under(shapely.distance(points[tree_of], reach[surface_of]), zones["radius"])
    return surface_of[hit], tree_of[hit], {k: v[hit] for k, v in zones.items()}


def _tree_findings(
    zones: dict[str, NDArray], trunk: NDArray[np.float64], rule: Callable[[str], Any]
) -> tuple[NDArray[np.object_], NDArray[np.object_], NDArray[np.object_]]:
    """Each (trench, tree) pair judged by the rules: severity, measure and rule, from the
    tree's ``zones`` (:func:`_tree_zones`) and the excavation's distance ``trunk`` (m) from
    the trunk.

    Reaching the root zone is a *warning* (the excavation inside it, or only the machines'
    damage strip); inside the zone and closer to the trunk than its minimum, *critical*; a
    small tree, *info*.
    """
    radius, trunk_min = zones["radius"], zones["trunk_min"]
    in_zone = under(trunk, radius)  # the excavation itself, not only torn roots
    close = in_zone & under(trunk, trunk_min)
    small = under(zones["circumference"], rule("trees.informational_circumference") / 100.0)
    n = len(trunk)
    severity = np.full(n, "warning", dtype=object)
    measure = np.full(
        n, "hand or vacuum digging in the root zone, root curtain, cut roots cleanly", dtype=object
    )
    zone_rule = np.where(zones["columnar"], "trees.columnar_margin", "trees.drip_line_margin")
    rule_name = np.where(in_zone, zone_rule, "trees.machine_damage").astype(object)
    severity[close] = "critical"
    measure[close] = "no open trench here: trenchless crossing (drilling, pressing) or reroute"
    by_factor = rule("trees.trunk_circumference_factor") * zones["circumference"] > rule(
        "trees.trunk_min"
    )
    rule_name[close] = np.where(
        by_factor[close], "trees.trunk_circumference_factor", "trees.trunk_min"
    )
    severity[small] = "info"
    measure[small] = "protect the tree during works (fence, ÖNORM L 1121)"
    rule_name[small] = "trees.informational_circumference"
    return severity, measure, rule_name


def _disc_overlap(
    centres: NDArray[np.float64],
    radii: NDArray[np.float64],
    polygons: NDArray[np.object_],
    which: NDArray[np.intp],
) -> NDArray[np.float64]:
    """The area (m²) of each disc (``centres`` ``(k, 2)``, ``radii`` ``(k,)``) inside the
    polygon ``polygons[which]`` (``which`` ``(k,)``), exactly: a true circle, not a polygon.

    Green's theorem: the area is the sum, over the polygon's edges AB, of the signed area of
    the disc within the triangle (centre, A, B): a circular sector up to where AB enters the
    disc, the triangle (centre, entry, exit), a sector after it. Exterior rings count
    positive, holes negative, whatever their orientation. Each polygon's edges are taken
    apart once, however many discs it meets.
    """
    parts, owner = shapely.get_parts(polygons, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    sign = np.where(np.r_[True, ring_part[1:] != ring_part[:-1]][: len(rings)], 1.0, -1.0)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    edge = ring_of[1:] == ring_of[:-1]
    edge_ring = ring_of[:-1][edge]
    edge_polygon = owner[ring_part[edge_ring]]  # ascending: parts, rings, points keep order
    count = np.bincount(edge_polygon, minlength=len(polygons))[which]
    if not count.sum():
        return np.zeros(len(which))
    # The edges of polygons[which[i]] for every disc i, disc after disc.
    pair = np.repeat(np.arange(len(which)), count)
    first = np.searchsorted(edge_polygon, which) - (np.cumsum(count) - count)
    e = np.repeat(first, count) + np.arange(count.sum())
    r2 = radii[pair] ** 2
    a = xy[:-1][edge][e] - centres[pair]
    b = xy[1:][edge][e] - centres[pair]
    d = b - a
    # Where A + t (B - A) meets the circle: qa t² + qb t + qc = 0.
    qa = (d * d).sum(axis=1)
    qb = 2.0 * (a * d).sum(axis=1)
    qc = (a * a).sum(axis=1) - r2
    disc = qb * qb - 4.0 * qa * qc
    meets = (disc > 0) & (qa > 0)
    root = np.sqrt(np.where(meets, disc, 0.0))
    half = np.where(meets, 2.0 * qa, 1.0)
    enter = np.where(meets, np.clip((-qb - root) / half, 0.0, 1.0), 0.0)
    leave = np.maximum(np.where(meets, np.clip((-qb + root) / half, 0.0, 1.0), 0.0), enter)
    p = a + enter[:, None] * d
    q = a + leave[:, None] * d

    def cross(u, v):
        return u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]

    def angle(u, v):
        return np.arctan2(cross(u, v), (u * v).sum(axis=1))

    area = 0.5 * r2 * (angle(a, p) + angle(q, b)) + 0.5 * cross(p, q)
    ring = edge_ring[e]
    runs = np.flatnonzero(np.r_[True, (pair[1:] != pair[:-1]) | (ring[1:] != ring[:-1])])
    per_ring = np.abs(np.add.reduceat(area, runs)) * sign[ring[runs]]
    return np.bincount(pair[runs], weights=per_ring, minlength=len(which))


def _largest_zone(trees: gpd.GeoDataFrame, rule) -> float:
    """A bound (m) on the root-zone radius of every tree, from the largest crown,
    circumference and height: the search distance of :func:`tree_conflicts`."""
    high = rule("trees.crown_stem_ratio")[1]

    def largest(name: str, scale: float) -> float:
        values = _column(trees, name)
        return scale * float(np.max(values, initial=0.0, where=np.isfinite(values)))

    crown = max(
        largest("crown_diameter_m", 1.0),
        largest("trunk_circumference_cm", high / 100.0 / np.pi),
        largest("height_m", high / rule("trees.height_stem_ratio")),
        rule("trees.default_crown_diameter"),
    )
    margin = max(rule("trees.drip_line_margin"), rule("trees.columnar_margin"))
    return crown / 2.0 + margin + TOLERANCE_M


def _tree_zones(trees: pd.DataFrame, rule) -> dict[str, NDArray]:
    """Per tree: stem diameter and circumference (m), root-zone radius (m), trunk minimum (m),
    where each came from, and whether anything was estimated."""
    low, high = rule("trees.crown_stem_ratio")
    per_height = rule("trees.height_stem_ratio")
    default = rule("trees.default_crown_diameter")

    def positive(name: str) -> NDArray[np.float64]:
        values = _column(trees, name)
        return np.where(values > 0, values, np.nan)

    girth = positive("trunk_circumference_cm") / 100.0
    crown = positive("crown_diameter_m")
    height = positive("height_m")
    has_girth, has_crown, has_height = np.isfinite(girth), np.isfinite(crown), np.isfinite(height)
    # The stem errs thick (crown / 24), the crown wide (27 × stem): both on the safe side.
    stem = np.select(
        [has_girth, has_crown, has_height],
        [girth / np.pi, crown / low, height / per_height],
        default / low,
    )
    stem_from = np.select(
        [has_girth, has_crown, has_height],
        ["measured circumference", "estimated from crown diameter", "estimated from height"],
        "default crown",
    )
    crown_used = np.select(
        [has_crown, has_girth, has_height],
        [crown, high * girth / np.pi, high * height / per_height],
        default,
    )
    zone_from = np.select(
        [has_crown, has_girth, has_height],
        ["crown", "estimated from trunk circumference", "estimated from height"],
        "default crown",
    )
    columnar = _flag(trees, "columnar")
    margin = np.where(
        columnar, rule("trees.columnar_margin"), rule("trees.drip_line_margin")
    ).astype(float)
    circumference = np.pi * stem
    return {
        "stem": stem,
        "stem_from": stem_from.astype(object),
        "circumference": circumference,
        "radius": crown_used / 2.0 + margin,
        "zone_from": zone_from.astype(object),
        "trunk_min": np.maximum(
            rule("trees.trunk_min"), rule("trees.trunk_circumference_factor") * circumference
        ),
        "columnar": columnar,
        "estimated": ~(has_girth & has_crown),
        "default": ~(has_girth | has_crown | has_height),
    }


def _parcels(index: ExcavationIndex, working) -> gpd.GeoDataFrame:
    """Parcels the works (trench, slopes and working strip) occupy, with the area taken."""
    rows = np.sort(index.parcel_tree.query(working, predicate="intersects"))
    parcels = index.parcels.iloc[rows].reset_index(drop=True)
    part = shapely.intersection(parcels.geometry.to_numpy(), working)
    area = shapely.area(part)
    land_use = parcels.get("land_use", pd.Series([None] * len(parcels)))
    public = _flag(parcels, "public") if "public" in parcels else land_use.isin(PUBLIC_LAND_USE)
    public = np.asarray(public, dtype=bool)
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


def _trench_findings(cut: Section, rules: Rules, rule) -> list[dict[str, str]]:
    """Findings about the trench itself: a bottom narrower than the working width people
    need to lay lines in it (BauV § 49 (4)), measured between the wall feet (§ 49 (2))."""
    rule("trench.working_width.depths")
    rule("trench.working_width.minimum")
    least = working_width_minimum(cut.depth, rules=rules)
    if not under(cut.width, least):
        return []
    return [
        {
            "severity": "warning",
            "finding": f"bottom width {cut.width:g} m is narrower than the {least:g} m working "
            f"width people laying lines need at {cut.depth:g} m depth: widen it",
            "rule": "trench.working_width.minimum",
        }
    ]


def _data_quality(
    utilities: gpd.GeoDataFrame,
    trees: gpd.GeoDataFrame,
    transformation: Transformation | None,
    moved: float,
    soil: str,
    soil_from: str,
) -> dict[str, Any]:
    """What the findings rest on, and whether it is weak (weak data keeps a trench from
    green). A line's age alone is no weakness: its depth source and accuracy are."""
    unknown = utilities["uncertainty_class"].isin(["unknown depth", "unknown network"])
    no_network = utilities["uncertainty_class"] == "unknown network"
    plans = utilities["depth_source"].isin(["design", "default"])
    no_crown = trees["root_zone_from"] != "crown"
    estimated = trees["estimated"].astype(bool)
    default = trees["default_zone"].astype(bool)
    issues = []
    if unknown.any():
        issues.append(f"{int(unknown.sum())} line(s) of unknown depth")
    if no_network.any():
        issues.append(f"{int(no_network.sum())} of a network the rules do not know")
    if plans.any():
        issues.append(f"{int(plans.sum())} line(s) known from plans only")
    if estimated.any():
        issues.append(f"{int(estimated.sum())} tree(s) with estimated stem or crown")
    if default.any():
        issues.append(f"{int(default.sum())} tree(s) with nothing measured: default root zone")
    if transformation is not None and transformation.accuracy is None:
        issues.append(f"trench position known to ±{moved:g} m only (ballpark transformation)")
    notes = []
    if transformation is not None and transformation.accuracy is not None:
        notes.append(f"trench position ±{moved:g} m from its transformation")
    if soil_from.startswith("soils layer"):
        notes.append(f"soil {soil} from the {soil_from}")
    return {
        "lines_unknown_depth": utilities.loc[unknown, "utility_id"].tolist(),
        "lines_unknown_network": utilities.loc[no_network, "utility_id"].tolist(),
        "lines_from_old_plans": utilities.loc[plans, "utility_id"].tolist(),
        "trees_without_crown": trees.loc[no_crown, "tree_id"].tolist(),
        "trees_estimated": trees.loc[estimated, "tree_id"].tolist(),
        "trees_default_zone": trees.loc[default, "tree_id"].tolist(),
        "transformation": None
        if transformation is None
        else {
            "description": transformation.description,
            "accuracy_m": transformation.accuracy,
            "position_uncertainty_added_m": moved,
        },
        "soil": {"class": soil, "from": soil_from},
        "weak": bool(issues),
        "summary": "; ".join(issues + notes) if issues or notes else "no known weakness",
    }


def _verdict(trench_id, utilities, trees, findings, quality) -> tuple[str, str]:
    levels = [*utilities["severity"], *trees["severity"], *(f["severity"] for f in findings)]
    critical, warning = levels.count("critical"), levels.count("warning")
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


def _severity_rank(severity: NDArray[np.object_]) -> NDArray[np.int64]:
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return np.array([rank[s] for s in severity], dtype=np.int64)
