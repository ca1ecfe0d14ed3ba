"""``twin serve``: the planner API (OGC API - Features and Processes) with uvicorn."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import click

from twin.cli.options import PORT, TwinLocation


@click.command()
@click.argument("twin_path", metavar="TWIN", type=TwinLocation(exists=True))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=PORT, help="Port (1-65535).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="api.toml: keys, roles, scopes, limits (docs/api.md).",
)
def serve(twin_path: Path | str, host: str, port: int, workers: int, config: Path | None) -> None:
    """Serve the twin TWIN (a GeoPackage, or postgresql://user@host/db?schema=twin) as OGC
    API - Features and Processes."""
    import uvicorn

    from twin.api import create_app

    check_listen(host, port)
    create_app(twin_path, config=config)  # fail here, with a clear message, on a bad twin
    if isinstance(twin_path, Path):
        os.environ["TWIN_API_TWIN"], shown = str(twin_path.resolve()), str(twin_path)
    else:
        from twin.store.postgis_db import Database

        os.environ["TWIN_API_TWIN"], shown = twin_path, Database.parse(twin_path).shown
    os.environ["TWIN_API_CONFIG"] = str(config.resolve()) if config else ""
    click.echo(f"serving {shown} on http://{host}:{port}/ (Ctrl+C stops)")
    uvicorn.run(
        "twin.api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        timeout_graceful_shutdown=5,
        # the app reads X-Forwarded-* itself, from the proxies api.toml trusts only
        proxy_headers=False,
    )


def check_listen(host: str, port: int, /) -> None:
    """Fail with a clear message, before the twin is opened, when the server could not
    listen on ``host``:``port`` (an address not of this machine, a port in use or reserved).

    The socket is bound as uvicorn binds it (``SO_REUSEADDR``) and closed again.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise click.ClickException(f"--host {host}: not an address to listen on: {exc}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            hint = (
                ": another program listens there; stop it or give another --port"
                if exc.errno == errno.EADDRINUSE
                else ""
            )
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}"
            ) from None
