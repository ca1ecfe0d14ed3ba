"""The viewer, rendered off-screen (EGL or OSMesa): pictures, colours, picking, underground.

The checks read the rendered pixels: flat-lit pictures (``lighting=False``) keep the exact
colours an attribute maps to, and map views (``top=True``) put a known place at a known pixel.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

import twin
from tests.conftest import DATA
from tests.servers import started, wait_until
from twin.analysis.sun import sun_position, to_utc
from twin.analysis.trench import ExcavationIndex, check_trench
from twin.cli import main
from twin.errors import DataQualityWarning, InputError, TwinWarning
from twin.store import open_store
from viewer import Scene, show
from viewer.backend import WINDOW_VARIABLE
from viewer.camera import View, bookmarks_path, load_bookmarks, save_bookmark
from viewer.interactive import Session
from viewer.layers import NETWORK_COLORS
from viewer.measure import measure
from viewer.render import SNAPSHOT_PITCH, SNAPSHOT_RIM, TRENCH_COLOR, trench_snapshot

SIZE = (240, 180)
ZURICH = DATA / "zurich_cityjson" / "zurich_lod2_12.city.json"
CENTRE = (SIZE[0] // 2, SIZE[1] // 2)  # column, row


@pytest.fixture(scope="module")
def model(sample_twin):
    return twin.open(sample_twin)


@pytest.fixture(scope="module")
def ortho_twin(tmp_path_factory):
    """A small district built with its orthophoto (copied beside the twin as a COG)."""
    from ingest.config import BuildConfig
    from ingest.pipeline import build
    from ingest.synthetic import generate_district

    root = tmp_path_factory.mktemp("ortho")
    generate_district(root / "src", buildings=40, seed=5, lidar=False, ortho=True, progress=False)
    out = root / "city.gpkg"
    build(BuildConfig.load(root / "src"), out, progress=False)
    return out


def _around(point: shapely.Point, half: float = 6.0) -> tuple[float, float, float, float]:
    return (point.x - half, point.y - half, point.x + half, point.y + half)


def _largest(model) -> int:
    """Row of the building with the largest footprint that has a solid."""
    b = model.buildings
    return int(np.nanargmax(np.where(b["lod1_z"].notna(), b.geometry.area, np.nan)))


def _centre(image: np.ndarray) -> np.ndarray:
    return image[CENTRE[1], CENTRE[0]].astype(int)


def test_render_command_writes_a_picture(sample_twin, model, tmp_path):
    """Through the command as a process: what the picture assumes is a ``warning:`` line on
    standard error, as every command prints its warnings (no Python source line)."""
    out = tmp_path / "city.png"
    args = ["render", str(sample_twin), "-o", str(out), "--size", "320", "240"]
    done = subprocess.run(
        [sys.executable, "-m", "twin.cli", *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    # the sample's utilities without a cover depth are drawn at the viewer's 1.0 m
    missing = int(model.layers["utilities"]["depth_m"].isna().sum())
    assert missing > 0
    expected = f"warning: utilities: {missing} row(s) without 'depth_m'; 1.0 assumed"
    assert done.stderr.splitlines() == [expected], done.stderr
    image = iio.imread(out)
    assert image.shape == (240, 320, 3)
    # not blank: many colours, and the middle is the city, not the sky
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 500
    assert image[80:160, 110:210].std() > 20


def test_building_pixels_have_their_attribute_colour(model):
    row = _largest(model)
    spot = shapely.point_on_surface(model.buildings.geometry.iloc[row])
    with Scene(model, layers=["buildings"], size=SIZE, lighting=False) as scene:
        coloring = scene.color_by("use")
        scene.frame(_around(spot), top=True)
        category = int(coloring.values[row])
        expected = coloring.category_colors()[category].astype(int)
        assert np.abs(_centre(scene.image()) - expected).max() <= 2

        coloring = scene.color_by("height")
        assert coloring.numeric
        lut = scene.actors["buildings"].mapper.lookup_table
        rgb = np.array(lut.map_value(float(model.buildings["height"].iloc[row]), opacity=False))
        assert np.abs(_centre(scene.image()) - np.rint(rgb * 255)).max() <= 2


def test_picking_a_pixel_returns_that_building(model):
    row = _largest(model)
    spot = shapely.point_on_surface(model.buildings.geometry.iloc[row])
    with Scene(model, size=SIZE) as scene:
        scene.frame(_around(spot), top=True)
        info = scene.pick(*CENTRE)
        assert info is not None
        assert info["building_id"] == model.buildings["building_id"].iloc[row]
        assert info["lod"] == "1.2" and info["height_method"] is not None
        x, y, z = info["point"]  # model CRS, on the roof
        assert abs(x - spot.x) < 0.5 and abs(y - spot.y) < 0.5
        assert z == pytest.approx(model.buildings["lod1_z"].iloc[row], abs=0.05)
        # the sky has no building
        scene.frame(_around(shapely.Point(spot.x + 5000, spot.y)), top=True)
        assert scene.pick(*CENTRE) is None


def test_underground_mode_shows_a_utility_line_hidden_otherwise(model):
    lines = model.layers["utilities"]
    water = lines[lines["network"] == "water"].geometry
    spot = water.iloc[int(np.argmax(water.length))].interpolate(0.5, normalized=True)
    view = dict(size=SIZE, lighting=False)
    with Scene(model, layers=["terrain"], **view) as scene:
        scene.frame(_around(spot, 4.0), top=True)
        ground_only = scene.image()
    with Scene(model, layers=["terrain", "utilities"], **view) as scene:
        scene.frame(_around(spot, 4.0), top=True)
        hidden = scene.image()
        scene.set_underground(True)
        shown = scene.image()
        scene.set_underground(True, cut=2.0)  # a 4 m hole in the terrain around the view
        holed = scene.image()
        scene.set_underground(False)
        assert np.array_equal(scene.image(), hidden)
        with pytest.raises(InputError, match="must be positive"):
            scene.set_underground(True, cut=0.0)
    assert np.array_equal(hidden, ground_only)  # the pipe lies under the ground
    # through the hole the pipe shows in its own colour; around it the terrain stays opaque
    assert np.abs(_centre(holed) - NETWORK_COLORS["water"]).max() <= 2
    assert np.array_equal(holed[:20, :20], hidden[:20, :20])
    blue = np.array(NETWORK_COLORS["water"])
    towards = (
        np.abs(shown.astype(int) - blue).sum(axis=2)
        < np.abs(hidden.astype(int) - blue).sum(axis=2) - 150
    )
    assert towards[CENTRE[1], CENTRE[0]]
    assert towards.sum() > 0.02 * towards.size  # a 20 cm pipe across an 8 m wide picture


def test_hidden_features_leave_the_picture_and_come_back(model):
    row = _largest(model)
    spot = model.buildings.geometry.iloc[row].representative_point()
    with Scene(model, layers=[], size=SIZE, lighting=False) as scene:
        sky = scene.image()  # the background, the same at every view
    with Scene(model, layers=["buildings"], size=SIZE, lighting=False) as scene:
        scene.frame(_around(spot), top=True)
        whole = scene.image()
        scene.hide("buildings", [row])
        hidden = scene.image()
        scene.hide("buildings", [])
        assert np.array_equal(scene.image(), whole)
        with pytest.raises(InputError, match="only buildings, trees"):
            scene.hide("utilities", [0])
        with pytest.raises(InputError, match="between 0 and 1"):
            scene.set_opacity("buildings", 1.5)
    assert not np.array_equal(_centre(whole), _centre(sky))  # the roof of the building
    assert np.array_equal(_centre(hidden), _centre(sky))


def test_trench_snapshot_shows_a_trench_a_building_stood_in_front_of(sample_twin, tmp_path):
    """A trench 3 m north of the tallest building. The oblique view from the south-south-west
    that the snapshot used to take showed the building where the trench is: not one pixel of
    the trench's colour. Now the camera looks square across the trench, from 55° above, and
    what stands in front is left out."""
    model = twin.open(sample_twin)
    lines = model.layers["utilities"]
    model.layers["utilities"] = lines[lines["network"] != "telecom"]  # drawn orange as well
    tallest = model.buildings.loc[model.buildings["height"].idxmax()]
    xmin, _, xmax, ymax = tallest.geometry.bounds
    axis = shapely.LineString([(xmin + 2, ymax + 3), (xmax - 2, ymax + 3)])
    result = check_trench(ExcavationIndex.from_model(model), axis, width=0.6, depth=1.2)
    width, height = 480, 320
    path = trench_snapshot(model, result, tmp_path / "trench.png", size=(width, height))
    image = iio.imread(path)[..., :3].astype(int)
    rgb = np.array([int(TRENCH_COLOR[k : k + 2], 16) for k in (1, 3, 5)])
    trench = np.abs(image - rgb).max(axis=2) <= 60
    # The picture spans the trench (length L) and 6 m on either side: 480 px / (L + 12 m).
    # Above the translucent terrain stands the rim, 0.2 m high, seen on the near and the far
    # wall from 55° above: 2 x 0.2 m x cos 55° = 0.23 m, L long. Here L = 10.1 m (the
    # building is 14.1 m wide): 10.1 m x 0.23 m x (480 / 22.1 px/m)² = 1,090 px; the pit
    # below the ground, seen through the terrain, comes on top.
    length = axis.length
    seen = length * 2 * SNAPSHOT_RIM * np.cos(np.radians(SNAPSHOT_PITCH))
    assert trench.sum() > 0.8 * seen * (width / (length + 12.0)) ** 2
    rows = np.flatnonzero(trench.any(axis=1))
    assert height * 0.2 < rows.mean() < height * 0.8  # framed in the middle


def test_utilities_hang_at_their_depth_and_trees_stand_on_the_ground(model):
    from viewer.layers import trees, utilities

    tubes, notes = utilities(model)
    assert isinstance(notes, list)
    lines = model.layers["utilities"]
    row = int(np.argmax(lines.geometry.length))
    mine = tubes.extract_points(tubes.point_data["line"] == row, adjacent_cells=False)
    top = mine.points[:, 2].max() + model.origin[2]
    xy = shapely.get_coordinates(lines.geometry.iloc[row])
    ground = model.terrain.sample(xy)
    depth = lines["depth_m"].iloc[row]
    assert top == pytest.approx(np.nanmax(ground) - depth, abs=0.3)

    mesh, _ = trees(model)
    table = model.layers["trees"]
    k = int(np.nanargmax(table["height_m"].to_numpy()))
    crowns = mesh.extract_cells(mesh.cell_data["tree"] == k)
    foot = model.terrain.sample(shapely.get_coordinates(table.geometry.iloc[[k]]))[0]
    assert crowns.points[:, 2].max() + model.origin[2] == pytest.approx(
        foot + table["height_m"].iloc[k], abs=0.1
    )
    assert crowns.points[:, 2].min() + model.origin[2] == pytest.approx(foot, abs=0.1)


def test_orthophoto_is_copied_beside_the_twin_and_draped(ortho_twin):
    import rasterio

    cog = ortho_twin.with_suffix(".ortho.tif")
    model = twin.open(ortho_twin)
    # one meaning: the store's copy, asked of the store; the metadata holds no path
    assert model.ortho == open_store(ortho_twin).ortho_path() == cog
    assert "ortho" not in model.metadata
    with rasterio.open(cog) as src:
        assert src.count == 3 and src.profile["compress"] == "jpeg"
        x, y = (src.bounds.left + src.bounds.right) / 2, (src.bounds.bottom + src.bounds.top) / 2
        r, c = src.index(x, y)
        window = src.read(window=((r - 2, r + 3), (c - 2, c + 3))).reshape(3, -1)
    with Scene(model, layers=["terrain"], size=SIZE, lighting=False) as scene:
        assert scene.drape == "orthophoto" and scene.notes == []
        scene.frame((x - 3, y - 3, x + 3, y + 3), top=True)
        pixel = _centre(scene.image())
    assert np.abs(pixel - np.median(window, axis=1)).max() < 40


def test_sun_position_at_klagenfurt(model):
    times = pd.date_range("2024-06-21T00:00", periods=24, freq="h", tz="Europe/Vienna")
    sun = sun_position(model.crs, model.origin[:2], times)
    assert sun.elevation.shape == (24,)
    noon = int(np.argmax(sun.elevation))
    assert sun.elevation[noon] == pytest.approx(90 - 46.62 + 23.44, abs=0.6)
    assert sun.azimuth[noon] == pytest.approx(180, abs=10)
    assert not sun.above_horizon[0] and sun.above_horizon[noon]
    d = sun.direction()
    assert np.allclose(np.linalg.norm(d, axis=1), 1.0)
    assert d[noon, 1] < 0  # at noon the sun stands in the south
    with pytest.raises(InputError, match="time zone"):
        to_utc("2024-06-21T12:00")


def test_sun_lights_the_scene_and_casts_shadows(model):
    with Scene(model, layers=["terrain", "buildings"], size=SIZE) as scene:
        plain = scene.image()
        sun = scene.set_time("2024-06-21T17:00+02:00")
        evening = scene.image()
        assert sun.elevation[0] > 20
        assert np.abs(evening.astype(int) - plain).mean() > 5
    with Scene(model, layers=["buildings"], size=SIZE) as scene:
        scene.set_time("2024-12-21T23:00+01:00")
        assert any("below the horizon" in n for n in scene.notes)


def test_bookmarks_and_fly_through(sample_twin, tmp_path, model):
    twin_copy = tmp_path / "city.gpkg"
    for suffix in (".gpkg", ".dtm.tif"):
        twin_copy.with_suffix(suffix).write_bytes(sample_twin.with_suffix(suffix).read_bytes())
    row = _largest(model)
    spot = shapely.point_on_surface(model.buildings.geometry.iloc[row])
    near = View.framing((spot.x - 50, spot.x + 50, spot.y - 50, spot.y + 50, 440, 460))
    save_bookmark(twin_copy, "square", near)
    save_bookmark(
        twin_copy,
        "top",
        View.framing((spot.x - 80, spot.x + 80, spot.y - 80, spot.y + 80, 440, 460), top=True),
    )
    marks = load_bookmarks(twin_copy)
    assert marks["square"] == near and marks["top"].parallel_scale is not None
    assert set(json.loads(bookmarks_path(twin_copy).read_text())) == {"square", "top"}

    runner = CliRunner()
    still = tmp_path / "square.png"
    assumed = r"utilities: \d+ row\(s\) without 'depth_m'"  # the sample's, as every render says
    with pytest.warns(DataQualityWarning, match=assumed):
        result = runner.invoke(
            main,
            [
                "render",
                str(twin_copy),
                "-o",
                str(still),
                "--bookmark",
                "square",
                "--size",
                "160",
                "120",
            ],
        )
    assert result.exit_code == 0, result.output
    gif = tmp_path / "tour.gif"
    args = ["render", str(twin_copy), "-o", str(gif), "--size", "96", "64"]
    with pytest.warns(DataQualityWarning, match=assumed):
        result = runner.invoke(main, [*args, "--bookmark", "square", "--bookmark", "top"])
    assert result.exit_code == 0, result.output
    frames = iio.imread(gif, index=None)
    assert frames.shape[0] == 31 and frames.shape[1:3] == (64, 96)
    assert not np.array_equal(frames[0], frames[-1])

    result = runner.invoke(main, [*args, "--bookmark", "nowhere"])
    assert result.exit_code != 0 and "no bookmark 'nowhere'" in result.output
    assert "bookmarks: square, top" in result.output


def test_measure_clip_and_section(model):
    m = measure(np.array([[0.0, 0.0, 440.0], [3.0, 4.0, 440.0], [3.0, 4.0, 452.0]]))
    assert (m.horizontal, m.height_difference, m.distance) == (5.0, 12.0, 17.0)
    row = _largest(model)
    b = model.buildings.iloc[row]
    spot = shapely.point_on_surface(b.geometry)
    with Scene(model, layers=["buildings"], size=SIZE, lighting=False) as scene:
        scene.frame(_around(spot), top=True)
        before = scene.image()
        scene.clip([spot.x, spot.y, 0.0], [0.0, 0.0, -1.0])  # keeps only what lies below z=0
        clipped = scene.image()
        scene.unclip()
        assert np.array_equal(scene.image(), before)
        segments = scene.section([spot.x, spot.y, 0.0], [1.0, 0.0, 0.0])
        mine = segments[
            (np.abs(segments[:, :, 1] - spot.y).min(axis=1) < 30)
            & np.isclose(segments[:, :, 0], spot.x).all(axis=1)
        ]
        assert len(mine) and np.isclose(mine[:, :, 2].max(), b["lod1_z"], atol=0.01)
    assert not np.array_equal(before, clipped)
    sky = clipped[CENTRE[1], 0].astype(int)  # the background varies by row only
    assert np.abs(_centre(clipped) - sky).max() <= 3


def test_interactive_session_tools(sample_twin, tmp_path, model):
    twin_copy = tmp_path / "city.gpkg"
    row = _largest(model)
    spot = shapely.point_on_surface(model.buildings.geometry.iloc[row])
    with Scene(model, size=SIZE) as scene:
        session = Session(scene, twin_copy)
        scene.frame(_around(spot), top=True)
        assert session.on_pick(*CENTRE)["building_row"] == row
        assert session.on_pick(CENTRE[0] + 10, CENTRE[1]) is not None
        assert "distance" in session.on_measure()
        session.on_new_measurement()
        assert "at least two points" in session.on_measure()
        session.on_underground()
        assert scene.underground
        session.on_hole()
        assert not scene.underground
        session.on_hole()
        assert scene.underground and scene.actors["terrain"].prop.opacity == 1.0
        session.on_lod()
        assert scene.lod == "1.2"
        assert session.on_bookmark() in load_bookmarks(twin_copy)
        assert session.on_screenshot().exists()


def test_notebook_falls_back_to_a_static_picture(model):
    picture = show(model, layers=["buildings"], size=(120, 90))
    assert picture.format == "png" and picture.data[:4] == b"\x89PNG"
    with pytest.raises(InputError, match="trame backend needs"):
        show(model, backend="trame")


def test_notebook_says_what_the_picture_leaves_out(model):
    # the sample twin without its terrain: the picture has none, and the notebook says so
    bare = twin.CityModel(
        crs=model.crs, layers=dict(model.layers.items()), terrain=None, metadata=model.metadata
    )
    with pytest.warns(TwinWarning) as record:
        picture = show(bare, size=(120, 90))
    assert picture.data[:4] == b"\x89PNG"
    said = [str(w.message) for w in record]
    assert "the twin has no terrain" in said
    # and what a command says of the same twin (the sample's utilities lack some depths)
    assert any(s.startswith("utilities: ") and s.endswith("1.0 assumed") for s in said)


@pytest.mark.slow
def test_notebook_shows_a_live_trame_widget(sample_twin):
    """In a real Jupyter kernel, ``viewer.show`` serves the scene through a trame server."""
    import httpx
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    code = f"""
import twin, viewer
widget = viewer.show(twin.open({str(sample_twin)!r}), layers=["buildings"], backend="trame")
print(type(widget).__name__, widget.src)
"""
    notebook.cells = [nbformat.v4.new_code_cell(code)]
    client = NotebookClient(notebook, timeout=180)
    with client.setup_kernel():  # the trame server lives in the kernel: ask it while it runs
        client.execute_cell(notebook.cells[0], 0)
        text = "".join(o.get("text", "") for o in notebook.cells[0].outputs)
        # the kernel may print other lines (warnings) before ours: take the one with the URL
        line = [ln for ln in text.splitlines() if " http" in ln]
        assert len(line) == 1, text
        kind, url = line[0].split()[-2:]
        page = httpx.get(url, timeout=30)
    assert kind == "Widget"
    assert page.status_code == 200 and "<html" in page.text.lower()


def test_bad_input_is_reported_not_crashed_on(model, sample_twin, tmp_path):
    # no terrain, no utilities, and some buildings without a solid
    bare = twin.CityModel(
        crs=model.crs,
        layers={k: v for k, v in model.layers.items() if k != "utilities"},
        terrain=None,
        metadata=dict(model.metadata),
    )
    surfaces = bare.layers["building_surfaces"]
    gone = model.buildings["building_id"].iloc[:3]
    bare.layers["building_surfaces"] = surfaces[~surfaces["building_id"].isin(gone)]
    with Scene(bare, size=SIZE) as scene:
        assert "the twin has no terrain" in scene.notes
        assert "the twin has no utilities" in scene.notes
        assert any("building(s) without an LoD1.2 solid" in n for n in scene.notes)
        assert scene.image().std() > 5
        with pytest.raises(InputError, match=r"no LoD '2\.2'"):
            scene.set_lod("2.2")
    odd = twin.CityModel(crs=model.crs, layers=dict(bare.layers), metadata=dict(model.metadata))
    odd.layers["building_surfaces"] = surfaces.replace({"semantic": {"RoofSurface": "Roof"}})
    with pytest.raises(InputError, match=r"unknown semantic class\(es\) \['Roof'\]"):
        Scene(odd, layers=["buildings"], size=SIZE)
    runner = CliRunner()
    out = tmp_path / "x.png"
    result = runner.invoke(
        main, ["render", str(sample_twin), "-o", str(out), "--color-by", "colour"]
    )
    assert result.exit_code == 1
    assert "cannot colour by 'colour'" in result.output and "height_method" in result.output
    result = runner.invoke(main, ["render", str(sample_twin), "-o", str(out), "--cut", "-1"])
    assert result.exit_code == 1 and "must be positive" in result.output
    result = runner.invoke(main, ["render", str(sample_twin), "-o", str(out), "--layers", "roads"])
    assert result.exit_code == 1 and "unknown layer(s) ['roads']" in result.output
    assert not out.exists()
    result = runner.invoke(main, ["view", str(sample_twin)], env={"DISPLAY": ""})
    assert result.exit_code == 1 and "no display" in result.output


@pytest.fixture(scope="module")
def zurich(tmp_path_factory):
    """The real Zürich LoD2 CityJSON (12 buildings, 27 parts), imported with ``twin import``."""
    out = tmp_path_factory.mktemp("zurich") / "zurich.gpkg"
    result = CliRunner().invoke(main, ["import", str(ZURICH), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_zurich_import_renders(zurich, tmp_path):
    # the twelve buildings lie kilometres apart: frame the biggest
    table = twin.open(zurich).buildings
    x, y = shapely.get_coordinates(table.geometry.centroid.iloc[[int(table.area.argmax())]])[0]
    out = tmp_path / "zurich.png"
    bbox = [str(v) for v in (x - 30, y - 30, x + 30, y + 30)]
    args = ["render", str(zurich), "-o", str(out), "--size", "320", "240", "--lod", "2"]
    with pytest.warns(TwinWarning) as record:
        result = CliRunner().invoke(main, [*args, "--bbox", *bbox])
    assert result.exit_code == 0, result.output
    said = [str(w.message) for w in record]
    assert "the twin has no terrain" in said
    assert not any("without an LoD2 solid" in w for w in said)  # buildings drawn by their parts
    image = iio.imread(out)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 200
    assert image[80:160, 110:210].std() > 20


def test_zurich_colour_and_pick_a_building_part(zurich):
    model = twin.open(zurich)
    table = model.buildings
    parts = table["object_type"] == "BuildingPart"
    row = int(np.nanargmax(np.where(parts, table.geometry.area, np.nan)))
    spot = shapely.point_on_surface(table.geometry.iloc[row])
    with Scene(model, size=SIZE, lighting=False) as scene:
        assert scene.lod == "2" and "the twin has no terrain" in scene.notes
        coloring = scene.color_by("Geomtype")
        assert coloring.numeric
        scene.frame(_around(spot, 3.0), top=True)
        lut = scene.actors["buildings"].mapper.lookup_table
        rgb = np.array(lut.map_value(float(table["Geomtype"].iloc[row]), opacity=False))
        assert np.abs(_centre(scene.image()) - np.rint(rgb * 255)).max() <= 2
        info = scene.pick(*CENTRE)
    assert info is not None and info["building_row"] == row
    assert info["building_id"] == table["building_id"].iloc[row]
    assert info["parent_id"] == table["parent_id"].iloc[row] and info["lod"] == "2"
    x, y, z = info["point"]  # in CH1903+ / LV95 with the roof's height
    assert abs(x - spot.x) < 0.5 and abs(y - spot.y) < 0.5
    surfaces = model.layers["building_surfaces"]
    roofs = surfaces[
        (surfaces["building_id"] == info["building_id"]) & (surfaces["semantic"] == "RoofSurface")
    ]
    heights = shapely.get_coordinates(roofs.geometry.to_numpy(), include_z=True)[:, 2]
    assert heights.min() - 0.01 <= z <= heights.max() + 0.01


@pytest.fixture(scope="module")
def berlin(tmp_path_factory):
    """A real Berlin CityGML 2.0 download tile (LoD2), imported with ``twin import``."""
    out = tmp_path_factory.mktemp("berlin") / "berlin.gpkg"
    source = DATA / "berlin_citygml" / "3900_5819.gml"
    result = CliRunner().invoke(main, ["import", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_berlin_import_renders_and_picks(berlin):
    model = twin.open(berlin)
    table = model.buildings
    row = int(np.nanargmax(table.geometry.area.to_numpy()))
    spot = shapely.point_on_surface(table.geometry.iloc[row])
    with Scene(model, size=SIZE, lighting=False) as scene:
        assert "the twin has no terrain" in scene.notes
        scene.frame(_around(spot, 3.0), top=True)
        r, g, b = _centre(scene.image()).astype(int)
        assert r > g + 50 and r > b + 50  # a red roof, not the blue sky behind
        info = scene.pick(*CENTRE)
    assert info is not None and info["building_id"] == table["building_id"].iloc[row]
    x, y, _ = info["point"]  # in ETRS89 / UTM 33N, the tile's CRS
    assert abs(x - spot.x) < 0.5 and abs(y - spot.y) < 0.5


@pytest.mark.slow
def test_view_opens_a_real_window(sample_twin, tmp_path):
    """``twin view`` on a virtual X display (Xvfb): the window shows the twin's roofs."""
    number, log, shot = tmp_path / "display", tmp_path / "view.log", tmp_path / "screen.png"

    def drawn(display: str) -> bool:
        """Whether the window shows the roofs yet (a screenshot of the display)."""
        grab = subprocess.run(
            ["import", "-display", display, "-window", "root", str(shot)],
            capture_output=True,
            check=False,
        )
        if grab.returncode != 0 or not shot.exists():
            return False
        image = iio.imread(shot).astype(int)
        r, g, b = image[..., 0], image[..., 1], image[..., 2]
        return int(((r > 120) & (r - g > 50) & (r - b > 50)).sum()) > 2000  # red roofs

    # Xvfb picks a free display and writes its number once it takes connections (-displayfd):
    # the viewer starts only then, and workers running tests side by side never share one
    with contextlib.ExitStack() as stack:
        with number.open("w") as out:  # Xvfb writes to its own copy of the descriptor
            fd = out.fileno()
            xvfb = ["Xvfb", "-displayfd", str(fd), "-screen", "0", "1280x900x24"]
            x = stack.enter_context(
                started([*xvfb, "-nolisten", "tcp"], tmp_path / "xvfb.log", pass_fds=(fd,))
            )
        written = lambda: number.read_text().strip().isdigit()  # noqa: E731
        wait_until(written, lambda: x.poll() is None, log=tmp_path / "xvfb.log")
        display = f":{number.read_text().strip()}"
        # as from a user's shell: not the off-screen window class earlier tests chose here
        env = {k: v for k, v in os.environ.items() if k != WINDOW_VARIABLE} | {"DISPLAY": display}
        command = [sys.executable, "-m", "twin.cli", "view", str(sample_twin)]
        view = stack.enter_context(started(command, log, env=env))
        wait_until(lambda: drawn(display), lambda: view.poll() is None, log=log)
