"""Processes the tests start (``twin serve``, an X server, a viewer): started in a session of
their own, waited on until ready with a generous deadline, always stopped and reaped.

On a loaded machine a server takes long to start and long to stop. A short start-up wait
failed tests that were fine, and a stop that gave up (``wait`` timing out) left a running
process whose ``Popen`` later raised a ``ResourceWarning`` in an unrelated test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

READY_S = 120.0
"""How long a started process may take to be ready (s): minutes only on a busy machine."""

STOP_S = 30.0
"""How long a process may take to stop after SIGTERM (s) before it is killed."""


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def started(command: list[str], log: Path, /, **options) -> Iterator[subprocess.Popen]:
    """Run ``command`` with its output in the file ``log``; stop it when the block ends.

    It runs in a session of its own, so that stopping it reaches the processes it started
    (uvicorn's workers). Stopping: SIGTERM, up to :data:`STOP_S` to exit, then SIGKILL to its
    whole group; it is always reaped and the log always closed. ``options`` go to ``Popen``.
    """
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **options
        )
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # what is left of its group
            proc.wait()


def wait_until(
    ready: Callable[[], bool], alive: Callable[[], bool], /, *, log: Path | None = None
) -> None:
    """Poll ``ready()`` until it holds, for up to :data:`READY_S`; fail the test, with the
    ``log``, when ``alive()`` no longer holds (what was started ended) or the deadline passes.
    """
    deadline = time.monotonic() + READY_S
    while not ready():
        problem = "ended before it was ready" if not alive() else None
        if problem is None and time.monotonic() > deadline:
            problem = f"not ready after {READY_S:.0f} s"
        if problem is not None:
            pytest.fail(f"{problem}: {log.read_text(errors='replace') if log else ''}")
        time.sleep(0.2)


def answers(url: str, /) -> bool:
    """Whether the planner API at ``url`` answers ``/conformance`` now."""
    try:
        return httpx.get(f"{url}/conformance", timeout=10).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def serving(
    twin_path: Path, folder: Path, /, *options: str, config: str | None = None
) -> Iterator[str]:
    """``twin serve TWIN OPTIONS`` on a free loopback port; yields its URL, stops it after.

    ``config`` is the text of an ``api.toml``, written to ``folder``. The server's output goes
    to ``folder/server.log``, which must hold no traceback.
    """
    if config is not None:
        path = folder / "api.toml"
        path.write_text(config, encoding="utf-8")
        options = (*options, "--config", str(path))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "server.log"
    command = [sys.executable, "-m", "twin.cli", "serve", str(twin_path), "--port", str(port)]
    with started([*command, *options], log) as proc:
        wait_until(lambda: answers(url), lambda: proc.poll() is None, log=log)
        yield url
    assert "Traceback" not in log.read_text(errors="replace")
