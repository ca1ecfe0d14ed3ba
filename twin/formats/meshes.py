"""Triangle-mesh formats: OBJ (+ MTL by semantic class), glTF binary (GLB) and STL.

All three take one LoD of the buildings as one merged mesh (:class:`twin.Mesh`). Coordinates
are written relative to the model origin (``model.origin``), so that viewers working in
float32 show them without jitter; OBJ says the origin and CRS in its header, GLB in
``asset.extras``. glTF is y-up: model ``(x, y, z)`` becomes glTF ``(x, z, -y)``.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import trimesh
from numpy.typing import NDArray

from twin.errors import DataQualityWarning, InputError
from twin.files import atomic
from twin.formats import objects
from twin.mesh import Mesh
from twin.model import CityModel
from twin.semantics import Semantic

#: semantic class -> RGB colour (0-1) of its material; ``Other`` is unclassified
COLORS: dict[str, tuple[float, float, float]] = {
    "GroundSurface": (0.45, 0.40, 0.35),
    "WallSurface": (0.90, 0.87, 0.80),
    "RoofSurface": (0.72, 0.24, 0.18),
    "Other": (0.60, 0.60, 0.60),
}
_NAMES = np.array([*Semantic.__members__, "Other"], dtype=object)


def lod_of(model: CityModel, lods: list[str] | None, /) -> str:
    """The one LoD a mesh format writes: the given one, else the model's highest.

    Raises
    ------
    InputError
        When more than one LoD is asked for.
    """
    if lods:
        if len(lods) > 1:
            raise InputError(f"mesh formats write one LoD at a time, not {', '.join(lods)}")
        return lods[0]
    present = model.layer("building_surfaces")["lod"].unique().tolist()
    if not present:
        raise InputError("the twin has no building surfaces to export")
    return max(present, key=float)


def mesh(
    model: CityModel, rows: NDArray[np.integer] | None = None, /, *, lod: str
) -> tuple[Mesh, NDArray[np.int8], list[str]]:
    """The merged mesh of buildings ``rows`` (all by default) at ``lod``.

    A degenerate face (a spike, folded collinear vertices) is repaired or left out, never
    stops the export: the :class:`~twin.errors.DataQualityWarning` saying so is issued and
    its text returned, for the output's notes.

    Returns
    -------
    Mesh
        Triangles with their building row (``owner``) and :class:`twin.Semantic` code;
        ``-1`` for surfaces of another or no class.
    codes : (m,) int8
        Index into ``COLORS`` of each triangle (3 for unclassified).
    notes : list of str
        What was repaired or left out (empty for a clean model).
    """
    surf = objects.surfaces(model, lods=[lod])
    if rows is not None:
        chosen = np.zeros(len(model.buildings), dtype=bool)
        chosen[np.asarray(rows, dtype=np.int64)] = True
        surf = surf.take(np.flatnonzero(chosen[surf.owner]))
    semantic = pd.Series(surf.semantic).map(Semantic.__members__).map(int, na_action="ignore")
    codes = semantic.fillna(-1).to_numpy(dtype=np.int8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        result = Mesh.from_surfaces(surf.polygons, surf.owner, codes)
    for w in caught:  # passed on to the caller's filters, once they are recorded
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    notes = [str(w.message) for w in caught if issubclass(w.category, DataQualityWarning)]
    codes = np.where(result.semantic < 0, len(_NAMES) - 1, result.semantic).astype(np.int8)
    return result, codes, notes


def unit_normals(corners: NDArray[np.float64], /) -> NDArray[np.float64]:
    """The unit normal ``(m, 3)`` of triangles ``(m, 3, 3)``, by the right-hand rule.

    A triangle without area (its corners collinear in floating point) gets ``(0, 0, 1)``:
    glTF requires unit normals, and such a triangle shows nothing to shade.

    Examples
    --------
    >>> unit_normals(np.array([[[0, 0, 0], [2, 0, 0], [0, 0, 3]], [[0, 0, 0]] * 3])).tolist()
    [[0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    length = np.linalg.norm(normal, axis=1, keepdims=True)
    return np.where(length > 0, normal / np.where(length > 0, length, 1.0), [0.0, 0.0, 1.0])


def _weld(local: NDArray[np.float64], triangles: NDArray[np.int64]) -> tuple[NDArray, NDArray]:
    """Share vertices that coincide to the millimetre."""
    unique, inverse = np.unique(np.rint(local * 1000.0), axis=0, return_inverse=True)
    return unique / 1000.0, inverse.ravel()[triangles]


def write_obj(
    model: CityModel, path: str | Path, /, *, rows: NDArray | None = None, lod: str
) -> Path:
    """Write an OBJ file (one ``o`` per building, ``usemtl`` per semantic class) and its MTL.

    The MTL file has the OBJ's name with ``.mtl``; both are written atomically.
    """
    path = Path(path)
    result, codes, notes = mesh(model, rows, lod=lod)
    vertices, triangles = _weld(result.vertices - model.origin, result.triangles)
    order = np.lexsort((codes, result.owner))
    owner, codes, triangles = result.owner[order], codes[order], triangles[order]
    text = io.StringIO()
    x, y, z = model.origin
    text.write(
        f"# {model.metadata.get('name', 'twin')}: buildings at LoD {lod}, written by twin\n"
        f"# CRS: {model.crs.name}; coordinates are relative to the origin {x} {y} {z}\n"
        + "".join(f"# note: {note}\n" for note in notes)
        + f"mtllib {path.with_suffix('.mtl').name}\n"
    )
    np.savetxt(text, vertices, fmt="v %.3f %.3f %.3f")
    faces = io.StringIO()
    np.savetxt(faces, triangles + 1, fmt="f %d %d %d")
    lines = faces.getvalue().splitlines(keepends=True)
    ids = model.buildings["building_id"].to_numpy(dtype=object)
    change = np.flatnonzero((owner[1:] != owner[:-1]) | (codes[1:] != codes[:-1])) + 1
    starts, stops = [0, *change.tolist()], [*change.tolist(), len(owner)]
    previous = -1
    for a, b in zip(starts, stops, strict=True):
        if owner[a] != previous:
            text.write(f"o {ids[owner[a]]}\n")
            previous = owner[a]
        text.write(f"usemtl {_NAMES[codes[a]]}\n")
        text.write("".join(lines[a:b]))
    materials = "".join(
        f"newmtl {name}\nKd {r:.3f} {g:.3f} {b:.3f}\nKa 0 0 0\nd 1\nillum 1\n\n"
        for name, (r, g, b) in COLORS.items()
    )
    mtl = path.with_suffix(".mtl")
    with atomic(mtl) as tmp_mtl, atomic(path) as tmp:
        tmp_mtl.write_text(materials, encoding="utf-8")
        tmp.write_text(text.getvalue(), encoding="utf-8")
    return path


def scene(
    model: CityModel, rows: NDArray | None = None, /, *, lod: str
) -> tuple[trimesh.Scene, list[str]]:
    """A trimesh scene, y-up and relative to the origin, one mesh per semantic class, and the
    notes of :func:`mesh`.

    Every vertex carries its triangle's unit normal (:func:`unit_normals`): trimesh's
    angle-weighted vertex normals are zero-length at the corners of a sliver triangle.
    """
    result, codes, notes = mesh(model, rows, lod=lod)
    local = result.vertices - model.origin
    yup = np.column_stack([local[:, 0], local[:, 2], -local[:, 1]])
    normals = np.repeat(unit_normals(yup[result.triangles]), 3, axis=0)
    out = trimesh.Scene()
    for code in np.unique(codes):
        pick = codes == code
        name = str(_NAMES[code])
        corners = result.triangles[pick]
        part = trimesh.Trimesh(
            vertices=yup[corners.ravel()],
            faces=np.arange(corners.size).reshape(-1, 3),
            vertex_normals=normals.reshape(-1, 3, 3)[pick].reshape(-1, 3),
            process=False,
        )
        part.visual = trimesh.visual.TextureVisuals(
            material=trimesh.visual.material.PBRMaterial(
                name=name,
                baseColorFactor=[*COLORS[name], 1.0],
                metallicFactor=0.0,
                roughnessFactor=0.9,
                doubleSided=True,
            )
        )
        out.add_geometry(part, geom_name=name, node_name=name)
    return out, notes


def glb_bytes(
    model: CityModel,
    rows: NDArray | None = None,
    /,
    *,
    lod: str,
    extras: dict[str, Any] | None = None,
) -> bytes:
    """The buildings at ``lod`` as a GLB (glTF 2.0 binary), origin and CRS in ``asset.extras``,
    with what was repaired or left out in its ``notes``."""
    out, notes = scene(model, rows, lod=lod)
    info = {
        "crs": model.crs.name,
        "origin": [float(v) for v in model.origin],
        "lod": lod,
        "axes": "glTF (x, y, z) = model (x - origin_x, z - origin_z, origin_y - y)",
        **({"notes": notes} if notes else {}),
        **(extras or {}),
    }

    def tag(tree: dict[str, Any]) -> None:
        tree["asset"]["extras"] = info

    return trimesh.exchange.gltf.export_glb(out, include_normals=True, tree_postprocessor=tag)


def write_glb(
    model: CityModel, path: str | Path, /, *, rows: NDArray | None = None, lod: str
) -> Path:
    """Write the buildings at ``lod`` as one GLB file, atomically."""
    path = Path(path)
    data = glb_bytes(model, rows, lod=lod)
    with atomic(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_stl(
    model: CityModel, path: str | Path, /, *, rows: NDArray | None = None, lod: str
) -> Path:
    """Write the buildings at ``lod`` as one binary STL (relative to the origin), atomically."""
    path = Path(path)
    result, _, _ = mesh(model, rows, lod=lod)
    vertices, triangles = _weld(result.vertices - model.origin, result.triangles)
    data = trimesh.Trimesh(vertices=vertices, faces=triangles, process=False).export(
        file_type="stl"
    )
    with atomic(path) as tmp:
        tmp.write_bytes(data)
    return path
