"""Jobs: asynchronous runs of processes, their status and results shared by every worker."""

from __future__ import annotations

import json
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely

from twin.errors import InputError
from twin.files import atomic
from twin.processes.process import Process


@dataclass
class Job:
    """An asynchronous run of a process.

    Attributes
    ----------
    owner
        The unique id of the caller who started it (``Principal.id``); only the owner sees it.
    scopes
        The scopes the run needed; whoever reads its status or results must still hold them.
    area
        The service area (WKT, store CRS) the run was limited to, ``None`` for none: a reader
        must see at least as much.
    """

    id: str
    process: str
    owner: str
    scopes: list[str] = field(default_factory=list)
    area: str | None = None
    status: str = "accepted"
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    started: str | None = None
    finished: str | None = None
    message: str | None = None


class JobRunner:
    """Runs processes in background threads; their status and results live in ``folder``.

    Every server worker process sees every job: the worker that runs a job writes its status
    (atomically, ``ID.json``) and at the end its results (``ID.result.json``), and any worker
    reads them. The folder is made with the first job, readable by the service's user only
    (0700, files 0600, as the audit log), since results hold restricted data. A worker keeps
    its own unfinished jobs in memory too. Without a folder everything stays in memory (one
    process).
    """

    def __init__(self, *, workers: int = 2, folder: Path | None = None):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="twin-job")
        self._jobs: dict[str, Job] = {}
        self._results: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._folder = folder

    def submit(
        self,
        process: Process,
        twin_path: Path | str,
        inputs: dict[str, Any],
        /,
        *,
        owner: str,
        scopes: frozenset[str] | set[str] = frozenset(),
        area=None,
    ) -> Job:
        """Validate the inputs, start the run for ``owner`` and return its job.

        ``scopes`` are those the run needs and ``area`` the caller's service area (shapely,
        store CRS): both are kept with the job for the checks of later reads.
        """
        process.validate(inputs)
        job = Job(
            uuid.uuid4().hex,
            process.id,
            owner,
            sorted(scopes),
            None if area is None else shapely.to_wkt(area),
        )
        self._store(job)
        self._pool.submit(self._run, job, process, twin_path, inputs, area)
        return job

    def _run(self, job: Job, process: Process, path: Path | str, inputs: dict, area) -> None:
        job.status, job.started = "running", datetime.now(UTC).isoformat()
        self._store(job)
        result = None
        try:
            result = process.function(path, inputs, area=area)
            job.status = "successful"
        except InputError as exc:
            job.status, job.message = "failed", str(exc)
        except Exception as exc:  # a job must end in a status, whatever went wrong
            job.status, job.message = "failed", f"internal error ({type(exc).__name__})"
        job.finished = datetime.now(UTC).isoformat()
        try:
            if result is not None:
                self._store_result(job, result)
        except (TypeError, ValueError, OSError) as exc:  # a result that cannot be stored
            job.status = "failed"
            job.message = f"internal error (result not stored: {type(exc).__name__})"
        self._store(job)

    def _file(self, job_id: str, suffix: str = "") -> Path:
        assert self._folder is not None
        return self._folder / f"{job_id}{suffix}.json"

    def _store_result(self, job: Job, result: dict[str, Any]) -> None:
        if self._folder is None:
            json.dumps(result)  # the same refusal as on disk for what JSON cannot hold
            with self._lock:
                self._results[job.id] = result
            return
        _write_private(self._file(job.id, ".result"), json.dumps(result))

    def _store(self, job: Job) -> None:
        if self._folder is not None:
            _write_private(self._file(job.id), json.dumps(asdict(job)))
        with self._lock:
            if self._folder is not None and job.finished is not None:
                self._jobs.pop(job.id, None)  # on disk for every worker from now on
            else:
                self._jobs[job.id] = job

    def get(self, job_id: str, /) -> Job | None:
        """The job ``job_id`` if it exists: this worker's own unfinished job, or else the one
        in its file. Whoever asks must check that the caller may see it (its ``owner``,
        ``scopes`` and ``area``)."""
        if not (job_id.isascii() and job_id.isalnum()):
            return None
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None and self._folder is not None:
            job = _read_job(self._file(job_id))
        return job

    def jobs(self, /, *, owner: str | None) -> list[Job]:
        """The jobs of ``owner``, newest first (none for an anonymous caller)."""
        if owner is None:
            return []
        with self._lock:
            found = {j.id: j for j in self._jobs.values() if j.owner == owner}
        if self._folder is not None and self._folder.is_dir():
            for path in self._folder.glob("*.json"):
                job_id = path.name.removesuffix(".json")
                if job_id.isalnum() and job_id not in found:
                    job = _read_job(path)
                    if job is not None and job.owner == owner:
                        found[job.id] = job
        return sorted(found.values(), key=lambda j: j.created, reverse=True)

    def result(self, job: Job, /) -> dict[str, Any] | None:
        """The results of a successful ``job`` (found with :meth:`get`), else ``None``."""
        if job.status != "successful":
            return None
        if self._folder is None:
            with self._lock:
                return self._results.get(job.id)
        try:
            return json.loads(self._file(job.id, ".result").read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def shutdown(self) -> None:
        """Wait for running jobs and stop the threads."""
        self._pool.shutdown(wait=True)


def _read_job(path: Path) -> Job | None:
    try:
        return Job(**json.loads(path.read_text("utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by this user only (file 0600 in a
    folder made 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with atomic(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
