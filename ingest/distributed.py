"""Builds spread over a Dask cluster: the point statistics in parts of the clouds, the roofs
of LoD1.3 and LoD2.2 in spatial tiles.

A build on LiDAR spends its time in two stages. The point statistics read every point and
sort it to the footprints it counts for; what a point counts for depends on the point alone
(:class:`ingest.lidar.stats.Allot`), so the clouds are cut into parts of consecutive points
(:func:`ingest.lidar.read.parts`), each read and allotted by a worker, and the calling process
only gathers the rows. Cutting the points rather than the footprints needs no halo: a ground
point near a footprint reaches it from whatever part it comes, as do tiles that overlap. A
DTM made from the points is binned the same way (:class:`ingest.lidar.terrain.Bins`).

The reconstruction of roofs (tens of milliseconds a building: planes, partitions, solids)
needs nothing of a building but its footprint, its heights and its own roof points, so the
buildings are split into square tiles of ``tile_size`` m (each building in the tile holding
the centre of its bounds) and each tile is reconstructed by a Dask worker; the results are
put back in building order, faces grouped by building as one process makes them. The tree
detection runs on the cluster at the same time, as one task (it looks at all the vegetation
points at once). The twin is therefore the same, byte for byte, as a build in one process
(``tests/ingest/test_distributed.py`` compares the layers). The other stages (reading the
footprints and rasters, heights, LoD1.2 blocks, the write) stay
in the calling process.

On one machine the parts gain little: reading a cloud in one process already takes two
cores, one decoding while the other sorts. They spread the reading of a city's clouds over
the machines of a cluster.

The cluster is a :class:`distributed.LocalCluster` of ``workers`` processes on this machine,
or an existing scheduler (``tcp://host:8786``) whose workers import this ``twin`` and read the
sources, and the twin's folder (where a DTM made from the points is kept while building), at
the same paths: a shared folder.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray
from tqdm import tqdm

from ingest.config import TILE_SIZE, BuildConfig
from ingest.lidar.read import PartWork, PointCloud, parts
from ingest.lidar.stats import PointStats
from ingest.reconstruct import lod13
from ingest.reconstruct.lod22 import reconstruct
from ingest.reconstruct.solids import Solids
from twin.errors import ConfigError
from twin.terrain import Terrain

#: glibc's malloc thresholds for the workers: 32 MiB, the value up to which glibc's own
#: dynamic mmap threshold grows (``DEFAULT_MMAP_THRESHOLD_MAX`` on 64-bit, mallopt(3)). Dask's
#: nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` before a worker starts, and setting any of these
#: switches that dynamic threshold off (mallopt(3), M_MMAP_THRESHOLD): every array over
#: 128 KiB is then mapped and unmapped anew, which slowed the roofs' many mid-sized arrays
#: far down in a worker. They must be set before a worker process starts.
WORKER_MALLOC = {"MALLOC_TRIM_THRESHOLD_": "33554432", "MALLOC_MMAP_THRESHOLD_": "33554432"}

T = TypeVar("T")

#: chunks of points a worker reads and allots in one task: large enough that the task's
#: fixed costs (opening the file, seeking, sending the rows) stay small beside its work,
#: small enough to share a cloud of a few tens of millions of points among the workers
PART_CHUNKS = 2


def by_parts(
    client,
    work: PartWork[T],
    clouds: Sequence[PointCloud],
    size: int,
    /,
    *,
    progress: bool = True,
) -> Iterator[T]:
    """What ``work`` makes of every part of ``clouds`` (:meth:`PartWork.part`, ``size``
    points read at a time), the parts done on the cluster of ``client`` (a
    :class:`distributed.Client`); each part's result as it comes, in no set order.

    ``work`` is sent to each worker once. The progress bar counts the parts as the
    scheduler reports them done.
    """
    from distributed import as_completed

    cut = parts(clouds, size=PART_CHUNKS * size)
    # handed to the cluster as a task's result, not scattered: a scattered value lost with
    # its worker is lost for good, and Dask's memory manager keeps one copy of it only; a
    # task's result the scheduler makes again
    shared = client.submit(_itself, work, pure=False)
    futures = [
        client.submit(_part, shared, clouds[i], points, size, pure=False) for i, points in cut
    ]
    name = type(work).__name__.lower()
    with tqdm(total=len(cut), disable=not progress, leave=False, desc=f"lidar: {name}") as bar:
        try:
            for future in as_completed(futures):
                yield future.result()
                future.release()  # its result is the caller's now
                bar.update()
        finally:  # the caller stopped early, or a part failed: the others are dropped
            client.cancel(futures)
            client.cancel(shared)


def _itself(value: T) -> T:
    """``value``, as the result of a task."""
    return value


def _part(work: PartWork[T], cloud: PointCloud, points: range, size: int) -> T:
    """One part's result, on a worker."""
    return work.part(cloud, points, size=size)


def tiles(geoms: NDArray[np.object_], size: float, /) -> list[NDArray[np.intp]]:
    """The buildings of each tile of a ``size`` m grid, by the centre of their bounds.

    Tiles come row by row from the grid's lower left corner, the buildings of a tile in
    ascending order; buildings without a geometry form a tile of their own, last.

    Examples
    --------
    >>> geoms = np.array([shapely.box(0, 0, 1, 1), shapely.box(300, 0, 301, 1), None])
    >>> [t.tolist() for t in tiles(geoms, 250.0)]
    [[0], [1], [2]]
    """
    bounds = shapely.bounds(geoms)
    cx, cy = (bounds[:, 0] + bounds[:, 2]) / 2.0, (bounds[:, 1] + bounds[:, 3]) / 2.0
    known = np.isfinite(cx) & np.isfinite(cy)
    key = np.full(len(geoms), -1, dtype=np.int64)
    if known.any():
        col = np.floor((cx[known] - cx[known].min()) / size).astype(np.int64)
        row = np.floor((cy[known] - cy[known].min()) / size).astype(np.int64)
        key[known] = row * (int(col.max()) + 1) + col
    key[~known] = key.max() + 1  # buildings without a geometry: one tile, last
    order = np.argsort(key, kind="stable")
    cuts = np.flatnonzero(np.diff(key[order])) + 1
    return np.split(order.astype(np.intp), cuts)


def roof_solids(
    geoms: NDArray[np.object_],
    stats: PointStats,
    /,
    *,
    ground_z: NDArray[np.float64],
    lod1_z: NDArray[np.float64],
    config: BuildConfig,
    terrain: Terrain | None,
) -> tuple[Solids, Solids]:
    """The LoD1.3 and LoD2.2 solids of buildings from their point statistics (on sloped bases
    with a ``terrain``)."""
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
    lod22 = reconstruct(
        geoms, stats, ground_z=ground_z, lod1_z=lod1_z, lod13=split, terrain=terrain
    )
    return split, lod22


def _tile_roofs(
    geoms: NDArray[np.object_],
    stats: PointStats,
    ground_z: NDArray[np.float64],
    lod1_z: NDArray[np.float64],
    config: BuildConfig,
    terrain: tuple[Path, pyproj.CRS] | None,
) -> tuple[Solids, Solids]:
    """One tile's roofs, on a worker: the terrain opened there from its path and CRS."""
    base = contextlib.nullcontext()
    if terrain is not None:
        base = Terrain.from_raster(terrain[0], crs=terrain[1]).opened()
    with base as under:
        return roof_solids(
            geoms, stats, ground_z=ground_z, lod1_z=lod1_z, config=config, terrain=under
        )


def roof_solids_tiled(
    client,
    geoms: NDArray[np.object_],
    stats: PointStats,
    /,
    *,
    ground_z: NDArray[np.float64],
    lod1_z: NDArray[np.float64],
    config: BuildConfig,
    terrain: Terrain | None,
    tile_size: float = TILE_SIZE,
    progress: bool = True,
) -> tuple[Solids, Solids]:
    """:func:`roof_solids` of every building, tile by tile on the cluster of ``client`` (a
    :class:`distributed.Client`); the same solids, in the same order.

    ``terrain`` is the terrain for sloped bases (``None``: flat bases), opened by each worker
    from its file. The progress bar counts the tiles as the scheduler reports them done.
    """
    from distributed import as_completed

    parts = tiles(geoms, tile_size)
    where = None if terrain is None else (terrain.path, terrain.crs)
    futures = {
        client.submit(
            _tile_roofs,
            geoms[index],
            stats.take(index),
            ground_z[index],
            lod1_z[index],
            config,
            where,
            pure=False,
        ): i
        for i, index in enumerate(parts)
    }
    done: dict[int, tuple[Solids, Solids]] = {}
    bar = tqdm(total=len(parts), disable=not progress, leave=False, desc="roofs: tiles")
    for future in as_completed(futures):
        done[futures[future]] = future.result()
        bar.update()
    bar.close()
    n = len(geoms)
    lod13_parts = [done[i][0] for i in range(len(parts))]
    lod22_parts = [done[i][1] for i in range(len(parts))]
    return Solids.gather(lod13_parts, parts, n), Solids.gather(lod22_parts, parts, n)


@contextlib.contextmanager
def cluster(*, scheduler: str | None = None, workers: int | None = None) -> Iterator:
    """A :class:`distributed.Client` of the scheduler at ``scheduler``, or of a local cluster
    of ``workers`` processes (one thread each) made for the block and closed after it.

    Raises
    ------
    ConfigError
        When the scheduler cannot be reached, or neither or both are given.
    """
    try:
        import dask
        from distributed import Client, LocalCluster
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "a build on a cluster needs Dask: pip install 'twin[dask]' (dask, distributed)"
        ) from exc
    if (scheduler is None) == (workers is None):
        raise ConfigError("give a scheduler address or a number of workers, not both")
    # the footprints of a city are sent once as a task of some hundred MB (:func:`by_parts`),
    # by design: not a mistake for Dask to warn the user of
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "4GB"}):
        if scheduler is not None:
            try:
                client = Client(scheduler, timeout="10s")
            except OSError as exc:
                message = f"cannot reach the Dask scheduler at {scheduler}: {exc}"
                raise ConfigError(message) from exc
            with client:
                yield client
            return
        spawn = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_MALLOC.items()}
        with (
            dask.config.set(spawn),  # set before each worker process starts, as glibc reads them
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # any free port: never in the way of another cluster
                silence_logs=logging.ERROR,
            ) as local,
            Client(local) as client,
        ):
            yield client
