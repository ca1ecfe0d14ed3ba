"""What the packages installed with twin add to its command line, found through entry points.

Two entry-point groups, declared in ``pyproject.toml`` (rasterio declares the commands of
``rio`` the same way, and its plugins join them so):

``twin.commands``
    command name -> click command: twin's own commands and those of ``ingest`` (``sample``,
    ``build``) and ``viewer`` (``view``, ``render``), which ``twin`` never imports itself.
``twin.renderers``
    picture name -> function drawing it: ``trench``, the 3D snapshot of ``twin dig check
    --out`` (:func:`viewer.render.trench_snapshot`).

An entry point that needs an optional part of twin names its extra (``... [viewer]``), so that
a missing module is reported with the command that installs it. A command's module is imported
only when the command is called or listed by ``twin --help``.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import click

COMMANDS = "twin.commands"
RENDERERS = "twin.renderers"


def entry_points(group: str, /) -> dict[str, metadata.EntryPoint]:
    """The entry points of ``group`` by name (the first installation of twin on the path wins,
    as for any import)."""
    return {entry.name: entry for entry in metadata.entry_points(group=group)}


def missing(entry: metadata.EntryPoint, exc: ModuleNotFoundError, /, *, what: str) -> str:
    """The message for ``what`` (``twin render``, say) when ``entry`` cannot be imported for
    want of the module ``exc`` names: the extra to install, where the entry point names one.

    Examples
    --------
    >>> entry = metadata.EntryPoint("render", "viewer.cli.render:render [viewer]", "twin.commands")
    >>> missing(entry, ModuleNotFoundError("No module named 'pyvista'", name="pyvista"),
    ...         what="twin render")
    "twin render needs the viewer extra (no module pyvista): pip install 'twin[viewer]'"
    """
    if entry.extras:
        extras = ",".join(entry.extras)
        return (
            f"{what} needs the {extras} extra (no module {exc.name}): pip install 'twin[{extras}]'"
        )
    return f"{what} cannot run: {exc}; reinstall twin (pip install twin)"


def renderer(name: str, /) -> tuple[Any | None, str | None]:
    """The renderer ``name`` of the ``twin.renderers`` group, or ``None`` and the reason why
    there is none (the viewer extra not installed, say)."""
    entry = entry_points(RENDERERS).get(name)
    if entry is None:
        return None, f"no {name} renderer is installed: pip install 'twin[viewer]'"
    try:
        return entry.load(), None
    except ModuleNotFoundError as exc:
        return None, missing(entry, exc, what=f"the {name} picture")


class Unavailable(click.Command):
    """A command whose module cannot be imported: listed with the reason, failing with it
    whatever its arguments (click-plugins' ``BrokenCommand`` does the same for ``rio``)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(
            name,
            help=reason,
            short_help=f"(unavailable: {reason})",
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
            add_help_option=False,
        )
        self.reason = reason

    def invoke(self, ctx: click.Context) -> None:
        raise click.ClickException(self.reason)


def _commands() -> dict[str, metadata.EntryPoint]:
    """The entry points of ``twin.commands``; none means an installation made before they
    were declared (its metadata is what Python reads), which a reinstall mends."""
    found = entry_points(COMMANDS)
    if not found:
        raise click.ClickException(
            "no twin commands are registered: the installation's metadata predates them; "
            "reinstall twin (pip install -e . in a checkout)"
        )
    return found


class PluginGroup(click.Group):
    """A click group whose commands are the entry points of ``twin.commands``, each imported
    when it is called, or listed by ``--help``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_commands())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _commands().get(cmd_name)
        if entry is None:
            return None
        try:
            return entry.load()
        except ModuleNotFoundError as exc:
            return Unavailable(cmd_name, missing(entry, exc, what=f"twin {cmd_name}"))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            # a command that imports its optional modules when called (twin render: PyVista)
            name = ctx.invoked_subcommand
            entry = entry_points(COMMANDS).get(name or "")
            if entry is None:
                raise
            raise click.ClickException(missing(entry, exc, what=f"twin {name}")) from exc
