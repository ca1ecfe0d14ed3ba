"""The generated districts the benchmarks share: made once into the work folder, then reused."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def sample_sources(workdir: Path, buildings: int, seed: int = 7) -> tuple[Path, float | None]:
    """The sources of a ``buildings``-building district (no LiDAR, no orthophoto).

    Returns their folder and the seconds spent generating them (``None`` when reused).
    """
    sources = workdir / f"sources-{buildings}-{seed}"
    if (sources / "twin.toml").exists():
        return sources, None
    t = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "twin.cli",
            "sample",
            str(sources),
            "--overwrite",
            "--buildings",
            str(buildings),
            "--seed",
            str(seed),
            "--no-lidar",
            "--no-ortho",
        ],
        check=True,
    )
    return sources, time.perf_counter() - t


def sample_twin(workdir: Path, buildings: int, seed: int = 7) -> Path:
    """The twin built from :func:`sample_sources` (``twin build``), made once and reused."""
    sources, _ = sample_sources(workdir, buildings, seed)
    twin_path = workdir / f"twin-{buildings}-{seed}.gpkg"
    if not twin_path.exists():
        cli = [sys.executable, "-m", "twin.cli", "build", str(sources), "-o", str(twin_path)]
        subprocess.run([*cli, "-q"], check=True)
    return twin_path
