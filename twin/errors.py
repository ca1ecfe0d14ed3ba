"""The one exception hierarchy of twin.

Every error the toolkit raises on purpose derives from :class:`TwinError`, mixed with the
builtin it resembles (the rasterio pattern), so callers can catch either.
"""

from __future__ import annotations

from pathlib import Path


class TwinError(Exception):
    """Root of all errors raised by twin."""


class InputError(TwinError, ValueError):
    """A source file or parameter is unusable; the message names the file, feature and problem.

    ``path`` is the file the error is about when the raiser knows it (its message then starts
    with it): a caller that names its own input in front of an error without one leaves such
    an error as it is.
    """

    def __init__(self, message: str, /, *, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else Path(path)


class CRSError(InputError):
    """A coordinate reference system is missing, unknown or unsuitable for measuring."""


class ConfigError(InputError):
    """A build configuration is invalid."""


class StoreError(TwinError, OSError):
    """A twin store cannot be read or written."""


class OutputError(TwinError, OSError):
    """An output cannot be written where it was asked for (it is one of the inputs, it is
    something else that exists, or its folder cannot take it); the message names the path and
    the problem."""


class TwinWarning(UserWarning):
    """Root of all warnings issued by twin."""


class DataQualityWarning(TwinWarning):
    """Input data is flawed but usable; the message says what was repaired or left out."""
