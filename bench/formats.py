"""Benchmark: CityJSON read + write against cjio, and 3D Tiles export of LoD1 buildings.

Prints one JSON object:

- ``cityjson``: for the Zürich LoD2 file (cjio's own test file, 1.4 MB) and a generated file
  of ``--cityjson-buildings`` LoD1.2 blocks, seconds for twin's read (``cityjson.read``: a
  twin model, whose layers are made when first used) + write (``cityjson.write``: CityJSON
  2.0, straight from what the reader kept, as the model is untouched), seconds for cjio's
  load + save of the same file as its CLI does them (``cjio.cityjson.reader``, then
  ``json.dumps`` compact, with cjio's float formatting), the best of 5 to 100 warm runs each
  (as many as fill about 2 s), side by side in this process, and the ratio;
  ``twin_layers_s`` is twin's read + first use of every layer + write from the layers (what a
  changed model costs); ``zurich_steps_ms``: the steps of twin's read + write of the Zürich
  file (:func:`read_steps`);
- ``tiles3d``: buildings/s of the 3D Tiles 1.1 export of ``--buildings`` LoD1.2 blocks, tiles
  written, and the peak RSS of the process.

    python bench/formats.py [--buildings 100000] [--cityjson-buildings 20000]
                            [--workdir build/bench]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import sys
import time
import timeit
from pathlib import Path

import numpy as np
import orjson
import pyproj
import shapely
import simdjson

from twin.formats import cityjson, tiles3d
from twin.formats._walk import MINIFY_PATHS, minified, minify_path, walk
from twin.formats.objects import Objects, Surfaces, to_model
from twin.model import CityModel
from twin.polygon3d import extrude
from twin.semantics import Semantic

ZURICH = Path("../shared/data/real/zurich_lod2_cityjson/zurich_subset_lod2.json")


def blocks(n: int, *, seed: int = 0) -> CityModel:
    """``n`` LoD1.2 blocks on a street grid around Klagenfurt (EPSG:31258+5778)."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x0 = 520_000 + (i % side) * 25.0 + rng.uniform(0, 4, n)
    y0 = 160_000 + (i // side) * 25.0 + rng.uniform(0, 4, n)
    w, d = rng.uniform(8, 18, n), rng.uniform(8, 18, n)
    footprints = shapely.box(x0, y0, x0 + w, y0 + d)
    ground = 440.0 + rng.uniform(0, 10, n)
    top = ground + rng.uniform(3, 30, n)
    _, faces, owner, semantic = extrude(footprints, ground, top)
    names = np.array([s.name for s in Semantic], dtype=object)
    objects = Objects(
        ids=np.array([f"B{k}" for k in range(n)], dtype=object),
        types=np.full(n, "Building", dtype=object),
        parents=np.full(n, None, dtype=object),
        attributes=[{"measuredHeight": round(float(h), 2)} for h in top - ground],
    )
    surfaces = Surfaces(
        polygons=faces,
        owner=np.asarray(owner, dtype=np.int64),
        lod=np.full(len(faces), "1.2", dtype=object),
        geometry_type=np.full(len(faces), "Solid", dtype=object),
        semantic=names[semantic],
        semantic_attributes=np.full(len(faces), None, dtype=object),
    )
    crs = pyproj.CRS("EPSG:31258+5778")
    return to_model(objects, surfaces, crs=crs, name="bench", source={"path": "generated"})


def cityjson_side_by_side(path: Path, out: Path, *, seconds: float = 2.0) -> dict[str, float]:
    """Best times of twin's read + write and cjio's load + save of ``path``, each side in a
    loop of as many runs as fill about ``seconds`` (5 at least, 100 at most: a 3 ms run is
    measured 100 times), as ``timeit`` does."""
    from cjio import cityjson as cjio_cityjson

    def ours() -> None:
        cityjson.write(cityjson.read(path), out)

    def ours_from_layers() -> None:
        model = cityjson.read(path)
        for name in model.layers:
            model.layers[name]
        cityjson.write(model, out)

    def theirs() -> None:
        with path.open(encoding="utf-8") as f:
            model = cjio_cityjson.reader(f)
        out.with_suffix(".cjio.json").write_text(
            json.dumps(model.j, separators=(",", ":")), encoding="utf-8"
        )

    runs = {"twin_s": ours, "cjio_s": theirs, "twin_layers_s": ours_from_layers}
    best = dict.fromkeys(runs, np.inf)
    rounds = dict.fromkeys(runs, 0)
    for name, run in runs.items():
        run()  # cold: not counted
        t = time.perf_counter()
        run()  # sizes the loop
        wanted = int(np.clip(seconds / (time.perf_counter() - t), 5, 100))
        for _ in range(wanted):
            t = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - t)
        rounds[name] = wanted
    times: dict[str, float] = {name: round(float(t), 6) for name, t in best.items()}
    times["runs"] = rounds
    times["bytes"] = path.stat().st_size
    times["cjio_over_twin"] = round(float(times["cjio_s"] / times["twin_s"]), 2)
    return times


def read_steps(path: Path, out: Path, *, runs: int = 100) -> dict[str, object]:
    """Milliseconds, best of ``runs``, of the steps of twin's read + write of ``path``.

    ``file_read``; ``scan`` (:func:`twin.formats.cityjson._scan`: the minifying of an
    indented text, ``minify``, then simdjson's parse of the minified text, ``parse``);
    ``walk`` (the compiled walk of the minified text); ``model`` (the rest of
    ``cityjson.read``: the read minus the three steps before); ``write`` (over the previous
    output, as the side-by-side loop does) and ``write_new_file`` (to a new file each time).

    What the choices were weighed against: ``walk_indented``, the walk of the file's text as
    it is (on an indented file, the walk without the minifying); ``simdjson_indented`` and
    ``simdjson_mini``, simdjson's parse of the indented text and its own minifying of that
    parse (the way before the minifier); ``crs_parse``, ``crs_wkt`` and ``crs_epsg``, what
    PROJ takes to parse the file's CRS, write its WKT and find its EPSG code (now done once
    per CRS). ``minify_kernel`` names the minifier's kernel, ``minify_by_kernel`` times each
    kernel this CPU runs; ``bytes`` and ``minified_bytes`` are the text's sizes.
    """
    text = path.read_bytes()
    scanned = cityjson._scan(text)
    if scanned is None:
        raise SystemExit(f"{path}: not read by the compiled walk")
    n_vertices = len(scanned.vertices)
    model = cityjson.read(path)
    own = simdjson.Parser()  # not the reader's kept parser: its document is held here
    indented = own.parse(text)
    url = scanned.head["metadata"]["referenceSystem"]
    crs = pyproj.CRS.from_user_input(url)
    new_files = (out.with_name(f"new-{k}.city.json") for k in itertools.count())
    steps = {
        "file_read": path.read_bytes,
        "minify": lambda: minified(text),
        "parse": lambda: cityjson._parse(scanned.text) is not None,
        "scan": lambda: cityjson._scan(text),
        "walk": lambda: walk(scanned.text, n_vertices),
        "read": lambda: cityjson.read(path),
        "write": lambda: cityjson.write(model, out),
        "write_new_file": lambda: cityjson.write(model, next(new_files)),
        "walk_indented": lambda: walk(text, n_vertices),
        "simdjson_indented": lambda: simdjson.Parser().parse(text) is not None,
        "simdjson_mini": lambda: indented.mini,
        "crs_parse": lambda: pyproj.CRS.from_user_input(url),
        "crs_wkt": crs.to_wkt,
        "crs_epsg": crs.to_epsg,
    }
    best = {
        name: min(timeit.repeat(step, number=1, repeat=runs)) * 1e3 for name, step in steps.items()
    }
    for written in out.parent.glob("new-*.city.json"):
        written.unlink()
    best["model"] = best["read"] - best["file_read"] - best["scan"] - best["walk"]
    result: dict[str, object] = {name: round(float(ms), 3) for name, ms in best.items()}
    result["minify_kernel"] = MINIFY_PATHS[minify_path()]
    result["minify_by_kernel"] = {
        name: round(
            min(timeit.repeat(lambda k=k: minified(text, k), number=1, repeat=runs)) * 1e3, 3
        )
        for k, name in MINIFY_PATHS.items()
        if minify_path(k) == k
    }
    result["bytes"], result["minified_bytes"] = len(text), len(scanned.text)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--cityjson-buildings", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, default=Path("build/bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, object] = {"cores": len(__import__("os").sched_getaffinity(0))}

    generated = args.workdir / f"blocks-{args.cityjson_buildings}.city.json"
    cityjson.write(blocks(args.cityjson_buildings, seed=1), generated)
    runs = {"generated": cityjson_side_by_side(generated, args.workdir / "out.city.json")}
    if ZURICH.exists():
        runs["zurich"] = cityjson_side_by_side(ZURICH, args.workdir / "zurich.city.json")
        runs["zurich_steps_ms"] = read_steps(ZURICH, args.workdir / "zurich.city.json")
    result["cityjson"] = runs

    t = time.perf_counter()
    model = blocks(args.buildings)
    built = time.perf_counter() - t
    t = time.perf_counter()
    report = tiles3d.write_tileset(model, args.workdir / "tiles")
    elapsed = time.perf_counter() - t
    result["tiles3d"] = {
        "buildings": report["buildings"],
        "tiles": report["tiles"],
        "triangles": report["triangles"],
        "seconds": round(elapsed, 2),
        "buildings_per_s": round(report["buildings"] / elapsed),
        "model_build_s": round(built, 2),
        "geoid_applied": report["geoid_applied"],
    }
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    # orjson: importing cjio patches the json module's float formatting for the process
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
