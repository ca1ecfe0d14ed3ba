"""Analyses as processes (OGC API - Processes), framework-free: a registry and a job runner.

An analysis registers a :class:`Process` (id, inputs and outputs as JSON Schemas, the scope a
caller needs, the function). The API, the CLI and notebooks list and run the same registry;
this module never imports a web framework. Modules that register processes are listed in
:data:`PROCESS_MODULES` and imported on first use of the registry.

Examples
--------
>>> "parcel-buildings" in processes()
True
"""

from __future__ import annotations

import importlib
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pyogrio
import shapely

from twin.errors import InputError

#: modules imported on first use of the registry; each registers its processes
PROCESS_MODULES: list[str] = []

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
        caller's service area (shapely, store CRS) when the caller is scoped.
    scope
        The scope a caller needs to see and run it (``None``: public).
    """

    id: str
    title: str
    description: str
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    function: ProcessFunction
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
        for name, value in inputs.items():
            try:
                jsonschema.validate(value, self.inputs[name]["schema"])
            except jsonschema.ValidationError as exc:
                raise InputError(f"process {self.id!r}: input {name!r}: {exc.message}") from None

    def run(self, twin_path: Path, inputs: dict[str, Any], /, *, area=None) -> dict[str, Any]:
        """Validate the inputs and run the process."""
        self.validate(inputs)
        return self.function(Path(twin_path), inputs, area=area)


_REGISTRY: dict[str, Process] = {}
_loaded = False


def register(process: Process, /) -> Process:
    """Add a process to the registry (a repeated id replaces the earlier one)."""
    _REGISTRY[process.id] = process
    return process


def processes() -> dict[str, Process]:
    """All registered processes by id."""
    global _loaded
    if not _loaded:
        for module in PROCESS_MODULES:
            importlib.import_module(module)
        _loaded = True
    return dict(_REGISTRY)


@dataclass
class Job:
    """An asynchronous run of a process."""

    id: str
    process: str
    owner: str
    status: str = "accepted"
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished: str | None = None
    message: str | None = None
    result: dict[str, Any] | None = None


class JobRunner:
    """Runs processes in background threads and keeps their status (in this process only)."""

    def __init__(self, *, workers: int = 2):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="twin-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(
        self,
        process: Process,
        twin_path: Path,
        inputs: dict[str, Any],
        /,
        *,
        owner: str,
        area=None,
    ) -> Job:
        """Validate the inputs, start the run and return its job."""
        process.validate(inputs)
        job = Job(uuid.uuid4().hex, process.id, owner)
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, process, twin_path, inputs, area)
        return job

    def _run(self, job: Job, process: Process, path: Path, inputs: dict, area) -> None:
        job.status = "running"
        try:
            job.result = process.function(path, inputs, area=area)
            job.status = "successful"
        except InputError as exc:
            job.status, job.message = "failed", str(exc)
        except Exception as exc:  # a job must end in a status, whatever went wrong
            job.status, job.message = "failed", f"internal error ({type(exc).__name__})"
        job.finished = datetime.now(UTC).isoformat()

    def get(self, job_id: str, /, *, owner: str) -> Job | None:
        """The job, if it exists and belongs to ``owner``."""
        job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def shutdown(self) -> None:
        """Wait for running jobs and stop the threads."""
        self._pool.shutdown(wait=True)


def parcel_buildings(twin_path: Path, inputs: dict[str, Any], /, *, area=None) -> dict[str, Any]:
    """Per-parcel building summary: buildings, built-up area and share, volume, max height.

    A building counts in every parcel its footprint overlaps, with the overlapping area; its
    volume is shared in proportion. Inputs: ``bbox`` ``[minx, miny, maxx, maxy]`` in the
    project CRS (required, at most 4 km²).
    """
    x0, y0, x1, y1 = inputs["bbox"]
    if not (x0 < x1 and y0 < y1):
        raise InputError("process 'parcel-buildings': bbox must be [minx, miny, maxx, maxy]")
    box = shapely.box(x0, y0, x1, y1)
    if area is not None:
        box = shapely.intersection(box, area)
    if shapely.area(box) > 4e6:
        raise InputError("process 'parcel-buildings': bbox larger than 4 km²")
    bounds = tuple(shapely.bounds(box))
    if box.is_empty:
        return {"parcels": []}
    parcels = pyogrio.read_dataframe(twin_path, layer="parcels", bbox=bounds, use_arrow=True)
    buildings = pyogrio.read_dataframe(
        twin_path,
        layer="buildings",
        bbox=bounds,
        columns=["building_id", "volume_lod1", "height"],
        use_arrow=True,
    )
    parcels = parcels[shapely.intersects(parcels.geometry.to_numpy(), box)]
    pg, bg = parcels.geometry.to_numpy(), buildings.geometry.to_numpy()
    p_idx, b_idx = shapely.STRtree(bg).query(pg, predicate="intersects")
    overlap = shapely.area(shapely.intersection(pg[p_idx], bg[b_idx]))
    share = overlap / np.maximum(shapely.area(bg[b_idx]), 1e-9)
    n = len(parcels)
    counted = overlap > 0.01
    volume = np.nan_to_num(buildings["volume_lod1"].to_numpy(dtype=float))[b_idx] * share
    heights = np.full(n, -np.inf)
    np.maximum.at(
        heights, p_idx, np.nan_to_num(buildings["height"].to_numpy(float), nan=-np.inf)[b_idx]
    )
    built = np.bincount(p_idx, weights=overlap, minlength=n)
    parcel_area = shapely.area(pg)
    summary = {
        "kg": parcels["kg"].astype(str).tolist(),
        "gst": parcels["gst"].astype(str).tolist(),
        "buildings": np.bincount(p_idx[counted], minlength=n).tolist(),
        "built_area_m2": np.round(built, 2).tolist(),
        "built_share": np.round(built / np.maximum(parcel_area, 1e-9), 4).tolist(),
        "volume_m3": np.round(np.bincount(p_idx, weights=volume, minlength=n), 1).tolist(),
        "max_height_m": [None if not np.isfinite(h) else round(float(h), 2) for h in heights],
    }
    rows = [
        dict(zip(summary, values, strict=True)) for values in zip(*summary.values(), strict=True)
    ]
    return {"parcels": rows}


register(
    Process(
        id="parcel-buildings",
        title="Buildings per parcel",
        description=(
            "Per cadastral parcel in a bbox: number of buildings, built-up area and share, "
            "LoD1.2 volume (shared by overlap), highest building."
        ),
        inputs={
            "bbox": {
                "title": "Area",
                "description": "[minx, miny, maxx, maxy] in the project CRS (m), at most 4 km²",
                "schema": {
                    "type": "array",
                    "items": {"type": "number"},
                    "minItems": 4,
                    "maxItems": 4,
                },
            }
        },
        outputs={
            "parcels": {
                "title": "Per-parcel summary",
                "schema": {"type": "array", "items": {"type": "object"}},
            }
        },
        function=parcel_buildings,
    )
)
