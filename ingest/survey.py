"""Survey points (CSV: point number, X, Y, Z, code) with a code table, attached to buildings."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from ingest.config import Source
from twin.crs import transformer
from twin.errors import CRSError, DataQualityWarning, InputError
from twin.vector import read_text

MEANINGS = ("eave", "ridge", "ground", "manhole_cover", "tree")
"""What a survey code can mean; codes map to these through the code table."""

COLUMNS = ("point_no", "x", "y", "z", "code")


def read_codes(path: Path, /, *, encoding: str | None = None) -> dict[str, str]:
    """Read a code table (``code,meaning,description``) into ``{code: meaning}``.

    ``encoding`` is that of its text (from the config; ``None``: UTF-8, else detected, see
    :func:`twin.vector.read_text`).

    Raises
    ------
    InputError
        On an unreadable file, text not in its encoding (naming line, field and byte), a
        missing column or a meaning outside :data:`MEANINGS`.
    """
    try:
        text = read_text(path, what="survey code table", encoding=encoding)
        table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: cannot read survey code table: {exc}") from exc
    missing = {"code", "meaning"} - set(table.columns)
    if missing:
        raise InputError(f"{path}: survey code table lacks column(s) {sorted(missing)}")
    bad = table.loc[~table["meaning"].isin(MEANINGS)]
    if len(bad):
        row = bad.index[0]
        raise InputError(
            f"{path}, line {row + 2}: code {bad['code'].iloc[0]!r} has meaning "
            f"{bad['meaning'].iloc[0]!r}; known meanings: {', '.join(MEANINGS)}"
        )
    return dict(zip(table["code"], table["meaning"], strict=True))


def read_points(source: Source, target: pyproj.CRS, /) -> gpd.GeoDataFrame:
    """Read survey points into PointZ in the project CRS with each point's ``meaning``.

    Heights are taken as given: they must be in the project's vertical datum. Points whose
    code is not in the table keep ``meaning = None`` and are not used for heights. The
    ``encoding`` of the source's section is that of the points and the code table (``None``:
    UTF-8, else detected, see :func:`twin.vector.read_text`).

    Raises
    ------
    InputError
        On an unreadable file, text not in its encoding (naming line, field and byte), a
        missing column, or a non-numeric coordinate (naming the line).
    CRSError
        When the config names no CRS for the file (CSV carries none).
    """
    path, encoding = source.path, source.options.get("encoding")
    try:
        text = read_text(path, what="survey points", encoding=encoding)
        table = pd.read_csv(io.StringIO(text), dtype={"code": str, "point_no": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: cannot read survey points: {exc}") from exc
    missing = set(COLUMNS) - set(table.columns)
    if missing:
        raise InputError(f"{path}: survey points lack column(s) {sorted(missing)}")
    if len(table) == 0:
        raise InputError(f"{path}: survey file has no points")
    xyz = table[["x", "y", "z"]].apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(xyz.to_numpy(dtype=float)).all(axis=1)  # text, empty, NaN, inf
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}, line {row + 2} (point {table['point_no'].iloc[row]}): "
            "x, y and z must be finite numbers"
        )
    if source.crs is None:
        raise CRSError(f'{path}: a CSV carries no CRS; name it with crs = "EPSG:..."')
    x, y = xyz["x"].to_numpy(), xyz["y"].to_numpy()
    move = transformer(source.crs, target)
    if move is not None:
        x, y = move.transform(x, y)
    codes = {}
    if "codes" in source.options:
        codes = read_codes(source.options["codes"], encoding=encoding)
        _warn_unknown_codes(path, table["code"], codes)
    _warn_repeated(path, table["point_no"])
    return gpd.GeoDataFrame(
        {
            "point_no": table["point_no"].to_numpy(),
            "code": table["code"].to_numpy(),
            "meaning": table["code"].map(codes).to_numpy(),
        },
        geometry=shapely.points(x, y, xyz["z"].to_numpy()),
        crs=target,
    )


def _warn_repeated(path: Path, numbers: pd.Series, /) -> None:
    """Warn of point numbers given to more than one point (all are kept: a point number
    names one point, so the survey or its export has a mistake)."""
    twice = (numbers.duplicated(keep=False) & numbers.notna()).to_numpy()
    repeated = numbers[twice]
    if len(repeated):
        lines = (np.flatnonzero(twice) + 2).tolist()  # line 1 is the header
        shown = ", ".join(f"{n} (line {line})" for n, line in zip(repeated, lines, strict=True))
        warnings.warn(
            DataQualityWarning(
                f"{path}: {repeated.nunique()} point number(s) given to more than one point, "
                f"all kept: {shown[:300]}"
            ),
            stacklevel=3,
        )


def _warn_unknown_codes(path: Path, codes: pd.Series, table: dict[str, str], /) -> None:
    """Warn of points whose code the code table lacks (they are kept, not used for heights)."""
    unknown = codes[~codes.isin(list(table)) & codes.notna()]
    if len(unknown):
        names = ", ".join(sorted(map(repr, unknown.unique()))[:10])
        warnings.warn(
            DataQualityWarning(
                f"{path}: {len(unknown)} point(s) with code(s) the code table lacks ({names}): "
                "kept, not used for heights"
            ),
            stacklevel=3,
        )


def attach(points: gpd.GeoDataFrame, footprints: gpd.GeoSeries, /, *, snap: float) -> pd.Series:
    """The row index of the footprint each eave or ridge point belongs to (-1 for none).

    A point belongs to a footprint it lies in or within ``snap`` metres of. A point that fits
    several (a corner on a shared wall) is ambiguous and belongs to none.
    """
    owner = np.full(len(points), -1, dtype=np.int64)
    use = np.flatnonzero(points["meaning"].isin(["eave", "ridge"]).to_numpy())
    tree = shapely.STRtree(footprints.to_numpy())
    hit_point, hit_building = tree.query(
        points.geometry.to_numpy()[use], predicate="dwithin", distance=snap
    )
    hits = np.bincount(hit_point, minlength=len(use))
    unique = hits[hit_point] == 1
    owner[use[hit_point[unique]]] = hit_building[unique]
    return pd.Series(owner, index=points.index)


def survey_heights(points: gpd.GeoDataFrame, owner: pd.Series, n_buildings: int, /) -> pd.DataFrame:
    """Per building: median surveyed eave and ridge heights and the number of points used.

    Returns a frame of ``n_buildings`` rows with ``eave_z_survey``, ``ridge_z_survey`` (NaN
    where not surveyed) and ``survey_points``.
    """
    z = shapely.get_z(points.geometry.to_numpy())
    frame = pd.DataFrame({"owner": owner.to_numpy(), "meaning": points["meaning"], "z": z})
    frame = frame[frame["owner"] >= 0]
    median = frame.pivot_table(index="owner", columns="meaning", values="z", aggfunc="median")
    out = pd.DataFrame(index=pd.RangeIndex(n_buildings))
    for meaning in ("eave", "ridge"):
        column = median[meaning] if meaning in median else pd.Series(dtype=float)
        out[f"{meaning}_z_survey"] = column.reindex(out.index).to_numpy(dtype=float)
    out["survey_points"] = frame.groupby("owner").size().reindex(out.index, fill_value=0)
    return out


def ground_heights(
    points: gpd.GeoDataFrame, footprints: gpd.GeoSeries, /, *, distance: float
) -> NDArray[np.float64]:
    """Per footprint: the 10th percentile of surveyed ground points within ``distance`` m.

    Where no DTM covers a building, the ground points a surveyor took along the street give
    its ground height. NaN where there is no ground point that close.
    """
    use = np.flatnonzero((points["meaning"] == "ground").to_numpy())
    out = np.full(len(footprints), np.nan)
    if use.size == 0:
        return out
    tree = shapely.STRtree(points.geometry.to_numpy()[use])
    building, point = tree.query(footprints.to_numpy(), predicate="dwithin", distance=distance)
    z = shapely.get_z(points.geometry.to_numpy()[use][point])
    low = pd.Series(z).groupby(building).quantile(0.1)
    out[low.index.to_numpy()] = low.to_numpy()
    return out
