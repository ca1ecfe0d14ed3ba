"""Property: the farther a utility line lies from a trench, the better its verdict.

Hypothesis draws a straight trench (direction, length, width, depth, support, soil, method)
and a utility line (parallel to it or at an angle, with a network, depth, depth source and
accuracy, diameter, a transmission main's clearance or an operator's protection strip, in
service or abandoned), then moves the line away from the trench in parallel steps. Each
placement is checked alone by :func:`twin.analysis.trench.check_trench` on a twin of that one
line and a parcel under everything (small GeoDataFrames, the shipped rules, no mocks).

Placed in order of their distance from the trench bottom, the placements must never get a
worse verdict (red ≥ amber ≥ green) nor a worse finding for the line (critical ≥ warning ≥
info ≥ not reported), and the reported horizontal clearance never shrinks. The clearance is
the distance from the pipe's wall to the excavation's wall at the pipe's shallowest depth:
shapely's distance from the line to the trench bottom (a rectangle written here from the
centreline, width and direction), less half the diameter, less the reach of a sloped wall at
that depth (``run × (1 - depth / trench depth)``, ``run = depth / tan(slope angle)``,
BauV § 50); it must agree within 1 mm. The runs are derandomised.
"""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from hypothesis import example, given, note, settings
from hypothesis import strategies as st

from tests.conftest import DERANDOMISED
from twin.analysis.rules import Rules
from twin.analysis.section import SOILS
from twin.analysis.trench import ExcavationIndex, check_trench
from twin.model import CityModel

PROPERTY = settings(DERANDOMISED, max_examples=40)
CRS = pyproj.CRS("EPSG:31258+5778")
X0, Y0 = 524600.0, 165500.0  # the trench's middle, near Klagenfurt's Neuer Platz
RULES = Rules.load()
STATUS = {"red": 2, "amber": 1, "green": 0}
SEVERITY = {"critical": 3, "warning": 2, "info": 1, None: 0}  # None: not reported
#: networks with a typical depth in the rules, and one the rules do not know
NETWORKS = ["water", "gas", "telecom", "power_lv", "sewer", "district_heating", "fibre_unknown"]
PARCEL = shapely.box(X0 - 200, Y0 - 200, X0 + 200, Y0 + 200)


@st.composite
def trenches(draw) -> dict:
    """A straight trench through (X0, Y0): its direction (radians), length and cross-section."""
    return {
        "angle": draw(st.floats(0, math.pi)),
        "length": draw(st.floats(4.0, 60.0)),
        "width": draw(st.floats(0.3, 2.0)),
        "depth": draw(st.floats(0.5, 3.5)),
        "support": draw(st.sampled_from(["slope", "shoring"])),
        "soil": draw(st.sampled_from(SOILS)),
        "method": draw(st.sampled_from(["machine", "hand"])),
    }


@st.composite
def lines(draw) -> dict:
    """A utility line's attributes, and its shape relative to the trench: its angle to the
    trench (0: parallel), its shift along the trench and its length (m)."""
    depth_known = draw(st.booleans())
    return {
        "network": draw(st.sampled_from(NETWORKS)),
        "depth_m": draw(st.floats(0.3, 4.0)) if depth_known else np.nan,
        "depth_accuracy_m": draw(st.sampled_from([np.nan, 0.05, 0.1, 0.3])),
        "depth_source": draw(st.sampled_from(["measured", "design", "default", "unknown"])),
        "diameter_mm": draw(st.sampled_from([0.0, 50.0, 110.0, 300.0, 600.0])),
        "function": draw(st.sampled_from(["distribution", "transmission"])),
        "protection_strip_m": draw(st.sampled_from([np.nan, 0.5, 2.0])),
        "status": draw(st.sampled_from(["in_service", "in_service", "abandoned"])),
        "turn": draw(st.sampled_from([0.0, 0.0, 0.2, -0.5, 1.0])),
        "shift": draw(st.floats(-30.0, 30.0)),
        "span": draw(st.floats(2.0, 80.0)),
    }


def frame(rows: list[dict], geometry: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry=geometry, crs=CRS)


def placed(trench: dict, line: dict, offset: float) -> shapely.LineString:
    """The utility line, centred ``offset`` m to the left of the trench's axis and ``shift``
    m along it, turned by ``turn`` radians from the trench's direction."""
    a = trench["angle"]
    along, left = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
    centre = np.array([X0, Y0]) + offset * left + line["shift"] * along
    b = a + line["turn"]
    half = 0.5 * line["span"] * np.array([math.cos(b), math.sin(b)])
    return shapely.LineString([centre - half, centre + half])


def bottom(trench: dict) -> shapely.Polygon:
    """The trench bottom: the rectangle ``length × width`` centred on (X0, Y0)."""
    a = trench["angle"]
    along = 0.5 * trench["length"] * np.array([math.cos(a), math.sin(a)])
    left = 0.5 * trench["width"] * np.array([-math.sin(a), math.cos(a)])
    c = np.array([X0, Y0])
    return shapely.Polygon([c - along - left, c + along - left, c + along + left, c - along + left])


def check_at(trench: dict, line: dict, geometry: shapely.LineString):
    """The trench checked against a twin holding this one line (and a parcel under it all)."""
    attributes = {k: v for k, v in line.items() if k not in ("turn", "shift", "span")}
    model = CityModel(
        crs=CRS,
        layers={
            "utilities": frame([{"utility_id": "U1", **attributes}], [geometry]),
            "trees": frame([], []),
            "parcels": frame([{"kg": "72127", "gst": "1/1", "land_use": "road"}], [PARCEL]),
        },
    )
    a = trench["angle"]
    along = 0.5 * trench["length"] * np.array([math.cos(a), math.sin(a)])
    centreline = shapely.LineString([np.array([X0, Y0]) - along, np.array([X0, Y0]) + along])
    return check_trench(
        ExcavationIndex.from_model(model),
        centreline,
        width=trench["width"],
        depth=trench["depth"],
        method=trench["method"],
        support=trench["support"],
        soil=trench["soil"],
        rules=RULES,
    )


def assert_monotone(trench: dict, line: dict, offsets: list[float]) -> None:
    note(f"trench {trench}; line {line}; offsets {offsets}")
    base = bottom(trench)
    outcomes = []
    for offset in offsets:
        geometry = placed(trench, line, offset)
        result = check_at(trench, line, geometry)
        rows = result.utilities
        distance = float(shapely.distance(geometry, base))
        severity, clearance = None, None
        if len(rows):
            row = rows.iloc[0]
            severity = row["severity"]
            if not row["crosses"]:
                clearance = float(row["horizontal_clearance_m"])
                # by hand: pipe wall to excavation wall at the pipe's shallowest depth
                angle = math.radians(result.slope_angle)
                run = 0.0 if result.slope_angle >= 90 else trench["depth"] / math.tan(angle)
                share = min(max(1.0 - max(row["depth_top_min_m"], 0.0) / trench["depth"], 0), 1)
                expected = distance - line["diameter_mm"] / 2000.0 - run * share
                assert abs(clearance - expected) <= 1e-3, (clearance, expected)
            else:
                assert distance <= 1e-9  # crossing lines touch the bottom
        outcomes.append((distance, STATUS[result.status], SEVERITY[severity], clearance))
    outcomes.sort(key=lambda o: o[0])
    for near, far in itertools.pairwise(outcomes):
        assert far[1] <= near[1], (near, far)  # the verdict never gets worse
        assert far[2] <= near[2], (near, far)  # nor the line's finding
        if near[3] is not None and far[3] is not None:
            assert far[3] >= near[3] - 1e-9, (near, far)  # the clearance never shrinks


OFFSETS = st.lists(st.floats(0.0, 12.0), min_size=3, max_size=6, unique=True).map(sorted)

# A 40 m trench along x, 0.6 m wide and 1.2 m deep (no support needed: vertical walls), and a
# measured water main (cover 0.9 m ± 0.1 m, its top may be at 0.8 m, above the bottom:
# horizontal rules apply), 110 mm, parallel to the trench along its whole length. At offset o
# from the axis its wall is o - 0.3 - 0.055 m from the bottom's edge. Required: 0.4 m
# clearance plus 0.1 m position uncertainty, reported up to 3 m (search distance) beyond:
#   o = 0.3   crosses the bottom's edge: inside the excavation, critical, red
#   o = 0.45  0.095 m < 0.1 m uncertainty: may lie inside, critical, red
#   o = 0.8   0.445 m < 0.5 m: closer than the clearance, warning, amber
#   o = 1.5   1.145 m: clear, info, green (measured, known depth: no data weakness)
#   o = 5.0   4.645 m > 0.5 + 3 m: not reported, green
WATER = {
    "network": "water",
    "depth_m": 0.9,
    "depth_accuracy_m": 0.1,
    "depth_source": "measured",
    "diameter_mm": 110.0,
    "function": "distribution",
    "protection_strip_m": np.nan,
    "status": "in_service",
    "turn": 0.0,
    "shift": 0.0,
    "span": 40.0,
}
SHALLOW = {
    "angle": 0.0,
    "length": 40.0,
    "width": 0.6,
    "depth": 1.2,
    "support": "slope",
    "soil": "non_cohesive",
    "method": "machine",
}


@PROPERTY
@given(trenches(), lines(), OFFSETS)
@example(SHALLOW, WATER, [0.3, 0.45, 0.8, 1.5, 5.0])
def test_trench_verdict_never_worsens_as_a_line_moves_away(trench, line, offsets):
    assert_monotone(trench, line, offsets)


def test_the_worked_example_has_the_verdicts_worked_out_by_hand():
    expected = [("red", "critical"), ("red", "critical"), ("amber", "warning"), ("green", "info"),
                ("green", None)]  # fmt: skip
    for offset, (status, severity) in zip([0.3, 0.45, 0.8, 1.5, 5.0], expected, strict=True):
        result = check_at(SHALLOW, WATER, placed(SHALLOW, WATER, offset))
        rows = result.utilities
        assert result.status == status, offset
        assert (rows["severity"].iloc[0] if len(rows) else None) == severity, offset
        if offset in (0.8, 1.5):  # o - 0.3 - 0.055
            assert abs(rows["horizontal_clearance_m"].iloc[0] - (offset - 0.355)) <= 1e-9
