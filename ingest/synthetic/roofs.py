"""Heights, roof types and analytic roof surfaces of the sample buildings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from ingest.synthetic.geom import FloatArray, Frame, IntArray
from ingest.synthetic.parcels import RECT, Footprints
from ingest.synthetic.terrain import terrain_z

FLAT, SHED, GABLED, HIPPED = 0, 1, 2, 3
ROOF_TYPES = np.array(["flat", "shed", "gabled", "hipped"], dtype=object)
#: target share of each roof type over all buildings (flat, shed, gabled, hipped)
ROOF_SHARE = np.array([0.30, 0.10, 0.40, 0.20])
USES = np.array(["residential", "mixed", "commercial", "office", "public", "garage"], dtype=object)
USE_SHARE = np.array([0.52, 0.18, 0.12, 0.1, 0.05, 0.03])


@dataclass(frozen=True)
class Roofs:
    """Roof of every building as parameters of an analytic surface (world frame).

    In a building's local frame ``u`` runs along the long axis (unit vector ``ux, uy``) and
    ``v`` across it; ``half_length`` and ``half_width`` are L/2 and W/2. Roof height above the
    eave: gabled ``tan(a)·(W/2 - |v|)``, hipped ``tan(a)·min(L/2 - |u|, W/2 - |v|)``, shed
    ``tan(a)·(v + W/2)``, flat 0. Non-rectangular buildings are flat. A stepped building
    (``generate_district(..., stepped=N)``) is a flat rectangular one whose half ``u > 0``
    rises ``tower_rise`` higher (a tower on a podium); ``tower_rise`` is 0 elsewhere.
    """

    roof_type: NDArray[np.int8]
    cx: FloatArray
    cy: FloatArray
    ux: FloatArray
    uy: FloatArray
    half_length: FloatArray
    half_width: FloatArray
    tan_pitch: FloatArray
    ground_z: FloatArray
    eave_z: FloatArray
    tower_rise: FloatArray | None = None

    @property
    def ridge_z(self) -> FloatArray:
        """Height of the highest roof point ``(n,)``, metres GHA."""
        rise = np.select(
            [self.roof_type == SHED, self.roof_type >= GABLED],
            [2 * self.half_width, self.half_width],
            0.0,
        )
        tower = 0.0 if self.tower_rise is None else self.tower_rise
        return self.eave_z + self.tan_pitch * rise + tower

    def surface(
        self, b: IntArray, x: FloatArray, y: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Roof height and gradient at points inside the footprints of buildings ``b``.

        Parameters
        ----------
        b : ndarray of int, shape (k,)
            Building of each point.
        x, y : ndarray, shape (k,)
            EPSG:31258 coordinates.

        Returns
        -------
        z, gx, gy : ndarray, shape (k,)
            Height (metres GHA) and its derivatives along x and y.
        """
        ux, uy, t = self.ux[b], self.uy[b], self.tan_pitch[b]
        hl, hw, rt = self.half_length[b], self.half_width[b], self.roof_type[b]
        dx, dy = x - self.cx[b], y - self.cy[b]
        u, v = dx * ux + dy * uy, dy * ux - dx * uy
        along, across = hl - np.abs(u), hw - np.abs(v)
        hip_end = (rt == HIPPED) & (along < across)
        rise = np.select(
            [rt == SHED, rt == GABLED, rt == HIPPED], [v + hw, across, np.minimum(along, across)], 0
        )
        rise = np.clip(rise, 0.0, np.where(rt == SHED, 2 * hw, hw))
        du = np.where(hip_end, -t * np.sign(u), 0.0)
        dv = np.select([rt == SHED, (rt >= GABLED) & ~hip_end], [t, -t * np.sign(v)], 0.0)
        z = self.eave_z[b] + t * rise
        if self.tower_rise is not None:
            z = z + np.where(u > 0, self.tower_rise[b], 0.0)
        return z, du * ux - dv * uy, du * uy + dv * ux

    def ridge_ends(self, b: IntArray) -> tuple[FloatArray, FloatArray]:
        """EPSG:31258 ends of the ridge (shed: of the high eave) of pitched roofs ``b``.

        Returns arrays of shape ``(k, 2)``: x and y of both ends.
        """
        rt, hl, hw = self.roof_type[b], self.half_length[b], self.half_width[b]
        u = np.where(rt == HIPPED, hl - hw, hl)[:, None] * np.array([-1.0, 1.0])
        v = np.where(rt == SHED, hw, 0.0)[:, None]
        ux, uy = self.ux[b, None], self.uy[b, None]
        return self.cx[b, None] + u * ux - v * uy, self.cy[b, None] + u * uy + v * ux


def ground_heights(geometry: NDArray[np.object_]) -> FloatArray:
    """Lowest terrain height over the vertices of each footprint ``(n,)``."""
    xy, owner = shapely.get_coordinates(geometry, return_index=True)
    ground = np.full(len(geometry), np.inf)
    np.minimum.at(ground, owner, terrain_z(xy[:, 0], xy[:, 1]))
    return ground


def assign_roofs(
    footprints: Footprints, frame: Frame, rng: np.random.Generator, /, *, stepped: int = 0
) -> tuple[Roofs, pd.DataFrame]:
    """Draw heights, roof types and attributes of all buildings.

    ``stepped`` flat rectangular buildings (as many as there are, at most) get a tower 4-10 m
    high on the half ``u > 0`` of their roof; with 0 the draws are those of earlier versions.
    Returns the roofs and a table with ``storeys`` (nullable, ~80 % present) and ``use``.
    """
    n = len(footprints.kind)
    rect = footprints.kind == RECT
    eave_h = np.where(
        footprints.detached,
        np.clip(rng.normal(7.0, 1.5, n), 5.0, 12.0),
        np.clip(footprints.eave_mean + rng.normal(0.0, 2.5, n), 5.0, 22.0),
    )
    eave_h = np.round(eave_h, 2)
    # roof types: non-rectangular buildings are flat; the rest fills up the target shares
    want = ROOF_SHARE * n
    want[FLAT] = max(want[FLAT] - np.count_nonzero(~rect), 0.0)
    roof_type = np.where(rect, rng.choice(4, size=n, p=want / want.sum()), FLAT).astype(np.int8)
    x0, y0, x1, y1 = np.nan_to_num(footprints.rect).T
    lx, ly = x1 - x0, y1 - y0
    along_x = lx >= ly
    length, width = np.where(along_x, lx, ly), np.where(along_x, ly, lx)
    # hips need a ridge: squat buildings get gables, and long gabled ones make up the hips
    squat = length < 1.25 * width
    roof_type[(roof_type == HIPPED) & squat] = GABLED
    deficit = round(ROOF_SHARE[HIPPED] * n) - np.count_nonzero(roof_type == HIPPED)
    spare = rng.permutation(np.flatnonzero((roof_type == GABLED) & ~squat))
    roof_type[spare[: max(deficit, 0)]] = HIPPED
    pitch = np.where(roof_type == SHED, rng.uniform(20.0, 30.0, n), rng.uniform(20.0, 45.0, n))
    tan_pitch = np.where(roof_type == FLAT, 0.0, np.tan(np.deg2rad(np.round(pitch, 1))))
    # the u axis: along the long side; a random sense decides where a shed roof rises
    sense = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    ux, uy = frame.rotate(np.where(along_x, sense, 0.0), np.where(along_x, 0.0, sense))
    cx, cy = frame.to_world((x0 + x1) / 2, (y0 + y1) / 2)
    ground = ground_heights(footprints.geometry)
    roofs = Roofs(
        roof_type=roof_type,
        cx=np.where(rect, cx, 0.0),
        cy=np.where(rect, cy, 0.0),
        ux=ux,
        uy=uy,
        half_length=length / 2,
        half_width=width / 2,
        tan_pitch=tan_pitch,
        ground_z=ground,
        eave_z=ground + eave_h,
    )
    if stepped:
        flat = np.flatnonzero(rect & (roof_type == FLAT))
        towers = np.zeros(n)
        chosen = np.sort(rng.permutation(flat)[:stepped])
        towers[chosen] = np.round(rng.uniform(4.0, 10.0, len(chosen)), 2)
        roofs = dataclasses.replace(roofs, tower_rise=towers)
    storeys = pd.array(np.floor(eave_h / 3.0).astype(np.int64), dtype="Int64")
    storeys[rng.random(n) < 0.2] = pd.NA
    use = rng.choice(USES, size=n, p=USE_SHARE)
    return roofs, pd.DataFrame({"storeys": storeys, "use": use})


def truth_table(roofs: Roofs, building_id: NDArray[np.object_]) -> pd.DataFrame:
    """Ground truth per building: ``building_id, roof_type, ground_z, eave_z, ridge_z``.

    With stepped buildings also ``tower_z``: the top of the tower (NaN without one); their
    ``ridge_z`` is that too, their ``eave_z`` the podium's roof.
    """
    table = pd.DataFrame(
        {
            "building_id": building_id,
            "roof_type": ROOF_TYPES[roofs.roof_type],
            "ground_z": np.round(roofs.ground_z, 3),
            "eave_z": np.round(roofs.eave_z, 3),
            "ridge_z": np.round(roofs.ridge_z, 3),
        }
    )
    if roofs.tower_rise is not None:
        table["tower_z"] = np.where(roofs.tower_rise > 0, table["ridge_z"], np.nan)
    return table
