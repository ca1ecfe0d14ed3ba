"""Coordination of planned works: hand-computed cases, then the sample district."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

import twin
from twin.analysis.coordination import coordinate
from twin.errors import InputError

CRS = "EPSG:31258"
X0, Y0 = 524600.0, 165500.0


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
    pair = result.pairs.iloc[0]
    assert pair["overlap_days"] == 60  # 1 May to 30 June
    # A runs within 10 m (round caps) of B from x = 40 - sqrt(10² - 2²) to 100; B likewise
    # (GEOS draws the round cap with 8 segments a quarter circle: within 1 cm)
    shared = 60 + 96**0.5
    assert pair["shared_length_m"] == pytest.approx(shared, abs=0.01)
    # separately 0.6 x 1.0 x shared, twice; jointly (0.6 + 0.3) x 1.0 x shared
    assert cluster["shared_length_m"] == pytest.approx(shared, abs=0.01)
    assert cluster["volume_saved_m3"] == pytest.approx(0.3 * shared, abs=0.01)


def test_far_apart_in_time_is_a_sequencing_conflict():
    works = _frame(
        [
            _work("A", "Wasser", 0, 100, "2027-01-01", "2027-02-01"),
            _work("B", "Gas", 0, 100, "2028-06-01", "2028-07-01"),  # 486 days later
            _work("C", "Strom", 0, 100, "2031-01-01", "2031-02-01"),  # years later: fine
        ]
    )
    result = coordinate(works)
    assert len(result.clusters) == 0
    assert list(result.sequencing["work_b"]) == ["B"]
    assert result.sequencing["gap_days"].iloc[0] == 486
    assert "combine or reorder" in result.sequencing["problem"].iloc[0]


def test_moratorium_after_resurfacing():
    works = _frame(
        [
            _work("A", "Wasser", 0, 100, "2027-03-01", "2027-04-01"),
            _work("E", "Gas", 0, 100, "2027-03-01", "2027-03-02", emergency=True),
            _work("H", "Strom", 0, 100, "2027-03-01", "2027-03-02", kind="house_connection"),
            _work("L", "Telekom", 0, 100, "2030-07-01", "2030-08-01"),  # after 2030-06-01
        ]
    )
    street = shapely.box(X0 - 5, Y0 - 5, X0 + 105, Y0 + 5)
    surface = _frame(
        [
            {
                "surface_id": "S1",
                "kind": "resurfacing",
                "status": "completed",
                "completed": "2025-06-01",
                "planned": None,
                "geometry": street,
            }
        ]
    )
    result = coordinate(works, surface_works=surface)
    flagged = result.moratorium.set_index("work_id")
    assert set(flagged.index) == {"A", "E", "H"}
    assert flagged.loc["A", "problem"] == "breaks the moratorium"
    assert flagged.loc["A", "moratorium_until"] == "2030-06-01"
    assert flagged.loc["E", "exempt"] and flagged.loc["H", "exempt"]


def test_operators_dig_before_planned_resurfacing():
    works = _frame([_work("A", "Wasser", 0, 50, "2027-03-01", "2027-04-01")])
    street = shapely.box(X0 - 5, Y0 - 5, X0 + 105, Y0 + 5)
    surface = _frame(
        [
            {
                "surface_id": "S2",
                "kind": "resurfacing",
                "status": "planned",
                "completed": None,
                "planned": "2028-05-01",
                "street": "Kramergasse",
                "geometry": street,
            }
        ]
    )
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
    assert row["planned_works_there"] == "A"


def test_works_without_dates_are_refused():
    works = _frame([_work("A", "Wasser", 0, 100, "2027-03-01", None)])
    with pytest.raises(InputError, match=r"without a valid start or end date: \['A'\]"):
        coordinate(works)
    works = _frame([_work("B", "Wasser", 0, 100, "2027-03-01", "2027-01-01")])
    with pytest.raises(InputError, match="end before they start"):
        coordinate(works)


def test_sample_district(sample_twin):
    model = twin.open(sample_twin)
    result = coordinate(
        model.layers["planned_works"],
        utilities=model.layers["utilities"],
        surface_works=model.layers["surface_works"],
    )
    assert len(result.clusters) >= 1
    assert (result.clusters["volume_saved_m3"] >= 0).all()
    data = result.to_dict()
    assert set(data) >= {"clusters", "pairs", "sequencing", "moratorium", "resurfacing"}
