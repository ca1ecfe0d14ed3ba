"""Trench check: utility lines, volume and parcels, hand-computed; bad input; the sample district.

The cases build a flat 100 m × 100 m twin (ground 445 m) and one trench along y = 50 from
x = 10 to x = 90 (80 m), 0.6 m wide: its bottom spans y = 49.7 to 50.3. Lines parallel to it
at offset o from its axis lie o - 0.3 m from the bottom's edge. The expected values are worked
out in the comments from the rules (twin/analysis/excavation_rules.toml): clearances 0.4 m
across and 0.2 m below, 1.0 m to long-distance mains, position uncertainty 0.1 m (measured),
0.5 m (design), 1.0 m (plans or unknown), walls sloped at 45° in the default non-cohesive soil
deeper than 1.25 m. The same cases through a twin written to a GeoPackage and to PostGIS,
and the ``trench-check`` process's index of a rebuilt or edited twin, at the end. Trees,
limits, soils and data quality: tests/twin/test_trench_rules.py.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import psycopg
import pyogrio
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine

import twin
from twin.analysis.trench import ExcavationIndex, check_trench
from twin.errors import InputError
from twin.model import CityModel
from twin.processes.trench import index_for
from twin.store import is_database, write
from twin.store.postgis import Database
from twin.terrain import Terrain

CRS = pyproj.CRS("EPSG:31258+5778")
X0, Y0 = 524600.0, 165500.0


def _terrain(tmp_path) -> Terrain:
    path = tmp_path / "dtm.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=100,
        height=100,
        count=1,
        dtype="float32",
        crs=CRS.to_wkt(),
        transform=Affine(1.0, 0.0, X0, 0.0, -1.0, Y0 + 100),
    ) as dst:
        dst.write(np.full((1, 100, 100), 445.0, dtype="float32"))
    return Terrain.from_raster(path)


def line(x0, y0, x1, y1) -> shapely.LineString:
    """A line in the case's local metres (origin X0, Y0)."""
    return shapely.LineString([(X0 + x0, Y0 + y0), (X0 + x1, Y0 + y1)])


def parallel(offset: float) -> shapely.LineString:
    """A line the length of the trench, ``offset`` m north of its axis."""
    return line(10, 50 + offset, 90, 50 + offset)


def model(tmp_path, utilities=(), trees=(), parcels=(), soils=()) -> CityModel:
    """A flat twin of the given features (dicts with a ``geometry``)."""

    def frame(rows):
        rows = [dict(r) for r in rows]
        geometry = [r.pop("geometry") for r in rows]
        return gpd.GeoDataFrame(rows, geometry=geometry, crs=CRS)

    layers = {"utilities": frame(utilities), "trees": frame(trees), "parcels": frame(parcels)}
    if soils:
        layers["soils"] = frame(soils)
    return CityModel(crs=CRS, layers=layers, terrain=_terrain(tmp_path))


def index_of(tmp_path, **features) -> ExcavationIndex:
    return ExcavationIndex.from_model(model(tmp_path, **features))


def pipe(uid, network, geometry, depth, source="measured", accuracy=0.1, dia=100.0, **more):
    return {
        "utility_id": uid,
        "network": network,
        "operator": "op",
        "status": "in_service",
        "diameter_mm": dia,
        "depth_m": depth,
        "depth_accuracy_m": accuracy,
        "depth_source": source,
        "geometry": geometry,
        **more,
    }


TRENCH = line(10, 50, 90, 50)  # 80 m along y = 50


def rows_of(result):
    return result.utilities.set_index("utility_id")


def test_crossing_clearance(tmp_path):
    # A water main crossing at 1.65 m cover, measured ±0.1 m: its top may be at 1.55 m.
    index = index_of(tmp_path, utilities=[pipe("W1", "water", line(50, 20, 50, 80), 1.65)])
    shallow = check_trench(index, TRENCH, width=0.6, depth=1.2)
    row = shallow.utilities.iloc[0]
    assert row["crosses"] and not row["inside_excavation"]
    assert row["vertical_clearance_m"] == pytest.approx(0.35)  # 1.55 - 1.2
    assert row["severity"] == "info" and row["rule"] == "clearance.vertical"
    assert len(shallow.hand_digging) == 0  # 0.35 m below the bottom: no hand digging
    deep = check_trench(index, TRENCH, width=0.6, depth=1.5)
    row = deep.utilities.iloc[0]
    assert row["vertical_clearance_m"] == pytest.approx(0.05)  # 1.55 - 1.5 < 0.2
    assert row["severity"] == "critical" and row["rule"] == "clearance.vertical"
    inside = check_trench(index, TRENCH, width=0.6, depth=1.8)
    assert inside.utilities.iloc[0]["inside_excavation"]  # top 1.55 m above a 1.8 m bottom
    assert inside.utilities.iloc[0]["severity"] == "critical"
    # Hand digging within 0.3 + 0.1 + 0.05 m of the main: a 0.9 m strip across the trench's
    # 0.6 + 2 × 1.8 = 4.2 m wide top (45° walls), 3.78 m².
    assert inside.hand_digging["area_m2"].sum() == pytest.approx(0.9 * 4.2)


def test_parallel_clearance(tmp_path):
    # Gas pipes of 0.1 m at 0.8 m cover: clear distance = offset - 0.3 - 0.05, against
    # 0.4 m clearance + 0.1 m position uncertainty = 0.5 m.
    far = pipe("G1", "gas", parallel(1.0), 0.8)  # 0.65 m: clear
    near = pipe("G2", "gas", parallel(-0.8), 0.8)  # 0.45 m: too close
    result = check_trench(index_of(tmp_path, utilities=[far, near]), TRENCH, width=0.6, depth=1.0)
    rows = rows_of(result)
    assert rows.loc["G1", "horizontal_clearance_m"] == pytest.approx(0.65)
    assert rows.loc["G1", "severity"] == "info"
    assert rows.loc["G2", "horizontal_clearance_m"] == pytest.approx(0.45)
    assert rows.loc["G2", "severity"] == "warning"
    assert rows.loc["G2", "rule"] == "clearance.horizontal"
    assert result.status == "amber"


def test_line_within_the_slope_may_lie_inside(tmp_path):
    # A 2 m deep trench slopes at 45°: its wall reaches 2 m beyond the bottom edge at the
    # surface, 2 × (1 - 0.8 / 2) = 1.2 m at 0.8 m depth, the top of a gas pipe at 0.9 m cover
    # ± 0.1 m. At offset 1.5 m the pipe's wall is 1.5 - 0.3 - 0.05 - 1.2 = -0.05 m from the
    # sloped wall: inside the slope. At offset 3.0 m: 2.7 - 0.05 - 1.2 = 1.45 m, clear.
    inside = pipe("G1", "gas", parallel(1.5), 0.9)
    clear = pipe("G2", "gas", parallel(-3.0), 0.9)
    result = check_trench(index_of(tmp_path, utilities=[inside, clear]), TRENCH, width=0.6, depth=2)
    rows = rows_of(result)
    assert rows.loc["G1", "horizontal_clearance_m"] == pytest.approx(-0.05)
    assert rows.loc["G1", "severity"] == "critical"
    assert rows.loc["G1", "finding"].startswith("may lie inside the excavation")
    assert rows.loc["G2", "horizontal_clearance_m"] == pytest.approx(1.45)
    assert rows.loc["G2", "severity"] == "info"
    assert list(result.hand_digging["utility_id"]) == ["G1"]


def test_deep_sewer_beside_the_trench_is_clear(tmp_path):
    # A DN 300 sewer 1.0 m beside the axis, 3.4 m cover ± 0.1 m, its position from old plans
    # (± 1.0 m). Across it is 1.0 - 0.3 - 0.15 = 0.55 m from the 1.2 m deep trench, within its
    # position uncertainty; but its top (3.3 m) lies 2.1 m below the bottom, more than the
    # 0.2 m vertical clearance: it cannot lie inside the excavation, needs no hand digging.
    sewer = pipe("K1", "sewer", parallel(1.0), 3.4, source="default", dia=300.0)
    result = check_trench(index_of(tmp_path, utilities=[sewer]), TRENCH, width=0.6, depth=1.2)
    row = result.utilities.iloc[0]
    assert row["severity"] == "info" and row["rule"] == "clearance.vertical"
    assert row["finding"] == "runs deeper than the trench bottom plus the vertical clearance"
    assert row["vertical_clearance_m"] == pytest.approx(2.1)
    assert len(result.hand_digging) == 0
    # Nothing found; amber only because the sewer is known from plans.
    assert result.verdict.startswith("AMBER trench trench: 0 critical, 0 warning(s)")


def test_line_just_below_the_bottom_beside_the_trench(tmp_path):
    # A sewer (DN 300) whose top may lie at 2.2 - 0.1 = 2.1 m, 0.1 m below a 2 m deep trench:
    # less than the 0.2 m vertical clearance. 0.6 m beside the axis it is 0.6 - 0.3 - 0.15 =
    # 0.15 m across from the bottom (the walls do not reach below the bottom). Measured
    # (± 0.1 m) it is clear of the bottom but closer than 0.4 + 0.1 m: a warning. From plans
    # (± 1.0 m) it may run under the bottom: critical.
    measured = pipe("K1", "sewer", parallel(0.6), 2.2, dia=300.0)
    planned = pipe("K2", "sewer", parallel(-0.6), 2.2, source="default", dia=300.0)
    index = index_of(tmp_path, utilities=[measured, planned])
    rows = rows_of(check_trench(index, TRENCH, width=0.6, depth=2.0))
    assert rows.loc["K1", "horizontal_clearance_m"] == pytest.approx(0.15)
    assert rows.loc["K1", "vertical_clearance_m"] == pytest.approx(0.1)
    assert rows.loc["K1", "severity"] == "warning"
    assert rows.loc["K2", "severity"] == "critical" and rows.loc["K2", "rule"] == (
        "clearance.vertical"
    )
    assert rows.loc["K2", "finding"].startswith("may cross under the trench")


def test_long_distance_main_is_an_attribute_not_a_diameter(tmp_path):
    # Parallel at 1.3 m from the axis. A DN 600 water main is an ordinary line: clear distance
    # 1.3 - 0.3 - 0.3 = 0.7 m >= 0.4 + 0.1. A DN 200 transmission gas main: 1.3 - 0.3 - 0.1 =
    # 0.9 m < 1.0 + 0.1: a warning. So is a DN 200 main flagged long_distance_main, and a line
    # whose operator asks for a 2.0 m protection strip: 0.9 < 2.0 + 0.1.
    lines = [
        pipe("W1", "water", parallel(1.3), 1.5, dia=600.0),
        pipe("G1", "gas", parallel(-1.3), 1.0, dia=200.0, function="transmission"),
        pipe("G2", "gas", line(10, 48.7, 50, 48.7), 1.0, dia=200.0, long_distance_main=True),
        pipe("G3", "gas", line(50, 48.7, 90, 48.7), 1.0, dia=200.0, protection_strip_m=2.0),
    ]
    rows = rows_of(check_trench(index_of(tmp_path, utilities=lines), TRENCH, width=0.6, depth=1))
    assert rows.loc["W1", "required_clearance_m"] == pytest.approx(0.4)
    assert rows.loc["W1", "severity"] == "info" and not rows.loc["W1", "long_distance_main"]
    for uid in ("G1", "G2"):
        assert rows.loc[uid, "long_distance_main"]
        assert rows.loc[uid, "required_clearance_m"] == pytest.approx(1.0)
        assert rows.loc[uid, "severity"] == "warning"
        assert rows.loc[uid, "rule"] == "clearance.long_distance_main"
    assert rows.loc["G3", "required_clearance_m"] == pytest.approx(2.0)
    assert rows.loc["G3", "rule"] == "protection_strip_m (operator)"


def test_unknown_depth_is_never_clear(tmp_path):
    # A telecom cable of unknown depth: the typical 0.6 to 1.0 m cover.
    cable = pipe("T1", "telecom", line(50, 20, 50, 80), np.nan, "unknown", np.nan, np.nan)
    index = index_of(tmp_path, utilities=[cable])
    # 0.4 m deep: 0.6 - 0.4 = 0.2 m below, clear, but a warning; 1.5 m: inside.
    for depth, severity in ((0.4, "warning"), (1.5, "critical"), (3.0, "critical")):
        result = check_trench(index, TRENCH, width=0.6, depth=depth)
        row = result.utilities.iloc[0]
        assert row["severity"] == severity
        assert row["finding"].endswith("depth unknown: exploratory slot required")
        assert result.status != "green"
        assert result.data_quality["lines_unknown_depth"] == ["T1"]


def test_unknown_network_does_not_borrow_the_sewer_depth(tmp_path):
    # An oil line of unknown depth, a network the rules know no depth of, crossing a 0.5 m
    # deep trench. With the sewer's 1.0 to 4.0 m it would pass 0.5 m below; unknown, it may
    # lie anywhere from the surface down: inside the excavation.
    oil = pipe("O1", "oil", line(50, 20, 50, 80), np.nan, "unknown", np.nan)
    beside = pipe("O2", "oil", line(10, 52.0, 90, 52.0), np.nan, "unknown", np.nan)
    result = check_trench(index_of(tmp_path, utilities=[oil, beside]), TRENCH, width=0.6, depth=0.5)
    rows = rows_of(result)
    assert rows.loc["O1", "depth_top_min_m"] == 0.0 and np.isnan(rows.loc["O1", "depth_top_max_m"])
    assert rows.loc["O1", "severity"] == "critical" and rows.loc["O1", "inside_excavation"]
    assert rows.loc["O1", "uncertainty_class"] == "unknown network"
    # 2.0 - 0.3 - 0.05 = 1.65 m beside, more than 0.4 + 1.0: clear, but never below a warning.
    assert rows.loc["O2", "horizontal_clearance_m"] == pytest.approx(1.65)
    assert rows.loc["O2", "severity"] == "warning" and rows.loc["O2", "rule"] == "unknown network"
    assert rows.loc["O2", "finding"].endswith("exploratory slot required")
    assert result.data_quality["lines_unknown_network"] == ["O1", "O2"]


def test_an_old_measured_line_is_not_weak_data(tmp_path):
    # A gas pipe laid in 1950 but measured in the open trench: 1.0 - 0.3 - 0.05 = 0.65 m clear
    # of the 0.5 m limit. Its age alone does not make the data weak: green.
    old = pipe("G1", "gas", parallel(1.0), 0.8, year_laid=1950)
    result = check_trench(index_of(tmp_path, utilities=[old]), TRENCH, width=0.6, depth=1.0)
    assert result.utilities.iloc[0]["severity"] == "info"
    assert result.data_quality["lines_from_old_plans"] == []
    assert not result.data_quality["weak"] and result.status == "green"


#: a public road west of x = 50 and a private parcel east of it
PARCELS = [
    {
        "kg": "72127",
        "gst": "100/1",
        "land_use": "road",
        "public": True,
        "geometry": shapely.box(X0, Y0, X0 + 50, Y0 + 100),
    },
    {
        "kg": "72127",
        "gst": ".12",
        "land_use": "building",
        "public": False,
        "geometry": shapely.box(X0 + 50, Y0, X0 + 100, Y0 + 100),
    },
]


def test_volume_with_sloped_ends_parcels_and_support(tmp_path):
    index = index_of(tmp_path, parcels=PARCELS)
    shallow = check_trench(index, TRENCH, width=0.6, depth=1.0)
    assert shallow.support == "none needed"
    assert shallow.volume == pytest.approx(0.6 * 1.0 * 80)  # 48 m³, vertical walls
    assert shallow.surface_area == pytest.approx(0.6 * 80)
    # Works = trench + 0.5 m strip all round: 1.6 m × 81 m, split at x = 50 into 40.5 m each.
    rows = shallow.parcels.set_index("gst")
    assert rows.loc["100/1", "area_m2"] == pytest.approx(1.6 * 40.5)
    assert rows.loc[".12", "area_m2"] == pytest.approx(1.6 * 40.5)
    assert rows.loc["100/1", "ownership"] == "public road or space"
    assert rows.loc[".12", "ownership"] == "private: consent needed"
    assert shallow.status == "green"
    deep = check_trench(index, TRENCH, width=0.6, depth=2.0)
    # 45° walls, run r = 2 m, sloped at the ends too: a prismatoid of bottom 0.6 × 80 and top
    # 4.6 × 84. d/6 (A_bottom + 4 A_middle + A_top) = 2/6 (48 + 4 × 2.6 × 82 + 386.4)
    # = 429.0667 m³ (= d (bL + r (b + L) + 4/3 r²) = 2 (48 + 161.2 + 5.3333)).
    assert deep.volume == pytest.approx(429.0667, abs=1e-3)
    assert deep.surface_area == pytest.approx(4.6 * 84)
    shored = check_trench(index, TRENCH, width=0.6, depth=2.0, support="shoring")
    assert shored.volume == pytest.approx(0.6 * 2.0 * 80)


def test_volume_of_a_trench_in_two_runs(tmp_path):
    # Two separate 30 m runs, 2 m deep, 45° (r = 2), four sloped ends:
    # 2 × 2.6 × 60 + 2 × 2 × (2 × 0.6 + 4/3 × 4) = 312 + 26.1333 = 338.1333 m³.
    runs = shapely.MultiLineString([[(X0 + 10, Y0 + 50), (X0 + 40, Y0 + 50)],
                                    [(X0 + 60, Y0 + 50), (X0 + 90, Y0 + 50)]])  # fmt: skip
    result = check_trench(index_of(tmp_path), runs, width=0.6, depth=2.0)
    assert result.length == pytest.approx(60.0)
    assert result.volume == pytest.approx(338.1333, abs=1e-3)
    assert result.surface_area == pytest.approx(4.6 * (60 + 4 * 2))


@pytest.mark.parametrize(
    ("geometry", "kwargs", "message"),
    [
        (shapely.LineString(), {}, "empty geometry"),
        (
            shapely.LineString(
                [(X0 + 10, Y0 + 10), (X0 + 30, Y0 + 30), (X0 + 30, Y0 + 10), (X0 + 10, Y0 + 30)]
            ),
            {},
            "intersects itself",
        ),
        (TRENCH, {"depth": 0.0}, "must be positive"),
        (TRENCH, {"depth": -1.0}, "must be positive"),
        (TRENCH, {"depth": float("inf")}, "depth must be a finite number"),
        (TRENCH, {"width": float("nan")}, "width must be a finite number"),
        (TRENCH, {"soil": "clay"}, "soil class must be one of"),
        (TRENCH, {"method": "dredge"}, "method must be"),
        (line(50, 50, 500, 50), {}, "outside the twin"),
        (line(50, 50, 50, 50), {}, "no length"),
        (line(50, 50, 50.0005, 50), {}, "no length"),  # 0.5 mm: within the 1 mm tolerance
        (shapely.box(X0, Y0, X0 + 1, Y0 + 1), {}, "centreline"),
    ],
)
def test_bad_trenches_are_refused(tmp_path, geometry, kwargs, message):
    options = {"width": 0.6, "depth": 1.5, **kwargs}
    with pytest.raises(InputError, match=message):
        check_trench(index_of(tmp_path), geometry, **options)


def test_sample_street_trench(sample_store, sample_twin):
    """A trench 0.5 m beside a water main of the sample district, 1.8 m deep, checked
    against the twin in each store (the main chosen from the GeoPackage, read by pyogrio).

    The main's cover is at most 1.8 m (ingest/synthetic/networks.py: 1.3 to 1.8 m; unknown, the
    typical 0.8 to 1.6 m), its top at most 1.8 - 0.1 = 1.7 m: above the trench bottom. There
    the trench's 45° wall reaches 1.8 - top >= 0.1 m beyond the bottom edge, and the main
    (DN 300 at most) lies at most 0.5 - 0.3 - 0.05 - 0.1 = 0.05 m from the wall, less than the
    smallest position uncertainty (0.1 m): it may lie inside the excavation whatever its
    depth source, and the trench is red.
    """
    index = ExcavationIndex.from_model(twin.open(sample_store))
    water = pyogrio.read_dataframe(sample_twin, layer="utilities")
    main = water[(water["network"] == "water") & (water["status"] == "in_service")].iloc[0]
    axis = shapely.offset_curve(main.geometry, 0.5)
    result = check_trench(index, axis, width=0.6, depth=1.8, trench_id="street")
    found = result.utilities.set_index("utility_id")
    assert found.loc[main["utility_id"], "severity"] == "critical"
    assert result.status == "red"
    assert len(result.parcels) >= 1
    # 45° walls: the volume of the prismatoid of the trench's length.
    r = 1.8
    expected = 1.8 * (0.6 * result.length + r * (0.6 + result.length) + 4 / 3 * r * r)
    assert result.volume == pytest.approx(expected)
    data = result.to_dict()
    assert data["verdict"].startswith("RED")
    assert data["soil"] == "non_cohesive" and data["soil_from"] == "city default"
    assert set(data["rules"]) >= {"clearance.horizontal", "trench.support_depth"}
    # The sample's trees have a measured circumference and (mostly) a crown: where the
    # crown is missing the root zone is estimated from the circumference, and flagged. A
    # street tree is critical only where the excavation itself enters its root zone closer
    # than its trunk minimum (before, trees whose root zone only machine damage reached were
    # critical too, for their trunk minimum alone).
    trees = result.trees
    live = trees[trees["severity"] != "info"]
    closest = np.minimum(live["root_zone_radius_m"], live["trunk_min_m"])
    critical = live["severity"] == "critical"
    assert (live.loc[critical, "trunk_distance_m"] < closest[critical]).all()
    assert (live.loc[~critical, "trunk_distance_m"] >= closest[~critical] - 0.001).all()
    assert set(trees["stem_from"]) <= {"measured circumference"}
    no_crown = trees["root_zone_from"] != "crown"
    assert (trees.loc[no_crown, "root_zone_from"] == "estimated from trunk circumference").all()


# -- through a store -------------------------------------------------------------------------


def test_a_stored_twin_gives_the_findings_worked_out_by_hand(tmp_path, new_twin):
    """The cases above, written to a store and read back: the attributes the rules read
    (booleans, missing depths, the operator's strip) and the terrain come back as given."""
    lines = [
        pipe("W1", "water", line(50, 20, 50, 80), 1.65),
        pipe("G1", "gas", parallel(-1.3), 1.0, dia=200.0, function="transmission"),
        pipe("G2", "gas", line(10, 48.7, 50, 48.7), 1.0, dia=200.0, long_distance_main=True),
        pipe("G3", "gas", parallel(1.3), 1.0, dia=200.0, protection_strip_m=2.0),
        pipe("T1", "telecom", line(30, 20, 30, 80), np.nan, "unknown", np.nan, np.nan),
    ]
    written = write(model(tmp_path, utilities=lines, parcels=PARCELS), new_twin)
    index = ExcavationIndex.from_model(twin.open(written))
    result = check_trench(index, TRENCH, width=0.6, depth=1.5)
    rows = rows_of(result)
    # W1 crosses with its top at 1.65 - 0.1 = 1.55 m: 0.05 m below the 1.5 m bottom
    assert rows.loc["W1", "vertical_clearance_m"] == pytest.approx(0.05)
    assert rows.loc["W1", "severity"] == "critical"
    # The DN 200 gas mains 1.3 m beside the axis, top at 1.0 - 0.1 = 0.9 m: there the 45°
    # wall reaches 1.5 - 0.9 = 0.6 m beyond the bottom edge, so the pipe wall lies
    # 1.3 - 0.3 - 0.1 - 0.6 = 0.3 m from it: more than its 0.1 m uncertainty, less than
    # 1.0 + 0.1 m (a long-distance main, by function or by flag) or 2.0 + 0.1 m (the
    # operator's strip): warnings
    for uid, rule in (
        ("G1", "clearance.long_distance_main"),
        ("G2", "clearance.long_distance_main"),
        ("G3", "protection_strip_m (operator)"),
    ):
        assert rows.loc[uid, "horizontal_clearance_m"] == pytest.approx(0.3), uid
        assert (rows.loc[uid, "severity"], rows.loc[uid, "rule"]) == ("warning", rule), uid
    assert not rows.loc["G3", "long_distance_main"]
    # T1's depth unknown: the typical 0.6 to 1.0 m of a telecom cable, inside the excavation
    assert rows.loc["T1", "severity"] == "critical" and rows.loc["T1", "inside_excavation"]
    assert result.data_quality["lines_unknown_depth"] == ["T1"]
    # Walls at 45° from 1.5 m deep: r = 1.5 m. V = d (bL + r (b + L) + 4/3 r²)
    # = 1.5 (48 + 1.5 × 80.6 + 3) = 257.85 m³; opened 3.6 m wide along 80 + 2 × 1.5 m
    assert result.volume == pytest.approx(257.85)
    assert result.surface_area == pytest.approx(3.6 * 83)  # the flat 445 m terrain: 2D = 3D
    # The works, 3.6 + 2 × 0.5 = 4.6 m wide, from x = 10 - 1.5 - 0.5 = 8 to 92, split at
    # x = 50: 4.6 × 42 = 193.2 m² on each parcel, the public road and the private one
    parcels = result.parcels.set_index("gst")
    assert parcels["area_m2"].to_dict() == pytest.approx({"100/1": 193.2, ".12": 193.2})
    assert parcels.loc["100/1", "ownership"] == "public road or space"
    assert parcels.loc[".12", "ownership"] == "private: consent needed"
    assert result.status == "red"


def _delete_line(where: Path | str, utility_id: str) -> None:
    """Delete one line of the twin in place, as a desktop GIS saving an edit does."""
    if is_database(where):
        db = Database.parse(str(where))
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            conn.execute(f"DELETE FROM {db.table('utilities')} WHERE utility_id = %s", [utility_id])
        return
    with contextlib.closing(sqlite3.connect(where)) as conn:
        conn.execute("DELETE FROM utilities WHERE utility_id = ?", [utility_id])
        conn.commit()


def test_the_process_index_follows_a_rebuilt_or_edited_twin(tmp_path, new_twin):
    """``trench-check`` builds the index of a twin once and keeps it while the store's
    change token stays; a rebuilt twin (a new GeoPackage file, a new PostGIS schema) and one
    edited in place each get a new index, and a trench is checked against the new lines."""
    w1 = pipe("W1", "water", line(50, 20, 50, 80), 1.65)
    w2 = pipe("W2", "water", line(70, 20, 70, 80), 1.65)
    where = write(model(tmp_path, utilities=[w1]), new_twin)
    first = index_for(where)
    assert index_for(where) is first  # the same twin: the index is not built again
    assert first.utilities["utility_id"].tolist() == ["W1"]
    write(model(tmp_path, utilities=[w1, w2]), where)
    rebuilt = index_for(where)
    assert rebuilt is not first
    assert sorted(rebuilt.utilities["utility_id"]) == ["W1", "W2"]
    assert index_for(where) is rebuilt
    _delete_line(where, "W1")
    edited = index_for(where)
    assert edited.utilities["utility_id"].tolist() == ["W2"]
    # across W2 only now, its top 1.55 m above a 1.8 m bottom: inside
    result = check_trench(edited, TRENCH, width=0.6, depth=1.8)
    assert rows_of(result).index.tolist() == ["W2"]
    assert rows_of(result).loc["W2", "inside_excavation"]
