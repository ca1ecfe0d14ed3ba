"""CityJSON and CityJSONSeq: read 1.0, 1.1 and 2.0 into a twin; write CityJSON 2.0.

Reading upgrades older versions on the way (their Building and BuildingPart encoding is the
same as 2.0's); coordinates are de-quantised with the file's ``transform`` and, when a target
CRS is given, reprojected. A document is parsed by orjson; its vertices become one numpy array
and the boundaries of all geometries flat numpy arrays (vertex indices, ring and surface
sizes), flattened level by level with ``itertools.chain``, so that no Python code runs per
vertex index (:class:`_Reader`). Polygons, footprints and the layers are made on first use.
Writing quantises to a ``transform`` (1 mm by default) with the model origin as
``translate``, deduplicates vertices with numpy, and writes either one document or
CityJSONSeq (a header line, then one ``CityJSONFeature`` a line).

The public functions :func:`document`, :func:`header` and :func:`features` return plain dicts
for servers (OGC API - Features items), :func:`read` and :func:`write` work on files.
"""

from __future__ import annotations

import codecs
import functools
import json
from collections import Counter
from itertools import chain, compress, repeat
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
from twin.formats.objects import ADDRESS, BUILDING_TYPES, Deferred, Objects, Surfaces
from twin.model import CityModel
from twin.ragged import Rings

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

#: the smallest ``transform.scale`` taken (a nanometre in a metric CRS): no survey or model is
#: that fine (CityJSON's examples and cjio use 0.001), and a smaller step makes integer
#: vertices meaningless (1e-300 would put every vertex of a model on one point)
MIN_SCALE = 1e-9
#: the largest coordinate a vertex may have, after the ``transform`` (in the file's CRS
#: units: metres, or feet, or degrees). The projected coordinates of every EPSG CRS stay
#: within a few 10^7 m (World Mercator's eastings reach 2.0·10^7 m, false eastings and
#: northings of national grids 10^7 m), heights within 10^4 m: 10^9 m leaves room for any
#: of them in feet, and refuses what cannot be a coordinate (10^300, an overflow) before it
#: reaches an area, a volume or a float32 mesh
MAX_COORDINATE = 1e9

#: metadata members carried over from an imported file
_KEPT_METADATA = ("identifier", "pointOfContact", "referenceDate", "title")


class _Reader:
    """Accumulates objects and surface rings over one document or many CityJSONSeq lines.

    Each chunk (a document, or a CityJSONSeq feature with its own vertices) is read column by
    column: one list per member of the city objects and of their geometries, taken with list
    comprehensions, and the boundaries flattened level by level (``itertools.chain``) into
    numpy arrays of vertex indices, ring sizes and surface sizes. No Python code runs per
    vertex index; per object and per geometry only a few dict look-ups. What does not fit
    (a broken geometry) is found by the checks on the columns and named by
    :func:`_geometry_problem`, which reads the geometries one by one.
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
        # per chunk, per geometry: owner row, LoD, type, number of surfaces and of classes
        self.owner: list[NDArray[np.int64]] = []
        self.lod: list[list[str]] = []
        self.kind: list[list[str]] = []
        self.count: list[NDArray[np.int64]] = []
        self.n_classes: list[NDArray[np.int64]] = []
        self.n_geometries = 0
        # per Solid with interior shells: its geometry number, and the surfaces of each shell
        self.shells: dict[int, list[int]] = {}
        self.classes: list[list[Any]] = []  # per geometry: its semantic surfaces
        # the ids of every city object read (of any type), and the ``parents`` and
        # ``children`` of the buildings: (object id, member, ids), checked by :meth:`result`
        self.every_id: set[str] = set()
        self.links: list[tuple[str, str, list[str]]] = []

    #: the members holding values taken from the JSON tree
    _FROM_TREE = ("ids", "types", "parents", "attributes", "classes", "lod", "kind", "links")

    def detach(self) -> bytes:
        """The values this reader took from the JSON tree, as JSON text, and drop them.

        They were made inside the tree's memory: kept while the tree is freed, they would pin
        most of its memory pools (about 1 GB for 100,000 buildings). The caller frees the
        tree, then gives the text back to :meth:`attach`, which makes them anew, packed.
        """
        members = [getattr(self, name) for name in self._FROM_TREE]
        text = orjson.dumps([*members, list(self.every_id)])
        for name in self._FROM_TREE:
            setattr(self, name, None)
        self.every_id = set()
        return text

    def attach(self, text: bytes, /) -> None:
        """Take back the values of :meth:`detach`."""
        *members, every_id = orjson.loads(text)
        for name, value in zip(self._FROM_TREE, members, strict=True):
            setattr(self, name, value)
        self.links = [tuple(link) for link in self.links]
        self.every_id = set(every_id)

    def fail(self, oid: str, problem: str) -> InputError:
        return InputError(f"{self.path}: city object {oid!r}: {problem}")

    def _vertices(
        self, vertices: Any, transform: dict | None, where: str = ""
    ) -> NDArray[np.float64]:
        """A chunk's vertices as an ``(m, 3)`` array, de-quantised with ``transform`` (checked
        by :func:`_transform_of`), each coordinate finite and within :data:`MAX_COORDINATE`
        (``where`` names the chunk: a CityJSONSeq feature)."""
        try:
            if isinstance(vertices, np.ndarray):  # read by :func:`_parse`
                raw = vertices
            else:
                if not isinstance(vertices, list) or (vertices and set(map(len, vertices)) != {3}):
                    raise TypeError
                flat = list(chain.from_iterable(vertices))
                if not set(map(type, flat)) <= {int, float}:
                    raise TypeError
                raw = np.array(flat, dtype=np.float64).reshape(-1, 3)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"{self.path}: {where}'vertices' is not a list of [x, y, z]") from None
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
        self, city_objects: Any, vertices: Any, transform: dict | None, where: str = ""
    ) -> None:
        """Read one chunk: a document's or a feature's objects with its own vertex list
        (``where`` names a feature)."""
        raw = self._vertices(vertices, transform, where)
        if not isinstance(city_objects, dict):
            raise InputError(f"{self.path}: {where}'CityObjects' is not an object")
        self.every_id.update(city_objects)
        oids, items = list(city_objects), list(city_objects.values())
        kinds = [item.get("type") if type(item) is dict else None for item in items]
        known = [type(k) is str and (k in KNOWN_TYPES or k.startswith("+")) for k in kinds]
        if not all(known):
            at = known.index(False)
            raise self.fail(oids[at], f"unknown city object type {kinds[at]!r}")
        keep = [k in BUILDING_TYPES for k in kinds]
        self.skipped.update(compress(kinds, [not k for k in keep]))
        oids, items = list(compress(oids, keep)), list(compress(items, keep))
        base = len(self.ids)
        self.ids.extend(oids)
        self.types.extend(compress(kinds, keep))
        self.parents.extend(self._links(oids, items))
        self.attributes.extend(self._attributes(oids, items))
        self._geometries(oids, items, base, raw, where)

    def _links(self, oids: list[str], items: list[dict[str, Any]]) -> list[str | None]:
        """Each object's parent (``None``: none); its ``parents`` and ``children`` noted for
        :meth:`_check_links`."""
        for member in ("parents", "children"):
            for oid, ids in zip(oids, [item.get(member) for item in items], strict=True):
                if ids is None:
                    continue
                if not (isinstance(ids, list) and all(type(i) is str for i in ids)):
                    raise self.fail(oid, f"'{member}' is not a list of ids")
                if ids:
                    self.links.append((oid, member, ids))
        return [p[0] if p else None for p in [item.get("parents") for item in items]]

    def _attributes(self, oids: list[str], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each object's attributes, its ``address`` among them (under :data:`ADDRESS`)."""
        attributes = [item.get("attributes") or {} for item in items]
        plain = [type(a) is dict for a in attributes]
        if not all(plain):
            raise self.fail(oids[plain.index(False)], "'attributes' is not an object")
        for at in [k for k, item in enumerate(items) if "address" in item]:
            attributes[at] = {**attributes[at], ADDRESS: items[at]["address"]}
        return attributes

    def _geometries(
        self,
        oids: list[str],
        items: list[dict[str, Any]],
        base: int,
        raw: NDArray[np.float64],
        where: str,
    ) -> None:
        """Read the objects' geometries into columns and flat arrays (rows from ``base``)."""
        lists = [item.get("geometry") or [] for item in items]
        if not set(map(type, lists)) <= {list}:
            at = [type(g) is list for g in lists].index(False)
            raise self.fail(oids[at], "'geometry' is not a list of geometries")
        per_object = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        geometries = list(chain.from_iterable(lists))
        owner = np.repeat(np.arange(len(lists)), per_object)

        def problem() -> InputError:
            """The first geometry that does not read, named."""
            for row, geometry in zip(owner.tolist(), geometries, strict=True):
                found = _geometry_problem(geometry, len(raw))
                if found is not None:
                    return self.fail(oids[row], found)
            return InputError(f"{self.path}: {where}a geometry does not read as CityJSON")

        if not set(map(type, geometries)) <= {dict}:
            raise problem()
        kinds = [g.get("type") for g in geometries]
        known = all(type(k) is str and k in _GEOMETRY_TYPES for k in kinds)
        if not known or any("template" in g for g in geometries):
            raise problem()
        lods = [lod if type(lod) is str else str(lod) for lod in [g.get("lod") for g in geometries]]
        boundaries = [g.get("boundaries") for g in geometries]
        semantics = [g.get("semantics") or {} for g in geometries]
        if not set(map(type, semantics)) <= {dict}:
            raise problem()
        given = [s.get("values") for s in semantics]
        solid = [k == "Solid" for k in kinds]
        surface_lists = [
            _shell_surfaces(b) if is_solid else b
            for b, is_solid in zip(boundaries, solid, strict=True)
        ]
        values = [
            _shell_values(b, v) if is_solid and v else v
            for b, v, is_solid in zip(boundaries, given, solid, strict=True)
        ]
        if not all(type(s) is list for s in surface_lists) or any(
            v is None and g for v, g in zip(values, given, strict=True)
        ):
            raise problem()
        count = np.fromiter(map(len, surface_lists), dtype=np.int64, count=len(geometries))
        has_values = [bool(v) for v in values]
        if not all(type(v) is list for v in compress(values, has_values)):
            raise problem()
        n_values = np.array([len(v) if v else -1 for v in values], dtype=np.int64)
        if ((n_values >= 0) & (n_values != count)).any():
            raise problem()
        classes = [
            s.get("surfaces") or [] if v else [] for s, v in zip(semantics, has_values, strict=True)
        ]
        if not all(type(c) is list for c in classes) or not all(
            type(c) is dict and type(c.get("type")) in _CLASS_TYPES
            for c in chain.from_iterable(classes)
        ):
            raise problem()
        flat_values = list(
            chain.from_iterable(
                v if v else repeat(None, n) for v, n in zip(values, count.tolist(), strict=True)
            )
        )
        if not set(map(type, flat_values)) <= {int, NoneType}:
            raise problem()
        surfaces = list(chain.from_iterable(surface_lists))
        if not set(map(type, surfaces)) <= {list}:
            raise problem()
        surface_rings = np.fromiter(map(len, surfaces), dtype=np.int64, count=len(surfaces))
        rings = list(chain.from_iterable(surfaces))
        if not set(map(type, rings)) <= {list}:
            raise problem()
        ring_length = np.fromiter(map(len, rings), dtype=np.int64, count=len(rings))
        flat = list(chain.from_iterable(rings))
        if not set(map(type, flat)) <= {int}:
            raise problem()
        try:
            index = np.array(flat, dtype=np.int64)
        except OverflowError:
            raise problem() from None
        if len(index) and (index.min() < 0 or index.max() >= len(raw)):
            raise problem()
        for number in [k for k, b in enumerate(boundaries) if solid[k] and len(b) > 1]:
            shells = [len(shell) for shell in boundaries[number]]
            self.shells[self.n_geometries + number] = shells
        self.owner.append(owner + base)
        self.lod.append(lods)
        self.kind.append(kinds)
        self.count.append(count)
        self.n_classes.append(np.fromiter(map(len, classes), np.int64, count=len(classes)))
        self.classes.extend(classes)
        self.n_geometries += len(geometries)
        self.values.append(np.array(flat_values, dtype=np.float64))  # None: NaN
        self.ring_length.append(ring_length)
        self.surface_rings.append(surface_rings)
        self.indices.append(index + self.n_vertices)
        self.vertices.append(raw)
        self.n_vertices += len(raw)

    def _locate(self, ring: int) -> tuple[int, int]:
        """The geometry ``ring`` belongs to, and the number of its surface in that geometry."""
        surface = int(np.searchsorted(np.cumsum(_cat(self.surface_rings)), ring, side="right"))
        count = _cat(self.count)
        ends = np.cumsum(count)
        geometry = int(np.searchsorted(ends, surface, side="right"))
        return geometry, surface - int(ends[geometry] - count[geometry])

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
        owner, count, n_classes = _cat(self.owner), _cat(self.count), _cat(self.n_classes)
        lod = np.asarray(list(chain.from_iterable(self.lod)), dtype=object)
        kind = np.asarray(list(chain.from_iterable(self.kind)), dtype=object)
        length = _cat(self.ring_length)
        short = np.flatnonzero(length < 3)
        if len(short):
            geometry, surface = self._locate(int(short[0]))
            problem = (
                f"LoD {lod[geometry]} surface {surface} has a ring of {length[short[0]]} vertices"
            )
            raise self.fail(self.ids[owner[geometry]], problem)
        value = _cat(self.values)
        has = ~np.isnan(value)
        bad = np.flatnonzero(has & ((value < 0) | (value >= np.repeat(n_classes, count))))
        if len(bad):
            geometry = int(np.searchsorted(np.cumsum(count), bad[0], side="right"))
            problem = f"semantic value {value[bad[0]]:g} out of range"
            raise self.fail(self.ids[owner[geometry]], problem)
        first = np.cumsum(n_classes) - n_classes
        described, total = self.classes, int(n_classes.sum())

        vertices = _cat(self.vertices) if self.vertices else np.empty((0, 3))
        if transformer is not None:
            vertices = np.column_stack(transformer.transform(*vertices.T))
        index = _cat(self.indices)
        used = np.zeros(len(vertices), dtype=bool)
        used[index] = True
        rings = _cat(self.surface_rings)
        shells = self.shells

        def make() -> Surfaces:
            table = np.empty((total + 1, 2), dtype=object)  # last row (None): no class
            if total:
                flat = list(chain.from_iterable(described))
                table[:-1, 0] = [c.get("type") for c in flat]
                table[:-1, 1] = [_more(c) if len(c) > 1 or "type" not in c else None for c in flat]
            at = np.where(has, np.repeat(first, count) + np.where(has, value, 0), total)
            semantic = table[at.astype(np.int64)]
            ends = np.cumsum(length)
            closed = np.insert(index, ends, index[ends - length]) if len(length) else index
            polygons = Rings(
                vertices[closed],
                np.concatenate([[0], np.cumsum(length + 1)]),
                np.concatenate([[0], np.cumsum(rings)]),
            )
            shell = None
            if shells:
                shell = np.zeros(len(at), dtype=np.int64)
                start = np.cumsum(count) - count
                for geometry, sizes in shells.items():
                    at_shells = np.repeat(np.arange(len(sizes)), sizes)
                    shell[start[geometry] : start[geometry] + len(at_shells)] = at_shells
            return Surfaces(
                rings=polygons,
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
        )
        lods = sorted(set(lod[count > 0].tolist()))
        coordinates = vertices if used.all() else vertices[used]
        return objects, Deferred(make, lods, coordinates)


#: the geometry types a twin reads
_GEOMETRY_TYPES = frozenset({"MultiSurface", "CompositeSurface", "Solid"})

#: the types a semantic surface's ``type`` may have (absent: no class)
_CLASS_TYPES = (str, NoneType)


def _shell_surfaces(boundaries: Any, /) -> Any:
    """A Solid's surfaces: those of its shells, one after the other (exterior first);
    ``None`` when its boundaries are not a list of shells."""
    if type(boundaries) is not list or not set(map(type, boundaries)) <= {list}:
        return None
    return boundaries[0] if len(boundaries) == 1 else list(chain.from_iterable(boundaries))


def _shell_values(boundaries: Any, values: Any, /) -> Any:
    """A Solid's semantic values, shell after shell (a shell without values: ``None`` for
    each of its surfaces); ``None`` when they do not match its shells."""
    if (
        type(boundaries) is not list
        or type(values) is not list
        or len(values) != len(boundaries)
        or not set(map(type, boundaries)) <= {list}
        or not set(map(type, values)) <= {list, NoneType}
    ):
        return None
    if len(values) == 1:
        return values[0] or [None] * len(boundaries[0])
    return list(
        chain.from_iterable(v or [None] * len(s) for s, v in zip(boundaries, values, strict=True))
    )


def _geometry_problem(geometry: Any, n_vertices: int, /) -> str | None:
    """What is wrong with one geometry (``None``: nothing), as :meth:`_Reader.add` names it.

    Examples
    --------
    >>> _geometry_problem({"type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1, 2]]]}, 3)
    >>> _geometry_problem({"type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1, 5]]]}, 3)
    'vertex index 5 out of range (3 vertices)'
    >>> _geometry_problem({"type": "MultiSolid", "lod": "1", "boundaries": []}, 3)
    "geometry type 'MultiSolid' is not supported"
    """
    if type(geometry) is not dict:
        return "a geometry is not an object"
    kind, lod = geometry.get("type"), geometry.get("lod")
    if "template" in geometry or kind == "GeometryInstance":
        return "geometry templates (GeometryInstance) are not supported"
    if type(kind) is not str or kind not in _GEOMETRY_TYPES:
        return f"geometry type {kind!r} is not supported"
    boundaries = geometry.get("boundaries")
    surfaces = _shell_surfaces(boundaries) if kind == "Solid" else boundaries
    if type(surfaces) is not list:
        if kind == "Solid" and type(boundaries) is list:
            return f"LoD {lod}: a Solid's shells are not lists of surfaces"
        return f"LoD {lod}: boundaries are not a list of surfaces"
    for surface in surfaces:
        if type(surface) is not list or not all(type(ring) is list for ring in surface):
            return f"not nested as rings of surfaces ({surface!r:.40})"
        for ring in surface:
            for i in ring:
                if type(i) is list:
                    return f"not nested as rings of surfaces ({ring!r:.40})"
                if type(i) is not int:
                    return f"not integers in rings ({ring!r:.40})"
                if not 0 <= i < n_vertices:
                    return f"vertex index {i} out of range ({n_vertices} vertices)"
    semantics = geometry.get("semantics") or {}
    if type(semantics) is not dict:
        return f"LoD {lod}: 'semantics' is not an object"
    values = semantics.get("values")
    if not values:
        return None
    if kind == "Solid":
        values = _shell_values(boundaries, values)
        if values is None:
            return f"LoD {lod}: semantic values do not match the shells"
    if type(values) is not list or len(values) != len(surfaces):
        n = len(values) if type(values) is list else values
        return f"LoD {lod}: {n} semantic values for {len(surfaces)} surfaces"
    if not all(v is None or type(v) is int for v in values):
        return f"LoD {lod}: semantic values are not integers"
    classes = semantics.get("surfaces") or []
    if type(classes) is not list or not all(type(c) is dict for c in classes):
        return f"LoD {lod}: semantic surfaces are not a list of objects"
    if not all(type(c.get("type")) in _CLASS_TYPES for c in classes):
        return f"LoD {lod}: a semantic surface's 'type' is not text"
    return None


def _cat(arrays: list[NDArray[Any]], /) -> NDArray[Any]:
    """The arrays of the chunks read, end to end (the one array of a document, not copied)."""
    if len(arrays) == 1:
        return arrays[0]
    return np.concatenate(arrays) if arrays else np.empty(0, dtype=np.int64)


def _more(surface: dict[str, Any], /) -> str | None:
    """A semantic surface's attributes other than its class and links, as JSON text
    (``None``: none)."""
    rest = {k: v for k, v in surface.items() if k not in ("type", "parent", "children")}
    return json.dumps(rest, sort_keys=True) if rest else None


def _bytes(path: Path, /) -> bytes:
    """The file's bytes, less a UTF-8 byte order mark (which JSON allows readers to ignore)."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    return text[len(codecs.BOM_UTF8) :] if text.startswith(codecs.BOM_UTF8) else text


def _parse(path: Path, /) -> Any:
    """The JSON document in the file at ``path`` as :func:`orjson.loads` gives it, but for
    the ``vertices`` of a CityJSON object, an ``(n, 3)`` float array when they are a list of
    ``[x, y, z]`` numbers.

    The vertices are half of a city file's JSON tree as Python objects (a list and three
    numbers each: some 0.7 GB for 4 million vertices). simdjson, which orjson lacks, reads
    them into one array without a Python object each; the other members are parsed by orjson
    from simdjson's minified text (faster than simdjson's own conversion). Whatever simdjson
    does not take goes to orjson whole, whose errors name the problem.

    Raises
    ------
    orjson.JSONDecodeError
        When the text is not JSON.
    """
    text = _bytes(path)
    parser = simdjson.Parser()
    try:
        parsed = parser.parse(text)
    # not JSON (ValueError), or a number beyond 64 bits (RuntimeError: BIGINT_ERROR)
    except (ValueError, RuntimeError):
        return orjson.loads(text)
    if not isinstance(parsed, simdjson.Object) or not isinstance(
        parsed.get("vertices"), simdjson.Array
    ):
        return orjson.loads(text)
    del text  # simdjson parsed a copy of its own
    out: dict[str, Any] = {}
    minified: dict[str, str] = {}  # parsed by orjson once simdjson's tape is freed
    value = None  # the last member's proxy holds the tape too: dropped with it below
    for key in parsed.keys():
        value = parsed[key]
        if key == "vertices":
            try:
                flat = np.frombuffer(value.as_buffer(of_type="d"), dtype=np.float64)
            except (TypeError, ValueError, RuntimeError):  # not numbers only
                minified[key] = value.mini
                continue
            if _triples(listed := value.mini, len(value)):
                out[key] = flat.reshape(-1, 3)
            else:
                minified[key] = listed
        elif isinstance(value, simdjson.Object | simdjson.Array):
            minified[key] = value.mini
        else:
            out[key] = value
    del parsed, value, parser
    for key in list(minified):
        out[key] = orjson.loads(minified.pop(key))
    return out


def _triples(text: str | bytes, n: int, /) -> bool:
    """Whether the minified JSON array ``text`` of ``n`` items, numbers at its leaves, is
    an array of ``n`` arrays of three numbers each.

    Examples
    --------
    >>> _triples("[[1,2,3],[4,5,6]]", 2), _triples("[[1,2],[3,4,5,6]]", 2)
    (True, False)
    >>> _triples("[[1,2,3],5,[[4,5,6]]]", 3)
    False
    """
    chars = np.frombuffer(text.encode() if isinstance(text, str) else text, dtype=np.uint8)
    opens, closes = np.flatnonzero(chars == ord("[")), np.flatnonzero(chars == ord("]"))
    if len(opens) != n + 1 or len(closes) != n + 1:
        return False
    # no array deeper than an item: brackets in text order never go three deep
    order = np.argsort(np.concatenate([opens, closes]), kind="stable")
    steps = np.concatenate([np.ones(n + 1, np.int8), -np.ones(n + 1, np.int8)])[order]
    if np.cumsum(steps, dtype=np.int64).max() > 2:
        return False
    commas = np.flatnonzero(chars == ord(","))
    inside = np.searchsorted(commas, closes[:-1]) - np.searchsorted(commas, opens[1:])
    return bool((inside == 2).all())


def _load(path: Path, /) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The document (or CityJSONSeq header) and the CityJSONSeq features (empty for a document)."""
    try:
        return _parse(path), []
    except orjson.JSONDecodeError as exc:
        error = exc
    text = _bytes(path)
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
        doc, lines = _load(path)
        if not isinstance(doc, dict) or doc.get("type") != "CityJSON":
            raise InputError(f"{path}: not a CityJSON file (its 'type' is not \"CityJSON\")")
        version = str(doc.get("version"))
        if version not in ("1.0", "1.1", "2.0"):
            raise InputError(f"{path}: CityJSON version {version!r} is not supported (1.0-2.0)")
        metadata = doc.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise InputError(f"{path}: 'metadata' is not an object")
        source_crs = _file_crs(path, metadata, crs)
        reader = _Reader(path)
        transform = _transform_of(path, doc.get("transform"), version)
        vertices = doc.get("vertices")  # a list, or an array read by :func:`_parse`
        reader.add(doc.get("CityObjects") or {}, [] if vertices is None else vertices, transform)
        for feature in lines:
            fid = feature.get("id")
            if not isinstance(feature.get("CityObjects"), dict):
                raise InputError(f"{path}: feature {fid!r}: no 'CityObjects'")
            where = f"feature {fid!r}: "
            reader.add(feature["CityObjects"], feature.get("vertices") or [], transform, where)
        kind = "CityJSONSeq" if lines else "CityJSON"
        kept = {k: metadata[k] for k in _KEPT_METADATA if k in metadata}
        # Free the JSON tree while the collector is paused: it would walk it all otherwise.
        kept_values = reader.detach()
        del doc, lines, metadata, vertices
        reader.attach(kept_values)
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


def _transform_of(path: Path, value: Any, version: str, /) -> dict[str, list[float]] | None:
    """A file's ``transform``, checked: ``scale`` and ``translate``, three finite numbers
    each, the scale's at least :data:`MIN_SCALE` (a zero collapses every vertex onto one, a
    negative one mirrors the model). CityJSON 1.1 and 2.0 require it (their vertices are
    integers); 1.0 allows plain coordinates."""
    if value is None:
        if version == "1.0":
            return None
        raise InputError(
            f"{path}: CityJSON {version} requires a 'transform' (scale and translate of its "
            "integer vertices); the file has none"
        )
    numbers = (int, float)
    if not isinstance(value, dict) or not all(
        isinstance(value.get(key), list)
        and len(value[key]) == 3
        and all(isinstance(v, numbers) and not isinstance(v, bool) for v in value[key])
        for key in ("scale", "translate")
    ):
        raise InputError(f"{path}: 'transform' needs 'scale' and 'translate', three numbers each")
    scale, translate = np.asarray(value["scale"], float), np.asarray(value["translate"], float)
    if not (np.isfinite(scale).all() and (scale >= MIN_SCALE).all()):
        raise InputError(
            f"{path}: transform.scale {value['scale']}: each component must be a finite "
            f"number of at least {MIN_SCALE:g} (the size of one step of the quantised "
            "coordinates)"
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
    dict[str, dict[str, Any]],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.float64] | None,
]:
    """City objects of ``rows`` and their quantised vertices, for :func:`_document_of_arrays`
    and :func:`_features_of_arrays`.

    Each geometry's ``boundaries`` and semantic ``values`` are JSON text made with numpy
    (:func:`_json_nested`, as ``orjson.Fragment``): no Python object per vertex index.

    Returns
    -------
    city_objects
        Id -> city object.
    vertices : (m, 3) int
        The quantised vertices, without repeats (per feature with ``per_feature``).
    feature : (m,) int
        Per vertex, the row of its feature's top-level building (sorted, with
        ``per_feature``; zeros otherwise); each object's indices count from its feature's
        first vertex.
    top : (n,) int
        Per row of ``model.buildings``, the row of its top-level building.
    extent
        The vertices' extent (model CRS), ``None`` when there are none.
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
    parent_row = pd.Index(ids).get_indexer(parent_ids)
    has_parent = parent_row >= 0
    top = np.where(has_parent, parent_row, np.arange(n)).astype(np.int64)

    surf = obj_table.surfaces(model, lods=lods)
    keep = chosen[surf.owner] & (np.diff(surf.rings.polygon_offsets) > 0)  # not empty
    if not keep.all():
        surf = surf.take(np.flatnonzero(keep))
    # by building, then LoD (as text), file order within: taken only when not so already
    lod_code = pd.factorize(surf.lod, sort=True)[0]
    key = surf.owner * (int(lod_code.max(initial=0)) + 1) + lod_code
    if (np.diff(key) < 0).any():
        surf = surf.take(np.argsort(key, kind="stable"))

    ring_poly, coord_ring = surf.rings.polygon_of_ring(), surf.rings.ring_of_coordinate()
    coords, closed_length = surf.rings.coordinates, np.diff(surf.rings.ring_offsets)
    keep = np.ones(len(coords), dtype=bool)
    keep[np.cumsum(closed_length) - 1] = False
    coords, coord_ring = coords[keep], coord_ring[keep]
    extent = obj_table.extent(coords)
    q = np.rint((coords - model.origin) / scale).astype(np.int64)
    del coords, keep
    if per_feature:
        feature = top[surf.owner[ring_poly[coord_ring]]]
        unique, index = _unique_rows(np.column_stack([feature, q]))
        index = index - np.searchsorted(unique[:, 0], feature)
        vertices, vertex_feature = unique[:, 1:], unique[:, 0]
    else:
        vertices, index = _unique_rows(q, sort=False)
        vertex_feature = np.zeros(len(vertices), dtype=np.int64)
    del q, coord_ring

    # one geometry per run of equal owner and LoD, in the owners' order
    new = np.ones(len(surf), dtype=bool)
    new[1:] = (surf.owner[1:] != surf.owner[:-1]) | (surf.lod[1:] != surf.lod[:-1])
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    n_geometries = len(starts)
    solid = surf.geometry_type[starts] == "Solid"
    # shells: a Solid's runs of equal shell number (exterior, then cavities); one per other
    # geometry, written without brackets of its own
    shell_start = new.copy()
    if surf.shell is not None:
        shell_start[1:] |= surf.shell[1:] != surf.shell[:-1]
    shell_of = np.cumsum(shell_start) - 1
    shown = solid[group[shell_start]]
    shells = np.bincount(shell_of, minlength=int(shell_start.sum()))
    per_geometry = np.bincount(group[shell_start], minlength=n_geometries)
    ring_sizes = np.bincount(ring_poly, minlength=len(surf))
    text, span = _json_nested(
        index,
        [closed_length - 1, ring_sizes, shells, per_geometry],
        [None, None, shown, None],
    )
    classes, values = _semantics(surf.semantic, surf.semantic_attributes, group, n_geometries)
    value_text, value_span = _json_nested(values, [shells, per_geometry], [shown, None])
    boundaries = [orjson.Fragment(text[a:b]) for a, b in span.tolist()]
    semantic = [
        orjson.Fragment(value_text[a:b]) if used else None
        for (a, b), used in zip(value_span.tolist(), classes, strict=True)
    ]
    geometries = np.empty(n_geometries, dtype=object)
    geometries[:] = [
        _geometry(*fields)
        for fields in zip(
            surf.geometry_type[starts].tolist(),
            surf.lod[starts].tolist(),
            boundaries,
            classes,
            semantic,
            strict=True,
        )
    ]
    chosen_rows = np.flatnonzero(chosen)
    per_object = np.bincount(surf.owner[starts], minlength=n)[chosen_rows]
    object_geometries = _cut(geometries, per_object).tolist()

    city_objects: dict[str, dict[str, Any]] = {}
    for row, attributes, geometry in zip(
        chosen_rows.tolist(),
        obj_table.attributes(model, chosen_rows),
        object_geometries,
        strict=True,
    ):
        item: dict[str, Any] = {"type": kinds[row] or "Building"}
        address = attributes.pop(ADDRESS, None)
        if attributes:
            item["attributes"] = attributes
        if address is not None:
            item["address"] = address
        item["geometry"] = geometry
        if has_parent[row] and chosen[parent_row[row]]:
            item["parents"] = [parent_ids[row]]
        city_objects[ids[row]] = item
    for row in chosen_rows[has_parent[chosen_rows]].tolist():
        parent = ids[parent_row[row]]
        if parent in city_objects:
            city_objects[parent].setdefault("children", []).append(ids[row])
    return city_objects, vertices, vertex_feature, top, extent


def _geometry(
    kind: str, lod: str, boundaries: orjson.Fragment, surfaces: list[Any], values: Any
) -> dict[str, Any]:
    """A CityJSON geometry object; ``semantics`` only when some surface has a class."""
    if surfaces:
        semantics = {"surfaces": surfaces, "values": values}
        return {"type": kind, "lod": lod, "boundaries": boundaries, "semantics": semantics}
    return {"type": kind, "lod": lod, "boundaries": boundaries}


def _json_nested(
    numbers: NDArray[np.int64],
    sizes: list[NDArray[np.int64]],
    shown: list[NDArray[np.bool_] | None],
    /,
) -> tuple[bytes, NDArray[np.int64]]:
    """Non-negative integers (``-1``: ``null``) nested in JSON arrays, as one text made with
    numpy, and the byte span of each outermost array in it.

    Parameters
    ----------
    numbers : (k,) int
        The numbers, in order.
    sizes
        Per level, innermost first: each array's number of members (numbers, or arrays of
        the level below), none zero.
    shown
        Per level: which of its arrays have brackets of their own (``None``: all); an array
        without merges its members into its parent's (a MultiSurface's one shell).

    Returns
    -------
    text
        The arrays, one after the other, without separators.
    span : (g, 2) int
        Per outermost array: its start and end in ``text``.

    Examples
    --------
    >>> text, span = _json_nested(
    ...     np.array([0, 1, 2, 10, 11, -1]),
    ...     [np.array([3, 2, 1]), np.array([2, 1])],
    ...     [None, None],
    ... )
    >>> text, span.tolist()
    (b'[[0,1,2],[10,11]][[null]]', [[0, 17], [17, 25]])
    >>> _json_nested(np.array([7]), [np.array([1]), np.array([1])], [np.array([False]), None])[0]
    b'[7]'
    """
    opens = np.zeros(len(numbers), dtype=np.int8)  # brackets: one a level, a few levels
    closes = np.zeros(len(numbers), dtype=np.int8)
    first = np.arange(len(numbers))  # per array of the current level: its first number
    last = first
    for size, show in zip(sizes, shown, strict=True):
        begin = np.cumsum(size) - size
        first, last = first[begin], last[begin + size - 1]
        opens[first if show is None else first[show]] += 1
        closes[last if show is None else last[show]] += 1
    comma = np.ones(len(numbers), dtype=np.int8)
    comma[first] = 0  # the first number of each outermost array
    null = numbers < 0
    digits = np.ones(len(numbers), dtype=np.int8)
    for power in range(1, 19):
        more = numbers >= 10**power
        if not more.any():
            break
        digits += more
    digits[null] = 4
    length = comma + opens + digits + closes  # int8: 1 + 4 + 19 + 4 at most
    end = np.cumsum(length, dtype=np.int64)
    start = end - length
    out = np.full(int(end[-1]) if len(end) else 0, ord("["), dtype=np.uint8)
    out[start[comma == 1]] = ord(",")
    at = start + comma + opens  # the first digit
    for k, letter in enumerate(b"null"):
        out[at[null] + k] = letter
    # digits from the last: each round writes one of every number not yet done (in 32 bits
    # when they fit: numpy divides them twice as fast)
    place, rest = (at + digits - 1)[~null], numbers[~null]
    if len(rest) and rest.max() < 2**31:
        rest = rest.astype(np.int32)
    ten = rest.dtype.type(10)
    while len(rest):
        rest, digit = np.divmod(rest, ten)
        out[place] = digit + ord("0")
        place -= 1
        more = rest > 0
        if not more.all():
            rest, place = rest[more], place[more]
    for k in range(int(closes.max(initial=0))):
        out[end[closes > k] - 1 - k] = ord("]")
    return out.tobytes(), np.column_stack([start[first], end[last]])


def _unique_rows(
    table: NDArray[np.int64], /, *, sort: bool = True
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The unique rows of an integer table, sorted, and the index of each row among them.

    What ``np.unique(table, axis=0, return_inverse=True)`` gives, by 1-D sorts: the columns
    are folded into one ``int64`` code that sorts like the rows, and the code is replaced by
    its rank (one 1-D ``np.unique``) only when the next column would overflow it. Without
    ``sort``, the unique rows come in the order of their first occurrence, found by hashing
    (``pandas.factorize``, linear time) instead of the last sort.

    Examples
    --------
    >>> rows, inverse = _unique_rows(np.array([[2, 5], [1, 9], [2, 5]]))
    >>> rows.tolist(), inverse.tolist()
    ([[1, 9], [2, 5]], [1, 0, 1])
    >>> rows, inverse = _unique_rows(np.array([[2, 5], [1, 9], [2, 5]]), sort=False)
    >>> rows.tolist(), inverse.tolist()
    ([[2, 5], [1, 9]], [0, 1, 0])
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
    if sort:
        _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
        return table[first], inverse
    inverse, uniques = pd.factorize(code)
    first = np.empty(len(uniques), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(code) - 1, -1, -1)  # the last write: the first
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
) -> tuple[list[list[dict[str, Any]]], NDArray[np.int64]]:
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
    values : (k,) int
        Per surface: its index in its geometry's list, or -1 (no class).
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
    values = np.full(len(semantic), -1, dtype=np.int64)
    values[has] = rank[inverse] - begin[group[has]]
    # one dict per distinct class and attributes, shared by the geometries that use it
    pair = (kind_code * len(extras) + extra_code)[first[order]]
    made = {
        code: {"type": kinds[code // len(extras)], **(orjson.loads(more) if more else {})}
        for code, more in zip(
            pd.unique(pair).tolist(), extras[pd.unique(pair) % len(extras)].tolist(), strict=True
        )
    }
    described = [made[code] for code in pair.tolist()]
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
    city_objects: dict[str, Any],
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
    return orjson.loads(_json(_document_of_arrays(model, rows, lods=lods, scale=scale)))


def _json(value: Any, /) -> bytes:
    """JSON text of what the writer builds: its geometries' JSON fragments and numpy
    vertices as they are."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def _document_of_arrays(
    model: CityModel, rows: NDArray[np.integer] | None, /, *, lods: list[str] | None, scale: float
) -> dict[str, Any]:
    """:func:`document` as the writer writes it: the geometries' ``boundaries`` and
    ``values`` as JSON fragments, the vertices an ``(m, 3)`` int64 array (:func:`_json`)."""
    rows = np.arange(len(model.buildings)) if rows is None else np.asarray(rows)
    city_objects, vertices, _, _, extent = _encode(
        model, rows, lods=lods, scale=scale, per_feature=False
    )
    return _document(model, city_objects, vertices, scale=scale, extent=extent)


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
    return orjson.loads(_json(_features_of_arrays(model, rows, lods=lods, scale=scale)))


def _features_of_arrays(
    model: CityModel, rows: NDArray[np.integer] | None, /, *, lods: list[str] | None, scale: float
) -> list[dict[str, Any]]:
    """:func:`features` as the writer writes them (see :func:`_document_of_arrays`)."""
    rows = np.arange(len(model.buildings)) if rows is None else np.asarray(rows)
    city_objects, vertices, feature, top, _ = _encode(
        model, rows, lods=lods, scale=scale, per_feature=True
    )
    ids = model.buildings["building_id"].to_numpy(dtype=object)
    tops = np.unique(top[np.asarray(rows, dtype=np.int64)])
    members: dict[int, list[str]] = {int(t): [] for t in tops}
    for row in np.asarray(rows, dtype=np.int64).tolist():
        members[int(top[row])].append(ids[row])
    starts = np.searchsorted(feature, tops).tolist()
    stops = np.searchsorted(feature, tops, side="right").tolist()
    vertices = np.ascontiguousarray(vertices)
    return [
        {
            "type": "CityJSONFeature",
            "id": ids[t],
            "CityObjects": {oid: city_objects[oid] for oid in members[int(t)]},
            "vertices": vertices[a:b],
        }
        for t, a, b in zip(tops.tolist(), starts, stops, strict=True)
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
    with gc_paused(), atomic(path) as tmp, tmp.open("wb") as out:
        if seq:
            out.write(orjson.dumps(header(model, scale=scale), option=orjson.OPT_APPEND_NEWLINE))
            for feature in _features_of_arrays(model, rows, lods=lods, scale=scale):
                out.write(_json(feature) + b"\n")
        else:
            out.write(_json(_document_of_arrays(model, rows, lods=lods, scale=scale)))
    return path
