"""Coordination of planned works: hand-computed cases, then the sample district in each
store (GeoPackage and PostGIS)."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from click.testing import CliRunner

import twin
from twin.analysis.coordination import NOT_KINDS, coordinate
from twin.analysis.rules import Rules
from twin.cli import main
from twin.errors import InputError

CRS = "EPSG:31258"
X0, Y0 = 524600.0, 165500.0
#: GEOS draws a round buffer with 8 chords a quarter circle: a 10 m arc is off by up to
#: 10 m × (1 - cos 5.625°) = 4.8 cm
ARC = 0.05


def _work(wid, operator, x0, x1, start, end, y=0.0, **extra):
    return {
        "work_id": wid,
        "operator": operator,
        "start": start,
        "end": end,
        "trench_width_m": 0.6,
        "trench_depth_m": 1.0,
        "kind": "renewal",
        "emergency": False,
        **extra,
        "geometry": shapely.LineString([(X0 + x0, Y0 + y), (X0 + x1, Y0 + y)]),
    }


def _frame(rows):
    rows = [dict(r) for r in rows]
    geometry = [r.pop("geometry") for r in rows]
    return gpd.GeoDataFrame(rows, geometry=geometry, crs=CRS)


def _surface(sid, kind, *, y=0.0, completed=None, planned=None, street=None):
    return {
        "surface_id": sid,
        "kind": kind,
        "status": "planned" if planned else "completed",
        "completed": completed,
        "planned": planned,
        "street": street,
        "geometry": shapely.box(X0 - 5, Y0 + y - 5, X0 + 105, Y0 + y + 5),
    }


def _pairs(table):
    return set(zip(table["work_a"], table["work_b"], strict=True))


def test_two_works_on_one_street_are_clustered():
    works = _frame(
        [
            _work("A", "Wasser", 0, 100, "2027-03-01", "2027-06-30"),
            _work("B", "Gas", 40, 160, "2027-05-01", "2027-08-31", y=2.0),
            _work("C", "Telekom", 500, 600, "2027-05-01", "2027-08-31"),
        ]
    )
    result = coordinate(works)
    assert len(result.clusters) == 1
    cluster = result.clusters.iloc[0]
    assert cluster["works"] == "A, B"
    assert cluster["operators"] == "Gas, Wasser"
    assert cluster["span_days"] == 183  # 1 March to 31 August: 30 + 30 + 31 + 30 + 31 + 31
    pair = result.pairs.iloc[0]
    assert pair["overlap_days"] == 60  # 1 May to 30 June
    # B's trench (y 1.7 to 2.3 from x = 40) is within 10 m of A's line (y = 0) from
    # x = 40 - sqrt(10² - 1.7²) = 30.146 on; A's trench is within 10 m of B's line up to
    # x = 100 + sqrt(10² - 1.7²): either way 60 + 9.854 m
    shared = 60 + (100 - 1.7**2) ** 0.5
    assert pair["shared_length_m"] == pytest.approx(shared, abs=ARC)
    assert cluster["shared_length_m"] == pytest.approx(shared, abs=ARC)
    # 1.0 m deep: vertical walls. Separately 0.6 × 1.0 m² twice, jointly (0.6 + 0.3) × 1.0 m²:
    # 0.3 m³ a metre saved, and 0.6 + 0.6 - 0.9 = 0.3 m² of asphalt a metre
    assert cluster["joint_trench_width_m"] == pytest.approx(0.9)
    assert cluster["volume_saved_m3"] == pytest.approx(0.3 * shared, abs=0.3 * ARC)
    assert cluster["asphalt_saved_m2"] == pytest.approx(0.3 * shared, abs=0.3 * ARC)
    assert result.sequencing.empty


def test_joint_trench_of_deep_works_has_sloped_walls():
    b = {"y": 1.0, "trench_width_m": 0.8, "trench_depth_m": 1.5}
    works = _frame(
        [
            _work("A", "Kanal", 0, 100, "2027-04-01", "2027-06-30", trench_depth_m=2.0),
            _work("B", "Wasser", 0, 100, "2027-05-01", "2027-07-31", **b),
        ]
    )
    result = coordinate(works)
    cluster = result.clusters.iloc[0]
    # Both run their full 100 m within 10 m of each other.
    assert cluster["shared_length_m"] == pytest.approx(100.0)
    # Deeper than 1.25 m, walls sloped at 45° in the default non-cohesive soil: each wall
    # reaches depth / tan 45° = depth beyond the bottom at the surface.
    # A: 0.6 m × 2.0 m: area 2.0 × (0.6 + 2.0) = 5.2 m², top 0.6 + 2 × 2.0 = 4.6 m
    # B: 0.8 m × 1.5 m: area 1.5 × (0.8 + 1.5) = 3.45 m², top 0.8 + 2 × 1.5 = 3.8 m
    # joint: the widest (0.8 m) + 0.3 m = 1.1 m at the largest depth 2.0 m:
    #   area 2.0 × (1.1 + 2.0) = 6.2 m², top 1.1 + 2 × 2.0 = 5.1 m
    assert cluster["joint_trench_width_m"] == pytest.approx(1.1)
    assert cluster["joint_trench_depth_m"] == pytest.approx(2.0)
    assert cluster["joint_trench_top_width_m"] == pytest.approx(5.1)
    assert cluster["joint_trench_support"] == "slope"
    assert cluster["volume_separate_m3"] == pytest.approx(865.0)  # (5.2 + 3.45) × 100
    assert cluster["volume_joint_m3"] == pytest.approx(620.0)  # 6.2 × 100
    assert cluster["volume_saved_m3"] == pytest.approx(245.0)
    assert cluster["asphalt_separate_m2"] == pytest.approx(840.0)  # (4.6 + 3.8) × 100
    assert cluster["asphalt_joint_m2"] == pytest.approx(510.0)  # 5.1 × 100
    assert cluster["asphalt_saved_m2"] == pytest.approx(330.0)
    assert "trench.slope_angle.non_cohesive" in result.rules_used


@pytest.mark.parametrize("rows", [("A", "B"), ("B", "A")])
def test_sequencing_names_the_earlier_work_first(rows):
    given = {
        "A": _work("A", "Wasser", 0, 100, "2027-01-01", "2027-02-01"),
        "B": _work("B", "Gas", 0, 100, "2028-06-01", "2028-07-01"),
    }
    later = _work("C", "Strom", 0, 100, "2031-01-01", "2031-02-01")  # years later: fine
    works = _frame([*(given[r] for r in rows), later])
    result = coordinate(works)
    assert len(result.clusters) == 0
    row = result.sequencing.iloc[0]
    assert len(result.sequencing) == 1
    assert (row["work_a"], row["work_b"], row["operator_a"]) == ("A", "B", "Wasser")
    # 1 February 2027 to 1 June 2028: 365 + 29 + 31 + 30 + 31 + 31 (Feb 2028 has 29 days)
    assert row["gap_days"] == 486
    assert row["problem"].startswith("B would reopen the street 486 days after A ends")
    assert row["problem"].endswith("combine or reorder")


def test_sequencing_of_works_starting_together_is_by_work_id():
    # Each 487 days long (1 March 2027 to 30 June 2028: 366 + 121), longer than the window,
    # so the two cannot share a cluster, and they overlap for all 487 days.
    works = _frame(
        [
            _work("W2", "Gas", 0, 100, "2027-03-01", "2028-06-30"),
            _work("W1", "Wasser", 0, 100, "2027-03-01", "2028-06-30"),
        ]
    )
    result = coordinate(works)
    assert result.clusters.empty
    row = result.sequencing.iloc[0]
    assert (row["work_a"], row["work_b"], row["overlap_days"]) == ("W1", "W2", 487)
    assert row["problem"].startswith("W2 would open the street while W1 has it open (487 days")


def test_clusters_stay_within_the_window():
    # One street, four works; each is within the 365-day window of the one before, which
    # chained all four into one cluster. The window runs from A's start to 1 January 2028.
    works = _frame(
        [
            _work("D", "Strom", 0, 100, "2028-05-01", "2028-06-01"),
            _work("A", "Wasser", 0, 100, "2027-01-01", "2027-02-01"),
            _work("C", "Gas", 0, 100, "2027-12-01", "2027-12-31"),
            _work("B", "Telekom", 0, 100, "2027-06-01", "2027-07-01"),
        ]
    )
    result = coordinate(works)
    assert list(result.clusters["works"]) == ["A, B, C"]
    assert result.clusters["span_days"].iloc[0] == 364  # 1 January to 31 December 2027
    assert _pairs(result.pairs) == {("A", "B"), ("A", "C"), ("B", "C")}
    # D ends after 1 January 2028: alone, and inside the 2-year moratorium of A, B and C.
    # Days from their ends to 1 May 2028: A 365 + 29 + 31 + 30 = 455,
    # B 31+31+30+31+30+31 (Jul-Dec) + 31 + 29 + 31 + 30 = 305, C 1 + 31 + 29 + 31 + 30 = 122
    gaps = dict(zip(result.sequencing["work_a"], result.sequencing["gap_days"], strict=True))
    assert gaps == {"A": 455, "B": 305, "C": 122}
    assert set(result.sequencing["work_b"]) == {"D"}
    # a pair is coordinated or a sequencing conflict, never both
    assert not _pairs(result.pairs) & _pairs(result.sequencing)


def test_clusters_do_not_chain_along_a_street():
    # P and Q are 5 m apart, Q and R 5 m, but P and R 60 m: Q joins P (the earlier);
    # R is near Q only, so it cannot join, and would open the street while Q has it open.
    works = _frame(
        [
            _work("R", "Gas", 110, 160, "2027-03-03", "2027-04-30"),
            _work("Q", "Strom", 55, 105, "2027-03-02", "2027-04-30"),
            _work("P", "Wasser", 0, 50, "2027-03-01", "2027-04-30"),
        ]
    )
    result = coordinate(works)
    assert list(result.clusters["works"]) == ["P, Q"]
    assert _pairs(result.pairs) == {("P", "Q")}
    assert _pairs(result.sequencing) == {("Q", "R")}
    # from R's start, 3 March, to their ends, 30 April: 31 - 3 + 30
    assert result.sequencing["overlap_days"].iloc[0] == 58


def test_moratorium_by_kind_of_surface_work():
    works = _frame(
        [
            _work("A", "Wasser", 0, 100, "2027-03-01", "2027-04-01"),
            _work("E", "Gas", 0, 100, "2027-03-01", "2027-03-02", emergency=True),
            _work("H", "Strom", 0, 100, "2027-03-01", "2027-03-02", kind="house_connection"),
            _work("L", "Telekom", 0, 100, "2030-07-01", "2030-08-01"),  # after 2030-06-01
            _work("T1", "Gas", 0, 100, "2027-05-31", "2027-06-10", y=100),
            _work("T2", "Gas", 0, 100, "2027-06-01", "2027-06-10", y=100),
            _work("U1", "Strom", 0, 100, "2028-01-14", "2028-01-20", y=200),
            _work("U2", "Strom", 0, 100, "2028-01-15", "2028-01-20", y=200),
        ]
    )
    surface = _frame(
        [
            _surface("S1", "resurfacing", completed="2025-06-01"),  # 5 years: 2030-06-01
            _surface("S2", "surface_treatment", y=100, completed="2025-06-01"),  # 2 years
            _surface("S3", "kerb_renewal", y=200, completed="2026-01-15"),  # no rule: default
        ]
    )
    result = coordinate(works, surface_works=surface)
    flagged = result.moratorium.set_index("work_id")
    assert set(flagged.index) == {"A", "E", "H", "T1", "U1"}
    assert flagged.loc["A", "problem"] == "breaks the moratorium"
    assert flagged.loc["A", "moratorium_until"] == "2030-06-01"
    assert flagged.loc["A", "completed"] == "2025-06-01"
    assert flagged.loc["E", "exempt"] and flagged.loc["H", "exempt"]
    assert not flagged.loc["A", "exempt"]
    assert flagged.loc["T1", "moratorium_until"] == "2027-06-01"  # T2 starts that day: free
    assert flagged.loc["U1", "moratorium_until"] == "2028-01-15"  # the default, 2 years
    assert flagged.loc["U1", "moratorium_years"] == 2
    assert {"moratorium.surface_treatment", "moratorium.default"} <= set(result.rules_used)


def test_planned_resurfacing_dig_first_and_moratorium():
    works = _frame(
        [
            _work("A", "Wasser", 0, 50, "2027-03-01", "2027-04-01"),
            _work("O", "Gas", 0, 50, "2028-04-01", "2028-06-15"),  # still open on 1 May
            _work("M", "Strom", 60, 100, "2028-09-01", "2028-09-30"),  # inside: breach
            _work("N", "Telekom", 60, 100, "2033-05-01", "2033-05-20"),  # the day it ends
            _work("F", "Telekom", 0, 100, "2028-09-01", "2028-09-30", y=50),  # elsewhere
        ]
    )
    surface = _frame([_surface("S2", "resurfacing", planned="2028-05-01", street="Kramergasse")])
    utilities = _frame(
        [
            {
                "operator": "Gas",
                "status": "in_service",
                "geometry": shapely.LineString([(X0, Y0 + 1), (X0 + 100, Y0 + 1)]),
            },
            {
                "operator": "Alt",
                "status": "abandoned",
                "geometry": shapely.LineString([(X0, Y0 - 1), (X0 + 100, Y0 - 1)]),
            },
        ]
    )
    result = coordinate(works, utilities=utilities, surface_works=surface)
    row = result.resurfacing.iloc[0]
    assert row["operators_with_assets"] == "Gas"
    assert row["planned_works_there"] == "A, O"  # they dig first
    assert row["works_still_open"] == "O"
    assert row["moratorium_until"] == "2033-05-01"  # 5 years after 1 May 2028
    flagged = result.moratorium.set_index("work_id")
    assert list(flagged.index) == ["M"]
    assert flagged.loc["M", "moratorium_from"] == "2028-05-01"
    assert flagged.loc["M", "moratorium_until"] == "2033-05-01"
    assert flagged.loc["M", "surface_status"] == "planned"
    assert flagged.loc["M", "completed"] is None
    assert flagged.loc["M", "problem"] == (
        "breaks the moratorium of the resurfacing planned for 2028-05-01: dig before it"
    )


def test_no_works_still_lists_who_digs_first():
    works = _frame([_work("A", "Wasser", 0, 50, "2027-03-01", "2027-04-01")]).iloc[:0]
    surface = _frame([_surface("S2", "resurfacing", planned="2028-05-01")])
    utilities = _frame(
        [{"operator": "Gas", "geometry": shapely.LineString([(X0, Y0), (X0 + 9, Y0)])}]
    )
    result = coordinate(works, utilities=utilities, surface_works=surface)
    assert result.clusters.empty and result.pairs.empty and result.moratorium.empty
    assert result.resurfacing["operators_with_assets"].tolist() == ["Gas"]
    assert result.to_dict()["clusters"] == []


def test_bad_works_are_refused():
    works = _frame([_work("A", "Wasser", 0, 100, "2027-03-01", None)])
    with pytest.raises(InputError, match=r"without a valid start or end date: \['A'\]"):
        coordinate(works)
    works = _frame([_work("B", "Wasser", 0, 100, "2027-03-01", "2027-01-01")])
    with pytest.raises(InputError, match="end before they start"):
        coordinate(works)
    for width in (-1, "wide"):
        works = _frame([_work("C", "Gas", 0, 9, "2027-03-01", "2027-04-01", trench_width_m=width)])
        with pytest.raises(InputError, match=r"trench_width_m not a number above 0 m: \['C'\]"):
            coordinate(works)
    works = _frame([_work("D", "Gas", 0, 9, "2027-03-01", "2027-04-01", soil="peat")])
    with pytest.raises(InputError, match=r"soil not one of .*: \['D'\]"):
        coordinate(works)
    works = _frame([_work(w, "Gas", 0, 9, "2027-03-01", "2027-04-01") for w in "EE"])
    with pytest.raises(InputError, match=r"share a work_id: \['E'\]"):
        coordinate(works)
    works = _frame([_work("F", "Gas", 0, 9, "2027-03-01", "2027-04-01")])
    works.geometry = [shapely.box(X0, Y0, X0 + 1, Y0 + 1)]
    with pytest.raises(InputError, match=r"not \(Multi\)LineStrings: \['F'\]"):
        coordinate(works)
    works = _frame([_work("G", "Gas", 0, 9, "2027-03-01", "2027-04-01")])
    surface = _frame([_surface("S9", "resurfacing")])
    with pytest.raises(InputError, match=r"completed surface works without .*: \['S9'\]"):
        coordinate(works, surface_works=surface)


def test_every_moratorium_and_coordination_rule_is_a_city_setting():
    rules = Rules.load()
    names = [n for n in rules if n.split(".")[0] in ("coordination", "moratorium")]
    assert {"moratorium.resurfacing", "moratorium.reinstatement", "moratorium.default"} <= set(
        names
    )
    for name in names:
        assert rules[name].source.startswith("city setting"), name
        kind = name.removeprefix("moratorium.")
        if name.startswith("moratorium.") and kind not in NOT_KINDS:
            assert rules[name].unit == "years", name


def test_dig_coordinate_prints_clusters_and_conflicts(sample_store, tmp_path):
    b = {"y": 1.0, "trench_width_m": 0.8, "trench_depth_m": 1.5}
    path = tmp_path / "works.geojson"
    _frame(
        [
            _work("A", "Kanal", 0, 100, "2027-04-01", "2027-06-30", trench_depth_m=2.0),
            _work("B", "Wasser", 0, 100, "2027-05-01", "2027-07-31", **b),
            # ends 30 April 2028, more than 365 days after A starts: not in their cluster
            _work("C", "Gas", 0, 100, "2028-04-15", "2028-04-30"),
        ]
    ).to_file(path)
    result = CliRunner().invoke(main, ["dig", "coordinate", str(sample_store), str(path)])
    assert result.exit_code == 0, result.output
    # the deep pair of test_joint_trench_of_deep_works_has_sloped_walls
    assert "cluster 1: A, B (Kanal, Wasser), 2027-04-01 to 2027-07-31, 100 m shared, " in (
        result.output
    )
    assert "saves 245.0 m³ of excavation and 330.0 m² of asphalt" in result.output
    # 31 July 2027 to 15 April 2028: 31 + 30 + 31 + 30 + 31 + 31 + 29 + 31 + 15
    assert "sequencing: C would reopen the street 259 days after B ends" in result.output


def _greedy(works, join, window):
    """The clusters by the rule, one work at a time: a reference for the vectorised one."""
    corridor = shapely.buffer(
        works.geometry.to_numpy(), works["trench_width_m"].fillna(0.6) / 2, cap_style="flat"
    )
    start = [date.fromisoformat(s[:10]) for s in works["start"]]
    end = [date.fromisoformat(s[:10]) for s in works["end"]]
    ids = list(works["work_id"])
    clusters: list[list[int]] = []
    for i in sorted(range(len(works)), key=lambda k: (start[k], ids[k])):
        for members in clusters:  # the earliest first
            if (end[i] - start[members[0]]).days <= window and all(
                shapely.dwithin(corridor[i], corridor[j], join) for j in members
            ):
                members.append(i)
                break
        else:
            clusters.append([i])
    return [", ".join(ids[k] for k in members) for members in clusters if len(members) > 1]


def test_sample_district(sample_store, sample_twin):
    """The sample's works as each store gives them, against the rule applied one work at a
    time to the works of the GeoPackage, read by pyogrio."""
    model = twin.open(sample_store)
    works = model.layers["planned_works"]
    result = coordinate(
        works,
        utilities=model.layers["utilities"],
        surface_works=model.layers["surface_works"],
    )
    assert len(result.clusters) >= 1
    given = pyogrio.read_dataframe(sample_twin, layer="planned_works")
    assert list(result.clusters["works"]) == _greedy(given, 10.0, 365)
    spans = result.clusters["span_days"]
    start = np.array(result.clusters["start"], dtype="datetime64[D]")
    end = np.array(result.clusters["end"], dtype="datetime64[D]")
    assert ((end - start).astype(int) == spans).all() and (spans <= 365).all()
    assert not _pairs(result.pairs) & _pairs(result.sequencing)
    # every sequencing pair names the earlier work first
    when = dict(zip(given["work_id"], given["start"], strict=True))
    for a, b in _pairs(result.sequencing):
        assert (when[a], a) < (when[b], b)
    assert np.allclose(
        result.clusters["volume_saved_m3"],
        result.clusters["volume_separate_m3"] - result.clusters["volume_joint_m3"],
    )
    assert (result.resurfacing["operators_with_assets"] != "").any()
    data = result.to_dict()
    assert set(data) >= {"clusters", "pairs", "sequencing", "moratorium", "resurfacing"}


def test_every_work_gets_the_tree_check():
    # A lime (crown 8 m, trunk 120 cm) at y = 10 m: root zone radius 8 / 2 + 1.5 = 5.5 m,
    # trunk minimum max(2.5 m, 4 × 1.2 m) = 4.8 m (RAS-LP 4). Trenches 1.0 m wide and 1.0 m
    # deep (vertical walls), machine-dug (roots torn 1 m beyond the wall):
    # - N along y = 5.5: wall at y = 6, 4 m from the trunk, inside the root zone and closer
    #   than 4.8 m: critical;
    # - M along y = 3.5: wall at y = 4, 6 m from the trunk; the excavation stays outside the
    #   5.5 m root zone, but the torn strip reaches 5 m from the trunk: a warning only;
    # - F along y = -20: 30 m away, nothing.
    lime = gpd.GeoDataFrame(
        {"tree_id": ["L1"], "trunk_circumference_cm": [120.0], "crown_diameter_m": [8.0]},
        geometry=[shapely.Point(X0 + 50, Y0 + 10)],
        crs=CRS,
    )
    works = _frame(
        [
            _work("N", "Wasser", 0, 100, "2027-03-01", "2027-04-30", y=5.5, trench_width_m=1.0),
            _work("M", "Gas", 0, 100, "2028-03-01", "2028-04-30", y=3.5, trench_width_m=1.0),
            _work("F", "Strom", 0, 100, "2029-03-01", "2029-04-30", y=-20, trench_width_m=1.0),
        ]
    )
    found = coordinate(works, trees=lime).trees.set_index("work_id")
    assert sorted(found.index) == ["M", "N"]
    assert found.loc["N", "severity"] == "critical"
    assert found.loc["N", "trunk_distance_m"] == pytest.approx(4.0)
    assert found.loc["N", "operator"] == "Wasser"
    assert found.loc["M", "severity"] == "warning"
    assert found.loc["M", "trunk_distance_m"] == pytest.approx(6.0)
    assert coordinate(works).trees.empty  # no trees given: none checked
