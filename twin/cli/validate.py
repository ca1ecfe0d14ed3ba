"""``twin validate``: ISO 19107 validity of every solid, by val3dity's error codes."""

from __future__ import annotations

import json
import sys

import click
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from twin.cli.options import TwinLocation
from twin.layers import LOD_LAYERS
from twin.model import CityModel
from twin.outputs import TWIN, check_output
from twin.store import Location, is_database, open_store, read, write
from twin.validity import check_faces, names, repair_surfaces, surface_rows

#: column of a LoD layer with the codes a reader found in the source file and repaired while
#: reading (103: a ring it closed), which the check of the twin's geometry cannot see
SOURCE_CODES = "source_validity"


@click.command()
@click.argument("twin_path", metavar="TWIN", type=TwinLocation(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the per-building report as JSON.")
def validate(twin_path: Location, as_json: bool) -> None:
    """Check the solids of TWIN (a GeoPackage, or postgresql://user@host/db?schema=twin),
    repair simple cases and store the codes per building and LoD.

    The repaired faces replace the buildings' rows in building_surfaces, which the exports
    read. Exits with status 1 when any solid stays invalid.
    """
    model = read(twin_path)
    if not is_database(twin_path):  # rewritten in place: its folder must take it
        check_output(twin_path, TWIN, option="TWIN")
    report: dict[str, dict[str, list[str]]] = {}
    summary = {}
    for lod, layer in LOD_LAYERS.items():
        if layer not in model.layers:
            continue
        frame = model.layers[layer]
        kinds = None
        if "geometry_type" in frame.columns:  # imported: Solid, MultiSurface, CompositeSurface
            kinds = frame["geometry_type"].fillna("MultiSolid").to_numpy(dtype=object)
        solids = frame.geometry.to_numpy()
        shells = _shells(model, frame, lod)
        checked = check_faces(solids, kinds=kinds, shells=shells)
        codes = checked.codes
        if SOURCE_CODES in frame.columns:
            found = frame[SOURCE_CODES].fillna("").to_numpy(dtype=str)
            codes = [
                sorted(set(c) | {int(x) for x in f.split(",") if x})
                for c, f in zip(codes, found, strict=True)
            ]
        if checked.changed.any() and "building_surfaces" in model.layers:
            model.layers["building_surfaces"] = repair_surfaces(
                model.layers["building_surfaces"],
                solids,
                frame["building_id"].to_numpy(dtype=object),
                checked,
                lod=lod,
            )
        frame = frame.copy()
        frame["validity"] = [",".join(map(str, c)) or None for c in codes]
        frame = frame.set_geometry(list(checked.repaired), crs=frame.crs)
        model.layers[layer] = frame
        invalid = {
            str(bid): [f"{c} {name}" for c, name in zip(c_list, names(c_list), strict=True)]
            for bid, c_list in zip(frame["building_id"], codes, strict=True)
            if c_list
        }
        report[lod] = invalid
        summary[lod] = {"solids": int(frame.geometry.notna().sum()), "invalid": len(invalid)}
    write(model, twin_path)
    _refresh_meshes(model, twin_path)
    if as_json:
        click.echo(json.dumps({"summary": summary, "invalid": report}, indent=2))
    else:
        for lod, s in summary.items():
            click.echo(f"LoD{lod}: {s['solids']} solids, {s['invalid']} invalid")
            for bid, errors in report[lod].items():
                click.echo(f"  {bid}: {', '.join(errors)}")
    if any(s["invalid"] for s in summary.values()):
        sys.exit(1)


def _shells(model: CityModel, frame: pd.DataFrame, lod: str) -> NDArray[np.int64] | None:
    """The shell of each face of the LoD layer's solids, from the ``shell`` column of
    ``building_surfaces`` (imported Solids with cavities), else ``None``.

    A building's rows at the LoD are its solid's faces in order (the readers' and the
    build's order); a building with as many rows as faces takes their shells
    (:func:`twin.validity.surface_rows`), the faces of any other are taken as on the
    exterior (0).
    """
    surfaces = model.layers["building_surfaces"] if "building_surfaces" in model.layers else None
    if surfaces is None or "shell" not in surfaces.columns:
        return None
    shell = surfaces["shell"].fillna(0).to_numpy(dtype=np.int64)
    if not shell[surfaces["lod"].to_numpy() == lod].any():
        return None
    ids = frame["building_id"].to_numpy(dtype=object)
    _, _, face_row = surface_rows(surfaces, frame.geometry.to_numpy(), ids, lod=lod)
    return np.where(face_row >= 0, shell[face_row], 0)


def _refresh_meshes(model: CityModel, twin_path: Location) -> None:
    """Rebuild the meshes of the rewritten twin that its store's cache held for the old
    version (files beside a GeoPackage, the local cache folder of a database twin)."""
    if "building_surfaces" not in model.layers:
        return
    lods = np.unique(model.layers["building_surfaces"]["lod"].dropna().to_numpy(dtype=str))
    model.cache_meshes(
        open_store(twin_path).mesh_cache(),
        [lod for lod in lods.tolist() if lod in LOD_LAYERS],
        only_cached=True,
    )
