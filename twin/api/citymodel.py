"""CityJSON pages: the buildings of one API response as a small :class:`~twin.CityModel`.

A page's buildings are read from the GeoPackage by feature id, with their semantic surfaces
(R-tree bbox of the page, then their building ids) and the geometry types of their LoD
layers, into an in-memory model; :mod:`twin.formats.cityjson` encodes it. No request loads
a whole layer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from twin.formats import cityjson
from twin.layers import LOD_LAYERS
from twin.model import CityModel

#: media types of the CityJSON outputs
CITYJSON = "application/city+json"
CITYJSONSEQ = "application/city+json-seq"
#: ``f`` value -> media type
CITY_MEDIA = {"cityjson": CITYJSON, "cityjsonseq": CITYJSONSEQ}


def _in_list(values: list[str], /) -> str:
    """An SQL ``IN`` list of string literals (quotes doubled: ids are data, never SQL)."""
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def page_model(
    path: Path, fids: list[int], /, *, metadata: dict, crs: pyproj.CRS, layers: set[str]
) -> CityModel:
    """The buildings with GeoPackage feature ids ``fids`` (in that order) as a model.

    Parameters
    ----------
    path
        The twin's GeoPackage.
    fids
        Feature ids of ``buildings``.
    metadata, crs
        The twin's metadata and CRS (:func:`twin.store.gpkg.read_metadata`).
    layers
        The layers the twin has (LoD layers are read when present).
    """
    frame = pyogrio.read_dataframe(
        path, layer="buildings", fids=np.asarray(fids, dtype=np.int64), fid_as_index=True
    )
    frame = frame.reindex(fids).reset_index(drop=True).set_crs(crs, allow_override=True)
    model_layers: dict[str, pd.DataFrame] = {"buildings": frame}
    ids = frame["building_id"].astype(str).tolist()
    if "building_surfaces" in layers:
        # an empty page still needs the (empty) layer: the header reads it
        where = f"building_id IN ({_in_list(ids)})" if ids else "0"
        box = tuple(shapely.total_bounds(frame.geometry.to_numpy()).tolist()) if ids else None
        surfaces = pyogrio.read_dataframe(path, layer="building_surfaces", where=where, bbox=box)
        model_layers["building_surfaces"] = surfaces.set_crs(crs, allow_override=True)
        for table in set(LOD_LAYERS.values()) & layers:
            info = pyogrio.read_info(path, layer=table)
            if "geometry_type" in info["fields"]:
                model_layers[table] = pyogrio.read_dataframe(
                    path,
                    layer=table,
                    where=where,
                    columns=["building_id", "geometry_type"],
                    read_geometry=False,
                )
    return CityModel(crs=crs, layers=model_layers, metadata=metadata)


def document_bytes(model: CityModel, /) -> bytes:
    """The model's buildings as one CityJSON 2.0 document (the bare header when it has none)."""
    doc = cityjson.document(model) if len(model.buildings) else cityjson.header(model)
    return json.dumps(doc, separators=(",", ":")).encode()


def sequence_bytes(model: CityModel, /) -> bytes:
    """The model's buildings as CityJSONSeq: the header line, then one feature per line."""
    lines = [cityjson.header(model), *(cityjson.features(model) if len(model.buildings) else [])]
    return "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
