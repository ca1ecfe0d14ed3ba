"""The job runner behind OGC API - Processes: statuses in files every worker reads."""

from __future__ import annotations

import json
from pathlib import Path

from twin.processes import JobRunner, Process


def _process(result) -> Process:
    return Process(
        id="echo",
        title="Echo",
        description="Returns a fixed result.",
        inputs={},
        outputs={},
        function=lambda path, inputs, *, area=None: result,
    )


def _finished(runner: JobRunner, job_id: str) -> None:
    runner.shutdown()  # waits for the job
    assert runner.get(job_id, owner="someone") is None  # not the owner


def test_a_finished_job_is_read_from_its_file(tmp_path):
    folder = tmp_path / "city.jobs"
    runner = JobRunner(folder=folder)
    assert not folder.exists()  # made with the first job (a read-only twin folder can serve)
    job = runner.submit(_process({"n": 1}), Path("city.gpkg"), {}, owner="alice")
    _finished(runner, job.id)
    stored = json.loads((folder / f"{job.id}.json").read_text())
    assert (stored["status"], stored["result"]) == ("successful", {"n": 1})
    other = JobRunner(folder=folder)  # another worker
    assert other.get(job.id, owner="alice").result == {"n": 1}


def test_a_result_that_cannot_be_stored_fails_the_job(tmp_path):
    runner = JobRunner(folder=tmp_path / "city.jobs")
    job = runner.submit(_process({"n": {1, 2}}), Path("city.gpkg"), {}, owner="alice")
    _finished(runner, job.id)
    seen = JobRunner(folder=tmp_path / "city.jobs").get(job.id, owner="alice")
    assert seen.status == "failed" and "not stored" in seen.message
