"""The job runner behind OGC API - Processes: statuses in files every worker reads."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import shapely

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


def test_a_finished_job_is_read_from_its_file(tmp_path):
    folder = tmp_path / "city.jobs"
    runner = JobRunner(folder=folder)
    assert not folder.exists()  # made with the first job (a read-only twin folder can serve)
    area = shapely.box(0, 0, 10, 10)
    job = runner.submit(
        _process({"n": 1}),
        Path("city.gpkg"),
        {},
        owner="key:alice",
        scopes={"works:read", "utilities:read"},
        area=area,
    )
    runner.shutdown()  # waits for the job
    stored = json.loads((folder / f"{job.id}.json").read_text())
    assert stored["status"] == "successful" and "result" not in stored
    assert stored["owner"] == "key:alice"
    assert stored["scopes"] == ["utilities:read", "works:read"]
    assert shapely.equals(shapely.from_wkt(stored["area"]), area)
    other = JobRunner(folder=folder)  # another worker
    seen = other.get(job.id)
    assert seen.owner == "key:alice" and other.result(seen) == {"n": 1}


def test_job_files_are_private_to_the_service_user(tmp_path):
    folder = tmp_path / "city.jobs"
    runner = JobRunner(folder=folder)
    job = runner.submit(_process({"secret": "gas main"}), Path("city.gpkg"), {}, owner="key:a")
    runner.shutdown()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in (folder / f"{job.id}.json", folder / f"{job.id}.result.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_jobs_are_listed_for_their_owner_only(tmp_path):
    runner = JobRunner(folder=tmp_path / "city.jobs")
    mine = [runner.submit(_process({}), Path("x"), {}, owner="key:alice") for _ in range(3)]
    runner.submit(_process({}), Path("x"), {}, owner="jwt::alice")  # same name, other caller
    runner.shutdown()
    other = JobRunner(folder=tmp_path / "city.jobs")
    assert {j.id for j in other.jobs(owner="key:alice")} == {j.id for j in mine}
    assert len(other.jobs(owner="jwt::alice")) == 1
    assert other.jobs(owner=None) == []  # anonymous callers own no jobs


def test_a_job_id_is_never_a_path(tmp_path):
    runner = JobRunner(folder=tmp_path / "city.jobs")
    (tmp_path / "secret.json").write_text('{"id": "x", "process": "p", "owner": "key:a"}')
    assert runner.get("../secret") is None and runner.get("٣") is None


def test_a_result_that_cannot_be_stored_fails_the_job(tmp_path):
    runner = JobRunner(folder=tmp_path / "city.jobs")
    job = runner.submit(_process({"n": {1, 2}}), Path("city.gpkg"), {}, owner="key:alice")
    runner.shutdown()
    seen = JobRunner(folder=tmp_path / "city.jobs").get(job.id)
    assert seen.status == "failed" and "not stored" in seen.message
    assert JobRunner(folder=tmp_path / "city.jobs").result(seen) is None
