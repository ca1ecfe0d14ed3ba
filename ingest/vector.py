"""Reading vector sources (any OGR format) into the project CRS."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import pyogrio
import pyproj

from twin.crs import horizontal, same_horizontal
from twin.errors import CRSError, InputError


def read_layer(
    path: Path,
    /,
    *,
    layer: str | None,
    target: pyproj.CRS | None,
    crs: pyproj.CRS | None = None,
    what: str,
    allow_empty: bool = False,
) -> gpd.GeoDataFrame:
    """Read one vector layer and reproject it to the project CRS.

    Parameters
    ----------
    path
        Any format OGR reads (GeoPackage, Shapefile, GeoJSON, SpatiaLite, ...).
    layer
        The layer; ``None`` takes the only (or first) one.
    target
        The project CRS; the result carries it (compound, with its vertical datum). ``None``
        keeps the source's CRS, for a caller that reprojects itself.
    crs
        The source's CRS from the config; it overrides the file's own, as ``ogr2ogr -s_srs``
        does, and is required when the file has none.
    what
        Names the source in messages (``"cadastre buildings"``).
    allow_empty
        Accept a layer without features.

    Raises
    ------
    InputError
        Unreadable file, unknown layer, an empty layer when not allowed, or coordinates that
        cannot be longitude and latitude in a geographic CRS.
    CRSError
        The file has no CRS and the config names none.
    """
    try:
        layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        raise InputError(f"{path}: cannot read {what}: {exc}") from exc
    if not layers:
        raise InputError(f"{path}: {what}: the file holds no layer")
    if layer is not None and layer not in layers:
        raise InputError(f"{path}: {what}: no layer {layer!r} (layers: {', '.join(layers)})")
    with warnings.catch_warnings():
        # GDAL's notices about the file (e.g. SpatiaLite metadata) are not the user's problem.
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            frame = pyogrio.read_dataframe(path, layer=layer or layers[0])
        except pyogrio.errors.DataLayerError as exc:
            raise InputError(f"{path}: cannot read {what}: {exc}") from exc
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{path}: {what}: layer {layer or layers[0]!r} has no geometry")
    if len(frame) == 0 and not allow_empty:
        raise InputError(f"{path}: {what}: layer {layer or layers[0]!r} has no features")
    if crs is not None:
        frame = frame.set_crs(crs, allow_override=True)
    elif frame.crs is None:
        raise CRSError(
            f'{path}: {what} has no CRS; name it in the config (crs = "EPSG:...") '
            "rather than have it guessed"
        )
    if horizontal(frame.crs).is_geographic and len(frame):
        _check_lonlat(frame, path, what)
    if target is None:
        return frame
    if not same_horizontal(frame.crs, target):
        frame = frame.to_crs(horizontal(target))
    return frame.set_crs(target, allow_override=True)


def _check_lonlat(frame: gpd.GeoDataFrame, path: Path, what: str) -> None:
    """Refuse coordinates in a geographic CRS that cannot be longitude and latitude
    (RFC 7946: |longitude| <= 180, |latitude| <= 90): they are projected coordinates in a file
    that does not say so, as a GeoJSON file always claims WGS 84."""
    xmin, ymin, xmax, ymax = frame.total_bounds
    if max(abs(xmin), abs(xmax)) > 180.0 or max(abs(ymin), abs(ymax)) > 90.0:
        raise InputError(
            f"{path}: {what}: coordinates up to ({max(abs(xmin), abs(xmax)):.0f}, "
            f"{max(abs(ymin), abs(ymax)):.0f}) cannot be longitude and latitude in "
            f"{frame.crs.name}; these look like projected coordinates: pass --crs (or name "
            'the crs in the config, crs = "EPSG:...")'
        )
