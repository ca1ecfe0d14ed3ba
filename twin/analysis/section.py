"""The cross-section of a trench: walls sloped or shored by soil class, and the working width.

One concept shared by the trench check and the coordination of planned works, so that both
compute a trench's volume and opened surface the same way (Austrian BauV §§ 48–50; the values
and their clauses are rules in ``excavation_rules.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.analysis.rules import Rules
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
    if depth <= rule("trench.support_depth"):
        return Section(width, depth, "none needed", soil, 90.0, 0.0)
    if support == "shoring":
        return Section(width, depth, "shoring", soil, 90.0, 0.0)
    angle = float(rule(f"trench.slope_angle.{soil}"))
    run = 0.0 if angle >= 90.0 else depth / np.tan(np.radians(angle))
    return Section(width, depth, "slope", soil, angle, float(run))


def working_width_minimum(depth: float, /, *, rules: Rules | None = None) -> float:
    """The least clear width (m) of a trench people work in at ``depth`` (m), BauV § 49 (4):
    0.6 m to 1.75 m deep, 0.7 m to 4 m, 0.9 m deeper."""
    rules = rules or Rules.load()
    limits = rules.value("trench.working_width.depths")
    widths = rules.value("trench.working_width.minimum")
    return float(widths[int(np.searchsorted(limits, depth, side="left"))])
