"""CityJSON pages: the buildings of one API response as a small :class:`~twin.CityModel`.

A page's buildings are read from the twin's store by feature id, with their semantic surfaces
(spatial index bbox of the page, then their building ids) and the geometry types of their LoD
layers, into an in-memory model; :mod:`twin.formats.cityjson` encodes it. No request loads
a whole layer.
"""

from __future__ import annotations

import json

import pandas as pd
import shapely

from twin.formats import cityjson
from twin.layers import LOD_LAYERS
from twin.model import CityModel
from twin.store.base import Store

#: media types of the CityJSON outputs
CITYJSON = "application/city+json"
CITYJSONSEQ = "application/city+json-seq"
#: ``f`` value -> media type
CITY_MEDIA = {"cityjson": CITYJSON, "cityjsonseq": CITYJSONSEQ}


def page_model(store: Store, fids: list[int], /) -> CityModel:
    """The buildings with feature ids ``fids`` (in that order) as a model, with their
    semantic surfaces and the geometry types of their LoD layers, read from ``store``."""
    crs, layers = store.crs, store.layers()
    frame = store.read_layer("buildings", fids=fids)
    model_layers: dict[str, pd.DataFrame] = {"buildings": frame}
    ids = frame["building_id"].astype(str).tolist()
    if "building_surfaces" in layers:
        # an empty page still needs the (empty) layer: the header reads it
        box = tuple(shapely.total_bounds(frame.geometry.to_numpy()).tolist()) if ids else None
        model_layers["building_surfaces"] = store.read_layer(
            "building_surfaces", bbox=box, where_in={"building_id": ids}
        )
        for table in sorted(set(LOD_LAYERS.values()) & set(layers)):
            if "geometry_type" in layers[table].columns:
                model_layers[table] = store.read_layer(
                    table,
                    where_in={"building_id": ids},
                    columns=["building_id", "geometry_type"],
                    geometry=False,
                )
    return CityModel(crs=crs, layers=model_layers, metadata=store.metadata())


def document_bytes(model: CityModel, /) -> bytes:
    """The model's buildings as one CityJSON 2.0 document (the bare header when it has none)."""
    doc = cityjson.document(model) if len(model.buildings) else cityjson.header(model)
    return json.dumps(doc, separators=(",", ":")).encode()


def sequence_bytes(model: CityModel, /) -> bytes:
    """The model's buildings as CityJSONSeq: the header line, then one feature per line."""
    lines = [cityjson.header(model), *(cityjson.features(model) if len(model.buildings) else [])]
    return "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
