"""LiDAR heights in a build: the terrain, ground and LoD1.2 roof heights from point clouds.

Point heights rank below surveyed eave and ridge points and above the DSM and attributes:
survey, LiDAR, DSM, height attribute, storeys attribute. Ground heights from ground points
within ``ground_distance`` of the footprint take precedence over the DTM's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
from numpy.typing import NDArray

from ingest.config import LidarOptions
from ingest.issues import note
from ingest.lidar.read import PartWork, PointCloud
from ingest.lidar.stats import ROOF_PERCENTILES, PointStats, point_stats
from ingest.lidar.terrain import dtm_from_points
from ingest.reconstruct.lod12 import RoofSource
from twin.terrain import Terrain


@dataclass(frozen=True)
class LidarHeights:
    """The point clouds of a build and the statistics of its footprints.

    Attributes
    ----------
    clouds
        The clouds (one per file).
    terrain
        The DTM given, or the one made from the ground points.
    stats
        Per-building point statistics.
    terrain_made
        Whether ``terrain`` was made here from the ground points (no DTM was given).
    """

    clouds: list[PointCloud]
    terrain: Terrain
    stats: PointStats
    terrain_made: bool

    @classmethod
    def measure(
        cls,
        clouds: list[PointCloud],
        crs: pyproj.CRS,
        geoms: NDArray[np.object_],
        /,
        *,
        terrain: Terrain | None,
        options: LidarOptions,
        roof_percentile: float,
        scratch: Path,
        footprints: NDArray[np.object_] | None = None,
        cluster: Callable[[PartWork[Any], Sequence[PointCloud], int], Iterable[Any]] | None = None,
    ) -> LidarHeights:
        """Make a DTM from ``clouds`` when none is given, and measure the footprints.

        A cloud without a vertical CRS (its heights taken as the project's) is noted with a
        :class:`~twin.errors.DataQualityWarning`, for the run record.

        Parameters
        ----------
        clouds
            The clouds of the ``[sources.lidar]`` section, opened
            (:func:`~ingest.lidar.read.open_clouds`).
        crs
            The project CRS.
        geoms : (n,) object
            Footprints in the project CRS.
        terrain
            The build's DTM, or ``None`` to make one from the ground points at ``scratch``.
        options
            The ``[lidar]`` options.
        roof_percentile
            The LoD1.2 roof percentile (``[lod1] roof_percentile``).
        scratch
            Where to write a DTM made from the points.
        footprints : (m,) object, optional
            The footprints a DTM made from unclassified points leaves out
            (:func:`~ingest.lidar.terrain.dtm_from_points`); by default ``geoms``.
        cluster
            Does the work on the points part by part on a cluster
            (:func:`ingest.distributed.by_parts`): the statistics' and the DTM's.
        """
        unlabelled = [cloud.path.name for cloud in clouds if not cloud.vertical_given]
        if unlabelled:  # one warning for a folder of tiles, naming the first three
            named = ", ".join(unlabelled[:3])
            more = f" and {len(unlabelled) - 3} more" if len(unlabelled) > 3 else ""
            note(f"{named}{more}: no vertical CRS; heights taken as the project's")
        made = terrain is None
        if made:
            terrain = dtm_from_points(
                clouds,
                scratch,
                crs,
                resolution=options.dtm_resolution,
                footprints=geoms if footprints is None else footprints,
                chunk_size=options.chunk_size,
                cluster=cluster,
            )
        stats = point_stats(
            clouds,
            geoms,
            percentiles=sorted({*ROOF_PERCENTILES, float(roof_percentile)}),
            ground_percentile=options.ground_percentile,
            ground_distance=options.ground_distance,
            dtm=terrain,
            min_height=options.min_height,
            cell=options.nodata_cell,
            chunk_size=options.chunk_size,
            sampling=options.roof_sampling,
            cluster=cluster,
        )
        return cls(clouds=clouds, terrain=terrain, stats=stats, terrain_made=made)

    def roofs(self) -> RoofSource:
        """The roof heights of the points, for :func:`ingest.reconstruct.lod12.lift`, with
        their attributes."""
        s = self.stats
        columns = {
            "roof_z_p98": s.roof.percentiles[98.0],
            "roof_points": s.roof.count,
            "roof_points_source": s.roof_source,
            "ground_points": s.ground_points,
            "point_density": s.density,
            "nodata_radius": s.nodata_radius,
        }
        return RoofSource("lidar", "LiDAR", s.roof, s.nodata_fraction, columns)
