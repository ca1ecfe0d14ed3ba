"""The CRSs the API speaks (OGC API - Features Part 2), by URI, with transformers built once.

Output coordinates follow the axis order of the requested CRS (latitude first for EPSG:4326,
as Part 2 requires); CRS84 and CRS84h are longitude first. Heights become ellipsoidal in
CRS84h through the geoid grids shipped in ``twin/proj``.

Geometries and boxes sent in a geographic CRS are cut to the store CRS's area of use before
they are projected (beyond it a projection's coordinates mean nothing), and densified so that
their edges, straight in longitude/latitude, follow their curves in the store CRS.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyproj
import shapely

from twin.api.problems import Problem
from twin.crs import horizontal

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CRS84H = "http://www.opengis.net/def/crs/OGC/0/CRS84h"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"

#: Longest edge, in degrees, of a geographic geometry projected to the store CRS: a line
#: straight in longitude/latitude is a curve there, which chords of 0.001 degrees (about
#: 100 m) follow within a millimetre.
MAX_SEGMENT = 0.001
#: Most vertices densifying a geometry may add: beyond 200 degrees of outline the chords get
#: longer (a filter's geometry cut to an area of use hardly comes near).
MAX_VERTICES = 200_000

Rectangle = tuple[float, float, float, float]


def _transformer(source: pyproj.CRS, target: pyproj.CRS) -> pyproj.Transformer:
    # The best MGI -> ETRS89 operation names a 2021 grid we do not ship; PROJ warns and uses
    # the 2014 grid in twin/proj, which is what we want.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return pyproj.Transformer.from_crs(source, target, always_xy=True)


def _area_of_use(crs: pyproj.CRS, /) -> shapely.Geometry | None:
    """Where ``crs`` is defined, in longitude/latitude (``None`` when it does not say)."""
    area = crs.area_of_use
    if area is None:
        return None
    west, south, east, north = area.bounds
    if west > east:  # across the antimeridian
        return shapely.union(
            shapely.box(west, south, 180, north), shapely.box(-180, south, east, north)
        )
    return shapely.box(west, south, east, north)


def _inner_rectangle(lonlat: shapely.Geometry, region: shapely.Geometry, /) -> Rectangle | None:
    """A rectangle inside ``region``, the projection of the densified box ``lonlat``.

    Each side of the box becomes a curve, slightly turned; the rectangle between the
    innermost points of the four curves lies in the region when the curves bulge little, as
    under a conformal projection, which is checked (``None`` when it does not).
    """
    if lonlat.geom_type != "Polygon":
        return None
    west, south, east, north = shapely.bounds(lonlat)
    ll, xy = shapely.get_coordinates(lonlat), shapely.get_coordinates(region)
    # densifying puts every vertex exactly on its side of the box
    sides = [ll[:, 0] == west, ll[:, 1] == south, ll[:, 0] == east, ll[:, 1] == north]
    if not all(side.any() for side in sides):
        return None
    inner = (
        float(xy[sides[0], 0].max()),
        float(xy[sides[1], 1].max()),
        float(xy[sides[2], 0].min()),
        float(xy[sides[3], 1].min()),
    )
    if (
        inner[0] < inner[2]
        and inner[1] < inner[3]
        and shapely.contains(region, shapely.box(*inner))
    ):
        return inner
    return None


@dataclass(frozen=True)
class OutputCRS:
    """A CRS a client may ask for: its URI and the way there from the store.

    Attributes
    ----------
    uri
        The OGC URI of the CRS.
    forward
        Store CRS -> this CRS (``None`` for the store CRS itself).
    inverse
        This CRS -> store CRS, 2D (for ``bbox-crs`` and filter geometries).
    swap
        Whether the CRS's first axis is northing/latitude (coordinates are written y, x).
    decimals
        Decimals kept in output coordinates.
    area
        For a geographic CRS, the store CRS's area of use in longitude/latitude: what is
        sent to the store is cut to it (``None``: not cut).
    """

    uri: str
    forward: pyproj.Transformer | None
    inverse: pyproj.Transformer | None
    swap: bool
    decimals: int
    area: shapely.Geometry | None = None

    @cached_property
    def area_box(self) -> Rectangle | None:
        """:attr:`area` as (west, south, east, north) when it is one rectangle."""
        area = self.area
        if (
            area is None
            or area.geom_type != "Polygon"
            or not shapely.equals(area, shapely.envelope(area))
        ):
            return None
        return tuple(shapely.bounds(area).tolist())

    def from_store(self, geoms: np.ndarray, /) -> np.ndarray:
        """Geometries in the store CRS -> this CRS, vectorised, rounded, in axis order."""
        return shapely.transform(geoms, self._out, include_z=None)

    def to_store(self, geoms: np.ndarray, /, *, whole: bool = False) -> np.ndarray:
        """Geometries given in this CRS (in its axis order) -> the store CRS (2D).

        From a geographic CRS, geometries are cut to the store CRS's area of use and
        densified before they are projected: the whole world becomes the area of use, not
        garbage. With ``whole``, a geometry reaching outside the area becomes empty instead of
        cut: what must hold for all of it ("a feature contains it") then holds for no
        feature, as features lie in the area. Geometries must be valid (GEOS cuts no other).
        """
        geoms = shapely.transform(geoms, self._xy)
        if self.inverse is None:
            return geoms
        if self.area is not None and whole:
            geoms = np.where(shapely.covered_by(geoms, self.area), geoms, shapely.Polygon())
        elif self.area is not None:
            geoms = shapely.intersection(geoms, self.area)
        return shapely.transform(_densified(geoms), self._project)

    def bbox_to_store(
        self, bbox: tuple[float, ...], /
    ) -> tuple[shapely.Geometry, Rectangle | None]:
        """A bbox in this CRS's axis order -> its region in the store CRS, and a rectangle
        inside the region (``None`` when none was found).

        Features are to be tested against the region: from a geographic CRS, the box cut to
        the store CRS's area of use (empty when it lies outside) and densified as in
        :meth:`to_store` (the envelope of the projected box reaches metres beyond it). A
        feature whose envelope lies in the rectangle is in the region without a test.
        """
        x0, y0, x1, y1 = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 else bbox
        if self.swap:
            x0, y0, x1, y1 = y0, x0, y1, x1
        if self.inverse is not None and self.area_box is not None:
            # the common case, without GEOS: a box cut to a rectangular area of use is a
            # rectangle, densified and projected with numpy and one call of PROJ
            w, s, e, n = self.area_box
            cut = (max(x0, w), max(y0, s), min(x1, e), min(y1, n))
            if cut[0] < cut[2] and cut[1] < cut[3]:
                return _projected_box(cut, self.inverse)
        box = shapely.box(x0, y0, x1, y1)
        if not (x0 < x1 and y0 < y1):
            box = shapely.make_valid(box)  # a flat bbox is a line or a point
        if self.inverse is None:
            return box, tuple(shapely.bounds(box).tolist())
        lonlat = box if self.area is None else shapely.intersection(box, self.area)
        if lonlat.is_empty:
            return lonlat, None
        lonlat = _densified(np.array([lonlat], dtype=object))[0]
        region = shapely.transform(lonlat, self._project)
        return region, _inner_rectangle(lonlat, region)

    def _out(self, coords: np.ndarray) -> np.ndarray:
        if self.forward is not None:
            cols = self.forward.transform(*coords.T)
            coords = np.column_stack(cols)
        if self.swap:
            coords = coords[:, [1, 0, *range(2, coords.shape[1])]]
        return np.round(coords, self.decimals)

    def _xy(self, coords: np.ndarray) -> np.ndarray:
        """Coordinates in this CRS's axis order -> x, y (easting or longitude first)."""
        return coords[:, [1, 0]] if self.swap else coords

    def _project(self, coords: np.ndarray) -> np.ndarray:
        return np.column_stack(self.inverse.transform(coords[:, 0], coords[:, 1]))


def _projected_box(
    box: Rectangle, transformer: pyproj.Transformer, /
) -> tuple[shapely.Geometry, Rectangle | None]:
    """The box (west, south, east, north) in longitude/latitude densified as
    :func:`_densified` densifies it, projected with ``transformer``, and the rectangle inside
    it that :func:`_inner_rectangle` finds.

    A box has a few dozen vertices: plain lists cost less than numpy arrays here.

    Examples
    --------
    >>> metres = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:31258", always_xy=True)
    >>> region, inner = _projected_box((14.3, 46.6, 14.3025, 46.601), metres)
    >>> int(shapely.get_num_coordinates(region))  # 3 + 1 + 3 + 1 edges and the closing point
    9
    >>> west, south, east, north = inner
    >>> round(east - west), round(north - south)
    (190, 109)

    The box is 0.0025° x cos(46.6°) x 111.3 km = 191 m wide and 0.001° x 111.1 km = 111 m
    high, turned by the meridian convergence (14.3° - 13.33°) x sin(46.6°) = 0.70°: the
    rectangle inside it is 111 m x sin(0.70°) = 1.4 m narrower and 191 m x sin(0.70°) = 2.3 m
    lower, 189.6 m x 108.7 m.
    """
    west, south, east, north = box
    step = max(MAX_SEGMENT, 2 * ((east - west) + (north - south)) / MAX_VERTICES)
    nx, ny = math.ceil((east - west) / step), math.ceil((north - south) / step)
    lon = [west + (east - west) * i / nx for i in range(nx)] + [east]
    lat = [south + (north - south) * j / ny for j in range(ny)] + [north]
    # counter-clockwise from the south-west corner: south, east, north and west sides, each
    # side's last vertex the next side's first
    xs = lon + [east] * ny + lon[-2::-1] + [west] * ny
    ys = [south] * (nx + 1) + lat[1:] + [north] * nx + lat[-2::-1]
    x, y = transformer.transform(xs, ys)
    region = shapely.Polygon(list(zip(x, y, strict=True)))
    sides = (0, nx, nx + ny, 2 * nx + ny, 2 * (nx + ny))
    inner = (
        max(x[sides[3] : sides[4] + 1]),
        max(y[sides[0] : sides[1] + 1]),
        min(x[sides[1] : sides[2] + 1]),
        min(y[sides[2] : sides[3] + 1]),
    )
    if inner[0] < inner[2] and inner[1] < inner[3] and region.contains(shapely.box(*inner)):
        return region, inner
    return region, None


def _densified(geoms: np.ndarray, /) -> np.ndarray:
    """Geometries in longitude/latitude with edges of at most :data:`MAX_SEGMENT` degrees
    (longer when that would make more than :data:`MAX_VERTICES` vertices)."""
    step = max(MAX_SEGMENT, float(shapely.length(geoms).sum()) / MAX_VERTICES)
    return shapely.segmentize(geoms, step)


class CRSRegistry:
    """The output CRSs of one twin: CRS84, CRS84h, EPSG:4326 and the project CRS.

    Parameters
    ----------
    store_crs
        The project CRS (compound with its vertical datum).
    """

    def __init__(self, store_crs: pyproj.CRS, /):
        flat = horizontal(store_crs)
        code = flat.to_epsg()
        self.storage_uri = EPSG.format(code) if code else CRS84
        self._crs: dict[str, OutputCRS] = {}
        area = _area_of_use(flat)
        geographic = {
            CRS84: (pyproj.CRS("OGC:CRS84"), False),
            EPSG.format(4326): (pyproj.CRS("EPSG:4326"), True),
            CRS84H: (pyproj.CRS("OGC:CRS84h"), False),
        }
        for uri, (crs, swap) in geographic.items():
            source = store_crs if uri == CRS84H else flat
            self._crs[uri] = OutputCRS(
                uri,
                _transformer(source, crs),
                _transformer(pyproj.CRS("OGC:CRS84"), flat),
                swap,
                7,
                area,
            )
        swap = flat.axis_info[0].direction.lower() == "north"
        self._crs[self.storage_uri] = OutputCRS(self.storage_uri, None, None, swap, 3)

    def uris(self, *, three_d: bool) -> list[str]:
        """The CRS URIs offered for a collection (CRS84h only for 3D geometry)."""
        return [u for u in self._crs if three_d or u != CRS84H]

    def get(self, uri: str | None, /, *, what: str = "crs", allowed: list[str]) -> OutputCRS:
        """The output CRS named by ``uri`` (CRS84 when ``None``).

        Raises
        ------
        Problem
            400 when the URI is not one of ``allowed``.
        """
        uri = CRS84 if uri is None else uri.strip("<>")
        if uri not in allowed:
            raise Problem(400, f"{what} {uri!r} is not supported; use one of {allowed}")
        return self._crs[uri]
