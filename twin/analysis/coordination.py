"""Coordination of planned works between utility operators.

Which planned works should share one trench, which would reopen a street too soon after
another, which break a moratorium after resurfacing or reinstatement, and which operators
should dig before a street is resurfaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from twin.analysis.records import to_records
from twin.analysis.rules import Rule, Rules
from twin.errors import InputError
from twin.processes import Process, register

REQUIRED = ("work_id", "operator", "start", "end")
#: the largest join distance (m) a request may give: works a kilometre apart share no trench
MAX_JOIN_DISTANCE = 1000.0
#: the longest time window (days) a request may give: ten years of planning
MAX_WINDOW_DAYS = 3650


@dataclass
class Coordination:
    """The result of :func:`coordinate`; tables are GeoDataFrames in the model CRS."""

    clusters: gpd.GeoDataFrame
    pairs: pd.DataFrame
    sequencing: pd.DataFrame
    moratorium: gpd.GeoDataFrame
    resurfacing: gpd.GeoDataFrame
    rules_used: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-serialisable data."""
        return {
            name: to_records(getattr(self, name))
            for name in ("clusters", "pairs", "sequencing", "moratorium", "resurfacing")
        } | {"rules": self.rules_used}


def coordinate(
    works: gpd.GeoDataFrame,
    /,
    *,
    utilities: gpd.GeoDataFrame | None = None,
    surface_works: gpd.GeoDataFrame | None = None,
    rules: Rules | None = None,
) -> Coordination:
    """Coordinate planned works in space and time.

    Two works overlap when their trench footprints lie within ``coordination.join_distance``
    of each other and their periods overlap or lie within ``coordination.window`` days.
    Overlapping works form clusters (connected components), each with a suggested shared
    trench and the excavation volume it saves.

    Parameters
    ----------
    works
        LineStrings with ``work_id``, ``operator``, ``start``, ``end`` (ISO dates) and
        optionally ``network``, ``kind``, ``emergency``, ``trench_width_m``,
        ``trench_depth_m``.
    utilities
        The utility lines, for the operators under each planned resurfacing.
    surface_works
        Resurfacings and reinstatements with ``kind``, ``completed`` or ``planned`` dates.
    rules
        The rules; the shipped defaults when ``None``.

    Raises
    ------
    InputError
        When a work lacks a required column, a date, or ends before it starts.
    """
    rules = rules or Rules.load()
    used: dict[str, str] = {}

    def rule(name: str) -> Any:
        used[name] = rules.cite(name)
        return rules.value(name)

    works = _checked(works)
    n = len(works)
    lines = works.geometry.to_numpy()
    width = works.get("trench_width_m", pd.Series(0.6, index=works.index)).fillna(0.6)
    depth = works.get("trench_depth_m", pd.Series(1.2, index=works.index)).fillna(1.2)
    width, depth = width.to_numpy(float), depth.to_numpy(float)
    start = works["start_date"].to_numpy()
    end = works["end_date"].to_numpy()
    corridor = shapely.buffer(lines, width / 2.0, cap_style="flat")
    join = rule("coordination.join_distance")
    left, right = shapely.STRtree(corridor).query(corridor, predicate="dwithin", distance=join)
    keep = left < right
    left, right = left[keep], right[keep]
    gap = (
        (np.maximum(start[left], start[right]) - np.minimum(end[left], end[right]))
        .astype("timedelta64[D]")
        .astype(np.int64)
    )
    together = gap <= rule("coordination.window")
    zone = shapely.buffer(lines, join)
    shared_left = shapely.length(shapely.intersection(lines[left], zone[right]))
    shared_right = shapely.length(shapely.intersection(lines[right], zone[left]))
    ids = works["work_id"].to_numpy()
    operator = works["operator"].to_numpy()
    pairs = pd.DataFrame(
        {
            "work_a": ids[left],
            "work_b": ids[right],
            "operator_a": operator[left],
            "operator_b": operator[right],
            "shared_length_m": np.minimum(shared_left, shared_right),
            "overlap_days": np.maximum(-gap, 0),
            "gap_days": np.maximum(gap, 0),
            "coordinated": together,
        }
    )
    moratorium_years = rule("moratorium.reinstatement")
    reopen = ~together & (gap <= 365.25 * moratorium_years)
    sequencing = (
        pairs.loc[reopen]
        .assign(
            problem=[
                f"{b} would reopen the street {g} days after {a} ends "
                f"(reinstatement moratorium {moratorium_years} years): combine or reorder"
                for a, b, g in zip(
                    pairs["work_a"][reopen],
                    pairs["work_b"][reopen],
                    pairs["gap_days"][reopen],
                    strict=True,
                )
            ]
        )
        .reset_index(drop=True)
    )
    clusters = _clusters(works, lines, width, depth, left[together], right[together], rule)
    return (
        Coordination(
            clusters=clusters,
            pairs=pairs.loc[together].reset_index(drop=True),
            sequencing=sequencing,
            moratorium=_moratorium(works, corridor, surface_works, rule),
            resurfacing=_resurfacing(surface_works, utilities, works, corridor),
            rules_used=used,
        )
        if n
        else _empty(used)
    )


def _checked(works: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    missing = [c for c in REQUIRED if c not in works.columns]
    if missing:
        raise InputError(f"planned works lack column(s) {missing}")
    works = works.reset_index(drop=True)
    start = pd.to_datetime(works["start"], errors="coerce")
    end = pd.to_datetime(works["end"], errors="coerce")
    undated = works.loc[start.isna() | end.isna(), "work_id"].tolist()
    if undated:
        raise InputError(f"planned works without a valid start or end date: {undated}")
    backwards = works.loc[end < start, "work_id"].tolist()
    if backwards:
        raise InputError(f"planned works that end before they start: {backwards}")
    empty = works.loc[works.geometry.is_empty | works.geometry.isna(), "work_id"].tolist()
    if empty:
        raise InputError(f"planned works without geometry: {empty}")
    return works.assign(
        start_date=start.to_numpy(dtype="datetime64[D]"),
        end_date=end.to_numpy(dtype="datetime64[D]"),
    )


def _clusters(works, lines, width, depth, left, right, rule) -> gpd.GeoDataFrame:
    """Connected components of coordinated pairs, each with a suggested shared trench."""
    n = len(works)
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    count, label = connected_components(graph, directed=False)
    size = np.bincount(label, minlength=count)
    join = rule("coordination.join_distance")
    increment = rule("coordination.joint_width_increment")
    rows = []
    for cluster in np.flatnonzero(size > 1):  # one iteration per cluster, not per work
        members = np.flatnonzero(label == cluster)
        member_lines = lines[members]
        zones = shapely.buffer(member_lines, join)
        # The shared stretch: where a work runs within the join distance of another one.
        others = [shapely.union_all(np.delete(zones, k)) for k in range(len(members))]
        shared_parts = shapely.intersection(member_lines, np.array(others, dtype=object))
        shared_length = np.asarray(shapely.length(shared_parts))
        # A stepped joint trench: the largest work's trench, widened by one increment at its
        # own depth for each further line. It follows the longest shared stretch.
        shared = shared_parts[np.argmax(shared_length)]
        w, d = width[members], depth[members]
        main = np.argmax(w * d)
        joint_width = w[main] + increment * (len(members) - 1)
        separate = float((w * d * shared_length).sum())
        extra = np.delete(increment * d * shared_length, main).sum()
        together = float(w[main] * d[main] * shared_length[main] + extra)
        rows.append(
            {
                "cluster": len(rows) + 1,
                "works": ", ".join(works["work_id"].iloc[members]),
                "operators": ", ".join(sorted(set(works["operator"].iloc[members]))),
                "n_works": len(members),
                "start": works["start_date"].iloc[members].min().date().isoformat(),
                "end": works["end_date"].iloc[members].max().date().isoformat(),
                "shared_length_m": float(shared_length.max()),
                "joint_trench_width_m": joint_width,
                "joint_trench_depth_m": float(d[main]),
                "volume_separate_m3": separate,
                "volume_joint_m3": together,
                "volume_saved_m3": max(separate - together, 0.0),
                "geometry": shared,
            }
        )
    return (
        gpd.GeoDataFrame(rows, geometry="geometry", crs=works.crs)
        if rows
        else (gpd.GeoDataFrame({"cluster": []}, geometry=[], crs=works.crs))
    )


def _moratorium(works, corridor, surface_works, rule) -> gpd.GeoDataFrame:
    """Works that open a street inside its moratorium after resurfacing or reinstatement."""
    columns = [
        "work_id",
        "operator",
        "surface_id",
        "kind",
        "completed",
        "moratorium_until",
        "exempt",
        "problem",
    ]
    if surface_works is None or len(surface_works) == 0:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=works.crs)
    status = _column(surface_works, "status", "completed")
    done = surface_works[status != "planned"].reset_index(drop=True)
    completed = pd.to_datetime(done["completed"], errors="coerce").to_numpy("datetime64[D]")
    years = np.where(
        done["kind"] == "resurfacing",
        rule("moratorium.resurfacing"),
        rule("moratorium.reinstatement"),
    )
    until = completed + (np.round(years * 365.25)).astype("timedelta64[D]")
    work, surface = shapely.STRtree(done.geometry.to_numpy()).query(
        corridor, predicate="intersects"
    )
    inside = works["start_date"].to_numpy()[work] < until[surface]
    work, surface = work[inside], surface[inside]
    exempt_kinds = rule("moratorium.exempt_kinds")
    kind = _column(works, "kind", "").to_numpy()[work]
    emergency = _column(works, "emergency", False).fillna(False).to_numpy(bool)[work]
    exempt = np.isin(kind, exempt_kinds) | emergency
    return gpd.GeoDataFrame(
        {
            "work_id": works["work_id"].to_numpy()[work],
            "operator": works["operator"].to_numpy()[work],
            "surface_id": done["surface_id"].to_numpy()[surface],
            "kind": done["kind"].to_numpy()[surface],
            "completed": completed[surface].astype(str),
            "moratorium_until": until[surface].astype(str),
            "exempt": exempt,
            "problem": np.where(
                exempt,
                "inside the moratorium, but exempt (emergency or house connection)",
                "breaks the moratorium",
            ),
        },
        geometry=works.geometry.to_numpy()[work],
        crs=works.crs,
    )


def _resurfacing(surface_works, utilities, works, corridor) -> gpd.GeoDataFrame:
    """For each planned resurfacing: operators with lines under it, to dig first."""
    if surface_works is None or "status" not in surface_works:
        return gpd.GeoDataFrame({"surface_id": []}, geometry=[], crs=works.crs)
    planned = surface_works[surface_works["status"] == "planned"].reset_index(drop=True)
    rows = []
    assets = pd.DataFrame(columns=["surface", "operator"])
    if utilities is not None and len(utilities):
        live = utilities[_column(utilities, "status", "in_service") != "abandoned"]
        live = live.reset_index(drop=True)
        surface, line = shapely.STRtree(live.geometry.to_numpy()).query(
            planned.geometry.to_numpy(), predicate="intersects"
        )
        assets = pd.DataFrame({"surface": surface, "operator": live["operator"].to_numpy()[line]})
    surface, work = shapely.STRtree(corridor).query(
        planned.geometry.to_numpy(), predicate="intersects"
    )
    for k in range(len(planned)):  # one row per planned resurfacing (a short list)
        rows.append(
            {
                "surface_id": planned["surface_id"].iloc[k],
                "street": planned.get("street", pd.Series([None] * len(planned))).iloc[k],
                "planned": planned.get("planned", pd.Series([None] * len(planned))).iloc[k],
                "operators_with_assets": ", ".join(
                    sorted(set(assets.loc[assets["surface"] == k, "operator"]))
                ),
                "planned_works_there": ", ".join(works["work_id"].to_numpy()[work[surface == k]]),
                "geometry": planned.geometry.iloc[k],
            }
        )
    return (
        gpd.GeoDataFrame(rows, geometry="geometry", crs=works.crs)
        if rows
        else (gpd.GeoDataFrame({"surface_id": []}, geometry=[], crs=works.crs))
    )


def _column(frame: pd.DataFrame, name: str, default: Any) -> pd.Series:
    """A column, or ``default`` for every row when the layer lacks it."""
    if name in frame:
        return frame[name]
    return pd.Series(default, index=frame.index)


def _empty(used: dict[str, str]) -> Coordination:
    empty = gpd.GeoDataFrame(geometry=[])
    return Coordination(empty, pd.DataFrame(), pd.DataFrame(), empty, empty, used)


def _process(twin_path: Path, inputs: dict[str, Any], /, *, area=None) -> dict[str, Any]:
    """The ``works-coordination`` process over the twin's planned works."""
    from twin.store import read

    model = read(twin_path)

    def layer(name: str) -> gpd.GeoDataFrame | None:
        # a caller limited to a service area is told of nothing beyond it
        frame = model.layers.get(name)
        if frame is None or area is None:
            return frame
        return frame[shapely.intersects(frame.geometry.to_numpy(), area)]

    works = layer("planned_works")
    if works is None:
        works = model.layer("planned_works")  # the store's error: the twin has no such layer
    rules = Rules.load()
    if "join_distance" in inputs or "window_days" in inputs:
        rules = Rules(rules)
        for key, name in (
            ("join_distance", "coordination.join_distance"),
            ("window_days", "coordination.window"),
        ):
            if key in inputs:
                rules[name] = Rule(inputs[key], rules[name].unit, "given with the request")
    result = coordinate(
        works,
        utilities=layer("utilities"),
        surface_works=layer("surface_works"),
        rules=rules,
    )
    return {"result": result.to_dict()}


register(
    Process(
        id="works-coordination",
        title="Coordination of planned works",
        description=(
            "Clusters of planned works of different operators that should share a trench, "
            "sequencing conflicts, moratorium breaches, and the operators who should dig "
            "before a planned resurfacing. Rules and sources: docs/excavation.md."
        ),
        inputs={
            "join_distance": {
                "title": "Join distance (m)",
                "description": "Works closer than this share a trench (default 10 m, at most "
                f"{MAX_JOIN_DISTANCE:g} m)",
                "minOccurs": 0,
                "schema": {"type": "number", "minimum": 0, "maximum": MAX_JOIN_DISTANCE},
            },
            "window_days": {
                "title": "Time window (days)",
                "description": "Works closer than this in time are coordinated (default 365, "
                f"at most {MAX_WINDOW_DAYS})",
                "minOccurs": 0,
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_WINDOW_DAYS},
            },
        },
        outputs={
            "result": {"title": "Clusters, conflicts, moratoria", "schema": {"type": "object"}}
        },
        function=_process,
        reads=("planned_works", "utilities", "surface_works"),
    )
)
