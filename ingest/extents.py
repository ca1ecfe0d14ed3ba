"""Where the sources lie: checked against each other and against the project CRS.

A source given the wrong CRS (or a wrong ``crs`` override) reads without an error; its
coordinates simply land somewhere else, and the build would write a twin with no terrain
under its buildings. So before any height is taken the footprints are held against the
project CRS's area of use and its scale error where they lie, and every other source against
the footprints. What cannot be right stops the build (:class:`~twin.errors.InputError`
naming both files and both extents); what is only suspicious goes into the run's warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import rasterio
import shapely
from numpy.typing import NDArray
from rasterio.windows import Window

from twin.crs import MAX_SCALE_ERROR, area_of_use, horizontal, scale_at
from twin.errors import CRSError, InputError
from twin.terrain import reading

AREA_MARGIN = 10_000.0
"""m: how far footprints may reach beyond the project CRS's area of use. EPSG gives the area
as the box of a country or projection zone; a city at its border may reach over it by about
a district's width. Farther, the coordinates are in another CRS, or wrong."""

MIN_COVERAGE = 0.5
"""Share of the footprints a raster's extent must touch to pass without a warning: one that
misses most of them is more likely cut from the wrong place than a tile of the city."""

OVERRIDE = "[project] allow_scale_error = true"
"""The config line that accepts a distorting project CRS (:func:`check_scale`)."""


@dataclass(frozen=True)
class Extent:
    """The extent of one source in the project CRS.

    Attributes
    ----------
    what
        The source in messages (``"DTM"``, ``"survey points"``).
    path
        Its file.
    bounds
        ``(xmin, ymin, xmax, ymax)``, m.
    """

    what: str
    path: Path
    bounds: tuple[float, float, float, float]

    def __str__(self) -> str:
        xmin, ymin, xmax, ymax = self.bounds
        return f"{xmin:.0f}, {ymin:.0f} - {xmax:.0f}, {ymax:.0f}"

    def meets(self, other: Extent, /, *, margin: float = 0.0) -> bool:
        """Whether the two extents overlap once this one is grown by ``margin`` m.

        Examples
        --------
        >>> a = Extent("DTM", Path("dtm.tif"), (0.0, 0.0, 10.0, 10.0))
        >>> b = Extent("footprints", Path("c.gpkg"), (12.0, 0.0, 20.0, 5.0))
        >>> a.meets(b), a.meets(b, margin=2.0)
        (False, True)
        """
        a, b = self.bounds, other.bounds
        return bool(
            a[0] - margin <= b[2]
            and b[0] <= a[2] + margin
            and a[1] - margin <= b[3]
            and b[1] <= a[3] + margin
        )


def footprint_extent(geoms: NDArray[np.object_], path: Path, /) -> Extent:
    """The extent of the footprints that have a geometry.

    Raises
    ------
    InputError
        When none has one.
    """
    present = geoms[~shapely.is_missing(geoms)]
    if not len(present):
        raise InputError(f"{path}: no building has a usable footprint")
    bounds = shapely.total_bounds(present)
    return Extent("footprints", path, tuple(float(v) for v in bounds))


def outside_area(
    geoms: NDArray[np.object_], crs: pyproj.CRS, /, *, margin: float = AREA_MARGIN
) -> NDArray[np.bool_]:
    """Which footprints reach more than ``margin`` m beyond the area of use of ``crs``
    (:func:`twin.crs.area_of_use`); none when the CRS states no area.

    Examples
    --------
    >>> from twin.crs import parse_crs
    >>> geoms = np.array([shapely.box(524600, 165500, 524620, 165512), shapely.box(0, 0, 1, 1)])
    >>> outside_area(geoms, parse_crs("EPSG:31258")).tolist()
    [False, True]
    """
    area = area_of_use(crs)
    out = np.zeros(len(geoms), dtype=bool)
    present = ~shapely.is_missing(geoms)
    if area is None or not present.any():
        return out
    b = shapely.bounds(geoms[present])
    with np.errstate(invalid="ignore"):
        inside = (
            (b[:, 0] >= area[0] - margin)
            & (b[:, 1] >= area[1] - margin)
            & (b[:, 2] <= area[2] + margin)
            & (b[:, 3] <= area[3] + margin)
        )
    out[present] = ~inside
    return out


def leave_out_of_area(
    buildings: gpd.GeoDataFrame, crs: pyproj.CRS, path: Path, /, *, allow: bool
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Leave out the footprints that lie outside the project CRS's area of use.

    A few far-off footprints among good ones are bad features: their geometry is dropped
    (so they get no solid) and ``footprint_issue`` says where they were. When every footprint
    lies outside, the CRS of the source or of the project is wrong: the build stops, unless
    ``allow`` (``[project] allow_scale_error``) accepts data outside the area.

    Returns
    -------
    buildings
        The footprints, the far-off ones without geometry and flagged.
    notes
        Messages for the run's warnings.

    Raises
    ------
    CRSError
        When every footprint lies outside the area and ``allow`` is false.
    """
    geoms = buildings.geometry.to_numpy()
    outside = outside_area(geoms, crs)
    rows = np.flatnonzero(outside)
    if not rows.size:
        return buildings, []
    xmin, ymin, xmax, ymax = area_of_use(crs)
    area = (
        f"the area of use of {crs.name} ({horizontal(crs).area_of_use.name.rstrip('.')}: "
        f"x {xmin:.0f} to {xmax:.0f}, y {ymin:.0f} to {ymax:.0f})"
    )
    far = f"more than {AREA_MARGIN / 1000:.0f} km outside {area}"
    corner = shapely.bounds(geoms[rows])[:, :2]
    ids = buildings["building_id"].to_numpy()[rows]
    at = [f"({x:.0f}, {y:.0f})" for x, y in corner]
    listed = ", ".join(f"{i} at {xy}" for i, xy in zip(ids[:3], at[:3], strict=False))
    listed += f" and {rows.size - 3} more" if rows.size > 3 else ""
    if rows.size == (~shapely.is_missing(geoms)).sum():
        message = f"{path}: every footprint lies {far}, e.g. {listed}"
        if not allow:
            raise CRSError(
                f"{message}; is the CRS of the file (or its [sources.cadastre] crs) right? "
                f"If it is, {OVERRIDE} accepts data outside the area"
            )
        return buildings, [f"{message}; accepted by {OVERRIDE}"]
    issue = buildings["footprint_issue"].to_numpy().copy()
    issue[rows] = [
        (f"{old}; " if old is not None else "") + f"{far}, at {xy}: left out"
        for old, xy in zip(issue[rows], at, strict=True)
    ]
    geoms = geoms.copy()
    geoms[rows] = None
    buildings = buildings.assign(footprint_issue=issue).set_geometry(
        gpd.GeoSeries(geoms, index=buildings.index, crs=buildings.crs)
    )
    return buildings, [f"{path}: {rows.size} footprint(s) {far} left out: {listed}"]


def check_scale(
    crs: pyproj.CRS, geoms: NDArray[np.object_], path: Path, /, *, allow: bool
) -> list[str]:
    """Refuse a project CRS whose scale error where the data lie exceeds
    :data:`twin.crs.MAX_SCALE_ERROR`, unless ``allow`` accepts it with a warning.

    The scale is taken at the median of the footprints' centres (a far-off footprint does
    not move it).

    Returns
    -------
    list of str
        The warning naming the scale factor when ``allow`` accepted it, else nothing.

    Raises
    ------
    CRSError
        When the scale error is too large and ``allow`` is false.
    """
    b = shapely.bounds(geoms[~shapely.is_missing(geoms)])
    if not len(b):
        return []
    x, y = np.median((b[:, 0] + b[:, 2]) / 2.0), np.median((b[:, 1] + b[:, 3]) / 2.0)
    try:
        scale = scale_at(crs, float(x), float(y))
    except CRSError as exc:
        raise CRSError(f"{path}: {exc}") from exc
    if scale.error <= MAX_SCALE_ERROR:
        return []
    message = (
        f"project CRS {crs.name} has a scale factor of {scale.k:.4f} where the data lie "
        f"(latitude {scale.lat:.2f}°, longitude {scale.lon:.2f}°): lengths are "
        f"{(scale.k - 1) * 100:+.2f} % and areas {(scale.areal - 1) * 100:+.2f} % off, more "
        f"than the {MAX_SCALE_ERROR:.1%} a CRS for measuring allows"
    )
    if not allow:
        raise CRSError(
            f"{message}; choose the projected CRS of the area (the national grid or the UTM "
            f"zone), or accept the distortion with {OVERRIDE}"
        )
    return [f"{message}; accepted by {OVERRIDE}"]


def check_overlap(source: Extent, footprints: Extent, /, *, margin: float = 0.0) -> None:
    """Refuse a source whose extent misses the footprints' (grown by ``margin`` m) entirely.

    Raises
    ------
    InputError
        Naming both files and both extents.
    """
    if not source.meets(footprints, margin=margin):
        near = f" by more than {margin:g} m" if margin else ""
        raise InputError(
            f"{source.path}: the extent of the {source.what} ({source}) misses that of the "
            f"footprints in {footprints.path}{near} ({footprints}); is its CRS right?"
        )


def coverage(source: Extent, geoms: NDArray[np.object_], /) -> list[str]:
    """A warning when the extent of ``source`` touches fewer than :data:`MIN_COVERAGE` of
    the footprints, naming how many it touches."""
    present = geoms[~shapely.is_missing(geoms)]
    touched = int(shapely.intersects(present, shapely.box(*source.bounds)).sum())
    if touched >= MIN_COVERAGE * len(present):
        return []
    return [
        f"{source.path.name}: the {source.what} covers only {touched} of {len(present)} "
        f"footprints ({touched / len(present):.0%}); the others take their heights from "
        "the next source"
    ]


def has_data(path: Path, /, *, rows: int = 1024) -> bool:
    """Whether a single-band raster holds any valid pixel (not no-data, not masked).

    The validity mask of the coarsest overview is read first, when the file has overviews;
    if it shows no data (a few valid pixels may vanish in an overview), the full mask is
    read in strips of ``rows`` rows, stopping at the first strip with data: a terrain with
    data answers at once, one that is all no-data (it compresses to little) is read to its
    end.

    Raises
    ------
    InputError
        When the raster cannot be read.
    """
    with reading(path, "raster"), rasterio.open(path) as src:
        levels = src.overviews(1)
        if levels:
            shape = (max(1, src.height // levels[-1]), max(1, src.width // levels[-1]))
            if src.read_masks(1, out_shape=shape).any():
                return True
        for top in range(0, src.height, rows):
            window = Window(0, top, src.width, min(rows, src.height - top))
            if src.read_masks(1, window=window).any():
                return True
        return False
