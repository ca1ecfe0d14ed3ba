"""Derive the small DTM/DSM and reference-height files of this folder from the Delft set.

Run from the repository root with the shared data beside it:
``python tests/data/delft/make_rasters.py ../shared/data/real/delft_3dfier_ahn3_bgt``.
DSM: highest class-6 (building) or class-2/9 (ground, water) point per 0.5 m cell; DTM: mean
of class-2/9 points per 0.5 m cell. Empty cells take their nearest filled cell's value.
"""

import json
import sys
from pathlib import Path

import laspy
import numpy as np
import rasterio
from rasterio.transform import from_origin
from scipy import ndimage

src = Path(sys.argv[1])
out = Path(__file__).parent
xmin, ymin, xmax, ymax, res = 84815.0, 447445.0, 85070.0, 447635.0, 0.5
w, h = int((xmax - xmin) / res), int((ymax - ymin) / res)
pts = [laspy.read(src / "ahn3" / f"ahn3_cropped_{i}.laz") for i in (1, 2)]
x = np.concatenate([np.asarray(p.x) for p in pts])
y = np.concatenate([np.asarray(p.y) for p in pts])
z = np.concatenate([np.asarray(p.z) for p in pts])
c = np.concatenate([np.asarray(p.classification) for p in pts])
col = ((x - xmin) / res).astype(int)
row = ((ymax - y) / res).astype(int)
inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)


def fill(grid):
    missing = np.isnan(grid)
    idx = ndimage.distance_transform_edt(missing, return_distances=False, return_indices=True)
    return grid[tuple(idx)]


ground = inside & np.isin(c, (2, 9))
dsm_pts = inside & np.isin(c, (2, 6, 9))
dsm = np.full(h * w, -np.inf)
np.maximum.at(dsm, row[dsm_pts] * w + col[dsm_pts], z[dsm_pts])
dsm[np.isinf(dsm)] = np.nan
sums = np.bincount(row[ground] * w + col[ground], z[ground], h * w)
counts = np.bincount(row[ground] * w + col[ground], minlength=h * w)
with np.errstate(invalid="ignore"):
    dtm = sums / counts
for name, grid in (("dsm", dsm), ("dtm", dtm)):
    grid = fill(grid.reshape(h, w)).astype(np.float32)
    with rasterio.open(
        out / f"{name}.tif",
        "w",
        driver="GTiff",
        width=w,
        height=h,
        count=1,
        dtype="float32",
        crs="EPSG:7415",
        transform=from_origin(xmin, ymax, res, res),
        compress="deflate",
        predictor=3,
        tiled=True,
        nodata=-9999.0,
    ) as dst:
        dst.write(grid, 1)
model = json.loads((src / "output" / "testarea.json").read_text())
vertices = np.asarray(model["vertices"], dtype=float)
with (out / "3dfier_heights.csv").open("w") as f:
    f.write("gml_id,measuredHeight,min_height_surface,roof_z\n")
    for key, obj in model["CityObjects"].items():
        if obj["type"] == "Building":
            a = obj["attributes"]
            # roof_z: the top of the LoD1 solid, the highest z among its vertices
            used = np.asarray(
                json.dumps(obj["geometry"][0]["boundaries"])
                .replace("[", " ")
                .replace("]", " ")
                .replace(",", " ")
                .split(),
                dtype=int,
            )
            top = vertices[used, 2].max()
            f.write(f"{key},{a['measuredHeight']:.3f},{a['min-height-surface']:.3f},{top:.3f}\n")
