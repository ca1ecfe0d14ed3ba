"""A summary of a twin store: layers, counts, CRS, extent, terrain and run history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twin.crs import horizontal, vertical
from twin.store import open_store
from twin.terrain import Terrain


def describe(path: str | Path, /) -> dict[str, Any]:
    """Describe the twin at ``path`` without loading its layers.

    Returns a JSON-serialisable dict: ``name``, ``crs`` (name, horizontal EPSG, vertical
    datum), ``extent`` of the buildings, ``layers`` (name, geometry type with `` Z`` when it
    has heights, ``None`` for a table; feature count), ``terrain`` and ``runs`` (the build
    history, oldest first).

    Raises
    ------
    StoreError
        When there is no twin at ``path``.
    """
    store = open_store(path)
    metadata, crs, infos = store.metadata(), store.crs, store.layers()
    layers = [
        {
            "name": info.name,
            "geometry_type": None
            if info.geometry_type is None
            else info.geometry_type + (" Z" if info.has_z else ""),
            "features": info.count,
        }
        for info in infos.values()
    ]
    extent = None
    if "buildings" in infos and infos["buildings"].bounds is not None:
        extent = list(infos["buildings"].bounds)
    runs = []
    if "runs" in infos:
        for row in store.read_layer("runs").itertuples(index=False):
            runs.append(
                {
                    "started": row.started,
                    "finished": row.finished,
                    "twin_version": row.twin_version,
                    "counts": json.loads(row.counts),
                    "height_methods": json.loads(row.height_methods),
                    "warnings": json.loads(row.warnings),
                }
            )
    terrain = None
    terrain_path = store.terrain_path()
    if terrain_path is not None:
        t = Terrain.from_raster(terrain_path)
        terrain = {
            "path": str(t.path),
            "shape": list(t.shape),
            "pixel_size": abs(t.transform.a),
            "bounds": list(t.bounds),
        }
    v = vertical(crs)
    return {
        "path": str(store.location),
        "name": metadata.get("name"),
        "twin_version": metadata.get("twin_version"),
        "crs": {
            "name": crs.name,
            "horizontal_epsg": horizontal(crs).to_epsg(),
            "vertical": v.name if v is not None else None,
            "vertical_epsg": v.to_epsg() if v is not None else None,
        },
        "origin": metadata.get("origin"),
        "extent": extent,
        "layers": layers,
        "terrain": terrain,
        "runs": runs,
    }
