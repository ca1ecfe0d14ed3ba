"""The ``twin`` command line: one module per command, loaded only when called.

The commands are the entry points of the ``twin.commands`` group (:mod:`twin.cli.plugins`):
twin's own and those of ``ingest`` and ``viewer``, which ``twin`` never imports, so that
``twin info`` does not pay for the point-cloud or rendering stacks (rasterio's ``rio`` works
the same way).
"""

from __future__ import annotations

import warnings

import click

from twin._version import __version__
from twin.cli.plugins import PluginGroup
from twin.errors import TwinError, TwinWarning


class TwinGroup(PluginGroup):
    """The ``twin`` group: errors raised on purpose end as one line, without a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TwinError as exc:
            # Errors we raise on purpose carry a message meant for the user: no traceback.
            raise click.ClickException(str(exc)) from exc


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """twin's own warnings as ``warning: <message>`` (they are meant for the user, as GDAL's
    ``Warning 1:`` lines are); any other warning as Python formats it."""
    if issubclass(category, TwinWarning):
        return f"warning: {message}\n"
    return _python_format_warning(message, category, filename, lineno, line)


_python_format_warning = warnings.formatwarning


@click.group(cls=TwinGroup)
@click.version_option(__version__, prog_name="twin")
def main() -> None:
    """twin: build, inspect and serve a digital-twin 3D city model."""
    warnings.formatwarning = _format_warning
