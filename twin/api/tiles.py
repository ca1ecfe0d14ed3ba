"""The buildings as a 3D Tiles 1.1 tileset, built on first request and cached on disk.

The cache key is the store's change token and the caller's service area: a rebuilt or
edited twin gets a new tileset (older versions are removed), and an
area-scoped key gets a tileset of its own area only. Building happens once across worker
processes (a file lock); files are served with strong ETags derived from the key.

A twin whose heights name no vertical datum, or one PROJ has no geoid model for, gets no
tileset: heights written unchanged would put every building tens of metres too low (or
high), so the request is a 409 problem that names the CRS and the ways out (re-import with a
compound CRS; ``twin export -f 3dtiles --no-geoid`` for a file made knowingly).
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import shapely

from twin.api.problems import Problem
from twin.errors import CRSError, InputError
from twin.formats import tiles3d
from twin.store.base import Store

#: media type of a tileset in OGC API - 3D GeoVolumes links
TILESET = "application/json+3dtiles"
_CONTENT = re.compile(r"tiles/[0-9]{1,9}\.glb")


class TilesetCache:
    """3D Tiles of a twin's buildings under ``root``, one folder per twin version and area.

    Parameters
    ----------
    store
        The twin.
    root
        The cache folder (created when missing).
    max_features
        Most buildings in one tile.
    """

    def __init__(self, store: Store, root: Path, /, *, max_features: int = 1000):
        self.store = store
        self.root = Path(root)
        self.max_features = max_features

    def _build(self, folder: Path, area: shapely.Geometry | None) -> None:
        model = self.store.read_model()
        rows = None
        if area is not None:
            rows = np.flatnonzero(shapely.intersects(model.buildings.geometry.to_numpy(), area))
            if len(rows) == 0:
                raise Problem(404, "no buildings to tile in the caller's area")
        try:
            tiles3d.write_tileset(model, folder, rows=rows, max_features=self.max_features)
        except CRSError as exc:  # heights with no datum, or no geoid model for it
            raise Problem(409, f"no 3D tiles of this twin: {exc}") from None
        except InputError as exc:
            raise Problem(404, f"no 3D tiles: {exc}") from None

    def folder(self, area: shapely.Geometry | None = None, /) -> tuple[Path, str]:
        """The tileset folder for ``area`` (built now when missing) and its cache key."""
        version = self.store.token()
        scope = "all" if area is None else hashlib.sha256(shapely.to_wkb(area)).hexdigest()[:16]
        folder = self.root / version / scope
        if not (folder / "tileset.json").exists():
            self.root.mkdir(parents=True, exist_ok=True)
            with (self.root / ".lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    if not (folder / "tileset.json").exists():
                        for old in self.root.iterdir():
                            if old.is_dir() and old.name != version:
                                shutil.rmtree(old, ignore_errors=True)
                        folder.parent.mkdir(parents=True, exist_ok=True)
                        self._build(folder, area)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        return folder, f"{version}-{scope}"

    def file(self, name: str, area: shapely.Geometry | None = None, /) -> tuple[Path, str]:
        """The cached file ``name`` (``tileset.json`` or ``tiles/N.glb``) and its ETag.

        Raises
        ------
        Problem
            404 when there is no such file.
        """
        if name != "tileset.json" and not _CONTENT.fullmatch(name):
            raise Problem(404, f"no 3D Tiles file {name!r}")
        folder, key = self.folder(area)
        path = folder / name
        if path.is_file():
            return path, f'"{key}-{name.replace("/", "-")}"'
        raise Problem(404, f"no 3D Tiles file {name!r}")
