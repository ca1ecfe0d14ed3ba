"""Planar 3D polygons as ragged arrays: GeoArrow's polygon layout, without a Python object each.

A reader holds a city's surfaces as one coordinate array and two offset arrays; shapely
objects are made from them only when a layer is used in memory, and the store is handed
WKB made from them directly (:meth:`Rings.wkb`, by geoarrow-c: some ten times faster than
shapely's objects and their ``to_wkb``, and no object per polygon in memory).

Examples
--------
>>> square = Rings(
...     coordinates=np.array([[0, 0, 5], [4, 0, 5], [4, 3, 5], [0, 3, 5], [0, 0, 5]], float),
...     ring_offsets=np.array([0, 5]),
...     polygon_offsets=np.array([0, 1]),
... )
>>> shapely.area(square.polygons()).tolist()
[12.0]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import geoarrow.pyarrow as ga
import numpy as np
import pyarrow as pa
import shapely
from numpy.typing import NDArray

#: the native GeoArrow types of 3D polygons and multipolygons, coordinates interleaved
_POLYGON = ga.polygon().with_dimensions(ga.Dimensions.XYZ).with_coord_type(ga.CoordType.INTERLEAVED)
_MULTIPOLYGON = (
    ga.multipolygon().with_dimensions(ga.Dimensions.XYZ).with_coord_type(ga.CoordType.INTERLEAVED)
)


@dataclass(frozen=True)
class Rings:
    """Polygons as ragged arrays.

    Attributes
    ----------
    coordinates : (p, 3) float
        The vertices of every ring, each ring closed (its first vertex repeated last).
    ring_offsets : (r + 1,) int
        Where each ring's vertices start in ``coordinates`` (and, last, where the last ends).
    polygon_offsets : (k + 1,) int
        Where each polygon's rings start in ``ring_offsets`` (the exterior first).
    """

    coordinates: NDArray[np.float64]
    ring_offsets: NDArray[np.int64]
    polygon_offsets: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.polygon_offsets) - 1

    @classmethod
    def of(cls, polygons: NDArray[np.object_], /) -> Rings:
        """The ragged arrays of shapely polygons (3D; a 2D polygon gets z = 0)."""
        polygons = np.asarray(polygons, dtype=object)
        if not len(polygons):
            return cls(np.empty((0, 3)), np.zeros(1, np.int64), np.zeros(1, np.int64))
        _, coordinates, (rings, parts) = shapely.to_ragged_array(polygons, include_z=True)
        if coordinates.shape[1] == 2:
            coordinates = np.column_stack([coordinates, np.zeros(len(coordinates))])
        return cls(coordinates, rings.astype(np.int64), parts.astype(np.int64))

    @classmethod
    def from_wkb(cls, wkb: pa.Array | pa.ChunkedArray, /) -> Rings:
        """The ragged arrays of WKB polygons (3D; a 2D polygon gets z = NaN), by geoarrow-c.

        Raises
        ------
        ValueError
            When a geometry is not a polygon.
        """
        if isinstance(wkb, pa.ChunkedArray):
            wkb = wkb.combine_chunks()
        polygons = ga.as_geoarrow(ga.wkb().wrap_array(wkb), type=_POLYGON).storage
        rings = polygons.values
        return cls(
            rings.values.values.to_numpy().reshape(-1, 3),
            rings.offsets.to_numpy().astype(np.int64),
            polygons.offsets.to_numpy().astype(np.int64),
        )

    def polygons(self) -> NDArray[np.object_]:
        """Shapely Polygon Z objects, one per polygon."""
        if not len(self):
            return np.empty(0, dtype=object)
        offsets = (self.ring_offsets, self.polygon_offsets)
        return shapely.from_ragged_array(shapely.GeometryType.POLYGON, self.coordinates, offsets)

    def ring_of_coordinate(self) -> NDArray[np.int64]:
        """The ring of each coordinate."""
        return np.repeat(np.arange(len(self.ring_offsets) - 1), np.diff(self.ring_offsets))

    def polygon_of_ring(self) -> NDArray[np.int64]:
        """The polygon of each ring."""
        return np.repeat(np.arange(len(self)), np.diff(self.polygon_offsets))

    def blocks(self, size: int, /) -> Iterator[Rings]:
        """The polygons in consecutive blocks of ``size`` (views, no copy of coordinates)."""
        for start in range(0, len(self), size):
            stop = min(start + size, len(self))
            polygons = self.polygon_offsets[start : stop + 1]
            rings = self.ring_offsets[polygons[0] : polygons[-1] + 1]
            yield Rings(
                self.coordinates[rings[0] : rings[-1]], rings - rings[0], polygons - polygons[0]
            )

    def take(self, index: NDArray[np.integer], /) -> Rings:
        """The polygons at ``index``, in that order."""
        index = np.asarray(index, dtype=np.int64)
        rings = _ranges(self.polygon_offsets[index], self.polygon_offsets[index + 1])
        vertices = _ranges(self.ring_offsets[rings], self.ring_offsets[rings + 1])
        ring_sizes = np.diff(self.ring_offsets)[rings]
        polygon_sizes = np.diff(self.polygon_offsets)[index]
        return Rings(
            self.coordinates[vertices],
            np.concatenate([[0], np.cumsum(ring_sizes)]),
            np.concatenate([[0], np.cumsum(polygon_sizes)]),
        )

    def wkb(self, groups: NDArray[np.integer] | None = None, /) -> pa.Array:
        """Each polygon as ISO WKB (Polygon Z), or, with ``groups`` (offsets into the
        polygons: group ``g`` holds polygons ``groups[g]`` to ``groups[g + 1]``), each group
        as a MultiPolygon Z."""
        if len(self.coordinates) >= 2**31:
            raise ValueError("more than 2^31 vertices do not fit one Arrow array")
        xyz = pa.FixedSizeListArray.from_arrays(
            pa.array(self.coordinates.ravel()), type=pa.list_(pa.field("xyz", pa.float64()), 3)
        )
        rings = pa.ListArray.from_arrays(pa.array(self.ring_offsets, pa.int32()), xyz)
        polygons = pa.ListArray.from_arrays(pa.array(self.polygon_offsets, pa.int32()), rings)
        if groups is None:
            native = _POLYGON.wrap_array(polygons)
        else:
            multi = pa.ListArray.from_arrays(pa.array(groups, pa.int32()), polygons)
            native = _MULTIPOLYGON.wrap_array(multi)
        return ga.as_wkb(native).storage


def _ranges(start: NDArray[np.int64], stop: NDArray[np.int64], /) -> NDArray[np.int64]:
    """``start[0]..stop[0]``, then ``start[1]..stop[1]``, ... as one array.

    Examples
    --------
    >>> _ranges(np.array([5, 0]), np.array([7, 3])).tolist()
    [5, 6, 0, 1, 2]
    """
    size = stop - start
    total = int(size.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    # 1 everywhere, and at the first item of each range the step from the previous range's end
    step = np.ones(total, dtype=np.int64)
    first = np.cumsum(size) - size
    keep = size > 0
    starts, firsts = start[keep], first[keep]
    step[firsts[0]] = starts[0]
    step[firsts[1:]] = starts[1:] - (starts[:-1] + size[keep][:-1] - 1)
    return np.cumsum(step)
