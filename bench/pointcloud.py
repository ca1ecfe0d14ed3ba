"""Benchmark: LAZ to per-building heights, and validity checks; prints JSON.

Generates a sample district with its point cloud (``--buildings``, default 2000), then times
reading the LAZ alone, the DTM from ground points, the per-building statistics, the LoD2.2
reconstruction (buildings/s), and the validity check of the LoD1.2 solids of a build.

Run: ``.venv/bin/python bench/pointcloud.py [--buildings N]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pyproj

from ingest.config import BuildConfig
from ingest.lidar.read import open_clouds, stream
from ingest.lidar.stats import point_stats
from ingest.lidar.terrain import dtm_from_points
from ingest.lod22.build import reconstruct
from ingest.pipeline import build
from ingest.sample import generate_sample
from twin.validity import check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--buildings", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sources"
        generate_sample(out, buildings=args.buildings, seed=0, lidar=True, ortho=False)
        crs = pyproj.CRS("EPSG:31258+5778")
        clouds = open_clouds(out / "lidar.laz", crs)
        points = sum(c.count for c in clouds)
        geoms = gpd.read_file(out / "cadastre.gpkg", layer="buildings").geometry.to_numpy()
        t = time.perf_counter()
        for _ in stream(clouds):
            pass
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        dtm = dtm_from_points(clouds, Path(tmp) / "dtm.tif", crs, footprints=geoms)
        dtm_s = time.perf_counter() - t
        t = time.perf_counter()
        stats = point_stats(clouds, geoms, dtm=dtm)
        stats_s = time.perf_counter() - t
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
        t = time.perf_counter()
        model = build(BuildConfig.load(config), Path(tmp) / "city.gpkg", progress=False)
        build_s = time.perf_counter() - t
        solids = model.layers["lod12"].geometry.to_numpy()
        t = time.perf_counter()
        codes, _ = check(solids)
        check_s = time.perf_counter() - t
    print(
        json.dumps(
            {
                "buildings": len(geoms),
                "points": points,
                "read_points_per_s": round(points / read_s),
                "dtm_points_per_s": round(points / dtm_s),
                "stats_points_per_s": round(points / stats_s),
                "lod22_buildings_per_s": round(len(geoms) / lod22_s, 1),
                "lod22_from_planes": int((lod22.attributes["lod22_method"] == "planes").sum()),
                "build_from_lidar_s": round(build_s, 2),
                "build_points_per_s": round(points / build_s),
                "validity_solids_per_s": round(len(solids) / check_s),
                "invalid_solids": sum(1 for c in codes if c),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
