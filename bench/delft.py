"""The LiDAR figures of `docs/lidar.md` on real data (Delft, AHN3): prints JSON.

Builds the 160 BGT footprints of `tests/data/delft` from their AHN3 points alone
(`tests/data/delft/lidar.toml`), once with the default roof sampling and once with 3dfier's,
and reports: heights against 3dfier's
published LoD1 model (the top of each solid, its ground ``min-height-surface``, and its
``measuredHeight`` attribute, a height above that ground: the top less the ground), the LoD1.3
split and its RMSE, the LoD2.2 roofs (from planes, regular by roof type or partitioned,
fallbacks and their reasons, RMSE of the points to the roofs), the time of the LoD1.3 and
LoD2.2 steps within the build (buildings/s) and the invalid solids found by `twin.validity`.

    python bench/delft.py [--workdir build/delft]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd

import twin
from ingest import distributed
from ingest.config import BuildConfig
from ingest.pipeline import build
from ingest.reconstruct import lod13
from twin.validity import check

DELFT = Path(__file__).resolve().parents[1] / "tests" / "data" / "delft"


def _spread(values: pd.Series) -> dict[str, float]:
    v = values.dropna()
    return {
        "n": len(v),
        "median_m": round(float(v.median()), 3),
        "p90_m": round(float(v.quantile(0.9)), 3),
    }


@contextlib.contextmanager
def _timed(module: object, name: str, seconds: dict[str, float], key: str) -> Iterator[None]:
    """Add the wall time of each call of ``module.name`` within the block to ``seconds[key]``."""
    step = getattr(module, name)

    def timed_step(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - start

    with mock.patch.object(module, name, timed_step):
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("build/delft"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    ref = pd.read_csv(DELFT / "3dfier_heights.csv").set_index("gml_id")
    report: dict[str, object] = {}
    # measuredHeight is relative: 3dfier's roof less its ground, for every building
    gap = (ref["measuredHeight"] - (ref["roof_z"] - ref["min_height_surface"])).abs()
    report["3dfier_measuredHeight_vs_its_roof_less_its_ground"] = {
        **_spread(gap),
        "equal": int((gap < 0.0005).sum()),
    }
    for sampling in ("inside", "3dfier"):
        out = args.workdir / f"delft-{sampling}.gpkg"
        config = BuildConfig.load(DELFT / "lidar.toml")
        config = dataclasses.replace(
            config, lidar=dataclasses.replace(config.lidar, roof_sampling=sampling)
        )
        seconds: dict[str, float] = {}
        with (
            _timed(lod13, "reconstruct", seconds, "lod13"),
            _timed(distributed, "reconstruct", seconds, "lod22"),
        ):
            build(config, out, progress=False)
        model = twin.open(out)
        b = model.buildings.set_index("building_id")
        lidar = b["height_method"] == "lidar"
        r = ref.loc[b.index]
        report[f"p90_{sampling}"] = {
            "lidar_heights": int(lidar.sum()),
            "ground_vs_3dfier": _spread((b["ground_z"] - r["min_height_surface"]).abs()),
            "vs_3dfier_roof": _spread((b["lod1_z"] - r["roof_z"]).abs()[lidar]),
            # heights above ground: ours (our roof less our ground) against 3dfier's
            "height_vs_3dfier_measuredHeight": _spread(
                (b["height"] - r["measuredHeight"]).abs()[lidar]
            ),
            "height_within_5_cm_of_measuredHeight": int(
                ((b["height"] - r["measuredHeight"]).abs()[lidar] <= 0.05).sum()
            ),
            "within_1_cm_of_3dfier_roof": int(
                ((b["lod1_z"] - r["roof_z"]).abs()[lidar] <= 0.0101).sum()
            ),
        }
        if sampling != "inside":
            continue
        invalid = {}
        for lod, layer in (("1.2", "lod12"), ("1.3", "lod13"), ("2.2", "lod22")):
            codes, _ = check(model.layers[layer].geometry.to_numpy())
            invalid[lod] = sum(1 for c in codes if c)
        method = b.loc[lidar, "lod22_method"]
        planes = lidar & (b["lod22_method"] == "planes")
        partitioned = planes & (b["roof_type"] == "multiple")
        regular = planes & ~partitioned
        # the reasons without their figures and details, counted
        reasons = (
            b.loc[lidar & ~planes, "lod22_fallback_reason"]
            .str.split(":")
            .str[0]
            .str.replace(r"\d+(\.\d+)?", "x", regex=True)
        )
        report["lod13"] = {
            "solids": int(lidar.sum()),
            "split": int((b.loc[lidar, "lod13_parts"] > 1).sum()),
            "fallbacks": int((b.loc[lidar, "lod13_method"] != "parts").sum()),
            "rmse": _spread(b.loc[lidar, "rmse_lod13"]),
            "buildings_per_s": round(len(b) / seconds["lod13"], 1),
        }
        report["lod22"] = {
            "buildings_with_heights": int(lidar.sum()),
            "from_planes": int(planes.sum()),
            "regular": int(regular.sum()),
            "regular_roof_types": b.loc[regular, "roof_type"].value_counts().to_dict(),
            "partitioned": int(partitioned.sum()),
            "methods": method.value_counts().to_dict(),
            "fallback_reasons": reasons.value_counts().to_dict(),
            "rmse_from_planes": _spread(b.loc[planes, "rmse_lod22"]),
            "rmse_regular": _spread(b.loc[regular, "rmse_lod22"]),
            "rmse_partitioned": _spread(b.loc[partitioned, "rmse_lod22"]),
            "rmse_all_with_heights": _spread(b.loc[lidar, "rmse_lod22"]),
            "buildings_per_s": round(len(b) / seconds["lod22"], 1),
        }
        report["invalid_solids"] = invalid
    print(json.dumps(report, indent=2, default=lambda v: v.item() if hasattr(v, "item") else v))


if __name__ == "__main__":
    main()
