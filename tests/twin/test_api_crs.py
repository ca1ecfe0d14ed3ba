"""A bbox given in longitude/latitude as the store CRS sees it (:mod:`twin.api.crsuri`),
checked against pyproj and shapely working on the box directly."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import shapely

from twin.api.crsuri import CRS84, EPSG, CRSRegistry

#: MGI / Austria GK M31 (EPSG:31258), the sample city's CRS; its area of use is 11.83-14.84° E,
#: 46.4-48.79° N (the EPSG registry's bounding box)
GK = pyproj.CRS("EPSG:31258")
TO_GK = pyproj.Transformer.from_crs("OGC:CRS84", GK, always_xy=True)


def _projected(box: shapely.Geometry) -> shapely.Geometry:
    """``box`` with edges of at most 0.001°, projected to EPSG:31258 by pyproj."""
    dense = shapely.segmentize(box, 0.001)
    return shapely.transform(dense, lambda c: np.column_stack(TO_GK.transform(*c.T)))


@pytest.fixture(scope="module")
def crs84():
    registry = CRSRegistry(GK)
    return registry.get(CRS84, allowed=[CRS84]), registry.get(
        EPSG.format(4326), allowed=[EPSG.format(4326)]
    )


def test_a_box_in_the_area_of_use_is_its_densified_projection(crs84):
    lonlat, latlon = crs84
    box = (14.30, 46.62, 14.3033, 46.6223)  # about 250 m by 250 m near Klagenfurt
    region, inner = lonlat.bbox_to_store(box)
    expected = _projected(shapely.box(*box))
    # the same polygon: what lies in one and not the other is below a square millimetre
    assert shapely.area(shapely.symmetric_difference(region, expected)) < 1e-6
    assert region.area == pytest.approx(expected.area, rel=1e-12)
    # the rectangle lies inside, each side turned by the meridian convergence
    # (14.30° - 13.333°) x sin(46.62°) = 0.7026° (sin: 0.012262) off the region's envelope:
    # the west and east sides, 0.0023° x 111.1 km = 255.5 m long, by 3.133 m, the south and
    # north sides, 0.0033° x cos(46.62°) x 111.3 km = 252.4 m long, by 3.095 m
    assert region.contains(shapely.box(*inner))
    gaps = np.abs(np.array(inner) - np.array(expected.bounds))
    assert gaps == pytest.approx([3.133, 3.095, 3.133, 3.095], abs=0.01)
    # the same box latitude first (EPSG:4326) is the same region
    south_first = (box[1], box[0], box[3], box[2])
    assert shapely.equals_exact(latlon.bbox_to_store(south_first)[0], region, tolerance=0)


def test_a_box_across_the_area_of_use_is_cut_to_it(crs84):
    lonlat, _ = crs84
    # 14.83-14.85° E: the eastern 0.01° lies beyond the area of use (east edge 14.84° E)
    region, inner = lonlat.bbox_to_store((14.83, 46.62, 14.85, 46.63))
    expected = _projected(shapely.box(14.83, 46.62, 14.84, 46.63))
    assert shapely.area(shapely.symmetric_difference(region, expected)) < 1e-6
    back = pyproj.Transformer.from_crs(GK, "OGC:CRS84", always_xy=True)
    east = max(back.transform(*xy)[0] for xy in shapely.get_coordinates(region))
    assert east == pytest.approx(14.84, abs=1e-8)  # the round trip through the grid: < 1 mm
    assert region.contains(shapely.box(*inner))


def test_boxes_outside_the_area_of_use_or_flat(crs84):
    lonlat, _ = crs84
    region, inner = lonlat.bbox_to_store((151.1, -33.95, 151.2, -33.85))  # Sydney
    assert region.is_empty and inner is None
    # a box of no width is a line: the features it touches, still projected and densified
    line, _ = lonlat.bbox_to_store((14.30, 46.62, 14.30, 46.6223))
    expected = _projected(shapely.LineString([(14.30, 46.62), (14.30, 46.6223)]))
    assert line.geom_type == "LineString"
    assert shapely.equals_exact(shapely.normalize(line), shapely.normalize(expected), 1e-6)
