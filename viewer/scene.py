"""The scene of a twin: one actor per layer, and the tools a surveyor uses on it.

A :class:`Scene` wraps a PyVista plotter. Each layer is one merged dataset drawn through one
actor (DESIGN.md §5), in coordinates relative to the model origin; everything the scene
reports (picked points, measurements, views, sections) is in the model CRS.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyvista as pv
from numpy.typing import NDArray

from twin.analysis.sun import SunPosition, sun_position
from twin.errors import DataQualityWarning, InputError, TwinWarning
from twin.files import atomic
from twin.layers import LOD_LAYERS
from twin.mesh import Mesh
from twin.model import CityModel
from viewer import layers as build
from viewer.backend import prepare_offscreen
from viewer.camera import View
from viewer.colors import SEMANTIC_COLORS, Coloring, coloring

#: the layers a scene can show, in drawing order
LAYERS = ("terrain", "buildings", "trees", "utilities", "parcels", "planned_works")
#: layers drawn as lines draped on the terrain
LINE_LAYERS = ("parcels", "planned_works")
#: opacity of the terrain in underground mode
UNDERGROUND_OPACITY = 0.5
#: triangles above which a scene renders without anti-aliasing (software rendering at 8x
#: multisampling takes seconds a frame at 100,000 buildings)
LARGE_SCENE = 500_000


class Scene:
    """A twin drawn in a PyVista plotter.

    Parameters
    ----------
    model
        The twin.
    lod
        The LoD of the buildings (default: the highest the twin has).
    layers
        The layers to show (default: all the twin has); see :data:`LAYERS`.
    color_by
        A building attribute to colour by (default: by semantic surface).
    size
        Picture size ``(width, height)`` in pixels.
    off_screen
        Render without a window (EGL or OSMesa where there is no display).
    lighting
        Shade surfaces; ``False`` draws flat colours (exact attribute colours, for checks).
    terrain_resolution
        At most this many terrain points a side (big rasters are averaged down).
    anti_aliasing
        Smooth edges by multisampling (default: only for scenes of at most
        :data:`LARGE_SCENE` triangles).

    Attributes
    ----------
    warnings : list of TwinWarning
        What is missing or was assumed, each a warning of its class: a layer or the sun the
        picture lacks (:class:`~twin.errors.TwinWarning`), features left out or drawn with
        assumed values (:class:`~twin.errors.DataQualityWarning`). The scene collects them;
        :meth:`warn` issues them.
    drape : str or None
        What the terrain is draped with (``"orthophoto"`` or ``"hillshade"``); ``None``
        without terrain.
    """

    def __init__(
        self,
        model: CityModel,
        /,
        *,
        lod: str | None = None,
        layers: Iterable[str] | None = None,
        color_by: str | None = None,
        size: tuple[int, int] = (1280, 800),
        off_screen: bool = True,
        lighting: bool = True,
        terrain_resolution: int = 512,
        anti_aliasing: bool | None = None,
    ) -> None:
        wanted = tuple(LAYERS if layers is None else layers)
        unknown = sorted(set(wanted) - set(LAYERS))
        if unknown:
            raise InputError(f"unknown layer(s) {unknown}; the viewer shows {', '.join(LAYERS)}")
        if off_screen:
            prepare_offscreen()
        self.model = model
        self.warnings: list[TwinWarning] = []
        self.drape: str | None = None
        self.lighting = lighting
        self.lods = [x for x in model.metadata.get("lods", list(LOD_LAYERS)) if x in LOD_LAYERS]
        self.lod = lod or (self.lods[-1] if self.lods else "1.2")
        self.coloring: Coloring | None = None
        self.sun: SunPosition | None = None
        self.underground = False
        self.plotter = pv.Plotter(off_screen=off_screen, window_size=list(size))
        self.plotter.set_background("#dfe8f0", top="#8fb3d9")
        self.actors: dict[str, pv.Actor] = {}
        self.datasets: dict[str, pv.DataSet] = {}
        self._shown = wanted
        self._terrain_resolution = terrain_resolution
        for name in wanted:
            self._add(name)
        if color_by is not None:
            self.color_by(color_by)
        triangles = sum(d.n_cells for d in self.datasets.values())
        if not (triangles <= LARGE_SCENE if anti_aliasing is None else anti_aliasing):
            self.plotter.disable_anti_aliasing()
        self.set_view(View.framing(self.bounds(), aspect=size[0] / size[1]))

    # -- layers ---------------------------------------------------------------------------

    def _add(self, name: str) -> None:
        """Build one layer's dataset and actor, or note why it is missing."""
        if name == "buildings":
            self._add_buildings()
        elif name == "terrain":
            self._add_terrain()
        elif name in ("trees", "utilities"):
            made = build.trees(self.model) if name == "trees" else build.utilities(self.model)
            if made is None:
                self._note(f"the twin has no {name}")
                return
            mesh, notes = made
            for note in notes:
                self._note(note, DataQualityWarning)
            self._actor(name, mesh, scalars="rgb", rgb=True)
        else:
            lines = build.draped_lines(self.model, name)
            if lines is None:
                self._note(f"the twin has no {name.replace('_', ' ')}")
                return
            color = "#fff3a0" if name == "parcels" else "#ff3b30"
            self._actor(name, lines, color=color, line_width=2 if name == "parcels" else 4)

    def _note(self, message: str, category: type[TwinWarning] = TwinWarning, /) -> None:
        """Collect a warning about the picture (:attr:`warnings`)."""
        self.warnings.append(category(message))

    @property
    def notes(self) -> list[str]:
        """The messages of :attr:`warnings`."""
        return [str(w) for w in self.warnings]

    def warn(self) -> None:
        """Issue :attr:`warnings` through the warnings module: the ``twin`` command prints
        each as a ``warning:`` line, as it prints every command's."""
        for warning in self.warnings:
            warnings.warn(warning, stacklevel=2)

    def add_surfaces(
        self,
        name: str,
        polygons: NDArray[np.object_],
        /,
        *,
        color: str,
        opacity: float = 1.0,
        ambient: float = 0.0,
    ) -> None:
        """Draw planar 3D polygons (model CRS, for example a planned trench's faces) as one
        actor; ``ambient`` is the share of the colour shown whatever the light (0 to 1)."""
        mesh = Mesh.from_surfaces(
            np.asarray(polygons, dtype=object),
            np.zeros(len(polygons), dtype=np.int64),
            np.zeros(len(polygons), dtype=np.int8),
        )
        poly = pv.PolyData.from_regular_faces(mesh.local(self.model.origin), mesh.triangles)
        self._actor(name, poly, color=color, opacity=opacity, ambient=ambient)

    def hide(self, name: str, rows: Iterable[int], /) -> None:
        """Leave features out of the picture: ``rows`` of the model's ``buildings`` or
        ``trees`` (none: show them all again)."""
        key = {"buildings": "building", "trees": "tree"}.get(name)
        if key is None:
            raise InputError(f"cannot hide single features of {name!r}: only buildings, trees")
        actor = self.actors.get(name)
        if actor is None:
            return
        data = self.datasets[name]
        hidden = np.flatnonzero(np.isin(data.cell_data[key], np.fromiter(rows, dtype=np.int64)))
        shown = data.remove_cells(hidden) if hidden.size else data.copy(deep=False)
        colours = actor.mapper.GetArrayName()  # the array the actor is coloured by
        if colours:
            cells = "Cell" in actor.mapper.GetScalarModeAsString()
            shown.set_active_scalars(colours, preference="cell" if cells else "point")
        actor.mapper.SetInputData(shown)

    def set_opacity(self, name: str, opacity: float, /) -> None:
        """Make a layer shown (or surfaces added) translucent: ``opacity`` from 0 to 1."""
        if not 0.0 <= opacity <= 1.0:
            raise InputError(f"opacity {opacity}: must lie between 0 and 1")
        actor = self.actors.get(name)
        if actor is not None:
            actor.prop.opacity = opacity

    def _actor(self, name: str, mesh: pv.DataSet, /, **options: Any) -> None:
        self.datasets[name] = mesh
        self.actors[name] = self.plotter.add_mesh(
            mesh, name=name, lighting=self.lighting, show_scalar_bar=False, **options
        )

    def _add_buildings(self) -> None:
        if "building_surfaces" not in self.model.layers or "buildings" not in self.model.layers:
            self._note("the twin has no building solids (no building_surfaces layer)")
            return
        if self.lod not in self.lods:
            raise InputError(f"the twin has no LoD {self.lod!r} (it has: {', '.join(self.lods)})")
        # ground surfaces lie on the terrain: hidden wherever it is drawn
        grounds = self.model.terrain is None or "terrain" not in self._shown
        mesh = build.buildings(self.model, self.lod, grounds=grounds)
        if mesh.n_cells == 0:
            self._note(f"no building has an LoD{self.lod} solid", DataQualityWarning)
            return
        table = self.model.buildings
        drawn = np.bincount(mesh.cell_data["building"], minlength=len(table)) > 0
        if "parent_id" in table:  # a building drawn through its parts (CityJSON, CityGML)
            drawn |= table["building_id"].isin(table["parent_id"][drawn]).to_numpy()
        empty = int((~drawn).sum())
        if empty:
            self._note(
                f"{empty} building(s) without an LoD{self.lod} solid not drawn", DataQualityWarning
            )
        self.datasets["buildings"] = mesh
        self._paint_buildings()

    def _paint_buildings(self) -> None:
        mesh = self.datasets["buildings"]
        owner = mesh.cell_data["building"]
        options: dict[str, Any] = {}
        c = self.coloring
        if c is None:
            mesh.cell_data["rgb"] = SEMANTIC_COLORS[mesh.cell_data["semantic"]]
            options = {"scalars": "rgb", "rgb": True}
        elif c.numeric:
            mesh.cell_data[c.attribute] = c.values[owner]
            options = {
                "scalars": c.attribute,
                "cmap": "viridis",
                "clim": c.clim,
                "nan_color": "#5a5a5a",
                "show_scalar_bar": True,
                "scalar_bar_args": {"title": c.attribute, "vertical": True},
            }
        else:
            mesh.cell_data["rgb"] = c.rgb()[owner]
            options = {"scalars": "rgb", "rgb": True}
        if "buildings_legend" in self.actors:
            self.plotter.remove_legend()
            del self.actors["buildings_legend"]
        if len(self.plotter.scalar_bars):
            self.plotter.remove_scalar_bar()
        self.datasets["buildings"] = mesh
        self.actors["buildings"] = self.plotter.add_mesh(
            mesh,
            name="buildings",
            lighting=self.lighting,
            **{"show_scalar_bar": False, **options},
        )
        if c is not None and not c.numeric:
            colors = c.category_colors() / 255.0
            labels = [[label, tuple(rgb)] for label, rgb in zip(c.categories, colors, strict=True)]
            self.actors["buildings_legend"] = self.plotter.add_legend(
                labels, bcolor="white", face="rectangle", size=(0.18, 0.04 * len(labels) + 0.02)
            )

    def _add_terrain(self) -> None:
        grid = build.terrain(self.model, max_side=self._terrain_resolution)
        if grid is None:
            self._note("the twin has no terrain")
            return
        texture, self.drape, notes = build.drape(self.model)
        for note in notes:
            self._note(note, DataQualityWarning)
        self._actor("terrain", grid, texture=texture, ambient=0.25)

    def color_by(self, attribute: str | None, /) -> Coloring | None:
        """Colour the buildings by a building attribute (``None``: by semantic surface)."""
        self.coloring = None if attribute is None else coloring(self.model.buildings, attribute)
        if "buildings" in self.datasets:
            self._paint_buildings()
        return self.coloring

    def set_lod(self, lod: str, /) -> None:
        """Show the buildings at another LoD."""
        if lod not in self.lods:
            raise InputError(f"the twin has no LoD {lod!r} (it has: {', '.join(self.lods)})")
        self.lod = lod
        if "buildings" in self._shown:
            self.datasets.pop("buildings", None)
            self._add_buildings()

    def set_underground(self, on: bool = True, /, *, cut: float | None = None) -> None:
        """Underground mode: the terrain turns translucent so utilities below it show.

        With ``cut`` (metres), the terrain instead stays opaque and a square hole ``2 * cut``
        wide is cut out of it around the camera's focal point, as from an excavation.
        """
        if cut is not None and not cut > 0:
            raise InputError(f"cut {cut}: the half-width of the hole must be positive (m)")
        self.underground = on
        terrain = self.actors.get("terrain")
        if terrain is None:
            return
        grid = self.datasets["terrain"]
        shown = grid
        if on and cut is not None:
            focus = np.asarray(self.plotter.camera.focal_point)[:2]
            centres = grid.cell_centers().points[:, :2]
            inside = np.flatnonzero((np.abs(centres - focus) < cut).all(axis=1))
            shown = grid.hide_cells(inside)  # a copy: the full grid stays for picking
        terrain.mapper.SetInputData(shown)
        terrain.prop.opacity = UNDERGROUND_OPACITY if on and cut is None else 1.0

    # -- sun ----------------------------------------------------------------------------

    def set_time(self, time: str | datetime, /, *, shadows: bool = True) -> SunPosition:
        """Light the scene by the sun at ``time`` (with a time zone), casting shadows."""
        origin = self.model.origin
        sun = sun_position(self.model.crs, origin[:2], time, height=float(origin[2]))
        self.sun = sun
        self.plotter.remove_all_lights()
        if not sun.above_horizon[0]:
            self._note(f"the sun is below the horizon at {sun.times[0].isoformat()}")
            self.plotter.add_light(pv.Light(light_type="headlight", intensity=0.25))
            return sun
        direction = sun.direction()[0]
        light = pv.Light(
            position=tuple(direction * 1000.0),
            focal_point=(0.0, 0.0, 0.0),
            light_type="scene light",
            intensity=1.0,
        )
        light.positional = False
        self.plotter.add_light(light)
        for actor in self.actors.values():
            if isinstance(actor, pv.Actor):
                actor.prop.ambient = 0.3
        if shadows:
            # VTK's shadow pass cannot shade plain lines: draw them as thin tubes instead
            b = np.asarray(self.bounds())
            radius = 0.0015 * float(np.linalg.norm(b[1::2] - b[0::2]))
            for name in LINE_LAYERS:
                if name in self.datasets and self.datasets[name].n_lines:
                    tube = self.datasets[name].tube(radius=radius, n_sides=6)
                    color = self.actors[name].prop.color
                    self._actor(name, tube, color=color)
            self.plotter.enable_shadows()
        return sun

    # -- camera -------------------------------------------------------------------------

    def bounds(self) -> tuple[float, float, float, float, float, float]:
        """``(xmin, xmax, ymin, ymax, zmin, zmax)`` of what is shown, in the model CRS."""
        shown = [d for d in self.datasets.values() if d.n_points]
        ox, oy, oz = self.model.origin
        if not shown:
            return (ox - 100, ox + 100, oy - 100, oy + 100, oz, oz + 10)
        b = np.array([d.bounds for d in shown])
        lo, hi = b[:, 0::2].min(axis=0), b[:, 1::2].max(axis=0)
        o = self.model.origin
        return tuple(float(v) for v in np.column_stack([lo + o, hi + o]).ravel())

    def set_view(self, view: View, /) -> None:
        """Point the camera (``view`` in the model CRS)."""
        local = view.shifted(self.model.origin)
        camera = self.plotter.camera
        camera.position = local.position
        camera.focal_point = local.focal_point
        camera.up = local.view_up
        camera.view_angle = local.view_angle
        camera.parallel_projection = local.parallel_scale is not None
        if local.parallel_scale is not None:
            camera.parallel_scale = local.parallel_scale
        self.plotter.camera_set = True
        self.plotter.reset_camera_clipping_range()

    def view(self) -> View:
        """The current camera, in the model CRS (what a bookmark saves)."""
        camera = self.plotter.camera
        o = self.model.origin
        return View(
            tuple(float(v) for v in np.asarray(camera.position) + o),
            tuple(float(v) for v in np.asarray(camera.focal_point) + o),
            tuple(float(v) for v in camera.up),
            float(camera.view_angle),
            float(camera.parallel_scale) if camera.parallel_projection else None,
        )

    def frame(
        self, bbox: tuple[float, float, float, float] | None = None, /, *, top: bool = False
    ) -> None:
        """Frame ``(xmin, ymin, xmax, ymax)`` in the model CRS (default: everything shown).

        The heights framed are those of what is shown inside the box (a hilly city's other
        heights would push the box off the picture).
        """
        b = self.bounds()
        if bbox is not None:
            xmin, ymin, xmax, ymax = bbox
            if not (xmax > xmin and ymax > ymin):
                raise InputError(f"bbox {bbox}: needs xmin < xmax and ymin < ymax")
            lo = np.array([xmin, ymin]) - self.model.origin[:2]
            hi = np.array([xmax, ymax]) - self.model.origin[:2]
            z = [
                p[(p[:, :2] >= lo).all(axis=1) & (p[:, :2] <= hi).all(axis=1), 2]
                for p in (np.asarray(d.points) for d in self.datasets.values())
            ]
            z = np.concatenate(z) + self.model.origin[2] if z else np.empty(0)
            zmin, zmax = (float(z.min()), float(z.max())) if z.size else b[4:]
            b = (xmin, xmax, ymin, ymax, zmin, max(zmax, zmin + 1.0))
        w, h = self.plotter.window_size
        self.set_view(View.framing(b, top=top, aspect=w / h))

    # -- tools --------------------------------------------------------------------------

    def pick(self, column: int, row: int, /) -> dict[str, Any] | None:
        """The building under a pixel (``column``, ``row`` from the top left, as in a picture).

        Returns the building's attributes with ``building_row``, ``lod`` and the picked
        ``point`` (model CRS), or ``None`` when no building is there.
        """
        actor = self.actors.get("buildings")
        if actor is None:
            return None
        self.plotter.render()
        picker = pv._vtk.vtkCellPicker()
        picker.SetTolerance(0.0)
        picker.PickFromListOn()
        picker.AddPickList(actor)
        height = self.plotter.window_size[1]
        if not picker.Pick(column, height - 1 - row, 0, self.plotter.renderer):
            return None
        cell = picker.GetCellId()
        if cell < 0:
            return None
        building = int(self.datasets["buildings"].cell_data["building"][cell])
        info = self.building_info(building)
        info["point"] = tuple(
            float(v) for v in np.asarray(picker.GetPickPosition()) + self.model.origin
        )
        return info

    def building_info(self, building: int, /) -> dict[str, Any]:
        """Everything about one building (row of ``model.buildings``): the pick panel."""
        row = self.model.buildings.drop(columns="geometry").iloc[building]
        info = {k: (None if _missing(v) else _plain(v)) for k, v in row.items()}
        info["building_row"] = building
        info["lod"] = self.lod
        return info

    def clip(self, origin: NDArray[np.float64], normal: NDArray[np.float64], /) -> None:
        """Cut away what lies behind a plane (model CRS), keeping what lies on its ``normal``
        side, in every layer."""
        plane = pv._vtk.vtkPlane()
        plane.SetOrigin(*(np.asarray(origin, dtype=np.float64) - self.model.origin))
        plane.SetNormal(*np.asarray(normal, dtype=np.float64))
        for name, actor in self.actors.items():
            if name in self.datasets:
                actor.mapper.RemoveAllClippingPlanes()
                actor.mapper.AddClippingPlane(plane)

    def unclip(self) -> None:
        """Remove the clip plane."""
        for name, actor in self.actors.items():
            if name in self.datasets:
                actor.mapper.RemoveAllClippingPlanes()

    def section(
        self, origin: NDArray[np.float64], normal: NDArray[np.float64], /
    ) -> NDArray[np.float64]:
        """The buildings cut by a plane: draws the section and returns its line segments.

        Returns ``(k, 2, 3)`` segment end points in the model CRS.
        """
        mesh = self.datasets.get("buildings")
        if mesh is None:
            raise InputError("no buildings to cut: the scene shows none")
        o = np.asarray(origin, dtype=np.float64) - self.model.origin
        cut = mesh.slice(normal=tuple(np.asarray(normal, dtype=float)), origin=tuple(o))
        if cut.n_cells:
            self.actors["section"] = self.plotter.add_mesh(
                cut, name="section", color="#ff00aa", line_width=4, lighting=False
            )
        segments = cut.lines.reshape(-1, 3)[:, 1:] if cut.n_cells else np.empty((0, 2), int)
        return np.asarray(cut.points, dtype=np.float64)[segments] + self.model.origin

    # -- pictures -----------------------------------------------------------------------

    def image(self) -> NDArray[np.uint8]:
        """The rendered picture, ``(height, width, 3)`` uint8."""
        self.plotter.render()
        return np.asarray(self.plotter.screenshot(return_img=True))

    def screenshot(self, path: str | Path, /) -> Path:
        """Write the picture (PNG, JPEG, ...) atomically."""
        import imageio.v3 as iio

        path = Path(path)
        with atomic(path) as tmp:  # ends as ``path`` does: imageio picks the format by it
            iio.imwrite(tmp, self.image())
        return path

    def close(self) -> None:
        """Release the render window."""
        self.plotter.close()

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def _plain(value: object) -> object:
    """numpy scalars as Python ones (JSON-friendly panels)."""
    return value.item() if isinstance(value, np.generic) else value
