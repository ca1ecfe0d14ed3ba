"""The bare-earth surface of the sample district: one smooth analytic function of position."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: EPSG:31258 easting of the district centre (Klagenfurt, Neuer Platz), metres
CENTRE_X = 524_670.0
#: EPSG:31258 northing of the district centre, metres
CENTRE_Y = 165_505.0
#: terrain height at the centre, metres above the Adriatic datum (GHA, EPSG:5778)
BASE_Z = 445.0
#: gradient of the plane: rising 0.45 % to the east (the ground falls towards the west)
SLOPE_X = 0.0045
SLOPE_Y = -0.0012
#: long-wavelength undulations: (amplitude m, wavenumber x 1/m, wavenumber y 1/m, phase rad);
#: the amplitudes sum to 1.4 m
WAVES = (
    (0.6, 2 * np.pi / 780.0, 2 * np.pi / 1130.0, 0.4),
    (0.5, 2 * np.pi * 0.6 / 520.0, 2 * np.pi * 0.8 / 520.0, 1.3),
    (0.3, 2 * np.pi * -0.3 / 410.0, 2 * np.pi * 0.95 / 410.0, 0.2),
)


def terrain_z(x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """Terrain height of the sample district at EPSG:31258 positions.

    A plane falling gently towards the west plus three low plane waves
    ``a·sin(kx·dx + ky·dy + p)``. When ``x`` and ``y`` differ in shape (a row of eastings
    against a column of northings) each wave is evaluated in its separable form, so a grid
    costs only one-dimensional trigonometry; both forms agree to within 1e-12 m.

    Parameters
    ----------
    x, y : array_like
        Easting and northing in metres (EPSG:31258); broadcast against each other.

    Returns
    -------
    ndarray of float64
        Heights in metres above the Adriatic datum (GHA), of the broadcast shape.

    Examples
    --------
    >>> round(float(terrain_z(524_670.0, 165_505.0)), 3)
    445.775
    >>> terrain_z([524_000.0, 525_000.0], 165_505.0).round(2).tolist()
    [442.72, 445.98]
    """
    dx = np.asarray(x, dtype=np.float64) - CENTRE_X
    dy = np.asarray(y, dtype=np.float64) - CENTRE_Y
    z = (BASE_Z + SLOPE_X * dx) + SLOPE_Y * dy
    separable = dx.shape != dy.shape
    for amp, kx, ky, phase in WAVES:
        ax, ay = kx * dx + phase, ky * dy
        if separable:
            z = z + (amp * np.sin(ax)) * np.cos(ay) + (amp * np.cos(ax)) * np.sin(ay)
        else:
            z = z + amp * np.sin(ax + ay)
    return z
