"""Roof planes in the points of one building: sequential RANSAC with a fixed seed.

Planes are written ``z = a·x + b·y + c`` (roofs are never vertical), as rows ``(a, b, c)``.
Each round scores a batch of candidate planes, drawn from point triples, against all points
at once, keeps the one with most inliers, refines it by least squares and removes its
points; rounds stop when what is left cannot hold a plane. The random generator is seeded
per call, so a building's planes depend on its points alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

#: candidate planes scored per round
HYPOTHESES = 256


@dataclass(frozen=True)
class Planes:
    """Planes found in a building's points.

    Attributes
    ----------
    coef : (p, 3) float
        ``(a, b, c)`` of each plane ``z = a·x + b·y + c``, most supported first.
    label : (k,) int
        The plane each point was assigned to, -1 for none.
    """

    coef: NDArray[np.float64]
    label: NDArray[np.intp]

    def support(self) -> NDArray[np.int64]:
        """Points per plane ``(p,)``."""
        return np.bincount(self.label[self.label >= 0], minlength=len(self.coef))


def distance(coef: NDArray[np.float64], xyz: NDArray[np.float64], /) -> NDArray[np.float64]:
    """Orthogonal distances ``(p, k)`` of ``k`` points from ``p`` planes ``(a, b, c)``.

    Examples
    --------
    >>> distance(np.array([[0.0, 0.0, 5.0]]), np.array([[1.0, 2.0, 5.5]])).tolist()
    [[0.5]]
    """
    a, b, c = np.atleast_2d(coef).T
    z = np.outer(a, xyz[:, 0]) + np.outer(b, xyz[:, 1]) + c[:, None]
    return np.abs(xyz[:, 2] - z) / np.sqrt(a * a + b * b + 1.0)[:, None]


def fit_plane(xyz: NDArray[np.float64], /) -> NDArray[np.float64]:
    """Least-squares plane ``(a, b, c)`` of the vertical residuals of ``(k, 3)`` points."""
    design = np.column_stack([xyz[:, 0], xyz[:, 1], np.ones(len(xyz))])
    coef, *_ = np.linalg.lstsq(design, xyz[:, 2], rcond=None)
    return coef


def detect(
    xyz: NDArray[np.float64],
    /,
    *,
    threshold: float = 0.15,
    min_points: int = 15,
    max_planes: int = 6,
    seed: int = 0,
    connect: float | None = None,
) -> Planes:
    """Find the planes of a roof in its points.

    Parameters
    ----------
    xyz : (k, 3) float
        The building's roof points, in a local frame (metres; centred near the building).
    threshold
        Largest distance (m) of an inlier from its plane.
    min_points
        Fewest inliers of a plane.
    max_planes
        Most planes to look for.
    seed
        Seed of the generator drawing the triples.
    connect
        Cell (m) of the grid on which a plane's inliers must be connected: only the largest
        8-connected patch of them is kept, the rest go back to the pool (``None``: no check).

    Returns
    -------
    Planes

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x, y = rng.uniform(-5, 5, (2, 400))
    >>> z = 10.0 + 0.5 * np.minimum(4 - np.abs(y), 4)  # a gable along x, ridge at y = 0
    >>> planes = detect(np.column_stack([x, y, z]))
    >>> np.round(np.sort(planes.coef[:, 1]), 1).tolist()
    [-0.5, 0.5]
    """
    rng = np.random.default_rng(seed)
    label = np.full(len(xyz), -1, np.intp)
    found: list[NDArray[np.float64]] = []
    left = np.arange(len(xyz))
    while len(found) < max_planes and len(left) >= max(min_points, 3):
        pts = xyz[left]
        triples = rng.integers(0, len(pts), (HYPOTHESES, 3))
        design = np.concatenate([pts[triples][:, :, :2], np.ones((HYPOTHESES, 3, 1))], axis=2)
        ok = np.abs(np.linalg.det(design)) > 1e-6
        if not ok.any():
            break
        coef = np.linalg.solve(design[ok], pts[triples[ok]][:, :, 2:])[:, :, 0]
        coef = coef[np.hypot(coef[:, 0], coef[:, 1]) < 3.0]  # steeper than 72°: a wall
        if not len(coef):
            break
        best = coef[np.argmax((distance(coef, pts) <= threshold).sum(axis=1))]
        for _ in range(2):  # refine on the inliers, then take the inliers of the refined plane
            inliers = distance(best, pts)[0] <= threshold
            if inliers.sum() < max(min_points, 3):
                break
            best = fit_plane(pts[inliers])
        inliers = distance(best, pts)[0] <= threshold
        if connect is not None and inliers.any():
            inliers &= _largest_patch(xyz[left, :2], inliers, connect)
        if inliers.sum() < min_points:
            break
        label[left[inliers]] = len(found)
        found.append(best)
        left = left[~inliers]
    return Planes(coef=np.array(found).reshape(-1, 3), label=label)


def _largest_patch(
    xy: NDArray[np.float64], chosen: NDArray[np.bool_], cell: float, /
) -> NDArray[np.bool_]:
    """Of the ``chosen`` points ``(k, 2)``, those in the largest 8-connected patch of cells."""
    ij = np.floor((xy - xy.min(axis=0)) / cell).astype(np.intp)
    grid = np.zeros(tuple(ij.max(axis=0) + 1), bool)
    grid[ij[chosen, 0], ij[chosen, 1]] = True
    patches, _ = ndimage.label(grid, structure=np.ones((3, 3)))
    own = patches[ij[:, 0], ij[:, 1]]
    size = np.bincount(own[chosen], minlength=own.max() + 1)
    size[0] = 0
    return chosen & (own == np.argmax(size))
