"""The CRSs the API speaks (OGC API - Features Part 2), by URI, with transformers built once.

Output coordinates follow the axis order of the requested CRS (latitude first for EPSG:4326,
as Part 2 requires); CRS84 and CRS84h are longitude first. Heights become ellipsoidal in
CRS84h through the geoid grids shipped in ``twin/proj``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pyproj
import shapely

from twin.api.problems import Problem
from twin.crs import horizontal

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CRS84H = "http://www.opengis.net/def/crs/OGC/0/CRS84h"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


def _transformer(source: pyproj.CRS, target: pyproj.CRS) -> pyproj.Transformer:
    # The best MGI -> ETRS89 operation names a 2021 grid we do not ship; PROJ warns and uses
    # the 2014 grid in twin/proj, which is what we want.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return pyproj.Transformer.from_crs(source, target, always_xy=True)


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
    """

    uri: str
    forward: pyproj.Transformer | None
    inverse: pyproj.Transformer | None
    swap: bool
    decimals: int

    def from_store(self, geoms: np.ndarray, /) -> np.ndarray:
        """Geometries in the store CRS -> this CRS, vectorised, rounded, in axis order."""
        return shapely.transform(geoms, self._out, include_z=None)

    def to_store(self, geoms: np.ndarray, /) -> np.ndarray:
        """Geometries given in this CRS (in its axis order) -> the store CRS (2D)."""
        return shapely.transform(geoms, self._in)

    def bbox_to_store(self, bbox: tuple[float, ...], /) -> tuple[float, float, float, float]:
        """A bbox in this CRS's axis order -> ``(minx, miny, maxx, maxy)`` in the store CRS."""
        x0, y0, x1, y1 = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 else bbox
        if self.swap:
            x0, y0, x1, y1 = y0, x0, y1, x1
        if self.inverse is None:
            return (x0, y0, x1, y1)
        with np.errstate(invalid="ignore"):
            out = self.inverse.transform_bounds(x0, y0, x1, y1, densify_pts=21)
        if not np.all(np.isfinite(out)):
            raise Problem(400, f"bbox {list(bbox)} lies outside the area of {self.uri}")
        return out

    def _out(self, coords: np.ndarray) -> np.ndarray:
        if self.forward is not None:
            cols = self.forward.transform(*coords.T)
            coords = np.column_stack(cols)
        if self.swap:
            coords = coords[:, [1, 0, *range(2, coords.shape[1])]]
        return np.round(coords, self.decimals)

    def _in(self, coords: np.ndarray) -> np.ndarray:
        if self.swap:
            coords = coords[:, [1, 0]]
        if self.inverse is None:
            return coords
        return np.column_stack(self.inverse.transform(coords[:, 0], coords[:, 1]))


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
