"""Accuracy on the generated sample district, measured against its truth: prints JSON.

Builds the default district (`twin sample`, 500 buildings, seed 0, as `make demo` does) twice,
with all its sources (survey, LiDAR, DTM, DSM) and from the DTM and DSM alone, and compares
LoD1.2 and LoD2.2 heights, roof types, ground heights and the trees found in the points with
`truth/buildings.csv` and the tree inventory.

    python bench/sample_accuracy.py [--buildings 500] [--seed 0] [--workdir build/accuracy]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio


def _stats(error: pd.Series) -> dict[str, float]:
    e = error.abs().dropna()
    return {
        "n": len(e),
        "median_m": round(float(e.median()), 3),
        "p95_m": round(float(e.quantile(0.95)), 3),
        "max_m": round(float(e.max()), 3),
        "within_0_3_m": round(float((e <= 0.3).mean()), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path("build/accuracy"))
    args = parser.parse_args()

    from ingest.config import BuildConfig
    from ingest.pipeline import build
    from ingest.synthetic import generate_district

    sources = args.workdir / f"sources-{args.buildings}-{args.seed}"
    if not (sources / "twin.toml").exists():
        generate_district(sources, buildings=args.buildings, seed=args.seed)
    truth = pd.read_csv(sources / "truth" / "buildings.csv")
    full = BuildConfig.load(sources)
    rasters = dataclasses.replace(
        full, sources={k: v for k, v in full.sources.items() if k in ("cadastre", "dtm", "dsm")}
    )
    result: dict[str, object] = {"benchmark": "sample_accuracy", "buildings": args.buildings}
    for label, config in (("all_sources", full), ("dtm_dsm_only", rasters)):
        model = build(config, args.workdir / f"{label}.gpkg", progress=False)
        b = model.buildings.merge(truth, on="building_id", suffixes=("", "_truth"))
        flat = b[b["roof_type_truth"] == "flat"]
        entry = {
            "height_methods": b["height_method"].value_counts().to_dict(),
            "flat_roof_lod12_top": _stats(flat["lod1_z"] - flat["ridge_z"]),
            "ground": _stats(b["ground_z"] - b["ground_z_truth"]),
        }
        if "ridge_z_lod22" in b:
            entry["lod22_roof_type_right"] = round(
                float((b["roof_type"] == b["roof_type_truth"]).mean()), 3
            )
            entry["lod22_ridge"] = _stats(b["ridge_z_lod22"] - b["ridge_z"])
            entry["lod22_eave"] = _stats(b["eave_z_lod22"] - b["eave_z"])
            entry["rmse_lod22_median_m"] = round(float(b["rmse_lod22"].median()), 3)
        if "height_lidar_m" in model.layers.get("trees", {}):
            trees = model.layers["trees"]
            listed = trees[trees["source"] == "inventory"]
            tall = listed[listed["height_m"] >= 3]
            found = listed[listed["height_lidar_m"].notna()]
            entry["trees"] = {
                "inventory": len(listed),
                "recall_3m_and_taller": round(float(tall["height_lidar_m"].notna().mean()), 3),
                "height_median_abs_error_m": round(
                    float(np.median(np.abs(found["height_lidar_m"] - found["height_m"]))), 3
                ),
                "crown_median_abs_error_m": round(
                    float(
                        (found["crown_diameter_lidar_m"] - found["crown_diameter_m"]).abs().median()
                    ),
                    3,
                ),
                "unmatched_detections": int((trees["source"] == "lidar").sum()),
            }
        result[label] = entry
    inventory = pyogrio.read_info(sources / "trees.gpkg")["features"]
    result["tree_inventory_in_sources"] = int(inventory)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
