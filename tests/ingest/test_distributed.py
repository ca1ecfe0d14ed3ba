"""Builds on a Dask cluster (ingest/distributed.py): the points measured part by part and the
roofs reconstructed in tiles give the twin of a build in one process, byte for byte, on a
local cluster (also with a DTM made from the points), on a running scheduler with its own
workers (one of them killed mid-build), and with sloped bases; the point statistics and DTM
of a real cloud (Autzen) made part by part are those made in one process; the tiles, the
slices of the point statistics and the gathering of the solids checked by hand."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import rasterio
import shapely

from ingest.config import BuildConfig
from ingest.distributed import WORKER_MALLOC, by_parts, cluster, tiles
from ingest.lidar.read import PointCloud, parts
from ingest.lidar.stats import PointStats, point_stats
from ingest.lidar.terrain import dtm_from_points
from ingest.reconstruct.solids import Solids
from ingest.zonal import ZonalStats
from tests.conftest import DATA, ROOT, twin_cli


def _digests(twin: Path) -> dict[str, str]:
    """SHA-256 of every layer's Arrow table (its columns, values and WKB geometries), but the
    run record and the metadata (which hold the time of the build)."""
    out = {}
    for name, _ in pyogrio.list_layers(twin):
        if name in ("runs", "twin_metadata"):
            continue
        _, table = pyogrio.read_arrow(twin, layer=str(name))
        digest = hashlib.sha256()
        for column in table.columns:
            for chunk in column.chunks:
                for buffer in chunk.buffers():
                    if buffer is not None:
                        digest.update(buffer.to_pybytes())
        out[str(name)] = digest.hexdigest()
    return out


@pytest.fixture(scope="module")
def lidar_sources(tmp_path_factory) -> Path:
    """80 buildings with a point cloud (8 with a tower: LoD1.3 parts), about 300 x 250 m."""
    from ingest.synthetic import generate_district

    out = tmp_path_factory.mktemp("dask") / "sources"
    generate_district(out, buildings=80, seed=5, lidar=True, ortho=False, stepped=8)
    return out


@pytest.fixture(scope="module")
def single(lidar_sources, tmp_path_factory) -> Path:
    """The twin of a build in one process."""
    from ingest.pipeline import build

    out = tmp_path_factory.mktemp("single") / "city.gpkg"
    build(BuildConfig.load(lidar_sources), out, progress=False)
    return out


# -- the pieces, by hand --------------------------------------------------------------------


def test_tiles_take_each_building_by_the_centre_of_its_bounds():
    geoms = np.array(
        [
            shapely.box(0, 0, 10, 10),  # centre (5, 5): tile (0, 0)
            shapely.box(95, 0, 110, 10),  # centre (102.5, 5): 97.5 m from the first centre
            shapely.box(0, 120, 10, 130),  # centre (5, 125): row 1
            None,  # no geometry: a tile of its own, last
            shapely.box(2, 2, 4, 4),  # centre (3, 3): the grid starts at the lowest centre
        ],
        dtype=object,
    )
    # grid of 100 m from (3, 3): columns floor((x - 3) / 100), rows floor((y - 3) / 100)
    # (5, 5) -> (0, 0); (102.5, 5) -> col 0 (99.5 / 100); (5, 125) -> row 1; (3, 3) -> (0, 0)
    assert [t.tolist() for t in tiles(geoms, 100.0)] == [[0, 1, 4], [2], [3]]
    # 50 m: (102.5 - 3) / 50 = 1.99 -> column 1, so the second building moves to a tile of
    # its own; row 1 of (5, 125) is floor(122 / 50) = 2
    assert [t.tolist() for t in tiles(geoms, 50.0)] == [[0, 4], [1], [2], [3]]


def test_point_statistics_are_sliced_with_their_roof_points():
    zonal = ZonalStats(
        count=np.array([2, 0, 3]),
        nodata=np.zeros(3, dtype=np.int64),
        percentiles={50.0: np.array([1.0, np.nan, 3.0])},
        centre=np.array([1.0, np.nan, 3.0]),
        s1=np.zeros(3),
        s2=np.zeros(3),
    )
    xyz = np.arange(15, dtype=float).reshape(5, 3)  # rows 0-1: building 0, rows 2-4: building 2
    stats = PointStats(
        ground=np.array([10.0, 11.0, 12.0]),
        ground_points=np.array([4, 5, 6]),
        roof=zonal,
        roof_source=np.array(["class 6", None, "class 6"], dtype=object),
        density=np.array([0.5, np.nan, 0.75]),
        nodata_fraction=np.array([0.1, 1.0, 0.2]),
        nodata_radius=np.array([1.0, np.nan, 2.0]),
        cell=0.5,
        roof_xyz=xyz,
        roof_start=np.array([0, 2, 2, 5]),
    )
    part = stats.take(np.array([2, 1]))
    assert part.ground.tolist() == [12.0, 11.0]
    assert part.roof.count.tolist() == [3, 0]
    np.testing.assert_array_equal(part.roof_xyz, xyz[2:5])  # building 2's points, then none
    assert part.roof_start.tolist() == [0, 3, 3]
    assert part.cell == 0.5


def test_solids_are_gathered_back_in_building_order():
    def part(names: list[str], faces: list[int]) -> Solids:
        return Solids(
            solids=np.array(names, dtype=object),
            faces=np.array([f"face{f}" for f in faces], dtype=object),
            owner=np.array([f // 10 for f in faces], dtype=np.intp),  # face 10 is of building 1
            semantic=np.array(faces, dtype=np.int8) % 3,
            attributes=pd.DataFrame({"name": names}),
        )

    # tile A holds buildings 2 and 0, tile B building 1; faces numbered owner * 10 + k
    a = part(["s2", "s0"], [0, 1, 10])  # owners 0, 0, 1 of the tile: buildings 2, 2, 0
    b = part(["s1"], [0, 1])  # building 1
    gathered = Solids.gather([a, b], [np.array([2, 0]), np.array([1])], 3)
    assert gathered.solids.tolist() == ["s0", "s1", "s2"]
    assert gathered.attributes["name"].tolist() == ["s0", "s1", "s2"]
    assert gathered.owner.tolist() == [0, 1, 1, 2, 2]
    assert gathered.faces.tolist() == ["face10", "face0", "face1", "face0", "face1"]
    with pytest.raises(ValueError, match="every building exactly once"):
        Solids.gather([a], [np.array([2, 0])], 3)


def _assert_same_stats(got: PointStats, want: PointStats) -> None:
    for field in dataclasses.fields(PointStats):
        a, b = getattr(got, field.name), getattr(want, field.name)
        if field.name == "roof":
            assert a.percentiles.keys() == b.percentiles.keys()
            for q in b.percentiles:
                np.testing.assert_array_equal(a.percentiles[q], b.percentiles[q], err_msg=q)
            for name in ("count", "nodata", "centre", "s1", "s2"):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        else:
            np.testing.assert_array_equal(a, b, err_msg=field.name)


def test_a_real_cloud_measured_part_by_part_on_a_cluster(tmp_path):
    """Autzen (110,000 points in feet, moved from its own CRS into UTM 10N on the workers; no
    building class, so the roofs are the points 2 m over the DTM): the DTM made from it and
    the statistics of 24 squares over it, made in parts of 2 x 9,999 points on two workers,
    are those made in one process, to the bit."""
    utm = pyproj.CRS("EPSG:26910")
    clouds = [PointCloud.open(DATA / "autzen" / "autzen_trim.laz", utm)]
    assert len(parts(clouds, size=2 * 9_999)) == 6
    x0, y0, x1, y1 = clouds[0].bounds
    xs, ys = np.meshgrid(np.linspace(x0, x1, 8)[1:-1], np.linspace(y0, y1, 6)[1:-1])
    squares = shapely.buffer(shapely.points(xs.ravel(), ys.ravel()), 30.0, cap_style="square")
    one = dtm_from_points(clouds, tmp_path / "one.tif", utm, resolution=2.0)
    want = point_stats(clouds, squares, dtm=one)
    with cluster(workers=2) as client:
        on = functools.partial(by_parts, client, progress=False)
        two = dtm_from_points(
            clouds, tmp_path / "two.tif", utm, resolution=2.0, chunk_size=9_999, cluster=on
        )
        got = point_stats(clouds, squares, dtm=one, chunk_size=9_999, cluster=on)
    np.testing.assert_array_equal(two.read(), one.read())
    assert two.transform == one.transform
    # not empty: most squares hold points 2 m over the terrain, all hold ground points
    assert (want.roof.count > 0).sum() > len(squares) // 2 and want.ground_points.all()
    _assert_same_stats(got, want)


# -- whole builds ---------------------------------------------------------------------------


def test_a_build_on_a_local_cluster_is_the_single_process_build(lidar_sources, single, tmp_path):
    footprints = pyogrio.read_dataframe(single, layer="buildings").geometry.to_numpy()
    assert len(tiles(footprints, 60.0)) >= 8  # many tiles, buildings near every edge
    out = tmp_path / "city.gpkg"
    done = twin_cli(
        "build", str(lidar_sources), "-o", str(out), "--workers", "2", "--tile-size", "60"
    )
    assert done.returncode == 0, done.stderr
    assert _digests(out) == _digests(single)
    assert pyogrio.read_info(out, layer="lod22")["features"] == 80


def test_a_dtm_made_from_the_points_on_a_cluster(lidar_sources, tmp_path):
    """Without a DTM, the terrain made from the points in parts (of 2 x 30,001 points, about
    seven parts) on the cluster: the twin, its terrain too, is the single-process build's."""
    from ingest.pipeline import build
    from twin.store import open_store

    config = BuildConfig.load(lidar_sources)
    without = {k: v for k, v in config.sources.items() if k != "dtm"}
    config = dataclasses.replace(config, sources=without)
    build(config, tmp_path / "one.gpkg", progress=False)
    small = dataclasses.replace(config.lidar, chunk_size=30_001)
    config = dataclasses.replace(config, lidar=small)
    build(config, tmp_path / "two.gpkg", progress=False, workers=2)
    assert _digests(tmp_path / "two.gpkg") == _digests(tmp_path / "one.gpkg")
    terrains = [open_store(tmp_path / f).terrain_path() for f in ("one.gpkg", "two.gpkg")]
    with rasterio.open(terrains[0]) as want, rasterio.open(terrains[1]) as got:
        np.testing.assert_array_equal(got.read(), want.read())
        assert got.transform == want.transform


def test_sloped_bases_on_a_cluster(lidar_sources, tmp_path):
    from ingest.pipeline import build

    config = BuildConfig.load(lidar_sources)
    config = dataclasses.replace(config, lod1=dataclasses.replace(config.lod1, base="sloped"))
    build(config, tmp_path / "one.gpkg", progress=False)
    build(config, tmp_path / "two.gpkg", progress=False, workers=2, tile_size=80.0)
    assert _digests(tmp_path / "two.gpkg") == _digests(tmp_path / "one.gpkg")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args: str) -> subprocess.Popen:
    """A ``dask`` command (scheduler or worker) in the background, with the test's Python."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **WORKER_MALLOC}
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("dask")), *args],  # the venv's dask command
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_build_on_a_running_scheduler_survives_a_killed_worker(lidar_sources, single, tmp_path):
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
    workers = [
        _dask("worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard")
        for _ in range(2)
    ]
    processes = [scheduler, *workers]
    out = tmp_path / "city.gpkg"
    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
            command = [sys.executable, "-m", "twin.cli", "build", str(lidar_sources)]
            command += ["-o", str(out), "--scheduler", address, "--tile-size", "40", "-q"]
            with subprocess.Popen(
                command,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ) as build:
                # once a worker holds a tile's task, kill it: the scheduler hands its tasks on
                victim = None
                deadline = time.monotonic() + 300
                while victim is None and build.poll() is None and time.monotonic() < deadline:
                    busy = [w for w, tasks in client.processing().items() if tasks]
                    if busy:
                        victim = client.run(os.getpid, workers=busy[:1])[busy[0]]
                    time.sleep(0.05)
                assert victim in [w.pid for w in workers], "no worker ever held a task"
                os.kill(victim, signal.SIGKILL)
                _, err = build.communicate(timeout=600)
            assert build.returncode == 0, err
    finally:
        for p in processes:
            p.kill()
            p.wait(timeout=30)
    assert _digests(out) == _digests(single)


def test_an_unreachable_scheduler_is_a_clear_error(lidar_sources, tmp_path):
    out = tmp_path / "city.gpkg"
    port = _free_port()  # nothing listens there
    done = twin_cli(
        "build", str(lidar_sources), "-o", str(out), "--scheduler", f"tcp://127.0.0.1:{port}"
    )
    assert done.returncode != 0
    assert "cannot reach the Dask scheduler" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
    both = twin_cli(
        "build", str(lidar_sources), "-o", str(out), "--workers", "2", "--scheduler", "x"
    )
    assert both.returncode == 2 and "exclude each other" in both.stderr
