"""Off-screen pictures and fly-through videos of a twin: what ``twin render`` does."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from numpy.typing import NDArray
from rasterio.windows import Window, from_bounds

from twin.analysis.trench import TrenchCheck
from twin.errors import InputError
from twin.model import CityModel
from twin.polygon3d import extrude
from twin.semantics import Semantic
from twin.terrain import Terrain, reading
from viewer.camera import View, bookmark, load_bookmarks
from viewer.scene import Scene
from viewer.video import FORMATS, fly_through

#: picture file types (imageio's Pillow plugin); videos are :data:`viewer.video.FORMATS`
PICTURES = (".png", ".jpg", ".jpeg")
#: colour of the excavation in the trench snapshot
TRENCH_COLOR = "#ff7f00"
#: camera elevation above the horizon of the trench snapshot, degrees (steep enough to look
#: into the pit past what stands beside it)
SNAPSHOT_PITCH = 55.0
#: margin around the trench's working area in the trench snapshot, metres
SNAPSHOT_MARGIN = 6.0
#: height of the excavation's rim above the highest ground along it in the trench snapshot
#: (like the boards round a pit), so that it shows above the translucent terrain, metres
SNAPSHOT_RIM = 0.2
#: vertical field of view of the trench snapshot, degrees
SNAPSHOT_VIEW_ANGLE = 30.0
#: opacity of the terrain and of the trees behind the trench in the trench snapshot
SNAPSHOT_TERRAIN_OPACITY, SNAPSHOT_TREE_OPACITY = 0.35, 0.35


@dataclass(frozen=True)
class RenderOptions:
    """What to show and from where (the options of ``twin render``).

    Attributes
    ----------
    bookmarks
        Bookmark names: one frames a picture; a video flies through them in order.
    bbox
        ``(xmin, ymin, xmax, ymax)`` in the model CRS to frame instead of everything.
    top
        A map view from straight above instead of an oblique one.
    color_by
        Building attribute to colour by.
    layers
        Layers to show (default: all the twin has).
    time
        ISO 8601 date and time with a zone: the sun lights the scene and casts shadows.
    lod
        LoD of the buildings.
    size
        Picture size ``(width, height)``.
    underground
        Translucent terrain, utilities visible.
    cut
        Underground mode that cuts a square hole this many metres either side of the view's
        centre out of the terrain instead of making it translucent.
    """

    bookmarks: Sequence[str] = ()
    bbox: tuple[float, float, float, float] | None = None
    top: bool = False
    color_by: str | None = None
    layers: Sequence[str] | None = None
    time: str | None = None
    lod: str | None = None
    size: tuple[int, int] = (1280, 800)
    underground: bool = False
    cut: float | None = None


def render(
    model: CityModel, twin_path: str | Path, output: str | Path, /, options: RenderOptions
) -> None:
    """Render the twin to a picture (``.png``, ``.jpg``) or a fly-through (``.gif``, ``.mp4``).

    Parameters
    ----------
    model
        The twin.
    twin_path
        Where the twin is stored (its bookmarks lie beside it).
    output
        The file to write (atomically).
    options
        What to show and from where.

    Warns
    -----
    TwinWarning
        What the picture lacks or assumes (:attr:`viewer.scene.Scene.warnings`), once it is
        written.

    Raises
    ------
    InputError
        When ``output`` has none of the suffixes of :data:`PICTURES` and
        :data:`viewer.video.FORMATS` (before anything is rendered), or the options do not fit
        together.
    """
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in (*PICTURES, *FORMATS):
        raise InputError(
            f"{output}: twin renders pictures ({', '.join(PICTURES)}) and fly-through videos "
            f"({', '.join(FORMATS)}), not {suffix or 'a name without a suffix'}: give the "
            "output one of those suffixes"
        )
    video = suffix in FORMATS
    marks = load_bookmarks(twin_path) if options.bookmarks else {}
    views = [bookmark(marks, name) for name in options.bookmarks]
    if video and len(views) < 2:
        raise InputError(f"{output}: a fly-through needs two or more --bookmark options")
    if options.bbox is not None and views:
        raise InputError("give either --bbox or --bookmark, not both")
    with Scene(model, lod=options.lod, layers=options.layers, size=options.size) as scene:
        if options.bbox is not None:
            _check_bbox(options.bbox, scene.bounds())
        if options.color_by:
            scene.color_by(options.color_by)
        if options.underground and options.cut is None:
            scene.set_underground(True)
        scene.set_opacity("terrain", SNAPSHOT_TERRAIN_OPACITY)
        scene.set_opacity("trees", SNAPSHOT_TREE_OPACITY)
        if options.time:
            scene.set_time(options.time)
        if views:
            scene.set_view(views[0])
        elif options.bbox is not None or options.top:
            scene.frame(options.bbox, top=options.top)
        if options.cut is not None:  # around the framed view
            scene.set_underground(True, cut=options.cut)
        if video:
            fly_through(scene, views, output)
        else:
            scene.screenshot(output)
        scene.warn()


def _check_bbox(bbox: tuple[float, float, float, float], shown: tuple[float, ...], /) -> None:
    """Refuse a box that misses everything the scene shows (its picture would be blank)."""
    xmin, ymin, xmax, ymax = bbox
    left, right, bottom, top = shown[:4]
    if xmax < left or xmin > right or ymax < bottom or ymin > top:
        raise InputError(
            f"--bbox {xmin:g} {ymin:g} {xmax:g} {ymax:g} lies wholly outside the twin, whose "
            f"extent (what it shows) is {left:.1f} {bottom:.1f} {right:.1f} {top:.1f} in its "
            "CRS: the picture would be blank"
        )


def trench_snapshot(
    model: CityModel, result: TrenchCheck, path: Path, /, *, size: tuple[int, int] = (1200, 800)
) -> Path:
    """A 3D picture of a checked trench among the utilities, for the trench report
    (``twin dig check --out``).

    The camera looks square across the trench (across the long side of the smallest
    rectangle around its working area, from the south or else the west) from
    :data:`SNAPSHOT_PITCH` degrees above the horizon, framing the working area with
    :data:`SNAPSHOT_MARGIN` metres around it. The buildings and trees between the camera and
    the working area are left out, the trees behind the trench and the terrain are
    translucent, and the excavation is an open orange pit (its rim :data:`SNAPSHOT_RIM` above
    the ground), so that the lines crossing it and those beside it show at their depth.

    Parameters
    ----------
    model
        The twin the trench was checked against.
    result
        The checked trench (:func:`twin.analysis.trench.check_trench`).
    path
        The picture to write (PNG), atomically.
    size
        Picture size ``(width, height)`` in pixels.

    Returns
    -------
    Path
        The picture written.
    """
    body = result.body.set_index("part").geometry
    top = float(np.nanmax(model.terrain.sample(shapely.get_coordinates(body["bottom"]))))
    _, faces, _, semantic = extrude(
        np.array([body["bottom"]]), np.array([top - result.depth]), np.array([top + SNAPSHOT_RIM])
    )
    # open at the top, faces turned to be lit from inside
    pit = shapely.reverse(faces[semantic != Semantic.RoofSurface])

    corners = shapely.get_coordinates(shapely.minimum_rotated_rectangle(body["working area"]))
    sides = np.diff(corners[:3], axis=0)  # two neighbouring sides of the rectangle
    lengths = np.hypot(*sides.T)
    length, width = lengths.max(), lengths.min()
    along = sides[lengths.argmax()] / length
    across = np.array([along[1], -along[0]])  # towards the camera: south, or west
    if across[1] > 0 or (across[1] == 0 and across[0] > 0):
        across = -across
    middle = corners[:4].mean(axis=0)
    pitch, half_angle = np.radians(SNAPSHOT_PITCH), np.radians(SNAPSHOT_VIEW_ANGLE / 2)
    distance = max(  # the working area and its margin fit, across and along
        (length / 2 + SNAPSHOT_MARGIN) / (np.tan(half_angle) * size[0] / size[1]),
        ((width / 2 + SNAPSHOT_MARGIN) * np.sin(pitch) + result.depth) / np.tan(half_angle),
    )
    focus = np.r_[middle, top - result.depth / 2]
    eye = focus + distance * np.r_[across * np.cos(pitch), np.sin(pitch)]
    # in front: the working area swept towards the camera, to beyond it
    front = _swept(body["working area"], across * distance)
    # what the camera sees lies within its distance of the working area (a city's lines as
    # tubes would take minutes to draw)
    seen = shapely.buffer(body["working area"], distance)
    layers = ["terrain", "utilities", "buildings", "trees"]
    with (
        tempfile.TemporaryDirectory(prefix="twin-snapshot-") as folder,
        Scene(_nearby(model, seen.bounds, Path(folder)), layers=layers, size=size) as scene,
    ):
        for name in ("buildings", "trees"):
            frame = scene.model.layers.get(name)
            if frame is not None:
                scene.hide(name, np.flatnonzero(shapely.intersects(frame.geometry, front)))
        scene.set_underground(True)
        scene.set_opacity("terrain", SNAPSHOT_TERRAIN_OPACITY)
        scene.set_opacity("trees", SNAPSHOT_TREE_OPACITY)
        scene.add_surfaces("trench", pit, color=TRENCH_COLOR, ambient=0.5)
        scene.set_view(View(tuple(eye), tuple(focus), (0.0, 0.0, 1.0), SNAPSHOT_VIEW_ANGLE))
        return scene.screenshot(path)


def _nearby(model: CityModel, bounds: tuple[float, float, float, float], folder: Path, /):
    """The part of ``model`` that meets ``bounds``: its features there (read through the
    store's spatial index), the buildings whole with all their surfaces, and the terrain
    and orthophoto cut to the box at full resolution (GeoTIFFs in ``folder``)."""
    layers = {}
    for name in ("buildings", "utilities", "trees"):
        if name in model.layers:
            layers[name] = model.layers.within(name, bounds).reset_index(drop=True)
    if "building_surfaces" in model.layers and len(layers.get("buildings", ())):
        around = tuple(layers["buildings"].total_bounds)  # every surface of those buildings
        surfaces = model.layers.within("building_surfaces", around)
        keep = surfaces["building_id"].isin(layers["buildings"]["building_id"])
        layers["building_surfaces"] = surfaces[keep].reset_index(drop=True)
    terrain, ortho = model.terrain, model.ortho
    if terrain is not None:
        terrain = Terrain.from_raster(_cut(terrain.path, bounds, folder / "dtm.tif", "terrain"))
    if ortho is not None and Path(ortho).exists():
        ortho = _cut(Path(ortho), bounds, folder / "ortho.tif", "orthophoto")
    return CityModel(
        crs=model.crs, layers=layers, terrain=terrain, ortho=ortho, metadata=dict(model.metadata)
    )


def _cut(
    raster: Path, bounds: tuple[float, float, float, float], target: Path, what: str, /
) -> Path:
    """``raster`` cut to ``bounds`` (whole pixels, at most its extent), written to
    ``target``; ``what`` names the raster in the error if it cannot be read."""
    with reading(raster, what), rasterio.open(raster) as src:
        window = from_bounds(*bounds, transform=src.transform)
        window = (
            window.round_offsets().round_lengths().intersection(Window(0, 0, src.width, src.height))
        )
        profile = {  # a plain GeoTIFF: not the source's layout or compression (JPEG, YCbCr)
            "driver": "GTiff",
            "width": window.width,
            "height": window.height,
            "count": src.count,
            "dtype": src.dtypes[0],
            "crs": src.crs,
            # rasterio's window_transform multiplies affines with *, which affine deprecates
            "transform": src.transform @ Affine.translation(window.col_off, window.row_off),
            "nodata": src.nodata,
        }
        data = src.read(window=window)
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(data)
    return target


def _swept(area: shapely.Geometry, shift: NDArray[np.float64], /) -> shapely.Geometry:
    """What ``area`` covers on its way to ``area`` moved by ``shift`` ``(2,)`` (metres).

    >>> _swept(shapely.box(0, 0, 2, 1), np.array([0.0, 3.0])).bounds
    (0.0, 0.0, 2.0, 4.0)
    """
    rings = shapely.get_exterior_ring(shapely.get_parts(area))
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]  # the edges: consecutive vertices of one ring
    a, b = xy[:-1][same], xy[1:][same]
    quads = shapely.polygons(np.stack([a, b, b + shift, a + shift, a], axis=1))
    return shapely.union_all(np.r_[quads, [area]])
