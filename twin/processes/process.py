"""One analysis as an OGC API process: its description, the inputs' JSON Schemas, its function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.errors import InputError

ProcessFunction = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Process:
    """A registered analysis.

    Attributes
    ----------
    id, title, description, version
        As in the OGC process description.
    inputs, outputs
        Name -> ``{"title", "description", "schema"}`` (JSON Schema of the value).
    function
        ``function(twin_path, inputs, *, area=None) -> dict`` of outputs; ``area`` is the
        caller's service area (shapely, store CRS) when the caller is scoped: the function
        reads nothing outside it.
    reads
        The collections (layers) the function reads: a caller needs the read scope of each
        of them, as for reading them through the Features API, besides ``scope``.
    scope
        The scope a caller needs to see and run it (``None``: no scope of its own).

    Examples
    --------
    >>> echo = Process(
    ...     id="echo",
    ...     title="Echo",
    ...     description="Gives its input back.",
    ...     inputs={"word": {"title": "Word", "schema": {"type": "string"}}},
    ...     outputs={"word": {"title": "Word", "schema": {"type": "string"}}},
    ...     function=lambda twin_path, inputs, *, area=None: dict(inputs),
    ... )
    >>> echo.run("city.gpkg", {"word": "Lindwurm"})
    {'word': 'Lindwurm'}
    >>> echo.run("city.gpkg", {"word": 7})
    Traceback (most recent call last):
    ...
    twin.errors.InputError: process 'echo': input 'word': 7 is not of type 'string'
    """

    id: str
    title: str
    description: str
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    function: ProcessFunction
    reads: tuple[str, ...] = ()
    scope: str | None = None
    version: str = "1.0.0"

    def validate(self, inputs: dict[str, Any], /) -> None:
        """Check inputs against their schemas.

        Raises
        ------
        InputError
            Naming the input and the problem.
        """
        if not isinstance(inputs, dict):
            raise InputError(f"process {self.id!r}: inputs must be a JSON object")
        unknown = set(inputs) - set(self.inputs)
        if unknown:
            raise InputError(f"process {self.id!r}: unknown inputs {sorted(unknown)}")
        missing = sorted(
            n for n, d in self.inputs.items() if d.get("minOccurs", 1) > 0 and n not in inputs
        )
        if missing:
            raise InputError(f"process {self.id!r}: missing inputs {missing}")
        # Imported here: jsonschema loads its format checkers' grammars on import (seconds
        # with rfc3987-syntax installed), which every command that imports the registry
        # would pay without running a process.
        import jsonschema

        for name, value in inputs.items():
            try:
                jsonschema.validate(value, self.inputs[name]["schema"])
            except jsonschema.ValidationError as exc:
                raise InputError(f"process {self.id!r}: input {name!r}: {exc.message}") from None

    def run(self, twin_path: Path | str, inputs: dict[str, Any], /, *, area=None) -> dict[str, Any]:
        """Validate the inputs and run the process on the twin at ``twin_path`` (a GeoPackage
        path, or a database URL as text)."""
        self.validate(inputs)
        return self.function(twin_path, inputs, area=area)
