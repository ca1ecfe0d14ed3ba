"""Benchmark: LoD1 for 100,000 generated buildings from 1 m rasters.

Prints one JSON object: buildings/s of the lifting step (ground and roof heights from the DTM
and DSM for every footprint) and of the whole build, peak RSS of the build, and the speed of
per-building zonal statistics with rasterstats (what a GIS user would run) on a subset.

    python bench/lod1.py [--buildings 100000] [--subset 2000] [--workdir build/bench]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings
from pathlib import Path

import numpy as np
from districts import sample_sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--subset", type=int, default=2_000)
    parser.add_argument("--workdir", type=Path, default=Path("build/bench"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sources, generate_s = sample_sources(args.workdir, args.buildings, args.seed)

    from ingest import cadastre
    from ingest.config import BuildConfig
    from ingest.ground import raster_ground
    from ingest.pipeline import build
    from ingest.reconstruct.lod12 import dsm_roofs, lift

    config = BuildConfig.load(sources)
    buildings = cadastre.read_buildings(config.sources["cadastre"], config.crs, config.lod1)
    geoms = buildings.geometry.to_numpy()
    t = time.perf_counter()
    ground, _ = raster_ground(geoms, config.sources["dtm"].path, config.lod1, label="DTM")
    roofs = [dsm_roofs(geoms, config.sources["dsm"].path, config.lod1)]
    attributes = lift(buildings, ground_z=ground, roofs=roofs, survey=None, options=config.lod1)
    lifting_s = time.perf_counter() - t
    n = len(buildings)

    t = time.perf_counter()
    model = build(config, args.workdir / "city.gpkg", progress=False)
    build_s = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    # The GIS user's way: rasterstats, one polygon at a time, on a subset.
    from rasterstats import zonal_stats

    subset = buildings.iloc[: args.subset]
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for raster in ("dtm", "dsm"):
            zonal_stats(
                list(subset.geometry),
                str(config.sources[raster].path),
                stats=["min", "percentile_5", "percentile_50", "percentile_70", "max"],
            )
    rasterstats_s = time.perf_counter() - t
    ours = attributes["lod1_z"].to_numpy()[: args.subset]

    result = {
        "benchmark": "lod1",
        "buildings": n,
        "lifting_seconds": round(lifting_s, 3),
        "lifting_buildings_per_s": round(n / lifting_s),
        "build_seconds": round(build_s, 3),
        "build_buildings_per_s": round(n / build_s),
        "peak_rss_mb": round(peak_mb),
        "generate_seconds": None if generate_s is None else round(generate_s, 1),
        "rasterstats_subset": args.subset,
        "rasterstats_buildings_per_s": round(args.subset / rasterstats_s, 1),
        "speedup_vs_rasterstats": round((n / lifting_s) / (args.subset / rasterstats_s), 1),
        "height_methods": model.buildings["height_method"].value_counts().to_dict(),
        "lifted_finite": int(np.isfinite(ours).sum()),
        "targets": {"lifting_buildings_per_s": 20_000, "peak_rss_mb": 4096},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
