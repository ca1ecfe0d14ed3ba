"""Every command of README.md runs as written: each ``make`` command names a target of the
Makefile, and every other command block runs in a fresh shell, in a checkout where ``make
demo`` has run, with the virtual environment activated as the README says."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import twin
from tests.conftest import ROOT
from twin.outputs import twin_files

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    """The fenced code blocks of README.md in ``language``."""
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.DOTALL | re.MULTILINE)


def _commands() -> list[str]:
    """The lines of the README's shell blocks, ``make`` commands left out."""
    lines = [line for block in _blocks("sh") for line in block.splitlines()]
    return [line for line in lines if line.strip() and not line.startswith("make ")]


def test_every_make_command_is_a_target_and_installs_in_the_open():
    # the README's own words: `make demo`, `make test`, `make bench`, `make demo BUILDINGS=2000`
    found = re.findall(r"^(make [^#\n]*?)\s*(?:#|$)", README, flags=re.MULTILINE)
    found += re.findall(r"`(make [^`]+)`", README)
    assert sorted(set(found)) == [
        "make bench",
        "make demo",
        "make demo BUILDINGS=2000",
        "make test",
    ]
    for command in sorted(set(found)):
        # a dry run (-n) prints the recipe without running it; -B as on a fresh clone
        dry = subprocess.run(
            [*command.replace("make", "make -n -B", 1).split()],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert dry.returncode == 0, (command, dry.stderr)
        assert "--quiet" not in dry.stdout and " -q " not in dry.stdout, command


def _after_make_demo(folder: Path, sources: Path, built: Path) -> Path:
    """``folder`` as a checkout after ``make demo``: ``.venv`` (this interpreter's
    environment), ``tests/`` and ``build/demo/`` with the sample sources and their twin."""
    (folder / ".venv").symlink_to(Path(sys.prefix))
    (folder / "tests").symlink_to(ROOT / "tests")
    demo = folder / "build" / "demo"
    shutil.copytree(sources, demo / "sources")
    for path in twin_files(built):
        if path.exists():
            shutil.copy(path, demo / path.name.replace(built.stem, "city", 1))
    return folder


def _run(line: str, folder: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        ["bash", "-c", f". .venv/bin/activate && {line}"],
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_the_readme_commands_run_as_written(sample_sources, sample_twin, tmp_path):
    folder = _after_make_demo(tmp_path, sample_sources, sample_twin)
    commands = _commands()
    assert commands[:2] == [". .venv/bin/activate", "twin --version"]
    # --version; sample, build, info; three exports and two imports; dig check, dig coordinate
    assert sum(line.startswith("twin ") for line in commands) == 1 + 3 + 5 + 2
    for line in commands:
        done = _run(line, folder)
        # twin dig check exits with its verdict: 0 GREEN, 1 AMBER, 2 RED
        allowed = {0, 1, 2} if line.startswith("twin dig check") else {0}
        assert done.returncode in allowed, (line, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, line
    assert _run("twin --version", folder).stdout == f"twin, version {twin.__version__}\n"
    for block in _blocks("python"):
        done = _run("python -", folder, stdin=block)
        assert done.returncode == 0, (block, done.stderr)
    # what the blocks wrote, where the README says
    demo = folder / "build" / "demo"
    for name in ("city.city.json", "city.gml", "tiles/tileset.json", "from-citygml.gpkg"):
        assert (demo / name).is_file(), name
    assert (demo / "trench" / "trench.html").is_file()
    assert (folder / "build" / "try" / "city.gpkg").is_file()


def test_the_readme_postgis_commands_run_as_written(
    postgis, postgis_db, sample_sources, sample_twin, tmp_path
):
    """The block of "A twin in PostGIS" (a ``console`` block: ``tools/postgis.sh start``
    starts a server, ``twin serve`` runs until stopped), on the test run's own server: its
    address put in place of the README's, the server's start left out, the API started and
    asked for the buildings."""
    (block,) = [b for b in _blocks("console") if "postgresql://" in b]
    lines = [line for line in block.splitlines() if line.strip()]
    assert lines[0] == "tools/postgis.sh start"
    folder = tmp_path
    (folder / ".venv").symlink_to(Path(sys.prefix))
    shutil.copytree(sample_twin.parent, folder / "build" / "try")  # the twin
    shutil.copytree(sample_sources, folder / "build" / "try" / "sources")
    ours = f"127.0.0.1:{postgis.port}/{postgis_db}"
    for line in lines[1:]:
        line = line.replace("127.0.0.1:5433/twin", ours)
        if line.startswith("twin serve"):  # in the background until it answers, then stopped
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            items = f"http://127.0.0.1:{port}/collections/buildings/items?limit=1"
            line = (
                f"{{ {line} --port {port} >/dev/null 2>&1 & pid=$!; ok=1; "
                f"for i in $(seq 100); do curl -sf '{items}' >/dev/null && {{ ok=0; break; }}; "
                "sleep 0.5; done; kill $pid; wait $pid; exit $ok; }"
            )
        done = _run(line, folder)
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, line
    assert (folder / "build" / "try" / "copy.gpkg").is_file()
