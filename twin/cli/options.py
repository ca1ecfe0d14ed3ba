"""Option types shared by the commands: numbers with their unit and range, boxes, ports, twins.

A bad value is a usage error naming the option, its value and what it must be, raised by
click before the command does any work (exit code 2; ``twin dig check`` makes it 3).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

#: the TCP ports a server can listen on (RFC 793: 16 bits; port 0 asks the system for any)
PORT = click.IntRange(1, 65535)


class Quantity(click.ParamType):
    """A finite number of ``unit`` within a range (the bounds ``None`` where open-ended).

    Examples
    --------
    >>> Quantity("m", above=0).convert("0.6", None, None)
    0.6
    >>> Quantity("m", above=0).convert("nan", None, None)
    Traceback (most recent call last):
    ...
    click.exceptions.BadParameter: 'nan': must be a finite number > 0 (m)
    """

    name = "number"

    def __init__(
        self,
        unit: str,
        /,
        *,
        above: float | None = None,
        at_least: float | None = None,
        at_most: float | None = None,
    ) -> None:
        self.unit = unit
        self.above, self.at_least, self.at_most = above, at_least, at_most

    @property
    def need(self) -> str:
        """What the value must be, in words: ``a finite number > 0 (m)``."""
        if self.at_least is not None and self.at_most is not None:
            bounds = [f"between {self.at_least:g} and {self.at_most:g}"]
        else:
            bounds = [
                f"{word} {value:g}"
                for word, value in ((">", self.above), (">=", self.at_least), ("<=", self.at_most))
                if value is not None
            ]
        return " ".join(["a finite number", " and ".join(bounds), f"({self.unit})"]).replace(
            "  ", " "
        )

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not (
            math.isfinite(number)
            and (self.above is None or number > self.above)
            and (self.at_least is None or number >= self.at_least)
            and (self.at_most is None or number <= self.at_most)
        ):
            name = f"{param.name} " if param is not None and param.name else ""
            self.fail(f"{value!r}: {name}must be {self.need}", param, ctx)
        return number


#: a coordinate of a box: any finite number, in the model CRS
COORDINATE = Quantity("model CRS units")


def _bbox(
    ctx: click.Context, param: click.Parameter, value: tuple[float, ...] | None
) -> tuple[float, float, float, float] | None:
    """A ``--bbox``'s four numbers, checked: ``xmin < xmax`` and ``ymin < ymax``."""
    if value is None or len(value) == 0:
        return None
    xmin, ymin, xmax, ymax = value
    if not (xmin < xmax and ymin < ymax):
        raise click.BadParameter(
            f"{xmin:g} {ymin:g} {xmax:g} {ymax:g}: must be XMIN YMIN XMAX YMAX with "
            "XMIN < XMAX and YMIN < YMAX",
            ctx=ctx,
            param=param,
        )
    return xmin, ymin, xmax, ymax


def bbox_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--bbox XMIN YMIN XMAX YMAX`` option: four finite numbers, a box of some area."""
    return click.option(
        "--bbox",
        nargs=4,
        type=COORDINATE,
        metavar="XMIN YMIN XMAX YMAX",
        callback=_bbox,
        help=help,
    )


class TwinLocation(click.ParamType):
    """Where a twin is: a GeoPackage path, or a PostgreSQL URL
    (``postgresql://user@host:5432/db?schema=twin``) kept as text.

    Parameters
    ----------
    exists
        Whether a file twin must exist (a database twin is checked when it is opened).

    Examples
    --------
    >>> TwinLocation().convert("postgresql://db.example/city", None, None)
    'postgresql://db.example/city'
    >>> TwinLocation().convert("city.gpkg", None, None)
    PosixPath('city.gpkg')
    """

    name = "twin"

    def __init__(self, *, exists: bool = False) -> None:
        self.exists = exists

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        from twin.store.base import is_database

        if isinstance(value, Path) or not is_database(str(value)):
            path = Path(value)
            if self.exists and not path.exists():
                self.fail(f"{str(value)!r}: no such twin (file)", param, ctx)
            if path.is_dir():
                self.fail(f"{str(value)!r} is a folder, not a twin", param, ctx)
            return path
        return str(value)
