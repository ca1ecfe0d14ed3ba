"""The ``twin`` command line: one module per command, loaded only when called.

Commands that live in ``ingest`` or ``viewer`` are imported lazily so that ``twin info`` does
not pay for the point-cloud or rendering stacks (rasterio's ``rio`` works the same way).
"""

from __future__ import annotations

import importlib
import warnings

import click

from twin._version import __version__
from twin.errors import TwinError, TwinWarning

#: command name -> "module:attribute" of its click command
COMMANDS: dict[str, str] = {
    "sample": "twin.cli.sample:sample",
    "build": "twin.cli.build:build",
    "info": "twin.cli.info:info",
    "view": "twin.cli.view:view",
    "render": "twin.cli.render:render",
    "validate": "twin.cli.validate:validate",
    "serve": "twin.cli.serve:serve",
    "dig": "twin.cli.dig:dig",
    "import": "twin.cli.import_:import_",
    "export": "twin.cli.export:export",
}


class LazyGroup(click.Group):
    """A click group that imports each command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

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


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="twin")
def main() -> None:
    """twin: build, inspect and serve a digital-twin 3D city model."""
    warnings.formatwarning = _format_warning
