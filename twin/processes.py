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
import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema

from twin.errors import InputError
from twin.formats._io import atomic

#: modules imported on first use of the registry; each registers its processes
PROCESS_MODULES: list[str] = [
    "twin.analysis.parcels",
    "twin.analysis.trench",
    "twin.analysis.coordination",
]

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
    """Runs processes in background threads; their status lives in files in ``folder``.

    Every server worker process sees every job: the worker that runs a job writes its status
    (atomically, one JSON file a job; the folder is made with the first) and any worker reads
    it. A worker keeps its own unfinished jobs in memory. Without a folder every status stays
    in memory (one process).
    """

    def __init__(self, *, workers: int = 2, folder: Path | None = None):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="twin-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._folder = folder

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
        self._store(job)
        self._pool.submit(self._run, job, process, twin_path, inputs, area)
        return job

    def _run(self, job: Job, process: Process, path: Path, inputs: dict, area) -> None:
        job.status = "running"
        self._store(job)
        try:
            job.result = process.function(path, inputs, area=area)
            job.status = "successful"
        except InputError as exc:
            job.status, job.message = "failed", str(exc)
        except Exception as exc:  # a job must end in a status, whatever went wrong
            job.status, job.message = "failed", f"internal error ({type(exc).__name__})"
        job.finished = datetime.now(UTC).isoformat()
        try:
            self._store(job)
        except (TypeError, ValueError, OSError) as exc:  # a result that cannot be stored
            job.status, job.result = "failed", None
            job.message = f"internal error (result not stored: {type(exc).__name__})"
            self._store(job)

    def _store(self, job: Job) -> None:
        if self._folder is not None:
            text = json.dumps(asdict(job))
            with atomic(self._folder / f"{job.id}.json") as tmp:
                tmp.write_text(text, encoding="utf-8")
        with self._lock:
            if self._folder is not None and job.finished is not None:
                self._jobs.pop(job.id, None)  # on disk for every worker from now on
            else:
                self._jobs[job.id] = job

    def get(self, job_id: str, /, *, owner: str) -> Job | None:
        """The job, if it exists and belongs to ``owner``: this worker's own unfinished job,
        or else the one in its file."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None and self._folder is not None and job_id.isalnum():
            try:
                job = Job(**json.loads((self._folder / f"{job_id}.json").read_text("utf-8")))
            except (OSError, ValueError, TypeError):
                job = None
        return job if job is not None and job.owner == owner else None

    def shutdown(self) -> None:
        """Wait for running jobs and stop the threads."""
        self._pool.shutdown(wait=True)
