"""Messages about features, collected per row and stored as one text column, and the notes
of a run."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from twin.errors import DataQualityWarning, TwinWarning


class IssueLog:
    """Collects messages per row and joins them into one text column."""

    def __init__(self, n: int, /) -> None:
        self._rows: list[int] = []
        self._texts: list[str] = []
        self._n = n

    def add(self, row: int, text: str, /) -> None:
        """Record ``text`` for ``row``."""
        self._rows.append(int(row))
        self._texts.append(text)

    def add_many(self, rows: NDArray[np.integer], texts: list[str] | NDArray, /) -> None:
        """Record one text per row."""
        self._rows.extend(int(r) for r in rows)
        self._texts.extend(str(t) for t in texts)

    def texts(self) -> NDArray[np.object_]:
        """One entry per row: its messages joined by ``"; "``, or ``None``."""
        out = np.full(self._n, None, dtype=object)
        if self._rows:
            joined = pd.Series(self._texts).groupby(np.asarray(self._rows)).agg("; ".join)
            out[joined.index.to_numpy()] = joined.to_numpy()
        return out


def note(message: str, /, *, category: type[TwinWarning] = DataQualityWarning) -> None:
    """Issue ``message`` as a warning of ``category``: it shows on standard error as the build
    runs, and :func:`collected` puts it in the run's warnings (the ``runs`` layer)."""
    warnings.warn(category(message), stacklevel=3)


@contextlib.contextmanager
def collected(log: list[str], /) -> Iterator[list[str]]:
    """Append to ``log`` every :class:`TwinWarning` issued inside the block, by the build or
    by any reader it calls, while still showing it as usual.

    The run record and standard error thus get the same warnings through one channel (the
    warnings module). Python shows a warning of the same text from the same place once per
    block (its ``"default"`` action), so the record holds each once.
    """
    with warnings.catch_warnings():
        show = warnings.showwarning

        def record(message, category, filename, lineno, file=None, line=None) -> None:
            if issubclass(category, TwinWarning):
                log.append(str(message))
            show(message, category, filename, lineno, file, line)

        warnings.showwarning = record
        yield log
