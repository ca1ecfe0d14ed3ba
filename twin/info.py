"""A summary of a twin store: layers, counts, CRS, extent, terrain and run history."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pyogrio

from twin.crs import horizontal, vertical
from twin.store.gpkg import METADATA_TABLE, read_metadata
from twin.terrain import Terrain


def describe(path: str | Path, /) -> dict[str, Any]:
    """Describe the twin at ``path`` without loading its layers.

    Returns a JSON-serialisable dict: ``name``, ``crs`` (name, horizontal EPSG, vertical
    datum), ``extent`` of the buildings, ``layers`` (name, geometry type, feature count),
    ``terrain`` and ``runs`` (the build history, oldest first).
    """
    path = Path(path)
    metadata, crs = read_metadata(path)
    layers = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, geometry_type in pyogrio.list_layers(path):
            if name == METADATA_TABLE:
                continue
            info = pyogrio.read_info(path, layer=name, force_feature_count=True)
            layers.append(
                {"name": str(name), "geometry_type": geometry_type, "features": info["features"]}
            )
        extent = None
        if any(layer["name"] == "buildings" for layer in layers):
            bounds = pyogrio.read_info(path, layer="buildings", force_total_bounds=True)[
                "total_bounds"
            ]
            extent = [float(v) for v in bounds]
        runs = []
        if any(layer["name"] == "runs" for layer in layers):
            table = pyogrio.read_dataframe(path, layer="runs")
            for row in table.itertuples(index=False):
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
    if "terrain" in metadata:
        t = Terrain.from_raster(path.parent / metadata["terrain"])
        terrain = {
            "path": str(t.path),
            "shape": list(t.shape),
            "pixel_size": abs(t.transform.a),
            "bounds": list(t.bounds),
        }
    v = vertical(crs)
    return {
        "path": str(path),
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
