"""Polygons as ragged arrays: shapely and WKB both ways, take, blocks, Newell's areas."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import shapely

from twin import polygon3d
from twin.polygon3d import surface_metrics, vector_area
from twin.ragged import Rings

# A flat roof 10 m x 10 m at z = 5 with a 2 m x 2 m light well (area 100 - 4 = 96 m²), a
# south wall 4 m wide and 3 m high (12 m², facing south: azimuth 180°, slope 90°) and a roof
# plane rising 3 m over 4 m to the north (area 4 x 5 = 20 m², slope atan(3/4) = 36.87°,
# facing south).
ROOF = shapely.Polygon(
    [(0, 0, 5), (10, 0, 5), (10, 10, 5), (0, 10, 5)],
    holes=[[(4, 4, 5), (4, 6, 5), (6, 6, 5), (6, 4, 5)]],
)
WALL = shapely.Polygon([(0, 0, 0), (4, 0, 0), (4, 0, 3), (0, 0, 3)])
SLOPE = shapely.Polygon([(0, 0, 0), (4, 0, 0), (4, 4, 3), (0, 4, 3)])
POLYGONS = np.array([ROOF, WALL, SLOPE])


def test_rings_hold_the_polygons_as_given():
    rings = Rings.of(POLYGONS)
    # rings: the roof's exterior and hole, the wall, the slope; each closed (5 vertices)
    assert rings.ring_offsets.tolist() == [0, 5, 10, 15, 20]
    assert rings.polygon_offsets.tolist() == [0, 2, 3, 4]
    assert shapely.equals_exact(rings.polygons(), POLYGONS, tolerance=0).all()
    assert rings.polygon_of_ring().tolist() == [0, 0, 1, 2]


def test_wkb_reads_back_as_the_polygons_and_groups_as_multipolygons():
    rings = Rings.of(POLYGONS)
    back = shapely.from_wkb(rings.wkb().to_numpy(zero_copy_only=False))
    assert shapely.equals_exact(back, POLYGONS, tolerance=0).all()
    assert shapely.has_z(back).all()
    # two groups: the roof alone, the wall and the slope together
    multi = shapely.from_wkb(rings.wkb(np.array([0, 1, 3])).to_numpy(zero_copy_only=False))
    assert shapely.get_type_id(multi).tolist() == [6, 6]
    assert shapely.get_num_geometries(multi).tolist() == [1, 2]
    assert shapely.equals_exact(shapely.get_geometry(multi[1], 1), SLOPE, tolerance=0)


def test_from_wkb_reads_what_shapely_writes():
    wkb = pa.array(shapely.to_wkb(POLYGONS).tolist(), pa.binary())
    rings = Rings.from_wkb(pa.chunked_array([wkb[:1], wkb[1:]]))
    assert shapely.equals_exact(rings.polygons(), POLYGONS, tolerance=0).all()
    flat = Rings.from_wkb(pa.array([shapely.Polygon([(0, 0), (1, 0), (1, 1)]).wkb]))
    assert np.isnan(flat.coordinates[:, 2]).all()  # no height given: none made up


def test_take_and_blocks_keep_each_polygon_whole():
    rings = Rings.of(POLYGONS)
    taken = rings.take(np.array([2, 0, 2]))
    assert shapely.equals_exact(taken.polygons(), POLYGONS[[2, 0, 2]], tolerance=0).all()
    assert len(rings.take(np.array([], dtype=np.int64))) == 0
    blocks = list(rings.blocks(2))
    assert [len(b) for b in blocks] == [2, 1]
    again = np.concatenate([b.polygons() for b in blocks])
    assert shapely.equals_exact(again, POLYGONS, tolerance=0).all()


def test_metrics_of_rings_are_those_of_the_polygons(monkeypatch):
    area, slope, azimuth = surface_metrics(Rings.of(POLYGONS))
    assert area == pytest.approx([96.0, 12.0, 20.0])
    assert slope == pytest.approx([0.0, 90.0, np.degrees(np.arctan2(3, 4))])
    assert np.isnan(azimuth[0]) and azimuth[1:] == pytest.approx([180.0, 180.0])
    # measured in blocks, as a city's surfaces are, the areas are the same
    monkeypatch.setattr(polygon3d, "_BLOCK", 2)
    many = Rings.of(np.tile(POLYGONS, 3))
    assert vector_area(many) == pytest.approx(np.tile(vector_area(POLYGONS), (3, 1)))
