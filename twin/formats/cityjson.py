"""CityJSON and CityJSONSeq: read 1.0, 1.1 and 2.0 into a twin; write CityJSON 2.0.

Reading upgrades older versions on the way (their Building and BuildingPart encoding is the
same as 2.0's); coordinates are de-quantised with the file's ``transform`` and, when a target
CRS is given, reprojected. A document is parsed by simdjson without a Python tree of its
geometry (:func:`_scan`): vertices come out as one numpy array, and the city objects' text is
read into flat columns by a compiled walk (:mod:`twin.formats._walk`, Cython), so that only
attributes become Python objects; an irregular document (other city object types, broken
geometry) is parsed whole by orjson instead, which finds and names the problem.
Writing quantises to a ``transform`` (1 mm by default) with the model origin as
``translate``, deduplicates vertices with numpy, and writes either one document or
CityJSONSeq (a header line, then one ``CityJSONFeature`` a line). A model just read, not yet
used, is written back from what the reader kept, without making its layers (the city
objects' text as read, less the members the writer leaves out, when their geometries,
attributes and links need no change).

The public functions :func:`document`, :func:`header` and :func:`features` return plain dicts
for servers (OGC API - Features items), :func:`read` and :func:`write` work on files.
"""

from __future__ import annotations

import codecs
import functools
import json
import threading
from collections import Counter
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from types import NoneType
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyproj
import shapely
import simdjson
from numpy.typing import NDArray

from twin.crs import epsg_url, horizontal, parse_crs, stated_height, vertical, with_height
from twin.errors import CRSError, InputError
from twin.files import atomic, gc_paused
from twin.formats import objects as obj_table
from twin.formats._walk import GEOMETRY_COLUMNS, JSON_TYPES, OBJECT_COLUMNS, minified, walk
from twin.formats.objects import ADDRESS, BUILDING_TYPES, Deferred, Objects, Surfaces
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

#: the largest coordinate a vertex may have, after the ``transform`` (in the file's CRS
#: units: metres, or feet, or degrees). The projected coordinates of every EPSG CRS stay
#: within a few 10^7 m (World Mercator's eastings reach 2.0·10^7 m, false eastings and
#: northings of national grids 10^7 m), heights within 10^4 m: 10^9 m leaves room for any
#: of them in feet, and refuses what cannot be a coordinate (10^300, an overflow) before it
#: reaches an area, a volume or a float32 mesh
MAX_COORDINATE = 1e9

#: metadata members carried over from an imported file
_KEPT_METADATA = ("identifier", "pointOfContact", "referenceDate", "title")

#: the geometry types and the city object types of the walk's codes
_KINDS = np.array(["MultiSurface", "CompositeSurface", "Solid"], dtype=object)
_BUILDING_KINDS = np.array(["Building", "BuildingPart"], dtype=object)

#: members of a geometry and of its semantics that are written back as read
_PLAIN = frozenset({"type", "lod", "boundaries", "semantics"})
_SEMANTICS = frozenset({"surfaces", "values"})


@dataclass(frozen=True)
class _AsRead:
    """A CityJSON document's buildings as read, ready to be written back (see :func:`write`).

    Kept by :func:`read` for a document (not CityJSONSeq) whose vertices are all used by its
    buildings. ``geometries`` holds per object its list of CityJSON 2.0 geometry objects: the
    file's own as pre-serialised JSON (an ``orjson.Fragment``), or, where the file's need
    rewriting (a numeric LoD, other members), dicts whose ``boundaries`` and semantic
    ``values`` are fragments; the indices refer to ``vertices`` (in the project CRS).
    ``text``, when not ``None``, is the ``CityObjects`` of the file as minified JSON less
    the members the writer leaves out (``geographicalExtent``, empty attributes, ...), which
    is exactly what the writer would make of them (``geometries`` is then empty).
    """

    ids: list[str]
    types: list[str]
    parents: list[str | None]
    attributes: list[dict[str, Any]]
    geometries: list[orjson.Fragment | list[dict[str, Any]]]
    vertices: NDArray[np.float64]
    text: bytes | None = None


class _Reader:
    """Accumulates objects and surface rings over one document or many CityJSONSeq lines.

    The walk over the city objects only gathers flat lists (vertex indices, ring and surface
    sizes, semantic values, one entry per geometry); :meth:`result` checks and assembles them
    with numpy.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ids: list[str] = []
        self.types: list[str] = []
        self.parents: list[str | None] = []
        self.attributes: list[dict[str, Any]] = []
        self.skipped: Counter[str] = Counter()
        self.vertices: list[NDArray[np.float64]] = []
        self.indices: list[NDArray[np.int64]] = []
        self.n_vertices = 0
        self.ring_length: list[NDArray[np.int64]] = []  # per chunk: per ring, its length
        self.surface_rings: list[NDArray[np.int64]] = []  # per chunk: per surface, its rings
        self.values: list[NDArray[np.float64]] = []  # per chunk, per surface: its semantic
        # value (NaN: no class)
        # per geometry: owner row, LoD, type, surfaces, its first class, its number of classes
        self.geometries: list[tuple[int, str, str, int, int, int]] = []
        # per Solid with interior shells: its geometry number, and the surfaces of each shell
        self.shells: dict[int, list[int]] = {}
        self.classes: list[bytes] = []  # per chunk: its semantic surface lists as JSON
        self.n_classes = 0  # semantic surfaces so far
        self.typed = True  # whether every semantic surface so far is an object with a type
        # per object: its geometries to write back (see _AsRead); per chunk: its vertices
        self.kept: list[orjson.Fragment | list[dict[str, Any]]] = []
        self.text: bytes | None = None  # the city objects' text, when written as it is
        # each attribute name with each type of its values, when the walk read them
        self.attribute_types: list[tuple[str, type]] | None = None
        self.chunks: list[int] = []
        # the ids of every city object read (of any type), and the ``parents`` and
        # ``children`` of the buildings: (object id, member, ids), checked by :meth:`result`
        self.every_id: set[str] = set()
        self.links: list[tuple[str, str, list[str]]] = []

    def fail(self, oid: str, problem: str) -> InputError:
        return InputError(f"{self.path}: city object {oid!r}: {problem}")

    def _vertices(
        self, vertices: Any, transform: dict | None, where: str = ""
    ) -> NDArray[np.float64]:
        """A chunk's vertices as an ``(m, 3)`` array, de-quantised with ``transform`` (checked
        by :func:`_transform_of`), each coordinate finite and within :data:`MAX_COORDINATE`
        (``where`` names the chunk: a CityJSONSeq feature)."""
        try:
            raw = np.asarray(vertices, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{self.path}: 'vertices' is not a list of [x, y, z]") from None
        if raw.size == 0:
            raw = raw.reshape(0, 3)
        if raw.ndim != 2 or raw.shape[1] != 3:
            raise InputError(f"{self.path}: 'vertices' is not a list of [x, y, z]")
        if transform is not None:  # column by column: numpy broadcasts over rows of 3 slowly
            scale, translate = transform["scale"], transform["translate"]
            raw = np.column_stack([raw[:, k] * scale[k] + translate[k] for k in range(3)])
        # two reductions, no temporary array; NaN fails both comparisons
        if len(raw) and not (raw.max() <= MAX_COORDINATE and raw.min() >= -MAX_COORDINATE):
            at = int(np.argmax(~(np.abs(raw) <= MAX_COORDINATE).all(axis=1)))
            raise InputError(
                f"{self.path}: {where}vertex {at} {raw[at].tolist()}"
                f"{' (after the transform)' if transform is not None else ''} is not a "
                f"coordinate: each must be finite and within ±{MAX_COORDINATE:g}"
            )
        return raw

    def add(
        self, city_objects: dict[str, Any], vertices: Any, transform: dict | None, where: str = ""
    ) -> None:
        """Read one chunk: a document's or a feature's objects with its own vertex list
        (``where`` names a feature)."""
        self.attribute_types = None  # gathered from the attribute dicts (to_model)
        raw = self._vertices(vertices, transform, where)
        if not isinstance(city_objects, dict):
            raise InputError(f"{self.path}: 'CityObjects' is not an object")
        self.every_id.update(city_objects)
        first_geometry = len(self.geometries)
        shells: list[Any] = []  # per geometry: its surfaces
        described: list[Any] = []  # per geometry with semantics: its semantic surfaces
        values: list[Any] = []  # per surface: its semantic value (None: no class)
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
            for member in ("parents", "children"):
                ids = item.get(member)
                if ids is not None and not (
                    isinstance(ids, list) and all(isinstance(i, str) for i in ids)
                ):
                    raise self.fail(oid, f"'{member}' is not a list of ids")
                if ids:
                    self.links.append((oid, member, ids))
            parents = item.get("parents")
            self.parents.append(parents[0] if parents else None)
            attributes = item.get("attributes") or {}
            if not isinstance(attributes, dict):
                raise self.fail(oid, "'attributes' is not an object")
            attributes = dict(attributes)
            if "address" in item:
                attributes[ADDRESS] = item["address"]
            self.attributes.append(attributes)
            geometries = item.get("geometry") or []
            plain = [self._geometry(oid, row, g, shells, described, values) for g in geometries]
            self.kept.append(
                orjson.Fragment(orjson.dumps(geometries))
                if all(plain)
                else [_rewritten(g) for g in geometries if _surfaces(g)]
            )
        text = orjson.dumps(shells)
        try:
            index, offset, ring_length, surface_rings = _nested(text)
        except _Malformed as exc:
            geometry = first_geometry + _geometry_at(text, exc.offset)
            raise self.fail(self.ids[self.geometries[geometry][0]], exc.problem) from None
        bad = (index < 0) | (index >= len(raw))
        if bad.any():
            at = int(np.argmax(bad))
            geometry = first_geometry + _geometry_at(text, int(offset[at]))
            raise self.fail(
                self.ids[self.geometries[geometry][0]],
                f"vertex index {int(index[at])} out of range ({len(raw)} vertices)",
            )
        try:
            self.values.append(np.asarray(values, dtype=np.float64).reshape(-1))  # None: NaN
        except (TypeError, ValueError):
            raise InputError(f"{self.path}: semantic values are not integers") from None
        self._commit(raw, index, ring_length, surface_rings, described)

    def _commit(
        self,
        raw: NDArray[np.float64],
        index: NDArray[np.int64],
        ring_length: NDArray[np.int64],
        surface_rings: NDArray[np.int64],
        described: list[Any],
    ) -> None:
        """Keep a checked chunk: its vertices, indices, ring and surface sizes, classes."""
        self.ring_length.append(ring_length)
        self.surface_rings.append(surface_rings)
        self.indices.append(index + self.n_vertices)
        self.vertices.append(raw)
        self.n_vertices += len(raw)
        self.chunks.append(len(raw))
        self.classes.append(orjson.dumps(described))

    def add_scanned(self, scanned: _Scanned, transform: dict | None) -> bool:
        """Read a whole document from :func:`_scan`, as :meth:`add` would; ``False`` when
        the document is not regular enough for that (then a fresh reader's :meth:`add` reads
        it, and finds and names the problem if there is one).

        :func:`twin.formats._walk.walk` reads the city objects' text into columns; only the
        attributes (in one call) and the objects' parents become Python objects.
        """
        raw = self._vertices(scanned.vertices, transform)
        text = scanned.text
        walked = walk(text, len(raw))
        if walked is None or not walked["linked"]:
            # irregular ``parents`` or ``children`` (perhaps naming no object): the full
            # parse checks them
            return False
        ids: list[str] = walked["ids"]
        table = np.frombuffer(walked["objects"], dtype=np.int64).reshape(-1, len(OBJECT_COLUMNS))
        obj = dict(zip(OBJECT_COLUMNS, table.T, strict=True))
        shape = (-1, len(GEOMETRY_COLUMNS))
        geo = dict(
            zip(
                GEOMETRY_COLUMNS,
                np.frombuffer(walked["geometries"], dtype=np.int64).reshape(shape).T,
                strict=True,
            )
        )
        attributes: list[dict[str, Any]] = orjson.loads(walked["attributes"])
        for row in np.flatnonzero(obj["address_a"] >= 0).tolist():
            address = _span(text, int(obj["address_a"][row]), int(obj["address_b"][row]))
            attributes[row] = {**attributes[row], ADDRESS: address}
        self.attribute_types = [(name, JSON_TYPES[code]) for name, code in walked["kinds"]]
        lods: list[str] = walked["lods"]
        for k in np.flatnonzero(geo["lod_is_text"] == 0).tolist():
            if lods[k] != "None":  # a number: as str() of the number
                lods[k] = str(orjson.loads(lods[k]))
        n, sizes = geo["surfaces"], geo["classes"]
        base, first = len(self.ids), self.n_classes
        firsts = first + np.cumsum(sizes) - sizes
        self.geometries.extend(
            zip(
                (base + geo["owner"]).tolist(),
                lods,
                _KINDS[geo["kind"]].tolist(),
                n.tolist(),
                firsts.tolist(),
                sizes.tolist(),
                strict=True,
            )
        )
        self.n_classes += int(sizes.sum())
        self.typed = self.typed and bool(geo["typed"][sizes > 0].all())
        self.values.append(np.frombuffer(walked["values"], dtype=np.float64))
        self.ids.extend(ids)
        self.types.extend(_BUILDING_KINDS[obj["type"]].tolist())
        self.parents.extend(walked["parents"])
        self.attributes.extend(attributes)
        plain = geo["plain"].astype(bool)
        if (
            plain.all()
            and not any(kind is NoneType and name != ADDRESS for name, kind in self.attribute_types)
            and walked["linked"]
        ):
            self.text = walked["written"]
        else:
            self._keep(text, obj, geo["owner"], plain, n)
        ring_length = np.frombuffer(walked["ring_length"], dtype=np.int64)
        surface_rings = np.frombuffer(walked["surface_rings"], dtype=np.int64)
        index = np.frombuffer(walked["index"], dtype=np.int64)
        described = orjson.Fragment(walked["classes"])
        self._commit(raw, index, ring_length, surface_rings, described)
        return True

    def _keep(
        self,
        text: bytes,
        obj: dict[str, NDArray[np.int64]],
        owner: NDArray[np.int64],
        plain: NDArray[np.bool_],
        n: NDArray[np.int64],
    ) -> None:
        """Keep each object's geometries to write back (see :class:`_AsRead`): the text of
        its ``geometry`` as read (minified), or when one needs rewriting, the rewritten
        geometries."""
        spans = zip(obj["geometry_a"].tolist(), obj["geometry_b"].tolist(), strict=True)
        texts = [minified(text[start:end]) if start >= 0 else b"[]" for start, end in spans]
        if plain.all():
            self.kept.extend(map(orjson.Fragment, texts))
            return
        stop = np.cumsum(np.bincount(owner, minlength=len(texts))).tolist()
        a, as_read, sizes = 0, plain.tolist(), n.tolist()
        for geometries, b in zip(texts, stop, strict=True):
            if all(as_read[a:b]):
                self.kept.append(orjson.Fragment(geometries))
            else:
                pairs = zip(orjson.loads(geometries) or [], sizes[a:b], strict=True)
                self.kept.append([_rewritten(g) for g, m in pairs if m])
            a = b

    def _geometry(
        self,
        oid: str,
        row: int,
        geometry: dict[str, Any],
        shells: list[Any],
        described: list[Any],
        found: list[Any],
    ) -> bool:
        """Note one geometry, its surfaces in ``shells``, its semantic surfaces in
        ``described`` and its surfaces' semantic values in ``found``; whether it is CityJSON
        2.0 as it is (else see :func:`_rewritten`)."""
        kind = geometry.get("type")
        if "template" in geometry or kind == "GeometryInstance":
            raise self.fail(oid, "geometry templates (GeometryInstance) are not supported")
        lod = geometry.get("lod")
        semantics = geometry.get("semantics") or {}
        values = semantics.get("values")
        if kind not in ("MultiSurface", "CompositeSurface", "Solid"):
            raise self.fail(oid, f"geometry type {kind!r} is not supported")
        surfaces = _surfaces(geometry)
        if not isinstance(surfaces, list):
            raise self.fail(oid, f"LoD {lod}: boundaries are not a list of surfaces")
        if kind == "Solid":
            boundaries = geometry["boundaries"]
            if not all(isinstance(shell, list) for shell in boundaries):
                raise self.fail(oid, f"LoD {lod}: a Solid's shells are not lists of surfaces")
            if values and (not isinstance(values, list) or len(values) != len(boundaries)):
                raise self.fail(oid, f"LoD {lod}: semantic values do not match the shells")
            if len(boundaries) > 1:  # interior shells (cavities) follow the exterior
                self.shells[len(self.geometries)] = [len(shell) for shell in boundaries]
            values = (
                [
                    v
                    for shell, vs in zip(boundaries, values, strict=True)
                    for v in vs or [None] * len(shell)
                ]
                if values
                else None
            )
        shells.append(surfaces)
        classes = (semantics.get("surfaces") or []) if values else []
        self.typed = self.typed and _is_typed(classes)
        if values:
            if len(values) != len(surfaces):
                problem = f"{len(values)} semantic values for {len(surfaces)} surfaces"
                raise self.fail(oid, f"LoD {lod}: {problem}")
            found.extend(values)
        else:
            found.extend([None] * len(surfaces))
        self.geometries.append((row, str(lod), kind, len(surfaces), self.n_classes, len(classes)))
        if classes:
            described.append(classes)
            self.n_classes += len(classes)
        return (
            geometry.keys() <= _PLAIN
            and isinstance(lod, str)
            and len(surfaces) > 0
            and (not semantics or (bool(classes) and semantics.keys() <= _SEMANTICS))
        )

    def _locate(self, ring: int) -> tuple[int, int]:
        """The geometry ``ring`` belongs to, and the number of its surface in that geometry."""
        surface = int(np.searchsorted(np.cumsum(_cat(self.surface_rings)), ring, side="right"))
        ends = np.cumsum([g[3] for g in self.geometries])
        geometry = int(np.searchsorted(ends, surface, side="right"))
        return geometry, surface - int(ends[geometry] - self.geometries[geometry][3])

    def _check_links(self) -> None:
        """Refuse a building whose ``parents`` or ``children`` name an object the file does
        not hold, as cjval does (its ``parents_children_consistency`` check is an error:
        the file is invalid). Kept, the link would name no building of the twin, and be
        dropped without a word on export."""
        for oid, member, ids in self.links:
            missing = [i for i in ids if i not in self.every_id]
            if missing:
                raise self.fail(
                    oid, f"its '{member}' name {missing[0]!r}, which is no city object of the file"
                )

    def result(self, transformer: pyproj.Transformer | None) -> tuple[Objects, Deferred]:
        """Check what was read; the objects, and their surfaces made when first used."""
        self._check_links()
        length = _cat(self.ring_length)
        short = np.flatnonzero(length < 3)
        if len(short):
            geometry, surface = self._locate(int(short[0]))
            row, lod = self.geometries[geometry][:2]
            problem = f"LoD {lod} surface {surface} has a ring of {length[short[0]]} vertices"
            raise self.fail(self.ids[row], problem)
        columns = list(zip(*self.geometries, strict=True)) or [()] * 6
        owner, first, n_classes, count = (
            np.asarray(columns[k], dtype=np.int64) for k in (0, 4, 5, 3)
        )
        lod, kind = (np.asarray(columns[k], dtype=object) for k in (1, 2))
        value = _cat(self.values) if self.values else np.empty(0)
        has = ~np.isnan(value)
        bad = np.flatnonzero(has & ((value < 0) | (value >= np.repeat(n_classes, count))))
        if len(bad):
            geometry = int(np.searchsorted(np.cumsum(count), bad[0], side="right"))
            problem = f"semantic value {value[bad[0]]:g} out of range"
            raise self.fail(self.ids[owner[geometry]], problem)
        described, total = self.classes, self.n_classes

        vertices = _cat(self.vertices) if self.vertices else np.empty((0, 3))
        if transformer is not None:
            vertices = np.column_stack(transformer.transform(*vertices.T))
        index = _cat(self.indices)
        used = np.zeros(len(vertices), dtype=bool)
        used[index] = True
        rings = _cat(self.surface_rings)

        def make() -> Surfaces:
            table = np.empty((total + 1, 2), dtype=object)  # last row (None): no class
            if total:
                lists = chain.from_iterable(orjson.loads(blob) for blob in described)
                classes = chain.from_iterable(lists)
                table[:-1] = list(map(_semantic_class, classes))
            at = np.where(has, np.repeat(first, count) + np.where(has, value, 0), total)
            semantic = table[at.astype(np.int64)]
            ends = np.cumsum(length)
            closed = np.insert(index, ends, index[ends - length]) if len(length) else index
            polygons = shapely.from_ragged_array(
                shapely.GeometryType.POLYGON,
                vertices[closed],
                (
                    np.concatenate([[0], np.cumsum(length + 1)]),
                    np.concatenate([[0], np.cumsum(rings)]),
                ),
            )
            shell = None
            if self.shells:
                shell = np.zeros(len(at), dtype=np.int64)
                start = np.cumsum(count) - count
                for geometry, sizes in self.shells.items():
                    at_shells = np.repeat(np.arange(len(sizes)), sizes)
                    shell[start[geometry] : start[geometry] + len(at_shells)] = at_shells
            return Surfaces(
                polygons=polygons,
                owner=np.repeat(owner, count),
                lod=np.repeat(lod, count),
                geometry_type=np.repeat(kind, count),
                semantic=semantic[:, 0],
                semantic_attributes=semantic[:, 1],
                shell=shell,
            )

        objects = Objects(
            ids=np.asarray(self.ids, dtype=object),
            types=np.asarray(self.types, dtype=object),
            parents=np.asarray(self.parents, dtype=object),
            attributes=self.attributes,
            attribute_types=self.attribute_types,
        )
        as_read, all_used = None, bool(used.all())
        if len(self.chunks) == 1 and all_used and self.typed:
            as_read = _AsRead(
                self.ids, self.types, self.parents, self.attributes, self.kept, vertices, self.text
            )
        lods = sorted(set(lod[count > 0].tolist()))
        return objects, Deferred(make, lods, vertices if all_used else vertices[used], as_read)


def _surfaces(geometry: dict[str, Any], /) -> Any:
    """A geometry's surfaces: its boundaries, or a Solid's shells' surfaces, one after the
    other (exterior first)."""
    boundaries = geometry.get("boundaries")
    if geometry.get("type") != "Solid" or not isinstance(boundaries, list):
        return boundaries
    return list(chain.from_iterable(s for s in boundaries if isinstance(s, list)))


def _rewritten(geometry: dict[str, Any], /) -> dict[str, Any]:
    """A read geometry as CityJSON 2.0: LoD as text, only type, LoD, boundaries and
    semantics (none when no surface has a class)."""
    out = {
        "type": geometry["type"],
        "lod": str(geometry.get("lod")),
        "boundaries": orjson.Fragment(orjson.dumps(geometry["boundaries"])),
    }
    semantics = geometry.get("semantics") or {}
    if semantics.get("surfaces") and semantics.get("values"):
        out["semantics"] = {
            "surfaces": orjson.Fragment(orjson.dumps(semantics["surfaces"])),
            "values": orjson.Fragment(orjson.dumps(semantics["values"])),
        }
    return out


def _is_typed(classes: list[Any], /) -> bool:
    """Whether every semantic surface of a list is an object with a ``type``.

    Examples
    --------
    >>> _is_typed([{"type": "RoofSurface"}]), _is_typed([{"type": "RoofSurface"}, {"id": 1}])
    (True, False)
    """
    return all(isinstance(c, dict) and "type" in c for c in classes)


def _span(text: bytes, a: int, b: int, /) -> Any:
    """The JSON value at ``text[a:b]``, ``None`` when ``a`` is negative (absent)."""
    return orjson.loads(text[a:b]) if a >= 0 else None


def _cat(arrays: list[NDArray[Any]], /) -> NDArray[Any]:
    """The arrays of the chunks read, end to end (the one array of a document, not copied)."""
    if len(arrays) == 1:
        return arrays[0]
    return np.concatenate(arrays) if arrays else np.empty(0, dtype=np.int64)


class _Malformed(Exception):
    """Boundaries that are not surfaces of rings of vertex indices (internal to the reader)."""

    def __init__(self, offset: int, problem: str) -> None:
        super().__init__(problem)
        self.offset, self.problem = offset, problem


#: per byte of JSON text: its change of bracket depth; whether it may be in boundaries
_STEP = np.zeros(256, dtype=np.int8)
_STEP[ord("[")], _STEP[ord("]")] = 1, -1
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[ord("0") : ord("9") + 1] = True
_ALLOWED = _DIGIT.copy()
_ALLOWED[[ord("["), ord("]"), ord(","), ord("-")]] = True


def _nested(blob: bytes, /) -> tuple[NDArray[np.int64], ...]:
    """Vertex indices and sizes of a JSON array of geometries ``[[[i, ...], ...], ...]``.

    One pass of numpy over the JSON text instead of a Python walk over a million small lists:
    bracket depth by a cumulative sum over the non-digits, integers from the runs of digits
    between them.

    Returns
    -------
    index
        The vertex indices, in order.
    offset
        Per index: its byte offset in ``blob`` (:func:`_geometry_at` finds its geometry).
    ring_length
        Per ring: its number of indices.
    surface_rings
        Per surface: its number of rings.

    Raises
    ------
    _Malformed
        With the offset and the problem: not nested as surfaces of rings, or not integers.

    Examples
    --------
    >>> index, _, rings, surfaces = _nested(b"[[[[0,1,2]],[[2,3,14],[5,6,7]]],[[[-1,0,2]]]]")
    >>> index.tolist(), rings.tolist(), surfaces.tolist()
    ([0, 1, 2, 2, 3, 14, 5, 6, 7, -1, 0, 2], [3, 3, 3, 3], [1, 2, 1])
    """
    text = np.frombuffer(blob, dtype=np.uint8)
    mark = np.flatnonzero(~_DIGIT[text])  # brackets, commas, signs
    char = text[mark]
    depth = np.cumsum(_STEP[char], dtype=np.int32)  # after each mark
    deep = depth > 4
    odd = ~_ALLOWED[char] | deep
    if odd.any():
        at = int(np.argmax(odd))
        problem = "not nested as rings of surfaces" if deep[at] else "not integers in rings"
        raise _Malformed(int(mark[at]), f"{problem} (near {blob[mark[at] : mark[at] + 20]!r})")
    gap = np.diff(mark) - 1  # digits after each mark
    before = np.flatnonzero(gap > 0)  # the mark before each number
    if (depth[before] != 4).any():
        at = int(mark[before[np.argmax(depth[before] != 4)]])
        raise _Malformed(at, f"not nested as rings of surfaces (near {blob[at : at + 20]!r})")
    start, length = mark[before] + 1, gap[before]
    if len(length) and length.max() > 17:
        raise _Malformed(int(start[np.argmax(length)]), "vertex index too large")
    index = np.zeros(len(start), dtype=np.int64)
    for k in range(int(length.max(initial=0))):
        more = length > k
        index[more] = index[more] * 10 + (text[start[more] + k] - ord("0"))
    index[char[before] == ord("-")] *= -1
    opens = char == ord("[")
    ring_open, surface_open = opens & (depth == 4), opens & (depth == 3)
    ring = np.cumsum(ring_open) - 1
    surface = np.cumsum(surface_open) - 1
    ring_length = np.bincount(ring[before], minlength=int(ring_open.sum()))
    surface_rings = np.bincount(surface[ring_open], minlength=int(surface_open.sum()))
    return index, start, ring_length, surface_rings


def _geometry_at(blob: bytes, offset: int, /) -> int:
    """The number of the geometry (member of the array ``blob``) at byte ``offset``."""
    char = np.frombuffer(blob, dtype=np.uint8)[: offset + 1]
    depth = np.cumsum(_STEP[char], dtype=np.int64)
    return int(np.count_nonzero((char == ord("[")) & (depth == 2))) - 1


def _semantic_class(surface: dict[str, Any], /) -> tuple[str | None, str | None]:
    """A semantic surface's class and its other attributes as JSON text (``None``: none)."""
    rest = {k: v for k, v in surface.items() if k not in ("type", "parent", "children")}
    return surface.get("type"), json.dumps(rest, sort_keys=True) if rest else None


@dataclass(frozen=True)
class _Scanned:
    """A CityJSON document as :func:`_scan` read it, without a Python tree of its geometry.

    Attributes
    ----------
    head
        Its ``type``, ``version``, ``metadata`` and ``transform`` (those present).
    vertices : (m, 3) float
        Its vertices as written (quantised when it has a ``transform``), if they are
        triples (:func:`twin.formats._walk.walk` checks).
    text
        The document (minified when it was indented).
    """

    head: dict[str, Any]
    vertices: NDArray[np.float64]
    text: bytes


#: a text with a line break among its first bytes is taken for indented (see :func:`_scan`)
_LOOK_FOR_LINES = 2**16

#: documents up to this size are parsed by a parser kept per thread (see :func:`_parse`)
_KEPT_PARSER_BYTES = 16 * 2**20
_parsers = threading.local()


def _parse(text: bytes, /) -> Any:
    """The document simdjson parses from ``text``; ``None`` when it is not JSON.

    A small document is parsed by the parser kept for this thread, whose buffers are reused
    instead of allocated and freed on every read (which costs as much as reading a small file,
    in page faults); a large one, or one read while a value of the kept parser's last document
    is still held (a traceback, say), by a parser of its own.
    """
    if len(text) <= _KEPT_PARSER_BYTES:
        if not hasattr(_parsers, "parser"):
            _parsers.parser = simdjson.Parser()
        kept = _parsers.parser
        try:
            return kept.parse(text)
        except ValueError:  # broken JSON, CityJSONSeq lines, or not UTF-8
            return None
        except RuntimeError:  # still in use
            pass
    try:
        return simdjson.Parser().parse(text)
    except (ValueError, RuntimeError):  # RuntimeError: an integer beyond 64 bits (BIGINT_ERROR)
        return None  # the full parse reads it, or names the problem


def _scan(text: bytes, /) -> _Scanned | None:
    """A CityJSON document parsed by simdjson without building its Python tree (``None``
    when ``text`` is not one JSON object with ``CityObjects`` and numeric ``vertices``).

    simdjson checks the whole text and gives the vertices as one flat buffer; that they are
    ``[x, y, z]`` triples is for :func:`twin.formats._walk.walk` to check, which reads the
    city objects from the same text. An indented text (a line break among its first 64 kB:
    JSON strings hold none) is first minified (:func:`twin.formats._walk.minified`), which
    costs less than the parse and the walk going through its whitespace.
    """
    if text.find(b"\n", 0, _LOOK_FOR_LINES) >= 0:  # indented: read minified
        text = minified(text)
        if text is None:  # not JSON (the full parse says where)
            return None
    doc = _parse(text)
    if not isinstance(doc, simdjson.Object):
        return None
    city_objects, vertices = doc.get("CityObjects"), doc.get("vertices")
    if not isinstance(city_objects, simdjson.Object) or not isinstance(vertices, simdjson.Array):
        return None
    try:
        flat = np.frombuffer(vertices.as_buffer(of_type="d"), dtype=np.float64)
    except TypeError:  # not numbers only
        return None
    if len(flat) != 3 * len(vertices):
        return None
    head = {
        key: _plain(doc[key]) for key in ("type", "version", "metadata", "transform") if key in doc
    }
    return _Scanned(head, flat.reshape(-1, 3), text)


def _plain(value: Any, /) -> Any:
    """A simdjson value as Python objects."""
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    return value.as_list() if isinstance(value, simdjson.Array) else value


def _bytes(path: Path, /) -> bytes:
    """The file's bytes, less a UTF-8 byte order mark (which JSON allows readers to ignore)."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    return text[len(codecs.BOM_UTF8) :] if text.startswith(codecs.BOM_UTF8) else text


def _load(path: Path, text: bytes, /) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The document (or CityJSONSeq header) and the CityJSONSeq features (empty for a document)."""
    try:
        return orjson.loads(text), []
    except orjson.JSONDecodeError as exc:
        error = exc
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    try:
        first = orjson.loads(lines[0][1]) if len(lines) > 1 else None
    except orjson.JSONDecodeError:
        first = None
    if first is None:
        raise InputError(f"{path}: not valid JSON: {error}") from error
    parsed = [first]
    for n, line in lines[1:]:
        try:
            parsed.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
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
        The file's CRS when it names none (``metadata.referenceSystem``), or the vertical
        datum of the heights of a file that names only its horizontal CRS (a compound CRS:
        ``EPSG:2056+5728`` for a file in EPSG:2056); the file's own wins otherwise.
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
    with gc_paused():
        text = _bytes(path)
        scanned = _scan(text)
        doc, lines = (scanned.head, []) if scanned is not None else _load(path, text)
        if not isinstance(doc, dict) or doc.get("type") != "CityJSON":
            raise InputError(f"{path}: not a CityJSON file (its 'type' is not \"CityJSON\")")
        version = str(doc.get("version"))
        if version not in ("1.0", "1.1", "2.0"):
            raise InputError(f"{path}: CityJSON version {version!r} is not supported (1.0-2.0)")
        metadata = doc.get("metadata") or {}
        source_crs = _file_crs(path, metadata, crs)
        reader = _Reader(path)
        transform = _transform_of(path, doc.get("transform"))
        if scanned is None or not reader.add_scanned(scanned, transform):
            if scanned is not None:  # not regular: read it all, to find and name the problem
                reader, (doc, lines) = _Reader(path), _load(path, text)
            reader.add(doc.get("CityObjects") or {}, doc.get("vertices") or [], transform)
        for feature in lines:
            fid = feature.get("id")
            if not isinstance(feature.get("CityObjects"), dict):
                raise InputError(f"{path}: feature {fid!r}: no 'CityObjects'")
            where = f"feature {fid!r}: "
            reader.add(feature["CityObjects"], feature.get("vertices") or [], transform, where)
        kind = "CityJSONSeq" if lines else "CityJSON"
        kept = {k: metadata[k] for k in _KEPT_METADATA if k in metadata}
        # Free the JSON tree while the collector is paused: it would walk it all otherwise.
        del doc, lines, metadata, scanned, text
        return obj_table.read_model(
            reader,
            path,
            source_crs=source_crs,
            target_crs=target_crs,
            name=name,
            format=kind,
            version=version,
            metadata=kept,
        )


def _transform_of(path: Path, value: Any, /) -> dict[str, list[float]] | None:
    """A file's ``transform``, checked: ``scale`` and ``translate``, three finite numbers
    each, the scale's positive (a zero collapses every vertex onto one, a negative one
    mirrors the model)."""
    if value is None:
        return None
    numbers = (int, float)
    if not isinstance(value, dict) or not all(
        isinstance(value.get(key), list)
        and len(value[key]) == 3
        and all(isinstance(v, numbers) and not isinstance(v, bool) for v in value[key])
        for key in ("scale", "translate")
    ):
        raise InputError(f"{path}: 'transform' needs 'scale' and 'translate', three numbers each")
    scale, translate = np.asarray(value["scale"], float), np.asarray(value["translate"], float)
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise InputError(
            f"{path}: transform.scale {value['scale']}: each component must be a finite "
            "number > 0 (the size of one step of the quantised coordinates)"
        )
    if not (np.abs(translate) <= MAX_COORDINATE).all():
        raise InputError(
            f"{path}: transform.translate {value['translate']}: each component must be "
            f"finite and within ±{MAX_COORDINATE:g}"
        )
    return value


def _file_crs(path: Path, metadata: dict[str, Any], given: str | pyproj.CRS | None) -> pyproj.CRS:
    """The CRS a file's metadata names (``referenceSystem``, with ``verticalReferenceSystem``
    when the twin wrote one), completed by the vertical datum of ``given`` when it names
    none; ``given`` alone for a file that names no CRS."""
    value = metadata.get("referenceSystem")
    if value is None:
        if given is None:
            raise CRSError(
                f"{path}: the file names no CRS (metadata.referenceSystem); give it (--crs)"
            )
        return parse_crs(given, what=f"{path}: given CRS")
    declared = parse_crs(value, what=f"{path}: metadata.referenceSystem")
    height = metadata.get(VERTICAL_MEMBER)
    if height is not None:
        what = f"{path}: metadata.{VERTICAL_MEMBER}"
        try:
            declared = stated_height(declared, parse_crs(height, what=what))
        except CRSError as exc:
            raise CRSError(f"{what}: {exc}") from None
    return with_height(declared, None if given is None else parse_crs(given, what="given CRS"))


#: the metadata member that names the vertical CRS of a compound CRS without an EPSG code
VERTICAL_MEMBER = "verticalReferenceSystem"


def reference_system(crs: pyproj.CRS, /) -> dict[str, str]:
    """The CityJSON metadata members that name a CRS: ``referenceSystem``, an OGC EPSG URL,
    and ``verticalReferenceSystem`` for the heights of a compound CRS without an EPSG code.

    CityJSON 2.0 names one CRS by one URL, and its schema takes only URLs under
    ``http(s)://www.opengis.net/def/crs/``: the OGC compound URL
    (``.../def/crs-compound?1=...&2=...``) does not pass, so a compound such as
    EPSG:31258+5778 is named by its horizontal part and the vertical one beside it (the
    reader takes both, and the OGC compound URL; ``docs/formats.md``). Kept per CRS (as
    ``crs.srs``): every write asks for it, and PROJ looks the code up in its database
    (``crs_epsg`` in ``bench/formats.py``).

    Examples
    --------
    >>> reference_system(pyproj.CRS("EPSG:7415"))
    {'referenceSystem': 'https://www.opengis.net/def/crs/EPSG/0/7415'}
    >>> reference_system(pyproj.CRS("EPSG:31258+5778"))  # doctest: +NORMALIZE_WHITESPACE
    {'referenceSystem': 'https://www.opengis.net/def/crs/EPSG/0/31258',
     'verticalReferenceSystem': 'https://www.opengis.net/def/crs/EPSG/0/5778'}
    """
    return dict(_reference_system(crs.srs))


@functools.lru_cache(maxsize=64)
def _reference_system(srs: str, /) -> tuple[tuple[str, str], ...]:
    crs = parse_crs(srs)
    own = epsg_url(crs)
    if own is not None:
        return (("referenceSystem", own),)
    flat, height = epsg_url(horizontal(crs)), vertical(crs)
    if flat is None:
        raise CRSError(f"CRS {crs.name!r} has no EPSG code; CityJSON names CRSs by EPSG URL")
    if height is None:
        return (("referenceSystem", flat),)
    height_url = epsg_url(height)
    if height_url is None:
        raise CRSError(f"vertical CRS {height.name!r} has no EPSG code to name it in CityJSON")
    return (("referenceSystem", flat), (VERTICAL_MEMBER, height_url))


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
    unique, inverse = _unique_rows(np.column_stack([feature, q]))
    if per_feature:
        inverse = inverse - np.searchsorted(unique[:, 0], feature)
    ring_lists = _cut(inverse, closed_length - 1)
    surface_lists = _cut(ring_lists, np.bincount(ring_poly, minlength=len(surf)))

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

    # one geometry per run of equal owner and LoD
    new = np.ones(len(surf), dtype=bool)
    new[1:] = (surf.owner[1:] != surf.owner[:-1]) | (surf.lod[1:] != surf.lod[:-1])
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    stops = starts + np.bincount(group, minlength=len(starts))
    classes, values = _semantics(surf.semantic, surf.semantic_attributes, group, len(starts))
    owners = ids[surf.owner[starts]].tolist()
    for a, b, owner, kind, lod, used in zip(
        starts.tolist(),
        stops.tolist(),
        owners,
        surf.geometry_type[starts].tolist(),
        surf.lod[starts].tolist(),
        classes,
        strict=True,
    ):
        geometry: dict[str, Any] = {"type": kind, "lod": lod}
        boundaries = surface_lists[a:b].tolist()
        semantic = values[a:b].tolist()
        if kind == "Solid" and surf.shell is not None and surf.shell[a:b].any():
            shell = surf.shell[a:b]  # interior shells (cavities) after the exterior
            cut = np.flatnonzero(np.diff(shell)) + 1
            boundaries = [part.tolist() for part in np.split(surface_lists[a:b], cut)]
            semantic = [part.tolist() for part in np.split(values[a:b], cut)]
        elif kind == "Solid":
            boundaries, semantic = [boundaries], [semantic]
        geometry["boundaries"] = boundaries
        if used:
            geometry["semantics"] = {"surfaces": used, "values": semantic}
        city_objects[owner]["geometry"].append(geometry)
    extent = obj_table.extent(coords)
    return city_objects, unique, top, extent


def _unique_rows(table: NDArray[np.int64], /) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The unique rows of an integer table, sorted, and the index of each row among them.

    What ``np.unique(table, axis=0, return_inverse=True)`` gives, by 1-D sorts: the columns
    are folded into one ``int64`` code that sorts like the rows, and the code is replaced by
    its rank (one 1-D ``np.unique``) only when the next column would overflow it.

    Examples
    --------
    >>> rows, inverse = _unique_rows(np.array([[2, 5], [1, 9], [2, 5]]))
    >>> rows.tolist(), inverse.tolist()
    ([[1, 9], [2, 5]], [1, 0, 1])
    """
    if len(table) == 0:
        return table, np.zeros(0, dtype=np.int64)
    low = table.min(axis=0)
    span = (table.max(axis=0) - low + 1).tolist()
    limit = np.iinfo(np.int64).max
    code, bound = np.zeros(len(table), dtype=np.int64), 1  # 0 <= code < bound
    for column, size in zip((table - low).T, span, strict=True):
        if size > limit // len(table):
            column = np.unique(column, return_inverse=True)[1]
            size = int(column.max()) + 1
        if bound > limit // size:
            code = np.unique(code, return_inverse=True)[1]
            bound = int(code.max()) + 1
        code, bound = code * size + column, bound * size
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    return table[first], inverse


def _cut(flat: NDArray[Any], sizes: NDArray[np.int64], /) -> NDArray[np.object_]:
    """``flat`` cut into consecutive Python lists of ``sizes``, as an object array of lists.

    The pieces of one size are made together (a 2-D ``tolist``), not one slice at a time.

    Examples
    --------
    >>> _cut(np.arange(5), np.array([2, 3])).tolist()
    [[0, 1], [2, 3, 4]]
    """
    out = np.empty(len(sizes), dtype=object)
    starts = np.cumsum(sizes) - sizes
    for size in np.unique(sizes).tolist():
        at = np.flatnonzero(sizes == size)
        pieces = flat[starts[at, None] + np.arange(size)].tolist()
        out[at] = np.fromiter(pieces, dtype=object, count=len(at))
    return out


def _semantics(
    semantic: NDArray[np.object_],
    extra: NDArray[np.object_],
    group: NDArray[np.int64],
    n_groups: int,
) -> tuple[list[list[dict[str, Any]]], NDArray[np.object_]]:
    """The ``semantics`` of every geometry: its semantic surfaces and each surface's value.

    Parameters
    ----------
    semantic, extra
        Per surface: its class (``None`` or NaN: none) and its other attributes as JSON text.
    group
        Per surface: the number of its geometry (ascending, ``0 .. n_groups - 1``).

    Returns
    -------
    surfaces : list of list of dict
        Per geometry: its distinct semantic surfaces (class and attributes) in order of first
        use; empty when none of its surfaces has a class.
    values : (k,) object
        Per surface: its index in its geometry's list, or ``None``.
    """
    has = np.asarray(pd.notna(semantic))
    extra = np.where(np.asarray(pd.notna(extra)), extra, "")
    kind_code, kinds = pd.factorize(semantic[has])
    extra_code, extras = pd.factorize(extra[has])
    n_pairs = max(len(kinds) * len(extras), 1)
    key = group[has] * n_pairs + kind_code * len(extras) + extra_code
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(first)  # distinct surfaces in order of first use, geometry by geometry
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    owner = group[has][first[order]]
    begin = np.searchsorted(owner, np.arange(n_groups))
    end = np.searchsorted(owner, np.arange(n_groups), side="right")
    values = np.full(len(semantic), None, dtype=object)
    values[has] = rank[inverse] - begin[group[has]]
    defining = np.flatnonzero(has)[first[order]]
    described = [
        {"type": kind, **(orjson.loads(more) if more else {})}
        for kind, more in zip(semantic[defining].tolist(), extra[defining].tolist(), strict=True)
    ]
    surfaces = [described[a:b] for a, b in zip(begin.tolist(), end.tolist(), strict=True)]
    return surfaces, values


def _metadata(model: CityModel, extent: NDArray[np.float64] | None) -> dict[str, Any]:
    source = model.metadata.get("source") or {}
    out = dict(source.get("metadata") or {})
    out.setdefault("title", str(model.metadata.get("name", "twin")))
    out.update(reference_system(model.crs))
    if extent is not None:
        out["geographicalExtent"] = [round(float(v), 3) for v in extent]
    return out


def _document(
    model: CityModel,
    city_objects: dict[str, Any] | orjson.Fragment,
    vertices: Any,
    /,
    *,
    scale: float,
    extent: NDArray[np.float64] | None,
) -> dict[str, Any]:
    """A CityJSON 2.0 document of city objects and their quantised vertices."""
    return {
        "type": "CityJSON",
        "version": VERSION,
        "transform": _transform(model, scale),
        "metadata": _metadata(model, extent),
        "CityObjects": city_objects,
        "vertices": vertices,
    }


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
    return _document(model, city_objects, unique[:, 1:].tolist(), scale=scale, extent=extent)


def _document_as_read(model: CityModel, kept: _AsRead, /, *, scale: float) -> dict[str, Any]:
    """The CityJSON 2.0 document of a model's buildings as read (see :func:`write`).

    As :func:`document` makes it, but from the reader's objects and geometries: vertices in
    the file's order (quantised to ``scale`` around the model origin, an int64 array), nulls
    left out of the attributes, ``parents`` and ``children`` among the buildings.
    """
    vertices = kept.vertices
    quantised = np.rint((vertices - model.origin) / scale).astype(np.int64)
    if kept.text is not None:
        text = orjson.Fragment(kept.text)
        return _document(model, text, quantised, scale=scale, extent=obj_table.extent(vertices))
    buildings = set(kept.ids)
    children: dict[str, list[str]] = {}
    for oid, parent in zip(kept.ids, kept.parents, strict=True):
        if parent in buildings:
            children.setdefault(parent, []).append(oid)
    city_objects: dict[str, dict[str, Any]] = {}
    for oid, kind, parent, attributes, geometries in zip(
        kept.ids, kept.types, kept.parents, kept.attributes, kept.geometries, strict=True
    ):
        item: dict[str, Any] = {"type": kind}
        values = {k: v for k, v in attributes.items() if v is not None}
        address = values.pop(ADDRESS, None)
        if values:
            item["attributes"] = values
        if address is not None:
            item["address"] = address
        item["geometry"] = geometries
        if parent in buildings:
            item["parents"] = [parent]
        if oid in children:
            item["children"] = children[oid]
        city_objects[oid] = item
    return _document(model, city_objects, quantised, scale=scale, extent=obj_table.extent(vertices))


def header(model: CityModel, /, *, scale: float = 0.001) -> dict[str, Any]:
    """The first line of a CityJSONSeq: metadata and ``transform``, no objects."""
    coords = shapely.get_coordinates(
        model.layer("building_surfaces").geometry.to_numpy(), include_z=True
    )
    return _document(model, {}, [], scale=scale, extent=obj_table.extent(coords))


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

    A model just read from a CityJSON document by :func:`read`, none of whose layers has been
    used yet, is written as a whole document straight from what the reader kept (the file's
    boundaries and semantic values, its vertices quantised again): the same objects,
    attributes, geometry and semantics as from the layers, without making any polygon.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    as_read = getattr(model.layers, "as_read", None)
    direct = (
        isinstance(as_read, _AsRead)
        and not seq
        and rows is None
        and (lods is None or sorted(set(lods)) == model.metadata.get("lods"))
    )
    with gc_paused(), atomic(path) as tmp, tmp.open("wb") as out:
        if seq:
            out.write(orjson.dumps(header(model, scale=scale), option=orjson.OPT_APPEND_NEWLINE))
            for feature in features(model, rows, lods=lods, scale=scale):
                out.write(orjson.dumps(feature, option=orjson.OPT_APPEND_NEWLINE))
        elif direct:
            as_is = _document_as_read(model, as_read, scale=scale)
            out.write(orjson.dumps(as_is, option=orjson.OPT_SERIALIZE_NUMPY))
        else:
            out.write(orjson.dumps(document(model, rows, lods=lods, scale=scale)))
    return path
