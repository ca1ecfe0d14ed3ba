"""3D Tiles 1.1: a quadtree tileset of GLB tiles placed in ECEF (EPSG:4978).

Buildings are split into a quadtree by their centre until a tile holds at most
``max_features`` buildings; only leaves have content (``refine: ADD``), every tile has a tight
``region`` bounding volume (radians, ellipsoidal heights), and the geometric error falls from
the root to 0 at the leaves. Each leaf's GLB carries per-vertex feature ids
(``EXT_mesh_features``) and a property table of the buildings' attributes
(``EXT_structural_metadata``); its vertices are relative to the tile centre, which the tile's
``transform`` puts back in ECEF.

Heights: the twin stores orthometric heights; ECEF needs ellipsoidal ones. PROJ converts them
with the geoid model of the vertical datum (the Austrian GHA, Dutch NAP, Swiss LHN95 and German
DHHN2016 grids ship in ``twin/proj``). When the twin's CRS names no vertical datum, or PROJ has
no geoid model for it here, :func:`heights` refuses (:class:`~twin.errors.CRSError`, naming the
CRS, what is missing and the ways out) unless ``no_geoid`` asks for the heights unchanged as
ellipsoidal ones. What was done is written into the tileset's metadata (``heights``,
``geoid_applied``) and returned by :func:`write_tileset`.
"""

from __future__ import annotations

import json
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj
from numpy.typing import NDArray
from pyproj.transformer import TransformerGroup

from twin._version import __version__
from twin.crs import horizontal, vertical
from twin.errors import CRSError, InputError
from twin.files import atomic
from twin.formats import meshes
from twin.mesh import Mesh
from twin.model import CityModel

_ARRAY_BUFFER = 34962
_FLOAT, _UBYTE = 5126, 5121
_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")
#: the RGB (0-255) of each colour of :data:`twin.formats.meshes.COLORS`
_PALETTE = (np.asarray(list(meshes.COLORS.values())) * 255).round().astype(np.uint8)


@dataclass(frozen=True)
class Heights:
    """How model heights become ellipsoidal heights for ECEF.

    Attributes
    ----------
    transformer
        Model CRS -> WGS 84 geographic 3D (EPSG:4979), ``always_xy``.
    converted
        Whether a geoid model turned orthometric heights into ellipsoidal ones.
    note
        One sentence for people: what was done to the heights.
    """

    transformer: pyproj.Transformer
    converted: bool
    note: str


#: what the refusal of :func:`heights` offers instead
_WAYS_OUT = (
    "state the heights' vertical datum, one PROJ has a geoid model for (import with a "
    "compound CRS, `twin import --crs EPSG:<horizontal>+<vertical>`, or `twin export -f "
    "3dtiles --vertical-crs EPSG:<vertical>`), or write the heights unchanged as ellipsoidal "
    "heights (`twin export -f 3dtiles --no-geoid`: tens of metres off, by the local geoid "
    "undulation)"
)


def heights(crs: pyproj.CRS, /, *, no_geoid: bool = False) -> Heights:
    """Choose the transformation of ``crs`` to EPSG:4979 and say what it does to heights.

    Parameters
    ----------
    crs
        The twin's CRS, compound with the vertical datum of its heights.
    no_geoid
        Use the heights unchanged as ellipsoidal heights, whatever the CRS says (for heights
        that are ellipsoidal already, or a rough placement that may be tens of metres low).

    Raises
    ------
    CRSError
        Without ``no_geoid``, when ``crs`` names no vertical datum or PROJ has no geoid model
        for it here (the message names the grids PROJ would need).

    Examples
    --------
    >>> h = heights(pyproj.CRS("EPSG:31258+5778"))
    >>> h.converted, "GHA height" in h.note
    (True, True)
    >>> heights(pyproj.CRS("EPSG:2056"), no_geoid=True).converted
    False
    """
    target = pyproj.CRS("EPSG:4979")
    datum = vertical(crs)
    if no_geoid:
        transformer = pyproj.Transformer.from_crs(horizontal(crs), target, always_xy=True)
        note = (
            f"heights in {crs.name} used as ellipsoidal heights unchanged, as asked "
            "(no geoid model applied)"
        )
        return Heights(transformer, False, note)
    if datum is None:
        raise CRSError(
            f"{crs.name} names no vertical datum, so its heights cannot be made ellipsoidal "
            f"for 3D Tiles: {_WAYS_OUT}"
        )
    with warnings.catch_warnings():  # a missing grid is named below
        warnings.simplefilter("ignore", UserWarning)
        group = TransformerGroup(crs, target, always_xy=True)
    transformer = group.transformers[0]
    # PROJ's word for an operation that passes heights through: "ballpark vertical
    # transformation, without ellipsoid height to vertical height correction"
    if "ballpark vertical" in transformer.description.lower():
        missing = sorted(
            {
                grid.short_name
                for op in group.unavailable_operations
                if datum.name in op.name
                for grid in op.grids
                if not grid.available
            }
        )
        what = (
            f"its grid {', '.join(missing)} is not on PROJ's data path"
            if missing
            else "PROJ knows no geoid model for it"
        )
        raise CRSError(
            f"{crs.name}: heights in {datum.name} cannot be made ellipsoidal for 3D Tiles "
            f"({what}): {_WAYS_OUT}"
        )
    note = (
        f"orthometric heights ({datum.name}) converted to ellipsoidal heights (WGS 84) "
        f"with PROJ: {transformer.description}"
    )
    return Heights(transformer, True, note)


def _ecef(lon: NDArray, lat: NDArray, h: NDArray) -> NDArray[np.float64]:
    """WGS 84 geographic (degrees, metres) to ECEF ``(n, 3)``."""
    a, f = 6378137.0, 1.0 / 298.257223563
    e2 = f * (2.0 - f)
    lon, lat = np.radians(lon), np.radians(lat)
    n = a / np.sqrt(1.0 - e2 * np.sin(lat) ** 2)
    return np.column_stack(
        [
            (n + h) * np.cos(lat) * np.cos(lon),
            (n + h) * np.cos(lat) * np.sin(lon),
            (n * (1.0 - e2) + h) * np.sin(lat),
        ]
    )


def _quadtree(
    xy: NDArray[np.float64], index: NDArray[np.int64], max_features: int, depth: int = 0
) -> dict[str, Any]:
    """Split building centres into quadrants until a node holds at most ``max_features``."""
    lo, hi = xy[index].min(axis=0), xy[index].max(axis=0)
    if len(index) <= max_features or depth >= 24 or np.all(hi - lo < 1e-6):
        return {"rows": index}
    mid = (lo + hi) / 2.0
    east = xy[index, 0] > mid[0]
    north = xy[index, 1] > mid[1]
    children = [
        _quadtree(xy, index[(east == e) & (north == n)], max_features, depth + 1)
        for e in (False, True)
        for n in (False, True)
        if np.any((east == e) & (north == n))
    ]
    return children[0] if len(children) == 1 else {"children": children}


def _leaves(node: dict[str, Any]) -> list[dict[str, Any]]:
    if "rows" in node:
        return [node]
    return [leaf for child in node["children"] for leaf in _leaves(child)]


def _property_table(
    model: CityModel, rows: NDArray[np.int64]
) -> tuple[dict[str, Any], list[tuple[str, NDArray | list[str]]]]:
    """The metadata class of the buildings and the columns written per tile."""
    table = model.buildings
    kinds = model.metadata.get("attributes")
    names = {c: c for c in table.columns if c not in ("geometry",)}
    if kinds is not None:
        names = {"building_id": "building_id", **{c: kinds[c][0] for c in kinds if c in table}}
    properties: dict[str, Any] = {}
    columns: list[tuple[str, Any]] = []
    used: set[str] = set()
    for column, name in names.items():
        values = table[column].iloc[rows]
        key = _IDENTIFIER.sub("_", str(name))
        if not key or key[0].isdigit():
            key = f"_{key}"
        while key in used:
            key = f"{key}_"
        used.add(key)
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            properties[key] = {"name": str(name), "type": "SCALAR", "componentType": "FLOAT64"}
            columns.append((key, values.astype("float64").to_numpy(na_value=np.nan)))
        else:
            properties[key] = {"name": str(name), "type": "STRING"}
            text = values.astype(object).where(values.notna(), "")
            columns.append((key, [str(v) for v in text]))
    return {"properties": properties}, columns


class _Buffer:
    """The binary chunk of a GLB being assembled, with its buffer views."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.views: list[dict[str, Any]] = []

    def add(self, data: bytes, *, target: int | None = None) -> int:
        pad = (-self.size) % 8  # EXT_structural_metadata wants 8-byte aligned views
        self.parts.append(b"\0" * pad)
        self.size += pad
        view: dict[str, Any] = {"buffer": 0, "byteOffset": self.size, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.views.append(view)
        self.parts.append(data)
        self.size += len(data)
        return len(self.views) - 1


def glb_tile(
    positions: NDArray[np.float32],
    normals: NDArray[np.float32],
    colors: NDArray[np.uint8],
    feature: NDArray[np.float32],
    building_class: dict[str, Any],
    columns: list[tuple[str, Any]],
) -> bytes:
    """One GLB tile: non-indexed triangles with feature ids and a building property table.

    Parameters
    ----------
    positions, normals : (n, 3) float32
        glTF (y-up) coordinates and unit normals, three vertices per triangle.
    colors : (n, 4) uint8
        Vertex colours.
    feature : (n,) float32
        Feature id (row of the property table) of each vertex.
    building_class
        The ``building`` class of the metadata schema.
    columns
        Property name -> values (float64 array or list of str), one per feature.
    """
    buffer = _Buffer()
    count = len(columns[0][1]) if columns else 0
    accessors = [
        {
            "bufferView": buffer.add(positions.tobytes(), target=_ARRAY_BUFFER),
            "componentType": _FLOAT,
            "count": len(positions),
            "type": "VEC3",
            "min": positions.min(axis=0).tolist(),
            "max": positions.max(axis=0).tolist(),
        },
        {
            "bufferView": buffer.add(normals.tobytes(), target=_ARRAY_BUFFER),
            "componentType": _FLOAT,
            "count": len(normals),
            "type": "VEC3",
        },
        {
            "bufferView": buffer.add(colors.tobytes(), target=_ARRAY_BUFFER),
            "componentType": _UBYTE,
            "normalized": True,
            "count": len(colors),
            "type": "VEC4",
        },
        {
            "bufferView": buffer.add(feature.tobytes(), target=_ARRAY_BUFFER),
            "componentType": _FLOAT,
            "count": len(feature),
            "type": "SCALAR",
        },
    ]
    properties: dict[str, Any] = {}
    for key, values in columns:
        if isinstance(values, np.ndarray):
            properties[key] = {"values": buffer.add(values.astype("<f8").tobytes())}
        else:
            encoded = [v.encode("utf-8") for v in values]
            offsets = np.concatenate([[0], np.cumsum([len(b) for b in encoded])])
            # A buffer view cannot be empty: all-empty strings still get one byte.
            properties[key] = {
                "values": buffer.add(b"".join(encoded) or b"\0"),
                "stringOffsets": buffer.add(offsets.astype("<u4").tobytes()),
                "stringOffsetType": "UINT32",
            }
    document = {
        "asset": {"version": "2.0", "generator": f"twin {__version__}"},
        "extensionsUsed": ["EXT_mesh_features", "EXT_structural_metadata"],
        "extensions": {
            "EXT_structural_metadata": {
                "schema": {"id": "twin", "classes": {"building": building_class}},
                "propertyTables": [{"class": "building", "count": count, "properties": properties}],
            }
        },
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [
            {
                "primitives": [
                    {
                        "attributes": {
                            "POSITION": 0,
                            "NORMAL": 1,
                            "COLOR_0": 2,
                            "_FEATURE_ID_0": 3,
                        },
                        "mode": 4,
                        "material": 0,
                        "extensions": {
                            "EXT_mesh_features": {
                                "featureIds": [
                                    {"featureCount": count, "attribute": 0, "propertyTable": 0}
                                ]
                            }
                        },
                    }
                ]
            }
        ],
        "materials": [
            {
                "pbrMetallicRoughness": {"metallicFactor": 0.0, "roughnessFactor": 0.9},
                "doubleSided": False,
            }
        ],
        "accessors": accessors,
        "bufferViews": buffer.views,
        "buffers": [{"byteLength": buffer.size + (-buffer.size) % 4}],
    }
    blob = b"".join(buffer.parts)
    blob += b"\0" * ((-len(blob)) % 4)
    text = json.dumps(document, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    return b"".join(
        [
            struct.pack("<4sII", b"glTF", 2, total),
            struct.pack("<I4s", len(text), b"JSON"),
            text,
            struct.pack("<I4s", len(blob), b"BIN\0"),
            blob,
        ]
    )


def _region(lonlath: NDArray[np.float64]) -> list[float]:
    lo, hi = lonlath.min(axis=0), lonlath.max(axis=0)
    return [*np.radians(lo[:2]).tolist(), *np.radians(hi[:2]).tolist(), lo[2], hi[2]]


def _union(regions: list[list[float]]) -> list[float]:
    r = np.asarray(regions)
    return [
        *r[:, :2].min(axis=0).tolist(),
        *r[:, 2:4].max(axis=0).tolist(),
        r[:, 4].min(),
        r[:, 5].max(),
    ]


def _diagonal(region: list[float]) -> float:
    """Length (m) of a region's diagonal, on a sphere of the Earth's mean radius."""
    w, s, e, n, lo, hi = region
    dx = (e - w) * 6371000.0 * np.cos((s + n) / 2.0)
    dy = (n - s) * 6371000.0
    return float(np.sqrt(dx * dx + dy * dy + (hi - lo) ** 2))


def write_tileset(
    model: CityModel,
    out_dir: str | Path,
    /,
    *,
    rows: NDArray[np.integer] | None = None,
    lod: str | None = None,
    max_features: int = 1000,
    no_geoid: bool = False,
) -> dict[str, Any]:
    """Write a 3D Tiles 1.1 tileset of the model's buildings into ``out_dir`` atomically.

    The steps: the buildings' vertices in ECEF (:func:`heights`), the tile tree
    (:func:`_tile_tree`), each leaf's content (:func:`_tile_content`) and the tileset
    document (:func:`_tileset_document`).

    Parameters
    ----------
    model
        The twin.
    out_dir
        The folder to write (``tileset.json`` and ``tiles/*.glb``); replaced when it exists.
    rows
        Rows of ``model.buildings`` to include (all by default).
    lod
        The LoD to write (default: the model's highest).
    max_features
        Most buildings in one tile.
    no_geoid
        Write the heights unchanged as ellipsoidal heights (:func:`heights`).

    Returns
    -------
    dict
        ``tiles`` (leaf count), ``buildings``, ``triangles``, ``heights`` (what was done to
        the heights), ``geoid_applied`` and ``notes`` (degenerate faces repaired or left out,
        also in the tileset's ``asset.extras``).

    Raises
    ------
    CRSError
        The heights cannot be made ellipsoidal and ``no_geoid`` is not given (:func:`heights`).
    InputError
        No building has geometry in the LoD, or a vertex cannot be transformed.
    """
    how = heights(model.crs, no_geoid=no_geoid)
    lod = meshes.lod_of(model, [lod] if lod else None)
    mesh, codes, notes = meshes.mesh(model, rows, lod=lod)
    if len(mesh) == 0:
        raise InputError(f"no building has LoD {lod} geometry to tile")
    lon, lat, h = how.transformer.transform(*mesh.vertices.T)
    lonlath = np.column_stack([lon, lat, h])
    if not np.isfinite(lonlath).all():
        raise InputError(
            f"some LoD {lod} vertices cannot be transformed to WGS 84 from {model.crs.name}"
        )
    ecef = _ecef(lon, lat, h)
    owners = np.unique(mesh.owner)
    tree, leaves, triangles = _tile_tree(mesh, owners, len(model.buildings), max_features)
    building_class, _ = _property_table(model, owners[:1])
    with atomic(out_dir) as tmp:
        (tmp / "tiles").mkdir(parents=True)
        for i, (leaf, tris) in enumerate(zip(leaves, triangles, strict=True)):
            corners = mesh.triangles[tris].ravel()
            data, centre = _tile_content(
                model, ecef[corners], mesh.owner[tris], codes[tris], leaf["rows"], building_class
            )
            (tmp / "tiles" / f"{i}.glb").write_bytes(data)
            leaf["region"] = _region(lonlath[corners])
            leaf["transform"] = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, *centre.tolist(), 1]
            leaf["uri"] = f"tiles/{i}.glb"
        tileset = _tileset_document(_tile(tree), how, model.crs.name, lod, notes)
        (tmp / "tileset.json").write_text(json.dumps(tileset, indent=1), encoding="utf-8")
    return {
        "tiles": len(leaves),
        "buildings": len(owners),
        "triangles": len(mesh),
        "heights": how.note,
        "geoid_applied": how.converted,
        "notes": notes,
    }


def _tile_tree(
    mesh: Mesh, owners: NDArray[np.int64], n_buildings: int, max_features: int
) -> tuple[dict[str, Any], list[dict[str, Any]], list[NDArray[np.intp]]]:
    """The quadtree of the buildings ``owners`` (rows of the ``n_buildings``) of ``mesh``
    (:func:`_quadtree`), its leaves, and each leaf's triangles (rows of ``mesh``)."""
    # Building centres (mean of their triangles' centres) in the model CRS drive the quadtree.
    tri_centre = mesh.vertices[mesh.triangles].mean(axis=1)[:, :2]
    sums = np.zeros((n_buildings, 2))
    np.add.at(sums, mesh.owner, tri_centre)
    counts = np.bincount(mesh.owner, minlength=n_buildings)
    centre = sums / np.maximum(counts, 1)[:, None]
    tree = _quadtree(centre, owners, max_features)
    leaves = _leaves(tree)
    leaf_of = np.full(n_buildings, -1, dtype=np.int64)
    for i, leaf in enumerate(leaves):
        leaf_of[leaf["rows"]] = i
    tri_leaf = leaf_of[mesh.owner]
    order = np.argsort(tri_leaf, kind="stable")
    bounds = np.searchsorted(tri_leaf[order], np.arange(len(leaves) + 1))
    return tree, leaves, [order[bounds[i] : bounds[i + 1]] for i in range(len(leaves))]


def _tile_content(
    model: CityModel,
    points: NDArray[np.float64],
    owner: NDArray[np.int64],
    codes: NDArray[np.int8],
    rows: NDArray[np.int64],
    building_class: dict[str, Any],
) -> tuple[bytes, NDArray[np.float64]]:
    """One leaf's GLB and its centre in ECEF ``(3,)``, which the tile's ``transform`` adds.

    ``points`` ``(3t, 3)`` are the ECEF corners of its ``t`` triangles, ``owner`` ``(t,)``
    their buildings (rows of ``model.buildings``), ``codes`` ``(t,)`` their colours (index
    into :data:`twin.formats.meshes.COLORS`), ``rows`` the leaf's buildings in the order
    of its property table. Vertices are stored relative to the centre, y up (glTF).
    """
    centre = (points.min(axis=0) + points.max(axis=0)) / 2.0
    local = points - centre
    normal = np.repeat(meshes.unit_normals(local.reshape(-1, 3, 3)), 3, axis=0)
    local_id = pd.Series(np.arange(len(rows)), index=rows)
    feature = local_id.reindex(owner).to_numpy()
    _, columns = _property_table(model, rows)
    rgba = np.column_stack([_PALETTE[np.repeat(codes, 3)], np.full(len(points), 255, np.uint8)])
    data = glb_tile(
        np.column_stack([local[:, 0], local[:, 2], -local[:, 1]]).astype(np.float32),
        np.column_stack([normal[:, 0], normal[:, 2], -normal[:, 1]]).astype(np.float32),
        rgba,
        np.repeat(feature, 3).astype(np.float32),
        building_class,
        columns,
    )
    return data, centre


def _tileset_document(
    root: dict[str, Any], how: Heights, source_crs: str, lod: str, notes: list[str]
) -> dict[str, Any]:
    """``tileset.json``: the tile tree ``root`` (:func:`_tile`), with what was done to the
    heights, the source CRS and the LoD in the tileset's metadata, and ``notes`` (what was
    repaired or left out) in ``asset.extras``."""
    return {
        "asset": {
            "version": "1.1",
            "generator": f"twin {__version__}",
            **({"extras": {"notes": notes}} if notes else {}),
        },
        "schema": {
            "id": "twin_tileset",
            "classes": {
                "tileset": {
                    "properties": {
                        "heights": {"type": "STRING"},
                        "geoid_applied": {"type": "BOOLEAN"},
                        "source_crs": {"type": "STRING"},
                        "lod": {"type": "STRING"},
                    }
                }
            },
        },
        "metadata": {
            "class": "tileset",
            "properties": {
                "heights": how.note,
                "geoid_applied": how.converted,
                "source_crs": source_crs,
                "lod": lod,
            },
        },
        "geometricError": max(
            2.0 * root["geometricError"], _diagonal(root["boundingVolume"]["region"]) / 4.0
        ),
        "root": root,
    }


def _tile(node: dict[str, Any]) -> dict[str, Any]:
    """The tileset JSON of a quadtree node (leaves already carry region, transform, uri)."""
    if "rows" in node:
        return {
            "boundingVolume": {"region": node["region"]},
            "geometricError": 0.0,
            "refine": "ADD",
            "transform": node["transform"],
            "content": {"uri": node["uri"]},
        }
    children = [_tile(child) for child in node["children"]]
    region = _union([c["boundingVolume"]["region"] for c in children])
    error = max(_diagonal(region) / 4.0, 2.0 * max(c["geometricError"] for c in children))
    return {
        "boundingVolume": {"region": region},
        "geometricError": error,
        "refine": "ADD",
        "children": children,
    }
