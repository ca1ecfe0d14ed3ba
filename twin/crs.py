"""Coordinate reference systems: the project CRS, source CRSs and the PROJ grids we ship.

The project CRS is a metric projected CRS with an explicit vertical datum, kept as a compound
CRS (DESIGN.md §3). PROJ cannot download transformation grids here and silently falls back to
ballpark operations without them, so the grids of the CRSs the project meets (Austrian, Dutch,
Swiss, German: ``twin/proj/PROVENANCE.md``) ship inside the package and are put on PROJ's
search path when this module is imported.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray
from pyproj.datadir import append_data_dir, get_data_dir

from twin.errors import CRSError

DEFAULT_CRS = "EPSG:31258+5778"
"""MGI / Austria GK M31 with heights above the Adriatic datum (GHA)."""

MAX_SCALE_ERROR = 5e-3
"""Largest linear scale error ``|k - 1|`` (dimensionless; 5e-3 is 5 mm per metre) of a
project CRS where the data lie. A conformal projection used inside its zone stays within
1e-3: UTM has ``k = 0.9996`` on its central meridian and about 1.001 at a zone's edge on the
equator (Snyder, *Map Projections: A Working Manual*, USGS Professional Paper 1395, 1987,
pp. 57-58), the Austrian Gauss-Krüger zones (``k = 1`` on the meridian, 1.5° wide on each
side) at most 1.0002. Five times that is reached only by a projection used far from where it
was made for, or by one not made for measuring: Web Mercator has ``k = 1/cos(latitude)``,
1.46 at Klagenfurt (46.6° N)."""


def _register_grids() -> None:
    folder = str(resources.files("twin") / "proj")
    if folder not in get_data_dir().split(":"):
        append_data_dir(folder)


_register_grids()


def parse_crs(value: str | int | pyproj.CRS, /, *, what: str = "CRS") -> pyproj.CRS:
    """Turn a user-given CRS (``"EPSG:31258+5778"``, WKT, an EPSG code) into a :class:`pyproj.CRS`.

    Parameters
    ----------
    value
        Anything :meth:`pyproj.CRS.from_user_input` accepts, and the OGC URL of a compound
        CRS (``http://www.opengis.net/def/crs-compound?1=...&2=...``, OGC 09-048r5), which
        PROJ 9.5 does not parse.
    what
        Names the CRS in error messages (for example the source file it belongs to).

    Raises
    ------
    CRSError
        When the value names no CRS PROJ knows.

    Examples
    --------
    >>> parse_crs("EPSG:31258+5778").name
    'MGI / Austria GK M31 + GHA height'
    >>> parse_crs(compound_url(parse_crs("EPSG:31258+5778"))).name
    'MGI / Austria GK M31 + GHA height'
    """
    try:
        return _from_text(value) if isinstance(value, str) else pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(
            f"{what}: {value!r} is not a coordinate reference system PROJ knows"
        ) from exc


@functools.lru_cache(maxsize=256)
def _from_text(text: str, /) -> pyproj.CRS:
    """A CRS parsed from text, kept: a reader or writer asks for the same few CRSs again and
    again (``bench/formats.py`` prints what PROJ takes: ``crs_parse``, ``crs_wkt``). CRS
    objects are immutable and, since pyproj 3.1, safe to share between threads."""
    url = urlsplit(text)
    if url.scheme in ("http", "https") and _COMPOUND_URL.fullmatch(url.netloc + url.path):
        parts = dict(parse_qsl(url.query))
        if sorted(parts) != ["1", "2"]:
            raise pyproj.exceptions.CRSError(f"{text}: a compound CRS URL names parts 1 and 2")
        return compound(_from_text(parts["1"]), _from_text(parts["2"]))
    return pyproj.CRS.from_user_input(text)


_COMPOUND_URL = re.compile(r"www\.opengis\.net/def/crs-compound/?")
_EPSG_URL = "https://www.opengis.net/def/crs/EPSG/0/{}"


def compound(flat: pyproj.CRS, height: pyproj.CRS, /) -> pyproj.CRS:
    """The compound CRS of a horizontal CRS and a vertical one.

    Named by EPSG codes (``EPSG:h+v``) when both parts have one, so that PROJ finds the
    compound's own code and its name reads as the EPSG's.

    Raises
    ------
    pyproj.exceptions.CRSError
        When ``flat`` is compound or vertical, or ``height`` is not vertical.

    Examples
    --------
    >>> compound(parse_crs("EPSG:2056"), parse_crs("EPSG:5729")).name
    'CH1903+ / LV95 + LHN95 height'
    """
    if flat.is_compound or flat.is_vertical or not height.is_vertical:
        raise pyproj.exceptions.CRSError(
            f"{flat.name} + {height.name} is not a horizontal CRS with a vertical one"
        )
    codes = flat.to_epsg(), height.to_epsg()
    if None not in codes:
        return pyproj.CRS.from_user_input(f"EPSG:{codes[0]}+{codes[1]}")
    return pyproj.crs.CompoundCRS(f"{flat.name} + {height.name}", [flat, height])


def compound_url(crs: pyproj.CRS, /) -> str:
    """The OGC URL of a compound CRS by its parts' EPSG URLs (OGC 09-048r5, "crs-compound").

    Raises
    ------
    CRSError
        When the CRS is not compound or a part has no EPSG code.

    Examples
    --------
    >>> compound_url(parse_crs("EPSG:31258+5778")).split("?")[1].split("&")
    ['1=https://www.opengis.net/def/crs/EPSG/0/31258', '2=https://www.opengis.net/def/crs/EPSG/0/5778']
    """
    height = vertical(crs)
    codes = horizontal(crs).to_epsg(), height.to_epsg() if height is not None else None
    if not crs.is_compound or None in codes:
        raise CRSError(f"CRS {crs.name!r} is not a compound of two EPSG CRSs")
    parts = "&".join(f"{i}={_EPSG_URL.format(code)}" for i, code in enumerate(codes, 1))
    return f"https://www.opengis.net/def/crs-compound?{parts}"


def epsg_url(crs: pyproj.CRS, /) -> str | None:
    """The OGC URL of a CRS by its own EPSG code, ``None`` when it has none.

    Examples
    --------
    >>> epsg_url(parse_crs("EPSG:7415"))
    'https://www.opengis.net/def/crs/EPSG/0/7415'
    >>> epsg_url(parse_crs("EPSG:31258+5778")) is None
    True
    """
    code = crs.to_epsg()
    return None if code is None else _EPSG_URL.format(code)


def crs_wkt(crs: pyproj.CRS, /) -> str:
    """The WKT of a CRS, kept per CRS (as ``crs.srs``, the text it was made from).

    Examples
    --------
    >>> crs_wkt(parse_crs("EPSG:31258")).startswith('PROJCRS["MGI / Austria GK M31"')
    True
    """
    return _wkt(crs.srs)


@functools.lru_cache(maxsize=256)
def _wkt(srs: str, /) -> str:
    return _from_text(srs).to_wkt()


def horizontal(crs: pyproj.CRS, /) -> pyproj.CRS:
    """The horizontal part of a CRS (itself when it is not compound).

    Examples
    --------
    >>> horizontal(parse_crs("EPSG:31258+5778")).to_epsg()
    31258
    """
    if crs.is_compound:
        return crs.sub_crs_list[0]
    return crs


def vertical(crs: pyproj.CRS, /) -> pyproj.CRS | None:
    """The vertical part of a compound CRS, or ``None`` when the CRS has none.

    Examples
    --------
    >>> vertical(parse_crs("EPSG:31258+5778")).name
    'GHA height'
    """
    if crs.is_compound:
        return crs.sub_crs_list[1]
    if crs.is_vertical:
        return crs
    return None


def check_project_crs(crs: pyproj.CRS, /) -> pyproj.CRS:
    """Validate a project CRS: projected, in metres, preferably with a vertical datum.

    A geographic CRS is refused: the twin measures areas, lengths and volumes.

    Raises
    ------
    CRSError
        When the CRS is geographic, geocentric or not in metres.
    """
    h = horizontal(crs)
    if not h.is_projected:
        raise CRSError(
            f"project CRS {crs.name!r} is not projected: a twin measures lengths, areas and "
            "volumes and needs a metric projected CRS (for example EPSG:31258+5778); "
            "sources in EPSG:4326 are reprojected on ingest"
        )
    units = {axis.unit_name for axis in h.axis_info}
    if units != {"metre"}:
        raise CRSError(f"project CRS {crs.name!r} has axis units {sorted(units)}, not metres")
    return crs


def area_of_use(crs: pyproj.CRS, /) -> tuple[float, float, float, float] | None:
    """The bounds of a CRS's area of use (EPSG's, given in longitude and latitude) in the
    CRS itself: ``(xmin, ymin, xmax, ymax)``; ``None`` when the CRS states none.

    The longitude-latitude box is densified before it is projected, so the bounds hold its
    curved edges.

    Examples
    --------
    >>> [round(v, -3) for v in area_of_use(parse_crs("EPSG:31258+5778"))]
    [334000.0, 140000.0, 566000.0, 407000.0]
    """
    h = horizontal(crs)
    area = h.area_of_use
    if area is None:
        return None
    to_crs = pyproj.Transformer.from_crs("OGC:CRS84", h, always_xy=True)
    with np.errstate(invalid="ignore", over="ignore"):
        bounds = to_crs.transform_bounds(*area.bounds, densify_pts=21)
    return bounds if np.isfinite(bounds).all() else None


@dataclass(frozen=True)
class Scale:
    """The distortion of a projected CRS at one point (PROJ's ``get_factors``).

    Attributes
    ----------
    k
        The point scale factor: of the meridional and parallel scale, the one further from 1
        (equal in a conformal projection). A length measured in the CRS is ``k`` times the
        true one.
    areal
        The areal scale factor: an area measured in the CRS is ``areal`` times the true one.
    lon, lat
        The point, in degrees of the CRS's own geographic CRS.
    """

    k: float
    areal: float
    lon: float
    lat: float

    @property
    def error(self) -> float:
        """The linear scale error ``|k - 1|``."""
        return abs(self.k - 1.0)


def scale_at(crs: pyproj.CRS, x: float, y: float, /) -> Scale:
    """The distortion of the projected CRS ``crs`` at ``(x, y)`` (in the CRS).

    Raises
    ------
    CRSError
        When the point lies where the projection is not defined.

    Examples
    --------
    >>> s = scale_at(parse_crs("EPSG:3857"), 1_592_717.0, 5_881_029.0)
    >>> round(s.k, 3), round(s.areal, 3), round(s.lat, 2)
    (1.456, 2.12, 46.62)
    """
    proj = pyproj.Proj(horizontal(crs))
    lon, lat = proj(x, y, inverse=True)
    factors = proj.get_factors(lon, lat) if np.isfinite([lon, lat]).all() else None
    if factors is None or not np.isfinite(factors.meridional_scale):
        raise CRSError(f"{crs.name}: ({x:.0f}, {y:.0f}) lies where the projection is undefined")
    m, p = factors.meridional_scale, factors.parallel_scale
    k = m if abs(m - 1.0) >= abs(p - 1.0) else p
    return Scale(float(k), float(factors.areal_scale), float(lon), float(lat))


def same_horizontal(a: pyproj.CRS, b: pyproj.CRS, /) -> bool:
    """Whether two CRSs share their horizontal part, whatever their axis order.

    GeoPackage and Shapefile keep WKT1 in GIS axis order, which PROJ no longer matches to
    the EPSG definition at full confidence; the authority code in the WKT still says which
    CRS it is.

    Examples
    --------
    >>> same_horizontal(parse_crs("EPSG:31258+5778"), parse_crs("EPSG:31258"))
    True
    >>> same_horizontal(parse_crs("EPSG:31258"), parse_crs("EPSG:31259"))
    False
    """
    ha, hb = horizontal(a), horizontal(b)
    if ha.equals(hb, ignore_axis_order=True):
        return True
    code = ha.to_authority(min_confidence=25)
    return code is not None and code == hb.to_authority(min_confidence=25)


def stated_height(crs: pyproj.CRS, height: pyproj.CRS, /) -> pyproj.CRS:
    """``crs`` with the vertical CRS of its heights stated: a compound CRS.

    Raises
    ------
    CRSError
        When ``height`` is not a vertical CRS, or ``crs`` names another vertical datum.

    Examples
    --------
    >>> stated_height(parse_crs("EPSG:2056"), parse_crs("EPSG:5729")).name
    'CH1903+ / LV95 + LHN95 height'
    >>> stated_height(parse_crs("EPSG:7415"), parse_crs("EPSG:5709")).to_epsg()
    7415
    """
    if not height.is_vertical:
        raise CRSError(f"{height.name!r} is not a vertical CRS (such as EPSG:5729, LHN95 height)")
    have = vertical(crs)
    if have is None:
        return compound(crs, height)
    if have.equals(height):
        return crs
    raise CRSError(
        f"{crs.name} names the vertical datum of its heights already ({have.name}), "
        f"not {height.name}"
    )


def with_height(declared: pyproj.CRS, given: pyproj.CRS | None, /) -> pyproj.CRS:
    """A file's declared CRS, with the vertical datum of a CRS the user gives when the file
    names only its horizontal CRS (``--crs EPSG:2056+5728`` for a file that says EPSG:2056).

    The file's CRS wins otherwise: a given CRS of another horizontal CRS, or one given for a
    file that names a vertical datum of its own, changes nothing.

    Examples
    --------
    >>> with_height(parse_crs("EPSG:2056"), parse_crs("EPSG:2056+5728")).name
    'CH1903+ / LV95 + LN02 height'
    >>> with_height(parse_crs("EPSG:25833+5783"), parse_crs("EPSG:25833+7837")).name
    'ETRS89 / UTM zone 33N + DHHN92 height'
    """
    height = None if given is None else vertical(given)
    if height is None or vertical(declared) is not None or not same_horizontal(declared, given):
        return declared
    return stated_height(declared, height)


def transformer(source: pyproj.CRS, target: pyproj.CRS, /) -> pyproj.Transformer | None:
    """A reusable 2D transformer from ``source`` to ``target``, ``None`` when they agree.

    Only the horizontal parts are compared and transformed: footprints and survey points keep
    their heights, which must already be in the project's vertical datum.
    """
    if same_horizontal(source, target):
        return None
    return pyproj.Transformer.from_crs(horizontal(source), horizontal(target), always_xy=True)


@dataclass(frozen=True)
class Transformation:
    """The coordinate operation PROJ applied, as a report states it.

    Attributes
    ----------
    description
        PROJ's description of the operation (``"Inverse of MGI to WGS 84 (3) + ..."``).
    accuracy
        Its accuracy (m) as PROJ states it; ``None`` when PROJ states none, as for a ballpark
        operation that ignores the datum shift.
    """

    description: str
    accuracy: float | None


def transform_geometry(
    geometry: shapely.Geometry | NDArray[np.object_],
    source: pyproj.CRS,
    target: pyproj.CRS,
    /,
) -> tuple[shapely.Geometry | NDArray[np.object_], Transformation | None]:
    """Move a geometry (or an array of them) from ``source`` to ``target`` (2D, as
    :func:`transformer`), and say which operation PROJ applied.

    Coordinates outside the area of the operation come back as ``inf``; the caller checks.
    The operation is the one PROJ used for the last coordinate: geometries of one site share
    it. ``None`` when the horizontal CRSs agree and nothing was moved.

    Examples
    --------
    >>> line = shapely.LineString([(14.3075, 46.624), (14.308, 46.624)])
    >>> moved, how = transform_geometry(line, parse_crs("OGC:CRS84"), parse_crs("EPSG:31258"))
    >>> how.accuracy, "MGI to WGS 84" in how.description
    (1.5, True)
    """
    move = transformer(source, target)
    if move is None:
        return geometry, None
    with np.errstate(invalid="ignore", over="ignore"):
        moved = shapely.transform(geometry, lambda c: np.c_[move.transform(c[:, 0], c[:, 1])])
    try:
        operation = move.get_last_used_operation()
    except pyproj.exceptions.ProjError:  # no coordinate could be moved
        return moved, Transformation(move.description, None)
    accuracy = float(operation.accuracy)
    ballpark = accuracy < 0 or "ballpark" in operation.description.lower()
    return moved, Transformation(operation.description, None if ballpark else accuracy)
