"""LoD2.2 roofs from LiDAR points (see ``docs/lidar.md``).

Modules: :mod:`ingest.lod22.planes` (plane detection), :mod:`ingest.lod22.regularise`
(roof type and regular planes), :mod:`ingest.lod22.solid` (closed solids) and
:mod:`ingest.lod22.build` (every building, with checks and the LoD1.2 fallback).
"""
