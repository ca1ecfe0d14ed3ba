"""Coordination of planned works between utility operators.

Which planned works should share one trench, which would reopen a street too soon after
another, which break the moratorium of a completed or planned surface work, and which
operators should dig before a street is resurfaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from twin.analysis.records import to_records
from twin.analysis.rules import Rules
from twin.analysis.section import SOILS, SUPPORTS, section
from twin.analysis.trench import tree_conflicts
from twin.errors import InputError

REQUIRED = ("work_id", "operator", "start", "end")
SURFACE_REQUIRED = ("surface_id", "kind")
#: the trench of a work that gives none: the trench check's default bottom width and depth (m)
DEFAULT_WIDTH, DEFAULT_DEPTH = 0.6, 1.2
#: rules under ``moratorium.`` that are not the moratorium of a surface-work kind
NOT_KINDS = ("default", "exempt_kinds")
#: the tables of a :class:`Coordination`, in the order reports give them
TABLES = ("clusters", "pairs", "sequencing", "moratorium", "resurfacing", "trees")
#: the columns of :attr:`Coordination.clusters` and their types (for a table without rows)
CLUSTER_COLUMNS = {
    "cluster": "int64",
    "works": object,
    "operators": object,
    "n_works": "int64",
    "start": object,
    "end": object,
    "shared_length_m": float,
    "joint_trench_width_m": float,
    "joint_trench_depth_m": float,
    "volume_separate_m3": float,
    "volume_joint_m3": float,
    "volume_saved_m3": float,
    "span_days": "int64",
    "joint_trench_top_width_m": float,
    "joint_trench_support": object,
    "asphalt_separate_m2": float,
    "asphalt_joint_m2": float,
    "asphalt_saved_m2": float,
}


@dataclass
class Coordination:
    """The result of :func:`coordinate`; geometries in the model CRS.

    Attributes
    ----------
    clusters
        One row per cluster of works to combine: works, operators, period, the shared
        stretch (geometry), the joint trench and the excavation and asphalt it saves.
    pairs
        The pairs of near works in one cluster (``cluster`` its number), the earlier work
        (by start, then work id) as A.
    sequencing
        Pairs of works in the same place and not in one cluster, where the later one would
        open the street inside the reinstatement moratorium of the earlier one.
    moratorium
        Works that open a street inside the moratorium of a completed or planned surface work.
    resurfacing
        One row per planned surface work: the operators with lines under it, the planned
        works that start before it (they dig first) and those of them still open on its date.
    trees
        The trees each work's trench reaches, as the trench check rates them
        (:func:`twin.analysis.trench.tree_conflicts`), with ``work_id`` and ``operator``.
    rules_used
        Rule name -> its value, unit and source, as a report cites it.
    """

    clusters: gpd.GeoDataFrame
    pairs: pd.DataFrame
    sequencing: pd.DataFrame
    moratorium: gpd.GeoDataFrame
    resurfacing: gpd.GeoDataFrame
    trees: gpd.GeoDataFrame
    rules_used: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-serialisable data."""
        return {name: to_records(getattr(self, name)) for name in TABLES} | {
            "rules": self.rules_used
        }


def coordinate(
    works: gpd.GeoDataFrame,
    /,
    *,
    utilities: gpd.GeoDataFrame | None = None,
    surface_works: gpd.GeoDataFrame | None = None,
    trees: gpd.GeoDataFrame | None = None,
    rules: Rules | None = None,
) -> Coordination:
    """Coordinate planned works in space and time.

    Two works are *near* when their trench footprints (centreline buffered by half the
    bottom width) lie within ``coordination.join_distance`` of each other. A *cluster* is a
    set of works that are pairwise near and whose periods all lie within
    ``coordination.window`` days of the start of its first work. Clusters are formed greedily
    in date order (start, then work id): each work joins the earliest cluster whose works it
    is all near and whose span stays within the window, or starts a cluster of its own. A
    pair of near works is either in one cluster (``pairs``), or a sequencing conflict when
    the later one starts before the earlier one's ``moratorium.reinstatement`` has run out
    (``sequencing``), or neither.

    Parameters
    ----------
    works
        LineStrings with ``work_id``, ``operator``, ``start``, ``end`` (ISO dates) and
        optionally ``network``, ``kind``, ``emergency``, ``trench_width_m``,
        ``trench_depth_m`` (default 0.6 m × 1.2 m), ``trench_support`` (``slope`` or
        ``shoring``, default slope) and ``soil`` (a class of
        :data:`twin.analysis.section.SOILS`, default the rule ``trench.soil``).
    utilities
        The utility lines, for the operators under each planned surface work.
    surface_works
        Polygons with ``surface_id``, ``kind`` (resurfacing, reinstatement, ...), ``status``
        (``completed`` or ``planned``; completed when absent) and the ``completed`` or
        ``planned`` date; optionally ``street``.
    trees
        The trees: every work's trench (its excavation at the surface, walls sloped as the
        trench check slopes them, machine-dug) is checked against their root protection
        zones as the trench check does.
    rules
        The rules; the shipped defaults when ``None``.

    Raises
    ------
    InputError
        When a work lacks a required column, a date, a line geometry or a valid trench, ends
        before it starts, or shares its id with another; when a surface work lacks its id,
        kind or date.
    """
    rules = rules or Rules.load()
    used: dict[str, str] = {}

    def rule(name: str) -> Any:
        used[name] = rules.cite(name)
        return rules.value(name)

    works = _checked(works)
    surface = _surfaces(surface_works, works.crs)
    lines = works.geometry.to_numpy()
    width = works["trench_width_m"].to_numpy(float)
    start = works["start_date"].to_numpy("datetime64[D]")
    end = works["end_date"].to_numpy("datetime64[D]")
    ids = works["work_id"].to_numpy()
    join = rule("coordination.join_distance")
    window = rule("coordination.window")
    corridor = shapely.buffer(lines, width / 2.0, cap_style="flat")
    zone = shapely.buffer(corridor, join)
    # Every work's place in date order (start, then work id): pairs name the earlier work A.
    order = np.lexsort((ids, start))
    rank = np.empty(len(works), dtype=np.int64)
    rank[order] = np.arange(len(works))
    left, right = shapely.STRtree(corridor).query(corridor, predicate="dwithin", distance=join)
    keep = left < right
    swap = rank[left[keep]] > rank[right[keep]]
    a = np.where(swap, right[keep], left[keep])
    b = np.where(swap, left[keep], right[keep])
    label = _group(a, b, rank, start, end, window)
    number = _numbers(label, rank)
    gap = (np.maximum(start[a], start[b]) - np.minimum(end[a], end[b])).astype(np.int64)
    shared = np.minimum(
        shapely.length(shapely.intersection(lines[a], zone[b])),
        shapely.length(shapely.intersection(lines[b], zone[a])),
    )
    operator = works["operator"].to_numpy()
    near = pd.DataFrame(
        {
            "work_a": ids[a],
            "work_b": ids[b],
            "operator_a": operator[a],
            "operator_b": operator[b],
            "shared_length_m": shared,
            "overlap_days": np.maximum(-gap, 0),
            "gap_days": np.maximum(gap, 0),
            "coordinated": label[a] == label[b],
            "cluster": number[a],
        }
    )
    years = rule("moratorium.reinstatement")
    reopen = ~near["coordinated"].to_numpy() & (start[b] < _add_years(end[a], years))
    return Coordination(
        clusters=_clusters(works, lines, zone, number, rank, rules, rule, used),
        pairs=near[near["coordinated"]].reset_index(drop=True),
        sequencing=_sequencing(near[reopen], gap[reopen], years),
        moratorium=_moratorium(works, corridor, surface, rules, rule),
        resurfacing=_resurfacing(surface, utilities, works, corridor, rank, rules, rule),
        trees=_trees(works, corridor, trees, rules, used),
        rules_used=used,
    )


def _checked(works: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The works with parsed dates and trench columns filled in; bad rows named."""
    missing = [c for c in REQUIRED if c not in works.columns]
    if missing:
        raise InputError(f"planned works lack column(s) {missing}")
    works = works.reset_index(drop=True)
    ids = works["work_id"]
    if ids.isna().any():
        raise InputError(f"planned works without a work_id: rows {ids.index[ids.isna()].tolist()}")
    twice = sorted(set(ids[ids.duplicated()]))
    if twice:
        raise InputError(f"planned works share a work_id: {twice}")
    start = pd.to_datetime(works["start"], errors="coerce")
    end = pd.to_datetime(works["end"], errors="coerce")
    _refuse(works, start.isna() | end.isna(), "without a valid start or end date")
    _refuse(works, end < start, "that end before they start")
    geoms = works.geometry.to_numpy()
    _refuse(works, shapely.is_missing(geoms) | shapely.is_empty(geoms), "without geometry")
    kind = shapely.get_type_id(geoms)
    _refuse(works, (kind != 1) & (kind != 5), "that are not (Multi)LineStrings")
    trench: dict[str, Any] = {}
    for name, default in (("trench_width_m", DEFAULT_WIDTH), ("trench_depth_m", DEFAULT_DEPTH)):
        given = _column(works, name, np.nan)
        value = pd.to_numeric(given, errors="coerce").fillna(default)
        bad = (given.notna() & pd.to_numeric(given, errors="coerce").isna()) | ~(value > 0)
        _refuse(works, bad | ~np.isfinite(value), f"with {name} not a number above 0 m")
        trench[name] = value.to_numpy(float)
    for name, allowed, default in (
        ("trench_support", SUPPORTS, "slope"),
        ("soil", SOILS, None),  # None: the rule trench.soil
    ):
        given = _column(works, name, None)
        _refuse(works, given.notna() & ~given.isin(allowed), f"with {name} not one of {allowed}")
        trench[name] = np.where(given.isna(), default, given.to_numpy(object))
    return works.assign(
        start_date=start.to_numpy(dtype="datetime64[D]"),
        end_date=end.to_numpy(dtype="datetime64[D]"),
        kind=_column(works, "kind", "").fillna("").astype(str),
        **trench,
    )


def _refuse(works: pd.DataFrame, bad: Any, problem: str) -> None:
    """Raise :class:`InputError` naming the works where ``bad`` holds."""
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        named = works["work_id"].to_numpy()[bad].tolist()
        more = f" and {len(named) - 20} more" if len(named) > 20 else ""
        raise InputError(f"planned works {problem}: {named[:20]}{more}")


def _surfaces(surface_works: gpd.GeoDataFrame | None, crs: Any) -> gpd.GeoDataFrame:
    """Completed and planned surface works with ``moratorium_from``: the date their
    moratorium starts (the completion or the planned date).

    Surface works of any other status (cancelled, ...) are left out.
    """
    if surface_works is None or len(surface_works) == 0:
        empty = {"surface_id": [], "kind": [], "status": [], "moratorium_from": []}
        return gpd.GeoDataFrame(empty, geometry=[], crs=crs)
    missing = [c for c in SURFACE_REQUIRED if c not in surface_works.columns]
    if missing:
        raise InputError(f"surface works lack column(s) {missing}")
    frame = surface_works.reset_index(drop=True)
    unkind = frame.loc[frame["kind"].isna(), "surface_id"].tolist()
    if unkind:
        raise InputError(f"surface works without a kind: {unkind}")
    status = _column(frame, "status", "completed").fillna("completed")
    frame = frame.assign(status=status)[status.isin(["completed", "planned"])]
    frame = frame.reset_index(drop=True)
    date = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    for name in ("completed", "planned"):
        mine = frame["status"] == name
        given = _column(frame, name, None)[mine]
        date[mine] = pd.to_datetime(given, errors="coerce")
        undated = frame.loc[mine & date.isna(), "surface_id"].tolist()
        if undated:
            raise InputError(f"{name} surface works without a valid '{name}' date: {undated}")
    return frame.assign(kind=frame["kind"].astype(str), moratorium_from=date)


def _group(
    a: NDArray[np.intp],
    b: NDArray[np.intp],
    rank: NDArray[np.int64],
    start: NDArray[np.datetime64],
    end: NDArray[np.datetime64],
    window: int,
) -> NDArray[np.intp]:
    """Greedy clusters in date order; the label of a work is the index of its cluster's first.

    ``a``, ``b`` are the near pairs, ``a`` earlier in date order (``rank``). A work joins the
    earliest cluster whose works it is all near, when the cluster's span (first start to
    last end) stays within ``window`` days; otherwise it starts its own. Only near pairs that
    fit the window together can share a cluster: their connected components are solved side
    by side, one round per place in a component (a loop over the largest component's size,
    vectorised over all components).
    """
    n = len(rank)
    label = np.arange(n)
    if len(a) == 0:
        return label
    fits = (np.maximum(end[a], end[b]) - start[a]).astype(np.int64) <= window
    a, b = a[fits], b[fits]
    _, component = connected_components(
        coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False
    )
    order = np.lexsort((rank, component))
    place = np.empty(n, dtype=np.int64)  # a work's place in its component, in date order
    place[order] = np.arange(n) - np.searchsorted(component[order], component[order])
    by_place = np.argsort(place[b], kind="stable")
    a, b = a[by_place], b[by_place]
    bounds = np.searchsorted(place[b], np.arange(place.max() + 2))
    size = np.ones(n, dtype=np.int64)  # works in the cluster a work leads
    for p in range(1, place.max() + 1):  # one work per component a round
        work, member = b[bounds[p] : bounds[p + 1]], a[bounds[p] : bounds[p + 1]]
        if len(work) == 0:
            continue
        # how many of each candidate cluster's works the work is near
        key, near = np.unique(work.astype(np.int64) * n + label[member], return_counts=True)
        work, cluster = key // n, key % n
        fit = (near == size[cluster]) & ((end[work] - start[cluster]).astype(np.int64) <= window)
        work, cluster = work[fit], cluster[fit]
        earliest = np.lexsort((rank[cluster], work))
        work, cluster = work[earliest], cluster[earliest]
        first = np.ones(len(work), dtype=bool)
        first[1:] = work[1:] != work[:-1]
        work, cluster = work[first], cluster[first]
        label[work] = cluster
        size[cluster] += 1  # distinct: one work, so one cluster, per component a round
        size[work] = 0
    return label


def _numbers(label: NDArray[np.intp], rank: NDArray[np.int64]) -> NDArray[np.int64]:
    """Cluster numbers 1, 2, ... in date order of their first works; 0 for a work alone."""
    size = np.bincount(label, minlength=len(label))
    leaders = np.flatnonzero(size > 1)
    number = np.zeros(len(label), dtype=np.int64)
    by_date = np.zeros(len(label), dtype=np.int64)
    by_date[leaders[np.argsort(rank[leaders])]] = np.arange(1, len(leaders) + 1)
    clustered = size[label] > 1
    number[clustered] = by_date[label[clustered]]
    return number


@dataclass(frozen=True)
class _Members:
    """The works in clusters, cluster after cluster, each cluster's in date order.

    Attributes
    ----------
    work : (k,) int
        Row of each member in the works.
    group : (k,) int
        Its cluster, 0-based (cluster number - 1).
    place : (k,) int
        Its place in its cluster in date order (0: the cluster's first work).
    count : (c,) int
        Works per cluster.
    head : (c,) int
        Where each cluster's members begin.
    """

    work: NDArray[np.intp]
    group: NDArray[np.int64]
    place: NDArray[np.int64]
    count: NDArray[np.int64]
    head: NDArray[np.int64]

    @classmethod
    def of(cls, number: NDArray[np.int64], rank: NDArray[np.int64], /) -> _Members:
        """The members of the clusters ``number`` (:func:`_numbers`), ``rank`` the works'
        places in date order."""
        work = np.flatnonzero(number > 0)
        work = work[np.lexsort((rank[work], number[work]))]
        group = number[work] - 1
        count = np.bincount(group)
        head = np.r_[0, np.cumsum(count)[:-1]]
        return cls(work, group, np.arange(len(work)) - head[group], count, head)


def _clusters(
    works: gpd.GeoDataFrame,
    lines: NDArray[np.object_],
    zone: NDArray[np.object_],
    number: NDArray[np.int64],
    rank: NDArray[np.int64],
    rules: Rules,
    rule: Callable[[str], Any],
    used: dict[str, str],
) -> gpd.GeoDataFrame:
    """One row per cluster: its works, operators and period, the stretch they share
    (:func:`_shared_stretch`, the geometry), and the joint trench and what it saves
    (:func:`_joint_trench`).

    ``lines`` and ``zone`` are the works' centrelines and join zones ``(n,)``, ``number``
    their cluster numbers (:func:`_numbers`) and ``rank`` their places in date order.
    """
    if not (number > 0).any():
        frame = pd.DataFrame({c: pd.Series(dtype=t) for c, t in CLUSTER_COLUMNS.items()})
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=works.crs))
    members = _Members.of(number, rank)
    member, group, head = members.work, members.group, members.head
    part, shared = _shared_stretch(lines, zone, members)
    joint, widest = _joint_trench(works, members, shared, rules, rule, used)
    frame = pd.DataFrame({"_group": group, "work_id": works["work_id"].to_numpy()[member]})
    frame["operator"] = works["operator"].to_numpy()[member]
    names = frame.groupby("_group", sort=True)["work_id"].agg(", ".join).to_numpy()
    operators = (
        frame.drop_duplicates(["_group", "operator"])
        .sort_values(["_group", "operator"])
        .groupby("_group", sort=True)["operator"]
        .agg(", ".join)
        .to_numpy()
    )
    first = np.minimum.reduceat(works["start_date"].to_numpy("datetime64[D]")[member], head)
    last = np.maximum.reduceat(works["end_date"].to_numpy("datetime64[D]")[member], head)
    columns = {
        "cluster": np.arange(1, len(members.count) + 1),
        "works": names,
        "operators": operators,
        "n_works": members.count,
        "start": np.datetime_as_string(first, unit="D").astype(object),
        "end": np.datetime_as_string(last, unit="D").astype(object),
        "shared_length_m": shared,
        "span_days": (last - first).astype(np.int64),
        **joint,
    }
    return gpd.GeoDataFrame(
        {name: columns[name] for name in CLUSTER_COLUMNS}, geometry=part[widest], crs=works.crs
    )


def _shared_stretch(
    lines: NDArray[np.object_], zone: NDArray[np.object_], members: _Members
) -> tuple[NDArray[np.object_], NDArray[np.float64]]:
    """The stretch all works of a cluster share: where each runs within the join distance of
    every other one (the intersection of their ``zone`` s).

    Returns each member's line within it ``(k,)`` and each cluster's shared length (m,
    ``(c,)``, the shortest of its members'). One round per place in a cluster, vectorised
    over the clusters.
    """
    member, group, place = members.work, members.group, members.place
    common = zone[member[place == 0]]
    for p in range(1, members.count.max()):
        at = place == p
        common[group[at]] = shapely.intersection(common[group[at]], zone[member[at]])
    part = shapely.intersection(lines[member], common[group])
    return part, np.minimum.reduceat(shapely.length(part), members.head)


def _joint_trench(
    works: gpd.GeoDataFrame,
    members: _Members,
    shared: NDArray[np.float64],
    rules: Rules,
    rule: Callable[[str], Any],
    used: dict[str, str],
) -> tuple[dict[str, NDArray], NDArray[np.intp]]:
    """Each cluster's joint trench along its ``shared`` stretch (m), against its works'
    separate trenches: excavation (m³) and asphalt opened (m²) each way, and saved.

    The joint trench follows the widest work (ties: the deeper, then the earlier one), as
    wide as it plus ``coordination.joint_width_increment`` per further line, as deep and
    secured as the deepest. Returns the columns of :data:`CLUSTER_COLUMNS` it gives, and the
    member whose shared stretch is the cluster's geometry (the widest) ``(c,)``.
    """
    increment = rule("coordination.joint_width_increment")
    member, group, place, count = members.work, members.group, members.place, members.count
    width = works["trench_width_m"].to_numpy(float)[member]
    depth = works["trench_depth_m"].to_numpy(float)[member]
    support = works["trench_support"].to_numpy(object)[member]
    soil = works["soil"].to_numpy(object)[member]
    widest = np.lexsort((place, -depth, -width, group))[members.head]
    deepest = np.lexsort((place, -width, -depth, group))[members.head]
    joint_width = width[widest] + increment * (count - 1)
    area, top, _ = _sections(width, depth, support, soil, rules, used)
    joint_area, joint_top, joint_support = _sections(
        joint_width, depth[deepest], support[deepest], soil[deepest], rules, used
    )
    separate = np.bincount(group, weights=area) * shared
    together = joint_area * shared
    surface_separate = np.bincount(group, weights=top) * shared
    surface_joint = joint_top * shared
    columns = {
        "joint_trench_width_m": joint_width,
        "joint_trench_depth_m": depth[deepest],
        "volume_separate_m3": separate,
        "volume_joint_m3": together,
        "volume_saved_m3": separate - together,
        "joint_trench_top_width_m": joint_top,
        "joint_trench_support": joint_support,
        "asphalt_separate_m2": surface_separate,
        "asphalt_joint_m2": surface_joint,
        "asphalt_saved_m2": surface_separate - surface_joint,
    }
    return columns, widest


def _trees(works, corridor, trees, rules, used) -> gpd.GeoDataFrame:
    """The trees each work's trench reaches (one vectorised check for all works)."""
    if trees is None or len(trees) == 0:
        return gpd.GeoDataFrame({"work_id": [], "operator": []}, geometry=[], crs=works.crs)
    width = works["trench_width_m"].to_numpy(float)
    _, top, _ = _sections(
        width,
        works["trench_depth_m"].to_numpy(float),
        works["trench_support"].to_numpy(),
        works["soil"].to_numpy(),
        rules,
        used,
    )
    # The excavation at the surface, as the trench check draws it: the bottom grown by the
    # slope's reach on every side (sloped ends too).
    surfaces = shapely.buffer(corridor, (top - width) / 2.0, join_style="mitre")
    found = tree_conflicts(trees, surfaces, method="machine", rules=rules, used=used)
    at = found["trench"].to_numpy()
    found.insert(0, "operator", works["operator"].to_numpy()[at])
    found.insert(0, "work_id", works["work_id"].to_numpy()[at])
    return found.drop(columns="trench").reset_index(drop=True)


def _sections(width, depth, support, soil, rules, used) -> tuple[NDArray, NDArray, NDArray]:
    """Cross-section area (m²), top width (m) and support of trenches, by
    :func:`twin.analysis.section.section`: one call per distinct trench, not per work."""
    shapes = pd.DataFrame({"w": width, "d": depth, "support": support, "soil": soil})
    key = shapes.groupby(list(shapes.columns), sort=False, dropna=False).ngroup().to_numpy()
    _, first = np.unique(key, return_index=True)
    cuts = [
        section(
            float(width[k]),
            float(depth[k]),
            support=str(support[k]),
            soil=None if pd.isna(soil[k]) else str(soil[k]),
            rules=rules,
            used=used,
        )
        for k in first
    ]
    area = np.array([c.area for c in cuts])[key]
    top = np.array([c.top_width for c in cuts])[key]
    how = np.array([c.support for c in cuts], dtype=object)[key]
    return area, top, how


def _sequencing(near: pd.DataFrame, gap: NDArray[np.int64], years: float) -> pd.DataFrame:
    """The pairs where B, the later work, opens the street again too soon after A."""
    a, b = near["work_a"].to_numpy(), near["work_b"].to_numpy()
    problem = [
        f"{later} would reopen the street {g} days after {earlier} ends "
        f"(reinstatement moratorium {years:g} years): combine or reorder"
        if g >= 0
        else f"{later} would open the street while {earlier} has it open ({-g} days of "
        f"overlap) and cannot join its cluster: combine or reorder"
        for earlier, later, g in zip(a, b, gap, strict=True)
    ]
    return near.drop(columns="cluster").assign(problem=problem).reset_index(drop=True)


def _moratorium(works, corridor, surface, rules, rule) -> gpd.GeoDataFrame:
    """Works that open a street inside the moratorium of a completed or planned surface work:
    on or after its date (completion, or the planned date) and before the moratorium ends."""
    years = _kind_years(surface["kind"].to_numpy(object), rules, rule)
    since = surface["moratorium_from"].to_numpy("datetime64[D]")
    until = _add_years(since, years)
    work, hit = shapely.STRtree(surface.geometry.to_numpy()).query(corridor, predicate="intersects")
    begins = works["start_date"].to_numpy("datetime64[D]")[work]
    inside = (since[hit] <= begins) & (begins < until[hit])
    work, hit = work[inside], hit[inside]
    kind = works["kind"].to_numpy(object)[work]
    emergency = _column(works, "emergency", False).fillna(False).to_numpy(bool)[work]
    exempt = np.isin(kind, rule("moratorium.exempt_kinds")) | emergency
    planned = surface["status"].to_numpy(object)[hit] == "planned"
    since_text = np.datetime_as_string(since[hit], unit="D").astype(object)
    until_text = np.datetime_as_string(until[hit], unit="D").astype(object)
    surface_kind = surface["kind"].to_numpy(object)[hit]
    problem = np.where(
        exempt,
        "inside the moratorium, but exempt (" + np.where(emergency, "emergency", kind) + ")",
        np.where(
            planned,
            "breaks the moratorium of the "
            + surface_kind
            + " planned for "
            + since_text
            + ": dig before it",
            "breaks the moratorium",
        ),
    )
    return gpd.GeoDataFrame(
        {
            "work_id": works["work_id"].to_numpy()[work],
            "operator": works["operator"].to_numpy()[work],
            "surface_id": surface["surface_id"].to_numpy()[hit],
            "kind": surface_kind,
            "completed": np.where(planned, None, since_text),
            "moratorium_until": until_text,
            "exempt": exempt,
            "problem": problem.astype(object),
            "surface_status": surface["status"].to_numpy(object)[hit],
            "moratorium_from": since_text,
            "moratorium_years": years[hit],
        },
        geometry=works.geometry.to_numpy()[work],
        crs=works.crs,
    )


def _resurfacing(surface, utilities, works, corridor, rank, rules, rule) -> gpd.GeoDataFrame:
    """For each planned surface work: the operators with live lines under it and the planned
    works there that start before it (they dig first), and those still open on its date."""
    planned = surface[surface["status"] == "planned"].reset_index(drop=True)
    geoms = planned.geometry.to_numpy()
    k = np.arange(len(planned))
    operators = pd.Series("", index=k, dtype=object)
    if utilities is not None and len(utilities):
        live = utilities[_column(utilities, "status", "in_service") != "abandoned"]
        line, under = shapely.STRtree(geoms).query(live.geometry.to_numpy(), predicate="intersects")
        assets = pd.DataFrame({"k": under, "operator": live["operator"].to_numpy()[line]})
        operators = _joined(assets.drop_duplicates().sort_values("operator"), "operator", k)
    work, under = shapely.STRtree(geoms).query(corridor, predicate="intersects")
    date = planned["moratorium_from"].to_numpy("datetime64[D]")
    before = works["start_date"].to_numpy("datetime64[D]")[work] < date[under]
    still_open = before & (works["end_date"].to_numpy("datetime64[D]")[work] >= date[under])
    there = pd.DataFrame(
        {"k": under, "work_id": works["work_id"].to_numpy()[work], "rank": rank[work]}
    )[before].assign(still_open=still_open[before])
    there = there.sort_values("rank")  # in date order
    years = _kind_years(planned["kind"].to_numpy(object), rules, rule)
    return gpd.GeoDataFrame(
        {
            "surface_id": planned["surface_id"].to_numpy(),
            "street": _column(planned, "street", None).to_numpy(object),
            "planned": np.datetime_as_string(date, unit="D").astype(object),
            "operators_with_assets": operators.to_numpy(),
            "planned_works_there": _joined(there, "work_id", k).to_numpy(),
            "kind": planned["kind"].to_numpy(object),
            "works_still_open": _joined(there[there["still_open"]], "work_id", k).to_numpy(),
            "moratorium_until": np.datetime_as_string(_add_years(date, years), unit="D").astype(
                object
            ),
        },
        geometry=geoms,
        crs=works.crs,
    )


def _joined(frame: pd.DataFrame, column: str, index: NDArray[np.intp]) -> pd.Series:
    """``frame[column]`` joined with ", " per value of ``frame["k"]``, for every ``index``."""
    return frame.groupby("k")[column].agg(", ".join).reindex(index, fill_value="")


def _kind_years(kinds: NDArray[np.object_], rules: Rules, rule) -> NDArray[np.float64]:
    """The moratorium (years) of each surface-work kind: ``moratorium.<kind>``, or
    ``moratorium.default`` for a kind without a rule of its own."""
    years = np.empty(len(kinds), dtype=float)
    for kind in pd.unique(kinds):  # one rule per distinct kind
        name = f"moratorium.{kind}"
        if kind in NOT_KINDS or name not in rules:
            name = "moratorium.default"
        years[kinds == kind] = rule(name)
    return years


def _add_years(dates: NDArray[np.datetime64], years: Any) -> NDArray[np.datetime64]:
    """``dates`` plus ``years`` calendar years (whole months; 29 February + 1 year is
    28 February), element-wise when ``years`` is an array."""
    months = np.round(np.broadcast_to(np.asarray(years, dtype=float) * 12.0, len(dates)))
    out = np.empty(len(dates), dtype="datetime64[D]")
    stamps = pd.DatetimeIndex(dates)
    for m in np.unique(months):  # one offset per distinct length
        at = months == m
        out[at] = (stamps[at] + pd.DateOffset(months=int(m))).to_numpy("datetime64[D]")
    return out


def _column(frame: pd.DataFrame, name: str, default: Any) -> pd.Series:
    """A column, or ``default`` for every row when the layer lacks it."""
    if name in frame:
        return frame[name]
    return pd.Series(default, index=frame.index, dtype=object if default is None else None)
