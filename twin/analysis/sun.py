"""Solar position for a place in the twin's CRS and any number of times.

The viewer's sun and shadows and the solar and shadow analyses share these functions. The
solar position comes from pvlib (NREL's solar position algorithm, vectorised over times); the
place is converted from the project CRS to latitude and longitude with pyproj. Azimuths are
given both from true north and from grid north: the two differ by the meridian convergence of
the projection (about 0.7 degrees at Klagenfurt in GK M31), which matters for shadows cast on a
map grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pyproj
from numpy.typing import NDArray

from twin.crs import horizontal
from twin.errors import InputError


@dataclass(frozen=True)
class SunPosition:
    """The sun seen from one place at ``n`` times.

    Attributes
    ----------
    times : (n,) datetime64[ns, UTC]
        The times, in UTC.
    elevation : (n,) float64
        Apparent elevation above the horizon (degrees, refraction included; negative at night).
    azimuth : (n,) float64
        Direction of the sun, clockwise from true north (degrees).
    grid_azimuth : (n,) float64
        Direction of the sun, clockwise from the grid north of the project CRS (degrees).
    """

    times: pd.DatetimeIndex
    elevation: NDArray[np.float64]
    azimuth: NDArray[np.float64]
    grid_azimuth: NDArray[np.float64]

    @property
    def above_horizon(self) -> NDArray[np.bool_]:
        """Whether the sun is up, ``(n,)``."""
        return self.elevation > 0.0

    def direction(self) -> NDArray[np.float64]:
        """Unit vectors towards the sun in the project CRS (x east, y grid north, z up), ``(n, 3)``.

        Examples
        --------
        >>> sun = SunPosition(pd.DatetimeIndex(["2024-06-21 11:00"], tz="UTC"),
        ...                   np.array([90.0]), np.array([0.0]), np.array([0.0]))
        >>> sun.direction().round(6).tolist()
        [[0.0, 0.0, 1.0]]
        """
        elevation, azimuth = np.radians(self.elevation), np.radians(self.grid_azimuth)
        return np.column_stack(
            [
                np.cos(elevation) * np.sin(azimuth),
                np.cos(elevation) * np.cos(azimuth),
                np.sin(elevation),
            ]
        )


def to_utc(
    times: str | datetime | Sequence[str | datetime] | pd.DatetimeIndex, /
) -> pd.DatetimeIndex:
    """Times as a UTC index; a time without a zone is refused (local or UTC is a guess).

    Raises
    ------
    InputError
        When a time cannot be parsed or carries no time zone.

    Examples
    --------
    >>> to_utc("2024-06-21T14:00+02:00")[0].isoformat()
    '2024-06-21T12:00:00+00:00'
    """
    items = [times] if isinstance(times, str | datetime) else times
    try:
        index = pd.DatetimeIndex([pd.Timestamp(t) for t in items])
    except (ValueError, TypeError) as exc:
        raise InputError(f"cannot read the time(s) {times!r}: {exc}") from exc
    if index.tz is None:
        raise InputError(
            f"time(s) {times!r} carry no time zone; write one, for example 2024-06-21T14:00+02:00"
        )
    return index.tz_convert("UTC")


def sun_position(
    crs: pyproj.CRS,
    xy: Sequence[float] | NDArray[np.float64],
    times: str | datetime | Sequence[str | datetime] | pd.DatetimeIndex,
    /,
    *,
    height: float = 0.0,
) -> SunPosition:
    """The sun's position seen from the point ``xy`` of ``crs`` at each of ``times``.

    Parameters
    ----------
    crs
        The project CRS (projected; a compound CRS is fine).
    xy : (2,) float
        The place, in ``crs``.
    times
        One time or many, each with a time zone (ISO 8601 strings, datetimes or an index).
    height
        Height of the place (m); it changes refraction negligibly.

    Returns
    -------
    SunPosition
        Elevation and azimuths for each time.

    Examples
    --------
    Klagenfurt, Neuer Platz, at the June solstice, solar noon (13:05 summer time):

    >>> from twin.crs import parse_crs
    >>> sun = sun_position(parse_crs("EPSG:31258+5778"), (524670, 165505),
    ...                    "2024-06-21T13:05+02:00")
    >>> round(float(sun.elevation[0])), round(float(sun.azimuth[0]))
    (67, 180)
    >>> round(float(sun.azimuth[0] - sun.grid_azimuth[0]), 2)
    0.71
    """
    from pvlib.solarposition import get_solarposition

    x, y = (float(v) for v in np.asarray(xy, dtype=np.float64).reshape(2))
    plane = horizontal(crs)
    to_geographic = pyproj.Transformer.from_crs(plane, plane.geodetic_crs, always_xy=True)
    lon, lat = to_geographic.transform(x, y)
    index = to_utc(times)
    solar = get_solarposition(index, lat, lon, altitude=height, method="nrel_numpy")
    azimuth = solar["azimuth"].to_numpy(dtype=np.float64)
    convergence = pyproj.Proj(plane).get_factors(lon, lat).meridian_convergence
    return SunPosition(
        times=index,
        elevation=solar["apparent_elevation"].to_numpy(dtype=np.float64),
        azimuth=azimuth,
        grid_azimuth=np.mod(azimuth - convergence, 360.0),
    )
