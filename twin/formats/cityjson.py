"""CityJSON and CityJSONSeq: read 1.0, 1.1 and 2.0 into a twin; write CityJSON 2.0.

Reading upgrades older versions on the way (their Building and BuildingPart encoding is the
same as 2.0's); coordinates are de-quantised with the file's ``transform`` and, when a target
CRS is given, reprojected. Writing quantises to a ``transform`` (1 mm by default) with the
model origin as ``translate``, deduplicates vertices with numpy, and writes either one
document or CityJSONSeq (a header line, then one ``CityJSONFeature`` a line).

The public functions :func:`document`, :func:`header` and :func:`features` return plain dicts
for servers (OGC API - Features items), :func:`read` and :func:`write` work on files.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from twin.crs import horizontal, parse_crs
from twin.errors import CRSError, InputError
from twin.formats import objects as obj_table
from twin.formats._io import atomic
from twin.formats.objects import ADDRESS, BUILDING_TYPES, Objects, Surfaces
from twin.model import CityModel

VERSION = "2.0"

#: every city object type of CityJSON 1.0-2.0 (extension types start with "+")
KNOWN_TYPES = frozenset(
    {
        "Bridge", "BridgeConstructionElement", "BridgeConstructiveElement", "BridgeFurniture",
        "BridgeInstallation", "BridgePart", "BridgeRoom", "Building",
        "BuildingConstructiveElement", "BuildingFurniture", "BuildingInstallation",
        "BuildingPart", "BuildingRoom", "BuildingStorey", "BuildingUnit", "CityFurniture",
        "CityObjectGroup", "GenericCityObject", "LandUse", "OtherConstruction", "PlantCover",
        "Railway", "Road", "SolitaryVegetationObject", "TINRelief", "TransportSquare", "Tunnel",
        "TunnelConstructiveElement", "TunnelFurniture", "TunnelHollowSpace",
        "TunnelInstallation", "TunnelPart", "WaterBody", "Waterway",
    }
)  # fmt: skip

#: metadata members carried over from an imported file
_KEPT_METADATA = ("identifier", "pointOfContact", "referenceDate", "title")


class _Reader:
    """Accumulates objects and surface rings over one document or many CityJSONSeq lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ids: list[str] = []
        self.types: list[str] = []
        self.parents: list[str | None] = []
        self.attributes: list[dict[str, Any]] = []
        self.skipped: Counter[str] = Counter()
        self.vertices: list[NDArray[np.float64]] = []
        self.indices: list[NDArray[np.int64]] = []
        self.ring_length: list[int] = []
        self.ring_owner: list[int] = []
        self.surface_rings: list[int] = []
        self.surface: dict[str, list[Any]] = {k: [] for k in ("owner", "lod", "type", "sem", "att")}
        self.n_vertices = 0

    def fail(self, oid: str, problem: str) -> InputError:
        return InputError(f"{self.path}: city object {oid!r}: {problem}")

    def add(self, city_objects: dict[str, Any], vertices: Any, transform: dict | None) -> None:
        """Read one chunk: a document's or a feature's objects with its own vertex list."""
        try:
            raw = np.asarray(vertices, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{self.path}: 'vertices' is not a list of [x, y, z]") from None
        if raw.size == 0:
            raw = raw.reshape(0, 3)
        if raw.ndim != 2 or raw.shape[1] != 3:
            raise InputError(f"{self.path}: 'vertices' is not a list of [x, y, z]")
        if transform is not None:
            raw = raw * np.asarray(transform["scale"]) + np.asarray(transform["translate"])
        if not isinstance(city_objects, dict):
            raise InputError(f"{self.path}: 'CityObjects' is not an object")
        first_ring = len(self.ring_length)
        flat: list[int] = []
        for oid, item in city_objects.items():
            kind = item.get("type") if isinstance(item, dict) else None
            if not isinstance(kind, str) or (kind not in KNOWN_TYPES and not kind.startswith("+")):
                raise self.fail(oid, f"unknown city object type {kind!r}")
            if kind not in BUILDING_TYPES:
                self.skipped[kind] += 1
                continue
            row = len(self.ids)
            self.ids.append(oid)
            self.types.append(kind)
            self.parents.append((item.get("parents") or [None])[0])
            attributes = dict(item.get("attributes") or {})
            if "address" in item:
                attributes[ADDRESS] = item["address"]
            self.attributes.append(attributes)
            for geometry in item.get("geometry") or []:
                self._geometry(oid, row, geometry, flat)
        index = np.asarray(flat, dtype=np.int64)
        bad = (index < 0) | (index >= len(raw))
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            ring = np.searchsorted(np.cumsum(self.ring_length[first_ring:]), at, side="right")
            oid = self.ids[self.ring_owner[first_ring + ring]]
            raise self.fail(
                oid, f"vertex index {int(index[at])} out of range ({len(raw)} vertices)"
            )
        self.indices.append(index + self.n_vertices)
        self.vertices.append(raw)
        self.n_vertices += len(raw)

    def _geometry(self, oid: str, row: int, geometry: dict[str, Any], flat: list[int]) -> None:
        kind = geometry.get("type")
        if "template" in geometry or kind == "GeometryInstance":
            raise self.fail(oid, "geometry templates (GeometryInstance) are not supported")
        lod = str(geometry.get("lod"))
        boundaries = geometry.get("boundaries")
        semantics = geometry.get("semantics") or {}
        values = semantics.get("values")
        if kind in ("MultiSurface", "CompositeSurface"):
            surfaces = boundaries
        elif kind == "Solid":
            if not isinstance(boundaries, list) or len(boundaries) != 1:
                raise self.fail(oid, "Solids with interior shells are not supported")
            surfaces = boundaries[0]
            values = values[0] if values else None
        else:
            raise self.fail(oid, f"geometry type {kind!r} is not supported")
        classes = semantics.get("surfaces") or []
        for i, surface in enumerate(surfaces):
            for ring in surface:
                if len(ring) < 3:
                    raise self.fail(
                        oid, f"LoD {lod} surface {i} has a ring of {len(ring)} vertices"
                    )
                flat.extend(ring)
                self.ring_length.append(len(ring))
                self.ring_owner.append(row)
            self.surface_rings.append(len(surface))
            value = values[i] if values else None
            sem = att = None
            if value is not None:
                if not 0 <= value < len(classes):
                    raise self.fail(oid, f"semantic value {value} out of range")
                rest = {
                    k: v
                    for k, v in classes[value].items()
                    if k not in ("type", "parent", "children")
                }
                sem = classes[value].get("type")
                att = json.dumps(rest, sort_keys=True) if rest else None
            values_of = (row, lod, kind, sem, att)
            for key, v in zip(("owner", "lod", "type", "sem", "att"), values_of, strict=True):
                self.surface[key].append(v)

    def result(self, transformer: pyproj.Transformer | None) -> tuple[Objects, Surfaces]:
        vertices = np.concatenate(self.vertices) if self.vertices else np.empty((0, 3))
        if transformer is not None:
            vertices = np.column_stack(transformer.transform(*vertices.T))
        index = np.concatenate(self.indices) if self.indices else np.empty(0, dtype=np.int64)
        length = np.asarray(self.ring_length, dtype=np.int64)
        ends = np.cumsum(length)
        closed = np.insert(index, ends, index[ends - length]) if len(length) else index
        polygons = shapely.from_ragged_array(
            shapely.GeometryType.POLYGON,
            vertices[closed],
            (
                np.concatenate([[0], np.cumsum(length + 1)]),
                np.concatenate([[0], np.cumsum(self.surface_rings)]),
            ),
        )
        objects = Objects(
            ids=np.asarray(self.ids, dtype=object),
            types=np.asarray(self.types, dtype=object),
            parents=np.asarray(self.parents, dtype=object),
            attributes=self.attributes,
        )
        s = self.surface
        surfaces = Surfaces(
            polygons=polygons,
            owner=np.asarray(s["owner"], dtype=np.int64),
            lod=np.asarray(s["lod"], dtype=object),
            geometry_type=np.asarray(s["type"], dtype=object),
            semantic=np.asarray(s["sem"], dtype=object),
            semantic_attributes=np.asarray(s["att"], dtype=object),
        )
        return objects, surfaces


def _load(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The document (or CityJSONSeq header) and the CityJSONSeq features (empty for a document)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text: {exc}") from exc
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise InputError(f"{path}: not valid JSON: {exc}") from exc
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    parsed = []
    for n, line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: line {n}: not valid JSON: {exc}") from exc
    for (n, _), item in zip(lines[1:], parsed[1:], strict=True):
        if not isinstance(item, dict) or item.get("type") != "CityJSONFeature":
            raise InputError(f"{path}: line {n}: not a CityJSONFeature")
    return parsed[0], parsed[1:]


def read(
    path: str | Path,
    /,
    *,
    crs: str | pyproj.CRS | None = None,
    target_crs: str | pyproj.CRS | None = None,
    name: str | None = None,
) -> CityModel:
    """Read a CityJSON (1.0, 1.1, 2.0) or CityJSONSeq file into a new twin model.

    Buildings and building parts are kept with their attributes, addresses and LoD0-2
    geometry (MultiSurface, CompositeSurface, Solid) with semantic surfaces; other city
    object types are skipped and counted in ``metadata["source"]["skipped"]``.

    Parameters
    ----------
    path
        The file.
    crs
        The file's CRS when it names none (``metadata.referenceSystem``); the file's own
        wins otherwise.
    target_crs
        Reproject to this CRS; by default the twin keeps the file's CRS.
    name
        The twin's name (default: the file's stem).

    Raises
    ------
    InputError
        Broken JSON, an unknown object type, vertex indices out of range, unsupported
        geometry; the message names the file and the object.
    CRSError
        The file names no CRS and none was given, or it is not projected and metric.
    """
    path = Path(path)
    doc, lines = _load(path)
    if not isinstance(doc, dict) or doc.get("type") != "CityJSON":
        raise InputError(f"{path}: not a CityJSON file (its 'type' is not \"CityJSON\")")
    version = str(doc.get("version"))
    if version not in ("1.0", "1.1", "2.0"):
        raise InputError(f"{path}: CityJSON version {version!r} is not supported (1.0-2.0)")
    metadata = doc.get("metadata") or {}
    source_crs = _file_crs(path, metadata.get("referenceSystem"), crs)
    reader = _Reader(path)
    transform = doc.get("transform")
    reader.add(doc.get("CityObjects") or {}, doc.get("vertices") or [], transform)
    for feature in lines:
        fid = feature.get("id")
        if not isinstance(feature.get("CityObjects"), dict):
            raise InputError(f"{path}: feature {fid!r}: no 'CityObjects'")
        reader.add(feature["CityObjects"], feature.get("vertices") or [], transform)
    return obj_table.read_model(
        reader,
        path,
        source_crs=source_crs,
        target_crs=target_crs,
        name=name,
        format="CityJSONSeq" if lines else "CityJSON",
        version=version,
        metadata={k: metadata[k] for k in _KEPT_METADATA if k in metadata},
    )


def _file_crs(path: Path, value: Any, given: str | pyproj.CRS | None) -> pyproj.CRS:
    if value is None:
        if given is None:
            raise CRSError(
                f"{path}: the file names no CRS (metadata.referenceSystem); give it (--crs)"
            )
        return parse_crs(given, what=f"{path}: given CRS")
    return parse_crs(value, what=f"{path}: metadata.referenceSystem")


def crs_url(crs: pyproj.CRS, /) -> str:
    """The CityJSON ``referenceSystem`` of a CRS: an OGC EPSG URL.

    A compound CRS without an EPSG code of its own is named by its horizontal part (CityJSON
    has no way to name a compound pair); ``docs/formats.md`` says so.

    Examples
    --------
    >>> crs_url(pyproj.CRS("EPSG:7415"))
    'https://www.opengis.net/def/crs/EPSG/0/7415'
    >>> crs_url(pyproj.CRS("EPSG:31258+5778"))
    'https://www.opengis.net/def/crs/EPSG/0/31258'
    """
    code = crs.to_epsg() or horizontal(crs).to_epsg()
    if code is None:
        raise CRSError(f"CRS {crs.name!r} has no EPSG code; CityJSON names CRSs by EPSG URL")
    return f"https://www.opengis.net/def/crs/EPSG/0/{code}"


def _encode(
    model: CityModel,
    rows: NDArray[np.integer],
    /,
    *,
    lods: list[str] | None,
    scale: float,
    per_feature: bool,
) -> tuple[
    dict[str, dict[str, Any]], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64] | None
]:
    """City objects of ``rows``, their quantised vertices and, per vertex, its feature row.

    With ``per_feature`` the vertex indices of each object count from its feature's first
    vertex (CityJSONSeq); otherwise from the start of one shared list.
    """
    table = model.buildings
    n = len(table)
    chosen = np.zeros(n, dtype=bool)
    chosen[np.asarray(rows, dtype=np.int64)] = True
    ids = table["building_id"].to_numpy(dtype=object)
    kinds = (
        table["object_type"].to_numpy(dtype=object)
        if "object_type" in table
        else np.full(n, "Building", dtype=object)
    )
    parent_ids = (
        table["parent_id"].to_numpy(dtype=object)
        if "parent_id" in table
        else np.full(n, None, dtype=object)
    )
    parent_row = pd.Series(np.arange(n), index=ids).reindex(parent_ids).to_numpy()
    has_parent = ~np.isnan(parent_row)
    top = np.where(has_parent, np.nan_to_num(parent_row), np.arange(n)).astype(np.int64)

    surf = obj_table.surfaces(model, lods=lods)
    surf = surf.take(np.flatnonzero(chosen[surf.owner]))
    order = np.lexsort((surf.lod.astype(str), surf.owner))
    surf = surf.take(order)

    rings, ring_poly = shapely.get_rings(surf.polygons, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, include_z=True, return_index=True)
    closed_length = np.bincount(coord_ring, minlength=len(rings))
    keep = np.ones(len(coords), dtype=bool)
    keep[np.cumsum(closed_length) - 1] = False
    coords, coord_ring = coords[keep], coord_ring[keep]
    origin = model.origin
    q = np.rint((coords - origin) / scale).astype(np.int64)
    feature = top[surf.owner[ring_poly[coord_ring]]] if per_feature else np.zeros(len(q), np.int64)
    unique, inverse = np.unique(np.column_stack([feature, q]), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    if per_feature:
        inverse = inverse - np.searchsorted(unique[:, 0], feature)
    flat = inverse.tolist()
    ends = np.cumsum(closed_length - 1).tolist()
    ring_lists = [flat[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
    poly_ends = np.cumsum(np.bincount(ring_poly, minlength=len(surf))).tolist()
    surface_lists = [ring_lists[a:b] for a, b in zip([0, *poly_ends[:-1]], poly_ends, strict=True)]

    city_objects: dict[str, dict[str, Any]] = {}
    chosen_rows = np.flatnonzero(chosen)
    for row, attributes in zip(chosen_rows, obj_table.attributes(model, chosen_rows), strict=True):
        item: dict[str, Any] = {"type": kinds[row] or "Building"}
        address = attributes.pop(ADDRESS, None)
        if attributes:
            item["attributes"] = attributes
        if address is not None:
            item["address"] = address
        item["geometry"] = []
        if has_parent[row] and chosen[int(parent_row[row])]:
            item["parents"] = [parent_ids[row]]
        city_objects[ids[row]] = item
    for row in chosen_rows[has_parent[chosen_rows]]:
        parent = ids[int(parent_row[row])]
        if parent in city_objects:
            city_objects[parent].setdefault("children", []).append(ids[row])

    if len(surf):
        change = (
            np.flatnonzero((surf.owner[1:] != surf.owner[:-1]) | (surf.lod[1:] != surf.lod[:-1]))
            + 1
        )
        starts = [0, *change.tolist()]
        stops = [*change.tolist(), len(surf)]
        for a, b in zip(starts, stops, strict=True):
            kind = surf.geometry_type[a]
            geometry: dict[str, Any] = {"type": kind, "lod": surf.lod[a]}
            boundaries = surface_lists[a:b]
            semantic = _semantics(surf.semantic[a:b], surf.semantic_attributes[a:b])
            if kind == "Solid":
                geometry["boundaries"] = [boundaries]
                if semantic:
                    semantic["values"] = [semantic["values"]]
            else:
                geometry["boundaries"] = boundaries
            if semantic:
                geometry["semantics"] = semantic
            city_objects[ids[surf.owner[a]]]["geometry"].append(geometry)
    extent = np.concatenate([coords.min(axis=0), coords.max(axis=0)]) if len(coords) else None
    return city_objects, unique, top, extent


def _semantics(classes: NDArray[np.object_], extra: NDArray[np.object_]) -> dict[str, Any] | None:
    """The ``semantics`` member of one geometry (values for its surfaces), or ``None``."""
    if all(c is None or c != c for c in classes):
        return None
    surfaces: list[dict[str, Any]] = []
    index: dict[tuple[str, str], int] = {}
    values: list[int | None] = []
    for kind, more in zip(classes.tolist(), extra.tolist(), strict=True):
        if kind is None or kind != kind:
            values.append(None)
            continue
        more = more if isinstance(more, str) else ""
        key = (kind, more)
        if key not in index:
            index[key] = len(surfaces)
            surfaces.append({"type": kind, **(json.loads(more) if more else {})})
        values.append(index[key])
    return {"surfaces": surfaces, "values": values}


def _metadata(model: CityModel, extent: NDArray[np.float64] | None) -> dict[str, Any]:
    source = model.metadata.get("source") or {}
    out = dict(source.get("metadata") or {})
    out.setdefault("title", str(model.metadata.get("name", "twin")))
    out["referenceSystem"] = crs_url(model.crs)
    if extent is not None:
        out["geographicalExtent"] = [round(float(v), 3) for v in extent]
    return out


def _transform(model: CityModel, scale: float) -> dict[str, Any]:
    return {"scale": [scale] * 3, "translate": [float(v) for v in model.origin]}


def document(
    model: CityModel,
    rows: NDArray[np.integer] | None = None,
    /,
    *,
    lods: list[str] | None = None,
    scale: float = 0.001,
) -> dict[str, Any]:
    """A CityJSON 2.0 document of the model's buildings (``rows`` of ``model.buildings``).

    Parameters
    ----------
    model
        The twin.
    rows
        Rows of ``model.buildings`` to include (all by default); a part's parent and a
        parent's parts should be included together (:func:`twin.formats.objects.select`).
    lods
        LoDs to include (all by default).
    scale
        Quantisation step of the ``transform`` (m).
    """
    rows = np.arange(len(model.buildings)) if rows is None else np.asarray(rows)
    city_objects, unique, _, extent = _encode(
        model, rows, lods=lods, scale=scale, per_feature=False
    )
    return {
        "type": "CityJSON",
        "version": VERSION,
        "transform": _transform(model, scale),
        "metadata": _metadata(model, extent),
        "CityObjects": city_objects,
        "vertices": unique[:, 1:].tolist(),
    }


def header(model: CityModel, /, *, scale: float = 0.001) -> dict[str, Any]:
    """The first line of a CityJSONSeq: metadata and ``transform``, no objects."""
    coords = shapely.get_coordinates(
        model.layer("building_surfaces").geometry.to_numpy(), include_z=True
    )
    extent = np.concatenate([coords.min(axis=0), coords.max(axis=0)]) if len(coords) else None
    return {
        "type": "CityJSON",
        "version": VERSION,
        "transform": _transform(model, scale),
        "metadata": _metadata(model, extent),
        "CityObjects": {},
        "vertices": [],
    }


def features(
    model: CityModel,
    rows: NDArray[np.integer] | None = None,
    /,
    *,
    lods: list[str] | None = None,
    scale: float = 0.001,
) -> list[dict[str, Any]]:
    """``CityJSONFeature`` dicts, one per top-level building of ``rows`` with its parts.

    Vertex indices are local to each feature and quantised with the ``transform`` of
    :func:`header` (same ``scale``).
    """
    rows = np.arange(len(model.buildings)) if rows is None else np.asarray(rows)
    city_objects, unique, top, _ = _encode(model, rows, lods=lods, scale=scale, per_feature=True)
    ids = model.buildings["building_id"].to_numpy(dtype=object)
    tops = np.unique(top[np.asarray(rows, dtype=np.int64)])
    members: dict[int, list[str]] = {int(t): [] for t in tops}
    for row in np.asarray(rows, dtype=np.int64):
        members[int(top[row])].append(ids[row])
    starts = np.searchsorted(unique[:, 0], tops).tolist()
    stops = np.searchsorted(unique[:, 0], tops, side="right").tolist()
    vertices = unique[:, 1:].tolist()
    return [
        {
            "type": "CityJSONFeature",
            "id": ids[t],
            "CityObjects": {oid: city_objects[oid] for oid in members[int(t)]},
            "vertices": vertices[a:b],
        }
        for t, a, b in zip(tops, starts, stops, strict=True)
    ]


def write(
    model: CityModel,
    path: str | Path,
    /,
    *,
    rows: NDArray[np.integer] | None = None,
    lods: list[str] | None = None,
    scale: float = 0.001,
    seq: bool = False,
) -> Path:
    """Write the model as CityJSON 2.0 (or CityJSONSeq with ``seq``) atomically.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
    with atomic(path) as tmp, tmp.open("w", encoding="utf-8") as out:
        if seq:
            out.write(dumps(header(model, scale=scale)) + "\n")
            for feature in features(model, rows, lods=lods, scale=scale):
                out.write(dumps(feature) + "\n")
        else:
            out.write(dumps(document(model, rows, lods=lods, scale=scale)))
    return path
