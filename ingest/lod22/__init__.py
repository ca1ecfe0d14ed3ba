"""LoD2.2 roofs from LiDAR points (see ``docs/lidar.md``).

Modules: :mod:`ingest.lod22.planes` (plane detection), :mod:`ingest.lod22.regularise`
(roof type and regular planes), :mod:`ingest.lod22.partition` (footprints partitioned among
planes or height levels), :mod:`ingest.lod22.solid` (closed solids from a partition) and
:mod:`ingest.lod22.build` (every building, with checks and the LoD1.3 / LoD1.2 fallback).
"""
