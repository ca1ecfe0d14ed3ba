"""Benchmark: validity checks (val3dity's codes) of the LoD1.2 solids of a generated district.

Prints one JSON object: solids/s of :func:`twin.validity.check` on every LoD1.2 solid of a
``--buildings`` district (100,000 by default), and the count of solids per error code.

    python bench/validity.py [--buildings 100000] [--workdir build/bench] [--twin city.gpkg]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from districts import sample_sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=Path("build/bench"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--twin", type=Path, help="an already built twin to check instead")
    args = parser.parse_args()
    twin_path = args.twin
    if twin_path is None:
        sources, _ = sample_sources(args.workdir, args.buildings, args.seed)
        twin_path = args.workdir / f"validity-{args.buildings}.gpkg"
        if not twin_path.exists():
            cli = [sys.executable, "-m", "twin.cli", "build", str(sources)]
            subprocess.run([*cli, "-o", str(twin_path), "-q"], check=True)

    import twin
    from twin.validity import check

    solids = twin.open(twin_path).layers["lod12"].geometry.to_numpy()
    t = time.perf_counter()
    codes, _ = check(solids)
    check_s = time.perf_counter() - t
    per_code = Counter(c for found in codes for c in found)
    print(
        json.dumps(
            {
                "solids": len(solids),
                "check_s": round(check_s, 2),
                "solids_per_s": round(len(solids) / check_s),
                "invalid_solids": sum(1 for c in codes if c),
                "per_code": {str(k): v for k, v in sorted(per_code.items())},
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
