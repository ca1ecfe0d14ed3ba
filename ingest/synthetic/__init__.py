"""The synthetic sample district: a small made-up city around Klagenfurt's Neuer Platz,
generated from a seed, with every kind of source and the truth they were made from.

:func:`generate_district` writes, for a seed, a cadastre, survey points, DTM/DSM, orthophoto,
LiDAR, utility networks, trees, planned and recent street works, the ground truth of every
building and a ``twin.toml`` that builds it; :func:`terrain_z` is its bare earth.
"""

from __future__ import annotations

from ingest.synthetic.generate import CRS_CODE, FILES, generate_district
from ingest.synthetic.terrain import terrain_z

__all__ = ["CRS_CODE", "FILES", "generate_district", "terrain_z"]
