"""Trench check, hand-computed: trees, cases sitting exactly on a rule's limit, soils, the
working width, the data quality and the transformation of the trench's position.

The twin and the trench are those of tests/twin/test_trench.py: a flat twin, a trench along y = 50
from x = 10 to x = 90, 0.6 m wide, its north wall at y = 50.3. A tree ``d`` m north of the
wall stands at y = 50.3 + d. Tree rules: root zone = crown / 2 + 1.5 m (+ 5 m instead of
1.5 m for columnar trees); inside it a trench keeps max(2.5 m, 4 × circumference) from the
trunk; a missing stem diameter is crown / 24 or height / 30, a missing crown 27 × stem
diameter, nothing known a 15 m crown; machines tear roots 1 m beyond the wall.
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely

from tests.twin.test_trench import TRENCH, X0, Y0, index_of, line, parallel, pipe
from twin.analysis.rules import Rules
from twin.analysis.trench import check_trench, tree_conflicts
from twin.crs import Transformation, parse_crs, transform_geometry
from twin.errors import InputError
from twin.processes import processes


def tree(tid, distance, circumference=120.0, crown=8.0, height=np.nan, columnar=False):
    """A tree ``distance`` m north of the trench's north wall."""
    return {
        "tree_id": tid,
        "species": "Tilia cordata",
        "trunk_circumference_cm": circumference,
        "crown_diameter_m": crown,
        "height_m": height,
        "columnar": columnar,
        "geometry": shapely.Point(X0 + 50, Y0 + 50.3 + distance),
    }


def trees_found(tmp_path, trees, method="hand", depth=1.0):
    """The trees a 1 m deep trench (vertical walls) reports, by tree_id."""
    result = check_trench(
        index_of(tmp_path, trees=trees), TRENCH, width=0.6, depth=depth, method=method
    )
    return result.trees.set_index("tree_id")


# --- trees ----------------------------------------------------------------------------------


def test_trunk_minimum_applies_only_inside_the_root_zone(tmp_path):
    # Circumference 1.2 m: trunk minimum max(2.5, 4.8) = 4.8 m. Crown 4 m: root zone 3.5 m.
    # 4.0 m from the wall the trench is closer than 4.8 m to the trunk, but outside the root
    # zone: no finding.
    found = trees_found(tmp_path, [tree("small crown", 4.0, crown=4.0)])
    assert "small crown" not in found.index


def test_measured_tree_critical_and_warning(tmp_path):
    # Crown 8 m: root zone 5.5 m; circumference 1.2 m: trunk minimum 4.8 m.
    found = trees_found(tmp_path, [tree("close", 4.0), tree("roots", 5.0), tree("far", 5.6)])
    assert found.loc["close", "root_zone_radius_m"] == pytest.approx(5.5)
    assert found.loc["close", "trunk_min_m"] == pytest.approx(4.8)
    assert found.loc["close", "severity"] == "critical"  # 4.0 < 4.8 and < 5.5
    assert found.loc["close", "rule"] == "trees.trunk_circumference_factor"
    assert "trenchless" in found.loc["close", "measure"]
    assert found.loc["roots", "severity"] == "warning"  # 4.8 <= 5.0 < 5.5
    assert found.loc["roots", "rule"] == "trees.drip_line_margin"
    assert not found.loc["roots", "estimated"]
    assert "far" not in found.index  # 5.6 > 5.5


def test_tree_known_from_lidar_estimates_its_stem(tmp_path):
    # No circumference; crown 12 m, height 18 m. Stem diameter 12 / 24 = 0.5 m, so the
    # circumference is 0.5 π = 1.5708 m and the trunk minimum 4 × 1.5708 = 6.2832 m; root zone
    # 12 / 2 + 1.5 = 7.5 m. 5.0 m from the wall: critical (before, a NaN minimum never was).
    found = trees_found(tmp_path, [tree("lidar", 5.0, circumference=np.nan, crown=12, height=18)])
    row = found.loc["lidar"]
    assert row["stem_diameter_m"] == pytest.approx(0.5)
    assert row["trunk_min_m"] == pytest.approx(2 * math.pi)
    assert row["root_zone_radius_m"] == pytest.approx(7.5)
    assert row["severity"] == "critical" and row["rule"] == "trees.trunk_circumference_factor"
    assert row["stem_from"] == "estimated from crown diameter" and row["estimated"]


def test_tree_known_by_its_height_only(tmp_path):
    # Height 15 m: stem 15 / 30 = 0.5 m, trunk minimum 2π = 6.2832 m; crown 27 × 0.5 = 13.5 m,
    # root zone 6.75 + 1.5 = 8.25 m. 7.0 m from the wall: inside the root zone, beyond the
    # trunk minimum: a warning.
    found = trees_found(tmp_path, [tree("tall", 7.0, np.nan, np.nan, height=15.0)])
    row = found.loc["tall"]
    assert row["root_zone_radius_m"] == pytest.approx(8.25)
    assert row["trunk_min_m"] == pytest.approx(2 * math.pi)
    assert row["severity"] == "warning"
    assert row["root_zone_from"] == "estimated from height"


def test_tree_with_nothing_measured_gets_the_default_zone(tmp_path):
    # No crown, circumference or height: a 15 m crown, root zone 7.5 + 1.5 = 9.0 m, stem
    # 15 / 24 = 0.625 m, trunk minimum 4 × 0.625 π = 7.854 m. (Before: radius 0, ignored.)
    trees = [tree("bare far", 8.5, np.nan, np.nan), tree("bare near", 7.0, np.nan, np.nan)]
    found = trees_found(tmp_path, trees)
    assert found.loc["bare far", "root_zone_radius_m"] == pytest.approx(9.0)
    assert found.loc["bare far", "trunk_min_m"] == pytest.approx(2.5 * math.pi)
    assert found.loc["bare far", "severity"] == "warning"  # 7.854 <= 8.5 < 9.0
    assert found.loc["bare near", "severity"] == "critical"  # 7.0 < 7.854
    assert found["default_zone"].all() and (found["root_zone_from"] == "default crown").all()


def test_tree_without_crown_estimates_its_root_zone(tmp_path):
    # Circumference 1.2 m, no crown: stem 1.2 / π = 0.38197 m, crown 27 × 0.38197 = 10.313 m,
    # root zone 5.1566 + 1.5 = 6.6566 m; trunk minimum 4.8 m.
    trees = [tree("no crown", 6.0, crown=np.nan), tree("no crown close", 4.5, crown=np.nan)]
    found = trees_found(tmp_path, trees)
    assert found.loc["no crown", "root_zone_radius_m"] == pytest.approx(6.6566, abs=1e-4)
    assert found.loc["no crown", "root_zone_from"] == "estimated from trunk circumference"
    assert found.loc["no crown", "severity"] == "warning"
    assert found.loc["no crown close", "severity"] == "critical"


def test_columnar_tree_adds_five_metres_not_six_and_a_half(tmp_path):
    # Columnar, crown 3 m: root zone 1.5 + 5.0 = 6.5 m (5 m instead of 1.5 m, not on top).
    trees = [
        tree("column", 6.0, circumference=60.0, crown=3.0, columnar=True),
        tree("column far", 7.0, circumference=60.0, crown=3.0, columnar=True),
    ]
    found = trees_found(tmp_path, trees)
    assert found.loc["column", "root_zone_radius_m"] == pytest.approx(6.5)
    assert found.loc["column", "rule"] == "trees.columnar_margin"
    assert "column far" not in found.index  # 7.0 > 6.5


def test_machine_digging_reaches_roots_beyond_the_wall(tmp_path):
    # Root zone 5.5 m, 6.0 m from the wall: a hand-dug trench misses it; a machine tears roots
    # 1 m beyond the wall, 5.0 m from the trunk: inside the root zone.
    assert "edge" not in trees_found(tmp_path, [tree("edge", 6.0)]).index
    found = trees_found(tmp_path, [tree("edge", 6.0)], method="machine")
    assert found.loc["edge", "severity"] == "warning"
    assert found.loc["edge", "rule"] == "trees.machine_damage"
    # The damaged strip's edge cuts a circular segment off the root zone, 5.0 m from the
    # trunk: 5.5² acos(5 / 5.5) - 5 sqrt(5.5² - 5²) = 30.25 × 0.42970 - 5 × 2.29129
    # = 12.9984 - 11.4564 = 1.5420 m², of π 5.5² = 95.033 m²: 1.62 %.
    segment = 5.5**2 * math.acos(5 / 5.5) - 5 * math.sqrt(5.5**2 - 5**2)
    assert found.loc["edge", "overlap_m2"] == pytest.approx(segment)
    assert segment == pytest.approx(1.5420, abs=1e-4)
    assert found.loc["edge", "overlap_share"] == pytest.approx(segment / (math.pi * 5.5**2))


def test_small_tree_is_for_information(tmp_path):
    # Circumference 30 cm < 40 cm: information only, though 1 m from the wall.
    found = trees_found(tmp_path, [tree("young", 1.0, circumference=30.0, crown=3.0)])
    assert found.loc["young", "severity"] == "info"
    assert found.loc["young", "rule"] == "trees.informational_circumference"


def test_tree_conflicts_checks_many_trenches_at_once():
    # Trees on a 10 m grid (100 × 100), crown 8 m (root zone 5.5 m), circumference 1.2 m
    # (trunk minimum 4.8 m). 5,000 trenches 0.6 m × 2 m between trees (i, j) and (i + 1, j),
    # 4.7 m from each: both trees critical, the diagonal ones sqrt(4.7² + 9²) = 10.2 m away
    # untouched. 2 findings per trench, 10,000 in all.
    i, j = np.meshgrid(np.arange(100), np.arange(100), indexing="ij")
    trees = gpd.GeoDataFrame(
        {
            "tree_id": [f"T{a}-{b}" for a, b in zip(i.ravel(), j.ravel(), strict=True)],
            "trunk_circumference_cm": 120.0,
            "crown_diameter_m": 8.0,
        },
        geometry=shapely.points(10.0 * i.ravel(), 10.0 * j.ravel()),
    )
    si, sj = np.meshgrid(np.arange(50), np.arange(100), indexing="ij")
    x, y = 10.0 * si.ravel() + 5.0, 10.0 * sj.ravel()
    surfaces = shapely.box(x - 0.3, y - 1.0, x + 0.3, y + 1.0)
    found = tree_conflicts(trees, surfaces, method="hand")
    assert len(found) == 10_000
    assert (np.bincount(found["trench"], minlength=5000) == 2).all()
    assert (found["severity"] == "critical").all()
    assert found["trunk_distance_m"].to_numpy() == pytest.approx(4.7)
    first = found[found["trench"] == 0]
    assert set(first["tree_id"]) == {"T0-0", "T1-0"}
    # The same as one trench at a time.
    alone = tree_conflicts(trees, surfaces[[4321]], method="hand")
    assert set(alone["tree_id"]) == set(found.loc[found["trench"] == 4321, "tree_id"])


def test_tree_conflicts_edge_cases():
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([]))
    assert len(tree_conflicts(empty, np.array([shapely.box(0, 0, 1, 1)]))) == 0
    with pytest.raises(InputError, match="method"):
        tree_conflicts(empty, np.array([shapely.box(0, 0, 1, 1)]), method="laser")


# --- limits: a value on a rule's limit, within 1 mm, is on the limit ------------------------


def test_vertical_clearance_exactly_at_the_limit(tmp_path):
    # Cover 1.5 m - 0.1 m = 1.4 m top, 1.2 m deep: 1.4 - 1.2 = 0.19999999999999996 in floating
    # point; the clearance 0.2 m is met.
    crossing = pipe("W1", "water", line(50, 20, 50, 80), 1.5)
    result = check_trench(index_of(tmp_path, utilities=[crossing]), TRENCH, width=0.6, depth=1.2)
    assert result.utilities.iloc[0]["severity"] == "info"
    assert result.status == "green"


def test_position_uncertainty_exactly_at_the_limit(tmp_path):
    # DN 110 at 0.455 m from the axis: 0.455 - 0.3 - 0.055 = 0.1 m (0.0999999999988 as
    # computed) from the wall, exactly the 0.1 m position uncertainty: it does not lie inside,
    # it is closer than 0.4 + 0.1 m: a warning, not critical.
    gas = pipe("G1", "gas", parallel(0.455), 0.8, dia=110.0)
    result = check_trench(index_of(tmp_path, utilities=[gas]), TRENCH, width=0.6, depth=1.0)
    row = result.utilities.iloc[0]
    assert row["horizontal_clearance_m"] == pytest.approx(0.1)
    assert row["severity"] == "warning" and row["rule"] == "clearance.horizontal"


def test_horizontal_clearance_exactly_at_the_limit(tmp_path):
    # 1.5 m deep, 45°: at 0.8 m (cover 0.9 - 0.1) the wall reaches 1.5 × (1 - 0.8 / 1.5) =
    # 0.7 m out. DN 100 at 1.55 m: 1.55 - 0.3 - 0.05 - 0.7 = 0.5 m (0.4999999999999999 as
    # computed) = 0.4 + 0.1: clear.
    gas = pipe("G1", "gas", parallel(1.55), 0.9)
    result = check_trench(index_of(tmp_path, utilities=[gas]), TRENCH, width=0.6, depth=1.5)
    row = result.utilities.iloc[0]
    assert row["horizontal_clearance_m"] == pytest.approx(0.5)
    assert row["severity"] == "info"


def test_support_depth_exactly_at_the_limit(tmp_path):
    # 1.25 m is not deeper than 1.25 m: vertical walls, 0.6 × 1.25 × 80 = 60 m³.
    for depth in (1.25, 1.25 + 1e-9):
        result = check_trench(index_of(tmp_path), TRENCH, width=0.6, depth=depth)
        assert result.support == "none needed"
        assert result.volume == pytest.approx(60.0)


def test_working_width_exactly_at_the_limit(tmp_path):
    # BauV § 49 (4): 0.6 m to 1.75 m deep. 0.6 m wide at 1.75 m (shored): no finding.
    result = check_trench(index_of(tmp_path), TRENCH, width=0.6, depth=1.75, support="shoring")
    assert result.trench_findings == [] and result.status == "green"


def test_trunk_minimum_exactly_at_the_limit(tmp_path):
    # Circumference 0.5 m: 4 × 0.5 = 2.0, so the minimum is 2.5 m; crown 8 m, zone 5.5 m.
    # 2.5 m from the wall: in the root zone, not closer than the minimum: a warning.
    found = trees_found(tmp_path, [tree("edge", 2.5, circumference=50.0)])
    assert found.loc["edge", "trunk_distance_m"] == pytest.approx(2.5)
    assert found.loc["edge", "severity"] == "warning"


def test_root_zone_exactly_at_the_limit(tmp_path):
    # Crown 6 m: root zone 4.5 m, 4.5 m from the wall: it touches, it is not reached.
    assert "touch" not in trees_found(tmp_path, [tree("touch", 4.5, crown=6.0)]).index


def test_informational_circumference_exactly_at_the_limit(tmp_path):
    # 40 cm is not under 40 cm: crown 4 m (zone 3.5 m), 3.0 m away: a warning, not info.
    found = trees_found(tmp_path, [tree("forty", 3.0, circumference=40.0, crown=4.0)])
    assert found.loc["forty", "severity"] == "warning"


# --- soils and the working width ------------------------------------------------------------

STIFF_VOLUME = 2.0 * (0.6 * 80 + 2 / math.sqrt(3) * 80.6 + 4 / 3 * 4 / 3)
"""2 m deep at 60°: r = 2 / tan 60° = 1.1547 m; 2 (48 + 1.1547 × 80.6 + 4/3 × 1.3333)
= 285.693 m³."""
LOOSE_VOLUME = 2.0 * (0.6 * 80 + 2.0 * 80.6 + 4 / 3 * 4.0)
"""2 m deep at 45°: r = 2 m; 2 (48 + 161.2 + 5.3333) = 429.067 m³."""


def soil(cls, x0, x1):
    return {"soil_class": cls, "geometry": shapely.box(X0 + x0, Y0, X0 + x1, Y0 + 100)}


def test_soil_given_per_trench(tmp_path):
    result = check_trench(index_of(tmp_path), TRENCH, width=0.6, depth=2.0, soil="stiff_cohesive")
    assert result.slope_angle == 60.0 and result.soil_from == "given"
    assert result.volume == pytest.approx(STIFF_VOLUME)  # 285.693 m³


@pytest.mark.parametrize(
    ("soils", "angle", "volume"),
    [
        # stiff in the west, gravel in the east: the trench takes the weaker, 45°
        ([soil("stiff_cohesive", 0, 50), soil("non_cohesive", 50, 100)], 45.0, LOOSE_VOLUME),
        ([soil("stiff_cohesive", 0, 100)], 60.0, STIFF_VOLUME),
        # the layer covers the west only: the city default (non-cohesive) counts too
        ([soil("stiff_cohesive", 0, 50)], 45.0, LOOSE_VOLUME),
    ],
)
def test_soil_from_the_soils_layer(tmp_path, soils, angle, volume):
    result = check_trench(index_of(tmp_path, soils=soils), TRENCH, width=0.6, depth=2.0)
    assert result.slope_angle == angle
    assert result.volume == pytest.approx(volume)
    assert result.soil_from.startswith("soils layer, the weakest of")
    assert result.data_quality["soil"]["from"] == result.soil_from
    assert "soil" in result.data_quality["summary"]


def test_given_soil_overrides_the_layer(tmp_path):
    # Hard rock, 90°: vertical walls, 0.6 × 2 × 80 = 96 m³.
    index = index_of(tmp_path, soils=[soil("non_cohesive", 0, 100)])
    result = check_trench(index, TRENCH, width=0.6, depth=2.0, soil="hard_rock")
    assert result.volume == pytest.approx(96.0)


def test_unknown_soil_class_in_the_layer_is_refused(tmp_path):
    index = index_of(tmp_path, soils=[soil("quicksand", 0, 100)])
    with pytest.raises(InputError, match="quicksand"):
        check_trench(index, TRENCH, width=0.6, depth=2.0)


@pytest.mark.parametrize(
    ("width", "depth", "least"),
    [(0.5, 1.2, 0.6), (0.6, 2.0, 0.7), (0.8, 4.5, 0.9)],  # BauV § 49 (4) by depth class
)
def test_narrow_trench_is_a_warning(tmp_path, width, depth, least):
    result = check_trench(index_of(tmp_path), TRENCH, width=width, depth=depth, support="shoring")
    (finding,) = result.trench_findings
    assert finding["severity"] == "warning" and finding["rule"] == "trench.working_width.minimum"
    assert f"the {least:g} m working width" in finding["finding"]
    assert result.status == "amber"
    assert "BauV § 49 (4)" in result.rules_used["trench.working_width.minimum"]


# --- data quality and the transformation of the trench --------------------------------------


def test_transformation_accuracy_adds_to_the_position_uncertainty(tmp_path):
    # The trench drawn in WGS 84 reaches MGI through "MGI to WGS 84 (3)", which EPSG states
    # accurate to 1.5 m. A measured gas pipe 1.15 m from the axis is 1.15 - 0.3 - 0.05 = 0.8 m
    # from the wall: clear of 0.4 + 0.1 m; with the trench itself uncertain by 1.5 m it may
    # lie inside (0.8 < 0.1 + 1.5).
    index = index_of(tmp_path, utilities=[pipe("G1", "gas", parallel(1.15), 0.8)])
    wgs84, _ = transform_geometry(TRENCH, parse_crs("EPSG:31258"), parse_crs("OGC:CRS84"))
    back, moved = transform_geometry(wgs84, parse_crs("OGC:CRS84"), parse_crs("EPSG:31258"))
    assert moved.accuracy == 1.5 and "MGI to WGS 84 (3)" in moved.description
    plain = check_trench(index, TRENCH, width=0.6, depth=1.0)
    assert plain.utilities.iloc[0]["severity"] == "info"
    assert plain.data_quality["transformation"] is None
    result = check_trench(index, back, width=0.6, depth=1.0, transformation=moved)
    row = result.utilities.iloc[0]
    assert row["position_uncertainty_m"] == pytest.approx(1.6)
    assert row["severity"] == "critical"
    quality = result.data_quality["transformation"]
    assert quality["description"] == moved.description
    assert quality["position_uncertainty_added_m"] == 1.5
    assert "±1.5 m" in result.data_quality["summary"]


def test_ballpark_transformation_is_weak_data(tmp_path):
    # PROJ states no accuracy: the rule's 300 m (a few hundred metres, the PROJ glossary).
    index = index_of(tmp_path, utilities=[pipe("G1", "gas", parallel(20.0), 0.8)])
    ballpark = Transformation("Ballpark geographic offset from WGS 84 to MGI", None)
    result = check_trench(index, TRENCH, width=0.6, depth=1.0, transformation=ballpark)
    assert result.utilities.iloc[0]["position_uncertainty_m"] == pytest.approx(300.1)
    assert result.data_quality["weak"] and "ballpark" in result.data_quality["summary"]
    assert result.data_quality["transformation"]["accuracy_m"] is None
    assert "position_uncertainty.ballpark_transformation" in result.rules_used


def test_every_rule_cites_a_source():
    rules = Rules.load()
    for name, rule in rules.items():
        if name.startswith(("coordination.", "moratorium.")):
            continue
        assert rule.unit and len(rule.source) > 20, name
    sources = " ".join(rule.source for rule in rules.values())
    assert "old_plans.year" not in rules and "long_distance_main.diameter" not in rules
    for clause in ("BauV § 48", "BauV § 49 (4)", "BauV § 50 (1)", "ÖNORM L 1121", "RAS-LP 4"):
        assert clause in sources


def test_trench_check_process_takes_soil_and_names_the_transformation(sample_twin):
    import twin

    model = twin.open(sample_twin)
    x, y = shapely.get_coordinates(model.layers["utilities"].geometry.iloc[0].centroid)[0]
    axis = shapely.LineString([(x - 10, y + 3), (x + 10, y + 3)])
    wgs84, _ = transform_geometry(axis, model.crs, parse_crs("OGC:CRS84"))
    inputs = {
        "trench": json.loads(shapely.to_geojson(wgs84)),  # as a client sends it
        "width": 0.6,
        "depth": 2.0,
        "soil": "stiff_cohesive",
        "trench_id": "api",
    }
    result = processes()["trench-check"].run(sample_twin, inputs)["result"]
    assert result["soil"] == "stiff_cohesive" and result["slope_angle_deg"] == 60.0
    assert "MGI to WGS 84" in result["data_quality"]["transformation"]["description"]
    assert result["data_quality"]["transformation"]["position_uncertainty_added_m"] == 1.5
