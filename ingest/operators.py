"""The operators table: who to ask about a utility line (a table without geometry).

One row per network operator, keyed by the name the ``utilities`` layer uses in its
``operator`` column; read from a CSV file or a table of a GeoPackage (any format OGR reads).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyogrio

from ingest.config import Source
from twin.errors import InputError
from twin.vector import read_table

#: the columns of the ``operators`` layer; ``operator`` is required, the others may be empty
COLUMNS = ("operator", "department", "phone", "email", "emergency_phone", "web")


def read_operators(source: Source, /) -> pd.DataFrame:
    """Read and check an operators table.

    The columns :data:`COLUMNS` become text without surrounding blanks, empty cells null;
    missing optional ones are added, empty. Further columns are kept as read; a geometry,
    should the layer have one, is dropped.

    Parameters
    ----------
    source
        The ``[sources.operators]`` section: ``path`` and optionally ``layer`` and
        ``encoding`` (of its text; see :mod:`twin.vector`).

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS` first, then any further columns of the file, in file order.

    Raises
    ------
    InputError
        An unreadable file or unknown layer, text not in its declared encoding (naming the
        line or feature, the field and the byte), a table without an ``operator`` column, rows
        without an operator name, or operator names given more than once (naming the rows:
        lines of a CSV file, feature ids of other formats).
    """
    path, layer = source.path, source.options.get("layer")
    try:
        layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
        if layer is not None and layer not in layers:
            raise InputError(f"{path}: operators: no layer {layer!r} (layers: {', '.join(layers)})")
        frame = read_table(
            path,
            layer=layer,
            what="operators",
            encoding=source.options.get("encoding"),
            read_geometry=False,
            fid_as_index=True,
        )
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise InputError(f"{path}: cannot read the operators table: {exc}") from exc
    if "operator" not in frame.columns:
        raise InputError(
            f"{path}: the operators table has no 'operator' column "
            f"(it has: {', '.join(map(str, frame.columns)) or 'none'})"
        )
    for column in COLUMNS:  # text, as the utilities name their operators
        text = frame[column] if column in frame.columns else pd.Series(None, index=frame.index)
        frame[column] = text.astype("str").str.strip().replace("", None)
    csv = path.suffix.lower() == ".csv"
    rows = frame.index.to_numpy() + (1 if csv else 0)  # a CSV's first record is its line 2
    unit = "line" if csv else "feature"
    missing = frame["operator"].isna().to_numpy()
    if missing.any():
        raise InputError(f"{path}: no operator name in {_rows(unit, rows[missing])}")
    repeated = frame["operator"].duplicated(keep=False).to_numpy()
    if repeated.any():
        names = frame["operator"][repeated]
        clashes = "; ".join(
            f"{name!r} in {_rows(unit, rows[repeated][(names == name).to_numpy()])}"
            for name in dict.fromkeys(names)
        )
        raise InputError(f"{path}: operator names must be unique: {clashes}")
    rest = [c for c in frame.columns if c not in COLUMNS]
    return frame[[*COLUMNS, *rest]].reset_index(drop=True)


def _rows(unit: str, rows: np.ndarray) -> str:
    """``"line 4"`` or ``"lines 2, 5"`` (at most ten, then how many more)."""
    shown = ", ".join(str(int(r)) for r in rows[:10])
    more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
    return f"{unit}{'s' if len(rows) > 1 else ''} {shown}{more}"


def unlisted_operators(operators: pd.DataFrame, layers: dict[str, pd.DataFrame], /) -> list[str]:
    """Notes on the operators that the ``utilities`` or ``planned_works`` of a build name and
    the operators table lacks (the build issues each as a warning, kept in its run record).

    Examples
    --------
    >>> table = pd.DataFrame({"operator": ["Wasser"]})
    >>> lines = pd.DataFrame({"operator": ["Wasser", "Gas", None]})
    >>> unlisted_operators(table, {"utilities": lines})
    ["operators: no row for 'Gas', named in utilities"]
    """
    known = set(operators["operator"])
    notes = []
    for name in ("utilities", "planned_works"):
        frame = layers.get(name)
        if frame is None or "operator" not in frame.columns:
            continue
        missing = sorted(set(frame["operator"].dropna().unique()) - known)
        if missing:
            notes.append(f"operators: no row for {', '.join(map(repr, missing))}, named in {name}")
    return notes
