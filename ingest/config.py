"""Build configuration: a TOML file naming the source files and the options of each step.

A sample folder written by ``twin sample`` carries its own ``twin.toml``. See
``docs/build.md`` for every key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pyproj

from ingest.lidar.stats import SAMPLINGS
from twin.crs import DEFAULT_CRS, check_project_crs, parse_crs
from twin.errors import ConfigError, CRSError

CONFIG_NAME = "twin.toml"

#: source name -> the keys its section may hold besides ``path``
SOURCE_KEYS: dict[str, set[str]] = {
    "cadastre": {"parcels_layer", "buildings_layer", "building_id", "crs", "encoding"},
    "survey": {"codes", "crs", "encoding"},
    "dtm": {"crs"},
    "dsm": {"crs"},
    "dem": {"crs"},
    "ortho": {"crs"},
    "lidar": {"crs"},
    "citymodel": {"crs"},
    "utilities": {"layer", "crs", "encoding"},
    "trees": {"layer", "crs", "encoding"},
    "planned_works": {"layer", "crs", "encoding"},
    "surface_works": {"layer", "crs", "encoding"},
    "operators": {"layer", "encoding"},
}


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
class Lod1Options:
    """How LoD1 blocks are lifted (keys of the ``[lod1]`` table)."""

    roof_percentile: float = 70.0
    ground_percentile: float = 5.0
    ground_buffer: float = 2.0
    storey_height: float = 3.0
    height_attribute: str = "height"
    storeys_attribute: str = "storeys"
    survey_snap: float = 0.2
    ground_search: float = 30.0
    sliver_area: float = 2.0
    base: str = "flat"
    ground_z: float | None = None
    """m in the project's height datum: the ground of buildings no terrain source reaches."""


@dataclass(frozen=True)
class LidarOptions:
    """How point clouds are used (keys of the ``[lidar]`` table; see ``docs/lidar.md``)."""

    dtm_resolution: float = 1.0
    ground_percentile: float = 5.0
    ground_distance: float = 4.0
    min_height: float = 2.0
    nodata_cell: float | None = None
    chunk_size: int = 1_000_000
    roof_sampling: str = "inside"


@dataclass(frozen=True)
class Lod13Options:
    """How LoD1.3 splits roofs (keys of the ``[lod13]`` table; see ``docs/lidar.md``)."""

    step: float = 3.0
    min_area: float = 4.0


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
    """``[project] allow_scale_error``: accept a project CRS that distorts lengths where the
    data lie, or data outside its area of use (with a warning naming the scale factor)."""

    @classmethod
    def load(cls, path: str | Path, /) -> BuildConfig:
        """Read a TOML config, or the ``twin.toml`` of a source folder.

        Raises
        ------
        ConfigError
            When the file is missing or malformed, names an unknown source or key, or points
            at a file that does not exist.
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
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        return cls._from_dict(raw, path=path, text=text)

    @classmethod
    def _from_dict(cls, raw: dict[str, Any], *, path: Path, text: str) -> BuildConfig:
        unknown = set(raw) - {"project", "sources", "lod1", "lidar", "lod13"}
        if unknown:
            raise ConfigError(f"{path}: unknown table(s) {sorted(unknown)}")
        project = raw.get("project", {})
        crs = parse_crs(project.get("crs", DEFAULT_CRS), what=f"{path}: [project] crs")
        try:
            check_project_crs(crs)
        except CRSError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        allow_scale_error = project.get("allow_scale_error", False)
        if not isinstance(allow_scale_error, bool):
            raise ConfigError(
                f"{path}: [project] allow_scale_error must be true or false, "
                f"not {allow_scale_error!r}"
            )
        sources = {}
        for name, section in raw.get("sources", {}).items():
            if name not in SOURCE_KEYS:
                raise ConfigError(
                    f"{path}: unknown source [sources.{name}]; known: {', '.join(SOURCE_KEYS)}"
                )
            if "path" not in section:
                raise ConfigError(f"{path}: [sources.{name}] needs a 'path'")
            extra = set(section) - SOURCE_KEYS[name] - {"path"}
            if extra:
                raise ConfigError(f"{path}: [sources.{name}] has unknown key(s) {sorted(extra)}")
            file = (path.parent / section["path"]).resolve()
            if not file.exists():
                raise ConfigError(f"{path}: [sources.{name}] file {file} does not exist")
            options = {k: v for k, v in section.items() if k != "path"}
            for key in ("codes",):
                if key in options:
                    options[key] = (path.parent / options[key]).resolve()
                    if not options[key].exists():
                        raise ConfigError(f"{path}: [sources.{name}] {key} file not found")
            sources[name] = Source(name=name, path=file, options=options)
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
        lod1 = _options(Lod1Options, raw, "lod1", path, base=("flat", "sloped"))
        lidar = _options(LidarOptions, raw, "lidar", path, roof_sampling=SAMPLINGS)
        lod13 = _options(Lod13Options, raw, "lod13", path)
        return cls(
            path=path,
            name=str(project.get("name", path.parent.name)),
            crs=crs,
            sources=sources,
            lod1=lod1,
            lidar=lidar,
            lod13=lod13,
            text=text,
            allow_scale_error=allow_scale_error,
        )


T = TypeVar("T")


def _options(
    kind: type[T], raw: dict[str, Any], table: str, path: Path, /, **choices: tuple[str, ...]
) -> T:
    """The ``[table]`` of a config as ``kind``, with ``choices`` of the keys that have them."""
    try:
        options = kind(**raw.get(table, {}))
    except TypeError as exc:
        raise ConfigError(f"{path}: [{table}]: {exc}") from exc
    for key, allowed in choices.items():
        value = getattr(options, key)
        if value not in allowed:
            raise ConfigError(
                f"{path}: [{table}] {key} must be {' or '.join(map(repr, allowed))}, not {value!r}"
            )
    return options
