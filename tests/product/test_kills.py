"""Crash safety: a build killed at any moment leaves the previous twin as it was, and the next
write clears the temporaries the killed one left."""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import twin
from twin.files import Scratch, clear_stale

KILLS = 8
"""Builds killed before their end; each must leave the previous twin byte for byte."""

TWIN_FILES = {"city.gpkg", "city.dtm.tif", "city.ortho.tif", "city.mesh-1.2.npz"}
"""What a finished build of the sample leaves in its folder, and nothing else."""


def _holding(target: Path) -> subprocess.Popen:
    """A process that writes half a temporary of ``target`` through a :class:`Scratch`, then
    waits (as a writer in the middle of its work); returns once the temporary is there."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from twin.files import Scratch
        scratch = Scratch(Path({str(target)!r}))
        scratch.path(".tmp").write_bytes(b"half a twin")
        print(scratch.token, flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # the token: the lock is held and the temporary written
    return proc


def test_a_live_write_is_left_alone_and_a_killed_one_cleared(tmp_path):
    target = tmp_path / "city.gpkg"
    target.write_bytes(b"the previous twin")
    proc = _holding(target)
    try:
        # a lock file and one temporary, both hidden, named after the target
        written = sorted(p.name for p in tmp_path.glob(".city.gpkg.*"))
        assert len(written) == 2 and {Path(n).suffix for n in written} == {".lock", ".tmp"}
        assert clear_stale(target) == []  # its writer runs: nothing is stale
        with Scratch(target):  # a second writer of the same target meanwhile
            assert sorted(p.name for p in tmp_path.glob(".city.gpkg.*")) != written
        assert sorted(p.name for p in tmp_path.glob(".city.gpkg.*")) == written
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert sorted(p.name for p in clear_stale(target)) == written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.gpkg"]
    assert target.read_bytes() == b"the previous twin"


def test_a_folder_moved_aside_by_a_killed_write_is_moved_back(tmp_path):
    """A tileset write killed between its two renames: the previous folder is at
    ``.NAME.TOKEN.old``, the new one complete at ``.NAME.TOKEN.tmp``, none at the target."""
    target = tmp_path / "tiles"
    old, new = tmp_path / ".tiles.0badc0de.old", tmp_path / ".tiles.0badc0de.tmp"
    for folder, text in ((old, "previous"), (new, "new")):
        folder.mkdir()
        (folder / "tileset.json").write_text(text)
    (tmp_path / ".tiles.0badc0de.lock").touch()  # its writer's lock, free since it died
    assert sorted(p.name for p in clear_stale(target)) == [".tiles.0badc0de.lock", new.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiles"]
    assert (target / "tileset.json").read_text() == "previous"


def _digest(path: Path) -> dict[str, str]:
    """sha256 of the twin's GeoPackage, terrain and orthophoto."""
    names = ("city.gpkg", "city.dtm.tif", "city.ortho.tif")
    return {n: hashlib.sha256((path.parent / n).read_bytes()).hexdigest() for n in names}


def _runs(path: Path) -> int:
    """The build runs the twin at ``path`` records (a complete twin, read as a reader would)."""
    model = twin.open(path)
    assert len(model.buildings) == 40 and model.terrain is not None
    return len(model.layers["runs"])


@pytest.mark.slow
def test_a_killed_build_leaves_the_previous_twin_and_no_temporaries(tmp_path):
    """``twin build`` of a 40-building sample killed with SIGKILL at seeded random moments
    over its run time, until 8 kills interrupted it before its end."""
    from ingest.synthetic import generate_district

    sources = tmp_path / "sources"
    generate_district(sources, buildings=40, seed=3, lidar=False)  # with an orthophoto
    path = tmp_path / "twin" / "city.gpkg"
    build = [sys.executable, "-m", "twin.cli", "build", str(sources), "-o", str(path), "-q"]
    subprocess.run(build, check=True, capture_output=True, timeout=600)
    started = time.monotonic()  # a second build: its run time is that of those to come
    subprocess.run(build, check=True, capture_output=True, timeout=600)
    duration = time.monotonic() - started
    previous, runs = _digest(path), _runs(path)
    rng = random.Random(15)
    interrupted, seen = 0, []  # seen: (delay, exit code, hidden files left) of each run
    for attempt in range(5 * KILLS):  # about KILLS + 3 on an even machine
        if interrupted == KILLS:
            break
        # spread over the build's run time: one random moment in each eighth of it
        delay = duration * (attempt % KILLS + rng.random()) / KILLS
        with subprocess.Popen(build, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        hidden = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
        seen.append((round(delay, 2), proc.returncode, hidden))
        now = _digest(path)
        if proc.returncode == -signal.SIGKILL and now == previous:
            interrupted += 1  # the previous twin, byte for byte
            continue
        # it finished, or was killed after the GeoPackage was renamed in (while caching the
        # meshes): then the new twin is complete, with one more run recorded
        assert proc.returncode in (0, -signal.SIGKILL), seen
        assert now["city.gpkg"] != previous["city.gpkg"], f"the terrain changed alone: {seen}"
        assert _runs(path) == runs + 1, seen
        previous, runs = now, runs + 1
    assert interrupted == KILLS, (duration, seen)
    # one more, killed the moment its write has begun (its temporaries appear beside the twin),
    # whatever the random moments above caught
    with subprocess.Popen(build, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        hidden = []
        while proc.poll() is None and not hidden:
            hidden = [  # .city.gpkg.<token>.tmp.gpkg and its companions .tmp1.tif...
                p.name
                for p in path.parent.iterdir()
                if p.name.startswith(f".{path.name}.") and ".tmp" in p.name
            ]
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert hidden and proc.returncode == -signal.SIGKILL, hidden
    assert _digest(path) == previous  # the previous twin, byte for byte
    # the next build clears what the killed writes left, and writes the twin
    subprocess.run(build, check=True, capture_output=True, timeout=600)
    assert {p.name for p in path.parent.iterdir()} == TWIN_FILES, seen
    assert _runs(path) == runs + 1
