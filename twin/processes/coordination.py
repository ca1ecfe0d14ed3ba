"""The ``works-coordination`` process: the twin's planned works in, the clusters, conflicts
and moratoria of :func:`twin.analysis.coordination.coordinate` out."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import shapely

from twin.analysis.coordination import coordinate
from twin.analysis.rules import Rule, Rules
from twin.processes.process import Process
from twin.store import Location, read

#: the largest join distance (m) a request may give: works a kilometre apart share no trench
MAX_JOIN_DISTANCE = 1000.0
#: the longest time window (days) a request may give: ten years of planning
MAX_WINDOW_DAYS = 3650


def execute(twin_path: Location, inputs: dict[str, Any], /, *, area=None) -> dict[str, Any]:
    """The ``works-coordination`` process over the twin's planned works."""
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
        trees=layer("trees"),
        rules=rules,
    )
    return {"result": result.to_dict()}


#: the process, as the registry lists it
PROCESS = Process(
    id="works-coordination",
    title="Coordination of planned works",
    description=(
        "Clusters of planned works that should share a trench, sequencing conflicts, "
        "moratorium breaches after completed and planned surface works, and the "
        "operators who should dig before a planned resurfacing. Rules and sources: "
        "docs/excavation.md."
    ),
    inputs={
        "join_distance": {
            "title": "Join distance (m)",
            "description": "Works whose trenches are closer than this can share one "
            f"(default 10 m, at most {MAX_JOIN_DISTANCE:g} m)",
            "minOccurs": 0,
            "schema": {"type": "number", "minimum": 0, "maximum": MAX_JOIN_DISTANCE},
        },
        "window_days": {
            "title": "Time window (days)",
            "description": "The works of a cluster all lie within this many days of its "
            f"first start (default 365, at most {MAX_WINDOW_DAYS})",
            "minOccurs": 0,
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_WINDOW_DAYS},
        },
    },
    outputs={"result": {"title": "Clusters, conflicts, moratoria", "schema": {"type": "object"}}},
    function=execute,
    reads=("planned_works", "utilities", "surface_works", "trees"),
)
