"""The twin's layers as VTK datasets: one merged dataset per layer, in local coordinates.

Every function takes the model and returns one PyVista dataset (or ``None`` when the model
lacks what it needs) with coordinates relative to ``model.origin`` as float32, so that nothing
jitters at projected coordinates in the hundreds of thousands. Nothing here makes one object
per feature: buildings come from the model's merged mesh, trees are instanced templates, lines
are one poly-line set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyvista as pv
import rasterio
import shapely
from numpy.typing import NDArray
from rasterio.enums import Resampling

from twin.model import CityModel
from twin.semantics import Semantic
from twin.terrain import reading

#: colours of the utility networks, after the APWA uniform colour code (RGB 0-255)
NETWORK_COLORS: dict[str, tuple[int, int, int]] = {
    "water": (0, 90, 255),
    "sewer": (0, 160, 60),
    "gas": (255, 210, 0),
    "district_heating": (230, 0, 200),
    "power_lv": (230, 20, 20),
    "power_mv": (150, 0, 0),
    "telecom": (255, 120, 0),
}
OTHER_NETWORK = (128, 128, 128)

#: cover depth (m, ground to the top of the line) used where ``depth_m`` is missing
DEFAULT_DEPTH = 1.0
#: tube radius (m) of cables and lines without a diameter
CABLE_RADIUS = 0.06
#: vertex spacing (m) of lines draped on or hung under the terrain
DRAPE_STEP = 2.0


def buildings(model: CityModel, lod: str, /, *, grounds: bool = True) -> pv.PolyData:
    """The merged building mesh at ``lod``.

    ``grounds=False`` leaves the ground surfaces out (a sixth of an LoD1 model's triangles,
    hidden wherever the terrain is drawn), and the vertices only they use. Cell data:
    ``building`` (row in ``model.buildings``) and ``semantic`` (0 ground, 1 wall, 2 roof).
    """
    mesh = model.mesh(lod)
    keep = slice(None) if grounds else mesh.semantic != Semantic.GroundSurface
    triangles = mesh.triangles[keep]
    used = np.zeros(len(mesh.vertices), dtype=bool)
    used[triangles] = True
    number = np.cumsum(used) - 1  # new index of each used vertex
    points = (mesh.vertices[used] - model.origin).astype(np.float32)
    poly = pv.PolyData.from_regular_faces(points, number[triangles])
    poly.cell_data["building"] = mesh.owner[keep]
    poly.cell_data["semantic"] = mesh.semantic[keep]
    return poly


def read_decimated(
    path: str, /, *, max_side: int, bands: list[int] | None = None
) -> tuple[NDArray[np.float32], tuple[float, float, float, float]]:
    """A raster read at most ``max_side`` pixels a side (block averages), and its bounds.

    Returns ``(bands, rows, cols)`` float32 with no-data as NaN, and ``(xmin, ymin, xmax,
    ymax)``.
    """
    with reading(path, "raster"), rasterio.open(path) as src:
        factor = max(1.0, max(src.height, src.width) / max_side)
        shape = (max(2, round(src.height / factor)), max(2, round(src.width / factor)))
        data = src.read(
            bands or list(range(1, src.count + 1)),
            out_shape=(len(bands) if bands else src.count, *shape),
            masked=True,
            resampling=Resampling.average,
        )
        bounds = tuple(src.bounds)
    return data.astype(np.float32).filled(np.nan), bounds


def terrain(model: CityModel, /, *, max_side: int = 1024) -> pv.StructuredGrid | None:
    """The terrain as a height field, decimated to at most ``max_side`` points a side.

    Point data ``elevation`` (m, the model's vertical datum); texture coordinates span the
    terrain's bounds. No-data points are hidden.
    """
    if model.terrain is None:
        return None
    data, (xmin, ymin, xmax, ymax) = read_decimated(
        str(model.terrain.path), max_side=max_side, bands=[1]
    )
    z = data[0]
    rows, cols = z.shape
    ox, oy, oz = model.origin
    xs = np.linspace(xmin, xmax, cols) - ox
    ys = np.linspace(ymax, ymin, rows) - oy
    x, y = np.meshgrid(xs.astype(np.float32), ys.astype(np.float32))
    missing = np.isnan(z)
    filled = np.where(missing, np.nanmin(z) if not missing.all() else oz, z) - oz
    grid = pv.StructuredGrid(x.T, y.T, filled.astype(np.float32).T)
    grid.point_data["elevation"] = (filled + oz).T.ravel(order="F")
    u = (x.T.ravel(order="F") + ox - xmin) / (xmax - xmin)
    v = (y.T.ravel(order="F") + oy - ymin) / (ymax - ymin)
    grid.active_texture_coordinates = np.column_stack([u, v]).astype(np.float32)
    if missing.any():
        grid.hide_points(np.flatnonzero(missing.T.ravel(order="F")))
    return grid


def hillshade(
    elevation: NDArray[np.float32],
    /,
    *,
    pixel: float,
    azimuth: float = 315.0,
    altitude: float = 45.0,
) -> NDArray[np.uint8]:
    """Grey hillshade ``(rows, cols, 3)`` of a height grid whose first row is the north edge.

    Examples
    --------
    >>> flat = np.zeros((3, 3), dtype=np.float32)
    >>> int(hillshade(flat, pixel=1.0)[1, 1, 0])
    180
    """
    dz_dy, dz_dx = np.gradient(np.nan_to_num(elevation, nan=float(np.nanmean(elevation))), pixel)
    slope = np.arctan(np.hypot(dz_dx, dz_dy))
    aspect = np.arctan2(dz_dx, dz_dy)  # rows run south, so +dz_dy means falling northwards
    az, alt = np.radians(azimuth), np.radians(altitude)
    shade = np.sin(alt) * np.cos(slope) + np.cos(alt) * np.sin(slope) * np.cos(az - aspect)
    grey = (255 * np.clip(shade, 0, 1)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def drape(model: CityModel, /, *, max_side: int = 2048) -> tuple[pv.Texture, str, list[str]] | None:
    """The image draped on the terrain: the twin's orthophoto, else a hillshade of the DTM.

    Returns the texture, what it is (``"orthophoto"`` or ``"hillshade"``) and notes on a
    fallback (the twin's orthophoto file is missing), or ``None`` without terrain.
    """
    if model.terrain is None:
        return None
    ortho = model.ortho
    if ortho is not None and Path(ortho).exists():
        rgb, _ = read_decimated(str(ortho), max_side=max_side, bands=[1, 2, 3])
        image = np.nan_to_num(rgb).clip(0, 255).astype(np.uint8).transpose(1, 2, 0)
        return pv.Texture(np.ascontiguousarray(image)), "orthophoto", []
    z, (xmin, _, xmax, _) = read_decimated(str(model.terrain.path), max_side=max_side, bands=[1])
    image = hillshade(z[0], pixel=(xmax - xmin) / z.shape[2])
    notes = [f"terrain: orthophoto {ortho} is missing; a hillshade draped instead"] if ortho else []
    return pv.Texture(np.ascontiguousarray(image)), "hillshade", notes


def _ground(model: CityModel, xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """Terrain heights at ``xy`` (the origin height where there is no terrain)."""
    if model.terrain is None:
        return np.full(len(xy), model.origin[2])
    z = model.terrain.sample(xy)
    return np.where(np.isnan(z), model.origin[2], z)


def _polylines(
    model: CityModel, lines: NDArray[np.object_], offset: NDArray[np.float64]
) -> pv.PolyData:
    """Lines densified every :data:`DRAPE_STEP` m and hung ``offset`` m (per line) above ground.

    Cell data ``line`` is the row of each line.
    """
    dense = shapely.segmentize(lines, DRAPE_STEP)
    xy, part = shapely.get_coordinates(dense, return_index=True)
    z = _ground(model, xy) + offset[part]
    points = (np.column_stack([xy, z]) - model.origin).astype(np.float32)
    counts = np.bincount(part, minlength=len(lines))
    keep = counts >= 2
    kept = counts[keep]
    # VTK's line connectivity: [n, i0 .. in-1] per line, built in one go
    starts = np.concatenate([[0], np.cumsum(kept)[:-1]]).astype(np.int64)
    connectivity = np.insert(np.flatnonzero(keep[part]), starts, kept)
    poly = pv.PolyData(points, lines=connectivity if len(kept) else None)
    poly.cell_data["line"] = np.flatnonzero(keep)
    return poly


def _boundaries(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """Every ring of polygons and every part of lines as single LineStrings."""
    lines = shapely.boundary(geoms)
    lines = np.where(shapely.get_type_id(geoms) == 1, geoms, lines)  # LineStrings stay
    parts, _ = shapely.get_parts(lines, return_index=True)
    return parts[~shapely.is_empty(parts)]


def draped_lines(model: CityModel, layer: str, /, *, lift: float = 0.15) -> pv.PolyData | None:
    """The outlines of a polygon layer (or a line layer) draped ``lift`` m above the terrain."""
    frame = model.layers.get(layer)
    if frame is None or len(frame) == 0:
        return None
    geoms = frame.geometry.to_numpy()
    parts = _boundaries(geoms[~shapely.is_missing(geoms)])
    if len(parts) == 0:
        return None
    return _polylines(model, parts, np.full(len(parts), lift))


def utilities(model: CityModel, /, *, sides: int = 8) -> tuple[pv.PolyData, list[str]] | None:
    """Utility lines as tubes at their depth, coloured by network.

    The tube axis lies ``depth_m`` (cover depth, ground to the top of the pipe) plus the pipe
    radius below the terrain. Point data: ``rgb`` (the network colour) and ``line`` (row in
    the layer). Returns the tubes and notes on
    what was assumed.
    """
    frame = model.layers.get("utilities")
    if frame is None or len(frame) == 0:
        return None
    notes = []
    geoms = frame.geometry.to_numpy()
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not usable.all():
        notes.append(f"utilities: {int((~usable).sum())} line(s) without geometry not drawn")
    n = len(frame)
    depth = _column(frame, "depth_m", n, DEFAULT_DEPTH, notes, "utilities")
    radius = np.full(n, CABLE_RADIUS)
    if "diameter_mm" in frame:
        diameter = frame["diameter_mm"].to_numpy(dtype=float)
        radius = np.where(np.isfinite(diameter) & (diameter > 0), diameter / 2000.0, radius)
    network = frame["network"].astype(str).to_numpy() if "network" in frame else np.full(n, "other")
    rows = np.flatnonzero(usable)
    lines = _polylines(model, geoms[rows], -(depth[rows] + radius[rows]))
    owner = rows[lines.cell_data["line"]]
    lines.cell_data["line"] = owner
    per_point = lines.cell_data_to_point_data()
    point_row = np.rint(per_point.point_data["line"]).astype(np.int64)
    lines.point_data["line"] = point_row
    lines.point_data["radius"] = radius[point_row]
    colors = np.array([NETWORK_COLORS.get(k, OTHER_NETWORK) for k in network], dtype=np.uint8)
    lines.point_data["rgb"] = colors[point_row]
    tubes = lines.tube(scalars="radius", absolute=True, n_sides=sides, capping=True)
    return tubes, notes


def _column(frame, name: str, n: int, default: float, notes: list[str], what: str):
    """A numeric column with ``default`` where it is missing or absent (noted)."""
    if name not in frame:
        notes.append(f"{what}: no {name!r} column; {default} assumed")
        return np.full(n, default)
    values = frame[name].to_numpy(dtype=float)
    missing = ~np.isfinite(values)
    if missing.any():
        notes.append(f"{what}: {int(missing.sum())} row(s) without {name!r}; {default} assumed")
    return np.where(missing, default, values)


def _instances(
    template: pv.PolyData, centres: NDArray[np.float64], scales: NDArray[np.float64]
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Copies of a template mesh, scaled per axis and moved: ``(points, faces)``."""
    pts = np.asarray(template.points, dtype=np.float64)
    tri = template.triangulate().regular_faces
    points = pts[None, :, :] * scales[:, None, :] + centres[:, None, :]
    faces = tri[None, :, :] + (np.arange(len(centres)) * len(pts))[:, None, None]
    return points.reshape(-1, 3).astype(np.float32), faces.reshape(-1, 3)


def trees(model: CityModel, /) -> tuple[pv.PolyData, list[str]] | None:
    """Trees as a trunk (cylinder) and a crown (ellipsoid) each, in one mesh.

    Sizes come from ``trunk_circumference_cm``, ``crown_diameter_m`` and ``height_m``;
    columnar trees get a slender crown. Cell data ``rgb`` (trunk brown, crown green) and
    ``tree`` (row in the layer). Returns the mesh and notes on what was assumed.
    """
    frame = model.layers.get("trees")
    if frame is None or len(frame) == 0:
        return None
    notes: list[str] = []
    geoms = frame.geometry.to_numpy()
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    rows = np.flatnonzero(usable)
    if len(rows) == 0:
        return None
    n = len(frame)
    height = _column(frame, "height_m", n, 8.0, notes, "trees")[rows]
    crown = _column(frame, "crown_diameter_m", n, np.nan, [], "trees")[rows]
    crown = np.where(np.isfinite(crown), crown, 0.5 * height)
    girth = _column(frame, "trunk_circumference_cm", n, 60.0, [], "trees")[rows]
    columnar = frame["columnar"].to_numpy(dtype=bool)[rows] if "columnar" in frame else False
    xy = shapely.get_coordinates(geoms[rows])
    base = np.column_stack([xy, _ground(model, xy)]) - model.origin
    crown_h = np.where(columnar, 0.7, 0.5) * height  # vertical extent of the crown
    trunk_h = np.maximum(height - crown_h, 0.5)
    r = np.maximum(girth / (200.0 * np.pi), 0.05)
    trunk_pts, trunk_faces = _instances(
        pv.Cylinder(center=(0, 0, 0.5), direction=(0, 0, 1), radius=1, height=1, resolution=6),
        base,
        np.column_stack([r, r, trunk_h + 0.2 * crown_h]),
    )
    centre = base + np.column_stack([np.zeros((len(rows), 2)), height - crown_h / 2])
    crown_pts, crown_faces = _instances(
        pv.Icosphere(radius=0.5, nsub=1),
        centre,
        np.column_stack([crown, crown, crown_h]),
    )
    poly = pv.PolyData.from_regular_faces(
        np.vstack([trunk_pts, crown_pts]), np.vstack([trunk_faces, crown_faces + len(trunk_pts)])
    )
    n_trunk, n_crown = len(trunk_faces) // len(rows), len(crown_faces) // len(rows)
    poly.cell_data["rgb"] = np.vstack(
        [
            np.tile(np.array([[110, 75, 45]], np.uint8), (len(trunk_faces), 1)),
            np.tile(np.array([[60, 135, 50]], np.uint8), (len(crown_faces), 1)),
        ]
    )
    poly.cell_data["tree"] = np.concatenate([np.repeat(rows, n_trunk), np.repeat(rows, n_crown)])
    return poly, notes
