"""The solids of every LoD, from the footprints and the heights measured for them.

Modules: :mod:`ingest.reconstruct.lod12` (each building's ground and roof height: LoD1.2),
:mod:`ingest.reconstruct.lod13` (footprints split where the roof steps),
:mod:`ingest.reconstruct.lod22` (roofs from LiDAR planes, with the LoD1.3 / LoD1.2
fallback, see ``docs/lidar.md``), with the steps of LoD2.2 in
:mod:`ingest.reconstruct.planes` (plane detection) and :mod:`ingest.reconstruct.regularise`
(roof type and regular planes); shared by LoD1.3 and LoD2.2:
:mod:`ingest.reconstruct.partition` (footprints partitioned among planes or height levels)
and :mod:`ingest.reconstruct.roofs` (closed solids from a partition); shared by all three:
:mod:`ingest.reconstruct.solids` (extruded blocks on flat or sloped bases, and a LoD's
solids with their check and the block fallback).
"""
