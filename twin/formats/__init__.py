"""Interchange formats: one module per format, model in, files or dicts out (and back).

- :mod:`twin.formats.cityjson`: CityJSON 1.0-2.0 and CityJSONSeq in, CityJSON 2.0 out.
- :mod:`twin.formats.citygml`: CityGML 2.0 and 3.0 buildings in, CityGML 2.0 out.
- :mod:`twin.formats.meshes`: OBJ (+ MTL by semantic class), GLB and STL of one LoD.
- :mod:`twin.formats.tiles3d`: 3D Tiles 1.1 tilesets (GLB tiles with feature metadata, ECEF).
- :mod:`twin.formats.objects`: the flat object and surface tables every format shares.

``docs/formats.md`` documents the commands and the public functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyproj

from twin.errors import InputError
from twin.model import CityModel

__all__ = ["WRITERS", "read", "write"]

#: format name -> what ``twin export --format`` writes
WRITERS: dict[str, str] = {
    "cityjson": "CityJSON 2.0 document",
    "cityjsonseq": "CityJSONSeq (CityJSON 2.0 header and one CityJSONFeature a line)",
    "citygml": "CityGML 2.0 document (buildings, parts, LoD0-2, thematic surfaces)",
    "obj": "Wavefront OBJ with an MTL of the semantic classes (one LoD)",
    "glb": "glTF 2.0 binary, one mesh per semantic class (one LoD)",
    "stl": "binary STL (one LoD)",
    "3dtiles": "3D Tiles 1.1 tileset folder: tileset.json and GLB tiles in ECEF (one LoD)",
}


def read(
    path: str | Path,
    /,
    *,
    crs: str | pyproj.CRS | None = None,
    target_crs: str | pyproj.CRS | None = None,
    name: str | None = None,
) -> CityModel:
    """Read a city model file into a new twin model, CityGML or CityJSON by its content.

    A file whose first non-blank character is ``<`` goes to :func:`twin.formats.citygml.read`,
    any other to :func:`twin.formats.cityjson.read`; both take the same options.

    Raises
    ------
    InputError
        When the file cannot be read, or holds no building (the other city objects it
        holds are named).
    """
    from twin.formats import citygml, cityjson

    path = Path(path)
    try:
        with path.open("rb") as stream:
            start = stream.read(1024).lstrip(b"\xef\xbb\xbf \t\r\n")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    reader = citygml.read if start.startswith(b"<") else cityjson.read
    model = reader(path, crs=crs, target_crs=target_crs, name=name)
    if not len(model.buildings):  # a twin is of buildings: an empty one is no answer
        skipped = model.metadata.get("source", {}).get("skipped", {})
        held = ", ".join(f"{n} {kind}" for kind, n in sorted(skipped.items()))
        raise InputError(f"{path}: no buildings to make a twin of ({held or 'no city objects'})")
    return model


def write(model: CityModel, path: str | Path, /, *, format: str, **options: Any) -> Path:
    """Write ``model`` to ``path`` in ``format`` (a key of :data:`WRITERS`) atomically.

    ``options`` go to the format's writer: ``rows`` and ``lods`` for all, ``scale`` for
    CityJSON, ``no_geoid`` for 3D Tiles (mesh formats take one LoD of ``lods``, by default
    the highest).
    """
    # Each format's module is imported when asked for: the mesh formats load trimesh and
    # scipy, half a second of a small CityJSON export.
    if format == "3dtiles":
        from twin.formats import tiles3d

        lods = options.get("lods")
        if lods and len(lods) > 1:
            raise InputError(f"3D Tiles takes one LoD at a time, not {', '.join(lods)}")
        lod = lods[0] if lods else None
        tiles3d.write_tileset(
            model, path, rows=options.get("rows"), lod=lod, no_geoid=options.get("no_geoid", False)
        )
        return Path(path) / "tileset.json"
    if format in ("obj", "glb", "stl"):
        from twin.formats import meshes

        writer = {"obj": meshes.write_obj, "glb": meshes.write_glb, "stl": meshes.write_stl}
        lod = meshes.lod_of(model, options.get("lods"))
        return writer[format](model, path, rows=options.get("rows"), lod=lod)
    if format in ("cityjson", "cityjsonseq"):
        from twin.formats import cityjson

        return cityjson.write(model, path, seq=format == "cityjsonseq", **options)
    if format == "citygml":
        from twin.formats import citygml

        return citygml.write(model, path, rows=options.get("rows"), lods=options.get("lods"))
    raise InputError(f"unknown export format {format!r}; known: {', '.join(WRITERS)}")
