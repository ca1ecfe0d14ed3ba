"""The embedded sample district: a small Klagenfurt-like city with every kind of source.

:func:`generate_sample` writes, for a seed, a cadastre, survey points, DTM/DSM, orthophoto,
LiDAR, utility networks, trees, planned and recent street works, the ground truth of every
building and a ``twin.toml`` that builds it; :func:`terrain_z` is its bare earth.
"""

from __future__ import annotations

from ingest.sample.generate import CRS_CODE, FILES, generate_sample
from ingest.sample.terrain import terrain_z

__all__ = ["CRS_CODE", "FILES", "generate_sample", "terrain_z"]
