"""The ground height of each building, from the first source that has one.

The sources, best first: LiDAR ground points near the footprint, the DTM, surveyed ground
points nearby, a coarse DEM (``[sources.dem]``) and a constant (``[lod1] ground_z``). Each
building records the source used (``ground_method``) and, when a better one had nothing for
it, why (in ``height_fallback_reason``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray

from ingest.config import Lod1Options
from ingest.issues import IssueLog
from ingest.zonal import zonal_stats

NO_SOURCE = "no terrain source (DTM, LiDAR, survey, [sources.dem] or [lod1] ground_z)"
"""The reason of a building without ground when the build has no terrain source at all."""


def raster_ground(
    geoms: NDArray[np.object_],
    raster: Path,
    options: Lod1Options,
    /,
    *,
    label: str,
    progress: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.object_]]:
    """Ground height per footprint: a low percentile of a terrain raster in and around it.

    The pixels are those of the footprint grown by ``ground_buffer`` metres, so a building on
    a slope takes the ground at its lower side, as a surveyor would. A raster coarser than
    the footprint gives the pixel under it (:func:`ingest.zonal.pixels_inside`).

    Parameters
    ----------
    geoms : (n,) object
        Footprints (``None`` for a missing one).
    raster
        A single-band terrain raster in the project CRS.
    options
        ``ground_buffer`` and ``ground_percentile`` of ``[lod1]``.
    label
        The raster in the reasons (``"DTM"``).

    Returns
    -------
    z : (n,) float
        The heights, NaN where the raster has nothing.
    why : (n,) object
        Where ``z`` is NaN: the raster has only no-data there, or the footprint lies outside.
    """
    grown = shapely.buffer(geoms, options.ground_buffer, join_style="bevel")
    stats = zonal_stats(raster, grown, [options.ground_percentile], progress=progress)
    why = np.where(
        stats.nodata > 0, f"{label} no-data around the footprint", f"footprint outside the {label}"
    ).astype(object)
    z = stats.percentiles[options.ground_percentile]
    why[np.isfinite(z)] = None
    return z, why


class Ground:
    """Ground heights being chosen: each source offered in turn fills the buildings still
    without one.

    Parameters
    ----------
    geoms : (n,) object
        The footprints; a missing one never gets a ground height.

    Attributes
    ----------
    z : (n,) float
        The heights so far (NaN: none yet).
    method : (n,) object
        The source of each (``None``: none yet).

    Examples
    --------
    >>> g = Ground(np.array([shapely.box(0, 0, 1, 1), shapely.box(5, 0, 6, 1)]))
    >>> g.offer("dtm", np.array([445.2, np.nan]), "footprint outside the DTM")
    >>> g.offer("constant", np.array([445.0, 445.0]), "")
    >>> g.z.tolist(), g.method.tolist(), g.reasons().tolist()
    ([445.2, 445.0], ['dtm', 'constant'], [None, 'ground: footprint outside the DTM'])
    """

    def __init__(self, geoms: NDArray[np.object_], /) -> None:
        n = len(geoms)
        self.z = np.full(n, np.nan)
        self.method = np.full(n, None, dtype=object)
        self._present = ~shapely.is_missing(geoms)
        self._notes = IssueLog(n)
        self._offered = False

    @property
    def missing(self) -> NDArray[np.bool_]:
        """The footprints still without a ground height."""
        return self._present & np.isnan(self.z)

    def offer(self, method: str, z: NDArray[np.float64], why: str | NDArray[np.object_], /) -> None:
        """Give the buildings still without ground the heights ``z`` ``(n,)`` of a source
        where it has them; record ``why`` (one text, or one per building) for the others."""
        gap = self.missing
        use = gap & np.isfinite(z)
        self.z[use] = z[use]
        self.method[use] = method
        missed = np.flatnonzero(gap & ~use)
        texts = np.broadcast_to(np.asarray(why, dtype=object), self.z.shape)[missed]
        self._notes.add_many(missed, [f"ground: {t}" for t in texts])
        self._offered = True

    def reasons(self) -> NDArray[np.object_]:
        """Per building, why the better sources gave no ground (``None``: the first did)."""
        if not self._offered:
            return np.where(self._present, f"ground: {NO_SOURCE}", None).astype(object)
        return self._notes.texts()
