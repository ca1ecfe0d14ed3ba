"""The GeoPackage store: exact round trips, atomic writes, clear errors."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from affine import Affine
from geopandas.testing import assert_geodataframe_equal

import twin
from twin.errors import StoreError
from twin.model import CityModel
from twin.store import write
from twin.terrain import Terrain


def _model() -> CityModel:
    crs = pyproj.CRS("EPSG:31258+5778")
    footprints = gpd.GeoDataFrame(
        {
            "building_id": ["B1", "B2", "B3"],
            "height": [12.5, np.nan, 7.25],
            "storeys": [4, 2, 1],
            "use": ["residential", None, "garage"],
            "flag": [True, False, True],
        },
        geometry=[
            shapely.box(524600, 165500, 524612, 165510),
            shapely.Polygon(
                shapely.box(524620, 165500, 524650, 165530).exterior.coords,
                [shapely.box(524630, 165510, 524640, 165520).exterior.coords],
            ),
            None,
        ],
        crs=crs,
    )
    runs = pd.DataFrame({"started": ["2026-01-01T00:00:00+00:00"], "counts": ['{"a": 1}']})
    return CityModel(
        crs=crs,
        layers={"buildings": footprints, "runs": runs},
        metadata={"name": "test", "origin": [524600.0, 165500.0, 440.0]},
    )


def test_round_trip_is_exact(tmp_path):
    model = _model()
    path = write(model, tmp_path / "city.gpkg")
    back = twin.open(path)
    assert back.crs == model.crs
    assert back.metadata == model.metadata
    expected = model.buildings.copy()
    expected["geometry"] = expected.geometry.apply(
        lambda g: g if g is None else shapely.MultiPolygon([g])
    )
    assert_geodataframe_equal(back.buildings, expected, check_dtype=False, check_crs=False)
    assert back.buildings.crs.equals(model.crs)
    pd.testing.assert_frame_equal(back.layers["runs"], model.layers["runs"], check_dtype=False)


def test_gdal_reads_compound_crs(tmp_path):
    path = write(_model(), tmp_path / "city.gpkg")
    info = pyogrio.read_info(path, layer="buildings")
    assert 'AUTHORITY["EPSG","31258"]' in info["crs"]
    assert 'AUTHORITY["EPSG","5778"]' in info["crs"]
    assert info["geometry_type"] == "MultiPolygon"


def test_failed_write_leaves_previous_twin(tmp_path):
    path = write(_model(), tmp_path / "city.gpkg")
    before = path.read_bytes()
    broken = _model()
    # The terrain copy fails after every layer has been written to the temporary file.
    broken.terrain = Terrain(
        path=tmp_path / "missing.tif",
        crs=broken.crs,
        transform=Affine.identity(),
        shape=(1, 1),
        nodata=None,
    )
    with pytest.raises(StoreError, match="cannot copy the terrain"):
        write(broken, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.gpkg"]


def test_open_errors_name_the_file(tmp_path):
    with pytest.raises(StoreError, match="no such twin"):
        twin.open(tmp_path / "missing.gpkg")
    plain = tmp_path / "plain.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs="EPSG:31258").to_file(plain)
    with pytest.raises(StoreError, match="not a twin"):
        twin.open(plain)
    with pytest.raises(StoreError, match="unknown twin store type"):
        twin.open(tmp_path / "city.shp")


def test_mesh_cache_is_used_and_never_stale(sample_twin, tmp_path):
    path = write(twin.open(sample_twin), tmp_path / "city.gpkg")
    cache = tmp_path / "city.mesh-1.2.npz"
    assert not cache.exists()
    built = twin.open(path).mesh("1.2")
    assert cache.exists()
    again = twin.open(path)
    loaded = again.mesh("1.2")
    assert not again.layers.replaced("building_surfaces")
    np.testing.assert_array_equal(loaded.vertices, built.vertices)
    np.testing.assert_array_equal(loaded.owner, built.owner)
    # A model whose surfaces were replaced in memory never takes the file's cache.
    changed = twin.open(path)
    surfaces = changed.layers["building_surfaces"]
    changed.layers["building_surfaces"] = surfaces[surfaces["semantic"] != "GroundSurface"]
    assert len(changed.mesh("1.2").triangles) < len(built.triangles)
    # Writing the twin again changes the key: the old cache is not used, a new one is written.
    write(changed, path)
    assert len(twin.open(path).mesh("1.2").triangles) < len(built.triangles)


def test_features_within_a_box_are_read_through_the_index(sample_twin):
    """``model.layers.within`` reads the features meeting a box through the GeoPackage's
    R-tree before the layer is loaded, and gives the same rows as filtering it in memory."""
    import shapely

    bounds = (524600.0, 165450.0, 524700.0, 165550.0)
    first = twin.open(sample_twin).layers.within("utilities", bounds)
    model = twin.open(sample_twin)
    lines = model.layers["utilities"]
    meeting = lines[shapely.intersects(lines.geometry.to_numpy(), shapely.box(*bounds))]
    assert 0 < len(first) < len(lines)
    assert sorted(first["utility_id"]) == sorted(meeting["utility_id"])
    assert first.crs == model.crs  # the exact CRS, as a whole layer has it
    again = model.layers.within("utilities", bounds)  # loaded now: filtered in memory
    assert sorted(again["utility_id"]) == sorted(meeting["utility_id"])
