"""Triangle meshes as arrays: one merged mesh per layer and LoD (DESIGN.md §2).

The viewer, the exporters and ray casting all take this one structure; nothing holds one
object per building.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from twin.files import atomic
from twin.polygon3d import triangulate


@dataclass(frozen=True, eq=False)
class Mesh:
    """A merged triangle mesh.

    Attributes
    ----------
    vertices : (n, 3) float64
        Coordinates in the model CRS (metres, heights in the model's vertical datum).
    triangles : (m, 3) int64
        Vertex indices, counter-clockwise seen from outside.
    owner : (m,) int64
        Row index, in the building table, of the building each triangle belongs to.
    semantic : (m,) int8
        :class:`twin.semantics.Semantic` code of each triangle.
    """

    vertices: NDArray[np.float64]
    triangles: NDArray[np.int64]
    owner: NDArray[np.int64]
    semantic: NDArray[np.int8]

    @classmethod
    def from_surfaces(
        cls,
        polygons: NDArray[np.object_],
        owner: NDArray[np.integer],
        semantic: NDArray[np.integer],
        /,
    ) -> Mesh:
        """Triangulate planar 3D surfaces (shapely Polygon Z array) into one mesh.

        A degenerate surface is repaired or left out with a
        :class:`~twin.errors.DataQualityWarning` (:func:`twin.polygon3d.triangulate`).

        Parameters
        ----------
        polygons : (k,) object
            Planar polygons with Z, wound counter-clockwise seen from outside the solid.
        owner : (k,) int
            Building row index of each surface.
        semantic : (k,) int
            :class:`twin.semantics.Semantic` code of each surface.

        Examples
        --------
        >>> import shapely
        >>> roof = shapely.Polygon([(0, 0, 9), (4, 0, 9), (4, 3, 9), (0, 3, 9)])
        >>> mesh = Mesh.from_surfaces(np.array([roof]), np.array([7]), np.array([2]))
        >>> mesh.triangles.shape, mesh.owner.tolist(), mesh.area().round(6).tolist()
        ((2, 3), [7, 7], [6.0, 6.0])
        """
        corners, surface = triangulate(np.asarray(polygons, dtype=object))
        m = len(corners)
        return cls(
            vertices=corners.reshape(-1, 3),
            triangles=np.arange(3 * m, dtype=np.int64).reshape(m, 3),
            owner=np.asarray(owner, dtype=np.int64)[surface],
            semantic=np.asarray(semantic, dtype=np.int8)[surface],
        )

    @classmethod
    def concat(cls, meshes: list[Mesh], /) -> Mesh:
        """The meshes as one (no vertex shared between them); an empty mesh for none.

        ``meshes`` is emptied as each is copied into the result, so that memory holds the
        result and one of them, not the result and all of them.

        Examples
        --------
        >>> import shapely
        >>> roof = shapely.Polygon([(0, 0, 9), (4, 0, 9), (4, 3, 9), (0, 3, 9)])
        >>> one = Mesh.from_surfaces(np.array([roof]), np.array([0]), np.array([2]))
        >>> both = Mesh.concat([one, one])
        >>> both.vertices.shape, both.triangles.max().item(), Mesh.concat([]).triangles.shape
        ((12, 3), 11, (0, 3))
        """
        n_vertices = sum(len(m.vertices) for m in meshes)
        n_triangles = sum(len(m.triangles) for m in meshes)
        out = cls(
            vertices=np.empty((n_vertices, 3)),
            triangles=np.empty((n_triangles, 3), dtype=np.int64),
            owner=np.empty(n_triangles, dtype=np.int64),
            semantic=np.empty(n_triangles, dtype=np.int8),
        )
        v = t = 0
        meshes.reverse()  # popped from the end, in order
        while meshes:
            m = meshes.pop()
            out.vertices[v : v + len(m.vertices)] = m.vertices
            at = slice(t, t + len(m.triangles))
            out.triangles[at] = m.triangles + v
            out.owner[at], out.semantic[at] = m.owner, m.semantic
            v, t = v + len(m.vertices), t + len(m.triangles)
        return out

    def __len__(self) -> int:
        return len(self.triangles)

    def area(self) -> NDArray[np.float64]:
        """Area (m²) of each triangle, ``(m,)``."""
        a, b, c = (self.vertices[self.triangles[:, i]] for i in range(3))
        return np.linalg.norm(np.cross(b - a, c - a), axis=1) / 2.0

    def local(self, origin: NDArray[np.float64]) -> NDArray[np.float32]:
        """Vertices minus ``origin`` as float32, for rendering without jitter."""
        return (self.vertices - np.asarray(origin, dtype=np.float64)).astype(np.float32)

    def save(self, path: Path, /, *, stamp: str) -> None:
        """Cache the mesh in an ``.npz`` file, written atomically, keyed by ``stamp``.

        A cache that cannot be written (a read-only folder) is simply not written.
        """
        try:
            with atomic(path) as tmp, tmp.open("wb") as f:
                np.savez(
                    f,
                    stamp=np.array(stamp),
                    vertices=self.vertices,
                    triangles=self.triangles,
                    owner=self.owner,
                    semantic=self.semantic,
                )
        except OSError:
            return

    @classmethod
    def load(cls, path: Path, /, *, stamp: str) -> Mesh | None:
        """The mesh cached at ``path`` if its stamp matches, else ``None``."""
        try:
            with np.load(path) as data:
                if str(data["stamp"]) != stamp:
                    return None
                return cls(
                    vertices=data["vertices"],
                    triangles=data["triangles"],
                    owner=data["owner"],
                    semantic=data["semantic"],
                )
        except (OSError, KeyError, ValueError):
            return None
