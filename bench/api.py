"""Benchmark of the planner API: items with a random bbox (limit=100) and single features.

Builds (once, cached under build/bench-api/) a twin of N generated buildings, serves it with
``twin serve --workers 2`` on a free loopback port, and drives it from a separate process (an
asyncio httpx client) at 1, 8 and 32 concurrent clients for a bounded number of seconds each.
Prints JSON. pygeoapi is compared when it is importable (it is not a project dependency).

    .venv/bin/python bench/api.py [--buildings 100000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _twin(buildings: int) -> Path:
    from ingest.config import BuildConfig
    from ingest.pipeline import build
    from ingest.sample import generate_sample

    folder = Path("build/bench-api") / str(buildings)
    out = folder / "city.gpkg"
    if not out.exists():
        generate_sample(folder / "sources", buildings=buildings, seed=1, lidar=False, ortho=False)
        build(BuildConfig.load(folder / "sources"), out, progress=False)
    return out


async def _drive(urls: list[str], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:

        async def worker(k: int) -> None:
            nonlocal errors
            i = k
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                r = await http.get(urls[i % len(urls)])
                latencies.append(time.perf_counter() - t)
                errors += r.status_code != 200
                i += clients

        start = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(clients)))
        elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(ms),
        "errors": errors,
        "requests_per_s": round(len(ms) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def load(args: argparse.Namespace) -> None:
    """The load generator (runs in its own process): prints one JSON object."""
    urls = json.loads(Path(args.urls).read_text())
    out = {
        name: [asyncio.run(_drive(u, c, args.seconds)) for c in (1, 8, 32)]
        for name, u in urls.items()
        if name != "feature"
    }
    out["feature"] = asyncio.run(_drive(urls["feature"], 1, args.seconds / 2))
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load(args)
        return
    import pyogrio

    from twin.api.crsuri import CRSRegistry
    from twin.store.gpkg import read_metadata

    t0 = time.perf_counter()
    twin = _twin(args.buildings)
    prepare_s = time.perf_counter() - t0
    info = pyogrio.read_info(twin, layer="buildings", force_total_bounds=True)
    x0, y0, x1, y1 = info["total_bounds"]
    _, crs = read_metadata(twin)
    geo = CRSRegistry(crs).get(None, allowed=["http://www.opengis.net/def/crs/OGC/1.3/CRS84"])
    rng = random.Random(0)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    boxes = []
    for _ in range(500):  # 250 m boxes, as a map view of a few blocks
        bx, by = rng.uniform(x0, x1 - 250), rng.uniform(y0, y1 - 250)
        boxes.append(geo.forward.transform_bounds(bx, by, bx + 250, by + 250))
    urls = {
        "items_bbox": [
            f"{base}/collections/buildings/items?limit=100&bbox={','.join(f'{v:.6f}' for v in b)}"
            for b in boxes
        ],
        "feature": [
            f"{base}/collections/buildings/items/{rng.randint(1, info['features'])}"
            for _ in range(500)
        ],
    }
    urls_file = twin.with_name("urls.json")
    urls_file.write_text(json.dumps(urls))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twin.cli",
            "serve",
            str(twin),
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/conformance", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        loadgen = subprocess.run(
            [
                sys.executable,
                __file__,
                "--load",
                "--urls",
                str(urls_file),
                "--seconds",
                str(args.seconds),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = json.loads(loadgen.stdout)
    print(
        json.dumps(
            {
                "buildings": info["features"],
                "prepare_s": round(prepare_s, 1),
                "server": "twin serve --workers 2 (uvicorn)",
                "twin": result,
                "pygeoapi": "not measured (not installed in this environment)",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
