"""``twin build --update``: a changed cadastre measured building by building, as a process.

The reference is always a full build of the same sources: an update must write the same
twin, row for row and bit for bit, having measured only the buildings whose record changed
and their neighbours.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import laspy
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import rasterio.shutil
import shapely

from ingest.config import BuildConfig
from ingest.pipeline import build
from tests.conftest import twin_cli
from twin.store import open_store
from twin.terrain import Terrain


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> Path:
    """A sample district of 120 buildings with LiDAR, survey points and tree inventory; do
    not modify."""
    from ingest.synthetic import generate_district

    out = tmp_path_factory.mktemp("update") / "sources"
    generate_district(out, buildings=120, seed=11, lidar=True, ortho=False)
    return out


def edited(district: Path, to: Path, eave: shapely.Point) -> dict[str, list[str]]:
    """A copy of ``district`` whose cadastre lost two buildings, had one footprint shrunk,
    one attribute changed and a new building put beside the surveyed ``eave`` point of
    another; the ids of the buildings removed and changed."""
    shutil.copytree(district, to)
    path = to / "cadastre.gpkg"
    b = gpd.read_file(path, layer="buildings")
    removed = list(b["building_id"].iloc[[3, 50]])
    changed = list(b["building_id"].iloc[[10, 20]])
    b.loc[10, "geometry"] = shapely.affinity.scale(b.geometry.iloc[10], 0.9, 0.9)
    b.loc[20, "use"] = "changed use"
    # the new building wraps round the eave point 0.1 m off every other footprint: within
    # [lod1] survey_snap (0.2 m) of both, the point then belongs to neither (docs/build.md)
    others = shapely.union_all(b.geometry.buffer(0.1).to_numpy())
    parts = shapely.get_parts(shapely.difference(eave.buffer(6.0), others))
    new = b.iloc[[0]].copy()
    new["building_id"] = "NEW-1"
    new["geometry"] = [parts[np.argmin(shapely.distance(parts, eave))]]
    b = b.drop(index=[3, 50])
    b = gpd.GeoDataFrame(pd.concat([b, new], ignore_index=True), crs=b.crs)
    pyogrio.write_dataframe(b, path, layer="buildings")
    return {"removed": removed, "changed": changed}


def same_twins(a: str | Path, b: str | Path) -> None:
    """Every layer but the run record, and the metadata, the same in both twins: values
    exactly, geometries as the same WKB."""
    one, other = open_store(a), open_store(b)
    assert list(one.layers()) == list(other.layers())
    for name in one.layers():
        if name == "runs":
            continue
        x, y = one.read_layer(name), other.read_layer(name)
        if "geometry" in x:
            wkb_x, wkb_y = shapely.to_wkb(x.geometry.to_numpy()), shapely.to_wkb(y.geometry)
            assert (wkb_x == np.asarray(wkb_y)).all(), name
            x, y = (
                pd.DataFrame(x.drop(columns="geometry")),
                pd.DataFrame(y.drop(columns="geometry")),
            )
        pd.testing.assert_frame_equal(x, y, check_exact=True, obj=name)
    assert one.metadata() == other.metadata()
    with rasterio.open(one.terrain_path()) as x, rasterio.open(other.terrain_path()) as y:
        assert {**x.profile, "nodata": None} == {**y.profile, "nodata": None}
        assert np.array_equal([x.nodata], [y.nodata], equal_nan=True)
        assert np.array_equal(x.read(1), y.read(1), equal_nan=True)


def test_a_terrain_that_is_a_cog_already_is_copied_byte_for_byte(district, tmp_path):
    # a COG of 256-pixel blocks (GDAL's COG driver writes 512 by default): a copy keeps
    # them, an encoding anew would not
    cog = tmp_path / "dtm-cog.tif"
    with rasterio.open(district / "dtm.tif") as src:
        rasterio.shutil.copy(
            src, cog, driver="COG", COMPRESS="DEFLATE", PREDICTOR="FLOATING_POINT", BLOCKSIZE=256
        )
    copied = Terrain.from_raster(cog).write_cog(tmp_path / "twin.dtm.tif")
    assert copied.path.read_bytes() == cog.read_bytes()
    with rasterio.open(copied.path) as out:
        assert out.block_shapes == [(256, 256)]

    # a plain GeoTIFF becomes a COG of the same cells
    made = Terrain.from_raster(district / "dtm.tif").write_cog(tmp_path / "made.tif")
    with rasterio.open(made.path) as out, rasterio.open(district / "dtm.tif") as given:
        assert out.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert out.block_shapes == [(512, 512)]
        assert np.array_equal(out.read(1), given.read(1), equal_nan=True)


def an_eave_point(twin: str | Path) -> tuple[str, shapely.Point]:
    """A building of ``twin`` with surveyed eave points, and one of them."""
    points = open_store(twin).read_layer("survey_points")
    eaves = points[(points["meaning"] == "eave") & points["building_id"].notna()]
    return eaves["building_id"].iloc[0], eaves.geometry.iloc[0]


@pytest.fixture(scope="module")
def built(district, tmp_path_factory) -> Path:
    """The district's twin, its files alone in a folder; do not modify (:func:`copied`)."""
    out = tmp_path_factory.mktemp("built") / "city.gpkg"
    build(BuildConfig.load(district), out, progress=False)
    return out


def copied(twin: Path, to: str | Path) -> str | Path:
    """The twin ``twin`` copied to ``to``: its files beside a GeoPackage, ``twin copy``
    into a database."""
    if isinstance(to, str):
        done = twin_cli("copy", twin, to)
        assert done.returncode == 0, done.stderr
        return to
    for path in twin.parent.iterdir():
        if path.is_file():
            shutil.copy(path, to.parent / path.name)
    return to


@pytest.fixture(scope="module")
def change(district, built, tmp_path_factory) -> dict:
    """The district edited beside an eave point of its twin (:func:`edited`), and what a
    full build of the edited sources writes (``full``)."""
    host, eave = an_eave_point(built)
    folder = tmp_path_factory.mktemp("change")
    done = edited(district, folder / "edited", eave)
    build(BuildConfig.load(folder / "edited"), folder / "full.gpkg", progress=False)
    return {
        **done,
        "sources": folder / "edited",
        "full": folder / "full.gpkg",
        "host": host,
        "eave": eave,
    }


def test_an_update_writes_what_a_full_build_does(built, change, new_twin):
    twin = copied(built, new_twin)
    run = twin_cli("build", change["sources"], "-o", twin, "--update", "-q")
    assert run.returncode == 0, run.stderr
    assert "update: 1 added, 2 changed, 2 removed;" in run.stdout

    same_twins(twin, change["full"])
    store = open_store(twin)
    runs = store.read_layer("runs")
    assert len(runs) == 2
    update = json.loads(runs["update"].iloc[-1])
    assert (update["added"], update["changed"], update["removed"]) == (1, 2, 2)
    # measured: the new and the two changed buildings, the eave point's building beside
    # the new one, and any other neighbour of a change; the rest of the 119 carried over
    assert 4 <= update["measured"] < 20
    assert update["measured"] + update["carried_over"] == 119
    buildings = store.read_layer("buildings", geometry=False)
    assert not set(change["removed"]) & set(buildings["building_id"])
    points = store.read_layer("survey_points")
    assert points.loc[points.geometry.distance(change["eave"]) == 0, "building_id"].isna().all()
    assert change["host"] in set(buildings["building_id"])
    if isinstance(twin, str):  # PostGIS keeps the versions the update replaced
        history = store.history()
        assert set(change["changed"]) | set(change["removed"]) <= set(history["building_id"])
        assert history["valid_to"].notna().all()


def test_an_update_of_unchanged_sources_writes_nothing(district, built, tmp_path):
    out = copied(built, tmp_path / built.name)
    before = out.read_bytes()
    run = twin_cli("build", district, "-o", out, "--update", "-q")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"{out}: up to date, no source changed since its build of")
    assert out.read_bytes() == before


def test_an_update_after_a_raster_changed_measures_every_building(district, built, tmp_path):
    out = copied(built, tmp_path / built.name)
    sources = tmp_path / "edited"
    shutil.copytree(district, sources)
    with rasterio.open(sources / "dsm.tif", "r+") as dsm:
        dsm.write(dsm.read(1) + 0.5, 1)  # a new flight: every roof 0.5 m higher

    run = twin_cli("build", sources, "-o", out, "--update", "-q")
    assert run.returncode == 0, run.stderr
    assert "update:" not in run.stdout
    last = open_store(out).read_layer("runs").iloc[-1]
    assert "--update: the dsm source changed: every building measured anew" in json.loads(
        last["warnings"]
    )
    full = tmp_path / "full.gpkg"
    build(BuildConfig.load(sources), full, progress=False)
    same_twins(out, full)


def test_an_update_without_a_twin_builds_one(district, tmp_path):
    out = tmp_path / "city.gpkg"
    run = twin_cli("build", district, "-o", out, "--update", "-q")
    assert run.returncode == 0, run.stderr
    warnings = json.loads(open_store(out).read_layer("runs")["warnings"].iloc[-1])
    assert f"--update: {out} holds no twin built from sources yet: built whole" in warnings


def test_an_update_measures_all_when_the_terrain_made_from_the_points_changed(district, tmp_path):
    """A point cloud without ground class: the terrain made from its lowest points leaves
    the footprints out (docs/lidar.md), so a changed footprint changes the terrain, and every
    building is measured anew."""
    unclassified = tmp_path / "unclassified"
    shutil.copytree(district, unclassified)
    cloud = laspy.read(unclassified / "lidar.laz")
    cloud.classification = np.ones(len(cloud.points), dtype=np.uint8)
    cloud.write(unclassified / "lidar.laz")
    config = (unclassified / "twin.toml").read_text()
    (unclassified / "twin.toml").write_text(config.replace('[sources.dtm]\npath = "dtm.tif"\n', ""))
    out = tmp_path / "city.gpkg"
    build(BuildConfig.load(unclassified), out, progress=False)
    _, eave = an_eave_point(out)
    edited(unclassified, tmp_path / "edited", eave)

    run = twin_cli("build", tmp_path / "edited", "-o", out, "--update", "-q")
    assert run.returncode == 0, run.stderr
    warnings = json.loads(open_store(out).read_layer("runs")["warnings"].iloc[-1])
    assert (
        "--update: the terrain made from the LiDAR points changed: every building measured anew"
        in warnings
    )
    full = tmp_path / "full.gpkg"
    build(BuildConfig.load(tmp_path / "edited"), full, progress=False)
    same_twins(out, full)


@pytest.fixture(scope="module")
def tiled(district, tmp_path_factory) -> dict:
    """The district with its point cloud cut into four tiles (a folder of LAZ files, as a
    city delivers a flight), and its twin (``twin``); do not modify."""
    sources = tmp_path_factory.mktemp("tiled") / "sources"
    shutil.copytree(district, sources, ignore=shutil.ignore_patterns("lidar.laz"))
    cloud = laspy.read(district / "lidar.laz")
    x, y = np.asarray(cloud.x), np.asarray(cloud.y)
    mid_x, mid_y = np.median(x), np.median(y)
    (sources / "lidar").mkdir()
    for name, inside in {
        "sw.laz": (x < mid_x) & (y < mid_y),
        "se.laz": (x >= mid_x) & (y < mid_y),
        "nw.laz": (x < mid_x) & (y >= mid_y),
        "ne.laz": (x >= mid_x) & (y >= mid_y),
    }.items():
        tile = laspy.LasData(cloud.header)
        tile.points = cloud.points[inside]
        tile.write(sources / "lidar" / name)
    config = (sources / "twin.toml").read_text()
    assert '[sources.lidar]\npath = "lidar.laz"' in config
    (sources / "twin.toml").write_text(config.replace('path = "lidar.laz"', 'path = "lidar"'))
    twin = tmp_path_factory.mktemp("tiled-twin") / "city.gpkg"
    build(BuildConfig.load(sources), twin, progress=False)
    return {"sources": sources, "twin": twin}


def test_an_update_after_a_point_cloud_tile_changed_measures_the_buildings_near_it(tiled, tmp_path):
    """One tile of four flown again, its roofs 1 m higher (as many points): the buildings
    within the ground points' reach (4 m) of that tile's extent, before or after, are
    measured anew, the others carried over; the twin is the one a full build writes."""
    sources = tmp_path / "sources"
    shutil.copytree(tiled["sources"], sources)
    tile = laspy.read(sources / "lidar" / "ne.laz")
    roof = np.asarray(tile.classification) == 6
    z = np.asarray(tile.z)
    z[roof] += 1.0
    tile.z = z
    tile.write(sources / "lidar" / "ne.laz")
    with laspy.open(sources / "lidar" / "ne.laz") as f:
        extent = shapely.box(*f.header.mins[:2], *f.header.maxs[:2])
    footprints = open_store(tiled["twin"]).read_layer("buildings").geometry.to_numpy()
    near = int(shapely.dwithin(footprints, extent, 4.0).sum())  # old and new extents agree
    assert 10 < near < 100  # a quarter of the district and its edge

    out = copied(tiled["twin"], tmp_path / "city.gpkg")
    run = twin_cli("build", sources, "-o", out, "--update", "-q")
    assert run.returncode == 0, run.stderr
    assert (
        f"update: 0 added, 0 changed, 0 removed, {near} near point-cloud files that changed; "
        f"{near} measured anew, {120 - near} carried over"
    ) in run.stdout
    full = tmp_path / "full.gpkg"
    build(BuildConfig.load(sources), full, progress=False)
    same_twins(out, full)
    lod22 = open_store(out).read_layer("buildings", geometry=False)
    before = open_store(tiled["twin"]).read_layer("buildings", geometry=False)
    raised = lod22["roof_z_p98"] - before["roof_z_p98"]
    inside = shapely.within(shapely.centroid(footprints), extent)
    assert np.allclose(raised[inside & (before["roof_points"] > 50)], 1.0, atol=0.05)
    assert (raised[~shapely.dwithin(footprints, extent, 4.0)] == 0).all()


def test_an_update_measures_all_when_a_tile_changes_the_point_density(tiled, tmp_path):
    """A tile thinned to half its points changes the clouds' density, and with it the
    default no-data cell of every building (2 / sqrt(points per m²), docs/lidar.md): every
    building is measured anew, and the run record says why."""
    sources = tmp_path / "sources"
    shutil.copytree(tiled["sources"], sources)
    tile = laspy.read(sources / "lidar" / "sw.laz")
    tile.points = tile.points[np.arange(len(tile.points)) % 2 == 0]
    tile.write(sources / "lidar" / "sw.laz")
    counts, boxes = {}, []
    for path in (sources / "lidar").iterdir():
        with laspy.open(path) as f:
            counts[path.name] = f.header.point_count
            boxes.append([*f.header.mins[:2], *f.header.maxs[:2]])
    b = np.array(boxes)
    area = (b[:, 2].max() - b[:, 0].min()) * (b[:, 3].max() - b[:, 1].min())
    now = sum(counts.values())
    before = 2.0 / np.sqrt((now + counts["sw.laz"]) / area)  # sw.laz had twice its points
    after = 2.0 / np.sqrt(now / area)
    assert 0.5 < before < after

    out = copied(tiled["twin"], tmp_path / "city.gpkg")
    run = twin_cli("build", sources, "-o", out, "--update", "-q")
    assert run.returncode == 0, run.stderr
    assert "update:" not in run.stdout
    warnings = json.loads(open_store(out).read_layer("runs")["warnings"].iloc[-1])
    assert (
        f"--update: the point density of the lidar source changed its no-data cell from "
        f"{before:.4g} to {after:.4g} m (a [lidar] nodata_cell keeps it): every building "
        "measured anew"
    ) in warnings
