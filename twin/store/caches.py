"""Derived caches of a twin kept by its store, keyed by the store's change token."""

from __future__ import annotations

from twin._version import __version__
from twin.mesh import Mesh
from twin.store.base import Store


class FileMeshCache:
    """The merged meshes of a twin in files where its store keeps derived caches
    (``city.mesh-1.2.npz`` beside ``city.gpkg``).

    A mesh is stamped with the store's token and the twin version that built it: a mesh of
    an older twin, or of another version of the toolkit, is never loaded.

    Parameters
    ----------
    store
        The twin's store.
    """

    def __init__(self, store: Store, /):
        self.store = store

    def _file(self, lod: str):
        return self.store.cache_path(f"mesh-{lod}.npz")

    def _stamp(self, lod: str) -> str:
        return f"{__version__}:{self.store.token()}:{lod}"

    def load(self, lod: str, /) -> Mesh | None:
        """The cached mesh of ``lod`` for the twin as it is now, else ``None``."""
        return Mesh.load(self._file(lod), stamp=self._stamp(lod))

    def save(self, lod: str, mesh: Mesh, /) -> None:
        """Keep ``mesh`` as the mesh of ``lod`` of the twin as it is now."""
        mesh.save(self._file(lod), stamp=self._stamp(lod))

    def has(self, lod: str, /) -> bool:
        """Whether a mesh of ``lod`` was kept (for this or an older twin)."""
        return self._file(lod).exists()
