"""``twin build --update``: what changed since a twin's last build, and the buildings to
measure anew.

An update compares today's sources with the run record of the twin's last build (the SHA-256
of every source file, the config's text, the version of twin) and the cadastre's buildings
with the twin's, one by one, by the digest of their record (:func:`digests`). When only the
cadastre and the layers copied through changed, it measures just the buildings whose record
changed, with their neighbours (:func:`compare`), and carries every other building over from
the twin as it is (:func:`carry_over`): the result is the twin a full build of today's sources
writes, row for row. A point cloud is compared file by file: the buildings within reach of
a file added, removed or changed (its extent before and after, from the run record,
:func:`with_extents`) are measured anew too, and only the files within reach of those
buildings are read. Any other change (a raster, the survey, the config, a new version of
twin) measures every building anew, and says why.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import rasterio
import shapely
from numpy.typing import NDArray

from ingest.config import PASS_THROUGH, BuildConfig
from ingest.lidar.read import PointCloud
from ingest.lidar.stats import nodata_cell
from twin._version import __version__
from twin.errors import StoreError
from twin.layers import LOD_LAYERS
from twin.store import Location, Store, open_store

#: the sources an update takes as they are now without measuring every building anew: the
#: cadastre (compared building by building), the layers copied through, the operators table
#: and the orthophoto (copied into the twin)
INCREMENTAL = frozenset({"cadastre", "operators", "ortho", *PASS_THROUGH})

#: columns of ``buildings`` that the cadastre gives (:func:`ingest.cadastre.read_buildings`)
#: but that are not part of a building's record: ``source_fid``, its row in the source layer,
#: changes for every building after one inserted
NOT_RECORD = ("source_fid", "source_digest")


class UpToDate(Exception):  # not an error: the answer that nothing is to be done
    """No source changed since the twin's last build: an update has nothing to write."""


@dataclass(frozen=True)
class Previous:
    """A twin an update starts from: its store and the record of its last build."""

    store: Store
    run: dict[str, Any]

    @classmethod
    def of(cls, output: Location, /) -> Previous | None:
        """The twin at ``output`` and its last run, or ``None`` where there is no twin (or one
        without a run record, such as a twin copied from CityJSON)."""
        try:
            store = open_store(output)
        except StoreError:
            return None
        layers = store.layers()
        if "runs" not in layers or "buildings" not in layers or not layers["runs"].count:
            return None
        runs = store.read_layer("runs")
        return cls(store, runs.iloc[-1].to_dict())

    def why_anew(self, config: BuildConfig, hashes: dict[str, dict]) -> str | None:
        """Why every building must be measured anew (``None``: only the cadastre and the
        :data:`INCREMENTAL` sources may have changed, so an update can measure just the
        buildings whose record changed)."""
        run = self.run
        if run.get("twin_version") != __version__:
            return f"it was built by twin {run.get('twin_version')}, this is {__version__}"
        if run.get("config") != config.text:
            return "the config changed"
        if "cadastre" not in self._sources:
            return "it was not built from a cadastre"
        for name in sorted(self.changed(hashes) - INCREMENTAL):
            if name != "lidar":
                return f"the {name} source changed"
            if self.changed_area(hashes) is None:
                return "the lidar source changed, and the run record holds no extents of its files"
            old, new = (_cell(record) for record in (self._sources["lidar"], hashes["lidar"]))
            if config.lidar.nodata_cell is None and old != new:
                return (
                    f"the point density of the lidar source changed its no-data cell from "
                    f"{old:.4g} to {new:.4g} m (a [lidar] nodata_cell keeps it)"
                )
        return None

    @functools.cached_property
    def _sources(self) -> dict[str, dict]:
        """The source records of the last build."""
        return json.loads(self.run["sources"])

    def changed_area(self, hashes: dict[str, dict]) -> NDArray[np.object_] | None:
        """The extents (boxes in the project CRS) of the point-cloud files added, removed or
        changed since the last build, each as it was and as it is; ``None`` where a record
        lacks them (a build by an older twin, or a point cloud added or removed)."""
        old, new = (_files(record) for record in (self._sources.get("lidar"), hashes.get("lidar")))
        if old is None or new is None:
            return None
        if not all("bounds" in f for f in [*old.values(), *new.values()]):
            return None
        boxes = []
        for name in sorted(set(old) | set(new)):
            before, after = old.get(name), new.get(name)
            if before is not None and after is not None and before["sha256"] == after["sha256"]:
                continue
            boxes += [shapely.box(*f["bounds"]) for f in (before, after) if f is not None]
        return np.array(boxes, dtype=object)

    def changed(self, hashes: dict[str, dict]) -> set[str]:
        """The sources added, removed or whose files' contents changed since the last build
        (paths aside: a folder moved is the same source)."""
        old = self._sources
        names = set(old) | set(hashes)
        return {n for n in names if _content(old.get(n)) != _content(hashes.get(n))}


def _content(record: dict | None) -> Any:
    """What of a run's source record says what is in it: the SHA-256 of the file, or of each
    file of a folder by name."""
    if record is None:
        return None
    if "files" in record:
        return sorted((f["path"].rsplit("/", 1)[-1], f["sha256"]) for f in record["files"])
    return record["sha256"]


def with_extents(record: dict, clouds: Sequence[PointCloud], /) -> dict:
    """A point-cloud source's run record (a file's, or a folder's of files) with each file's
    header count (``points``) and extent in the project CRS (``bounds``): an update tells by
    them the area a changed file covers (:meth:`Previous.changed_area`)."""
    extents = {c.path.name: {"points": c.count, "bounds": list(c.bounds)} for c in clouds}
    if "files" not in record:
        return {**record, **extents.get(Path(record["path"]).name, {})}
    files = [{**f, **extents.get(Path(f["path"]).name, {})} for f in record["files"]]
    return {**record, "files": files}


def _files(record: dict | None) -> dict[str, dict] | None:
    """The records of a source's files by name."""
    if record is None:
        return None
    files = record["files"] if "files" in record else [record]
    return {Path(f["path"]).name: f for f in files}


def _cell(record: dict) -> float:
    """The default no-data cell of the point-cloud files of ``record``, each with its extent
    (:func:`ingest.lidar.stats.nodata_cell`)."""
    files = list((_files(record) or {}).values())
    return nodata_cell([f["points"] for f in files], [f["bounds"] for f in files])


def digests(buildings: gpd.GeoDataFrame, /) -> NDArray[np.object_]:
    """The digest of each building's cadastre record: its footprint (WKB), attributes and
    flags (``footprint_issue``), all but :data:`NOT_RECORD`, as 16 hex digits.

    pandas' row hash (``hash_pandas_object``, SipHash with a fixed key, vectorised) tells a
    changed record from an unchanged one; should a later pandas hash otherwise, an update
    only measures more buildings than it needs to.
    """
    record = pd.DataFrame(buildings.drop(columns=[*NOT_RECORD, "geometry"], errors="ignore"))
    record["geometry"] = shapely.to_wkb(buildings.geometry.to_numpy())
    hashed = pd.util.hash_pandas_object(record, index=False).to_numpy()
    return np.char.mod("%016x", hashed).astype(object)


@dataclass(frozen=True)
class Changes:
    """How today's cadastre differs from the twin's buildings.

    Attributes
    ----------
    measure : (n,) bool
        Per building of today's cadastre: to be measured anew (added, changed, or a
        neighbour of a change).
    added, changed, removed
        Buildings new, with a changed record, gone.
    point_cloud
        Buildings within reach of the point-cloud files that changed.
    """

    measure: NDArray[np.bool_]
    added: int
    changed: int
    removed: int
    point_cloud: int = 0

    @property
    def summary(self) -> dict[str, int]:
        """The counts, for the run record (``update`` of ``runs``)."""
        measured = int(self.measure.sum())
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "point_cloud": self.point_cloud,
            "measured": measured,
            "carried_over": len(self.measure) - measured,
        }


def compare(
    new: gpd.GeoDataFrame,
    old: gpd.GeoDataFrame,
    /,
    *,
    halo: float,
    area: NDArray[np.object_] | None = None,
    reach: float = 0.0,
) -> Changes:
    """The buildings of ``new`` (today's cadastre, with ``source_digest``) to measure anew
    against the twin's ``old`` (``building_id``, ``source_digest`` and footprint).

    A building is measured anew when it is new or its record changed, and so is every
    building within ``halo`` metres of a footprint added, changed or removed (old or new
    outline): a surveyed eave point within ``[lod1] survey_snap`` of two footprints belongs
    to neither (:func:`ingest.survey.attach`), so a footprint added beside a building can
    take its survey points from it. So is every building within ``reach`` metres of the
    ``area`` (the extents of the point-cloud files that changed,
    :meth:`Previous.changed_area`), from which its points may come.
    """
    ids = new["building_id"].to_numpy()
    digest = new["source_digest"].to_numpy()
    old_ids, old_digest = old["building_id"].to_numpy(), old["source_digest"].to_numpy()
    where = pd.Index(old_ids).get_indexer(ids)
    known = where >= 0
    same = known & (old_digest[where.clip(0)] == digest)
    gone = np.ones(len(old), dtype=bool)
    gone[where[same]] = False  # an old building gone, or whose record changed
    moved = np.concatenate([new.geometry.to_numpy()[~same], old.geometry.to_numpy()[gone]])
    measure = ~same
    tree = shapely.STRtree(new.geometry.to_numpy())
    if len(moved):
        _, near = tree.query(moved, predicate="dwithin", distance=halo)
        measure[near] = True
    swept = np.zeros(len(new), dtype=bool)
    if area is not None and len(area):
        _, near = tree.query(area, predicate="dwithin", distance=reach)
        swept[near] = True
    return Changes(
        measure=measure | swept,
        added=int((~known).sum()),
        changed=int((known & ~same).sum()),
        removed=int(len(old) - known.sum()),
        point_cloud=int(swept.sum()),
    )


def carry_over(
    layers: dict[str, pd.DataFrame | pa.Table],
    store: Store,
    cadastre: gpd.GeoDataFrame,
    measure: NDArray[np.bool_],
    lods: list[str],
    renamed: dict[str, str],
) -> dict[str, pd.DataFrame | pa.Table]:
    """The building layers of a full build, from those of the buildings measured anew
    (``layers``) and the twin's rows of the others.

    Parameters
    ----------
    layers
        The layers made for the buildings measured anew (``buildings``, and the LoD layers
        and ``building_surfaces`` as Arrow tables), and any others, passed on as they are.
    store
        The twin being updated.
    cadastre
        Today's cadastre, every building, in the order a full build keeps.
    measure : (n,) bool
        The buildings of ``cadastre`` measured anew.
    lods
        The LoDs of the twin, in the order their rows follow in ``building_surfaces``.
    renamed
        The cadastre columns renamed because a computed one has their name
        (``height`` -> ``source_height``).

    Returns
    -------
    dict
        The layers in the order of ``layers``, with the building layers holding every
        building in the order of ``cadastre``, as a full build writes them.
    """
    ids = cadastre["building_id"].to_numpy()
    kept = ids[~measure]
    position = pd.Series(np.arange(len(ids)), index=ids)
    out = dict(layers)
    measured = layers["buildings"]
    # the record as read today (the same but for source_fid), what was measured from the twin
    # (whole layers read and filtered here: the kept are most of a twin, too many for a query)
    record = cadastre.loc[~measure].rename(columns=renamed).reset_index(drop=True)
    measured_only = [c for c in measured.columns if c not in record.columns]
    old = store.read_layer("buildings", columns=["building_id", *measured_only], geometry=False)
    old = old.set_index("building_id").loc[kept].reset_index(drop=True)
    carried = pd.concat([record, old], axis=1)[measured.columns]
    out["buildings"] = _in_order(
        [carried, measured], position, crs=cadastre.crs, key=lambda f: f["building_id"]
    )
    rank = {lod: k for k, lod in enumerate(lods)}
    for name in [LOD_LAYERS[lod] for lod in lods] + ["building_surfaces"]:
        new = layers[name]
        stored = store.read_arrow(name).select(new.column_names)
        stored = stored.filter(pc.is_in(stored["building_id"], value_set=pa.array(kept)))
        whole = pa.concat_tables([stored, new], promote_options="permissive")
        building = position.loc[whole["building_id"].to_numpy(zero_copy_only=False)].to_numpy()
        # the surfaces follow LoD by LoD, each LoD's in the order of the buildings
        lod = pd.Series(whole["lod"].to_numpy(zero_copy_only=False)).map(rank).to_numpy()
        out[name] = whole.take(np.argsort(lod * len(ids) + building, kind="stable"))
    return out


def _in_order(
    frames: list[pd.DataFrame], position: pd.Series, /, *, crs: Any, key: Any
) -> gpd.GeoDataFrame:
    """``frames`` as one, sorted by ``key`` with each building's place in ``position`` (the
    rows of one building keeping their order)."""
    whole = pd.concat(frames, ignore_index=True)
    whole = whole.assign(building_id=whole["building_id"].astype(object))
    order = key(whole.assign(building_id=position.loc[whole["building_id"]].to_numpy()))
    whole = whole.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)
    return gpd.GeoDataFrame(whole, geometry="geometry", crs=crs)


def same_raster(a: Path, b: Path | None, /) -> bool:
    """Whether two single-band rasters hold the same grid: size, placement and values (no-data
    where the other has no-data)."""
    if b is None:
        return False
    with rasterio.open(a) as one, rasterio.open(b) as other:
        if (one.shape, one.transform) != (other.shape, other.transform):
            return False
        x, y = one.read(1, masked=True), other.read(1, masked=True)
    void_x = np.ma.getmaskarray(x) | np.isnan(x.data)
    void_y = np.ma.getmaskarray(y) | np.isnan(y.data)
    return bool(np.array_equal(void_x, void_y) and np.array_equal(x.data[~void_x], y.data[~void_y]))
