"""The LoD1 build: sources named by a config in, one twin store out."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import rasterio
import shapely
from tqdm import tqdm

from ingest import cadastre, extents, survey
from ingest.config import PASS_THROUGH, TILE_SIZE, BuildConfig, Source
from ingest.distributed import by_parts, cluster, roof_solids, roof_solids_tiled
from ingest.extents import Extent
from ingest.ground import Ground, raster_ground
from ingest.issues import collected, note
from ingest.lidar.heights import LidarHeights
from ingest.lidar.read import PointCloud, extent, open_clouds
from ingest.lidar.stats import reach
from ingest.lidar.trees import detect_trees, merge_trees
from ingest.operators import read_operators, unlisted_operators
from ingest.reconstruct.lod12 import dsm_roofs, lift
from ingest.reconstruct.solids import Solids, blocks
from ingest.update import (
    Changes,
    Previous,
    UpToDate,
    carry_over,
    compare,
    digests,
    same_raster,
    with_extents,
)
from twin._version import __version__
from twin.crs import horizontal, same_horizontal, vertical
from twin.errors import CRSError, InputError, StoreError, TwinWarning
from twin.files import Scratch
from twin.layers import LOD_LAYERS
from twin.model import CityModel, MadeLayers, feature_table
from twin.polygon3d import surface_metrics
from twin.semantics import Semantic
from twin.store import Location, is_database, location, open_store, write
from twin.terrain import Terrain
from twin.vector import read_layer


@dataclass
class Run:
    """What the stages of one build hand on to each other (:data:`STAGES`), each filling in
    its part."""

    config: BuildConfig
    output: Location
    progress: bool
    cleanup: contextlib.ExitStack
    log: list[str]
    started: str
    hashes: dict[str, dict] = field(default_factory=dict)
    #: the point clouds of the LiDAR source, opened once (their headers) for the run record
    #: and the measuring
    clouds: list[PointCloud] = field(default_factory=list)
    operators: pd.DataFrame | None = None
    #: the footprints, then with the computed attributes (``heights``)
    buildings: gpd.GeoDataFrame | None = None
    geoms: np.ndarray | None = None
    footprints: Extent | None = None
    #: the layers of the twin so far (parcels and survey points first, ``buildings`` and the
    #: solids put before them once made)
    layers: dict[str, pd.DataFrame] = field(default_factory=dict)
    terrain: Terrain | None = None
    dsm: Terrain | None = None
    dem: Terrain | None = None
    terrain_void: bool = False
    dem_void: bool = False
    ortho: Path | None = None
    ground: Ground | None = None
    lidar: LidarHeights | None = None
    survey: pd.DataFrame | None = None
    #: the LoD layers and ``building_surfaces``, as Arrow tables
    solids: dict[str, pa.Table] = field(default_factory=dict)
    lods: list[str] = field(default_factory=lambda: ["1.2"])
    model: CityModel | None = None
    #: a Dask client: the points are then read part by part, and the roofs reconstructed
    #: tile by tile, on its cluster
    client: Any = None
    tile_size: float = TILE_SIZE
    #: the tree detection running on that cluster meanwhile (a Dask future)
    trees: Any = None
    #: an update (:mod:`ingest.update`): the twin it starts from and the sources changed
    previous: Previous | None = None
    changed: set[str] = field(default_factory=set)
    #: in an update measuring only some buildings: which (of ``cadastre``, every building
    #: of today's cadastre, while ``buildings`` holds those measured)
    changes: Changes | None = None
    cadastre: gpd.GeoDataFrame | None = None
    #: cadastre columns renamed as a computed column has their name
    renamed: dict[str, str] = field(default_factory=dict)

    @property
    def crs(self) -> pyproj.CRS:
        """The project CRS."""
        return self.config.crs


def build(
    config: BuildConfig,
    output: Location,
    /,
    *,
    progress: bool = True,
    scheduler: str | None = None,
    workers: int | None = None,
    tile_size: float = TILE_SIZE,
    update: bool = False,
) -> CityModel:
    """Build a twin from the sources of ``config`` and write it atomically to ``output``.

    The build runs the :data:`STAGES` in turn; the progress bar names the one running
    (``build: 4/12 lidar``).

    Parameters
    ----------
    config
        The parsed build configuration.
    output
        The twin store to write (``city.gpkg``, or ``postgresql://host/db?schema=twin``). An
        existing twin there is replaced only when the build succeeds; its run history is
        carried over.
    progress
        Show progress bars on standard error.
    scheduler, workers
        A Dask scheduler's address (``tcp://host:8786``), or a number of local worker
        processes: the point clouds are then read in parts, and the roofs reconstructed in
        tiles, on that cluster (:mod:`ingest.distributed`), with the same result as in one
        process.
    tile_size
        The side (m) of those tiles.
    update
        Update the twin at ``output`` (:mod:`ingest.update`): when only the cadastre and the
        layers copied through changed since its last build, measure only the buildings whose
        record changed and carry the others over; otherwise (or with no twin there yet)
        build it whole, the reason in the run's warnings.

    Returns
    -------
    CityModel
        The twin as written, its layers read from ``output`` when first used (as
        :func:`twin.open` gives it).

    Raises
    ------
    UpToDate
        With ``update``, when no source changed since the twin's last build: nothing is
        written.
    """
    output = location(output)
    with contextlib.ExitStack() as cleanup:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        cleanup.enter_context(rasterio.Env(GDAL_CACHEMAX=RASTER_CACHE_MB))
        log = cleanup.enter_context(collected([]))
        if "citymodel" in config.sources:
            return _citymodel(config, output, started, log)
        client = None
        if scheduler is not None or workers is not None:
            client = cleanup.enter_context(cluster(scheduler=scheduler, workers=workers))
        previous = Previous.of(output) if update else None
        if update and previous is None:
            note(f"--update: {location(output)} holds no twin built from sources yet: built whole")
        run = Run(config, output, progress, cleanup, log, started, tile_size=tile_size)
        run.client, run.previous = client, previous
        try:
            _run_stages(run)
        except _MeasureAll as whole:  # the update found late that it cannot be partial
            del log[:]
            note(f"--update: {whole}: every building measured anew")
            run = Run(config, output, progress, cleanup, log, started, tile_size=tile_size)
            run.client = client
            _run_stages(run)
        return run.model


#: GDAL's block cache during a build (MB). The rasters are read window by window, each
#: window once (:func:`ingest.zonal.zonal_stats`), and the COG copy streams, so its default
#: (5 % of the memory) only held blocks never read again: with 256 MB the peak RSS of the
#: ground heights, roof heights and write of 100,000 buildings fell from 0.90, 1.00 and
#: 1.41 GB to 0.55, 0.63 and 1.00 GB
#: (`GDAL_CACHEMAX <https://gdal.org/user/configoptions.html#performance-and-caching>`_).
RASTER_CACHE_MB = 256


class _MeasureAll(Exception):  # not an error: an update turned into a full build
    """An update cannot measure only some buildings (the message says why)."""


def _run_stages(run: Run) -> None:
    """The :data:`STAGES` in turn, the progress bar naming the one running."""
    bar = tqdm(
        total=len(STAGES), disable=not run.progress, leave=False, bar_format="{desc} [{elapsed}]"
    )
    for number, (name, stage) in enumerate(STAGES, start=1):
        bar.set_description_str(f"build: {number}/{len(STAGES)} {name}")
        stage(run)
        _give_back_memory()
        bar.update()
    bar.close()


def _give_back_memory() -> None:
    """Hand the heap memory a stage freed back to the system (glibc's ``malloc_trim``;
    nothing where the C library is another).

    glibc keeps the memory of many small freed objects (a stage's shapely geometries,
    strings, index arrays) in its arenas, so each stage's peak stacked on the last one's:
    the RSS of a 300,000-building build stayed 1.3 GB higher after its ground heights;
    trimmed, that of a 100,000-building build falls back to where it was before the stage.
    Dask trims its workers so, for the same reason (`Memory not released back to the OS
    <https://distributed.dask.org/en/stable/worker-memory.html#memory-not-released-back-to-the-os>`_).
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _hash_sources(run: Run) -> None:
    """The size and SHA-256 of every source file, for the run record; the operators table,
    small, read first so that a bad one fails at once."""
    sources = run.config.sources
    run.hashes = {name: _file_record(src.path) for name, src in sources.items()}
    if "lidar" in sources:  # with each file's extent, for an update after some changed
        run.clouds = open_clouds(sources["lidar"].path, run.crs, crs=sources["lidar"].crs)
        run.hashes["lidar"] = with_extents(run.hashes["lidar"], run.clouds)
    if "operators" in sources:
        run.operators = read_operators(sources["operators"])
    previous = run.previous
    if previous is None:
        return
    whole = previous.why_anew(run.config, run.hashes)
    if whole is not None:
        note(f"--update: {whole}: every building measured anew")
        run.previous = None
        return
    run.changed = previous.changed(run.hashes)
    if not run.changed:
        finished = previous.run.get("finished")
        raise UpToDate(f"{run.output}: up to date, no source changed since its build of {finished}")


def _read_cadastre(run: Run) -> None:
    """The footprints (and parcels) in the project CRS, those out of its area left out, the
    CRS checked where they lie."""
    config, crs = run.config, run.crs
    source = config.sources["cadastre"]
    buildings = cadastre.read_buildings(source, crs, config.lod1)
    if source.options.get("parcels_layer"):
        run.layers["parcels"] = cadastre.read_parcels(source, crs)
    buildings, notes = extents.leave_out_of_area(
        buildings, crs, source.path, allow=config.allow_scale_error
    )
    for message in notes:
        note(message)
    run.geoms = geoms = buildings.geometry.to_numpy()
    run.footprints = extents.footprint_extent(geoms, source.path)
    for message in _project_crs(crs, geoms, source.path, config):
        note(message, category=TwinWarning)
    flagged = buildings["footprint_issue"].notna()
    if flagged.any():
        note(f"{int(flagged.sum())} footprint(s) flagged: see the footprint_issue column")
    buildings["source_digest"] = digests(buildings)
    run.buildings = buildings
    run.ground = Ground(geoms)
    if run.previous is not None:
        _narrow(run)


def _narrow(run: Run) -> None:
    """In an update: the buildings to measure anew (:func:`ingest.update.compare`) become
    the run's ``buildings``, today's whole cadastre its ``cadastre``."""
    config = run.config
    old = run.previous.store.read_layer("buildings", columns=["building_id", "source_digest"])
    area = run.previous.changed_area(run.hashes) if "lidar" in run.changed else None
    changes = compare(
        run.buildings,
        old,
        halo=2.0 * config.lod1.survey_snap,  # survey points this near two footprints: neither's
        area=area,
        reach=reach(config.lidar.ground_distance, config.lidar.roof_sampling),
    )
    run.cadastre, run.changes = run.buildings, changes
    run.buildings = run.cadastre[changes.measure].reset_index(drop=True)
    run.geoms = run.geoms[changes.measure]
    run.ground = Ground(run.geoms)


def _open_rasters(run: Run) -> None:
    """The DTM, DSM, DEM and orthophoto, checked against the project CRS and the
    footprints; a raster of no-data only is noted and set aside."""
    sources, crs, geoms = run.config.sources, run.crs, run.geoms
    run.terrain = _raster(sources.get("dtm"), crs, run.footprints, geoms)
    run.dsm = _raster(sources.get("dsm"), crs, run.footprints, geoms)
    run.dem = _raster(sources.get("dem"), crs, run.footprints, geoms)
    run.terrain_void = _void(
        run.terrain, "no terrain in the twin; ground heights from the next source"
    )
    if run.terrain_void:
        run.terrain = None
    if run.changes is not None and run.terrain is not None:
        # an update: the DTM is unchanged, and the twin's copy of it (the same cells) is a
        # COG already, which the write then copies as it is
        run.terrain = Terrain.from_raster(run.previous.store.terrain_path(), crs=run.terrain.crs)
    _void(run.dsm, "roof heights from the next source")
    run.dem_void = _void(run.dem, "no ground heights from it")
    run.ortho = _imagery(sources["ortho"], crs) if "ortho" in sources else None


def _measure_lidar(run: Run) -> None:
    """The point statistics of every footprint from the LiDAR source (streamed): ground and
    roof heights, and the terrain where no DTM is given."""
    config = run.config
    if "lidar" not in config.sources:
        return
    # a DTM made from the points is written in a scratch folder beside the twin: it goes
    # when the build ends, or, if the build is killed, with the next write of the twin (for
    # a twin in a database, in a temporary folder)
    if is_database(run.output):
        work = Path(run.cleanup.enter_context(tempfile.TemporaryDirectory(prefix="twin-")))
        work = work / ".work"
    else:
        run.output.parent.mkdir(parents=True, exist_ok=True)
        work = run.cleanup.enter_context(Scratch(run.output)).path(".work")
    work.mkdir()
    every = run.geoms if run.cadastre is None else run.cadastre.geometry.to_numpy()
    on_cluster = None
    if run.client is not None:
        on_cluster = functools.partial(by_parts, run.client, progress=run.progress)
    lidar = run.lidar = LidarHeights.measure(
        run.clouds,
        run.crs,
        run.geoms,
        terrain=run.terrain,
        options=config.lidar,
        roof_percentile=config.lod1.roof_percentile,
        scratch=work / "lidar-dtm.tif",
        footprints=every,
        cluster=on_cluster,
    )
    if run.changes is not None and lidar.terrain_made:
        # made from the same points, it differs only where the points had no ground class
        # and the footprints, left out of it then, changed
        if not same_raster(lidar.terrain.path, run.previous.store.terrain_path()):
            raise _MeasureAll("the terrain made from the LiDAR points changed")
    unseen = run.changes is None and not lidar.stats.ground_points.any()
    if unseen and not lidar.stats.roof.count.any():
        cloud = Extent("point cloud", config.sources["lidar"].path, extent(lidar.clouds))
        raise InputError(
            f"{cloud.path}: the point cloud ({cloud}) misses every footprint "
            f"({run.footprints}); is its CRS right?"
        )
    run.terrain = lidar.terrain
    if run.client is not None and _trees_anew(run):
        # the trees on the cluster while the roofs are made there
        run.trees = run.client.submit(
            detect_trees,
            lidar.clouds,
            lidar.terrain,
            run.crs,
            chunk_size=config.lidar.chunk_size,
            pure=False,
            priority=1,  # first: one worker detects trees while the others make roofs
        )
    near = config.lidar.ground_distance
    run.ground.offer("lidar", lidar.stats.ground, f"no LiDAR ground point within {near:g} m")


def _ground_from_terrain(run: Run) -> None:
    """Ground heights from the terrain (the DTM, or the LiDAR's) for the buildings still
    without one."""
    if run.terrain_void:
        run.ground.offer("dtm", np.full(len(run.geoms), np.nan), "DTM: all cells no-data")
    if run.terrain is not None:
        z, why = raster_ground(
            run.geoms, run.terrain.path, run.config.lod1, label="DTM", progress=run.progress
        )
        run.ground.offer("dtm", z, why)


def _survey_points(run: Run) -> None:
    """The survey points, attached to their buildings: surveyed heights, and ground heights
    near the buildings still without one."""
    config, buildings = run.config, run.buildings
    if "survey" not in config.sources:
        return
    points = survey.read_points(config.sources["survey"], run.crs)
    extents.check_overlap(
        Extent("survey points", config.sources["survey"].path, _bounds(points)),
        run.footprints,
        margin=config.lod1.ground_search,
    )
    every = buildings if run.cadastre is None else run.cadastre
    owner = survey.attach(points, every.geometry, snap=config.lod1.survey_snap)
    ids = every["building_id"].to_numpy()
    points.insert(3, "building_id", np.where(owner >= 0, ids[owner.clip(0)], None))
    if run.changes is not None:  # the owners among the buildings measured
        measured = run.changes.measure
        among = np.full(len(measured) + 1, -1)  # owner -1 indexes the last: none
        among[np.flatnonzero(measured)] = np.arange(measured.sum())
        owner = pd.Series(among[owner.to_numpy()], index=owner.index)
    run.survey = survey.survey_heights(points, owner, len(buildings))
    gap = run.ground.missing
    if gap.any():
        z = np.full(len(run.geoms), np.nan)
        search = config.lod1.ground_search
        z[gap] = survey.ground_heights(points, buildings.geometry[gap], distance=search)
        run.ground.offer("survey", z, f"no surveyed ground point within {search:g} m")
    # kept for the write as an Arrow table: as shapely points and Python strings, the 517,000
    # points of 100,000 buildings held 0.15 GB of memory until the write, as a table 0.07 GB
    attributes = pd.DataFrame(points.drop(columns=points.active_geometry_name))
    run.layers["survey_points"] = feature_table(attributes, points.geometry.to_numpy())


def _lift_heights(run: Run) -> None:
    """The last ground heights (DEM, ``[lod1] ground_z``), the roof heights (LiDAR, DSM) and
    the LoD1 attributes of every building (:func:`ingest.reconstruct.lod12.lift`)."""
    config, geoms, ground, dem = run.config, run.geoms, run.ground, run.dem
    if dem is not None and ground.missing.any():
        if run.dem_void:
            ground.offer("dem", np.full(len(geoms), np.nan), "DEM: all cells no-data")
        else:
            gap = ground.missing
            z, why = np.full(len(geoms), np.nan), np.full(len(geoms), None, dtype=object)
            z[gap], why[gap] = raster_ground(
                geoms[gap], dem.path, config.lod1, label="DEM", progress=run.progress
            )
            ground.offer("dem", z, why)
    if config.lod1.ground_z is not None:
        ground.offer("constant", np.full(len(geoms), config.lod1.ground_z), "")
    roofs = []
    if run.lidar is not None:
        roofs.append(run.lidar.roofs())
    if run.dsm is not None:
        roofs.append(dsm_roofs(geoms, run.dsm.path, config.lod1, progress=run.progress))
    attributes = lift(
        run.buildings,
        ground_z=ground.z,
        ground_reason=ground.reasons(),
        roofs=roofs,
        survey=run.survey,
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
    buildings = run.buildings
    clash = buildings.columns.intersection(attributes.columns)
    run.renamed = {c: f"source_{c}" for c in clash}
    buildings = buildings.rename(columns=run.renamed)
    run.buildings = gpd.GeoDataFrame(
        pd.concat([buildings, attributes], axis=1), geometry="geometry", crs=run.crs
    )


def _lod12_solids(run: Run) -> None:
    """The LoD1.2 blocks, on sloped bases with ``[lod1] base = "sloped"`` and a terrain."""
    sloped = run.config.lod1.base == "sloped"
    if sloped and run.terrain is None:
        note("[lod1] base = 'sloped' without a terrain: flat bases", category=TwinWarning)
    run.solids = _solids(run.buildings, run.terrain if sloped else None)


def _roofs(run: Run) -> None:
    """The LoD1.3 and LoD2.2 solids from the LiDAR's point statistics (none without LiDAR);
    then ``buildings`` and the solids lead the layers."""
    config, terrain = run.config, run.terrain
    sloped = config.lod1.base == "sloped"
    base = terrain.opened() if sloped and terrain is not None else contextlib.nullcontext()
    with base as under:  # the terrain read building by building: opened once
        if run.lidar is not None:
            run.lods += _reconstruct(run, under)
    run.layers = {"buildings": run.buildings, **run.solids, **run.layers}
    if run.changes is not None:  # an update: the buildings not measured from the twin
        run.layers = carry_over(
            run.layers, run.previous.store, run.cadastre, run.changes.measure, run.lods, run.renamed
        )
        run.buildings = run.layers["buildings"]


def _pass_through(run: Run) -> None:
    """The vector sources copied into the twin (:data:`PASS_THROUGH`), each checked to lie
    where the footprints do, and the operators table."""
    layers = run.layers
    stored = run.previous.store.layers() if run.changes is not None else {}
    for name in PASS_THROUGH:
        # an update: as the twin has it; but the twin's trees hold those detected in the
        # points, so they are read anew from the inventory when the points give others
        anew = name in run.changed or (name == "trees" and _trees_anew(run))
        if name in stored and not anew:
            layers[name] = run.previous.store.read_layer(name)
        elif name in run.config.sources:
            src: Source = run.config.sources[name]
            what = name.replace("_", " ")
            layers[name] = read_layer(
                src.path,
                layer=src.options.get("layer"),
                target=run.crs,
                crs=src.crs,
                what=what,
                allow_empty=True,
                encoding=src.options.get("encoding"),
            )
            if len(layers[name]):
                spread = Extent(what, src.path, _bounds(layers[name]))
                if not spread.meets(run.footprints):
                    note(
                        f"{src.path.name}: the extent of the {what} ({spread}) misses that "
                        f"of the footprints ({run.footprints}); is its CRS right?",
                    )
    if run.operators is not None:
        layers["operators"] = run.operators
        for message in unlisted_operators(run.operators, layers):
            note(message)


def _detect_trees(run: Run) -> None:
    """The trees found in the LiDAR's vegetation points, merged with the inventory."""
    if run.lidar is None or not _trees_anew(run):
        return
    if run.trees is not None:
        detected = run.trees.result()
    else:
        detected = detect_trees(
            run.lidar.clouds, run.terrain, run.crs, chunk_size=run.config.lidar.chunk_size
        )
    run.layers["trees"] = merge_trees(run.layers.get("trees"), detected)


def _trees_anew(run: Run) -> bool:
    """Whether the build detects the trees in the points: always, but in an update that
    measures only some buildings when the tree inventory and the point cloud are unchanged
    (the twin's trees are then those a full build finds: the same points, the same
    terrain)."""
    return run.changes is None or bool({"trees", "lidar"} & run.changed)


def _write(run: Run) -> None:
    """The run record, the model and its metadata, written atomically; then, with the
    other layers in memory let go, the mesh caches made from the surfaces; the build returns
    the twin as stored."""
    config, buildings, layers = run.config, run.buildings, run.layers
    methods = buildings["height_method"].value_counts().to_dict()
    counts = {name: len(frame) for name, frame in layers.items()}
    update = None if run.changes is None else run.changes.summary
    layers["runs"] = _runs(
        run.output, config, run.started, run.hashes, counts, methods, run.log, update=update
    )
    model = CityModel(
        crs=run.crs,
        # frames, and the 3D layers as Arrow tables (run.solids)
        layers=MadeLayers(list(layers), functools.partial(dict, layers), run.crs),
        terrain=run.terrain,
        metadata={
            "name": config.name,
            "twin_version": __version__,
            "origin": _origin(buildings),
            "height_datum": (vertical(run.crs).name if vertical(run.crs) else None),
            "lods": run.lods,
            "terrain_source": _terrain_source(run),
        },
    )
    model.ortho = run.ortho  # the store keeps a copy of it beside the twin (city.ortho.tif)
    write(model, run.output)
    # Every layer in memory goes but the surfaces (an Arrow table) and the building ids, of
    # which the meshes are made; the model returned is the twin as stored, read when used
    # (its terrain the stored COG, where the run's own may be a scratch file that goes with
    # the build).
    kept = {
        "buildings": pd.DataFrame({"building_id": buildings["building_id"].to_numpy()}),
        "building_surfaces": model.layers.arrow("building_surfaces"),
    }
    del model, layers, buildings
    run.layers, run.solids, run.buildings, run.cadastre, run.survey = {}, {}, None, None, None
    run.geoms, run.ground, run.lidar = None, None, None
    _give_back_memory()
    store = open_store(run.output)
    surfaces = CityModel(crs=run.crs, layers=MadeLayers(list(kept), kept.copy, run.crs))
    surfaces.cache_meshes(store.mesh_cache(), run.lods)
    run.model = store.read_model()


def _terrain_source(run: Run) -> str | None:
    """Where the twin's terrain came from: the DTM's file name, ``LiDAR ground points`` when
    it was made from them, ``None`` without a terrain."""
    if run.lidar is not None and run.lidar.terrain_made:
        return "LiDAR ground points"
    return run.config.sources["dtm"].path.name if run.terrain is not None else None


#: the stages of a build, in order, with the names the progress bar shows
STAGES: tuple[tuple[str, Callable[[Run], None]], ...] = (
    ("hash sources", _hash_sources),
    ("cadastre", _read_cadastre),
    ("rasters", _open_rasters),
    ("lidar", _measure_lidar),
    ("ground", _ground_from_terrain),
    ("survey", _survey_points),
    ("heights", _lift_heights),
    ("lod1.2 solids", _lod12_solids),
    ("lod1.3 lod2.2 roofs", _roofs),
    ("layers", _pass_through),
    ("trees", _detect_trees),
    ("write", _write),
)


def _citymodel(config: BuildConfig, output: Location, started: str, log: list[str]) -> CityModel:
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


#: buildings extruded at a time (:func:`_solids`): their shapely solids and faces (each face
#: twice, alone and in its solid), about 6 kB a building, live only while they are made and
#: encoded as WKB, a third of that size
BLOCK = 2**14


def _solids(buildings: gpd.GeoDataFrame, terrain: Terrain | None) -> dict[str, pa.Table]:
    """The ``lod12`` layer and the LoD1.2 rows of ``building_surfaces``, as Arrow tables
    (:class:`twin.model.MadeLayers`), made :data:`BLOCK` buildings at a time.

    With a ``terrain`` the blocks get sloped bases, and the ``buildings`` their range
    (``ground_z_min``, ``ground_z_max``) and the sloped blocks' volume and wall area.
    """
    ids = buildings["building_id"].to_numpy()
    geoms = buildings.geometry.to_numpy()
    ground, top = (buildings[c].to_numpy(dtype=float) for c in ("ground_z", "lod1_z"))
    height = buildings["height"].to_numpy()
    lod12, surfaces, ranges = [], [], []
    for start in range(0, max(len(ids), 1), BLOCK):
        part = slice(start, start + BLOCK)
        lod1 = blocks(geoms[part], ground[part], top[part], terrain=terrain)
        columns = {"building_id": ids[part], "lod": "1.2", "ground_z": ground[part]}
        columns |= {"lod1_z": top[part], "height": height[part]}
        lod12.append(feature_table(pd.DataFrame(columns), lod1.solids))
        surfaces.append(_surfaces(ids[part], lod1.surfaces, lod1.owner, lod1.semantic, "1.2"))
        ranges.append((lod1.ground_min, lod1.ground_max, lod1.sloped, lod1.volume, lod1.wall_area))
    if terrain is not None:
        low, high, sloped, volume, wall = (np.concatenate(c) for c in zip(*ranges, strict=True))
        buildings["ground_z_min"] = low
        buildings["ground_z_max"] = high
        buildings.loc[sloped, "volume_lod1"] = volume[sloped]
        buildings.loc[sloped, "area_wall_lod1"] = wall[sloped]
    return {"lod12": _concat(lod12), "building_surfaces": _concat(surfaces)}


def _concat(tables: list[pa.Table]) -> pa.Table:
    """One layer of the tables of its blocks; a block without rows is left out (its columns,
    typed from no value as text, could clash with the others' types)."""
    return pa.concat_tables([t for t in tables if t.num_rows] or tables[:1])


def _reconstruct(run: Run, terrain: Terrain | None) -> list[str]:
    """Add the LoD1.3 and LoD2.2 reconstructed from the run's point statistics to its layers
    (as :func:`_add_lod`), on sloped bases with a ``terrain``, tile by tile on the run's
    cluster when it has one; the LoDs added."""
    buildings, config = run.buildings, run.config
    options = {
        "ground_z": buildings["ground_z"].to_numpy(dtype=float),
        "lod1_z": buildings["lod1_z"].to_numpy(dtype=float),
        "config": config,
        "terrain": terrain,
    }
    if run.client is not None:
        split, lod22 = roof_solids_tiled(
            run.client,
            run.geoms,
            run.lidar.stats,
            **options,
            tile_size=run.tile_size,
            progress=run.progress,
        )
    else:
        split, lod22 = roof_solids(run.geoms, run.lidar.stats, **options)
    _add_lod(run.solids, buildings, split, "1.3", ["lod13_parts"])
    _add_lod(run.solids, buildings, lod22, "2.2", ["roof_type", "rmse_lod22"])
    return ["1.3", "2.2"]


def _add_lod(
    solids: dict[str, pa.Table],
    buildings: gpd.GeoDataFrame,
    made: Solids,
    lod: str,
    columns: list[str],
) -> None:
    """Put one reconstructed LoD into the layers: its attributes on ``buildings``, its solids
    (with ``columns`` of the attributes) into its layer, its faces into
    ``building_surfaces``."""
    for column, values in made.attributes.items():
        buildings[column] = values.to_numpy()
    ids = buildings["building_id"].to_numpy()
    attributes = {"building_id": ids, "lod": lod} | {
        c: made.attributes[c].to_numpy() for c in columns
    }
    solids[LOD_LAYERS[lod]] = feature_table(pd.DataFrame(attributes), made.solids)
    faces = _surfaces(ids, made.faces, made.owner, made.semantic, lod)
    solids["building_surfaces"] = _concat([solids["building_surfaces"], faces])


def _surfaces(
    ids: np.ndarray,
    faces: np.ndarray,
    owner: np.ndarray,
    semantic: np.ndarray,
    lod: str,
) -> pa.Table:
    """The ``building_surfaces`` rows of one LoD's faces (of the buildings ``ids``), with
    area, slope and azimuth."""
    area, slope, azimuth = surface_metrics(faces)
    names = np.array([s.name for s in Semantic])
    columns = {"building_id": ids[owner], "lod": lod, "semantic": names[semantic]}
    columns |= {"area": area, "slope": slope, "azimuth": azimuth}
    return feature_table(pd.DataFrame(columns), faces)


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
        note(f"{source.path.name}: no vertical CRS; heights taken as {ours.name}")
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
    output: Location,
    config: BuildConfig,
    started: str,
    sources: dict,
    counts: dict,
    methods: dict,
    warnings_: list[str],
    *,
    update: dict[str, int] | None = None,
) -> pd.DataFrame:
    """The run history: the replaced twin's runs and a row for this one (with ``update``,
    what an update measured anew and carried over)."""
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
    if update is not None:
        run["update"] = json.dumps(update)
    return pd.concat([_previous_runs(output), pd.DataFrame([run])], ignore_index=True)


def _previous_runs(output: Location) -> pd.DataFrame:
    """The run history of the twin being replaced (empty when there is none)."""
    try:
        store = open_store(output)
    except StoreError:  # none yet, or not a twin
        return pd.DataFrame()
    if "runs" not in store.layers():
        return pd.DataFrame()
    return store.read_layer("runs")


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
