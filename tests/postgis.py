"""A throwaway PostgreSQL server with PostGIS for the test run, on 127.0.0.1.

``make test`` installs PostgreSQL and PostGIS from Debian's packages where missing
(``tools/install-test-deps.sh``); :class:`Cluster` makes a new cluster in a temporary folder,
starts it on a free port, and stops and removes it at the end of the run. As root (a CI
container), the server runs as Debian's ``postgres`` user, since PostgreSQL refuses root.
Durability is off (``fsync``, ``synchronous_commit``, ``full_page_writes``): a test server
that loses its data in a power cut loses nothing of value, and writes three to five times as
fast on a loaded machine.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

#: the cluster's superuser (trust authentication on 127.0.0.1 only)
SUPERUSER = "twin"


#: the role whose members must give their password
PASSWORDED = "passworded"


def _bindir() -> Path:
    """The folder of PostgreSQL's server programs (``PG_BINDIR``, else Debian's newest)."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError(
            "no PostgreSQL server programs (initdb) here: run tools/install-test-deps.sh "
            "(Debian's postgresql and postgresql-*-postgis-3), or set PG_BINDIR"
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A PostgreSQL cluster of its own in a temporary folder, started on a free port.

    Use as a context manager; :meth:`database` makes a new database with PostGIS and gives
    its URL.
    """

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.folder = Path(tempfile.mkdtemp(prefix="twin-pg-"))
        self.port = _free_port()
        self._as = []
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            shutil.chown(self.folder, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=120)

    def __enter__(self) -> Cluster:
        data = self.folder / "data"
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        # members of the role "passworded" log in with a password (SCRAM), every other role
        # as it is named (trust): how a test meets wrong credentials
        hba = data / "pg_hba.conf"
        hba.write_text(
            f"host all +{PASSWORDED} 127.0.0.1/32 scram-sha-256\n{hba.read_text()}",
            encoding="utf-8",
        )
        options = " ".join(
            [
                "-h 127.0.0.1",
                f"-p {self.port}",
                f"-k {self.folder}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=300",
            ]
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        deadline = time.monotonic() + 30
        while True:  # pg_ctl -w waits for the socket; wait for a login too
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-m",
                "immediate",
                "stop",
            )
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str, /, *, user: str = SUPERUSER, schema: str | None = None) -> str:
        """The URL of ``database`` on this cluster (with ``schema``, a twin's location)."""
        url = f"postgresql://{user}@127.0.0.1:{self.port}/{database}"
        return url if schema is None else f"{url}?schema={schema}"

    def database(self, *, postgis: bool = True) -> str:
        """A new database (with the PostGIS extension unless told otherwise); its name."""
        name = f"t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        if postgis:
            with psycopg.connect(self.url(name), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION postgis")
        return name

    def execute(self, database: str, query: str, /) -> list[tuple]:
        """Run one SQL statement as the superuser; its rows."""
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cur = conn.execute(query)
            return cur.fetchall() if cur.description is not None else []
