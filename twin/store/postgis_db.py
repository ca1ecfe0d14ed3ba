"""Where a twin is in PostgreSQL, and how the PostGIS store reaches it.

A twin's location is a libpq URL with the schema as a parameter of its own,
``postgresql://user@host:5432/city?schema=twin`` (the schema defaults to ``twin``; passwords
come from the URL, ``PGPASSWORD`` or ``~/.pgpass`` as libpq finds them, and are never shown:
:attr:`Database.shown`). Connections are psycopg's (queries) and ADBC's (tables as Arrow).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import adbc_driver_postgresql.dbapi as adbc
import psycopg
import pyproj
from psycopg import sql

from twin.crs import horizontal
from twin.errors import StoreError
from twin.store.base import DATABASE_SCHEMES

#: the schema of a twin when its URL names none
DEFAULT_SCHEMA = "twin"
#: the store's own tables, never layers of the twin
OWN_TABLES = (
    "twin_metadata",
    "twin_layers",
    "twin_state",
    "twin_rasters",
    "twin_building_versions",
    "twin_building_history",
)
#: metadata key -> the raster's name in ``twin_rasters``
RASTERS = {"terrain": "dtm", "ortho": "ortho"}
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class Database:
    """Where a twin is in PostgreSQL.

    Attributes
    ----------
    dsn
        The libpq URL without the ``schema`` parameter.
    schema
        The schema holding the twin.
    shown
        The URL without its password, for messages and logs.
    """

    dsn: str
    schema: str
    shown: str

    @classmethod
    def parse(cls, url: str, /) -> Database:
        """The database and schema of a twin URL.

        Raises
        ------
        StoreError
            When the URL is not a PostgreSQL URL, or its schema not a plain lower-case
            identifier (letters, digits, underscores; 63 at most).

        Examples
        --------
        >>> db = Database.parse("postgresql://me:secret@db.example:5433/city?schema=graz")
        >>> db.schema, db.shown
        ('graz', 'postgresql://me@db.example:5433/city?schema=graz')
        >>> Database.parse("postgresql://me@db.example/city?password=secret").shown
        'postgresql://me@db.example/city?schema=twin'

        >>> Database.parse("postgresql:///city").schema
        'twin'
        """
        parts = urlsplit(url)
        if parts.scheme not in DATABASE_SCHEMES:
            raise StoreError(f"{parts.scheme}://...: not a PostgreSQL URL (postgresql://...)")
        query = parse_qsl(parts.query, keep_blank_values=True)
        schemas = [v for k, v in query if k == "schema"]
        schema = schemas[-1] if schemas else DEFAULT_SCHEMA
        rest = [(k, v) for k, v in query if k != "schema"]
        netloc = parts.netloc.rsplit("@", 1)
        shown_netloc = parts.netloc
        if len(netloc) == 2:
            shown_netloc = netloc[0].split(":", 1)[0] + "@" + netloc[1]
        public = [(k, v) for k, v in rest if k != "password"]  # libpq takes one here too
        shown = urlunsplit(
            (parts.scheme, shown_netloc, parts.path, urlencode([*public, ("schema", schema)]), "")
        )
        if not _SCHEMA_NAME.fullmatch(schema):
            raise StoreError(
                f"{shown}: schema {schema!r} is not a plain lower-case name "
                "(letters, digits and underscores, at most 63)"
            )
        dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), ""))
        return cls(dsn, schema, shown)

    def table(self, name: str, /, schema: str | None = None) -> str:
        """The quoted, schema-qualified name of table ``name``."""
        return f"{ident(schema or self.schema)}.{ident(name)}"


def ident(name: str, /) -> str:
    """``name`` as a quoted SQL identifier, quoted by psycopg."""
    return sql.Identifier(name).as_string(None)


def connect(db: Database, /, **options: Any) -> psycopg.Connection:
    """A psycopg connection in autocommit mode.

    Raises
    ------
    StoreError
        When the server cannot be reached or refuses the login.
    """
    try:
        return psycopg.connect(db.dsn, autocommit=True, connect_timeout=10, **options)
    except psycopg.OperationalError as exc:
        raise StoreError(f"{db.shown}: cannot connect: {reason(exc)}") from exc


def reason(exc: Exception, /) -> str:
    """The server's or libpq's own words for ``exc``, on one line."""
    diag = getattr(exc, "diag", None)
    text = (diag.message_primary if diag is not None else None) or str(exc)
    return " ".join(text.split())


@contextlib.contextmanager
def adbc_connect(db: Database, /) -> Iterator[adbc.Connection]:
    """An ADBC connection (a transaction open, as DB-API connections are)."""
    try:
        conn = adbc.connect(db.dsn)
    except adbc.Error as exc:
        raise StoreError(f"{db.shown}: cannot connect: {reason(exc)}") from exc
    try:
        yield conn
    finally:
        conn.close()


def srid_of(crs: pyproj.CRS, /) -> int:
    """The SRID of the geometries: the EPSG code of the CRS's horizontal part (0 if none;
    the exact CRS is always in ``twin_metadata``)."""
    return horizontal(crs).to_epsg() or 0


def literal(value: Any, /) -> str:
    """``value`` as an SQL literal, quoted by psycopg."""
    return sql.Literal(value).as_string(None)
