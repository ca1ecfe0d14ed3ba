"""CityGML: read 2.0 and 3.0 buildings into a twin; write CityGML 2.0.

Reading streams the file with lxml's ``iterparse`` (one ``cityObjectMember`` in memory at a
time) with entity expansion, DTD loading and network access off; a document with a DOCTYPE
(entity bombs, external entities, external DTDs) is refused. Buildings and building parts
become the same :class:`~twin.formats.objects.Objects` and
:class:`~twin.formats.objects.Surfaces` tables the CityJSON reader makes: LoD0-2 geometry,
the semantics of the thematic surfaces (``boundedBy`` in 2.0, ``boundary`` in 3.0), the
building's attributes, generic attributes and xAL addresses.

Writing makes one CityGML 2.0 document, a building (with its parts) at a time, through
lxml's incremental ``xmlfile``: semantic polygons go into thematic surfaces, which a solid
references by ``xlink:href``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from lxml import etree
from numpy.typing import NDArray

from twin.crs import horizontal, parse_crs, vertical, with_height
from twin.errors import CRSError, InputError
from twin.files import atomic
from twin.formats import objects as obj_table
from twin.formats.objects import ADDRESS, Objects, Surfaces
from twin.model import CityModel

GML = "http://www.opengis.net/gml"
GML32 = "http://www.opengis.net/gml/3.2"
XLINK = "http://www.w3.org/1999/xlink"
XAL = "urn:oasis:names:tc:ciq:xsdschema:xAL:2.0"

#: core namespace -> CityGML version
VERSIONS = {
    "http://www.opengis.net/citygml/2.0": "2.0",
    "http://www.opengis.net/citygml/3.0": "3.0",
}

#: namespaces of the CityGML 2.0 documents we write
NS2 = {
    "core": "http://www.opengis.net/citygml/2.0",
    "bldg": "http://www.opengis.net/citygml/building/2.0",
    "gen": "http://www.opengis.net/citygml/generics/2.0",
    "gml": GML,
    "xAL": XAL,
    "xlink": XLINK,
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}

#: semantic surface classes of buildings (CityJSON names = CityGML element names)
SEMANTIC_CLASSES = frozenset(
    {
        "RoofSurface", "WallSurface", "GroundSurface", "ClosureSurface", "OuterCeilingSurface",
        "OuterFloorSurface", "Window", "Door", "InteriorWallSurface", "CeilingSurface",
        "FloorSurface",
    }
)  # fmt: skip

#: building properties read as attributes (CityGML 2.0 schema order) and their JSON type
BUILDING_PROPERTIES: dict[str, type] = {
    "class": str,
    "function": str,
    "usage": str,
    "yearOfConstruction": int,
    "yearOfDemolition": int,
    "roofType": str,
    "measuredHeight": float,
    "storeysAboveGround": int,
    "storeysBelowGround": int,
}

_GEOMETRY = re.compile(r"lod([0-4])(Solid|MultiSurface|FootPrint)$")
_GENERIC = {
    "string": str, "int": int, "double": float, "date": str, "uri": str, "measure": float,
}  # fmt: skip
_ADDRESS_KEYS = {"PostalCodeNumber": "PostalCode"}


#: a polygon element and whether its orientation is reversed (gml:OrientableSurface "-")
_Polygon = tuple[etree._Element, bool]
#: a polygon of a thematic surface: LoD, polygon, semantic class, its attributes (JSON)
_Thematic = tuple[str, _Polygon, str, str | None]


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _ns(element: etree._Element) -> str | None:
    return etree.QName(element).namespace


class _Reader:
    """Accumulates objects and polygon rings over the members of one CityGML file."""

    def __init__(self, path: Path, version: str) -> None:
        self.path = path
        self.version = version
        self.gml = GML if version == "2.0" else GML32
        self.gml_id = f"{{{self.gml}}}id"
        self.with_id = f".//*[@{{{self.gml}}}id]"
        self.current: etree._Element | None = None
        self.ids: list[str] = []
        self.types: list[str] = []
        self.parents: list[str | None] = []
        self.attributes: list[dict[str, Any]] = []
        self.skipped: Counter[str] = Counter()
        self.srs: set[str] = set()
        self.coords: list[NDArray[np.float64]] = []
        self.ring_length: list[int] = []
        self.polygon_rings: list[int] = []
        self.closed: list[int] = []  # surfaces with a ring the reader closed (val3dity 103)
        self.surface: dict[str, list[Any]] = {k: [] for k in ("owner", "lod", "type", "sem", "att")}
        self.inner: dict[etree._Element, int] = {}  # polygons of a Solid's interior shells
        self.shell: dict[int, int] = {}  # surface number -> its interior shell (1, 2, ...)
        self.index: dict[str, etree._Element] = {}

    def fail(self, oid: str, problem: str) -> InputError:
        return InputError(f"{self.path}: city object {oid!r}: {problem}")

    def member(self, member: etree._Element) -> None:
        """Read one ``cityObjectMember``: a building (with parts) or a skipped object."""
        self.srs.update(member.xpath(".//@srsName", smart_strings=False))
        self.current = member
        for item in member:
            if not isinstance(item.tag, str):
                continue
            if _local(item) == "Building":
                self.index = {}
                self._object(item, "Building", None)
            else:
                self.skipped[_local(item)] += 1

    def _object(self, element: etree._Element, kind: str, parent: str | None) -> None:
        oid = element.get(self.gml_id) or f"{parent or self.path.stem}-{len(self.ids)}"
        row = len(self.ids)
        self.ids.append(oid)
        self.types.append(kind)
        self.parents.append(parent)
        attributes: dict[str, Any] = {}
        self.attributes.append(attributes)
        thematic: list[_Thematic] = []  # lod, polygon, class, att
        direct: dict[str, list[tuple[str, etree._Element]]] = {}  # lod -> (kind, geometry)
        for child in element:
            if not isinstance(child.tag, str):
                continue
            name, ns = _local(child), _ns(child)
            match = _GEOMETRY.match(name)
            if match and ns not in (GML, GML32):
                lod = self._lod(match, oid, name)
                for geometry in self._resolve(child, oid):
                    direct.setdefault(lod, []).append((match.group(2), geometry))
            elif name in ("boundedBy", "boundary") and ns not in (GML, GML32):
                thematic.extend(self._thematic(child, oid))
            elif name in ("consistsOfBuildingPart", "buildingPart"):
                for part in child:
                    if isinstance(part.tag, str) and _local(part) == "BuildingPart":
                        self._object(part, "BuildingPart", oid)
            elif name == "address":
                attributes.setdefault(ADDRESS, []).extend(_addresses(child))
            elif name in BUILDING_PROPERTIES and child.text and child.text.strip():
                self._property(attributes, oid, name, child.text.strip())
            elif name == "name" and ns in (GML, GML32) and child.text:
                attributes.setdefault("name", child.text.strip())
            elif name == "height":
                self._height(attributes, oid, child)
            elif _is_generic(child):
                self._generic(attributes, oid, child)
        self._geometries(row, oid, thematic, direct)

    def _property(self, attributes: dict[str, Any], oid: str, name: str, text: str) -> None:
        kind = BUILDING_PROPERTIES[name]
        try:
            value = kind(float(text)) if kind is int else kind(text)
        except ValueError:
            raise self.fail(oid, f"{name} {text!r} is not a number") from None
        if name in attributes:  # a repeated code (function, usage): keep them all
            previous = attributes[name]
            value = [*previous, value] if isinstance(previous, list) else [previous, value]
        attributes[name] = value

    def _height(self, attributes: dict[str, Any], oid: str, element: etree._Element) -> None:
        """CityGML 3.0 ``con:height``: the 2.0 ``measuredHeight`` is roof edge over ground."""
        for height in element:
            if not isinstance(height.tag, str):
                continue
            fields = {_local(c): (c.text or "").strip() for c in height if isinstance(c.tag, str)}
            if (
                fields.get("highReference") == "highestRoofEdge"
                and fields.get("lowReference") == "lowestGroundPoint"
                and fields.get("value")
            ):
                self._property(attributes, oid, "measuredHeight", fields["value"])

    def _generic(self, attributes: dict[str, Any], oid: str, element: etree._Element) -> None:
        """A generic attribute: 2.0 ``gen:stringAttribute name=``, 3.0 ``gen:StringAttribute``."""
        if self.version == "3.0":
            items = [c for c in element if isinstance(c.tag, str)]
        else:
            items = [element]
        for item in items:
            local = _local(item)
            kind = _GENERIC.get(local[0].lower() + local[1:].removesuffix("Attribute"))
            fields = {_local(c): c.text for c in item if isinstance(c.tag, str)}
            name = item.get("name") or fields.get("name")
            text = (fields.get("value") or "").strip()
            if kind is None or not name:
                continue  # generic attribute sets and the like are not kept
            try:
                attributes[name] = kind(text)
            except ValueError:
                raise self.fail(
                    oid, f"generic attribute {name!r}: {text!r} is not a number"
                ) from None

    def _thematic(
        self, prop: etree._Element, oid: str
    ) -> list[tuple[str, _Polygon, str, str | None]]:
        """(lod, polygon, class, attributes) of the polygons of one thematic surface."""
        out: list[_Thematic] = []
        for surface in prop:
            if not isinstance(surface.tag, str) or _local(surface) not in SEMANTIC_CLASSES:
                continue
            kind = _local(surface)
            extra: dict[str, Any] = {}
            found: list[tuple[str, _Polygon]] = []
            for child in surface:
                if not isinstance(child.tag, str):
                    continue
                name = _local(child)
                match = _GEOMETRY.match(name)
                if match:
                    lod = self._lod(match, oid, f"{kind} {name}")
                    for geometry in self._resolve(child, oid):
                        found.extend((lod, p) for p in self._polygons(geometry, oid))
                elif _is_generic(child):
                    self._generic(extra, oid, child)
            att = json.dumps(extra, sort_keys=True) if extra else None
            out.extend((lod, polygon, kind, att) for lod, polygon in found)
        return out

    def _lod(self, match: re.Match[str], oid: str, what: str) -> str:
        lod = match.group(1)
        if int(lod) > 2:
            raise self.fail(oid, f"LoD {lod} geometry ({what}) is not supported (LoD 0-2)")
        return lod

    def _resolve(self, prop: etree._Element, oid: str) -> list[etree._Element]:
        """The geometry elements of a property: its children, or the target of its xlink."""
        href = prop.get(f"{{{XLINK}}}href")
        if href is None:
            return [c for c in prop if isinstance(c.tag, str)]
        if not self.index:
            self.index = {e.get(self.gml_id): e for e in self.current.iterfind(self.with_id)}
        target = self.index.get(href.lstrip("#"))
        if target is None:
            raise self.fail(oid, f"xlink:href {href!r} names nothing in its cityObjectMember")
        return [target]

    def _polygons(self, geometry: etree._Element, oid: str, flip: bool = False) -> list[_Polygon]:
        """The polygons of a surface or solid geometry in order, with their orientation."""
        name = _local(geometry)
        if name in ("Polygon", "Triangle"):
            return [(geometry, flip)]
        out: list[_Polygon] = []
        if name == "OrientableSurface":
            flip = flip != (geometry.get("orientation") == "-")
            for base in geometry:
                for g in self._resolve(base, oid) if isinstance(base.tag, str) else []:
                    out.extend(self._polygons(g, oid, flip))
            return out
        if name == "Solid":  # the exterior shell, then the interior ones (cavities)
            shells = [s for s in geometry if isinstance(s.tag, str)]
            shells.sort(key=lambda s: _local(s) != "exterior")
            for number, shell in enumerate(shells):
                if _local(shell) not in ("exterior", "interior"):
                    continue
                for g in self._resolve(shell, oid):
                    polygons = self._polygons(g, oid, flip)
                    if number:
                        self.inner.update(dict.fromkeys((p for p, _ in polygons), number))
                    out.extend(polygons)
            return out
        if name in ("MultiSurface", "CompositeSurface", "Shell"):
            for member in geometry:
                if isinstance(member.tag, str) and _local(member) in (
                    "surfaceMember",
                    "surfaceMembers",
                ):
                    for g in self._resolve(member, oid):
                        out.extend(self._polygons(g, oid, flip))
            return out
        raise self.fail(oid, f"geometry gml:{name} is not supported")

    def _geometries(
        self,
        row: int,
        oid: str,
        thematic: list[_Thematic],
        direct: dict[str, list[tuple[str, etree._Element]]],
    ) -> None:
        """One geometry per LoD: the solid (semantics from the thematic surfaces it uses),
        else the multi-surfaces and the thematic surfaces' polygons."""
        semantic = {polygon[0]: (kind, att) for _, polygon, kind, att in thematic}
        for lod in sorted({t[0] for t in thematic} | set(direct)):
            solids = [g for kind, g in direct.get(lod, []) if kind == "Solid"]
            if len(solids) > 1:
                raise self.fail(oid, f"more than one LoD {lod} solid")
            if solids:
                kind = "Solid"
                polygons = self._polygons(solids[0], oid)
                used = {p[0] for p in polygons}
                if any(p[0] not in used for at, p, _, _ in thematic if at == lod):
                    raise self.fail(oid, f"LoD {lod} thematic surfaces outside its solid")
            else:
                kind = "MultiSurface"
                polygons = [p for _, g in direct.get(lod, []) for p in self._polygons(g, oid)]
                used = {p[0] for p in polygons}
                polygons += [p for at, p, _, _ in thematic if at == lod and p[0] not in used]
            for element, flip in polygons:
                sem, att = semantic.get(element, (None, None))
                if self.inner.get(element):
                    self.shell[len(self.surface["owner"])] = self.inner[element]
                if self._polygon(element, flip, oid):
                    self.closed.append(len(self.surface["owner"]))
                for key, value in zip(
                    ("owner", "lod", "type", "sem", "att"), (row, lod, kind, sem, att), strict=True
                ):
                    self.surface[key].append(value)
        self.inner.clear()

    def _polygon(self, polygon: etree._Element, flip: bool, oid: str) -> bool:
        """Append the rings of one gml:Polygon (exterior first) as closed (k, 3) arrays.

        Returns whether a ring was not closed in the file (closed here; val3dity's 103).
        """
        rings = 0
        closed = False
        for boundary in polygon:
            if not isinstance(boundary.tag, str) or _local(boundary) not in (
                "exterior",
                "interior",
            ):
                continue
            ring = next((r for r in boundary if isinstance(r.tag, str)), None)
            pos_list = None if ring is None else ring.find(f"{{{self.gml}}}posList")
            if pos_list is not None:
                text, dim = pos_list.text or "", pos_list.get("srsDimension")
            elif ring is not None and ring.find(f"{{{self.gml}}}pos") is not None:
                points = ring.findall(f"{{{self.gml}}}pos")
                text, dim = " ".join(p.text or "" for p in points), points[0].get("srsDimension")
            else:
                raise self.fail(oid, "a polygon ring without gml:posList or gml:pos")
            if dim not in (None, "3"):
                raise self.fail(oid, f"coordinates of {dim} dimensions (3 needed)")
            try:
                values = np.array(text.split(), dtype=np.float64)
            except ValueError:
                raise self.fail(
                    oid, "a polygon ring has coordinates that are not numbers"
                ) from None
            if values.size % 3:
                raise self.fail(oid, f"a ring of {values.size} numbers is not a list of x y z")
            coords = values.reshape(-1, 3)
            if len(coords) and not np.array_equal(coords[0], coords[-1]):
                coords = np.vstack([coords, coords[:1]])
                closed = True
            if len(coords) < 4:
                raise self.fail(oid, f"a polygon ring of {len(coords) - 1} positions")
            self.coords.append(coords[::-1] if flip else coords)
            self.ring_length.append(len(coords))
            rings += 1
        if rings == 0:
            raise self.fail(oid, "a polygon without an exterior ring")
        self.polygon_rings.append(rings)
        return closed

    def result(self, transformer: pyproj.Transformer | None) -> tuple[Objects, Surfaces]:
        vertices = np.concatenate(self.coords) if self.coords else np.empty((0, 3))
        if transformer is not None:
            vertices = np.column_stack(transformer.transform(*vertices.T))
        polygons = shapely.from_ragged_array(
            shapely.GeometryType.POLYGON,
            vertices,
            (
                np.concatenate([[0], np.cumsum(self.ring_length)]),
                np.concatenate([[0], np.cumsum(self.polygon_rings)]),
            ),
        )
        s = self.surface
        return (
            Objects(
                ids=np.asarray(self.ids, dtype=object),
                types=np.asarray(self.types, dtype=object),
                parents=np.asarray(self.parents, dtype=object),
                attributes=self.attributes,
            ),
            Surfaces(
                polygons=polygons,
                owner=np.asarray(s["owner"], dtype=np.int64),
                lod=np.asarray(s["lod"], dtype=object),
                geometry_type=np.asarray(s["type"], dtype=object),
                semantic=np.asarray(s["sem"], dtype=object),
                semantic_attributes=np.asarray(s["att"], dtype=object),
                shell=self._shells(),
            ),
        )

    def _shells(self) -> NDArray[np.int64] | None:
        """The shell of each surface (0: exterior), or ``None`` when no Solid has cavities."""
        if not self.shell:
            return None
        shell = np.zeros(len(self.surface["owner"]), dtype=np.int64)
        shell[list(self.shell)] = list(self.shell.values())
        return shell


def _is_generic(element: etree._Element) -> bool:
    """A generic attribute property (2.0 ``gen:*Attribute``, 3.0 ``genericAttribute``)."""
    return _local(element) == "genericAttribute" or (_ns(element) or "").startswith(
        "http://www.opengis.net/citygml/generics/"
    )


def _addresses(prop: etree._Element) -> list[dict[str, str]]:
    """xAL addresses as CityJSON address objects: the xAL leaves by name."""
    out = []
    for details in prop.iter(f"{{{XAL}}}AddressDetails"):
        address: dict[str, str] = {}
        for leaf in details.iter():
            if isinstance(leaf.tag, str) and len(leaf) == 0 and (leaf.text or "").strip():
                key = _ADDRESS_KEYS.get(_local(leaf), _local(leaf))
                address.setdefault(key, leaf.text.strip())
        out.append(address)
    return out


def _refuse_doctype(path: Path, element: etree._Element) -> None:
    """Refuse a document with a DOCTYPE: CityGML needs none, and it is how entity bombs,
    external entities and external DTDs come in."""
    info = element.getroottree().docinfo
    if not info.doctype:
        return
    entities = list(info.internalDTD.iterentities()) if info.internalDTD is not None else []
    external = [f"{e.name} ({e.system_url})" for e in entities if e.system_url]
    if info.system_url:
        problem = f"it loads an external DTD ({info.system_url})"
    elif external:
        problem = f"it declares external entities: {', '.join(external)}"
    elif entities:
        names = ", ".join(e.name for e in entities[:5])
        problem = f"it declares entities ({names}): entity expansion is not allowed"
    else:
        problem = "it has a DOCTYPE"
    raise InputError(f"{path}: refused: {problem}; CityGML needs no DTD")


def _file_crs(path: Path, names: set[str], given: str | pyproj.CRS | None) -> pyproj.CRS:
    """The CRS the file's ``srsName`` attributes name (all the same), completed by the
    vertical datum of ``given`` when it names none (:func:`twin.crs.with_height`); else
    ``given``."""
    if not names:
        if given is None:
            raise CRSError(f"{path}: the file names no CRS (srsName); give it (--crs)")
        return parse_crs(given, what=f"{path}: given CRS")
    crss = [parse_crs(n, what=f"{path}: srsName") for n in sorted(names)]
    if any(not c.equals(crss[0]) for c in crss[1:]):
        raise InputError(f"{path}: the file mixes CRSs ({', '.join(sorted(names))})")
    return with_height(crss[0], None if given is None else parse_crs(given, what="given CRS"))


def read(
    path: str | Path,
    /,
    *,
    crs: str | pyproj.CRS | None = None,
    target_crs: str | pyproj.CRS | None = None,
    name: str | None = None,
) -> CityModel:
    """Read the buildings of a CityGML 2.0 or 3.0 file into a new twin model.

    The file is streamed (one ``cityObjectMember`` at a time). Buildings and building parts
    are kept with their LoD0-2 geometry (a solid where the file has one, else the
    multi-surfaces and thematic surfaces), semantic surfaces, attributes, generic attributes
    and addresses; other city objects are skipped and counted in
    ``metadata["source"]["skipped"]``. A ring that does not end on its first point (invalid
    GML) is closed, and its building gets ``103`` in the LoD layer's ``source_validity``
    column, which ``twin validate`` reports.

    Parameters
    ----------
    path
        The file.
    crs
        The file's CRS when it names none (``srsName``), or the vertical datum of the
        heights of a file that names only its horizontal CRS (a compound CRS:
        ``EPSG:25833+7837`` for a file in EPSG:25833); the file's own wins otherwise.
    target_crs
        Reproject to this CRS; by default the twin keeps the file's CRS.
    name
        The twin's name (default: the file's stem).

    Raises
    ------
    InputError
        Malformed XML, a DOCTYPE (entity declarations, external DTDs), not CityGML 2.0/3.0,
        unsupported or broken geometry; the message names the file and the object.
    CRSError
        The file names no CRS and none was given, or it is not projected and metric.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    tags = [f"{{{ns}}}{tag}" for ns in VERSIONS for tag in ("CityModel", "cityObjectMember")]
    reader: _Reader | None = None
    with path.open("rb") as stream:
        context = etree.iterparse(
            stream,
            events=("start", "end"),
            tag=tags,
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
            load_dtd=False,
            dtd_validation=False,
        )
        try:
            for event, element in context:
                if event == "start" and reader is None and _local(element) == "CityModel":
                    _refuse_doctype(path, element)
                    reader = _Reader(path, VERSIONS[_ns(element) or ""])
                elif (
                    event == "end" and reader is not None and _local(element) == "cityObjectMember"
                ):
                    reader.member(element)
                    element.clear()
                    while (previous := element.getprevious()) is not None:
                        reader.srs.update(previous.xpath(".//@srsName", smart_strings=False))
                        del element.getparent()[0]
        except etree.XMLSyntaxError as exc:
            raise InputError(f"{path}: not well-formed XML: {exc}") from exc
    root = context.root
    if root is not None:
        _refuse_doctype(path, root)
    if reader is None:
        what = "nothing" if root is None else f"<{etree.QName(root).localname}>"
        raise InputError(f"{path}: not a CityGML 2.0 or 3.0 CityModel (root element: {what})")
    if root is not None:  # a file without members keeps its envelope
        reader.srs.update(
            root.xpath("./*[local-name()='boundedBy']//@srsName", smart_strings=False)
        )
    source_crs = _file_crs(path, reader.srs, crs)
    model = obj_table.read_model(
        reader,
        path,
        source_crs=source_crs,
        target_crs=target_crs,
        name=name,
        format="CityGML",
        version=reader.version,
        metadata={},
    )
    if reader.closed:
        _mark_closed(model, reader)
    return model


def _mark_closed(model: CityModel, reader: _Reader) -> None:
    """Note 103 (RING_NOT_CLOSED) in the ``source_validity`` column of the LoD layers for
    the buildings with a ring the reader closed; ``twin validate`` reports it."""
    face = np.asarray(reader.closed)
    owner = np.asarray(reader.surface["owner"])[face]
    lod = np.asarray(reader.surface["lod"], dtype=object)[face]
    ids = np.asarray(reader.ids, dtype=object)
    for level in sorted(set(lod.tolist())):
        name = obj_table.lod_layer(level, what=str(reader.path))
        frame = model.layers[name]
        hit = frame["building_id"].isin(ids[owner[lod == level]]).to_numpy()
        frame["source_validity"] = np.where(hit, "103", None)
        model.layers[name] = frame


def srs_name(crs: pyproj.CRS, /) -> str:
    """The GML ``srsName`` of a CRS: an OGC URN, compound when it has a vertical part.

    Examples
    --------
    >>> srs_name(pyproj.CRS("EPSG:31258+5778"))
    'urn:ogc:def:crs,crs:EPSG::31258,crs:EPSG::5778'
    >>> srs_name(pyproj.CRS("EPSG:25833"))
    'urn:ogc:def:crs:EPSG::25833'
    """
    flat, height = horizontal(crs), vertical(crs)
    codes = [flat.to_epsg(), height.to_epsg() if height is not None else None]
    if codes[0] is None or (height is not None and codes[1] is None):
        raise CRSError(f"CRS {crs.name!r} has no EPSG code; CityGML names CRSs by EPSG URN")
    if height is None:
        return f"urn:ogc:def:crs:EPSG::{codes[0]}"
    return f"urn:ogc:def:crs,crs:EPSG::{codes[0]},crs:EPSG::{codes[1]}"


def _ncname(value: str) -> str:
    """``value`` as an XML NCName (a gml:id): invalid characters become ``_``."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", value)
    return name if re.match(r"[A-Za-z_]", name) else f"id_{name}"


def _lods_to_write(model: CityModel, lods: list[str] | None) -> list[str]:
    """One LoD per CityGML level (0, 1, 2): the highest the twin has unless ``lods`` says."""
    have = sorted(model.layer("building_surfaces")["lod"].unique(), key=float)
    chosen = have if lods is None else list(lods)
    level: dict[str, str] = {}
    for lod in chosen:
        key = lod.split(".")[0]
        if lods is not None and key in level:
            raise InputError(f"CityGML holds one LoD{key} geometry: choose {level[key]} or {lod}")
        level[key] = lod
    return sorted(level.values(), key=float)


class _Writer:
    """Builds the ``cityObjectMember`` elements of a model's buildings (CityGML 2.0)."""

    def __init__(self, model: CityModel, rows: NDArray[np.integer], lods: list[str]) -> None:
        table = model.buildings
        n = len(table)
        self.ids = table["building_id"].to_numpy(dtype=object)
        self.types = (
            table["object_type"].to_numpy(dtype=object)
            if "object_type" in table
            else np.full(n, "Building", dtype=object)
        )
        parent_ids = (
            table["parent_id"].to_numpy(dtype=object)
            if "parent_id" in table
            else np.full(n, None, dtype=object)
        )
        chosen = np.zeros(n, dtype=bool)
        chosen[np.asarray(rows, dtype=np.int64)] = True
        self.rows = np.flatnonzero(chosen)
        self.attributes = dict(
            zip(self.rows.tolist(), obj_table.attributes(model, self.rows), strict=True)
        )
        row_of = {oid: i for i, oid in enumerate(self.ids)}
        self.parts: dict[int, list[int]] = {}
        self.top: list[int] = []
        for row in self.rows.tolist():
            parent = row_of.get(parent_ids[row])
            if parent is not None and chosen[parent]:
                self.parts.setdefault(parent, []).append(row)
            else:
                self.top.append(row)
        surf = obj_table.surfaces(model, lods=lods)
        surf = surf.take(np.flatnonzero(chosen[surf.owner]))
        self.surf = surf.take(np.lexsort((surf.lod.astype(float), surf.owner)))
        rings, ring_poly = shapely.get_rings(self.surf.polygons, return_index=True)
        coords, coord_ring = shapely.get_coordinates(rings, include_z=True, return_index=True)
        self.decimals = decimals(model.crs)
        text = _numbers(coords, self.decimals).ravel().astype(object)
        ends = np.cumsum(np.bincount(coord_ring, minlength=len(rings))) * 3
        self.pos_lists = [
            " ".join(text[a:b])
            for a, b in zip([0, *ends[:-1].tolist()], ends.tolist(), strict=True)
        ]
        self.poly_rings = np.concatenate(
            [[0], np.cumsum(np.bincount(ring_poly, minlength=len(surf)))]
        )
        self.owner_start = np.searchsorted(self.surf.owner, np.arange(n + 1))
        self.extent = obj_table.extent(coords)

    def member(self, row: int) -> bytes:
        """The ``core:cityObjectMember`` of building ``row``, serialised without namespace
        declarations: the root declares them once (:data:`NS2`)."""
        member = etree.Element(_q("core", "cityObjectMember"), nsmap=NS2)
        member.append(self._object(row, "Building"))
        # the first occurrence is the member's own start tag
        return etree.tostring(member, encoding="utf-8").replace(_DECLARATIONS, b"", 1)

    def _object(self, row: int, tag: str) -> etree._Element:
        oid = self.ids[row]
        element = etree.Element(_q("bldg", tag), {_q("gml", "id"): _ncname(oid)})
        attributes = dict(self.attributes[row])
        address = attributes.pop(ADDRESS, None)
        if isinstance(attributes.get("name"), str):
            etree.SubElement(element, _q("gml", "name")).text = attributes.pop("name")
        known = {k: attributes.pop(k) for k in BUILDING_PROPERTIES if k in attributes}
        _generic_attributes(element, attributes)
        for key, value in known.items():
            for item in value if isinstance(value, list) else [value]:
                prop = etree.SubElement(element, _q("bldg", key))
                prop.text = str(item)
                if key == "measuredHeight":
                    prop.set("uom", "m")
        a, b = self.owner_start[row], self.owner_start[row + 1]
        thematic: list[etree._Element] = []
        for lod in dict.fromkeys(self.surf.lod[a:b].tolist()):
            at = np.flatnonzero(self.surf.lod[a:b] == lod) + a
            thematic += self._geometry(element, oid, lod, at)
        for surface in thematic:
            etree.SubElement(element, _q("bldg", "boundedBy")).append(surface)
        for part in self.parts.get(row, []):
            prop = etree.SubElement(element, _q("bldg", "consistsOfBuildingPart"))
            prop.append(self._object(part, "BuildingPart"))
        for item in address if isinstance(address, list) else []:
            _address(etree.SubElement(element, _q("bldg", "address")), item)
        return element

    def _polygon(self, index: int, gml_id: str | None) -> etree._Element:
        polygon = etree.Element(_q("gml", "Polygon"))
        if gml_id:
            polygon.set(_q("gml", "id"), gml_id)
        for k in range(self.poly_rings[index], self.poly_rings[index + 1]):
            side = "exterior" if k == self.poly_rings[index] else "interior"
            ring = etree.SubElement(
                etree.SubElement(polygon, _q("gml", side)), _q("gml", "LinearRing")
            )
            pos = etree.SubElement(ring, _q("gml", "posList"), srsDimension="3")
            pos.text = self.pos_lists[k]
        return polygon

    def _geometry(
        self, element: etree._Element, oid: str, lod: str, at: NDArray[np.intp]
    ) -> list[etree._Element]:
        """Write one LoD's geometry into ``element``; returns its thematic surfaces (LoD2)."""
        level = lod.split(".")[0]
        solid = self.surf.geometry_type[at[0]] == "Solid"
        semantic = self.surf.semantic[at] if level == "2" else np.full(len(at), None)
        has = np.asarray([isinstance(s, str) for s in semantic], dtype=bool)
        ids = [f"{_ncname(oid)}_lod{level}_{i}" if h else None for i, h in enumerate(has)]
        thematic: list[etree._Element] = []
        runs = np.flatnonzero(
            np.r_[
                True,
                (semantic[1:] != semantic[:-1])
                | (self.surf.semantic_attributes[at][1:] != self.surf.semantic_attributes[at][:-1]),
            ]
        )
        for start, stop in zip(runs.tolist(), [*runs[1:].tolist(), len(at)], strict=True):
            if not has[start]:
                continue
            surface = etree.Element(_q("bldg", semantic[start]))
            extra = self.surf.semantic_attributes[at[start]]
            if isinstance(extra, str):
                _generic_attributes(surface, json.loads(extra))
            multi = etree.SubElement(
                etree.SubElement(surface, _q("bldg", f"lod{level}MultiSurface")),
                _q("gml", "MultiSurface"),
            )
            for i in range(start, stop):
                member = etree.SubElement(multi, _q("gml", "surfaceMember"))
                member.append(self._polygon(int(at[i]), ids[i]))
            thematic.append(surface)
        if not solid and has.all():
            return thematic
        name = {"0": "lod0FootPrint"}.get(
            level, f"lod{level}{'Solid' if solid else 'MultiSurface'}"
        )
        prop = etree.SubElement(element, _q("bldg", name))
        number = np.zeros(len(at), dtype=np.int64)
        if solid:  # the exterior shell, then one gml:interior per cavity
            if self.surf.shell is not None:
                number = self.surf.shell[at]
            body = etree.SubElement(prop, _q("gml", "Solid"))
            shells = [
                etree.SubElement(
                    etree.SubElement(body, _q("gml", "interior" if k else "exterior")),
                    _q("gml", "CompositeSurface"),
                )
                for k in range(int(number.max()) + 1)
            ]
        else:
            shells = [etree.SubElement(prop, _q("gml", "MultiSurface"))]
        for i, gml_id in enumerate(ids):
            member = etree.SubElement(shells[number[i]], _q("gml", "surfaceMember"))
            if gml_id is not None:
                member.set(_q("xlink", "href"), f"#{gml_id}")
            elif solid or not has[i]:
                member.append(self._polygon(int(at[i]), None))
        return thematic


def _q(prefix: str, name: str) -> str:
    return f"{{{NS2[prefix]}}}{name}"


#: the namespace declarations of an element made with ``nsmap=NS2``, as lxml writes them
_DECLARATIONS = etree.tostring(etree.Element(_q("core", "x"), nsmap=NS2))[len(b"<core:x") : -2]


def decimals(crs: pyproj.CRS, /) -> tuple[int, int, int]:
    """Decimals of ``x``, ``y`` and ``z`` that keep coordinates to the millimetre.

    The horizontal axes' unit decides (3 for metres and US feet, 8 for degrees: 1e-8° is at
    most 1.1 mm on the ground, 111 km per degree times 1e-8); heights are in metres.

    Examples
    --------
    >>> decimals(pyproj.CRS("EPSG:25833")), decimals(pyproj.CRS("EPSG:4326"))
    ((3, 3, 3), (8, 8, 3))
    """
    axis = horizontal(crs).axis_info[0]
    if axis.unit_name.startswith("deg"):
        return 8, 8, 3
    metres = axis.unit_conversion_factor or 1.0
    xy = max(0, int(np.ceil(np.log10(metres / 0.001) - 1e-9)))
    return xy, xy, 3


def _numbers(coords: NDArray[np.float64], places: tuple[int, int, int], /) -> NDArray[np.str_]:
    """Coordinates ``(n, 3)`` as text rounded to ``places`` decimals, trailing zeros trimmed.

    Examples
    --------
    >>> _numbers(np.array([[85009.81499999999, 0.010000000000000009, -0.0001]]), (3, 3, 3))
    array([['85009.815', '0.01', '0']], dtype='<U...')
    """
    columns = []
    for axis, n in enumerate(places):
        # + 0.0 turns the -0.0 of a rounded tiny negative into 0.0
        text = np.char.mod(f"%.{n}f", np.round(coords[:, axis], n) + 0.0)
        columns.append(np.char.rstrip(np.char.rstrip(text, "0"), ".") if n else text)
    return np.stack(columns, axis=1) if columns else np.empty((0, 3), dtype=str)


def _generic_attributes(element: etree._Element, attributes: dict[str, Any]) -> None:
    """Attributes as CityGML 2.0 generic attributes (nested values as JSON strings)."""
    for key, value in attributes.items():
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            kind, text = "string", value if isinstance(value, str) else json.dumps(value)
        elif isinstance(value, int):
            kind, text = "int", str(value)
        elif isinstance(value, float):
            kind, text = "double", repr(value)
        else:
            kind, text = "string", value
        item = etree.SubElement(element, _q("gen", f"{kind}Attribute"), name=key)
        etree.SubElement(item, _q("gen", "value")).text = text


def _address(prop: etree._Element, address: dict[str, Any]) -> None:
    """A CityJSON address object as an xAL address (country, locality, street, number)."""
    details = etree.SubElement(
        etree.SubElement(etree.SubElement(prop, _q("core", "Address")), _q("core", "xalAddress")),
        _q("xAL", "AddressDetails"),
    )
    country = etree.SubElement(details, _q("xAL", "Country"))
    if "CountryName" in address:
        etree.SubElement(country, _q("xAL", "CountryName")).text = str(address["CountryName"])
    locality = etree.SubElement(country, _q("xAL", "Locality"), Type="Town")
    if "LocalityName" in address:
        etree.SubElement(locality, _q("xAL", "LocalityName")).text = str(address["LocalityName"])
    if "ThoroughfareName" in address or "ThoroughfareNumber" in address:
        street = etree.SubElement(locality, _q("xAL", "Thoroughfare"), Type="Street")
        for key in ("ThoroughfareNumber", "ThoroughfareName"):
            if key in address:
                etree.SubElement(street, _q("xAL", key)).text = str(address[key])
    if "PostalCode" in address:
        code = etree.SubElement(locality, _q("xAL", "PostalCode"))
        etree.SubElement(code, _q("xAL", "PostalCodeNumber")).text = str(address["PostalCode"])


def write(
    model: CityModel,
    path: str | Path,
    /,
    *,
    rows: NDArray[np.integer] | None = None,
    lods: list[str] | None = None,
) -> Path:
    """Write the model's buildings as a CityGML 2.0 document, atomically.

    CityGML 2.0 holds one geometry per LoD level: by default the highest of each level the
    twin has (``2.2`` is written as LoD2); ``lods`` chooses. Semantic polygons of LoD2 go
    into thematic surfaces (``bldg:boundedBy``), which a solid references by ``xlink:href``;
    LoD0 and LoD1 carry no semantics in CityGML 2.0. Attributes other than the building
    properties of CityGML become generic attributes; addresses are written in xAL.
    Coordinates are written to the millimetre (:func:`decimals`: 3 decimals in a metric CRS,
    trailing zeros trimmed), and the namespaces are declared once, on the root.

    Parameters
    ----------
    model
        The twin.
    path
        The file to write.
    rows
        Rows of ``model.buildings`` (all by default).
    lods
        LoDs to write, at most one per level.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    rows = np.arange(len(model.buildings)) if rows is None else np.asarray(rows)
    writer = _Writer(model, rows, _lods_to_write(model, lods))
    srs = srs_name(model.crs)
    schema = (
        f"{NS2['bldg']} http://schemas.opengis.net/citygml/building/2.0/building.xsd "
        f"{NS2['gen']} http://schemas.opengis.net/citygml/generics/2.0/generics.xsd"
    )
    root = etree.Element(_q("core", "CityModel"), {_q("xsi", "schemaLocation"): schema}, nsmap=NS2)
    etree.SubElement(root, _q("gml", "name")).text = str(model.metadata.get("name", "twin"))
    if writer.extent is not None:
        envelope = etree.SubElement(
            etree.SubElement(root, _q("gml", "boundedBy")),
            _q("gml", "Envelope"),
            srsName=srs,
            srsDimension="3",
        )
        corners = _numbers(writer.extent.reshape(2, 3), writer.decimals)
        etree.SubElement(envelope, _q("gml", "lowerCorner")).text = " ".join(corners[0])
        etree.SubElement(envelope, _q("gml", "upperCorner")).text = " ".join(corners[1])
    # The root is written around its members, which are serialised one at a time (the
    # document is never whole in memory) and without namespace declarations of their own.
    root.append(etree.Comment("members"))
    head, tail = etree.tostring(root, encoding="utf-8").split(b"<!--members-->")
    with atomic(path) as tmp, open(tmp, "wb") as out:
        out.write(b"<?xml version='1.0' encoding='utf-8'?>\n" + head)
        for row in writer.top:
            out.write(writer.member(row))
        out.write(tail)
    return path
