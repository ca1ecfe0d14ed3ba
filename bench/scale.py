"""Benchmark: `twin build` at growing sizes, into a GeoPackage and into PostGIS.

For each size, generated sources (no LiDAR, no orthophoto: footprints, DTM, DSM, survey
points, utilities, trees; ``bench/districts.py``, made once into the work folder) are built
with ``twin build`` as a process, as a user runs it, once into ``twin-N.gpkg`` and, with
``--postgis URL``, once into that database (a schema per size, ``scale_N``). Each build is
timed end to end (start-up and the write included) with its peak resident memory (the
build's process; a database server's own memory is not counted). Prints JSON, with the time
per building so that growth can be read at a glance.

With ``--update-share F`` (default 0.01), each size is then updated: a copy of its sources whose
cadastre has a share F of the footprints shrunk by 5 % is built whole into
``twin-N-full.gpkg`` and, with ``twin build --update``, over ``twin-N.gpkg``; both are timed
and their layers compared (they must be the same).

With ``--lidar-buildings N``, a district of N buildings with a point cloud is built twice more
into a GeoPackage: in one process, and with ``--workers 2`` (a local Dask cluster of two
processes reading the point cloud in parts, reconstructing the roofs in tiles and detecting
the trees meanwhile, :mod:`ingest.distributed`), and the two twins' layers are compared (they
must be the same); the one-process twin is then updated as above. Its point cloud is then cut
into 4 x 4 tiles (a folder of LAZ files, made once) and one tile is flown again, its roofs
1 m higher: the tiled twin is updated (``--update``) and the edited sources built whole,
both timed, and the two compared.

    python bench/scale.py [--buildings 10000 100000] [--postgis URL] [--lidar-buildings 2000]
        [--update-share 0.01] [--workdir build/bench]

``tools/postgis.sh start`` gives a local server:
``--postgis "postgresql://twin@127.0.0.1:5433/twin"``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from districts import sample_sources

#: runs the build as its child and prints the child's peak RSS (kB) and CPU seconds: each
#: build's own figures (a parent's RUSAGE_CHILDREN keeps the largest of all its children)
_MEASURED = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write(done.stderr)
print(done.returncode, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
"""


def _build(sources: Path, output: str, /, *options: str) -> dict:
    """``twin build SOURCES -o OUTPUT -q [OPTIONS]`` in a fresh process: wall time, CPU (of
    the build's own process) and peak RSS (of the largest of its processes)."""
    command = [sys.executable, "-m", "twin.cli", "build", str(sources), "-o", output, "-q"]
    command += options
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, *command],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONSAFEPATH": "1"},
    )
    wall = time.perf_counter() - t
    code, max_rss_kb, cpu_s = done.stdout.split()
    if int(code):
        raise SystemExit(f"twin build -o {output} failed:\n{done.stderr}")
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(float(cpu_s), 1),
        "peak_rss_mb": round(int(max_rss_kb) / 1024.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--postgis", metavar="URL", help="a database to build into as well")
    parser.add_argument("--workdir", type=Path, default=Path("build/bench"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lidar-buildings", type=int, help="also compare Dask on LiDAR")
    parser.add_argument("--update-share", type=float, default=0.01, help="0: no update run")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    runs = []
    for n in sorted(args.buildings):
        sources, generate_s = sample_sources(args.workdir, n, args.seed)
        row: dict = {"buildings": n, "generate_s": generate_s and round(generate_s, 1)}
        gpkg = args.workdir / f"scale-{n}.gpkg"
        row["gpkg"] = _build(sources, str(gpkg))
        if args.update_share:
            row["update"] = _update(sources, gpkg, args.update_share, args.seed)
        if args.postgis:
            sep = "&" if "?" in args.postgis else "?"
            row["postgis"] = _build(sources, f"{args.postgis}{sep}schema=scale_{n}")
        for store in ("gpkg", "postgis"):
            if store in row:
                row[store]["ms_per_building"] = round(1000 * row[store]["wall_s"] / n, 3)
        runs.append(row)
        print(json.dumps(row), file=sys.stderr)
    out = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "command": "twin build SOURCES -o OUTPUT -q (a process each)",
        "runs": runs,
    }
    if args.lidar_buildings:
        out["dask"] = _dask(args.workdir, args.lidar_buildings, args.seed)
        if args.update_share:
            sources = args.workdir / f"lidar-{args.lidar_buildings}-{args.seed}"
            one = args.workdir / f"lidar-{args.lidar_buildings}-one.gpkg"
            out["dask"]["update"] = _update(sources, one, args.update_share, args.seed)
            out["tile_update"] = _tile_update(sources)
    print(json.dumps(out, indent=2))


def _update(sources: Path, twin: Path, share: float, seed: int, /) -> dict:
    """A share of the footprints of ``sources`` shrunk by 5 % about their centroids: the
    twin built whole, and ``twin`` updated (``--update``), both timed; whether the two are
    the same."""
    edited = sources.with_name(f"{sources.name}-edited-{share:g}")
    if not edited.exists():
        edited.mkdir()
        for path in sources.iterdir():  # the other sources as they are
            if path.name != "cadastre.gpkg":
                (edited / path.name).symlink_to(path.resolve())
        cadastre = sources / "cadastre.gpkg"
        frame = gpd.read_file(cadastre, layer="buildings")
        rows = np.random.default_rng(seed).choice(len(frame), int(share * len(frame)), False)
        geoms = frame.geometry.to_numpy()[rows]
        centre = shapely.get_coordinates(shapely.centroid(geoms))
        xy, index = shapely.get_coordinates(geoms, return_index=True)
        shrunk = shapely.set_coordinates(geoms.copy(), centre[index] + 0.95 * (xy - centre[index]))
        frame.loc[rows, "geometry"] = shrunk
        parcels = gpd.read_file(cadastre, layer="parcels")
        pyogrio.write_dataframe(parcels, edited / "cadastre.gpkg", layer="parcels")
        pyogrio.write_dataframe(frame, edited / "cadastre.gpkg", layer="buildings")
    full = twin.with_name(f"{twin.stem}-full.gpkg")
    row: dict = {"footprints_changed": share}
    row["full_build"] = _build(edited, str(full))
    row["update"] = _build(edited, str(twin), "--update")
    row["speed_up"] = round(row["full_build"]["wall_s"] / row["update"]["wall_s"], 2)
    row["same_layers"] = _same_layers(full, twin)
    return row


def _tile_update(sources: Path, /, *, side: int = 4) -> dict:
    """The point cloud of ``sources`` cut into ``side`` x ``side`` tiles, its twin built;
    one tile (the last) flown again with its roofs 1 m higher: the twin updated and the
    edited sources built whole, both timed; whether the two are the same."""
    import laspy

    tiled = sources.with_name(f"{sources.name}-tiles-{side}")
    edited = sources.with_name(f"{sources.name}-tiles-{side}-edited")
    if not edited.exists():
        for folder in (tiled, edited):
            folder.mkdir()
            for path in sources.iterdir():  # the other sources as they are
                if path.name not in ("lidar.laz", "twin.toml"):
                    (folder / path.name).symlink_to(path.resolve())
            config = (sources / "twin.toml").read_text()
            (folder / "twin.toml").write_text(config.replace('"lidar.laz"', '"lidar"'))
            (folder / "lidar").mkdir()
        cloud = laspy.read(sources / "lidar.laz")
        x, y = np.asarray(cloud.x), np.asarray(cloud.y)
        edges = [np.linspace(v.min(), v.max(), side + 1)[1:-1] for v in (x, y)]
        col, row = np.searchsorted(edges[0], x), np.searchsorted(edges[1], y)
        for k in range(side * side):
            tile = laspy.LasData(cloud.header)
            tile.points = cloud.points[row * side + col == k]
            tile.write(tiled / "lidar" / f"tile-{k:02d}.laz")
            if k == side * side - 1:
                z = np.asarray(tile.z)
                z[np.asarray(tile.classification) == 6] += 1.0
                tile.z = z
            tile.write(edited / "lidar" / f"tile-{k:02d}.laz")
    twin = tiled.with_name(f"{tiled.name}.gpkg")
    full = edited.with_name(f"{edited.name}-full.gpkg")
    row: dict = {"tiles": side * side, "tiles_changed": 1}
    row["build"] = _build(tiled, str(twin))
    row["full_build"] = _build(edited, str(full))
    row["update"] = _build(edited, str(twin), "--update")
    row["speed_up"] = round(row["full_build"]["wall_s"] / row["update"]["wall_s"], 2)
    row["same_layers"] = _same_layers(full, twin)
    runs = pyogrio.read_dataframe(twin, layer="runs", read_geometry=False)
    row["update"]["record"] = json.loads(runs["update"].iloc[-1])
    return row


def _same_layers(one: Path, two: Path, /) -> bool:
    """Whether two GeoPackage twins hold the same layers, the run record aside."""
    return all(
        pyogrio.read_arrow(one, layer=name)[1].equals(pyogrio.read_arrow(two, layer=name)[1])
        for name, _ in pyogrio.list_layers(one)
        if name not in ("runs", "twin_metadata")
    )


def _dask(workdir: Path, n: int, seed: int, /) -> dict:
    """A LiDAR district built in one process and on a local cluster of two workers."""
    sources = workdir / f"lidar-{n}-{seed}"
    if not (sources / "twin.toml").exists():
        subprocess.run(
            [
                *(sys.executable, "-m", "twin.cli", "sample", str(sources), "--overwrite"),
                *("--buildings", str(n), "--seed", str(seed), "--no-ortho"),
            ],
            check=True,
            capture_output=True,
        )
    one = workdir / f"lidar-{n}-one.gpkg"
    two = workdir / f"lidar-{n}-dask.gpkg"
    row = {
        "buildings": n,
        "one_process": _build(sources, str(one)),
        "dask_2_workers": _build(sources, str(two), "--workers", "2"),
    }
    row["speed_up"] = round(row["one_process"]["wall_s"] / row["dask_2_workers"]["wall_s"], 2)
    row["same_layers"] = _same_layers(one, two)
    return row


if __name__ == "__main__":
    main()
