"""The LoD1 build: sources named by a config in, one twin store out."""

from __future__ import annotations

import contextlib
import hashlib
import json
import warnings
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import rasterio
import shapely
from tqdm import tqdm

from ingest import cadastre, extents, survey
from ingest.config import BuildConfig, Source
from ingest.extents import Extent
from ingest.ground import Ground, raster_ground
from ingest.issues import collected, note
from ingest.lidar.heights import LidarHeights
from ingest.lidar.read import extent
from ingest.lidar.stats import PointStats
from ingest.lidar.trees import detect_trees, merge_trees
from ingest.operators import read_operators, unlisted_operators
from ingest.reconstruct import lod13
from ingest.reconstruct.lod12 import dsm_roofs, lift
from ingest.reconstruct.lod22 import reconstruct
from ingest.reconstruct.solids import Solids, blocks
from twin._version import __version__
from twin.crs import horizontal, same_horizontal, vertical
from twin.errors import CRSError, InputError, TwinWarning
from twin.layers import LOD_LAYERS
from twin.model import CityModel
from twin.polygon3d import surface_metrics
from twin.semantics import Semantic
from twin.store import write
from twin.terrain import Terrain
from twin.vector import read_layer

#: optional vector sources copied into the twin, source name -> layer name
PASS_THROUGH = ("utilities", "trees", "planned_works", "surface_works")

STEPS = ("hash sources", "cadastre", "terrain", "survey", "heights", "solids", "layers", "write")


def build(config: BuildConfig, output: str | Path, /, *, progress: bool = True) -> CityModel:
    """Build a twin from the sources of ``config`` and write it atomically to ``output``.

    Parameters
    ----------
    config
        The parsed build configuration.
    output
        The twin store to write (``.gpkg``). An existing twin there is replaced only when the
        build succeeds; its run history is carried over.
    progress
        Show progress bars on standard error.

    Returns
    -------
    CityModel
        The model that was written.
    """
    output = Path(output)
    with contextlib.ExitStack() as cleanup:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        log = cleanup.enter_context(collected([]))
        if "citymodel" in config.sources:
            return _citymodel(config, output, started, log)
        crs = config.crs
        bar = tqdm(STEPS, desc="build", unit="step", disable=not progress, leave=False)
        steps = iter(bar)

        next(steps)
        hashes = {name: _file_record(src.path) for name, src in config.sources.items()}
        operators = None  # a small table: checked first, so that a bad one fails at once
        if "operators" in config.sources:
            operators = read_operators(config.sources["operators"])

        next(steps)
        source = config.sources["cadastre"]
        buildings = cadastre.read_buildings(source, crs, config.lod1)
        layers: dict[str, pd.DataFrame] = {}
        if source.options.get("parcels_layer"):
            layers["parcels"] = cadastre.read_parcels(source, crs)
        buildings, notes = extents.leave_out_of_area(
            buildings, crs, source.path, allow=config.allow_scale_error
        )
        for message in notes:
            note(message)
        geoms = buildings.geometry.to_numpy()
        footprints = extents.footprint_extent(geoms, source.path)
        for message in _project_crs(crs, geoms, source.path, config):
            note(message, category=TwinWarning)
        flagged = buildings["footprint_issue"].notna()
        if flagged.any():
            log.append(f"{int(flagged.sum())} footprint(s) flagged, see footprint_issue")

        next(steps)
        terrain = _raster(config.sources.get("dtm"), crs, log, footprints, geoms)
        dsm = _raster(config.sources.get("dsm"), crs, log, footprints, geoms)
        dem = _raster(config.sources.get("dem"), crs, log, footprints, geoms)
        void = _void(terrain, "no terrain in the twin; ground heights from the next source")
        if void:
            terrain = None
        _void(dsm, "roof heights from the next source")
        dem_void = _void(dem, "no ground heights from it")
        ortho = _imagery(config.sources["ortho"], crs) if "ortho" in config.sources else None
        ground = Ground(geoms)
        lidar = None
        if "lidar" in config.sources:
            lidar = LidarHeights.measure(
                config.sources["lidar"],
                crs,
                geoms,
                terrain=terrain,
                options=config.lidar,
                roof_percentile=config.lod1.roof_percentile,
                scratch=output.with_name(f".{output.stem}.lidar-dtm.tif"),
            )
            cleanup.callback(lidar.discard)  # once the twin is written, or on failure
            if not (lidar.stats.roof.count.any() or lidar.stats.ground_points.any()):
                cloud = Extent("point cloud", config.sources["lidar"].path, extent(lidar.clouds))
                raise InputError(
                    f"{cloud.path}: the point cloud ({cloud}) misses every footprint "
                    f"({footprints}); is its CRS right?"
                )
            terrain = lidar.terrain
            log.extend(lidar.warnings())
            near = config.lidar.ground_distance
            ground.offer("lidar", lidar.stats.ground, f"no LiDAR ground point within {near:g} m")
        if void:
            ground.offer("dtm", np.full(len(geoms), np.nan), "DTM: all cells no-data")
        if terrain is not None:
            z, why = raster_ground(geoms, terrain.path, config.lod1, label="DTM", progress=progress)
            ground.offer("dtm", z, why)

        next(steps)
        survey_table = None
        if "survey" in config.sources:
            points = survey.read_points(config.sources["survey"], crs)
            extents.check_overlap(
                Extent("survey points", config.sources["survey"].path, _bounds(points)),
                footprints,
                margin=config.lod1.ground_search,
            )
            owner = survey.attach(points, buildings.geometry, snap=config.lod1.survey_snap)
            survey_table = survey.survey_heights(points, owner, len(buildings))
            ids = buildings["building_id"].to_numpy()
            points.insert(3, "building_id", np.where(owner >= 0, ids[owner.clip(0)], None))
            layers["survey_points"] = points
            gap = ground.missing
            if gap.any():
                z = np.full(len(geoms), np.nan)
                search = config.lod1.ground_search
                z[gap] = survey.ground_heights(points, buildings.geometry[gap], distance=search)
                ground.offer("survey", z, f"no surveyed ground point within {search:g} m")

        next(steps)
        if dem is not None and ground.missing.any():
            if dem_void:
                ground.offer("dem", np.full(len(geoms), np.nan), "DEM: all cells no-data")
            else:
                gap = ground.missing
                z, why = np.full(len(geoms), np.nan), np.full(len(geoms), None, dtype=object)
                z[gap], why[gap] = raster_ground(
                    geoms[gap], dem.path, config.lod1, label="DEM", progress=progress
                )
                ground.offer("dem", z, why)
        if config.lod1.ground_z is not None:
            ground.offer("constant", np.full(len(geoms), config.lod1.ground_z), "")
        roofs = []
        if lidar is not None:
            roofs.append(lidar.roofs())
        if dsm is not None:
            roofs.append(dsm_roofs(geoms, dsm.path, config.lod1, progress=progress))
        attributes = lift(
            buildings,
            ground_z=ground.z,
            ground_reason=ground.reasons(),
            roofs=roofs,
            survey=survey_table,
            options=config.lod1,
        )
        attributes.insert(1, "ground_method", ground.method)
        high = attributes["lod1_z"].notna() | attributes["height"].notna()
        unfounded = int((ground.missing & high.to_numpy()).sum())
        if unfounded:
            note(
                f"{unfounded} building(s) have a height but no ground height, so no solid: "
                "give a DTM, surveyed ground points, a [sources.dem] or [lod1] ground_z",
            )
        # A source attribute named like a computed column keeps its value under source_<name>.
        clash = buildings.columns.intersection(attributes.columns)
        buildings = buildings.rename(columns={c: f"source_{c}" for c in clash})
        buildings = gpd.GeoDataFrame(
            pd.concat([buildings, attributes], axis=1), geometry="geometry", crs=crs
        )

        next(steps)
        sloped = config.lod1.base == "sloped"
        if sloped and terrain is None:
            log.append("[lod1] base = 'sloped' without a terrain: flat bases")
        solids = _solids(buildings, crs, terrain if sloped else None)
        lods = ["1.2"]
        base = terrain.opened() if sloped and terrain is not None else contextlib.nullcontext()
        with base as under:  # the terrain read building by building: opened once
            if lidar is not None:
                lods += _reconstruct(geoms, buildings, solids, lidar.stats, config, under, crs)
        layers = {"buildings": buildings, **solids, **layers}

        next(steps)
        for name in PASS_THROUGH:
            if name in config.sources:
                src: Source = config.sources[name]
                what = name.replace("_", " ")
                layers[name] = read_layer(
                    src.path,
                    layer=src.options.get("layer"),
                    target=crs,
                    crs=src.crs,
                    what=what,
                    allow_empty=True,
                    encoding=src.options.get("encoding"),
                )
                if len(layers[name]):
                    spread = Extent(what, src.path, _bounds(layers[name]))
                    if not spread.meets(footprints):
                        note(
                            f"{src.path.name}: the extent of the {what} ({spread}) misses that "
                            f"of the footprints ({footprints}); is its CRS right?",
                        )
        if operators is not None:
            layers["operators"] = operators
            log.extend(unlisted_operators(operators, layers))
        if lidar is not None:
            detected = detect_trees(lidar.clouds, terrain, crs, chunk_size=config.lidar.chunk_size)
            layers["trees"] = merge_trees(layers.get("trees"), detected)

        next(steps)
        methods = buildings["height_method"].value_counts().to_dict()
        counts = {name: len(frame) for name, frame in layers.items()}
        layers["runs"] = _runs(output, config, started, hashes, counts, methods, log)
        model = CityModel(
            crs=crs,
            layers=layers,
            terrain=terrain,
            metadata={
                "name": config.name,
                "twin_version": __version__,
                "origin": _origin(buildings),
                "height_datum": (vertical(crs).name if vertical(crs) else None),
                "lods": lods,
            },
        )
        if ortho is not None:  # the store copies it beside the twin (city.ortho.tif)
            model.metadata["ortho"] = str(ortho)
        write(model, output)
        model.cache_meshes(output, lods)
        bar.close()
        return model


def _citymodel(config: BuildConfig, output: Path, started: str, log: list[str]) -> CityModel:
    """A twin imported from a CityJSON source (twin.formats), reprojected to the project CRS;
    the run's warnings in ``log``."""
    from twin.formats import read

    source = config.sources["citymodel"]
    model = read(source.path, crs=source.crs, target_crs=config.crs, name=config.name)
    model.buildings["height_method"] = "citymodel"
    model.buildings["footprint_issue"] = None
    skipped = model.metadata["source"]["skipped"]
    log.extend(f"skipped {n} {kind}" for kind, n in sorted(skipped.items()))
    for message in _project_crs(
        config.crs, model.buildings.geometry.to_numpy(), source.path, config
    ):
        note(message, category=TwinWarning)
    model.layers["runs"] = _runs(
        output,
        config,
        started,
        {"citymodel": _file_record(source.path)},
        {name: len(frame) for name, frame in model.layers.items()},
        {"citymodel": len(model.buildings)},
        log,
    )
    write(model, output)
    return model


def _solids(
    buildings: gpd.GeoDataFrame, crs: pyproj.CRS, terrain: Terrain | None
) -> dict[str, gpd.GeoDataFrame]:
    """The ``lod12`` layer and the LoD1.2 rows of ``building_surfaces``.

    With a ``terrain`` the blocks get sloped bases, and the ``buildings`` their range
    (``ground_z_min``, ``ground_z_max``) and the sloped blocks' volume and wall area.
    """
    lod1 = blocks(
        buildings.geometry.to_numpy(),
        buildings["ground_z"].to_numpy(dtype=float),
        buildings["lod1_z"].to_numpy(dtype=float),
        terrain=terrain,
    )
    solids, faces, owner, semantic = lod1.solids, lod1.surfaces, lod1.owner, lod1.semantic
    if terrain is not None:
        buildings["ground_z_min"] = lod1.ground_min
        buildings["ground_z_max"] = lod1.ground_max
        sloped = lod1.sloped
        buildings.loc[sloped, "volume_lod1"] = lod1.volume[sloped]
        buildings.loc[sloped, "area_wall_lod1"] = lod1.wall_area[sloped]
    ids = buildings["building_id"].to_numpy()
    lod12 = gpd.GeoDataFrame(
        {
            "building_id": ids,
            "lod": "1.2",
            "ground_z": buildings["ground_z"].to_numpy(),
            "lod1_z": buildings["lod1_z"].to_numpy(),
            "height": buildings["height"].to_numpy(),
        },
        geometry=gpd.GeoSeries(solids, crs=crs),
    )
    surfaces = _surfaces(buildings, faces, owner, semantic, "1.2", crs)
    return {"lod12": lod12, "building_surfaces": surfaces}


def _reconstruct(
    geoms: np.ndarray,
    buildings: gpd.GeoDataFrame,
    solids: dict[str, gpd.GeoDataFrame],
    stats: PointStats,
    config: BuildConfig,
    terrain: Terrain | None,
    crs: pyproj.CRS,
) -> list[str]:
    """Add the LoD1.3 and LoD2.2 reconstructed from the point statistics to the layers (as
    :func:`_add_lod`), on sloped bases with a ``terrain``; the LoDs added."""
    ground_z = buildings["ground_z"].to_numpy(dtype=float)
    lod1_z = buildings["lod1_z"].to_numpy(dtype=float)
    split = lod13.reconstruct(
        geoms,
        stats,
        ground_z=ground_z,
        lod1_z=lod1_z,
        percentile=config.lod1.roof_percentile,
        step=config.lod13.step,
        min_area=config.lod13.min_area,
        terrain=terrain,
    )
    _add_lod(solids, buildings, split, "1.3", ["lod13_parts"], crs)
    lod22 = reconstruct(
        geoms, stats, ground_z=ground_z, lod1_z=lod1_z, lod13=split, terrain=terrain
    )
    _add_lod(solids, buildings, lod22, "2.2", ["roof_type", "rmse_lod22"], crs)
    return ["1.3", "2.2"]


def _add_lod(
    solids: dict[str, gpd.GeoDataFrame],
    buildings: gpd.GeoDataFrame,
    made: Solids,
    lod: str,
    columns: list[str],
    crs: pyproj.CRS,
) -> None:
    """Put one reconstructed LoD into the layers: its attributes on ``buildings``, its solids
    (with ``columns`` of the attributes) into its layer, its faces into
    ``building_surfaces``."""
    for column, values in made.attributes.items():
        buildings[column] = values.to_numpy()
    solids[LOD_LAYERS[lod]] = gpd.GeoDataFrame(
        {"building_id": buildings["building_id"].to_numpy(), "lod": lod}
        | {c: made.attributes[c].to_numpy() for c in columns},
        geometry=gpd.GeoSeries(made.solids, crs=crs),
    )
    solids["building_surfaces"] = pd.concat(
        [
            solids["building_surfaces"],
            _surfaces(buildings, made.faces, made.owner, made.semantic, lod, crs),
        ],
        ignore_index=True,
    )


def _surfaces(
    buildings: gpd.GeoDataFrame,
    faces: np.ndarray,
    owner: np.ndarray,
    semantic: np.ndarray,
    lod: str,
    crs: pyproj.CRS,
) -> gpd.GeoDataFrame:
    """The ``building_surfaces`` rows of one LoD's faces, with area, slope and azimuth."""
    area, slope, azimuth = surface_metrics(faces)
    names = np.array([s.name for s in Semantic])
    return gpd.GeoDataFrame(
        {
            "building_id": buildings["building_id"].to_numpy()[owner],
            "lod": lod,
            "semantic": names[semantic],
            "area": area,
            "slope": slope,
            "azimuth": azimuth,
        },
        geometry=gpd.GeoSeries(faces, crs=crs),
    )


def _project_crs(crs: pyproj.CRS, geoms: np.ndarray, path: Path, config: BuildConfig) -> list[str]:
    """Warnings about the project CRS where the footprints ``geoms`` (of ``path``) lie: a
    scale error accepted by ``[project] allow_scale_error``, heights without a datum.

    Raises
    ------
    CRSError
        When the scale error is too large and not accepted (:func:`extents.check_scale`).
    """
    notes = extents.check_scale(crs, geoms, path, allow=config.allow_scale_error)
    if vertical(crs) is None:
        notes.append(
            f"heights have no stated datum: the project CRS {crs.name} has no vertical CRS; "
            "name a compound one, such as EPSG:31258+5778 (GK M31 + GHA heights)"
        )
    return notes


def _bounds(frame: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = frame.total_bounds
    return float(xmin), float(ymin), float(xmax), float(ymax)


def _void(raster: Terrain | None, then: str) -> bool:
    """Whether ``raster`` holds only no-data; if so, say so in the run's warnings, with what
    the build does ``then``."""
    if raster is None or extents.has_data(raster.path):
        return False
    note(f"{raster.path.name}: all cells no-data; {then}")
    return True


def _raster(
    source: Source | None,
    crs: pyproj.CRS,
    log: list[str],
    footprints: Extent,
    geoms: np.ndarray,
) -> Terrain | None:
    """Open a DTM/DSM/DEM source and check that it is in the project CRS and height datum
    and lies on the footprints ``geoms`` of extent ``footprints``
    (:func:`extents.check_overlap`, :func:`extents.coverage`)."""
    if source is None:
        return None
    raster = Terrain.from_raster(source.path, crs=source.crs)
    own = source.crs or raster.crs
    if not same_horizontal(own, crs):
        raise CRSError(
            f"{source.path}: {source.name} raster is in {horizontal(own).name}, the project in "
            f"{horizontal(crs).name}; warp it first (gdalwarp -t_srs)"
        )
    ours, theirs = vertical(crs), vertical(own)
    if theirs is None and ours is not None:
        log.append(f"{source.path.name}: no vertical CRS; heights taken as {ours.name}")
    elif theirs is not None and ours is not None and not same_horizontal(theirs, ours):
        raise CRSError(f"{source.path}: heights are in {theirs.name}, the project's in {ours.name}")
    extent = Extent(source.name.upper(), source.path, raster.bounds)
    extents.check_overlap(extent, footprints)
    for message in extents.coverage(extent, geoms):
        note(message)
    return raster


def _imagery(source: Source, crs: pyproj.CRS) -> Path:
    """Check that an orthophoto (RGB GeoTIFF) is readable and in the project CRS."""
    try:
        with rasterio.open(source.path) as src:
            own = source.crs or (pyproj.CRS.from_wkt(src.crs.to_wkt()) if src.crs else None)
            bands = src.count
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"{source.path}: cannot read the orthophoto: {exc}") from exc
    if own is None:
        raise CRSError(f"{source.path}: orthophoto has no CRS; name it in [sources.ortho] crs")
    if not same_horizontal(own, crs):
        raise CRSError(
            f"{source.path}: orthophoto is in {horizontal(own).name}, the project in "
            f"{horizontal(crs).name}; warp it first (gdalwarp -t_srs)"
        )
    if bands not in (3, 4):
        raise InputError(f"{source.path}: orthophoto has {bands} bands, expected RGB(A)")
    return source.path


def _file_record(path: Path) -> dict[str, object]:
    if path.is_dir():  # a folder of tiles (point clouds): one record per file
        files = sorted(p for p in path.iterdir() if p.is_file())
        return {"path": str(path), "files": [_file_record(p) for p in files]}
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _runs(
    output: Path,
    config: BuildConfig,
    started: str,
    sources: dict,
    counts: dict,
    methods: dict,
    warnings_: list[str],
) -> pd.DataFrame:
    """The run history: the replaced twin's runs and a row for this one."""
    run = {
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "twin_version": __version__,
        "config_path": str(config.path),
        "config": config.text,
        "sources": json.dumps(sources),
        "counts": json.dumps(counts),
        "height_methods": json.dumps(methods),
        "warnings": json.dumps(warnings_),
    }
    return pd.concat([_previous_runs(output), pd.DataFrame([run])], ignore_index=True)


def _previous_runs(output: Path) -> pd.DataFrame:
    """The run history of the twin being replaced (empty when there is none)."""
    if not output.exists():
        return pd.DataFrame()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return pyogrio.read_dataframe(output, layer="runs")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError):
        return pd.DataFrame()


def _origin(buildings: gpd.GeoDataFrame) -> list[float]:
    """A round local origin near the buildings' centre (x, y to 100 m, z to 1 m)."""
    geoms = buildings.geometry.to_numpy()
    present = ~shapely.is_missing(geoms)
    if not present.any():
        raise InputError("no building has a usable footprint")
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms[present])
    ground = buildings["ground_z"].to_numpy(dtype=float)
    z = float(np.nanmin(ground)) if np.isfinite(ground).any() else 0.0
    return [
        round((xmin + xmax) / 200.0) * 100.0,
        round((ymin + ymax) / 200.0) * 100.0,
        float(np.floor(z)),
    ]
