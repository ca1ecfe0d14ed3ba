"""Benchmark of the excavation tools on the paths their users take, on a city-sized twin.

Builds once (cached under the work folder) a generated district of 110,000 buildings, which
holds about 100,000 utility segments, 110,000 trees and 150,000 parcels, then times:

- **the trench check through the API**, as the utility coordinators' web tools ask it: ``twin
  serve`` (one worker) answers ``POST /processes/trench-check/execution`` for trenches beside
  random lines; the first request builds the worker's index (reported apart), the others are
  timed end to end over HTTP (median, 95th percentile, maximum);
- **``twin dig check``** as a process (one trench drawn in the twin's CRS, the twin read and
  indexed each time), and the same with ``--out`` (site plans, enquiry pack, 3D snapshot,
  HTML): the difference is what the reports cost; of it, the site plan (A3 and A4) timed
  inside a process;
- **``twin dig coordinate``** as a process over 5,000 planned works in one year.

Prints one JSON object with the targets beside the figures::

    python bench/excavation.py [--buildings 110000] [--works 5000] [--trenches 30] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import shapely
from districts import sample_twin
from serving import free_port, wait_until_up

from twin.api.config import hash_key
from twin.store import open_store

KEY = "bench-coordinator"
TARGETS = {"trench_check_api_ms": 50, "coordination_seconds": 3, "site_plan_seconds": 3}


def _trenches(utilities: gpd.GeoDataFrame, n: int, seed: int = 1) -> list[shapely.LineString]:
    """Street trenches 1.5 m beside random in-service lines, 20 to 120 m long."""
    rng = np.random.default_rng(seed)
    live = utilities[utilities.get("status", "in_service") != "abandoned"]
    lengths = live.length.to_numpy()
    pick = rng.choice(np.flatnonzero((lengths > 20) & (lengths < 120)), size=2 * n, replace=False)
    axes = shapely.offset_curve(live.geometry.to_numpy()[pick], 1.5)
    axes = axes[shapely.get_type_id(axes) == 1][:n]  # a line whose offset stays one line
    ends = shapely.line_interpolate_point(axes[:, None], [[0.0, 1.0]], normalized=True)
    return [shapely.LineString(shapely.get_coordinates(pair)) for pair in ends]


def _works(utilities: gpd.GeoDataFrame, n: int, seed: int = 3) -> gpd.GeoDataFrame:
    """``n`` planned works along random lines, all starting and ending in 2027."""
    rng = np.random.default_rng(seed)
    rows = utilities.sample(n=n, random_state=seed, replace=n > len(utilities))
    works = rows[["operator", "network", "geometry"]].reset_index(drop=True)
    days = rng.integers(7, 120, n)
    start = np.datetime64("2027-01-01") + rng.integers(0, 365 - days).astype("timedelta64[D]")
    works["work_id"] = [f"W{i:05d}" for i in range(n)]
    works["start"] = start.astype(str)
    works["end"] = (start + days.astype("timedelta64[D]")).astype(str)
    return works


def _timed(command: list[str], runs: int, ok=(0,)) -> dict[str, float]:
    """Wall seconds of ``command`` as a process over ``runs`` runs (after one not counted)."""
    times = []
    for k in range(runs + 1):
        t = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode not in ok:
            raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
        if k:
            times.append(time.perf_counter() - t)
    return {
        "min": round(min(times), 3),
        "median": round(statistics.median(times), 3),
        "max": round(max(times), 3),
    }


@contextlib.contextmanager
def _server(twin_path: Path, folder: Path):
    """``twin serve`` (one worker) with a key that may run the trench check; yields its URL."""
    config = folder / "api.toml"
    config.write_text(
        f"""
[roles]
coordinator = ["utilities:read", "works:read"]

[[keys]]
name = "bench"
hash = "{hash_key(KEY)}"
roles = ["coordinator"]

[auth]
audit_log = "audit.jsonl"
""",
        encoding="utf-8",
    )
    port = free_port()
    log = (folder / "server.log").open("wb")
    cli = [sys.executable, "-m", "twin.cli", "serve", str(twin_path), "--port", str(port)]
    proc = subprocess.Popen([*cli, "--config", str(config)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/", proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _api_checks(twin_path: Path, trenches, crs: str, folder: Path, rounds: int) -> dict:
    """Trench checks through ``POST /processes/trench-check/execution``."""

    def body(line: shapely.LineString) -> dict:
        trench = json.loads(shapely.to_geojson(line))
        return {"inputs": {"trench": trench, "crs": crs, "width": 0.6, "depth": 1.5}}

    with _server(twin_path, folder) as url, httpx.Client(base_url=url, timeout=120) as client:
        headers = {"X-API-Key": KEY}
        path = "/processes/trench-check/execution"
        t = time.perf_counter()
        first = client.post(path, json=body(trenches[0]), headers=headers)
        if first.status_code != 200:
            raise SystemExit(f"trench-check: {first.status_code} {first.text}")
        cold = time.perf_counter() - t
        times, findings = [], 0
        for _ in range(rounds):
            for line in trenches:
                t = time.perf_counter()
                answer = client.post(path, json=body(line), headers=headers)
                times.append(time.perf_counter() - t)
                answer.raise_for_status()
                result = answer.json()["result"]
                findings += len(result["utilities"]) + len(result["trees"])
    ms = 1000 * np.array(times)
    return {
        "first_request_seconds": round(cold, 2),
        "requests": len(times),
        "ms_median": round(float(np.median(ms)), 1),
        "ms_p95": round(float(np.percentile(ms, 95)), 1),
        "ms_max": round(float(ms.max()), 1),
        "findings_per_check": round(findings / len(times), 1),
    }


def _site_plan_seconds(twin_path: Path, line: shapely.LineString) -> float:
    """Of the reports, the site plan (A3 and A4 PDFs) alone: timed inside the process that
    writes it, a breakdown of the ``--out`` figure (matplotlib imported before)."""
    import twin
    from twin.analysis.siteplan import draw_site_plan
    from twin.analysis.trench import ExcavationIndex, check_trench

    model = twin.open(twin_path)
    result = check_trench(ExcavationIndex.from_model(model), line, width=0.6, depth=1.5)
    checked = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        for paper in ("A3", "A4"):
            draw_site_plan(
                result, Path(tmp) / f"{paper}.pdf", model=model, paper=paper, checked=checked
            )
        return round(time.perf_counter() - t, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=110_000)
    parser.add_argument("--works", type=int, default=5_000)
    parser.add_argument("--trenches", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, help="API passes over the trenches")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each command")
    parser.add_argument("--workdir", type=Path, default=Path("build/bench"))
    args = parser.parse_args()
    twin_path = sample_twin(args.workdir, args.buildings)
    store = open_store(twin_path)
    layers = store.layers()
    counts = {name: layers[name].count for name in ("utilities", "trees", "parcels")}
    utilities = store.read_layer("utilities")  # in the exact CRS of the twin
    model_crs = store.crs
    crs = f"EPSG:{model_crs.sub_crs_list[0].to_epsg()}"
    trenches = _trenches(utilities, args.trenches)
    twin_cli = [sys.executable, "-m", "twin.cli"]
    with tempfile.TemporaryDirectory(prefix="bench-excavation-") as tmp:
        folder = Path(tmp)
        api = _api_checks(twin_path, trenches, crs, folder, args.rounds)
        # drawn in the city's CRS, as an engineer's CAD or GIS project has it
        trench_file = folder / "trench.gpkg"
        gpd.GeoDataFrame(
            {"trench_id": ["bench-1"]}, geometry=trenches[:1], crs=utilities.crs
        ).to_file(trench_file)
        check = [*twin_cli, "dig", "check", str(twin_path), str(trench_file), "--depth", "1.5"]
        verdicts = (0, 1, 2)  # GREEN, AMBER, RED
        cli_check = _timed(check, args.runs, ok=verdicts)
        cli_out = _timed([*check, "--out", str(folder / "report")], args.runs, ok=verdicts)
        pages = len(list((folder / "report" / "enquiries").glob("*.pdf")))
        site_plan = _site_plan_seconds(twin_path, trenches[0])
        works_file = folder / "works.gpkg"
        works = _works(utilities, args.works)
        works.to_file(works_file, layer="planned_works")
        coordinate = [*twin_cli, "dig", "coordinate", str(twin_path), str(works_file), "--json"]
        cli_coordinate = _timed(coordinate, args.runs)
        answer = json.loads(subprocess.run(coordinate, capture_output=True, check=True).stdout)
        started = _timed([*twin_cli, "dig", "coordinate", "--help"], args.runs)
    print(
        json.dumps(
            {
                "benchmark": "excavation",
                "twin": str(twin_path),
                "buildings": args.buildings,
                **{f"{name}_features": n for name, n in counts.items()},
                "cpu_count": os.cpu_count(),
                "trench_check_api": api,
                "twin_dig_check_seconds": cli_check,
                "twin_dig_check_out_seconds": cli_out,
                "reports_seconds_median": round(cli_out["median"] - cli_check["median"], 3),
                "reports": "site plan A3 and A4, enquiry pack, 3D snapshot, HTML, JSON, CSV",
                "enquiry_pages": pages,
                "site_plan_seconds_of_which": site_plan,
                "planned_works": len(works),
                "works_period": f"{works['start'].min()} to {works['end'].max()}",
                "twin_dig_coordinate_seconds": cli_coordinate,
                "clusters": len(answer["clusters"]),
                "largest_cluster_works": max((c["n_works"] for c in answer["clusters"]), default=0),
                "longest_cluster_span_days": max(
                    (c["span_days"] for c in answer["clusters"]), default=0
                ),
                "sequencing_conflicts": len(answer["sequencing"]),
                "moratorium_breaches": len(answer["moratorium"]),
                "twin_cli_start_seconds": started,
                "targets": TARGETS,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
