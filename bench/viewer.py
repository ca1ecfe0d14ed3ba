"""Benchmark: off-screen frames of a 100,000-building LoD1 twin with its terrain.

Prints one JSON object: time from an opened twin to the first off-screen frame (buildings and
terrain; split into the model's merged mesh and the viewer's part), the time of a rotation
frame, peak RSS, and, on a 5,000-building subset, the same frames drawn through one merged
actor and through one actor per building.

    python bench/viewer.py [--buildings 100000] [--subset 5000] [--workdir build/bench]

The sample sources are shared with ``bench/lod1.py`` (generated once into the work folder).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
from districts import sample_twin

SIZE = (1280, 800)


def _frames(plotter, rotations: int = 5) -> tuple[float, float]:
    """Seconds of the first frame and mean seconds of a rotation frame."""
    t = time.perf_counter()
    plotter.screenshot(return_img=True)
    first = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(rotations):
        plotter.camera.azimuth += 5.0
        plotter.render()
        plotter.screenshot(return_img=True)
    return first, (time.perf_counter() - t) / rotations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--subset", type=int, default=5_000)
    parser.add_argument("--workdir", type=Path, default=Path("build/bench"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    twin_path = sample_twin(args.workdir, args.buildings, args.seed)
    # this script's folder comes first on sys.path, and its name would hide the viewer package
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]

    import pyvista as pv

    import twin
    from viewer.backend import prepare_offscreen
    from viewer.scene import Scene

    backend = prepare_offscreen()
    # The first opening builds the merged mesh and caches it beside the twin; every later
    # opening (a user's second look, another process) loads the cache.
    cache = twin_path.with_name(f"{twin_path.stem}.mesh-1.2.npz")
    cache.unlink(missing_ok=True)
    t = time.perf_counter()
    twin.open(twin_path).mesh("1.2")
    cold_mesh_s = time.perf_counter() - t
    model = twin.open(twin_path)
    t = time.perf_counter()
    model.mesh("1.2")
    mesh_s = time.perf_counter() - t
    t = time.perf_counter()
    scene = Scene(model, layers=["terrain", "buildings"], size=SIZE)
    build_s = time.perf_counter() - t
    first_s, rotate_s = _frames(scene.plotter)
    mesh = scene.datasets["buildings"]
    triangles = mesh.n_cells
    scene.close()
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    # the subset: one merged actor against one actor per building
    keep = mesh.cell_data["building"] < args.subset
    subset = mesh.extract_cells(np.flatnonzero(keep)).extract_surface(algorithm="dataset_surface")
    owner = subset.cell_data["building"]
    merged = pv.Plotter(off_screen=True, window_size=list(SIZE))
    merged.add_mesh(subset, color="tan")
    merged_first, merged_rotate = _frames(merged)
    merged.close()
    t = time.perf_counter()
    many = pv.Plotter(off_screen=True, window_size=list(SIZE))
    order = np.argsort(owner, kind="stable")
    bounds = np.flatnonzero(np.diff(owner[order])) + 1
    for cells in np.split(order, bounds):  # the way to avoid, measured on purpose
        many.add_mesh(subset.extract_cells(cells), color="tan")
    many_build = time.perf_counter() - t
    many_first, many_rotate = _frames(many)
    many.close()

    print(
        json.dumps(
            {
                "benchmark": "viewer",
                "backend": backend,
                "buildings": len(model.buildings),
                "triangles": int(triangles),
                "size": SIZE,
                "model_mesh_cold_s": round(cold_mesh_s, 3),
                "first_frame_cold_s": round(cold_mesh_s + build_s + first_s, 3),
                "model_mesh_s": round(mesh_s, 3),
                "scene_build_s": round(build_s, 3),
                "viewer_first_frame_s": round(build_s + first_s, 3),
                "first_frame_s": round(mesh_s + build_s + first_s, 3),
                "rotation_frame_s": round(rotate_s, 3),
                "peak_rss_gb": round(peak_gb, 2),
                "subset": {
                    "buildings": int(len(bounds) + 1),
                    "merged_first_frame_s": round(merged_first, 3),
                    "merged_rotation_frame_s": round(merged_rotate, 3),
                    "per_building_actors_build_s": round(many_build, 3),
                    "per_building_first_frame_s": round(many_first, 3),
                    "per_building_rotation_frame_s": round(many_rotate, 3),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
