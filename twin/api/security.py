"""Who is calling: API keys (stored hashed), JWT bearer tokens, scopes, rate limits, audit.

A caller is a :class:`Principal` with scopes. Missing credentials make the anonymous caller;
wrong credentials (unknown key, forged or expired token) are refused with 401 and no hint of
which part was wrong.
"""

from __future__ import annotations

import hmac
import json
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import shapely

from twin.api.config import ApiConfig, hash_key
from twin.api.problems import Problem


@dataclass(frozen=True)
class Principal:
    """An authenticated (or anonymous) caller.

    Attributes
    ----------
    name
        Key name, token subject, or ``anonymous``.
    scopes
        What the caller may see and run.
    area
        Service area in the store CRS (``None``: unrestricted).
    rate_per_minute
        Requests allowed per minute.
    """

    name: str
    scopes: frozenset[str]
    area: shapely.Geometry | None
    rate_per_minute: int

    def allows(self, scope: str | None, /) -> bool:
        """Whether the caller holds ``scope`` (``None``: public)."""
        return scope is None or scope in self.scopes


def authenticate(headers: Mapping[str, str], client: str, config: ApiConfig, /) -> Principal:
    """The caller of a request, from ``X-API-Key`` or ``Authorization: Bearer``.

    Raises
    ------
    Problem
        401 for an unknown key or an invalid, expired or forged token.
    """
    key = headers.get("x-api-key")
    auth = headers.get("authorization", "")
    if key:
        digest = hash_key(key)
        for entry in config.keys:
            if hmac.compare_digest(entry.hash, digest):
                return Principal(
                    entry.name,
                    config.scopes_of(entry.roles),
                    entry.area,
                    entry.rate_per_minute or config.rate_per_minute,
                )
        raise _unauthorized("the API key is not valid")
    if auth.lower().startswith("bearer "):
        return _bearer(auth[7:].strip(), config)
    if auth:
        raise _unauthorized("only Bearer tokens are accepted in the Authorization header")
    return Principal(
        f"anonymous@{client}",
        config.scopes_of(config.anonymous_roles),
        None,
        config.rate_per_minute,
    )


def _bearer(token: str, config: ApiConfig) -> Principal:
    if config.jwt_key is None:
        raise _unauthorized("bearer tokens are not accepted by this service")
    try:
        claims = jwt.decode(
            token,
            config.jwt_key,
            algorithms=list(config.jwt_algorithms),
            audience=config.jwt_audience,
            issuer=config.jwt_issuer,
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("the token has expired") from None
    except jwt.PyJWTError:
        raise _unauthorized("the token is not valid") from None
    roles = claims.get("roles", [])
    scope = claims.get("scope", "")
    if not isinstance(roles, list) or not isinstance(scope, str):
        raise _unauthorized("the token is not valid")
    scopes = config.scopes_of([str(r) for r in roles]) | frozenset(scope.split())
    return Principal(str(claims["sub"]), scopes, None, config.rate_per_minute)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'})


class RateLimiter:
    """A token bucket per caller: ``rate`` requests a minute, bursts up to that many.

    Each worker process keeps its own buckets (with N workers a caller gets up to N times the
    rate); a shared limiter belongs in front of the service (reverse proxy) if that matters.
    """

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, principal: Principal, /) -> None:
        """Take one token for ``principal``.

        Raises
        ------
        Problem
            429 with ``Retry-After`` when the bucket is empty.
        """
        rate = principal.rate_per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(principal.name, (principal.rate_per_minute, now))
            tokens = min(principal.rate_per_minute, tokens + (now - last) * rate)
            if tokens < 1:
                wait = max(1, int((1 - tokens) / rate) + 1)
                raise Problem(429, "rate limit exceeded", headers={"Retry-After": str(wait)})
            self._buckets[principal.name] = (tokens - 1, now)


class AuditLog:
    """An append-only JSON-lines log of access to restricted data.

    Each record is written with one ``write`` on a file opened with ``O_APPEND``, so records
    from several workers never interleave; the file is never truncated or rewritten.
    """

    def __init__(self, path: Path, /):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, principal: Principal, action: str, /, **details: Any) -> None:
        """Append one record: time, who, what, and details such as bbox, filter, count."""
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "who": principal.name,
            "action": action,
            **details,
        }
        line = (json.dumps(entry, default=str) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
