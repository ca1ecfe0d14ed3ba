"""Trench check: hand-computed cases, then the sample district."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine

import twin
from twin.analysis.trench import ExcavationIndex, check_trench
from twin.errors import InputError
from twin.model import CityModel
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


def _line(x0, y0, x1, y1):
    return shapely.LineString([(X0 + x0, Y0 + y0), (X0 + x1, Y0 + y1)])


def _model(tmp_path, utilities=(), trees=(), parcels=()) -> CityModel:
    def frame(rows):
        rows = list(rows)
        geometry = [r.pop("geometry") for r in rows]
        return gpd.GeoDataFrame(rows, geometry=geometry, crs=CRS)

    layers = {"utilities": frame(utilities), "trees": frame(trees), "parcels": frame(parcels)}
    return CityModel(crs=CRS, layers=layers, terrain=_terrain(tmp_path))


def _pipe(uid, network, line, depth, source="measured", accuracy=0.1, dia=100.0):
    return {
        "utility_id": uid,
        "network": network,
        "operator": "op",
        "status": "in_service",
        "diameter_mm": dia,
        "depth_m": depth,
        "depth_accuracy_m": accuracy,
        "depth_source": source,
        "geometry": line,
    }


TRENCH = _line(10, 50, 90, 50)  # 80 m along y = 50


def test_crossing_clearance_hand_computed(tmp_path):
    # Water main crossing at 1.65 m cover, measured ±0.1 m: its top may be at 1.55 m.
    model = _model(tmp_path, utilities=[_pipe("W1", "water", _line(50, 20, 50, 80), 1.65)])
    index = ExcavationIndex.from_model(model)
    shallow = check_trench(index, TRENCH, width=0.6, depth=1.2)
    row = shallow.utilities.iloc[0]
    assert row["crosses"] and not row["inside_excavation"]
    assert row["vertical_clearance_m"] == pytest.approx(0.35)
    assert row["severity"] == "info"
    deep = check_trench(index, TRENCH, width=0.6, depth=1.5)
    row = deep.utilities.iloc[0]
    assert row["vertical_clearance_m"] == pytest.approx(0.05)
    assert row["severity"] == "critical" and row["rule"] == "clearance.vertical"
    inside = check_trench(index, TRENCH, width=0.6, depth=1.8).utilities.iloc[0]
    assert inside["inside_excavation"] and inside["severity"] == "critical"
    assert len(check_trench(index, TRENCH, width=0.6, depth=1.8).hand_digging) == 1


def test_parallel_clearance_hand_computed(tmp_path):
    # A gas pipe (0.1 m) parallel to the trench axis: clear distance = offset - 0.3 - 0.05.
    far = _pipe("G1", "gas", _line(10, 51.0, 90, 51.0), 0.8)  # 0.65 m clear
    near = _pipe("G2", "gas", _line(10, 49.2, 90, 49.2), 0.8)  # 0.45 m < 0.4 + 0.1
    index = ExcavationIndex.from_model(_model(tmp_path, utilities=[far, near]))
    result = check_trench(index, TRENCH, width=0.6, depth=1.0)
    rows = result.utilities.set_index("utility_id")
    assert rows.loc["G1", "horizontal_clearance_m"] == pytest.approx(0.65)
    assert rows.loc["G1", "severity"] == "info"
    assert rows.loc["G2", "horizontal_clearance_m"] == pytest.approx(0.45)
    assert rows.loc["G2", "severity"] == "warning"
    assert rows.loc["G2", "rule"] == "clearance.horizontal"
    assert result.status == "amber"


def test_unknown_depth_is_never_clear(tmp_path):
    cable = _pipe(
        "T1",
        "telecom",
        _line(50, 20, 50, 80),
        np.nan,
        source="unknown",
        accuracy=np.nan,
        dia=np.nan,
    )
    index = ExcavationIndex.from_model(_model(tmp_path, utilities=[cable]))
    for depth in (0.4, 1.5, 3.0):  # above, through and below the typical 0.6-1.0 m
        result = check_trench(index, TRENCH, width=0.6, depth=depth)
        row = result.utilities.iloc[0]
        assert row["severity"] in ("warning", "critical")
        assert "exploratory slot required" in row["finding"]
        assert result.status != "green"
        assert result.data_quality["lines_unknown_depth"] == ["T1"]


def test_tree_severity_hand_computed(tmp_path):
    def tree(tid, distance):  # distance from the trench axis; the wall is 0.3 m closer
        return {
            "tree_id": tid,
            "species": "Tilia cordata",
            "trunk_circumference_cm": 120.0,
            "crown_diameter_m": 8.0,
            "columnar": False,
            "geometry": shapely.Point(X0 + 50, Y0 + 50 + distance),
        }

    trees = [tree("close", 4.3), tree("roots", 6.3), tree("far", 8.3)]
    index = ExcavationIndex.from_model(_model(tmp_path, trees=trees))
    result = check_trench(index, TRENCH, width=0.6, depth=1.0)
    rows = result.trees.set_index("tree_id")
    # root zone 8/2 + 1.5 = 5.5 m; trunk minimum max(2.5, 4 x 1.2) = 4.8 m
    assert rows.loc["close", "trunk_min_m"] == pytest.approx(4.8)
    assert rows.loc["close", "trunk_distance_m"] == pytest.approx(4.0)
    assert rows.loc["close", "severity"] == "critical"
    assert "trenchless" in rows.loc["close", "measure"]
    # 6.0 m from the wall, machine damage reaches 1 m beyond it: 5.0 m < 5.5 m root zone
    assert rows.loc["roots", "severity"] == "warning"
    assert rows.loc["roots", "overlap_m2"] > 0
    assert "far" not in rows.index
    hand = check_trench(index, TRENCH, width=0.6, depth=1.0, method="hand")
    assert "roots" not in set(hand.trees["tree_id"])  # no machine damage beyond the wall


def test_volume_parcels_and_support(tmp_path):
    parcels = [
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
    index = ExcavationIndex.from_model(_model(tmp_path, parcels=parcels))
    shallow = check_trench(index, TRENCH, width=0.6, depth=1.0)
    assert shallow.volume == pytest.approx(0.6 * 1.0 * 80)
    assert shallow.surface_area == pytest.approx(0.6 * 80)
    assert shallow.support == "none needed"
    deep = check_trench(index, TRENCH, width=0.6, depth=2.0)
    # non-cohesive soil (the default) slopes at 45°: each wall reaches 2 m out at the top,
    # a trapezoid of 0.6 m and 4.6 m
    assert deep.volume == pytest.approx(2.0 * (0.6 + 4.6) / 2 * 80)
    assert deep.surface_area == pytest.approx(4.6 * 80)
    shored = check_trench(index, TRENCH, width=0.6, depth=2.0, support="shoring")
    assert shored.volume == pytest.approx(0.6 * 2.0 * 80)
    rows = shallow.parcels.set_index("gst")
    assert rows.loc["100/1", "ownership"] == "public road or space"
    assert rows.loc[".12", "ownership"] == "private: consent needed"
    width = 0.6 + 2 * 0.6  # trench plus working strips
    assert rows["area_m2"].sum() == pytest.approx(width * 80)
    assert shallow.status == "green"


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
        (_line(50, 50, 500, 50), {}, "outside the twin"),
        (shapely.box(X0, Y0, X0 + 1, Y0 + 1), {}, "centreline"),
    ],
)
def test_bad_trenches_are_refused(tmp_path, geometry, kwargs, message):
    index = ExcavationIndex.from_model(_model(tmp_path))
    options = {"width": 0.6, "depth": 1.5, **kwargs}
    with pytest.raises(InputError, match=message):
        check_trench(index, geometry, **options)


def test_sample_street_trench(sample_twin):
    """A trench along a street of the sample district crosses real networks and trees."""
    model = twin.open(sample_twin)
    index = ExcavationIndex.from_model(model)
    water = model.layers["utilities"]
    main = water[(water["network"] == "water") & (water["status"] == "in_service")].iloc[0]
    axis = shapely.offset_curve(main.geometry, 1.5)
    result = check_trench(index, axis, width=0.6, depth=1.8, trench_id="street")
    assert result.status in ("red", "amber")
    assert (result.utilities["network"] == "water").any()
    assert len(result.parcels) >= 1
    assert result.volume > 0
    data = result.to_dict()
    assert data["verdict"].startswith(result.status.upper())
    assert set(data["rules"]) >= {"clearance.horizontal", "trench.support_depth"}
