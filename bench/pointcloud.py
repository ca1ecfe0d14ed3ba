"""Benchmark: LAZ to per-building heights, and validity checks; prints JSON.

Generates a sample district with its point cloud (``--buildings``, default 2000), then times
reading the LAZ alone, the DTM from ground points, LAZ to per-building heights end to end
(reading, assigning the points to footprints, the statistics; the DTM given), the LoD2.2
reconstruction (buildings/s), and the validity check of the LoD1.2 solids of a build. Each
step reports its wall time and the CPU time it took, of this process (``cpu_s``) and of the
reading processes that decode large clouds (``reader_cpu_s``): their sum over the wall time
shows how far decoding overlaps the work on the points, even on a shared machine (the load
average at the start is reported too).

Run: ``.venv/bin/python bench/pointcloud.py [--buildings N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyproj

from ingest.config import BuildConfig
from ingest.lidar.read import open_clouds, stream
from ingest.lidar.stats import point_stats
from ingest.lidar.terrain import dtm_from_points
from ingest.pipeline import build
from ingest.reconstruct.lod22 import reconstruct
from ingest.synthetic import generate_district
from twin.validity import check


def timed(step: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """``step()`` and its wall time, its CPU time here and in the reading processes (s)."""
    wall, mine, theirs = time.perf_counter(), time.process_time(), os.times()
    result = step()
    done = os.times()
    children = done.children_user + done.children_system
    return result, {
        "s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - mine, 2),
        "reader_cpu_s": round(children - theirs.children_user - theirs.children_system, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--buildings", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sources"
        generate_district(out, buildings=args.buildings, seed=0, lidar=True, ortho=False)
        crs = pyproj.CRS("EPSG:31258+5778")
        clouds = open_clouds(out / "lidar.laz", crs)
        points = sum(c.count for c in clouds)
        geoms = gpd.read_file(out / "cadastre.gpkg", layer="buildings").geometry.to_numpy()
        load = os.getloadavg()[0]
        _, read = timed(lambda: sum(1 for _ in stream(clouds)))
        dtm, terrain = timed(
            lambda: dtm_from_points(clouds, Path(tmp) / "dtm.tif", crs, footprints=geoms)
        )
        stats, heights = timed(lambda: point_stats(clouds, geoms, dtm=dtm))
        ground = stats.ground
        t = time.perf_counter()
        lod22 = reconstruct(geoms, stats, ground_z=ground, lod1_z=stats.roof.percentiles[70.0])
        lod22_s = time.perf_counter() - t
        config = Path(tmp) / "lidar.toml"
        config.write_text(
            "\n".join(
                [
                    '[project]\ncrs = "EPSG:31258+5778"',
                    f'[sources.cadastre]\npath = "{out}/cadastre.gpkg"',
                    'buildings_layer = "buildings"\nbuilding_id = "building_id"',
                    f'[sources.lidar]\npath = "{out}/lidar.laz"\n',
                ]
            )
        )
        model, whole = timed(
            lambda: build(BuildConfig.load(config), Path(tmp) / "city.gpkg", progress=False)
        )
        solids = model.layers["lod12"].geometry.to_numpy()
        t = time.perf_counter()
        codes, _ = check(solids)
        check_s = time.perf_counter() - t
    print(
        json.dumps(
            {
                "buildings": len(geoms),
                "points": points,
                "load_average_at_start": round(load, 2),
                "read_points_per_s": round(points / read["s"]),
                "read": read,
                "dtm_points_per_s": round(points / terrain["s"]),
                "dtm": terrain,
                "laz_to_heights_points_per_s": round(points / heights["s"]),
                "laz_to_heights_points_per_cpu_s": round(
                    points / (heights["cpu_s"] + heights["reader_cpu_s"])
                ),
                "laz_to_heights": heights,
                "lod22_buildings_per_s": round(len(geoms) / lod22_s, 1),
                "lod22_from_planes": int((lod22.attributes["lod22_method"] == "planes").sum()),
                "build_from_lidar": whole,
                "build_points_per_s": round(points / whole["s"]),
                "validity_solids_per_s": round(len(solids) / check_s),
                "invalid_solids": sum(1 for c in codes if c),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
