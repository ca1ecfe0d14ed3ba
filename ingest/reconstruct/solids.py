"""The solids every LoD shares: extruded blocks on flat or sloped bases, and a LoD's result.

:func:`blocks` extrudes footprints into the LoD1.2 blocks, standing on the terrain where one is
given; :func:`finish` checks the solids a reconstruction made (LoD1.3, LoD2.2: built by
:mod:`ingest.reconstruct.roofs`) and gives every other building its block, and
:class:`Solids` holds a LoD's solids, faces and attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from twin.polygon3d import extrude, surface_metrics, triangulate
from twin.semantics import Semantic
from twin.terrain import Terrain
from twin.validity import check, names

MIN_HEIGHT = 1.0
"""Metres above ground below which a roof shows no building (a DSM block lower than this:
demolished, or a mismatch), and the least a solid's top must rise above the highest corner
of its base for the base to follow the terrain."""


@dataclass(frozen=True)
class Solids:
    """The solids of ``n`` buildings at one LoD, their faces and attributes.

    Attributes
    ----------
    solids : (n,) object
        MultiPolygon Z shells (``None`` where the building has no LoD1.2 block either).
    faces : (k,) object
        Their faces as Polygon Z.
    owner : (k,) int
        The building of each face.
    semantic : (k,) int8
        :class:`twin.semantics.Semantic` of each face.
    attributes
        Per building: for LoD2.2 ``roof_type``, ``roof_planes``, ``eave_z_lod22``,
        ``ridge_z_lod22``, ``rmse_lod22``, ``lod22_method``, ``lod22_fallback_reason``; for
        LoD1.3 (:mod:`ingest.reconstruct.lod13`) ``lod13_parts``, ``rmse_lod13``, ``lod13_method``,
        ``lod13_fallback_reason`` (see ``docs/model.md``).
    """

    solids: NDArray[np.object_]
    faces: NDArray[np.object_]
    owner: NDArray[np.intp]
    semantic: NDArray[np.int8]
    attributes: pd.DataFrame

    @classmethod
    def gather(cls, parts: Sequence[Solids], indices: Sequence[NDArray[np.intp]], n: int) -> Solids:
        """The solids of ``n`` buildings from ``parts``, each of the buildings ``indices[i]``
        (every building in exactly one part): in building order, the faces grouped by
        building as one reconstruction of all of them gives them.

        Raises
        ------
        ValueError
            When the parts do not hold every building exactly once.
        """
        index = np.concatenate([np.asarray(i, dtype=np.intp) for i in indices])
        if len(index) != n or not np.array_equal(np.sort(index), np.arange(n)):
            raise ValueError("the parts must hold every building exactly once")
        solids = np.empty(n, dtype=object)
        solids[index] = np.concatenate([p.solids for p in parts])
        owner = np.concatenate([i[p.owner] for p, i in zip(parts, indices, strict=True)])
        order = np.argsort(owner, kind="stable")  # a building's faces keep their order
        attributes = pd.concat(
            [p.attributes.set_axis(i) for p, i in zip(parts, indices, strict=True)]
        )
        return cls(
            solids=solids,
            faces=np.concatenate([p.faces for p in parts])[order],
            owner=owner[order],
            semantic=np.concatenate([p.semantic for p in parts])[order],
            attributes=attributes.sort_index().reset_index(drop=True),
        )


@dataclass(frozen=True)
class Blocks:
    """LoD1.2 solids and their faces (see :func:`twin.polygon3d.extrude`).

    Attributes
    ----------
    solids : (n,) object
        MultiPolygon Z shells, ``None`` where a building has no block.
    surfaces : (k,) object
        Their faces as Polygon Z, grouped by building.
    owner : (k,) int
        The building each face belongs to.
    semantic : (k,) int8
        :class:`twin.semantics.Semantic` of each face.
    ground_min, ground_max : (n,) float
        Lowest and highest vertex of each block's ground face (NaN without a block).
    sloped : (n,) bool
        Blocks whose ground face follows the terrain.
    volume, wall_area : (n,) float
        Volume (m³) and wall area (m²) of the sloped blocks; NaN for the others (whose are
        footprint area times height and perimeter times height).
    """

    solids: NDArray[np.object_]
    surfaces: NDArray[np.object_]
    owner: NDArray[np.intp]
    semantic: NDArray[np.int8]
    ground_min: NDArray[np.float64]
    ground_max: NDArray[np.float64]
    sloped: NDArray[np.bool_]
    volume: NDArray[np.float64]
    wall_area: NDArray[np.float64]


def blocks(
    geoms: NDArray[np.object_],
    ground_z: NDArray[np.float64],
    top: NDArray[np.float64],
    /,
    *,
    terrain: Terrain | None = None,
) -> Blocks:
    """Extrude footprints into LoD1.2 blocks, with a flat base or one following the terrain.

    Without ``terrain`` every block stands on its ``ground_z``. With it, each vertex of the
    base takes the terrain height there (:meth:`twin.terrain.Terrain.interpolate`): the walls
    get sloping bottom edges (still vertical, so planar) and the ground face, no longer
    planar, is cut into triangles (GEOS constrained Delaunay, no new vertices), so the shell
    stays closed. A block keeps its flat base where the terrain has no height at one of its
    vertices or its top is less than :data:`MIN_HEIGHT` above the highest of them.

    Parameters
    ----------
    geoms : (n,) object
        Footprints.
    ground_z, top : (n,) float
        Ground height and top of each block (NaN or ``top <= ground_z``: no block).
    terrain
        The terrain for sloped bases, or ``None`` for flat ones.

    Examples
    --------
    >>> out = blocks(np.array([shapely.box(0, 0, 10, 8)]), np.array([445.0]), np.array([457.0]))
    >>> len(out.surfaces), out.ground_min.tolist(), out.sloped.tolist()
    (6, [445.0], [False])
    """
    solids, surfaces, owner, semantic = extrude(geoms, ground_z, top)
    n = len(solids)
    built = ~shapely.is_missing(solids)
    flat = np.where(built, ground_z, np.nan)
    unknown = np.full(n, np.nan)
    if terrain is None or not len(surfaces):
        none = np.zeros(n, dtype=bool)
        return Blocks(solids, surfaces, owner, semantic, flat, flat, none, unknown, unknown)
    coords = shapely.get_coordinates(surfaces, include_z=True)
    face = np.repeat(np.arange(len(surfaces)), shapely.get_num_coordinates(surfaces))
    base = (semantic[face] != Semantic.RoofSurface) & (coords[:, 2] == ground_z[owner[face]])
    z = terrain.interpolate(coords[base, :2])
    building = owner[face[base]]
    low, high = np.full(n, np.inf), np.full(n, -np.inf)
    np.fmin.at(low, building, z)
    np.fmax.at(high, building, z)
    missed = np.bincount(building, weights=np.isnan(z), minlength=n) > 0
    sloped = built & ~missed & (high <= top - MIN_HEIGHT)
    move = sloped[building]
    coords[np.flatnonzero(base)[move], 2] = z[move]
    surfaces = shapely.set_coordinates(surfaces.copy(), coords)
    # the sloped ground faces become triangles, in their place among the building's faces
    cut = np.flatnonzero((semantic == Semantic.GroundSurface) & sloped[owner])
    corners, piece = triangulate(surfaces[cut])
    triangles = shapely.polygons(np.concatenate([corners, corners[:, :1]], axis=1))
    # volume: each base triangle's plan area times the block's top above its mean height
    below = owner[cut][piece]
    u, v = corners[:, 1, :2] - corners[:, 0, :2], corners[:, 2, :2] - corners[:, 0, :2]
    plan = np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]) / 2.0
    rise = top[below] - corners[:, :, 2].mean(axis=1)
    volume = np.where(sloped, np.bincount(below, plan * rise, minlength=n), np.nan)
    wall = np.flatnonzero((semantic == Semantic.WallSurface) & sloped[owner])
    wall_area = np.bincount(owner[wall], surface_metrics(surfaces[wall])[0], minlength=n)
    keep = np.setdiff1d(np.arange(len(surfaces)), cut)
    order = np.argsort(np.concatenate([keep, cut[piece]]), kind="stable")
    surfaces = np.concatenate([surfaces[keep], triangles])[order]
    owner = np.concatenate([owner[keep], owner[cut][piece]])[order]
    semantic = np.concatenate([semantic[keep], semantic[cut][piece]])[order]
    present, dense = np.unique(owner, return_inverse=True)
    solids[present] = shapely.multipolygons(surfaces, indices=dense)
    return Blocks(
        solids,
        surfaces,
        owner,
        semantic,
        np.where(sloped, low, flat),
        np.where(sloped, high, flat),
        sloped,
        volume,
        np.where(sloped, wall_area, np.nan),
    )


def finish(
    models: dict[int, tuple[NDArray[np.object_], NDArray[np.int8]]],
    reason: NDArray[np.object_],
    geoms: NDArray[np.object_],
    /,
    *,
    ground_z: NDArray[np.float64],
    lod1_z: NDArray[np.float64],
    terrain: Terrain | None = None,
) -> tuple[
    NDArray[np.object_], NDArray[np.object_], NDArray[np.intp], NDArray[np.int8], NDArray[np.bool_]
]:
    """Check the modelled solids and give every other building its LoD1.2 block.

    A solid that :func:`twin.validity.check` finds invalid is dropped (the building gets its
    block) and its reason (``invalid solid: ...``) written into ``reason``, which is updated
    in place.

    Parameters
    ----------
    models
        Building index -> its faces and their semantics.
    reason : (n,) object
        Why each building has no model of its own (``None`` for those modelled).
    geoms : (n,) object
        Footprints.
    ground_z, lod1_z : (n,) float
        Ground and LoD1.2 roof height of each building (the fallback block).
    terrain
        A terrain for the blocks' sloped bases (:func:`ingest.reconstruct.solids.blocks`).

    Returns
    -------
    solids : (n,) object
        MultiPolygon Z shells (``None`` where there is no block either).
    faces, owner, semantic : (k,)
        All faces, sorted by building, with their building and semantics.
    kept : (n,) bool
        Whether the building's model was kept (those of ``models`` that passed the check).
    """
    n = len(geoms)
    models = dict(models)
    modelled = np.array(sorted(models), dtype=np.intp)
    solids = np.full(n, None, dtype=object)
    if len(modelled):
        solids[modelled] = [shapely.MultiPolygon(list(models[i][0])) for i in modelled]
        codes, _ = check(solids[modelled])
        for i, c in zip(modelled, codes, strict=True):
            if c:
                reason[i] = f"invalid solid: {', '.join(names(c))}"
                del models[i]
                solids[i] = None
    fallback = np.setdiff1d(np.arange(n), np.array(sorted(models), dtype=np.intp))
    block = blocks(geoms[fallback], ground_z[fallback], lod1_z[fallback], terrain=terrain)
    block_faces, block_owner, block_sem = block.surfaces, block.owner, block.semantic
    solids[fallback] = block.solids
    kept = np.array(sorted(models), dtype=np.intp)
    faces = [models[i][0] for i in kept] + [block_faces]
    sems = [models[i][1] for i in kept] + [block_sem]
    owners = [np.full(len(models[i][0]), i, np.intp) for i in kept] + [fallback[block_owner]]
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    has_model = np.zeros(n, bool)
    has_model[kept] = True
    faces_sorted, sems_sorted = np.concatenate(faces)[order], np.concatenate(sems)[order]
    return solids, faces_sorted, owner[order], sems_sorted, has_model
