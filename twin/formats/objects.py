"""City objects as flat arrays: what every reader produces and every writer consumes.

A reader (CityJSON, CityGML) turns a file into an :class:`Objects` table (one row per building
or building part) and a :class:`Surfaces` table (one row per planar polygon, with its LoD,
geometry type and semantic class); :func:`to_model` makes the twin's layers of them.
A writer takes :func:`surfaces` of a model, sorted by building, and :func:`attributes` of its
buildings. Nothing here holds one Python object per building beyond the attribute dicts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import shapely
from numpy.typing import NDArray

from twin._version import __version__
from twin.crs import check_project_crs, crs_wkt, parse_crs, same_horizontal, vertical
from twin.errors import CRSError, InputError
from twin.layers import LOD_LAYERS
from twin.model import CityModel, LazyLayers, Made, MadeLayers, layer_columns
from twin.polygon3d import surface_metrics
from twin.ragged import Rings

#: the city object types a twin keeps (other CityJSON/CityGML types are skipped and counted)
BUILDING_TYPES = ("Building", "BuildingPart")

#: columns of ``buildings`` that are not attributes of the city object (``fid`` is the
#: GeoPackage feature id: a column of that name would become the row order)
RESERVED = ("building_id", "object_type", "parent_id", "geometry", "address", "fid")

#: key of an object's address list among its attributes (stored in the ``address`` column)
ADDRESS = "+address"


@dataclass(frozen=True)
class Objects:
    """City objects, one row each.

    Attributes
    ----------
    ids : (n,) object
        Identifiers, unique.
    types : (n,) object
        ``"Building"`` or ``"BuildingPart"``.
    parents : (n,) object
        The parent's identifier, or ``None``.
    attributes : list of dict
        The attributes of each object as read (JSON values).
    """

    ids: NDArray[np.object_]
    types: NDArray[np.object_]
    parents: NDArray[np.object_]
    attributes: list[dict[str, Any]]


class Surfaces:
    """Planar 3D polygons of the objects' geometries, in file order.

    The polygons are given as shapely objects or as :class:`~twin.ragged.Rings`; the other
    form is made from the given one when first used (a reader of a large file gives rings,
    and the store is written from them without a shapely object per polygon).

    Attributes
    ----------
    polygons : (k,) object
        shapely Polygon Z, holes allowed.
    rings : Rings
        The same polygons as ragged arrays.
    owner : (k,) int
        Row in :class:`Objects` of the object the polygon belongs to.
    lod : (k,) object
        LoD of its geometry (``"2.2"``).
    geometry_type : (k,) object
        ``"Solid"``, ``"MultiSurface"`` or ``"CompositeSurface"``.
    semantic : (k,) object
        Semantic class (``"RoofSurface"``), or ``None``.
    semantic_attributes : (k,) object
        The semantic surface's other attributes as JSON text, or ``None``.
    shell : (k,) int, optional
        Shell of a Solid's polygon: 0 the exterior, 1.. its interior shells (cavities);
        ``None`` when every polygon is on an exterior.
    """

    def __init__(
        self,
        *,
        polygons: NDArray[np.object_] | None = None,
        rings: Rings | None = None,
        owner: NDArray[np.int64],
        lod: NDArray[np.object_],
        geometry_type: NDArray[np.object_],
        semantic: NDArray[np.object_],
        semantic_attributes: NDArray[np.object_],
        shell: NDArray[np.int64] | None = None,
    ) -> None:
        if (polygons is None) == (rings is None):
            raise TypeError("give the polygons either as shapely objects or as rings")
        self._polygons, self._rings = polygons, rings
        self.owner, self.lod, self.geometry_type = owner, lod, geometry_type
        self.semantic, self.semantic_attributes, self.shell = (
            semantic,
            semantic_attributes,
            shell,
        )

    @property
    def polygons(self) -> NDArray[np.object_]:
        if self._polygons is None:
            assert self._rings is not None
            self._polygons = self._rings.polygons()
        return self._polygons

    @property
    def rings(self) -> Rings:
        if self._rings is None:
            self._rings = Rings.of(self.polygons)
        return self._rings

    def __len__(self) -> int:
        return len(self.owner)

    def take(self, index: NDArray[np.integer], /) -> Surfaces:
        """The surfaces at ``index``, in that order (in the form the polygons are at hand)."""
        shape = (
            {"polygons": self._polygons[index]}
            if self._polygons is not None
            else {"rings": self.rings.take(index)}
        )
        return Surfaces(
            **shape,
            owner=self.owner[index],
            lod=self.lod[index],
            geometry_type=self.geometry_type[index],
            semantic=self.semantic[index],
            semantic_attributes=self.semantic_attributes[index],
            shell=None if self.shell is None else self.shell[index],
        )


@dataclass(frozen=True)
class Deferred:
    """Surfaces a reader makes only when a layer is used, and what the model needs at once.

    Attributes
    ----------
    make
        Builds the :class:`Surfaces` (shapely polygons and all).
    lods
        The LoDs present, sorted.
    coordinates : (m, 3) float
        Every vertex the surfaces use (for the model origin).
    """

    make: Callable[[], Surfaces]
    lods: list[str]
    coordinates: NDArray[np.float64]

    @classmethod
    def of(cls, surfaces: Surfaces, /) -> Deferred:
        """Surfaces already made."""
        return cls(
            make=lambda: surfaces,
            lods=sorted(set(surfaces.lod.tolist())),
            coordinates=surfaces.rings.coordinates,
        )


def lod_layer(lod: str, /, *, what: str) -> str:
    """The layer holding geometries of ``lod``.

    Raises
    ------
    InputError
        When the twin has no layer for that LoD; ``what`` names the file and object.

    Examples
    --------
    >>> lod_layer("2.2", what="x.json")
    'lod22'
    """
    try:
        return LOD_LAYERS[lod]
    except KeyError:
        known = ", ".join(LOD_LAYERS)
        raise InputError(f"{what}: LoD {lod!r} is not supported (supported: {known})") from None


def _same_compound(a: pyproj.CRS, b: pyproj.CRS) -> bool:
    """Same horizontal CRS and same (or no) vertical CRS: nothing to transform."""
    if not same_horizontal(a, b):
        return False
    va = a.sub_crs_list[1] if a.is_compound else None
    vb = b.sub_crs_list[1] if b.is_compound else None
    return va is None or vb is None or va.equals(vb)


def reprojection(
    source: pyproj.CRS, target: str | pyproj.CRS | None, /, *, what: str
) -> tuple[pyproj.CRS, pyproj.Transformer | None]:
    """The project CRS of an imported file and the transformer to it (``None``: keep).

    ``target`` (the project CRS asked for) defaults to the file's CRS ``source``; a target
    that differs only by naming no vertical datum needs no transformation.

    Raises
    ------
    CRSError
        When the project CRS is not projected and metric; ``what`` names the file.

    Examples
    --------
    >>> crs, transformer = reprojection(pyproj.CRS("EPSG:7415"), "EPSG:28992", what="x.json")
    >>> crs.to_epsg(), transformer is None
    (28992, True)
    """
    project, transformer = source, None
    if target is not None:
        project = parse_crs(target, what="target CRS")
        if not (source.equals(project) or _same_compound(source, project)):
            transformer = pyproj.Transformer.from_crs(source, project, always_xy=True)
    try:
        check_project_crs(project)
    except CRSError as exc:
        raise CRSError(f"{what}: {exc}; give a projected target CRS") from exc
    return project, transformer


def _attribute_columns(rows: list[dict[str, Any]], /) -> dict[str, list[Any]]:
    """Attribute name -> its value in each of the attribute dicts (``None``: absent), names
    in the order first seen.

    The dicts are grouped by their keys (in order: most files give every object the same
    few sets of attributes) and each group transposed at once (``zip``), instead of a look-up
    per name and object.

    Examples
    --------
    >>> _attribute_columns([{"height": 3}, {"roof": "flat", "height": 4.5}, {"height": 5}])
    {'height': [3, 4.5, 5], 'roof': [None, 'flat', None]}
    """
    shapes: dict[tuple[str, ...], list[int]] = {}
    for at, keys in enumerate(map(tuple, rows)):
        shapes.setdefault(keys, []).append(at)
    if len(shapes) == 1:
        ((keys, _),) = shapes.items()
        return dict(zip(keys, map(list, zip(*map(dict.values, rows), strict=True)), strict=True))
    names = dict.fromkeys(chain.from_iterable(shapes))
    if len(shapes) > _MAX_SHAPES:
        return {name: [row.get(name) for row in rows] for name in names}
    columns = {name: np.full(len(rows), None, dtype=object) for name in names}
    for keys, at in shapes.items():
        values = zip(*[rows[k].values() for k in at], strict=True)
        for name, column in zip(keys, values, strict=True):
            columns[name][at] = np.fromiter(column, dtype=object, count=len(at))
    return {name: column.tolist() for name, column in columns.items()}


#: beyond this many sets of attribute names, the columns are gathered name by name
_MAX_SHAPES = 64


def _attribute_kinds(columns: dict[str, list[Any]], /) -> dict[str, list[str]]:
    """Column -> ``[name, kind]`` of :func:`_attribute_columns`: one column and one kind per
    name.

    Kinds: ``bool``, ``int``, ``float``, ``str``, and ``json`` for nested or mixed values
    (stored as JSON text), and for numbers beyond the store's 64-bit integers and floats
    (JSON puts no bound on numbers). Attribute names that clash with a reserved column or, ignoring
    case, with another attribute get an ``attr_`` prefix; the mapping keeps their real name.

    Examples
    --------
    >>> rows = [{"height": 3, "fid": "a"}, {"height": 4.5, "roof": [1]}]
    >>> _attribute_kinds(_attribute_columns(rows))
    {'height': ['height', 'float'], 'attr_fid': ['fid', 'str'], 'roof': ['roof', 'json']}
    """
    kinds: dict[str, list[str]] = {}
    used: set[str] = set()
    for name, values in columns.items():
        types = set(map(type, values)) - {type(None)}
        column = "address" if name == ADDRESS else name
        # GeoPackage column names are case-insensitive.
        while name != ADDRESS and (column.lower() in RESERVED or column.lower() in used):
            column = f"attr_{column}"
        used.add(column.lower())
        if types <= {bool}:
            kind = "bool"
        elif types <= {int, float} and _within(values, _INT64 if types == {int} else _FLOAT64):
            kind = "int" if types == {int} else "float"
        elif types <= {str}:
            kind = "str"
        else:
            kind = "json"
        kinds[column] = [name, kind]
    return kinds


#: the range of the store's integers and of its floats
_INT64 = (-(2**63), 2**63 - 1)
_FLOAT64 = (-np.finfo(np.float64).max, np.finfo(np.float64).max)


def _within(values: list[Any], bounds: tuple[float, float], /) -> bool:
    """Whether the numbers among ``values`` (``None``: none) are within ``bounds``.

    Examples
    --------
    >>> _within([3, None, 2**63], _INT64), _within([3, None, -(2**63)], _INT64)
    (False, True)
    """
    numbers = [v for v in values if v is not None]
    return not numbers or (bounds[0] <= min(numbers) and max(numbers) <= bounds[1])


#: the pandas arrays of the numeric attribute kinds, and their numpy types
_MASKED = {
    "bool": (pd.arrays.BooleanArray, np.bool_),
    "int": (pd.arrays.IntegerArray, np.int64),
    "float": (pd.arrays.FloatingArray, np.float64),
}


def _attribute_table(
    columns: dict[str, list[Any]], kinds: dict[str, list[str]], n: int, /
) -> pd.DataFrame:
    """The attribute columns of :func:`_attribute_columns` as a table of their kinds
    (numbers and booleans as masked arrays: a missing value stays missing)."""
    table: dict[str, Any] = {}
    for column, (name, kind) in kinds.items():
        values = columns[name]
        if kind in _MASKED:
            array, dtype = _MASKED[kind]
            data = np.fromiter(values, dtype=object, count=n)
            missing = np.equal(data, None)
            data[missing] = 0
            table[column] = array(data.astype(dtype), missing.astype(bool))
        elif kind == "str":
            table[column] = np.asarray(values, dtype=object)
        else:
            table[column] = np.asarray(
                [None if v is None else json.dumps(v) for v in values], dtype=object
            )
    return pd.DataFrame(table, index=pd.RangeIndex(n))


def _group(
    polygons: NDArray[np.object_], owner: NDArray[np.integer], /
) -> tuple[NDArray[np.int64], NDArray[np.object_]]:
    """Polygons collected per owner: the owners present (sorted) and a MultiPolygon each."""
    present, compact = np.unique(owner, return_inverse=True)
    order = np.argsort(compact, kind="stable")
    return present, shapely.multipolygons(polygons[order], indices=compact[order])


def _footprints(surfaces: Surfaces, n: int, /) -> NDArray[np.object_]:
    """2D footprint of each of ``n`` objects: its ground surfaces, else its other
    non-vertical ones.

    The same ground at several LoDs counts once; an object with one valid ground polygon
    has it as its footprint, the others the union of theirs (``make_valid``).
    """
    owner = surfaces.owner
    ground = surfaces.semantic == "GroundSurface"
    has_ground = np.zeros(n, dtype=bool)
    has_ground[owner[ground]] = True
    pick = np.flatnonzero(np.where(has_ground[owner], ground, True))
    flat = shapely.force_2d(surfaces.take(pick).polygons)
    keep = shapely.area(flat) > 1e-9
    flat, owners = flat[keep], owner[pick[keep]]
    once = ~pd.DataFrame({"owner": owners, "wkb": shapely.to_wkb(flat)}).duplicated().to_numpy()
    flat, owners = flat[once], owners[once]
    out = np.full(n, None, dtype=object)
    present, count = np.unique(owners, return_counts=True)
    alone = np.isin(owners, present[count == 1])
    valid = alone.copy()
    valid[alone] = shapely.is_valid(flat[alone])
    out[owners[valid]] = flat[valid]
    if not valid.all():
        present, groups = _group(flat[~valid], owners[~valid])
        out[present] = shapely.make_valid(groups, method="structure", keep_collapsed=False)
    return out


def to_model(
    objects: Objects,
    surfaces: Surfaces | Deferred,
    /,
    *,
    crs: pyproj.CRS,
    name: str,
    source: dict[str, Any],
) -> CityModel:
    """Make a twin model of read objects and surfaces; its layers are made on first use.

    Parameters
    ----------
    objects, surfaces
        What a reader produced; coordinates already in ``crs``. :class:`Deferred` surfaces
        are made when a layer is first used (:class:`twin.model.MadeLayers`).
    crs
        The project CRS of the new twin.
    name
        The twin's name.
    source
        Facts about the source kept in the metadata under ``source`` (file, format, version).

    Returns
    -------
    CityModel
        With ``buildings`` (footprints and attributes), one layer per LoD and
        ``building_surfaces``.

    Raises
    ------
    InputError
        When a LoD has no layer in the twin.
    """
    deferred = surfaces if isinstance(surfaces, Deferred) else Deferred.of(surfaces)
    columns = _attribute_columns(objects.attributes)
    kinds = _attribute_kinds(columns)
    what = source.get("path", "source")
    names = ["buildings", *(lod_layer(lod, what=what) for lod in deferred.lods)]

    def make() -> dict[str, Made]:
        table = _attribute_table(columns, kinds, len(objects.ids))
        return _layers(objects, table, deferred.make(), crs=crs)

    return CityModel(
        crs=crs,
        layers=MadeLayers([*names, "building_surfaces"], make, crs),
        metadata={
            "name": name,
            "twin_version": __version__,
            "origin": _origin(deferred.coordinates),
            "height_datum": vertical(crs).name if vertical(crs) else None,
            "lods": deferred.lods,
            "attributes": kinds,
            "source": source,
        },
    )


def _layers(
    objects: Objects, table: pd.DataFrame, surfaces: Surfaces, /, *, crs: pyproj.CRS
) -> dict[str, Made]:
    """The ``buildings`` layer of read objects and surfaces, and their LoD and
    ``building_surfaces`` layers as Arrow tables."""
    n = len(objects.ids)
    ids = np.asarray(objects.ids, dtype=object)
    footprint = _footprints(surfaces, n)
    # An object without geometry of its own (a Building made of parts) gets its parts' union.
    parent_row = pd.Series(np.arange(n), index=ids).reindex(objects.parents).to_numpy()
    child = ~np.isnan(parent_row) & ~shapely.is_missing(footprint)
    bare = shapely.is_missing(footprint)
    if child.any() and bare.any():
        parts, part_of = shapely.get_parts(footprint[child], return_index=True)
        present, merged = _group(parts, parent_row[child].astype(np.int64)[part_of])
        fill = bare[present]
        out = shapely.make_valid(merged[fill], method="structure", keep_collapsed=False)
        footprint[present[fill]] = out
    buildings = gpd.GeoDataFrame(
        pd.concat(
            [
                pd.DataFrame(
                    {"building_id": ids, "object_type": objects.types, "parent_id": objects.parents}
                ),
                table.reset_index(drop=True),
            ],
            axis=1,
        ),
        geometry=gpd.GeoSeries(footprint, crs=crs),
    )
    layers: dict[str, Made] = {"buildings": buildings}
    id_column = pa.array(ids, pa.string())
    for lod in sorted(set(surfaces.lod.tolist())):
        pick = np.flatnonzero(surfaces.lod == lod)
        pick = pick[np.argsort(surfaces.owner[pick], kind="stable")]
        owner = surfaces.owner[pick]
        first = np.flatnonzero(np.diff(owner, prepend=-1))  # each building's first polygon
        layers[LOD_LAYERS[lod]] = pa.table(
            {
                "building_id": id_column.take(owner[first]),
                "lod": pa.array(np.full(len(first), lod), pa.string()),
                "geometry_type": pa.array(surfaces.geometry_type[pick[first]], pa.string()),
                "geometry": surfaces.rings.take(pick).wkb(np.append(first, len(pick))),
            }
        )
    area, slope, azimuth = surface_metrics(surfaces.rings)
    columns = {
        "building_id": id_column.take(surfaces.owner),
        "lod": pa.array(surfaces.lod, pa.string()),
        "semantic": pa.array(surfaces.semantic, pa.string()),
        "area": area,
        "slope": slope,
        "azimuth": azimuth,
        "semantic_attributes": pa.array(surfaces.semantic_attributes, pa.string()),
        "geometry": surfaces.rings.wkb(),
    }
    if surfaces.shell is not None and surfaces.shell.any():
        columns = {
            "building_id": columns.pop("building_id"),
            "lod": columns.pop("lod"),
            "shell": surfaces.shell,
            **columns,
        }
    layers["building_surfaces"] = pa.table(columns)
    return layers


def extent(coordinates: NDArray[np.float64], /) -> NDArray[np.float64] | None:
    """``[minx, miny, minz, maxx, maxy, maxz]`` of ``(n, 3)`` coordinates (``None``: none).

    Column by column: numpy's ``min(axis=0)`` on an ``(n, 3)`` array is some 20 times slower.

    Examples
    --------
    >>> extent(np.array([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])).tolist()
    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    """
    if len(coordinates) == 0:
        return None
    columns = coordinates.T
    return np.array([c.min() for c in columns] + [c.max() for c in columns])


def _origin(coordinates: NDArray[np.float64], /) -> list[float]:
    """A round local origin near the centre (x, y to 100 m, z to 1 m), as the pipeline's.

    Examples
    --------
    >>> _origin(np.array([[520_040.0, 160_020.0, 441.5], [520_160.0, 160_090.0, 470.0]]))
    [520100.0, 160100.0, 441.0]
    """
    bounds = extent(coordinates)
    if bounds is None:
        return [0.0, 0.0, 0.0]
    lo, hi = bounds[:3], bounds[3:]
    return [
        round((lo[0] + hi[0]) / 200.0) * 100.0,
        round((lo[1] + hi[1]) / 200.0) * 100.0,
        float(math.floor(lo[2])),
    ]


def surfaces(model: CityModel, /, *, lods: list[str] | None = None) -> Surfaces:
    """The surfaces of a model's buildings, sorted by building row (file order kept within).

    Parameters
    ----------
    model
        A twin with ``buildings`` and ``building_surfaces``.
    lods
        The LoDs to take (``["2.2"]``); all when ``None``.

    Raises
    ------
    InputError
        When a requested LoD is absent.
    """
    # The store's surfaces as Arrow when it gives them so: their rings are made of the WKB
    # at once, without a shapely object per surface.
    arrow = (
        model.layers.arrow("building_surfaces") if isinstance(model.layers, LazyLayers) else None
    )
    if arrow is not None:
        table = arrow.drop_columns(["geometry"]).to_pandas()
        shape: dict[str, Any] = {"rings": Rings.from_wkb(arrow.column("geometry"))}
    else:
        table = model.layer("building_surfaces")
        shape = {"polygons": table.geometry.to_numpy()}
    del arrow
    lod = table["lod"].to_numpy(dtype=object)
    if lods is not None:
        missing = sorted(set(lods) - set(pd.unique(lod)))
        if missing:
            have = ", ".join(sorted(pd.unique(lod)))
            raise InputError(f"the twin has no LoD {', '.join(missing)} (it has: {have})")
    ids = pd.Index(model.buildings["building_id"])
    owner = ids.get_indexer(table["building_id"]).astype(np.int64)
    kind = np.full(len(table), "Solid", dtype=object)
    for value in pd.unique(lod):
        name = LOD_LAYERS.get(value, "")
        layer = layer_columns(model.layers, name, ["building_id", "geometry_type"])
        if layer is not None and "geometry_type" in layer:
            of_row = np.full(len(ids), "Solid", dtype=object)  # per building row
            rows = ids.get_indexer(layer["building_id"])
            of_row[rows[rows >= 0]] = layer["geometry_type"].to_numpy(dtype=object)[rows >= 0]
            at = lod == value
            kind[at] = of_row[owner[at]]
    semantic_attributes = (
        table["semantic_attributes"].to_numpy(dtype=object)
        if "semantic_attributes" in table
        else np.full(len(table), None, dtype=object)
    )
    shell = table["shell"].fillna(0).to_numpy(dtype=np.int64) if "shell" in table else None
    out = Surfaces(
        **shape,
        owner=owner,
        lod=lod,
        geometry_type=kind,
        semantic=table["semantic"].to_numpy(dtype=object),
        semantic_attributes=semantic_attributes,
        shell=shell,
    )
    keep = owner >= 0
    if lods is not None:
        keep &= np.isin(lod, lods)
    if not keep.all():
        out = out.take(np.flatnonzero(keep))
        owner = owner[keep]
    if (np.diff(owner) < 0).any():  # a store's surfaces come in building order already
        out = out.take(np.argsort(owner, kind="stable"))
    return out


def attributes(model: CityModel, rows: NDArray[np.integer], /) -> list[dict[str, Any]]:
    """The attributes of buildings ``rows`` as JSON-ready dicts, nulls left out.

    An imported twin gives back its source's attribute names and types; a built twin gives
    its attribute columns (docs/model.md) as they are. Made column by column (numpy's
    ``tolist`` gives Python numbers), then zipped into one dict per building.
    """
    table = model.buildings.iloc[np.asarray(rows)]
    kinds = model.metadata.get("attributes")
    if kinds is None:
        kinds = {c: [c, "auto"] for c in table.columns if c not in RESERVED}
    columns = [c for c in kinds if c in table.columns]
    names = [kinds[c][0] for c in columns]
    values = [_json_values(table[c], kinds[c][1]) for c in columns]
    return [
        {name: v for name, v in zip(names, row, strict=True) if v is not None}
        for row in zip(*values, strict=True)
    ] or [{} for _ in range(len(table))]


#: numpy type of the values of an attribute kind (``auto``: of the column's dtype)
_NUMERIC = {"int": np.int64, "float": np.float64, "bool": np.bool_}


def _json_values(series: pd.Series, kind: str, /) -> list[Any]:
    """A column's values as Python values of its attribute ``kind`` (``json``: decoded),
    ``None`` where missing."""
    missing = series.isna().to_numpy()
    if kind == "auto":
        dtype = series.dtype
        if pd.api.types.is_bool_dtype(dtype):
            kind = "bool"
        elif pd.api.types.is_integer_dtype(dtype):
            kind = "int"
        elif pd.api.types.is_float_dtype(dtype):
            kind = "float"
    if kind in _NUMERIC:
        values = series.to_numpy(dtype=_NUMERIC[kind], na_value=0).tolist()
    else:
        values = series.to_numpy(dtype=object).tolist()
        if kind == "json":
            values = [v if m else json.loads(v) for v, m in zip(values, missing, strict=True)]
        elif kind == "auto":
            values = [v.item() if isinstance(v, np.generic) else v for v in values]
    if missing.any():
        values = [None if m else v for v, m in zip(values, missing.tolist(), strict=True)]
    return values


def select(
    model: CityModel, /, *, bbox: tuple[float, float, float, float] | None = None
) -> NDArray:
    """Rows of ``model.buildings`` to export: those whose footprint meets ``bbox``, with
    their parents and parts; all rows when ``bbox`` is ``None``.
    """
    buildings = model.buildings
    if bbox is None:
        return np.arange(len(buildings))
    hit = shapely.intersects(buildings.geometry.to_numpy(), shapely.box(*bbox))
    ids = buildings["building_id"]
    parents = buildings["parent_id"] if "parent_id" in buildings else pd.Series(None, index=ids)
    top = np.where(parents.notna(), parents, ids)
    chosen = set(top[hit].tolist())
    return np.flatnonzero(np.isin(top, list(chosen)))


def read_model(
    reader: Any,
    path: Path,
    /,
    *,
    source_crs: pyproj.CRS,
    target_crs: pyproj.CRS | None,
    name: str | None,
    format: str,
    version: str,
    metadata: dict[str, Any],
) -> CityModel:
    """Finish a reader's work: reproject its objects and turn them into a model.

    ``reader`` is a format reader with ``result(transformer)`` (objects and surfaces) and
    ``skipped`` (object type -> count), as the CityJSON and CityGML readers have.
    """
    project, transformer = reprojection(source_crs, target_crs, what=str(path))
    objects, surfaces = reader.result(transformer)
    return to_model(
        objects,
        surfaces,
        crs=project,
        name=name or path.name.split(".")[0],
        source={
            "path": str(path),
            "format": format,
            "version": version,
            "crs": crs_wkt(source_crs),
            "reprojected": transformer is not None,
            "skipped": dict(reader.skipped),
            "metadata": metadata,
        },
    )
