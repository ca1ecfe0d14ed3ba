"""LiDAR ingest: LAS/LAZ point clouds to terrain and per-building heights.

Modules: :mod:`ingest.lidar.read` (streaming in chunks, CRS and units),
:mod:`ingest.lidar.terrain` (a DTM from ground points), :mod:`ingest.lidar.stats`
(per-building point statistics) and :mod:`ingest.lidar.heights` (LoD1.2 heights from them).
"""
