"""Benchmark: validity checks (val3dity's codes) of the LoD1.2 solids of a generated district.

Prints one JSON object: solids/s of :func:`twin.validity.check` on every LoD1.2 solid of a
``--buildings`` district (100,000 by default), and the count of solids per error code. With
``--inside-out``, every solid is turned inside out first (so every building is repaired), and
the seconds of :func:`twin.validity.check_faces` and of :func:`twin.validity.repair_surfaces`
on the district's ``building_surfaces`` are printed too.

    python bench/validity.py [--buildings 100000] [--workdir build/bench] [--twin city.gpkg]
        [--inside-out]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections import Counter
from pathlib import Path

from districts import sample_twin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=Path("build/bench"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--twin", type=Path, help="an already built twin to check instead")
    parser.add_argument(
        "--inside-out",
        action="store_true",
        help="turn every solid inside out; time check_faces and repair_surfaces",
    )
    args = parser.parse_args()
    twin_path = args.twin or sample_twin(args.workdir, args.buildings, args.seed)

    import shapely

    import twin
    from twin.validity import check, check_faces, repair_surfaces

    model = twin.open(twin_path)
    solids = model.layers["lod12"].geometry.to_numpy()
    report: dict[str, object] = {"solids": len(solids)}
    if args.inside_out:
        solids = shapely.reverse(solids)
        t = time.perf_counter()
        checked = check_faces(solids)
        report["check_faces_s"] = round(time.perf_counter() - t, 2)
        codes = checked.codes
        surfaces = model.layers["building_surfaces"]
        ids = model.layers["lod12"]["building_id"].to_numpy(dtype=object)
        t = time.perf_counter()
        repaired = repair_surfaces(surfaces, solids, ids, checked, lod="1.2")
        report["repair_surfaces_s"] = round(time.perf_counter() - t, 2)
        report["repaired_solids"] = int(checked.changed.sum())
        report["rows_at_lod12"] = int((repaired["lod"] == "1.2").sum())
    else:
        t = time.perf_counter()
        codes, _ = check(solids)
        check_s = time.perf_counter() - t
        report["check_s"] = round(check_s, 2)
        report["solids_per_s"] = round(len(solids) / check_s)
    per_code = Counter(c for found in codes for c in found)
    report["invalid_solids"] = sum(1 for c in codes if c)
    report["per_code"] = {str(k): v for k, v in sorted(per_code.items())}
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
