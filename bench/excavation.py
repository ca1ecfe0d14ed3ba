"""Benchmark: one trench against ~100,000 utility segments and ~50,000+ trees; coordination of
5,000 planned works.

Prints one JSON object. Uses (and makes if missing) a generated 100,000-building district.

    python bench/excavation.py [--buildings 100000] [--works 5000] [--workdir build/bench]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from districts import sample_sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--works", type=int, default=5_000)
    parser.add_argument("--trenches", type=int, default=50)
    parser.add_argument("--workdir", type=Path, default=Path("build/bench"))
    args = parser.parse_args()
    sources, _ = sample_sources(args.workdir, args.buildings)

    from twin.analysis.coordination import coordinate
    from twin.analysis.trench import ExcavationIndex, check_trench
    from twin.crs import DEFAULT_CRS, parse_crs
    from twin.model import CityModel
    from twin.terrain import Terrain

    crs = parse_crs(DEFAULT_CRS)
    layers = {
        "utilities": pyogrio.read_dataframe(sources / "utilities.gpkg", use_arrow=True),
        "trees": pyogrio.read_dataframe(sources / "trees.gpkg", use_arrow=True),
        "parcels": pyogrio.read_dataframe(
            sources / "cadastre.gpkg", layer="parcels", use_arrow=True
        ),
    }
    model = CityModel(crs=crs, layers=layers, terrain=Terrain.from_raster(sources / "dtm.tif"))
    t = time.perf_counter()
    index = ExcavationIndex.from_model(model)
    index_s = time.perf_counter() - t

    # Trenches 1.5 m beside random in-service lines: realistic street trenches, 40-120 m long.
    rng = np.random.default_rng(1)
    lines = layers["utilities"]
    pick = rng.choice(len(lines), size=args.trenches, replace=False)
    axes = shapely.offset_curve(lines.geometry.to_numpy()[pick], 1.5)
    times, findings = [], 0
    for axis in axes:  # one check per trench, as a user or the API runs them
        axis = shapely.line_interpolate_point(axis, [0.0, 1.0], normalized=True)
        axis = shapely.LineString(shapely.get_coordinates(axis))
        if not shapely.within(axis, index.extent):
            continue
        t = time.perf_counter()
        result = check_trench(index, axis, width=0.6, depth=1.5)
        times.append(time.perf_counter() - t)
        findings += len(result.utilities) + len(result.trees)

    works = lines.sample(n=args.works, random_state=3, replace=args.works > len(lines))
    works = works[["operator", "network", "geometry"]].reset_index(drop=True)
    start = np.datetime64("2027-01-01") + rng.integers(0, 3 * 365, len(works)).astype(
        "timedelta64[D]"
    )
    works["work_id"] = [f"W{i:05d}" for i in range(len(works))]
    works["start"] = start.astype(str)
    works["end"] = (start + rng.integers(7, 180, len(works)).astype("timedelta64[D]")).astype(str)
    surface = pyogrio.read_dataframe(sources / "works.gpkg", layer="surface_works")
    t = time.perf_counter()
    result = coordinate(works, utilities=lines, surface_works=surface)
    coordinate_s = time.perf_counter() - t

    print(
        json.dumps(
            {
                "benchmark": "excavation",
                "utility_segments": len(lines),
                "trees": len(layers["trees"]),
                "parcels": len(layers["parcels"]),
                "index_build_seconds": round(index_s, 3),
                "trench_checks": len(times),
                "trench_check_ms_median": round(1000 * float(np.median(times)), 1),
                "trench_check_ms_max": round(1000 * float(np.max(times)), 1),
                "findings": findings,
                "planned_works": len(works),
                "coordination_seconds": round(coordinate_s, 3),
                "clusters": len(result.clusters),
                "largest_cluster": int(np.max(result.clusters["n_works"].to_numpy(), initial=0)),
                "longest_cluster_span_days": int(
                    np.max(result.clusters["span_days"].to_numpy(), initial=0)
                ),
                "sequencing_conflicts": len(result.sequencing),
                "moratorium_flags": len(result.moratorium),
                "targets": {"trench_check_ms": 100, "coordination_seconds": 3},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
