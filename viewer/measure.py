"""Measurements between picked points, in the model CRS (metres, the model's height datum)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from twin.errors import InputError


@dataclass(frozen=True)
class Measurement:
    """Lengths and area along a picked path.

    Attributes
    ----------
    distance
        3D length of the path (m).
    horizontal
        Its length in plan (m, in the projected CRS).
    height_difference
        Height of the last point minus the first (m).
    area
        Plan area of the polygon the points close (m²), 0 for fewer than three points.
    """

    distance: float
    horizontal: float
    height_difference: float
    area: float


def measure(points: NDArray[np.float64], /) -> Measurement:
    """Measure a path of picked points ``(k, 3)`` given in the model CRS.

    Examples
    --------
    >>> m = measure(np.array([[0, 0, 440], [30, 0, 440], [30, 40, 446.0]]))
    >>> m.horizontal, m.height_difference, m.area
    (70.0, 6.0, 600.0)
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(p) < 2:
        raise InputError(f"a measurement needs at least two points, got {len(p)}")
    step = np.diff(p, axis=0)
    x, y = p[:, 0] - p[0, 0], p[:, 1] - p[0, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    return Measurement(
        distance=float(np.linalg.norm(step, axis=1).sum()),
        horizontal=float(np.linalg.norm(step[:, :2], axis=1).sum()),
        height_difference=float(p[-1, 2] - p[0, 2]),
        area=area if len(p) >= 3 else 0.0,
    )
