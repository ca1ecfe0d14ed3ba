"""Benchmark: ``twin import`` + ``twin export -f cityjson`` against ``cjio IN save OUT``.

What a user runs, as processes, side by side in one run: for each file, ``twin import IN -o
twin.gpkg`` (the twin fully built: ``buildings``, one 3D layer per LoD and
``building_surfaces`` in the GeoPackage), then ``twin export twin.gpkg -f cityjson -o
OUT`` (CityJSON 2.0 from the GeoPackage's layers), against cjio's load and save of the same
file (``cjio IN save OUT``). Each command runs ``--runs`` times (``--generated-runs`` for
the generated file) after ``--warmup`` uncounted runs, the commands taking turns (twin
import, twin export, cjio, then again), so that a drift of the machine's speed reaches both
sides alike. Per command: its wall time (start-up included) and
its peak RSS (the child's own ``ru_maxrss``, from ``os.wait4``), the median of the runs, and
each run's figures; per file: twin's import + export against cjio, and the load average
before the runs.

The files: the Zürich LoD2 model (cjio's own test file, CityJSON 1.1, 1.4 MB indented;
``--zurich``, by default from ``../shared/data/real/`` beside the checkout: start-up
dominates) and a generated file of ``--buildings`` buildings, each with
an LoD1.2 block and an LoD2.2 gabled roof (Solids with Ground/Wall/Roof semantics, 14
vertices, 13 surfaces) and 40 attributes of 3DBAG's kinds (:func:`generate`), written to
``--workdir`` at run time (``build/bench`` by default, not committed).

    python bench/formats.py [--buildings 100000] [--runs 5] [--generated-runs 1]
                            [--warmup 1] [--workdir build/bench]
                            [--skip-zurich] [--skip-generated]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson

#: the Stadt Zürich LoD2 subset cjio ships (1.4 MB, indented), kept beside the checkout
ZURICH = Path(__file__).resolve().parents[2] / "shared/data/real/zurich_lod2_cityjson"
ZURICH = ZURICH / "zurich_subset_lod2.json"

#: per building, vertex numbers of its 14 vertices: 0-3 the ground corners (anticlockwise
#: from the south-west), 4-7 the LoD1.2 roof corners, 8-11 the LoD2.2 eaves corners, 12-13
#: the ridge's west and east ends; each surface's ring anticlockwise seen from outside
_LOD12 = [[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [1, 2, 6, 5], [2, 3, 7, 6], [3, 0, 4, 7]]
_LOD12_VALUES = [0, 2, 1, 1, 1, 1]
_LOD22 = [
    [0, 3, 2, 1],  # ground
    [0, 1, 9, 8],  # south wall
    [2, 3, 11, 10],  # north wall
    [1, 2, 10, 13, 9],  # east gable
    [3, 0, 8, 12, 11],  # west gable
    [8, 9, 13, 12],  # south roof
    [10, 11, 12, 13],  # north roof
]
_LOD22_VALUES = [0, 1, 1, 1, 1, 2, 2]
_SURFACES = [{"type": "GroundSurface"}, {"type": "WallSurface"}, {"type": "RoofSurface"}]


def generate(path: Path, n: int, /, *, seed: int = 0) -> Path:
    """Write a CityJSON 2.0 file of ``n`` buildings on a street grid in Delft (EPSG:7415,
    RD New + NAP), each with an LoD1.2 and an LoD2.2 Solid and 40 attributes."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    k = np.arange(n)
    x0 = 80_000 + (k % side) * 25.0 + rng.uniform(0, 4, n)
    y0 = 440_000 + (k // side) * 25.0 + rng.uniform(0, 4, n)
    x1, y1 = x0 + rng.uniform(8, 18, n), y0 + rng.uniform(8, 18, n)
    z0 = rng.uniform(-2, 3, n)
    eaves = z0 + rng.uniform(3, 20, n)
    ridge = eaves + rng.uniform(1, 6, n)
    block = (eaves + ridge) / 2  # LoD1.2: the roof's mean height
    ym = (y0 + y1) / 2
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    xyz = [(x, y, z0) for x, y in corners]
    xyz += [(x, y, block) for x, y in corners]
    xyz += [(x, y, eaves) for x, y in corners]
    xyz += [(x0, ym, ridge), (x1, ym, ridge)]
    coords = np.stack([np.column_stack(v) for v in xyz], axis=1).reshape(-1, 3)
    translate = np.floor(coords.min(axis=0))
    vertices = np.rint((coords - translate) / 0.001).astype(np.int64)
    first = (14 * k).tolist()
    lod12 = (14 * k[:, None, None, None, None] + np.array(_LOD12)[None, None, :, None, :]).tolist()
    lod22 = [[[[[i + f for i in ring]] for ring in _LOD22]] for f in first]
    attributes = _attributes(rng, n, z0, eaves, ridge)
    city_objects = {
        f"NL.IMBAG.Pand.{k:016d}": {
            "type": "Building",
            "attributes": attributes[k],
            "geometry": [
                {
                    "type": "Solid",
                    "lod": "1.2",
                    "boundaries": lod12[k],
                    "semantics": {"surfaces": _SURFACES, "values": [_LOD12_VALUES]},
                },
                {
                    "type": "Solid",
                    "lod": "2.2",
                    "boundaries": lod22[k],
                    "semantics": {"surfaces": _SURFACES, "values": [_LOD22_VALUES]},
                },
            ],
        }
        for k in range(n)
    }
    doc = {
        "type": "CityJSON",
        "version": "2.0",
        "transform": {"scale": [0.001] * 3, "translate": translate.tolist()},
        "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/7415"},
        "CityObjects": city_objects,
        "vertices": vertices,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY))
    return path


def _attributes(
    rng: np.random.Generator, n: int, z0: np.ndarray, eaves: np.ndarray, ridge: np.ndarray
) -> list[dict[str, object]]:
    """40 attributes per building, of the kinds 3DBAG gives: heights and areas (floats),
    counts and years (integers), codes and dates (text), flags (booleans), some missing."""
    columns: dict[str, list] = {
        "identificatie": [f"NL.IMBAG.Pand.{k:016d}" for k in range(n)],
        "status": rng.choice(["Pand in gebruik", "Verbouwing pand"], n).tolist(),
        "oorspronkelijkbouwjaar": rng.integers(1600, 2024, n).tolist(),
        "documentnummer": [f"BV{k:08d}" for k in rng.integers(0, 10**8, n)],
        "documentdatum": [f"20{k % 24:02d}-0{k % 9 + 1}-1{k % 9}" for k in range(n)],
        "voorkomenidentificatie": rng.integers(1, 5, n).tolist(),
        "begingeldigheid": [f"2018-0{k % 9 + 1}-2{k % 9}" for k in range(n)],
        "geconstateerd": (rng.random(n) < 0.02).tolist(),
        "b3_h_maaiveld": np.round(z0, 3).tolist(),
        "b3_dak_type": rng.choice(["slanted", "horizontal", "multiple horizontal"], n).tolist(),
        "b3_pw_datum": rng.integers(2016, 2024, n).tolist(),
        "b3_pw_bron": rng.choice(["AHN3", "AHN4"], n).tolist(),
        "b3_pw_selectie_reden": rng.choice(["PREFERRED_AND_LATEST", "ONLY_CANDIDATE"], n).tolist(),
        "b3_mutatie_ahn3_ahn4": (rng.random(n) < 0.05).tolist(),
        "b3_nodata_fractie_ahn3": np.round(rng.random(n) * 0.1, 3).tolist(),
        "b3_nodata_fractie_ahn4": np.round(rng.random(n) * 0.1, 3).tolist(),
        "b3_nodata_radius_ahn3": np.round(rng.random(n) * 2, 3).tolist(),
        "b3_nodata_radius_ahn4": np.round(rng.random(n) * 2, 3).tolist(),
        "b3_puntdichtheid_ahn3": np.round(rng.uniform(5, 20, n), 3).tolist(),
        "b3_puntdichtheid_ahn4": np.round(rng.uniform(10, 30, n), 3).tolist(),
        "b3_kas_warenhuis": (rng.random(n) < 0.01).tolist(),
        "b3_reconstructie_onvolledig": (rng.random(n) < 0.01).tolist(),
        "b3_val3dity_lod12": ["[]"] * n,
        "b3_val3dity_lod13": ["[]"] * n,
        "b3_val3dity_lod22": ["[]"] * n,
        "b3_opp_grond": np.round(rng.uniform(60, 300, n), 2).tolist(),
        "b3_opp_dak_plat": np.round(rng.uniform(0, 100, n), 2).tolist(),
        "b3_opp_dak_schuin": np.round(rng.uniform(0, 200, n), 2).tolist(),
        "b3_opp_scheidingsmuur": np.round(rng.uniform(0, 80, n), 2).tolist(),
        "b3_opp_buitenmuur": np.round(rng.uniform(80, 400, n), 2).tolist(),
        "b3_rmse_lod12": np.round(rng.random(n), 3).tolist(),
        "b3_rmse_lod13": np.round(rng.random(n), 3).tolist(),
        "b3_rmse_lod22": np.round(rng.random(n) / 2, 3).tolist(),
        "b3_volume_lod12": np.round(rng.uniform(200, 3000, n), 2).tolist(),
        "b3_volume_lod13": np.round(rng.uniform(200, 3000, n), 2).tolist(),
        "b3_volume_lod22": np.round(rng.uniform(200, 3000, n), 2).tolist(),
        "b3_h_dak_min": np.round(eaves, 3).tolist(),
        "b3_h_dak_50p": np.round((eaves + ridge) / 2, 3).tolist(),
        "b3_h_dak_max": np.round(ridge, 3).tolist(),
        "b3_bouwlagen": [None if k % 7 == 0 else int(k % 5 + 1) for k in range(n)],
    }
    names = list(columns)
    return [
        {name: value for name, value in zip(names, row, strict=True) if value is not None}
        for row in zip(*columns.values(), strict=True)
    ]


def run(command: list[str]) -> dict[str, float]:
    """One process: its wall time (s) and peak RSS (MB), the exit code checked."""
    t = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - t
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{error}")
    return {"wall_s": round(wall, 3), "peak_mb": round(usage.ru_maxrss / 1024)}


def side_by_side(source: Path, workdir: Path, *, runs: int, warmup: int) -> dict[str, object]:
    """``twin import`` and ``twin export -f cityjson`` of ``source`` against ``cjio save``,
    ``runs`` times each after ``warmup`` turns, taking turns; medians and each run's
    figures."""
    python = sys.executable
    cjio = shutil.which("cjio", path=str(Path(python).parent)) or shutil.which("cjio")
    if cjio is None:
        raise SystemExit("cjio is not installed (pip install '.[bench]')")
    stem = source.name.split(".")[0]
    store, out = workdir / f"{stem}.gpkg", workdir / f"{stem}.twin.city.json"
    commands = {
        "twin_import": [python, "-m", "twin.cli", "import", str(source), "-o", str(store)],
        "twin_export": [python, "-m", "twin.cli", "export", str(store), "-f", "cityjson"],
        "cjio_save": [cjio, str(source), "save", str(workdir / f"{stem}.cjio.city.json")],
    }
    commands["twin_import"].append("--overwrite")
    commands["twin_export"] += ["-o", str(out), "--overwrite"]
    load = os.getloadavg()[0]
    each: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
    for turn in range(warmup + runs):
        for name, command in commands.items():
            figures = run(command)
            if turn >= warmup:  # the warm-up fills the file cache
                each[name].append(figures)
    median = {
        name: {
            key: round(statistics.median(r[key] for r in rs), 3) for key in ("wall_s", "peak_mb")
        }
        for name, rs in each.items()
    }
    twin_s = median["twin_import"]["wall_s"] + median["twin_export"]["wall_s"]
    return {
        "bytes": source.stat().st_size,
        "load_average_1min": round(load, 2),
        "median": median,
        "twin_import_export_s": round(twin_s, 3),
        "cjio_s": median["cjio_save"]["wall_s"],
        "twin_over_cjio": round(twin_s / median["cjio_save"]["wall_s"], 3),
        "runs": each,
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--generated-runs", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("build/bench"))
    parser.add_argument("--zurich", type=Path, default=ZURICH, help="the Zürich file")
    parser.add_argument("--skip-zurich", action="store_true")
    parser.add_argument("--skip-generated", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, object] = {"cores": len(os.sched_getaffinity(0))}
    if not args.skip_zurich:
        zurich = args.zurich
        result["zurich"] = side_by_side(zurich, args.workdir, runs=args.runs, warmup=args.warmup)
    if not args.skip_generated:
        path = args.workdir / f"generated-{args.buildings}.city.json"
        if not path.exists():
            generate(path, args.buildings)
        runs = args.generated_runs
        result["generated"] = side_by_side(path, args.workdir, runs=runs, warmup=args.warmup)
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
