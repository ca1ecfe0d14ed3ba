"""From detected planes to a regular roof: its type, and planes snapped and made symmetric.

The footprint's oriented rectangle gives a frame: ``u`` along its long side, ``v`` across.
Near-horizontal planes become flat; sloped ones must face along an axis of the frame. Their
directions name the roof (one: shed, two opposite: gabled, three or four: hipped, none:
flat); anything else is ``multiple``. The roof is then fitted again with that shape imposed:
one height for a flat roof, one plane for a shed, equal slopes on both sides of a ridge
(gabled) and all round (hipped), the ridge's position or length found by a search. The
planes returned meet along the ridge and hips, and the roof is their lower envelope
(``z = min over planes``), which :mod:`ingest.reconstruct.roofs` turns into faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from ingest.reconstruct.planes import Planes

#: planes flatter than this (degrees) are horizontal
FLAT_SLOPE = 5.0
#: largest angle (degrees) between a sloped plane's direction and an axis of the footprint
AXIS_TOLERANCE = 15.0
#: horizontal planes further apart in height (m) make a stepped roof (``multiple``)
STEP = 0.5
#: least footprint area / oriented rectangle area for a gabled or hipped roof
RECTANGULAR = 0.95
#: share of the points a plane needs to shape the roof type
MIN_SHARE = 0.05
#: candidate ridge positions (gabled) or lengths (hipped) tried
STEPS = 61


@dataclass(frozen=True)
class Frame:
    """The oriented rectangle of a footprint.

    Attributes
    ----------
    centre : (2,) float
        Its centre.
    u, v : (2,) float
        Unit vectors along its long side and across.
    half_length, half_width
        Half its sides (m).
    rectangular
        Whether the footprint fills it (area ratio at least :data:`RECTANGULAR`).
    """

    centre: NDArray[np.float64]
    u: NDArray[np.float64]
    v: NDArray[np.float64]
    half_length: float
    half_width: float
    rectangular: bool

    @classmethod
    def of(cls, footprint: shapely.Geometry, /) -> Frame:
        """The frame of a (multi)polygon.

        Examples
        --------
        >>> f = Frame.of(shapely.box(0, 0, 4, 10))
        >>> f.centre.tolist(), f.half_length, f.half_width, f.rectangular
        ([2.0, 5.0], 5.0, 2.0, True)
        """
        rect = shapely.oriented_envelope(footprint)
        c = shapely.get_coordinates(rect)[:4]
        e0, e1 = c[1] - c[0], c[2] - c[1]
        long, short = (e0, e1) if np.hypot(*e0) >= np.hypot(*e1) else (e1, e0)
        u = long / np.hypot(*long)
        if u[0] < 0 or (u[0] == 0 and u[1] < 0):
            u = -u
        area = shapely.area(rect)
        return cls(
            centre=c.mean(axis=0),
            u=u,
            v=np.array([-u[1], u[0]]),
            half_length=float(np.hypot(*long) / 2),
            half_width=float(np.hypot(*short) / 2),
            rectangular=bool(area > 0 and shapely.area(footprint) / area >= RECTANGULAR),
        )

    def uv(self, xy: NDArray[np.float64], /) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Frame coordinates of ``(k, 2)`` points."""
        d = xy - self.centre
        return d @ self.u, d @ self.v

    def to_xy(self, coef: NDArray[np.float64], /) -> NDArray[np.float64]:
        """Planes ``z = A·u + B·v + C`` of the frame as ``(a, b, c)`` in ``x, y``."""
        coef = np.atleast_2d(coef)
        a = coef[:, 0] * self.u[0] + coef[:, 1] * self.v[0]
        b = coef[:, 0] * self.u[1] + coef[:, 1] * self.v[1]
        c = coef[:, 2] - a * self.centre[0] - b * self.centre[1]
        return np.column_stack([a, b, c])


@dataclass(frozen=True)
class Roof:
    """A regularised roof, or why there is none.

    Attributes
    ----------
    roof_type
        ``flat``, ``shed``, ``gabled``, ``hipped`` or ``multiple``.
    planes : (p, 3) float
        ``(a, b, c)`` in ``x, y``; the roof is their lower envelope (empty when ``reason``).
    reason
        Why no regular roof was made (``None`` when one was).
    """

    roof_type: str
    planes: NDArray[np.float64]
    reason: str | None = None


def envelope(planes: NDArray[np.float64], xy: NDArray[np.float64], /) -> NDArray[np.float64]:
    """Heights ``(k,)`` of the lower envelope of ``planes`` at ``(k, 2)`` points.

    Examples
    --------
    >>> gable = np.array([[0.0, 0.5, 10.0], [0.0, -0.5, 10.0]])
    >>> envelope(gable, np.array([[0.0, 0.0], [3.0, 2.0]])).tolist()
    [10.0, 9.0]
    """
    return (xy @ planes[:, :2].T + planes[:, 2]).min(axis=1)


def regularise(xyz: NDArray[np.float64], planes: Planes, frame: Frame, /) -> Roof:
    """The roof type of the detected planes and the regular roof fitted to their points.

    Parameters
    ----------
    xyz : (k, 3) float
        The building's roof points (same local frame as the planes and ``frame``).
    planes
        The planes detected in them.
    frame
        The footprint's frame.

    Returns
    -------
    Roof
    """
    support = planes.support()
    big = np.flatnonzero(support >= max(MIN_SHARE * len(xyz), 1))
    if not len(big):
        return Roof("multiple", np.empty((0, 3)), "no roof plane found in the points")
    coef = planes.coef[big]
    grad_u = coef[:, :2] @ frame.u
    grad_v = coef[:, :2] @ frame.v
    slope = np.degrees(np.arctan(np.hypot(grad_u, grad_v)))
    sloped = slope >= FLAT_SLOPE
    u, v = frame.uv(xyz[:, :2])
    inlier = np.isin(planes.label, big)
    u, v, z = u[inlier], v[inlier], xyz[inlier, 2]
    if not sloped.any():
        level = coef[:, 2] + coef[:, :2] @ frame.centre
        if np.ptp(level) > STEP:
            return Roof("multiple", np.empty((0, 3)), f"stepped flat roof ({len(big)} levels)")
        return Roof("flat", frame.to_xy(np.array([0.0, 0.0, z.mean()])))
    if not sloped.all():
        return Roof("multiple", np.empty((0, 3)), "horizontal and sloped planes")
    angle = np.degrees(np.arctan2(np.abs(grad_v), np.abs(grad_u)))  # 0: along u, 90: along v
    along_u = angle <= AXIS_TOLERANCE
    along_v = angle >= 90.0 - AXIS_TOLERANCE
    if not (along_u | along_v).all():
        return Roof("multiple", np.empty((0, 3)), "roof planes not aligned with the footprint")
    faces = {("u", s) for s in np.sign(grad_u[along_u])} | {
        ("v", s) for s in np.sign(grad_v[along_v])
    }
    axes = {axis for axis, _ in faces}
    w, half = (u, frame.half_length) if axes == {"u"} else (v, frame.half_width)
    if len(faces) == 1:
        t, h = _fit(w[None, :], z)
        coef_w = [t[0], 0.0, h[0]] if axes == {"u"} else [0.0, t[0], h[0]]
        return Roof("shed", frame.to_xy(np.array(coef_w)))
    kind = "gabled" if len(axes) == 1 else "hipped" if len(faces) >= 3 else None
    if kind is None:
        return Roof("multiple", np.empty((0, 3)), f"{len(big)} planes meeting at a corner")
    if not frame.rectangular:
        return Roof(kind, np.empty((0, 3)), f"{kind} roof on a footprint that is no rectangle")
    if kind == "gabled":
        ridge = np.linspace(-0.3, 0.3, STEPS) * half
        t, h = _fit(-np.abs(w[None, :] - ridge[:, None]), z)
        best = _best(t, h, -np.abs(w[None, :] - ridge[:, None]), z)
        t, h, s = t[best], h[best], ridge[best]
        a = np.array([[-t, h + t * s], [t, h - t * s]])
        zero = np.zeros((2, 1))
        coef_uv = np.hstack([a[:, :1], zero, a[:, 1:]] if axes == {"u"} else [zero, a])
    else:
        length = np.linspace(0.0, frame.half_length, STEPS)
        design = -np.maximum(np.abs(u)[None, :] - length[:, None], np.abs(v)[None, :])
        t, h = _fit(design, z)
        best = _best(t, h, design, z)
        t, h, d = t[best], h[best], length[best]
        coef_uv = np.array([[-t, 0, h + t * d], [t, 0, h + t * d], [0, -t, h], [0, t, h]])
    if t <= 0:
        return Roof("multiple", np.empty((0, 3)), f"{kind} planes form a valley")
    return Roof(kind, frame.to_xy(coef_uv))


def _fit(
    design: NDArray[np.float64], z: NDArray[np.float64], /
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Least squares ``z ≈ h + t·design[j]`` for every row ``j`` of ``design`` at once."""
    mean_f = design.mean(axis=1)
    centred = design - mean_f[:, None]
    var = (centred * centred).sum(axis=1)
    t = np.where(var > 0, centred @ (z - z.mean()) / np.where(var > 0, var, 1.0), 0.0)
    return t, z.mean() - t * mean_f


def _best(t: NDArray[np.float64], h: NDArray[np.float64], design: NDArray, z: NDArray, /) -> int:
    """The row of ``design`` whose fit leaves the smallest squared residual."""
    residual = z[None, :] - h[:, None] - t[:, None] * design
    return int(np.argmin((residual * residual).sum(axis=1)))
