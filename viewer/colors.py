"""Colouring buildings by an attribute: a colour map for numbers, a palette for categories."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from twin.errors import InputError

#: Tableau 10, the categorical palette (RGB 0-255); the last colour is kept for "other"
PALETTE = np.array(
    [
        (78, 121, 167),
        (242, 142, 43),
        (225, 87, 89),
        (118, 183, 178),
        (89, 161, 79),
        (237, 201, 72),
        (176, 122, 161),
        (255, 157, 167),
        (156, 117, 95),
        (186, 176, 172),
    ],
    dtype=np.uint8,
)
#: colour of buildings whose attribute is missing
MISSING = (90, 90, 90)
#: colours of the semantic surfaces when no attribute is chosen: ground, wall, roof
SEMANTIC_COLORS = np.array([(120, 120, 120), (236, 228, 210), (196, 90, 70)], dtype=np.uint8)


@dataclass(frozen=True)
class Coloring:
    """How buildings are coloured by one attribute.

    Attributes
    ----------
    attribute
        The column of the building table.
    values : (n,) float64
        Numeric attributes: the value of each building (NaN where missing); categorical ones:
        the category index of each building (-1 where missing).
    categories
        The category labels, in palette order (empty for a numeric attribute).
    clim
        The value range the colour map spans (numeric attributes).
    """

    attribute: str
    values: NDArray[np.float64]
    categories: tuple[str, ...] = ()
    clim: tuple[float, float] = (0.0, 1.0)

    @property
    def numeric(self) -> bool:
        """Whether the attribute is numeric (scalar bar) rather than categorical (legend)."""
        return not self.categories

    def category_colors(self) -> NDArray[np.uint8]:
        """RGB of each category, ``(k, 3)``."""
        return PALETTE[np.minimum(np.arange(len(self.categories)), len(PALETTE) - 1)]

    def rgb(self) -> NDArray[np.uint8]:
        """RGB of each building of a categorical colouring, ``(n, 3)``."""
        codes = self.values.astype(np.int64)
        colors = np.vstack([self.category_colors(), np.array([MISSING], dtype=np.uint8)])
        return colors[np.where(codes < 0, len(colors) - 1, codes)]


def coloring(buildings: pd.DataFrame, attribute: str, /, *, max_categories: int = 10) -> Coloring:
    """Colour buildings by a column of the building table.

    Numbers (not booleans) get a colour map over their 2nd to 98th percentile; anything else
    is categorical, the most frequent ``max_categories - 1`` values each with a colour and the
    rest as ``other``.

    Raises
    ------
    InputError
        When the table has no such column; the message lists those it has.

    Examples
    --------
    >>> table = pd.DataFrame({"use": ["home", "shop", "home", None], "h": [3.0, 9.0, 6.0, 4.0]})
    >>> c = coloring(table, "use")
    >>> c.categories, c.values.tolist()
    (('home', 'shop'), [0.0, 1.0, 0.0, -1.0])
    >>> coloring(table, "h").numeric
    True
    """
    if attribute not in buildings.columns or attribute == "geometry":
        have = ", ".join(c for c in buildings.columns if c != "geometry")
        raise InputError(
            f"cannot colour by {attribute!r}: buildings have no such attribute ({have})"
        )
    column = buildings[attribute]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[np.isfinite(values)]
        lo, hi = np.percentile(finite, [2, 98]) if len(finite) else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        return Coloring(attribute, values, clim=(float(lo), float(hi)))
    text = column.astype("string")
    counts = text.dropna().value_counts(sort=True)
    top = list(counts.index[: max_categories - 1 if len(counts) > max_categories else None])
    categories = [*top, "other"] if len(counts) > len(top) else top
    codes = pd.Categorical(text, categories=top).codes.astype(np.int64)
    codes = np.where((codes < 0) & text.notna().to_numpy(), len(top), codes)
    return Coloring(attribute, codes.astype(np.float64), categories=tuple(categories))
