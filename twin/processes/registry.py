"""The registry of processes: those twin ships, and any a caller adds."""

from __future__ import annotations

from twin.processes.process import Process

_REGISTRY: dict[str, Process] = {}
_loaded = False


def register(process: Process, /) -> Process:
    """Add a process to the registry (a repeated id replaces the earlier one, a shipped one
    included)."""
    _REGISTRY[process.id] = process
    return process


def processes() -> dict[str, Process]:
    """All registered processes by id, those twin ships first.

    Examples
    --------
    >>> list(processes())[:3]
    ['parcel-buildings', 'trench-check', 'works-coordination']
    """
    global _REGISTRY, _loaded
    if not _loaded:
        _REGISTRY = {p.id: p for p in _shipped()} | _REGISTRY
        _loaded = True
    return dict(_REGISTRY)


def _shipped() -> tuple[Process, ...]:
    """The processes twin ships, imported on the first call of :func:`processes`: their
    analyses pull in geopandas, scipy and rasterio, which a module that only imports the
    registry (the API's, before its first request) need not pay for."""
    from twin.processes import coordination, parcels, trench

    return parcels.PROCESS, trench.PROCESS, coordination.PROCESS
