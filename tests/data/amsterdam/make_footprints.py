"""Convert the BGT building footprints of this folder from CSV to a GeoPackage.

Run from the repository root: ``python tests/data/amsterdam/make_footprints.py``.
The CSV (`bgt_buildings_demo.csv`) holds one polygon per row as a JSON list of RD New
vertices (column ``polygon``) and no id; the GeoPackage gets layer ``buildings`` in
EPSG:28992 with ``bgt_id`` ``bgt-NN`` (the CSV row, from 0) and ``bgt_type``.
"""

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

here = Path(__file__).parent
table = pd.read_csv(here / "bgt_buildings_demo.csv")
vertices = [json.loads(text) for text in table["polygon"]]
rings = shapely.linearrings(
    np.concatenate(vertices), indices=np.repeat(np.arange(len(vertices)), list(map(len, vertices)))
)
frame = gpd.GeoDataFrame(
    {"bgt_id": [f"bgt-{i:02d}" for i in range(len(table))], "bgt_type": table["bgt_type"]},
    geometry=shapely.polygons(rings),
    crs="EPSG:28992",
)
frame.to_file(here / "bgt_buildings.gpkg", layer="buildings", driver="GPKG")
