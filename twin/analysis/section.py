"""The cross-section of a trench: walls sloped or shored by soil class, and the working width.

One concept shared by the trench check and the coordination of planned works, so that both
compute a trench's volume and opened surface the same way (Austrian BauV §§ 48–50; the values
and their clauses are rules in ``excavation_rules.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.analysis.rules import TOLERANCE_M, Rules, over
from twin.errors import InputError

SOILS = ("non_cohesive", "soft_cohesive", "stiff_cohesive", "soft_rock", "hard_rock")
"""Soil classes of BauV § 50 (1): gravels and sands, soft or stiff/semi-solid cohesive soils,
soft and hard rock."""
SUPPORTS = ("slope", "shoring")


@dataclass(frozen=True)
class Section:
    """A trench's cross-section.

    Attributes
    ----------
    width, depth
        Bottom width and depth below ground (m).
    support
        ``"slope"``, ``"shoring"`` or ``"none needed"`` (not deeper than the support depth).
    soil
        The soil class (one of :data:`SOILS`).
    slope_angle
        Angle of the walls from the horizontal (degrees); 90 for vertical or shored walls.
    run
        How far each wall reaches beyond the bottom edge at the surface (m).
    """

    width: float
    depth: float
    support: str
    soil: str
    slope_angle: float
    run: float

    @property
    def top_width(self) -> float:
        """Width at the surface (m)."""
        return self.width + 2.0 * self.run

    @property
    def area(self) -> float:
        """Cross-section area (m²): a rectangle, or a trapezoid of top width ``top_width``."""
        return self.depth * (self.width + self.run)

    def volume(self, length: float, /, *, parts: int = 1) -> float:
        """The excavated volume (m³) of a trench of ``length`` (m, along its centreline) made
        of ``parts`` separate runs, each with two sloped ends.

        The walls slope at the ends as along the sides: each run is a prismatoid of bottom
        ``width × L`` and top ``(width + 2 run) × (L + 2 run)``. The prismatoid rule
        ``V = d / 6 · (A_bottom + 4 A_middle + A_top)``, with ``A_middle = (b + r)(L + r)``,
        gives ``V = d · (b L + r (b + L) + 4/3 r²)``: the cross-section swept along the
        centreline, ``d (b + r) L``, plus at each end a wedge ``d r b / 2`` and two corner
        pyramids ``d r² / 3``. The swept part holds for a bent centreline too (the
        cross-section is symmetric about it).

        Examples
        --------
        A 2 m deep trench, 0.6 m wide at the bottom, 80 m long, walls at 45° (run 2 m):
        2 · (0.6 · 80 + 2 · 80.6 + 4/3 · 4) = 429.07 m³.

        >>> cut = Section(0.6, 2.0, "slope", "non_cohesive", 45.0, 2.0)
        >>> round(cut.volume(80.0), 2)
        429.07
        """
        d, b, r = self.depth, self.width, self.run
        return d * (b + r) * length + parts * d * (r * b + 4.0 / 3.0 * r * r)

    def opened(self, length: float, /, *, parts: int = 1) -> float:
        """The ground surface opened (m²) by a trench of ``length`` (m) in ``parts`` runs: the
        top width along the length, and at each end the run of the sloped end wall.

        Examples
        --------
        >>> Section(0.6, 2.0, "slope", "non_cohesive", 45.0, 2.0).opened(80.0)
        386.4
        """
        return self.top_width * (length + parts * 2.0 * self.run)

    def reach_at(self, depth: np.ndarray | float) -> np.ndarray:
        """How far the wall reaches beyond the bottom edge at ``depth`` below ground (m):
        ``run`` at the surface, 0 at the bottom and below."""
        if self.run == 0:
            return np.zeros_like(np.asarray(depth, dtype=float))
        share = 1.0 - np.clip(np.asarray(depth, dtype=float), 0.0, None) / self.depth
        return self.run * np.clip(share, 0.0, 1.0)


def section(
    width: float,
    depth: float,
    /,
    *,
    support: str = "slope",
    soil: str | None = None,
    rules: Rules | None = None,
    used: dict[str, str] | None = None,
) -> Section:
    """The cross-section of a trench of ``width`` × ``depth`` (m).

    Walls are vertical down to ``trench.support_depth`` (BauV § 48: 1.25 m); deeper, they are
    shored (vertical) or sloped at the angle of the soil class (BauV § 50 (1)).

    Parameters
    ----------
    width, depth
        Bottom width and depth (m), finite and positive.
    support
        ``"slope"`` or ``"shoring"``.
    soil
        A soil class of :data:`SOILS`; the rule ``trench.soil`` (the city's default) when
        ``None``.
    rules
        The rules; the shipped defaults when ``None``.
    used
        Collects the rules applied (name → citation) for the report.

    Raises
    ------
    InputError
        For a width or depth that is not a finite positive number, an unknown support or
        soil class.
    """
    rules = rules or Rules.load()

    def rule(name: str):
        if used is not None:
            used[name] = rules.cite(name)
        return rules.value(name)

    for name, value in (("width", width), ("depth", depth)):
        if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
            raise InputError(f"trench {name} must be a finite number above 0 m, not {value!r}")
    if support not in SUPPORTS:
        raise InputError(f"trench support must be one of {SUPPORTS}, not {support!r}")
    soil = soil or rule("trench.soil")
    if soil not in SOILS:
        raise InputError(f"soil class must be one of {SOILS}, not {soil!r}")
    if not over(depth, rule("trench.support_depth")):
        return Section(width, depth, "none needed", soil, 90.0, 0.0)
    if support == "shoring":
        return Section(width, depth, "shoring", soil, 90.0, 0.0)
    angle = float(rule(f"trench.slope_angle.{soil}"))
    run = 0.0 if angle >= 90.0 else depth / np.tan(np.radians(angle))
    return Section(width, depth, "slope", soil, angle, float(run))


def working_width_minimum(depth: float, /, *, rules: Rules | None = None) -> float:
    """The least clear width (m) of a trench people work in at ``depth`` (m), BauV § 49 (4):
    0.6 m to 1.75 m deep, 0.7 m over 1.75 m to 4 m, 0.9 m deeper. A depth within
    :data:`~twin.analysis.rules.TOLERANCE_M` of a class limit belongs to the shallower class.

    Examples
    --------
    >>> [working_width_minimum(d) for d in (1.2, 1.75, 1.75 + 1e-9, 1.76, 4.0, 4.5)]
    [0.6, 0.6, 0.6, 0.7, 0.7, 0.9]
    """
    rules = rules or Rules.load()
    limits = rules.value("trench.working_width.depths")
    widths = rules.value("trench.working_width.minimum")
    return float(widths[int(np.searchsorted(limits, depth - TOLERANCE_M, side="left"))])


def weakest_soil(classes: list[str], /, *, rules: Rules | None = None) -> str:
    """The weakest of soil ``classes``: the one whose walls must be sloped flattest (BauV
    § 50 (1)); of classes sloped alike, the first in :data:`SOILS`.

    Raises
    ------
    InputError
        For an empty list or a class not in :data:`SOILS`.

    Examples
    --------
    >>> weakest_soil(["hard_rock", "stiff_cohesive"])
    'stiff_cohesive'
    >>> weakest_soil(["soft_cohesive", "non_cohesive"])
    'non_cohesive'
    """
    rules = rules or Rules.load()
    unknown = sorted(set(classes) - set(SOILS))
    if unknown or not classes:
        raise InputError(f"soil classes must be some of {SOILS}, not {unknown or classes}")
    known = [s for s in SOILS if s in classes]
    return min(known, key=lambda s: float(rules.value(f"trench.slope_angle.{s}")))
