"""The GeoPackage store: one layer per table, terrain as a COG beside it, atomic writes.

A write goes to hidden temporary files next to the target and is renamed over it at the end,
so an interrupted or failed build leaves the previous twin untouched.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pyproj
import rasterio
import rasterio.shutil

from twin.errors import StoreError
from twin.files import Scratch
from twin.layers import LAYERS
from twin.model import CityModel, LazyLayers
from twin.terrain import RASTER_ERRORS, Terrain, raster_problem

METADATA_TABLE = "twin_metadata"


def terrain_path(path: Path, /) -> Path:
    """Where the terrain COG of the twin at ``path`` lives (``city.gpkg`` -> ``city.dtm.tif``)."""
    return path.with_suffix(".dtm.tif")


def ortho_path(path: Path, /) -> Path:
    """Where the orthophoto COG of the twin at ``path`` lives (``city.ortho.tif``)."""
    return path.with_suffix(".ortho.tif")


def write(model: CityModel, path: Path, /) -> Path:
    """Write ``model`` as a GeoPackage (and its terrain as a COG) atomically.

    The temporaries (``.city.gpkg.TOKEN.gpkg``, ``.dtm.tif``, ``.ortho.tif``) belong to one
    :class:`~twin.files.Scratch` of the GeoPackage: they are removed when the write
    ends, and a later write clears those of a killed one. The GeoPackage is renamed last, so
    a twin is never read with a missing terrain.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = dict(model.metadata, crs=model.crs.to_wkt())
    try:
        with Scratch(path) as scratch:
            tmp = scratch.path(".gpkg")
            tmp_terrain, tmp_ortho = scratch.path(".dtm.tif"), scratch.path(".ortho.tif")
            for name in _layer_order(model.layers):
                frame = model.layers[name]
                if isinstance(frame, gpd.GeoDataFrame) and frame.active_geometry_name is None:
                    frame = pd.DataFrame(frame)  # a table (operators, runs) made as a GeoDataFrame
                if isinstance(frame, gpd.GeoDataFrame):
                    frame = frame if frame.crs is not None else frame.set_crs(model.crs)
                    pyogrio.write_dataframe(
                        frame,
                        tmp,
                        layer=name,
                        driver="GPKG",
                        geometry_type=LAYERS.get(name) if len(frame) == 0 else None,
                        promote_to_multi=(LAYERS.get(name) or "").startswith("Multi"),
                        use_arrow=True,
                    )
                else:
                    pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG", use_arrow=True)
            if model.terrain is not None:
                model.terrain.write_cog(tmp_terrain)
                metadata["terrain"] = terrain_path(path).name
            if "ortho" in metadata:  # in memory a path; in the store the COG beside the twin
                _copy_imagery(Path(metadata["ortho"]), tmp_ortho)
                metadata["ortho"] = ortho_path(path).name
            table = pd.DataFrame(
                {"key": list(metadata), "value": [json.dumps(v) for v in metadata.values()]}
            )
            pyogrio.write_dataframe(table, tmp, layer=METADATA_TABLE, driver="GPKG")
            if model.terrain is not None:
                os.replace(tmp_terrain, terrain_path(path))
            if "ortho" in metadata:
                os.replace(tmp_ortho, ortho_path(path))
            os.replace(tmp, path)
    except Exception as exc:
        failed = OSError | pyogrio.errors.DataSourceError | pyogrio.errors.DataLayerError
        if isinstance(exc, failed) and not isinstance(exc, StoreError):
            # GDAL's words for a full disk can be obscure ("no such table"): say how full
            free = shutil.disk_usage(path.parent).free if path.parent.is_dir() else 0
            raise StoreError(
                f"cannot write the twin {path} ({free / 1e6:.1f} MB free there): {exc}"
            ) from exc
        raise
    return path


def read(path: Path, /) -> CityModel:
    """Read the twin at ``path``.

    Raises
    ------
    StoreError
        When the file is missing, not a GeoPackage, or not a twin.
    """
    metadata, crs = read_metadata(path)
    names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]

    def load(name: str, bbox: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
        # bbox: the features meeting it, through the layer's R-tree (GDAL's spatial filter)
        frame = pyogrio.read_dataframe(path, layer=name, bbox=bbox, use_arrow=True)
        if isinstance(frame, gpd.GeoDataFrame):
            # GeoPackage keeps WKT1 in GIS axis order; the model's WKT2 is the exact CRS.
            frame = frame.set_crs(crs, allow_override=True)
        return frame

    order = _layer_order(dict.fromkeys(n for n in names if n != METADATA_TABLE))
    layers = LazyLayers(order, load, source=path, load_within=load)
    terrain = None
    if "terrain" in metadata:  # where the file is, not a fact about the model
        terrain = Terrain.from_raster(path.parent / metadata.pop("terrain"))
    if "ortho" in metadata:
        metadata["ortho"] = str(path.parent / metadata["ortho"])
    return CityModel(crs=crs, layers=layers, terrain=terrain, metadata=metadata)


def read_metadata(path: Path, /) -> tuple[dict[str, Any], pyproj.CRS]:
    """The metadata of the twin at ``path`` and its CRS, without reading any layer.

    Raises
    ------
    StoreError
        When the file is missing, not a GeoPackage, or not a twin.
    """
    if not path.exists():
        raise StoreError(f"{path}: no such twin")
    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except pyogrio.errors.DataSourceError as exc:
        raise StoreError(f"{path}: not a GeoPackage: {exc}") from exc
    if METADATA_TABLE not in names:
        raise StoreError(f"{path}: a GeoPackage, but not a twin (no {METADATA_TABLE} table)")
    table = pyogrio.read_dataframe(path, layer=METADATA_TABLE)
    metadata = {k: json.loads(v) for k, v in zip(table["key"], table["value"], strict=True)}
    return metadata, pyproj.CRS.from_wkt(metadata.pop("crs"))


def _copy_imagery(source: Path, target: Path, /) -> None:
    """Copy an RGB(A) image as a JPEG-compressed Cloud-Optimised GeoTIFF."""
    try:
        with rasterio.open(source) as src:
            rasterio.shutil.copy(
                src, target, driver="COG", COMPRESS="JPEG", QUALITY=90, NUM_THREADS="ALL_CPUS"
            )
    except RASTER_ERRORS as exc:
        problem = raster_problem(source, exc, read=False)
        raise StoreError(f"{source}: cannot copy the orthophoto: {problem}") from exc


def _layer_order(names: dict) -> list[str]:
    """Known layers in their documented order, then any others alphabetically."""
    known = [n for n in LAYERS if n in names]
    return known + sorted(n for n in names if n not in LAYERS)
