"""LiDAR ingest: reading LAS/LAZ, terrain from points, per-building heights, in a build."""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
from pathlib import Path

import geopandas as gpd
import laspy
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import shapely

import twin
from ingest.config import BuildConfig
from ingest.lidar.assign import Assigner
from ingest.lidar.read import DROP_SHARE, PointCloud, open_clouds, parts, stream
from ingest.lidar.stats import _on_grid, _row_order, _sort_columns, point_stats
from ingest.lidar.terrain import dtm_from_points
from ingest.pipeline import build
from tests.conftest import DATA, DELFT, sample_config, write_config
from twin.errors import ConfigError, CRSError, InputError

RD_NAP = pyproj.CRS("EPSG:7415")
AUTZEN = DATA / "autzen" / "autzen_trim.laz"


def test_delft_heights_against_3dfier(delft_lidar_twin):
    model = twin.open(delft_lidar_twin)
    b = model.buildings
    ref = pd.read_csv(DELFT / "3dfier_heights.csv").set_index("gml_id").loc[b["building_id"]]
    assert (b["height_method"] == "lidar").sum() >= 155
    assert (b["ground_method"] == "lidar").all()
    # Ground: p5 of ground points within 4 m against 3dfier's p10 of the ground near vertices.
    ground = np.abs(b["ground_z"].to_numpy() - ref["min_height_surface"].to_numpy())
    assert np.median(ground) < 0.03
    # Roof: p90 of the class-6 points inside the footprint against the top of 3dfier's solid
    # (3dfier's own sampling, test_3dfier_sampling_*): measured 0.127 m (median).
    roof = np.abs(b["lod1_z"].to_numpy() - ref["roof_z"].to_numpy())
    assert np.nanmedian(roof) < 0.2
    # Height above ground against 3dfier's measuredHeight, its roof less its ground:
    # measured 0.160 m (median), the roofs' and the grounds' differences together.
    height = np.abs(b["height"].to_numpy() - ref["measuredHeight"].to_numpy())
    assert np.nanmedian(height) < 0.25
    # The terrain made from the ground points covers the area and was kept as the twin's.
    assert model.terrain is not None
    z = model.terrain.sample(np.array([[84900.0, 447500.0]]))
    assert -2.0 < z[0] < 2.0
    for column in ("roof_z_p98", "point_density", "nodata_fraction", "nodata_radius"):
        assert b[column].notna().all(), column
    assert ((b["nodata_fraction"] >= 0) & (b["nodata_fraction"] <= 1)).all()
    assert (b["roof_z_p98"] <= b["roof_z_max"] + 1e-9).all()
    assert (b["point_density"].median() > 5) and (b["point_density"].median() < 20)
    # The two without a height say why.
    none = b[b["height_method"] != "lidar"]
    assert none["height_fallback_reason"].str.contains("LiDAR").all()
    # No scratch terrain is left beside the twin.
    assert sorted(p.name for p in delft_lidar_twin.parent.glob("*.tif")) == ["city.dtm.tif"]


@pytest.mark.parametrize("sampling", ["inside", "3dfier"])
def test_chunk_size_does_not_change_anything(tmp_path, sampling):
    clouds = open_clouds(DELFT / "ahn3", RD_NAP, crs=RD_NAP)
    geoms = gpd.read_file(DELFT / "bgt_pand.sqlite").geometry.to_numpy()
    # 849k points: small chunks are decoded by a reading process, large ones by a thread.
    small = point_stats(clouds, geoms, chunk_size=37_001, sampling=sampling)
    large = point_stats(clouds, geoms, chunk_size=2_000_000, sampling=sampling)
    for name in ("ground", "ground_points", "density", "nodata_fraction", "nodata_radius"):
        np.testing.assert_array_equal(getattr(small, name), getattr(large, name), err_msg=name)
    for q, values in small.roof.percentiles.items():
        np.testing.assert_array_equal(values, large.roof.percentiles[q])
    np.testing.assert_array_equal(small.roof.s2, large.roof.s2)
    np.testing.assert_array_equal(small.roof_xyz, large.roof_xyz)
    a = dtm_from_points(clouds, tmp_path / "a.tif", RD_NAP, chunk_size=50_000)
    b = dtm_from_points(clouds, tmp_path / "b.tif", RD_NAP, chunk_size=5_000_000)
    np.testing.assert_array_equal(a.read(), b.read())


def test_tiling_does_not_change_anything(tmp_path):
    """The Delft points cut into three other tiles, given in reverse order: same numbers."""
    clouds = open_clouds(DELFT / "ahn3", RD_NAP, crs=RD_NAP)
    geoms = gpd.read_file(DELFT / "bgt_pand.sqlite").geometry.to_numpy()
    first, second = (laspy.read(path) for path in sorted((DELFT / "ahn3").glob("*.laz")))
    merged = laspy.LasData(first.header)
    merged.points = laspy.ScaleAwarePointRecord(
        np.concatenate([first.points.array, second.points.array]),
        first.header.point_format,
        first.header.scales,
        first.header.offsets,
    )
    x = np.asarray(merged.x)
    cuts = np.quantile(x, [1 / 3, 2 / 3])
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    for k, keep in enumerate([x < cuts[0], (x >= cuts[0]) & (x < cuts[1]), x >= cuts[1]]):
        tile = laspy.LasData(laspy.LasHeader(point_format=first.header.point_format))
        tile.header.scales, tile.header.offsets = first.header.scales, first.header.offsets
        tile.points = merged.points[keep]
        tile.write(tiles / f"tile_{k}.laz")
    retiled = open_clouds(tiles, RD_NAP, crs=RD_NAP)[::-1]
    assert len(retiled) == 3 and sum(c.count for c in retiled) == len(x)
    a = point_stats(clouds, geoms)
    b = point_stats(retiled, geoms)
    for name in ("ground", "ground_points", "density", "nodata_fraction", "nodata_radius"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for q, values in a.roof.percentiles.items():
        np.testing.assert_array_equal(values, b.roof.percentiles[q])
    np.testing.assert_array_equal(a.roof_xyz, b.roof_xyz)


def test_layered_laz_reads_every_field_used(tmp_path):
    """LAZ 1.4 (point format 6) decodes only x, y, z, returns and class: all come out right."""
    las = laspy.read(DELFT / "ahn3" / "ahn3_cropped_2.laz")
    layered = laspy.convert(las, point_format_id=6, file_version="1.4")
    layered.write(tmp_path / "pf6.laz")
    truth = laspy.read(tmp_path / "pf6.laz")
    cloud = PointCloud.open(tmp_path / "pf6.laz", RD_NAP, crs=RD_NAP)
    chunks = list(stream([cloud], size=50_000))
    assert len(chunks) == 5
    for name in ("x", "y", "z", "classification"):
        got = np.concatenate([getattr(c, name) for c in chunks])
        np.testing.assert_array_equal(got, np.asarray(getattr(truth, name)), err_msg=name)
    last = np.asarray(truth.return_number) == np.asarray(truth.number_of_returns)
    np.testing.assert_array_equal(np.concatenate([c.last_return for c in chunks]), last)
    assert 0 < last.mean() < 1


@pytest.mark.parametrize("size", [20_000, 1_000_000])  # a reading process, a thread
def test_stream_drops_the_classes_not_asked_for(size):
    """The reader drops the classes a caller never uses from the chunks where they are at
    least a fifth; the points of the classes asked for come through unchanged, in order."""
    clouds = open_clouds(DELFT / "ahn3", RD_NAP, crs=RD_NAP)
    every = list(stream(clouds, size=size))
    cls = np.concatenate([c.classification for c in every])
    assert {1, 2, 6} <= set(np.unique(cls).tolist())  # AHN3: unclassified, ground, building
    names = ("x", "y", "z", "classification", "last_return")
    dropped = 0
    for classes in ((6,), (2, 6), (3, 4, 5), (1, 2, 6)):
        kept = list(stream(clouds, size=size, classes=classes))
        assert len(kept) == len(every)  # chunk for chunk
        for whole, got in zip(every, kept, strict=True):
            keep = np.isin(whole.classification, classes)
            if keep.mean() > 1 - DROP_SHARE:
                keep[:] = True  # too few to drop: the chunk comes whole
            dropped += len(whole) - len(got)
            for name in names:
                np.testing.assert_array_equal(getattr(got, name), getattr(whole, name)[keep])
    assert dropped > len(cls)  # most of the unused points were dropped


def test_feet_are_converted_to_metres(tmp_path):
    utm = pyproj.CRS("EPSG:26910")  # NAD83 / UTM 10N, metres
    cloud = PointCloud.open(AUTZEN, utm)
    assert cloud.crs.axis_info[0].unit_name in {"foot", "US survey foot"}
    assert cloud.z_scale == pytest.approx(0.3048)
    points = next(cloud.chunks(size=200_000))
    # Decoded by a reading process (11 chunks), moved to UTM here: the same points.
    chunks = list(stream([cloud], size=10_000))
    for name in ("x", "y", "z"):
        got = np.concatenate([getattr(c, name) for c in chunks])
        np.testing.assert_array_equal(got, getattr(points, name), err_msg=name)
    with laspy.open(AUTZEN) as f:
        zmin, zmax = f.header.mins[2], f.header.maxs[2]
    assert points.z.min() == pytest.approx(zmin * 0.3048, abs=1e-6)
    assert points.z.max() == pytest.approx(zmax * 0.3048, abs=1e-6)
    # Eugene, Oregon, in UTM 10N: about 494 km east, 4877 km north.
    assert 493_000 < points.x.mean() < 496_000
    assert 4_876_000 < points.y.mean() < 4_879_000
    dtm = dtm_from_points([cloud], tmp_path / "dtm.tif", utm, resolution=2.0)
    grid = dtm.read()
    assert np.isfinite(grid).all()
    # Ground of the Willamette valley floor, in metres (about 125 m).
    assert 115 < np.median(grid) < 135


def test_unclassified_roofs_fall_back_to_height_above_terrain(tmp_path):
    """Autzen has no building class: roofs come from points 2 m over the terrain."""
    utm = pyproj.CRS("EPSG:26910")
    clouds = [PointCloud.open(AUTZEN, utm)]
    dtm = dtm_from_points(clouds, tmp_path / "dtm.tif", utm, resolution=2.0)
    x0, y0, x1, y1 = clouds[0].bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    boxes = np.array([gpd.GeoSeries.from_xy([cx], [cy]).buffer(60, cap_style=3).iloc[0]])
    stats = point_stats(clouds, boxes, dtm=dtm)
    assert stats.roof_source[0] == "height above DTM"
    assert stats.roof.count[0] > 1000
    assert stats.roof.percentiles[0.0][0] >= np.nanmin(dtm.read()) + 2.0


def test_missing_crs_is_refused():
    with pytest.raises(CRSError, match="carries no CRS"):
        PointCloud.open(DELFT / "ahn3" / "ahn3_cropped_2.laz", RD_NAP)


def test_a_cloud_read_in_parts_is_the_whole_cloud():
    """Autzen's 110,000 points (in feet, moved from the file's CRS into UTM 10N), read in the
    parts a cluster's workers read, each seeking into the LAZ file: the same points, in file
    order."""
    utm = pyproj.CRS("EPSG:26910")
    cloud = PointCloud.open(AUTZEN, utm)
    assert cloud.count == 110_000
    cut = parts([cloud, cloud], size=25_000)
    starts = [0, 25_000, 50_000, 75_000, 100_000]
    assert cut == [(i, range(a, min(a + 25_000, 110_000))) for i in (0, 1) for a in starts]
    whole = next(cloud.chunks(size=200_000))
    pieces = [
        cloud.moved(points)
        for _, part in cut[:5]
        for points in cloud.decoded(size=7_000, part=part)  # chunks across the parts' edges
    ]
    assert sum(len(p) for p in pieces) == 110_000
    for name in ("x", "y", "z", "classification", "last_return"):
        got = np.concatenate([getattr(p, name) for p in pieces])
        np.testing.assert_array_equal(got, getattr(whole, name), err_msg=name)
    with pytest.raises(InputError, match=r"autzen_trim\.laz: points range\(100000, 120000\)"):
        next(cloud.decoded(part=range(100_000, 120_000)))


def test_clouds_out_of_reach_of_every_footprint_are_not_read(tmp_path):
    """A tile 3 km (10,000 ft) east of the footprints, and truncated, so that reading its
    points would fail: the statistics skip it (its header's extent is out of the ground
    points' reach) and are those of the near tile alone."""
    utm = pyproj.CRS("EPSG:26910")
    las = laspy.read(AUTZEN)
    las.x = np.asarray(las.x) + 10_000.0
    las.write(tmp_path / "far.laz")
    data = (tmp_path / "far.laz").read_bytes()
    (tmp_path / "far.laz").write_bytes(data[: len(data) // 2])
    near, far = (PointCloud.open(p, utm) for p in (AUTZEN, tmp_path / "far.laz"))
    assert far.bounds[0] - near.bounds[2] > 2_000  # metres apart
    x0, y0, x1, y1 = near.bounds
    squares = shapely.buffer(shapely.points([x0 + 100, x1 - 100], [y0 + 100, y1 - 100]), 40.0)
    alone = point_stats([near], squares, cell=1.0)
    both = point_stats([near, far], squares, cell=1.0)
    assert (alone.ground_points > 1000).all()  # Autzen has no building class: ground only
    np.testing.assert_array_equal(both.ground_points, alone.ground_points)
    np.testing.assert_array_equal(both.ground, alone.ground)
    with pytest.raises(InputError, match=r"far\.laz"):  # read, it fails
        point_stats([far], shapely.buffer(shapely.points([far.bounds[0] + 50], [y0 + 50]), 40.0))


def test_truncated_laz_is_a_clear_error(tmp_path):
    broken = tmp_path / "broken.laz"
    data = (DELFT / "ahn3" / "ahn3_cropped_2.laz").read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    cloud = PointCloud.open(broken, RD_NAP, crs=RD_NAP)
    with pytest.raises(InputError, match=r"broken\.laz"):
        for _ in cloud.chunks(size=100_000):
            pass
    # The same read ahead, by a process (5 chunks) or a thread (1): the error reaches the
    # caller, and no reader is left, also when the caller stops early.
    whole = PointCloud.open(DELFT / "ahn3" / "ahn3_cropped_1.laz", RD_NAP, crs=RD_NAP)
    for size in (40_000, 1_000_000):
        with pytest.raises(InputError, match=r"broken\.laz"):
            for _ in stream([cloud], size=size):
                pass
        chunks = stream([whole], size=size // 4)
        next(chunks)
        chunks.close()
        stream([whole], size=size // 4)  # a caller that never starts reading
    assert not [t for t in threading.enumerate() if t.name == "twin-lidar-read"]
    assert not _reading_processes()


def _reading_processes() -> list[int]:
    """The reading processes (``ingest.lidar.read._serve``) this process has running."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == os.getpid() and b"_serve" in command:
            found.append(int(stat.parent.name))
    return found


def test_not_a_point_cloud(tmp_path):
    bad = tmp_path / "bad.laz"
    bad.write_text("not a point cloud")
    with pytest.raises(InputError, match="not a readable LAS/LAZ"):
        PointCloud.open(bad, RD_NAP, crs=RD_NAP)


def test_header_count_mismatch(tmp_path):
    """A header announcing more points than the file holds is reported."""
    src = DELFT / "ahn3" / "ahn3_cropped_2.laz"
    las = laspy.read(src)
    short = tmp_path / "short.las"
    las.write(short)
    raw = bytearray(short.read_bytes())
    # LAS 1.2: legacy point count, uint32 at byte 107
    count = int.from_bytes(raw[107:111], "little")
    raw[107:111] = (count + 10).to_bytes(4, "little")
    short.write_bytes(bytes(raw))
    cloud = PointCloud.open(short, RD_NAP, crs=RD_NAP)
    with pytest.raises(InputError, match=r"short\.las"):
        for _ in cloud.chunks(size=1_000_000):
            pass
    # the last part, as a worker of a cluster reads it: the points the file holds are named
    with pytest.raises(
        InputError, match=rf"short\.las: .* announces {count + 10} points, the file holds {count}"
    ):
        for _ in cloud.decoded(part=range(count - 5, count + 10)):
            pass


def test_sample_lidar_build(tmp_path):
    """A generated district with its point cloud: heights from the points match the truth."""
    from ingest.synthetic import generate_district

    sources = tmp_path / "sources"
    generate_district(sources, buildings=40, seed=5, lidar=True, ortho=False)
    config = sample_config(sources, {"cadastre", "lidar"})
    model = build(config, tmp_path / "city.gpkg", progress=False)
    b = model.buildings.set_index("building_id")
    truth = pd.read_csv(sources / "truth" / "buildings.csv").set_index("building_id")
    assert (b["height_method"] == "lidar").all()
    assert (b["ground_method"] == "lidar").all()
    flat = truth.index[truth["roof_type"] == "flat"]
    assert len(flat) >= 5
    assert np.abs(b.loc[flat, "lod1_z"] - truth.loc[flat, "eave_z"]).max() < 0.1
    assert (b.loc[flat, "roof_type"] == "flat").all()  # from the LoD2.2 planes
    assert np.median(np.abs(b["ground_z"] - truth.loc[b.index, "ground_z"])) < 0.15
    assert (b["roof_z_p98"] <= truth.loc[b.index, "ridge_z"] + 0.1).all()
    assert b["roof_points_source"].eq("class 6").all()
    with rasterio.open(tmp_path / "city.dtm.tif") as src:
        assert src.crs is not None


def test_lidar_options_are_checked(tmp_path):
    shutil.copy(DELFT / "bgt_pand.sqlite", tmp_path / "b.sqlite")
    config = write_config(
        tmp_path / "t.toml",
        '[sources.cadastre]\npath = "b.sqlite"\n[lidar]\nresolution = 2\n',
    )
    with pytest.raises(InputError, match=r"\[lidar\]"):
        BuildConfig.load(config)


def test_delft_lod12_solids_are_valid(delft_lidar_twin):
    from twin.validity import check

    solids = twin.open(delft_lidar_twin).layers["lod12"].geometry.to_numpy()
    codes, _ = check(solids)
    assert sum(1 for c in codes if c) == 0
    assert (~shapely.is_missing(solids)).sum() >= 155


def _reference_pairs(geoms, x, y):
    """Exact (point, polygon) pairs by shapely's ``within``, sorted by point then polygon."""
    hit, owner = shapely.STRtree(geoms).query(shapely.points(x, y), predicate="within")
    order = np.lexsort((owner, hit))
    return hit[order], owner[order]


@pytest.mark.parametrize("cell", [0.25, 0.5, 2.0])
def test_label_raster_assignment_is_exact(cell):
    """The label raster assigns every point as shapely's ``within`` does, edges included."""
    geoms = gpd.read_file(DELFT / "bgt_pand.sqlite").geometry.to_numpy()
    # Overlapping footprints (each building again, shifted by 1.3 m) and a missing one.
    shifted = shapely.transform(geoms[:20], lambda c: c + np.array([1.3, 0.7]))
    geoms = np.concatenate([geoms, shifted, [None]])
    with laspy.open(DELFT / "ahn3" / "ahn3_cropped_1.laz") as f:
        las = f.read()
    xy = [np.column_stack([las.x, las.y])]
    # Points exactly on edges: every vertex and every edge midpoint (they belong to none).
    vertices, vertex_owner = shapely.get_coordinates(geoms, return_index=True)
    xy += [vertices, (vertices[:-1] + vertices[1:]) / 2]
    # Points on cell borders of the raster.
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    gx, gy = np.meshgrid(np.arange(xmin, xmax, cell / 2), np.arange(ymin, ymax, cell / 2))
    xy.append(np.column_stack([np.floor(gx.ravel() / cell) * cell, gy.ravel()]))
    x, y = np.concatenate(xy).T
    assigner = Assigner.of(geoms, cell=cell)
    hit, owner = assigner.assign(x, y)
    order = np.lexsort((owner, hit))
    hit, owner = hit[order], owner[order]
    ref_hit, ref_owner = _reference_pairs(geoms, x, y)
    np.testing.assert_array_equal(hit, ref_hit)
    np.testing.assert_array_equal(owner, ref_owner)
    # A vertex is never in its own footprint: on the edge is outside.
    at_vertex = (hit >= len(las.x)) & (hit < len(las.x) + len(vertices))
    assert not (owner[at_vertex] == vertex_owner[hit[at_vertex] - len(las.x)]).any()
    assert at_vertex.sum() < len(vertices)
    # At fine cells, most points on buildings are assigned by the lookup, not the exact test.
    col = np.floor((np.asarray(las.x) - assigner.left) / assigner.cell).astype(int)
    row = np.floor((assigner.top - np.asarray(las.y)) / assigner.cell).astype(int)
    rows, cols = assigner.label.shape
    on_grid = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
    roof = on_grid & (np.asarray(las.classification) == 6)
    label = assigner.label[row[roof], col[roof]]
    if cell == 0.25:  # 1.7 times as many class-6 points by lookup (3.4 without the overlaps)
        assert (label >= 0).sum() > 1.5 * (label == -2).sum()


def test_3dfier_sampling_reproduces_3dfier():
    """3dfier's roof sampling gives the roof of its published Delft model, to the centimetre.

    The published ``measuredHeight`` attribute is a height above ground (the roof less
    ``min-height-surface``), so the roof, not the attribute, is compared.
    """
    clouds = open_clouds(DELFT / "ahn3", RD_NAP, crs=RD_NAP)
    footprints = gpd.read_file(DELFT / "bgt_pand.sqlite")
    ref = pd.read_csv(DELFT / "3dfier_heights.csv").set_index("gml_id").loc[footprints["gml_id"]]
    geoms = footprints.geometry.to_numpy()
    ours = point_stats(clouds, geoms, percentiles=[90.0], sampling="3dfier").roof
    roof = np.abs(ours.percentiles[90.0] - ref["roof_z"].to_numpy())
    assert (roof < 0.005).sum() >= 150  # measured: 152 of 160 to the centimetre
    assert np.median(roof) < 0.005
    relative = ref["roof_z"] - ref["min_height_surface"]
    np.testing.assert_allclose(ref["measuredHeight"], relative, atol=1e-9)  # all 160
    # Our own sampling (the points inside, linear percentiles) is 0.13 m off 3dfier's roof.
    inside = point_stats(clouds, geoms, percentiles=[90.0]).roof.percentiles[90.0]
    assert np.median(np.abs(inside - ref["roof_z"].to_numpy())) > 0.05
    with pytest.raises(InputError, match="roof sampling"):
        point_stats(clouds, geoms, sampling="3DFIER")


def test_3dfier_sampling_in_a_build(tmp_path, delft_config):
    """Through a build (DTM and DSM given too: LiDAR heights rank above the DSM's)."""
    config = delft_config
    lidar = f'[sources.lidar]\npath = "{DELFT / "ahn3"}"\ncrs = "EPSG:7415"\n'
    config.write_text(config.read_text() + lidar + '[lidar]\nroof_sampling = "3dfier"\n')
    b = build(BuildConfig.load(config), tmp_path / "city.gpkg", progress=False).buildings
    ref = pd.read_csv(DELFT / "3dfier_heights.csv").set_index("gml_id").loc[b["building_id"]]
    lidar = (b["height_method"] == "lidar").to_numpy()
    roof = np.abs(b["lod1_z"].to_numpy() - ref["roof_z"].to_numpy())[lidar]
    assert lidar.sum() >= 155
    assert (roof < 0.005).sum() >= 148
    bad = config.read_text().replace('"3dfier"', '"nearest"')
    config.write_text(bad)
    with pytest.raises(ConfigError, match="roof_sampling"):
        BuildConfig.load(config)


@pytest.mark.parametrize("bits", [2, 5, 62])
def test_row_order_sorts_rows_like_lexsort(bits):
    """The packed row order gives numpy's lexicographic order, ties on the packed key included."""
    rng = np.random.default_rng(7)
    for n in (0, 1, 50, 3000):
        rows = (
            rng.integers(0, 6, n),
            rng.integers(0, 5, n) * 0.25 + 1e5,
            rng.integers(0, 3, n) * -0.5,
            rng.normal(size=n).round(1),
        )
        order = _row_order(*rows, bits=bits)
        assert np.array_equal(np.sort(order), np.arange(n))
        expected = np.lexsort(rows[::-1])
        for column in rows:
            assert np.array_equal(column[order], column[expected])


def test_las_integers_order_rows_as_the_coordinates():
    """The rows' LAS integers, used when the clouds share one grid and are not moved, order the
    rows exactly as their coordinates do (ties included); moved clouds keep the coordinates."""
    clouds = open_clouds(DELFT / "ahn3", RD_NAP, crs=RD_NAP)  # two tiles, one grid
    chunks = list(stream(clouds))
    x, y, z = (np.concatenate([getattr(c, a) for c in chunks]) for a in "xyz")
    owner = np.random.default_rng(3).integers(0, 40, len(x))
    ix, iy = _sort_columns(clouds, x, y)
    assert ix.dtype == iy.dtype == np.int64
    order = _row_order(owner, ix, iy, z)
    expected = np.lexsort((z, y, x, owner))
    for column in (owner, x, y, z):
        np.testing.assert_array_equal(column[order], column[expected])
    # moved clouds, or clouds on different grids, keep the coordinates
    moved = open_clouds(DELFT / "ahn3", pyproj.CRS("EPSG:32631"), crs=pyproj.CRS("EPSG:28992"))
    assert moved[0].transformer is not None
    mixed = [clouds[0], dataclasses.replace(clouds[1], scales=(0.01, 0.01, 0.01))]
    for other in (moved, mixed):
        kept = _sort_columns(other, x, y)
        assert kept[0] is x and kept[1] is y
    # any scale and offset: off the grid nothing is used, on it the order is the values'
    rng = np.random.default_rng(11)
    for scale, offset in ((0.01, -5e5), (0.25, 0.0), (1e-3, 164000.0), (0.1, 3.0)):
        values = rng.integers(-3000, 3000, 5000) * scale + offset
        k = _on_grid(values, scale, offset)
        assert k is not None and k.min() == 0
        np.testing.assert_array_equal(values[np.argsort(k)], np.sort(values))
        np.testing.assert_array_equal(k[:-1] == k[1:], values[:-1] == values[1:])
    assert _on_grid(np.array([0.0, 0.0005]), 1e-3, 0.0) is None
