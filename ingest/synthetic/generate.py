"""Write the sample district: every source file the build pipeline reads, atomically."""

from __future__ import annotations

from collections.abc import Callable
from math import ceil, sqrt
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely
from numpy.typing import NDArray
from rasterio.crs import CRS as RasterCRS
from tqdm import tqdm

from ingest.synthetic.geom import polygons_from_vertices
from ingest.synthetic.grid import Grid, Segments, make_grid, street_segments
from ingest.synthetic.lidar import strips, write_lidar
from ingest.synthetic.networks import lay_utilities
from ingest.synthetic.operators import operator_table
from ingest.synthetic.parcels import (
    LAND_USE_DE,
    Footprints,
    Parcels,
    Plan,
    build_district,
    plan_blocks,
)
from ingest.synthetic.rasters import (
    BLOCK_ROWS,
    GROUND_CLASSES,
    RasterGrid,
    write_elevation,
    write_ortho,
)
from ingest.synthetic.roofs import Roofs, assign_roofs, truth_table
from ingest.synthetic.survey import CODES, survey_points
from ingest.synthetic.trench import plan_trench
from ingest.synthetic.vegetation import park_paths, plant_trees
from ingest.synthetic.works import plan_works, surface_works
from twin.errors import InputError
from twin.files import atomic

CRS_CODE = "EPSG:31258+5778"
#: cadastral community (Katastralgemeinde) number and name
KG, KG_NAME = "72127", "Klagenfurt"
#: margin of the rasters and the point cloud around the district, metres
MARGIN = 20.0
#: expected buildings per building block, for sizing the grid
PER_BLOCK = 12.0
SIDEWALK = 3.0
FILES = {
    "cadastre": "cadastre.gpkg",
    "survey": "survey_points.csv",
    "survey_codes": "survey_codes.csv",
    "dtm": "dtm.tif",
    "dsm": "dsm.tif",
    "ortho": "ortho.tif",
    "lidar": "lidar.laz",
    "utilities": "utilities.gpkg",
    "trees": "trees.gpkg",
    "works": "works.gpkg",
    "operators": "operators.csv",
    "trench": "trench.geojson",
    "truth": "truth/buildings.csv",
    "config": "twin.toml",
}
_TOML = """\
[project]
name = "Klagenfurt sample district"
crs = "{crs}"

[sources.cadastre]
path = "cadastre.gpkg"
parcels_layer = "parcels"
buildings_layer = "buildings"
building_id = "building_id"

[sources.survey]
path = "survey_points.csv"
codes = "survey_codes.csv"
crs = "{crs}"

[sources.dtm]
path = "dtm.tif"

[sources.dsm]
path = "dsm.tif"
{optional}
[sources.utilities]
path = "utilities.gpkg"
layer = "utilities"

[sources.trees]
path = "trees.gpkg"
layer = "trees"

[sources.planned_works]
path = "works.gpkg"
layer = "planned_works"

[sources.surface_works]
path = "works.gpkg"
layer = "surface_works"

[sources.operators]
path = "operators.csv"
"""


def layout(n: int, rng: np.random.Generator, /) -> tuple[Grid, Plan]:
    """A street grid just large enough for ``n`` buildings, and its subdivision.

    The grid starts from the expected yield per block and grows by ~5 % until the drawn
    parcels have room for ``n`` buildings; the surplus parcels stay gardens.
    """
    blocks = ceil(n / PER_BLOCK) + 2
    while True:
        nx = max(2, ceil(sqrt(blocks)))
        ny = max(2, ceil(blocks / nx))
        grid = make_grid(nx, ny, rng)
        plan = plan_blocks(grid, n, rng)
        if plan is not None:
            return grid, plan
        blocks = ceil(blocks * 1.05) + 1


def _gst(parcels: Parcels) -> NDArray[np.object_]:
    """DKM-style parcel numbers: ``.n`` for building parcels, ``stem/sub`` for land parcels."""
    use = pd.Series(parcels.land_use)
    building = (use == "building").to_numpy()
    key = pd.DataFrame(
        {"use": np.where(building, "", use), "block": parcels.block, "street": parcels.street}
    ).fillna("")
    key.loc[use == "road", "block"] = -1
    stem = 100 + key.groupby(["use", "block", "street"], sort=False).ngroup().to_numpy()
    sub = key.groupby(["use", "block", "street"], sort=False).cumcount().to_numpy() + 1
    whole = use.isin(["park", "square"]).to_numpy()
    return np.array(
        [
            f".{k}" if b else (f"{s}" if w else f"{s}/{t}")
            for b, w, s, t, k in zip(building, whole, stem, sub, np.cumsum(building), strict=True)
        ],
        dtype=object,
    )


def _ground_shapes(grid: Grid, parcels: Parcels) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
    """Polygons drawn as ground in the orthophoto, in order, with their class codes."""
    code = {c: k for k, c in enumerate(GROUND_CLASSES)}
    lookup = {
        "garden": "garden",
        "road": "road",
        "park": "park",
        "square": "square",
        "building": "yard",
    }
    b = grid.block_bounds()
    shell = b + np.array([-SIDEWALK, -SIDEWALK, SIDEWALK, SIDEWALK])
    x = np.stack([shell[:, [0, 2, 2, 0]], b[:, [0, 2, 2, 0]]], axis=1).ravel()
    y = np.stack([shell[:, [1, 1, 3, 3]], b[:, [1, 1, 3, 3]]], axis=1).ravel()
    wx, wy = grid.frame.to_world(x, y)
    sidewalks = polygons_from_vertices(
        wx, wy, np.repeat(np.arange(2 * len(b)), 4), np.repeat(np.arange(len(b)), 2)
    )
    paths = shapely.transform(
        shapely.buffer(park_paths(grid), 1.5),
        lambda xy: np.column_stack(grid.frame.to_world(xy[:, 0], xy[:, 1])),
    )
    shapes = np.concatenate([parcels.geometry, sidewalks, paths])
    classes = np.concatenate(
        [
            [code[lookup[u]] for u in parcels.land_use],
            np.full(len(sidewalks), code["sidewalk"]),
            np.full(len(paths), code["path"]),
        ]
    ).astype(np.int64)
    return shapes, classes


def _write_layer(
    df: pd.DataFrame, geometry: NDArray[np.object_], path: Path, layer: str, crs: pyproj.CRS
) -> None:
    pyogrio.write_dataframe(
        gpd.GeoDataFrame(df.reset_index(drop=True), geometry=geometry, crs=crs),
        path,
        layer=layer,
        driver="GPKG",
    )


def _write_cadastre(
    out: Path,
    parcels: Parcels,
    footprints: Footprints,
    roofs: Roofs,
    attrs: pd.DataFrame,
    crs: pyproj.CRS,
) -> None:
    """The cadastre (parcels and building footprints, ``B000001``... with their parcel's
    ``kg`` and ``gst``) and the buildings' ground truth."""
    building_id = np.array([f"B{i:06d}" for i in range(1, len(attrs) + 1)], dtype=object)
    gst = _gst(parcels)
    (out / "truth").mkdir()
    truth_table(roofs, building_id).to_csv(
        out / FILES["truth"], index=False, float_format="%.3f", lineterminator="\n"
    )
    parcel_table = pd.DataFrame(
        {
            "kg": KG,
            "kg_name": KG_NAME,
            "gst": gst,
            "land_use": parcels.land_use,
            "land_use_de": [LAND_USE_DE[u] for u in parcels.land_use],
            "public": np.isin(parcels.land_use, ["road", "park", "square"]),
            "area_m2": np.round(shapely.area(parcels.geometry)),
            "street": parcels.street,
        }
    )
    _write_layer(parcel_table, parcels.geometry, out / FILES["cadastre"], "parcels", crs)
    building_table = pd.DataFrame(
        {"building_id": building_id, "kg": KG, "gst": gst[footprints.parcel]}
    )
    building_table = pd.concat([building_table, attrs], axis=1)
    _write_layer(building_table, footprints.geometry, out / FILES["cadastre"], "buildings", crs)


def _write_trench(
    out: Path, trench: pd.DataFrame, geometry: NDArray[np.object_], crs: pyproj.CRS
) -> None:
    """The planned trench to check, as RFC 7946 GeoJSON: WGS 84 longitude, latitude
    (7 decimals: 1 cm); not a build source."""
    pyogrio.write_dataframe(
        gpd.GeoDataFrame(trench, geometry=geometry, crs=crs.sub_crs_list[0]).to_crs("OGC:CRS84"),
        out / FILES["trench"],
        driver="GeoJSON",
        RFC7946="YES",
        COORDINATE_PRECISION=7,
    )


def _write_all(
    out: Path, n: int, seed: int, lidar: bool, ortho: bool, bar: tqdm, stepped: int = 0
) -> dict[str, Any]:
    """Generate the district into the folder ``out``; returns the summary without paths."""
    crs = pyproj.CRS(CRS_CODE)
    rcrs = RasterCRS.from_wkt(crs.to_wkt())
    (
        rng_layout,
        rng_roofs,
        rng_trees,
        rng_net,
        rng_works,
        rng_survey,
        rng_dsm,
        rng_ortho,
        rng_lidar,
    ) = np.random.default_rng(seed).spawn(9)

    def step(what: str) -> Callable[[], object]:
        def advance() -> None:
            bar.set_postfix_str(what, refresh=False)
            bar.update()

        return advance

    grid, plan = layout(n, rng_layout)
    seg: Segments = street_segments(grid)
    parcels, footprints = build_district(grid, plan, seg)
    raster = RasterGrid.around(np.asarray(shapely.total_bounds(parcels.geometry)), MARGIN)
    n_strips = len(strips(raster)) if lidar else 0
    n_ortho = ceil(raster.height / BLOCK_ROWS) if ortho else 0
    bar.reset(total=7 + ceil(raster.height / BLOCK_ROWS) + n_ortho + n_strips)
    step("layout")()

    roofs, attrs = assign_roofs(footprints, grid.frame, rng_roofs, stepped=stepped)
    _write_cadastre(out, parcels, footprints, roofs, attrs, crs)
    step("cadastre")()

    trees = plant_trees(grid, seg, rng_trees)
    _write_layer(trees.table, shapely.points(trees.x, trees.y), out / FILES["trees"], "trees", crs)
    step("trees")()
    utilities = lay_utilities(grid, seg, footprints, rng_net)
    _write_layer(utilities.table, utilities.geometry, out / FILES["utilities"], "utilities", crs)
    operators = operator_table()
    operators.to_csv(out / FILES["operators"], index=False, lineterminator="\n")
    live = utilities.geometry[(utilities.table["status"] == "in_service").to_numpy()]
    _write_trench(out, *plan_trench(grid, seg, trees, live), crs)
    step("utilities")()
    planned, planned_geom = plan_works(grid, seg, rng_works)
    surfaces, surface_geom = surface_works(grid, seg, rng_works)
    _write_layer(planned, planned_geom, out / FILES["works"], "planned_works", crs)
    _write_layer(surfaces, surface_geom, out / FILES["works"], "surface_works", crs)
    step("works")()
    points = survey_points(
        footprints.geometry, roofs, grid, seg, utilities.manholes, trees, rng_survey
    )
    points.to_csv(out / FILES["survey"], index=False, float_format="%.3f", lineterminator="\n")
    CODES.to_csv(out / FILES["survey_codes"], index=False, lineterminator="\n")
    step("survey")()

    buildings = shapely.STRtree(footprints.geometry)
    write_elevation(
        out / FILES["dtm"],
        out / FILES["dsm"],
        raster,
        buildings,
        roofs,
        trees,
        rcrs,
        rng_dsm,
        step("dtm, dsm"),
    )
    if ortho:
        shapes, classes = _ground_shapes(grid, parcels)
        write_ortho(
            out / FILES["ortho"],
            raster.scaled(0.5),
            shapely.STRtree(shapes),
            classes,
            buildings,
            roofs,
            trees,
            rcrs,
            rng_ortho,
            step("ortho"),
        )
    n_points = 0
    if lidar:
        n_points = write_lidar(
            out / FILES["lidar"], raster, buildings, roofs, trees, crs, rng_lidar, step("lidar")
        )
    optional = "".join(
        f'\n[sources.{key}]\npath = "{FILES[key]}"\n'
        for key, on in (("ortho", ortho), ("lidar", lidar))
        if on
    )
    (out / FILES["config"]).write_text(
        _TOML.format(crs=CRS_CODE, optional=optional), encoding="utf-8"
    )
    step("config")()
    counts = {
        "buildings": n,
        "parcels": len(parcels.geometry),
        "survey_points": len(points),
        "trees": len(trees),
        "utilities": len(utilities.table),
        "planned_works": len(planned),
        "surface_works": len(surfaces),
        "operators": len(operators),
        "lidar_points": n_points,
    }
    return {
        "counts": counts,
        "extent": raster.bounds,
        "raster_size": (raster.width, raster.height),
        "crs": CRS_CODE,
        "seed": seed,
        "files": [key for key in FILES if (key != "ortho" or ortho) and (key != "lidar" or lidar)],
    }


def generate_district(
    out_dir: str | Path,
    /,
    *,
    buildings: int = 500,
    seed: int = 0,
    lidar: bool = True,
    ortho: bool = True,
    progress: bool = False,
    stepped: int = 0,
) -> dict[str, Any]:
    """Generate the Klagenfurt sample district into ``out_dir``.

    Writes the cadastre, survey points, DTM, DSM, orthophoto, LiDAR, utilities, trees,
    works, the network operators' contacts, ground truth and the build configuration
    ``twin.toml`` (see ``data/README.md``), and a planned trench to check against the built
    twin (``trench.geojson``).
    The folder is written beside ``out_dir`` and renamed at the end
    (:func:`twin.files.atomic`), so an interrupted run leaves nothing behind. The same seed
    gives identical tables and raster arrays.

    Parameters
    ----------
    out_dir : str or Path
        Folder to create; it may exist only if empty.
    buildings : int, default 500
        Exact number of buildings.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.
    lidar, ortho : bool, default True
        Whether to write ``lidar.laz`` and ``ortho.tif`` (the slowest products).
    progress : bool, default False
        Show a tqdm progress bar on stderr.
    stepped : int, default 0
        Flat buildings that get a tower 4-10 m high on half their roof (for LoD1.3); the truth
        gains ``tower_z``. With 0 the district is that of earlier versions. The survey's eave
        points stay at the podium's eave, also on the tower's corners.

    Returns
    -------
    dict
        ``out_dir``, ``paths`` (product -> Path), ``counts`` (product -> number of features,
        points or buildings), ``extent`` (raster bounds left, bottom, right, top in
        EPSG:31258), ``raster_size`` (columns, rows at 1 m), ``crs`` and ``seed``.

    Raises
    ------
    twin.errors.InputError
        If ``buildings`` < 1, ``seed`` < 0 or ``out_dir`` exists and is not an empty folder.
    """
    if isinstance(buildings, bool) or not isinstance(buildings, int) or buildings < 1:
        raise InputError(f"buildings must be a positive integer, got {buildings!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    out = Path(out_dir).absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} exists and is not an empty folder")
    with (
        atomic(out) as tmp,
        tqdm(desc="twin sample", unit="step", disable=not progress, leave=False) as bar,
    ):
        tmp.mkdir()
        summary = _write_all(tmp, buildings, seed, lidar, ortho, bar, stepped)
    files = summary.pop("files")
    return {"out_dir": out, "paths": {key: out / FILES[key] for key in files}, **summary}
