"""Build configuration: a TOML file naming the source files and the options of each step.

A sample folder written by ``twin sample`` carries its own ``twin.toml``. See
``docs/build.md`` for every key.

Every table is a pydantic model: a key's type, unit and range are declared once, with the
key (:func:`quantity`), and checked before any work. Values are taken as they are written,
never coerced (``storey_height = "three"`` or ``= true`` is refused, not read as a number),
and unknown keys are refused. Whatever is wrong ends in one :class:`ConfigError` naming the
file and each bad key with its value and what it must be, e.g.
``twin.toml: [lod1] roof_percentile = 150: must be between 0 and 100 (%)``.

To add a key, add a field to its table's class; to add a source, a section class (its keys
besides ``path``) and a field of :class:`Sources`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyproj
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from pydantic.dataclasses import dataclass as checked_dataclass

from twin.crs import DEFAULT_CRS, check_project_crs, parse_crs
from twin.errors import ConfigError, CRSError
from twin.schema import OPTIONS, TABLE, quantity, string, validated

CONFIG_NAME = "twin.toml"

#: ways to pick and rank a building's roof points (``[lidar] roof_sampling``): the points
#: inside the footprint, or 3dfier's (:func:`ingest.lidar.stats.point_stats`)
SAMPLINGS = ("inside", "3dfier")

#: the optional vector sources copied into the twin as they are, each into the layer of its name
PASS_THROUGH = ("utilities", "trees", "planned_works", "surface_works")

#: a CRS as a config gives it: text PROJ understands (``"EPSG:31258+5778"``, WKT) or an EPSG code
CRSValue = StrictStr | StrictInt


#: The side (m) of the tiles a build on a Dask cluster reconstructs roofs in when none is
#: given (``twin build --tile-size``, :mod:`ingest.distributed`): a few hundred buildings of
#: a town centre, so that a tile's work (seconds) outweighs sending it to a worker
#: (milliseconds).
TILE_SIZE = 250.0


def crs_key(default: Any, /) -> Any:
    """A key naming a CRS (checked by PROJ once the file is read)."""
    must = "a CRS: text PROJ understands ('EPSG:31258+5778', WKT) or an EPSG code"
    return Field(default, json_schema_extra={"must": must})


@checked_dataclass(frozen=True, config=OPTIONS)
class Lod1Options:
    """How LoD1 blocks are lifted (keys of the ``[lod1]`` table)."""

    # a percentile is defined from 0 (lowest) to 100 (highest), as numpy.percentile takes it
    roof_percentile: float = quantity(70.0, "%", "DSM percentile of the LoD1.2 top", ge=0, le=100)
    ground_percentile: float = quantity(5.0, "%", "DTM percentile of the ground", ge=0, le=100)
    # 0 samples the footprint alone; a negative buffer would sample inside the building
    ground_buffer: float = quantity(2.0, "m", "ring around the footprint sampled", ge=0)
    # below 2 m nobody stands upright (OIB-Richtlinie 3 asks 2.50 m of room height); above
    # 10 m a storey is a hall's, not a height to count storeys by
    storey_height: float = quantity(3.0, "m", "height of one storey", ge=2, le=10)
    height_attribute: str = string("height", "footprint attribute with a height above ground (m)")
    storeys_attribute: str = string("storeys", "footprint attribute with a number of storeys")
    # distances: 0 means "on the footprint", a negative distance means nothing
    survey_snap: float = quantity(
        0.2, "m", "how far an eave point may lie from its footprint", ge=0
    )
    ground_search: float = quantity(30.0, "m", "reach of surveyed ground points", ge=0)
    sliver_area: float = quantity(2.0, "m²", "footprints smaller than this are slivers", ge=0)
    base: Literal["flat", "sloped"] = Field("flat", description="the block's base")
    # the lowest and highest ground on land (Dead Sea shore -430 m, Mount Everest 8,849 m):
    # anything outside is a typo or a height in another unit
    ground_z: float | None = quantity(
        None,
        "m",
        "ground of buildings no terrain source reaches, in the project's height datum",
        ge=-500,
        le=9000,
    )


@checked_dataclass(frozen=True, config=OPTIONS)
class LidarOptions:
    """How point clouds are used (keys of the ``[lidar]`` table; see ``docs/lidar.md``)."""

    # a grid cell has a size
    dtm_resolution: float = quantity(1.0, "m", "cell of the DTM made from ground points", gt=0)
    ground_percentile: float = quantity(5.0, "%", "percentile of the ground points", ge=0, le=100)
    ground_distance: float = quantity(4.0, "m", "reach of the ground points", ge=0)
    min_height: float = quantity(2.0, "m", "height above the DTM of a roof point", ge=0)
    nodata_cell: float | None = quantity(None, "m", "cell of the no-data measures", gt=0)
    # at least one point a chunk; a chunk holds x, y, z and more as float64 (over 24 bytes a
    # point), so 10^8 points (> 2.4 GB) no longer bounds the memory, which is its purpose
    chunk_size: int = quantity(1_000_000, "points", "points read at once", ge=1, le=100_000_000)
    roof_sampling: Literal[SAMPLINGS] = Field(  # type: ignore[valid-type]
        "inside", description="how roof points are picked and ranked"
    )


@checked_dataclass(frozen=True, config=OPTIONS)
class Lod13Options:
    """How LoD1.3 splits roofs (keys of the ``[lod13]`` table; see ``docs/lidar.md``)."""

    # a step of 0 would split a roof at every cell
    step: float = quantity(3.0, "m", "height step that splits a roof", gt=0)
    min_area: float = quantity(4.0, "m²", "smaller roof parts are merged", ge=0)


class Section(BaseModel):
    """A ``[sources.NAME]`` section: its file; subclasses add the source's own keys."""

    model_config = TABLE

    path: str = string(..., "the file, relative to the config file")


class Located(Section):
    """A source that may name its CRS (for a file that carries none, or carries it wrong)."""

    crs: CRSValue | None = crs_key(None)


class Encoded(BaseModel):
    """A source with text attributes, whose encoding may be stated (see docs/build.md)."""

    model_config = TABLE

    encoding: str | None = string(
        None, "text encoding of the attributes ('cp1252'; default: declared or detected)"
    )


class CadastreSection(Located, Encoded):
    """``[sources.cadastre]``: building footprints (any OGR format)."""

    buildings_layer: str | None = string(None, "layer of the footprints")
    parcels_layer: str | None = string(None, "layer of the parcels")
    building_id: str | None = string(None, "column of the building ids")


class SurveySection(Located, Encoded):
    """``[sources.survey]``: survey points (CSV), and the meanings of their codes."""

    codes: str | None = string(None, "CSV of the survey codes, relative to the config file")


class LayerSection(Located, Encoded):
    """A vector source copied into the twin, from one layer of its file."""

    layer: str | None = string(None, "the layer (default: the only or first one)")


class OperatorsSection(Section, Encoded):
    """``[sources.operators]``: the network operators' contacts (a table: no CRS)."""

    layer: str | None = string(None, "the table of a GeoPackage (default: its first)")


class Sources(BaseModel):
    """The ``[sources]`` table: one section per source; an unknown name is refused."""

    model_config = ConfigDict(TABLE, title="source")

    cadastre: CadastreSection | None = None
    survey: SurveySection | None = None
    dtm: Located | None = None
    dsm: Located | None = None
    dem: Located | None = None
    ortho: Located | None = None
    lidar: Located | None = None
    citymodel: Located | None = None
    utilities: LayerSection | None = None
    trees: LayerSection | None = None
    planned_works: LayerSection | None = None
    surface_works: LayerSection | None = None
    operators: OperatorsSection | None = None


#: section keys naming a file besides ``path``, taken relative to the config file
FILE_KEYS = ("codes",)


class Project(BaseModel):
    """The ``[project]`` table."""

    model_config = TABLE

    name: str | None = string(None, "the twin's name (default: the config's folder name)")
    crs: CRSValue = crs_key(DEFAULT_CRS)
    allow_scale_error: StrictBool = Field(
        False,
        description="accept a CRS that measures the data wrongly (a warning names the factor)",
    )


class ConfigFile(BaseModel):
    """A whole config file, as TOML gives it."""

    model_config = TABLE

    project: Project = Field(default_factory=Project)
    sources: Sources = Field(default_factory=Sources)
    lod1: Lod1Options = Field(default_factory=Lod1Options)
    lidar: LidarOptions = Field(default_factory=LidarOptions)
    lod13: Lod13Options = Field(default_factory=Lod13Options)


@dataclass(frozen=True)
class Source:
    """One source file and its options."""

    name: str
    path: Path
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def crs(self) -> pyproj.CRS | None:
        """The CRS the config names for this source (used when the file has none)."""
        value = self.options.get("crs")
        return None if value is None else parse_crs(value, what=f"[sources.{self.name}] crs")


@dataclass(frozen=True)
class BuildConfig:
    """A parsed, checked build configuration."""

    path: Path
    name: str
    crs: pyproj.CRS
    sources: dict[str, Source]
    lod1: Lod1Options
    text: str
    lidar: LidarOptions = field(default_factory=LidarOptions)
    lod13: Lod13Options = field(default_factory=Lod13Options)
    allow_scale_error: bool = False

    @classmethod
    def load(cls, path: str | Path, /) -> BuildConfig:
        """Read a TOML config, or the ``twin.toml`` of a source folder.

        Raises
        ------
        ConfigError
            When the file is missing or malformed, names an unknown source or key, has a
            value of the wrong type or out of its range, or points at a file that does not
            exist.
        """
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_NAME
            if not path.exists():
                raise ConfigError(
                    f"{path.parent}: no {CONFIG_NAME} in this folder; "
                    "give a TOML config or a folder written by 'twin sample'"
                )
        try:
            text = path.read_text(encoding="utf-8")
            raw = tomllib.loads(text)
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config: {exc.strerror or exc}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        parsed = validated(ConfigFile, raw, where=str(path))
        return cls._checked(parsed, path=path, text=text)

    @classmethod
    def _checked(cls, parsed: ConfigFile, /, *, path: Path, text: str) -> BuildConfig:
        """The config of a valid ``parsed`` file, once its CRSs and files are checked."""
        crs = _crs(parsed.project.crs, path, "[project] crs")
        try:
            check_project_crs(crs)
        except CRSError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        sources = {}
        for name in Sources.model_fields:
            section = getattr(parsed.sources, name)
            if section is not None:
                sources[name] = _source(name, section, path)
        if "citymodel" in sources and len(sources) > 1:
            raise ConfigError(f"{path}: [sources.citymodel] (an imported 3D model) stands alone")
        if "cadastre" not in sources and "citymodel" not in sources:
            raise ConfigError(
                f"{path}: a build needs [sources.cadastre] (building footprints) "
                "or [sources.citymodel] (CityJSON)"
                + (
                    "; buildings are not derived from a point cloud alone: add footprints"
                    if "lidar" in sources
                    else ""
                )
            )
        return cls(
            path=path,
            name=parsed.project.name or path.parent.name,
            crs=crs,
            sources=sources,
            lod1=parsed.lod1,
            lidar=parsed.lidar,
            lod13=parsed.lod13,
            text=text,
            allow_scale_error=parsed.project.allow_scale_error,
        )


def _crs(value: str | int, path: Path, key: str, /) -> pyproj.CRS:
    """The CRS a config names at ``key``, or a ConfigError naming the file and the key."""
    try:
        return parse_crs(value, what=f"{path}: {key}")
    except CRSError as exc:
        raise ConfigError(str(exc)) from exc


def _source(name: str, section: Section, path: Path, /) -> Source:
    """A checked source: its files exist, its CRS (if it names one) is known to PROJ."""
    options = section.model_dump(exclude_unset=True, exclude={"path"})
    if options.get("crs") is not None:
        _crs(options["crs"], path, f"[sources.{name}] crs")
    file = _existing(path, name, "path", section.path)
    for key in FILE_KEYS:
        if key in options:
            options[key] = _existing(path, name, key, options[key])
    return Source(name=name, path=file, options=options)


def _existing(path: Path, name: str, key: str, value: str, /) -> Path:
    """The file a section's ``key`` names, relative to the config at ``path``; it must exist."""
    try:
        file = (path.parent / value).resolve()
        found = file.exists()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{path}: [sources.{name}] {key}: {problem}") from None
    if not found:
        raise ConfigError(f"{path}: [sources.{name}] {key}: file {file} does not exist")
    return file
