"""Benchmark of the planner API against pygeoapi: items with a random bbox (limit=100).

Builds (once, cached under build/bench-api/) a twin of N generated buildings, serves it with
``twin serve --workers 2`` on a free loopback port and drives it with wrk (a separate C
process; Debian package ``wrk``) for a bounded number of seconds per run. Every run reports
the CPU time of the server's processes per request.

The twin server writes the GeoJSON texts of every building once per twin version, in the
storage CRS and in CRS84, to a file all its workers share (``twin.api.feature_texts``), and
each worker keeps the other features it has written (``[limits] feature_cache_mb``). Its
runs, in this order:

- ``items_bbox_first_pass``: right after the start, with the shared texts of earlier runs
  removed (the first start on a new twin version), 32 connections ask for fresh random boxes,
  each box once (the paths outnumber the requests; ``repeated`` counts any asked again):
  the texts are written by one worker meanwhile, and boxes answered without them until then.
- after an unmeasured pass that asks every box of the next runs many times on both workers,
  and once the shared texts are written:
  ``items_bbox``, 500 random boxes at 1, 8 and 32 connections (warm: every feature kept),
  single features by id, the same boxes in CRS84 (``items_crs84``) and unfiltered pages at
  random offsets (``pages``), as a client paging through the layer asks.
- ``uncached``: a second server with ``feature_cache_mb = 0`` gets the same boxes at 1, 8 and
  32 connections and in CRS84: its workers keep nothing, every feature of every request is
  read from the shared texts (cold, as a box nobody asked for before).

In the same run, pygeoapi 0.21 (its SQLiteGPKG provider, its Starlette app under uvicorn with
2 workers) serves the same GeoPackage and gets the same boxes from the same load generator;
one server runs at a time. Prints JSON.

Both servers get the boxes in the storage CRS (``bbox-crs`` and ``crs``, as GDAL asks):
pygeoapi transforms EPSG:31258 with the EPSG axis order (northing first) while the
GeoPackage stores easting first, so in CRS84 it would select nothing and place features in
Germany. The feature counts per request are checked to be equal.

pygeoapi lives in its own virtual environment (it pins other versions than ours), made with
a Python whose sqlite3 can load extensions (Debian's) and SpatiaLite
(``libsqlite3-mod-spatialite``)::

    /usr/bin/python3.11 -m venv build/pygeoapi-venv
    build/pygeoapi-venv/bin/pip install "pygeoapi==0.21.*" starlette uvicorn
    .venv/bin/python bench/api.py [--buildings 100000] [--seconds 10] [--config api.toml]

With ``--postgis URL`` the same twin is also copied into that PostGIS schema (``twin copy``, as
a process, timed) and served from there with the same boxes in the same run
(``tools/postgis.sh start`` gives a local server):

    .venv/bin/python bench/api.py --postgis "postgresql://twin@127.0.0.1:5433/twin?schema=bench"

Its ``server_cpu_ms_per_request`` counts the API's processes only, not the database's.

With ``--copies K`` the buildings of the generated twin (its ``buildings``, ``lod12`` and
``building_surfaces``) are laid out K times side by side, ids suffixed ``~tK``, into
``build/bench-api/<N*K>-copies/`` (made once): how the API is measured at sizes whose build
does not fit this machine's memory, such as 1,000,000 buildings (``--copies 10``)::

    .venv/bin/python bench/api.py --copies 10 --pygeoapi-venv none \
        --postgis "postgresql://twin@127.0.0.1:5433/twin?schema=bench_1m"

To measure an older version beside this one, serve its checkout with this script (the
server imports twin from ``PYTHONPATH``, never from the working directory; a version whose
default rate limit was 6,000 a minute needs ``--config`` with ``[limits] rate_per_minute``)::

    git worktree add /tmp/old REV
    PYTHONPATH=/tmp/old .venv/bin/python bench/api.py --pygeoapi-venv none --config rate.toml
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import psutil
import pyproj
import yaml
from serving import free_port, wait_until_up

STORAGE = "http://www.opengis.net/def/crs/EPSG/0/31258"
#: how long the shared feature texts may go without growing before a run gives up (s)
TEXTS_STALL_S = 300.0
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
#: wrk script: cycle through the paths of ``paths.txt`` (one per line) from a random start
WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""
#: wrk script: thread k of n asks for paths k, k + n, k + 2n... in order (each path once while
#: the paths last, then again from the start)
WRK_ONCE_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  step = tonumber(os.getenv("WRK_THREADS"))
  i = id + 1 - step
end
request = function()
  i = i + step
  if i > #paths then i = id + 1 end
  return wrk.format("GET", paths[i])
end
"""


def _twin(buildings: int) -> Path:
    from ingest.config import BuildConfig
    from ingest.pipeline import build
    from ingest.synthetic import generate_district

    folder = Path("build/bench-api") / str(buildings)
    out = folder / "city.gpkg"
    if not out.exists():
        generate_district(folder / "sources", buildings=buildings, seed=1, lidar=False, ortho=False)
        build(BuildConfig.load(folder / "sources"), out, progress=False)
    return out


#: the layers laid out again by ``--copies``: what the API serves of the buildings
COPIED = ("buildings", "lod12", "building_surfaces")


def _copies(twin: Path, copies: int) -> Path:
    """A twin of ``copies`` times the buildings of ``twin``, laid out side by side on a grid
    (100 m apart, ids suffixed ``~tK``); its other layers are ``twin``'s own (made once).

    For sizes whose build does not fit this machine's memory (``docs/store.md``): the API's
    work depends on the number of features and of their index entries, not on their being
    unlike."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyogrio
    import shapely

    n = pyogrio.read_info(twin, layer="buildings")["features"]
    folder = twin.parent.parent / f"{n * copies}-copies"
    out = folder / twin.name
    if out.exists():
        return out
    staging = folder.with_name(folder.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for path in twin.parent.glob(f"{twin.stem}.*"):
        if path.suffix in (".gpkg", ".tif"):  # not the caches, made anew for the new twin
            shutil.copy(path, staging / path.name)
    x0, y0, x1, y1 = pyogrio.read_info(twin, layer="buildings", force_total_bounds=True)[
        "total_bounds"
    ]
    columns = int(np.ceil(np.sqrt(copies)))
    for name in COPIED:
        meta, table = pyogrio.read_arrow(twin, layer=name)
        geometry = meta["geometry_name"] or "wkb_geometry"
        geoms = shapely.from_wkb(table.column(geometry).to_numpy(zero_copy_only=False))
        for k in range(1, copies):
            shift = np.array(
                [(k % columns) * (x1 - x0 + 100.0), (k // columns) * (y1 - y0 + 100.0), 0]
            )
            moved = shapely.transform(geoms, lambda xyz, d=shift: xyz + d, include_z=True)
            ids = pc.binary_join_element_wise(table.column("building_id"), pa.scalar(f"~t{k}"), "")
            copy = table.set_column(
                table.column_names.index("building_id"), "building_id", ids
            ).set_column(
                table.column_names.index(geometry), geometry, pa.array(shapely.to_wkb(moved))
            )
            pyogrio.write_arrow(
                copy,
                staging / twin.name,
                layer=name,
                driver="GPKG",
                geometry_name=geometry,
                geometry_type=meta["geometry_type"],
                crs=meta["crs"],
                append=True,
            )
    staging.rename(folder)
    return out


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text).groups()
    return round(float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit], 2)


def _wrk(
    base: str, paths: list[str], clients: int, seconds: float, folder: Path, *, once=False
) -> dict:
    """One wrk run: requests/s, p50 and p99 latency, errors (non-2xx and socket errors).

    The paths are cycled through from a random start, or with ``once`` each asked once in
    order (:data:`WRK_ONCE_SCRIPT`) while they last.
    """
    listing = folder / "paths.txt"
    listing.write_text("\n".join(paths) + "\n")
    script = folder / "paths.lua"
    script.write_text(WRK_ONCE_SCRIPT if once else WRK_SCRIPT)
    threads = min(clients, 2)
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",  # wrk takes whole seconds
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "WRK_PATHS": str(listing), "WRK_THREADS": str(threads)},
    )
    out = done.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return {
        "clients": clients,
        "requests": requests,
        "errors": errors,
        "requests_per_s": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        "p99_ms": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
    }


def _cpu_s(server: psutil.Process) -> float:
    """CPU seconds (user + system) of the server and its worker processes so far."""
    total = 0.0
    for proc in [server, *server.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _measured_wrk(
    server: psutil.Process,
    base: str,
    paths: list[str],
    clients: int,
    seconds: float,
    folder: Path,
    *,
    once: bool = False,
) -> dict:
    """A wrk run with the server's CPU time per request (all its processes)."""
    before = _cpu_s(server)
    out = _wrk(base, paths, clients, seconds, folder, once=once)
    cpu = _cpu_s(server) - before
    return {**out, "server_cpu_ms_per_request": round(1000 * cpu / max(out["requests"], 1), 3)}


def _feature_count(url: str, /, *, tries: int = 5) -> int:
    """How many features the page at ``url`` holds; asked again after a 5xx (pygeoapi's
    GeoPackage provider fails now and then, ``InvalidPluginError``)."""
    for attempt in range(tries):
        answer = httpx.get(url, timeout=60)
        if answer.status_code < 500 or attempt == tries - 1:
            break
    answer.raise_for_status()
    return len(answer.json()["features"])


def _texts_written(folder: Path | None, files: int, asks: list[str], /) -> None:
    """Wait until the twin server has written ``files`` files of shared feature texts in
    ``folder``, if it writes them at all (an older version makes no such folder), while the
    files there grow; meanwhile the URLs ``asks`` are asked every few seconds, as a writer
    starts only on a request (one at a time: the next kind's on a request after the first is
    written). Nothing written for :data:`TEXTS_STALL_S` ends the run."""

    def state() -> tuple[int, int]:  # files written, and bytes of all, temporaries too
        paths = list(folder.glob("*/*.bin")) + list(folder.glob("*/.*.bin"))
        done = sum(not p.name.startswith(".") for p in paths)
        return done, sum(p.stat().st_size for p in paths if p.exists())

    if folder is None or not folder.is_dir():
        return
    last, since = state(), time.monotonic()
    while last[0] < files:
        if time.monotonic() - since > TEXTS_STALL_S:
            raise SystemExit(f"no feature texts written in {folder} for {TEXTS_STALL_S:g} s")
        for url in asks:
            httpx.get(url, timeout=60)
        time.sleep(3.0)
        now = state()
        if now != last:
            last, since = now, time.monotonic()


def _measure(
    server: psutil.Process,
    base: str,
    paths: dict[str, list[str]],
    seconds: float,
    folder: Path,
    *,
    runs: tuple[str, ...],
    texts: Path | None = None,
) -> dict:
    """The wrk runs named in ``runs`` (of ``first_pass``, ``items``, ``feature``,
    ``items_crs84``, ``pages``) that ``paths`` has paths for, in that order; the warm runs
    after the server's shared feature texts (in ``texts``) are written."""
    out = {}
    if "first_pass" in runs and "first_pass" in paths:
        # first of all: this server has written none of these boxes' features yet
        fresh = paths["first_pass"]
        first = _measured_wrk(server, base, fresh, 32, seconds, folder, once=True)
        out["items_bbox_first_pass"] = {
            **first,
            "boxes": len(fresh),
            "repeated": max(0, first["requests"] - len(fresh)),
        }
    # unmeasured: connections, the first transformer, and every box of the runs below asked
    # many times on both workers (what the server keeps of them is then warm), and the shared
    # feature texts of both CRSs written
    warm = [name for name in ("items", "items_crs84") if name in runs and name in paths]
    for name in warm:
        _wrk(base, paths[name], 8, max(1.0, seconds / 2), folder)
    _texts_written(texts, len(warm), [base + paths[name][0] for name in warm])
    if "items" in runs:
        out["items_bbox"] = [
            _measured_wrk(server, base, paths["items"], c, seconds, folder) for c in (1, 8, 32)
        ]
        out["features_per_request"] = [_feature_count(base + p) for p in paths["items"][:20]]
    if "feature" in runs:
        out["feature"] = _measured_wrk(server, base, paths["feature"], 1, seconds / 2, folder)
    for name, clients in (("items_crs84", 32), ("pages", 1)):
        if name in runs and name in paths:
            out[name] = _measured_wrk(server, base, paths[name], clients, seconds, folder)
    return out


def _serve_and_measure(
    command: list[str],
    env: dict | None,
    base: str,
    paths: dict,
    seconds: float,
    folder: Path,
    *,
    runs: tuple[str, ...] = ("first_pass", "items", "feature", "items_crs84", "pages"),
    texts: Path | None = None,
) -> dict:
    """Start a server, measure it with wrk, stop it (SIGINT: uvicorn stops its workers)."""
    name = Path(command[2] if command[1] == "-m" else command[0]).name
    with (folder / f"{name}.log").open("wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_up(f"{base}/conformance?f=json", server)
            process = psutil.Process(server.pid)
            return _measure(process, base, paths, seconds, folder, runs=runs, texts=texts)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _paths(boxes: list, fids: list[int], *, query: str, axes: tuple[int, ...]) -> dict:
    """Request paths: items in a box (storage CRS, ``axes`` order) and features by id."""
    items = "/collections/buildings/items"
    return {
        "items": [
            f"{items}?{query}limit=100&bbox-crs={STORAGE}&crs={STORAGE}"
            f"&bbox={','.join(f'{b[i]:.2f}' for i in axes)}"
            for b in boxes
        ],
        "feature": [f"{items}/{i}?{query}crs={STORAGE}" for i in fids],
    }


def _pygeoapi_config(twin: Path, port: int, folder: Path) -> Path:
    """A pygeoapi configuration serving the twin's buildings from the GeoPackage."""
    config = {
        "server": {
            "bind": {"host": "127.0.0.1", "port": port},
            "url": f"http://127.0.0.1:{port}",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "language": "en-US",
            "limits": {"default_items": 10, "max_items": 1000},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": ""},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "twin benchmark",
                "description": "pygeoapi serving the twin's GeoPackage",
                "keywords": ["twin"],
                "keywords_type": "theme",
                "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
                "url": "https://example.org",
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "twin", "url": "https://example.org"},
            "contact": {"name": "twin", "email": "twin@example.org", "role": "pointOfContact"},
        },
        "resources": {
            "buildings": {
                "type": "collection",
                "title": "Buildings",
                "description": "Building footprints",
                "keywords": ["buildings"],
                "links": [],
                "extents": {"spatial": {"bbox": [-180, -90, 180, 90], "crs": CRS84}},
                "providers": [
                    {
                        "type": "feature",
                        "name": "SQLiteGPKG",
                        "data": str(twin.resolve()),
                        "id_field": "fid",
                        "table": "buildings",
                        "storage_crs": STORAGE,
                        "crs": [CRS84, STORAGE],
                    }
                ],
            }
        },
    }
    path = folder / "pygeoapi.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _pygeoapi(
    venv: Path, twin: Path, boxes: list, fids: list[int], seconds: float, folder: Path
) -> dict | str:
    python = venv / "bin" / "python"
    if not python.exists():
        return f"not measured: no {python} (see the module docstring)"
    port = free_port()
    config = _pygeoapi_config(twin, port, folder)
    openapi = folder / "pygeoapi-openapi.yml"
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "PYGEOAPI_CONFIG": str(config),
        "PYGEOAPI_OPENAPI": str(openapi),
    }
    subprocess.run(
        [str(venv / "bin" / "pygeoapi"), "openapi", "generate", str(config), "-of", str(openapi)],
        env=env,
        check=True,
        capture_output=True,
    )
    # pygeoapi takes EPSG:31258 coordinates as stored (easting first)
    paths = _paths(boxes, fids, query="f=json&", axes=(0, 1, 2, 3))
    command = [str(python), "-m", "uvicorn", "pygeoapi.starlette_app:APP", "--port", str(port)]
    command += ["--workers", "2", "--log-level", "warning"]
    out = _serve_and_measure(command, env, f"http://127.0.0.1:{port}", paths, seconds, folder)
    version = subprocess.run(
        [str(python), "-c", "import pygeoapi; print(pygeoapi.__version__)"],
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()
    return {"server": f"pygeoapi {version} (SQLiteGPKG, Starlette, uvicorn 2 workers)", **out}


def _uncached_config(config: Path | None, folder: Path) -> Path:
    """An api.toml with the limits of ``config`` (the bench's caller is anonymous) and
    ``feature_cache_mb = 0``."""
    limits = {}
    if config is not None:
        limits = tomllib.loads(config.read_text(encoding="utf-8")).get("limits", {})
    limits["feature_cache_mb"] = 0
    path = folder / "api-uncached.toml"
    path.write_text("[limits]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in limits.items()))
    return path


def _twin_server(
    twin: Path | str,
    boxes: list,
    fresh: list,
    fids: list[int],
    seconds: float,
    folder: Path,
    config: Path | None,
) -> dict:
    paths = _paths(boxes, fids, query="", axes=(1, 0, 3, 2))  # EPSG:31258: northing first
    paths["first_pass"] = _paths(fresh, [], query="", axes=(1, 0, 3, 2))["items"]
    # the same boxes as a web map asks for them: in CRS84, answered in CRS84 (pygeoapi
    # cannot: it reads EPSG:31258 in the wrong axis order)
    to_crs84 = pyproj.Transformer.from_crs("EPSG:31258", "OGC:CRS84", always_xy=True)
    paths["items_crs84"] = []
    for x0, y0, x1, y1 in boxes:
        lon0, lat0, lon1, lat1 = to_crs84.transform_bounds(x0, y0, x1, y1)
        box = f"{lon0:.7f},{lat0:.7f},{lon1:.7f},{lat1:.7f}"
        paths["items_crs84"].append(f"/collections/buildings/items?limit=100&bbox={box}")
    # a client paging through the whole layer without a bbox, as GDAL or QGIS load it
    paths["pages"] = [
        f"/collections/buildings/items?limit=100&offset={100 * i}&crs={STORAGE}"
        for i in random.Random(1).sample(range(len(fids) * 2), len(fids))
    ]

    def serve(config: Path | None, **runs) -> dict:
        port = free_port()
        command = [sys.executable, "-m", "twin.cli", "serve", str(twin), "--port", str(port)]
        command += ["--workers", "2", *(["--config", str(config)] if config else [])]
        base = f"http://127.0.0.1:{port}"
        # the server imports twin as this script does (PYTHONPATH, else the installed package):
        # "python -m" would put the working directory first
        env = {**os.environ, "PYTHONSAFEPATH": "1"}
        return _serve_and_measure(command, env, base, paths, seconds, folder, texts=texts, **runs)

    # the first start on this twin version: no shared texts of an earlier run
    from twin.store import open_store

    texts = open_store(twin).cache_path("geojson-cache")
    shutil.rmtree(texts, ignore_errors=True)
    # the default configuration, rate limit included (a benchmark's load is one caller),
    # unless --config names another (to serve an older version, whose default was lower)
    out = serve(config)
    out["uncached"] = serve(_uncached_config(config, folder), runs=("items", "items_crs84"))
    return {"server": "twin serve --workers 2 (uvicorn)", **out}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pygeoapi-venv", type=Path, default=Path("build/pygeoapi-venv"))
    parser.add_argument("--config", type=Path, help="an api.toml for twin serve")
    parser.add_argument(
        "--postgis", metavar="URL", help="also serve the twin from this PostGIS schema"
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=1,
        help="serve the buildings of the generated twin laid out this many times side by side",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/api.py needs wrk: apt-get install wrk")
    import pyogrio

    t0 = time.perf_counter()
    twin = _twin(args.buildings)
    if args.copies > 1:
        twin = _copies(twin, args.copies)
    prepare_s = time.perf_counter() - t0
    info = pyogrio.read_info(twin, layer="buildings", force_total_bounds=True)
    x0, y0, x1, y1 = info["total_bounds"]
    rng = random.Random(0)
    boxes = []
    for _ in range(500):  # 250 m boxes, as a map view of a few blocks
        bx, by = rng.uniform(x0, x1 - 250), rng.uniform(y0, y1 - 250)
        boxes.append((bx, by, bx + 250, by + 250))
    fids = [rng.randint(1, info["features"]) for _ in range(500)]
    fresh = []  # more than 32 connections ask for in the first pass (3,000 a second)
    for _ in range(round(3000 * args.seconds)):
        bx, by = rng.uniform(x0, x1 - 250), rng.uniform(y0, y1 - 250)
        fresh.append((bx, by, bx + 250, by + 250))
    folder = twin.parent
    ours = _twin_server(twin, boxes, fresh, fids, args.seconds, folder, args.config)
    database = None
    if args.postgis:
        t0 = time.perf_counter()
        copy = [sys.executable, "-m", "twin.cli", "copy", str(twin), args.postgis]
        subprocess.run(
            copy, check=True, capture_output=True, env={**os.environ, "PYTHONSAFEPATH": "1"}
        )
        copy_s = time.perf_counter() - t0
        served = _twin_server(args.postgis, boxes, fresh, fids, args.seconds, folder, args.config)
        database = {"twin_copy_s": round(copy_s, 1), **served}
        if database["features_per_request"] != ours["features_per_request"]:
            raise SystemExit("the GeoPackage and PostGIS twins gave different features")
    theirs = _pygeoapi(args.pygeoapi_venv, twin, boxes, fids, args.seconds, folder)
    out = {
        "buildings": info["features"],
        "copies_of_the_generated_twin": args.copies,
        "prepare_s": round(prepare_s, 1),
        "load_generator": "wrk (separate process), one server at a time",
        "twin": ours,
        "pygeoapi": theirs,
    }
    if database is not None:
        out["postgis"] = database
        out["p99_ratio_postgis_to_gpkg"] = {
            str(a["clients"]): round(b["p99_ms"] / max(a["p99_ms"], 1e-9), 2)
            for a, b in zip(ours["items_bbox"], database["items_bbox"], strict=True)
        }
    if isinstance(theirs, dict):
        if theirs["features_per_request"] != ours["features_per_request"]:
            raise SystemExit("the two servers returned different features for the same boxes")
        for key, runs in (("", ours["items_bbox"]), ("_uncached", ours["uncached"]["items_bbox"])):
            out[f"throughput_ratio{key}"] = {
                str(a["clients"]): round(a["requests_per_s"] / max(b["requests_per_s"], 1e-9), 1)
                for a, b in zip(runs, theirs["items_bbox"], strict=True)
            }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
