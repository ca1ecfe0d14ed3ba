"""Who is calling: API keys (stored hashed), JWT bearer tokens, scopes, rate limits, audit.

A caller is a :class:`Principal` with scopes. Missing credentials make the anonymous caller;
wrong credentials (unknown key, forged or expired token) are refused with 401 and no hint of
which part was wrong. Failed attempts are counted per client address: past a burst, the
address is refused for a time that doubles with each further burst (:class:`LoginGuard`).
"""

from __future__ import annotations

import hmac
import json
import math
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
    id
        Who the caller is, unique across kinds of credential: ``key:NAME`` for an API key
        (names are unique in ``api.toml``), ``jwt:ISSUER:SUBJECT`` for a token, ``None`` for
        an anonymous caller, who owns nothing (jobs) and is told apart by address only.
    name
        Key name, token subject, or ``anonymous``: for people reading the audit log.
    scopes
        What the caller may see and run.
    area
        Service area in the store CRS (``None``: unrestricted).
    rate_per_minute
        Requests allowed per minute.
    client
        The client address (rate limits of anonymous callers, the audit log).
    """

    id: str | None
    name: str
    scopes: frozenset[str]
    area: shapely.Geometry | None
    rate_per_minute: int
    client: str = "unknown"

    def allows(self, *scopes: str | None) -> bool:
        """Whether the caller holds every one of ``scopes`` (``None``: public)."""
        return all(s is None or s in self.scopes for s in scopes)

    def covers(self, area: shapely.Geometry | None, /) -> bool:
        """Whether everything within ``area`` (``None``: everywhere) is within the caller's
        own service area."""
        if self.area is None:
            return True
        return area is not None and bool(shapely.covers(self.area, area))

    @property
    def bucket(self) -> str:
        """The rate-limit bucket: the caller, or for anonymous callers their address."""
        return self.id or f"anonymous@{self.client}"


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
                    f"key:{entry.name}",
                    entry.name,
                    config.scopes_of(entry.roles),
                    entry.area,
                    entry.rate_per_minute or config.rate_per_minute,
                    client,
                )
        raise _unauthorized("the API key is not valid")
    if auth.lower().startswith("bearer "):
        return _bearer(auth[7:].strip(), config, client)
    if auth:
        raise _unauthorized("only Bearer tokens are accepted in the Authorization header")
    return Principal(
        None,
        "anonymous",
        config.scopes_of(config.anonymous_roles),
        None,
        config.rate_per_minute,
        client,
    )


def has_credentials(headers: Mapping[str, str], /) -> bool:
    """Whether a request carries an API key or an ``Authorization`` header."""
    return bool(headers.get("x-api-key") or headers.get("authorization"))


def _bearer(token: str, config: ApiConfig, client: str) -> Principal:
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
    subject, issuer = str(claims["sub"]), str(claims.get("iss", ""))
    return Principal(
        f"jwt:{issuer}:{subject}", subject, scopes, None, config.rate_per_minute, client
    )


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
            tokens, last = self._buckets.get(principal.bucket, (principal.rate_per_minute, now))
            tokens = min(principal.rate_per_minute, tokens + (now - last) * rate)
            if tokens < 1:
                wait = max(1, int((1 - tokens) / rate) + 1)
                raise Problem(429, "rate limit exceeded", headers={"Retry-After": str(wait)})
            self._buckets[principal.bucket] = (tokens - 1, now)


class LoginGuard:
    """Failed authentications counted per client address, with back-off.

    An address may fail ``burst`` times within ``window_s``; the failure that completes a
    burst blocks it for ``block_s`` seconds, doubling with every further burst up to
    ``block_max_s``, and forgotten after ``forget_s`` without a failure. While blocked, every
    request of that address that carries credentials is answered 429 without looking at
    them, so keys cannot be guessed at the server's speed. The defaults (10 failures a
    minute, 1 s doubling to 15 min) stay far below the 100 consecutive failures NIST SP
    800-63B § 5.2.2 allows per account. Failures reach the audit log in aggregate: one record
    for the first failure of a window and one per block, with the failures and refusals
    counted since the previous record. Each worker process keeps its own counts.
    """

    def __init__(
        self,
        *,
        burst: int = 10,
        window_s: float = 60.0,
        block_s: float = 1.0,
        block_max_s: float = 900.0,
        forget_s: float = 900.0,
        audit: AuditLog | None = None,
    ):
        self.burst, self.window_s, self.forget_s = burst, window_s, forget_s
        self.block_s, self.block_max_s = block_s, block_max_s
        self.audit = audit
        self._clients: dict[str, _Failures] = {}
        self._lock = threading.Lock()
        self._pruned = time.monotonic()

    def check(self, client: str, /) -> None:
        """Refuse ``client`` while it is blocked.

        Raises
        ------
        Problem
            429 with ``Retry-After`` (whole seconds).
        """
        now = time.monotonic()
        with self._lock:
            state = self._clients.get(client)
            if state is None or state.blocked_until <= now:
                return
            state.refused += 1
            wait = math.ceil(state.blocked_until - now)
        raise Problem(
            429,
            "too many failed authentications from this address; try again later",
            headers={"Retry-After": str(wait)},
        )

    def failed(self, client: str, /) -> None:
        """Count a failed authentication of ``client``; block it at the end of a burst."""
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            state = self._clients.get(client)
            if state is None:
                state = self._clients[client] = _Failures(now - self.window_s - 1.0)
            if now - state.last > self.forget_s:
                state.level = 0
            record = None
            if now - state.window_start > self.window_s:
                state.window_start, state.count = now, 0
                record = ("auth-failed", {})
            state.last = now
            state.count += 1
            state.unreported += 1
            if state.count >= self.burst:
                block = min(self.block_s * 2**state.level, self.block_max_s)
                state.blocked_until, state.level, state.count = now + block, state.level + 1, 0
                record = ("auth-blocked", {"blocked_s": block})
            if record is not None:
                details = {"failures": state.unreported, "refused": state.refused, **record[1]}
                state.unreported = state.refused = 0
        if record is not None and self.audit is not None:
            self.audit.event(record[0], who="unauthenticated", client=client, **details)

    def _prune(self, now: float) -> None:
        # addresses idle for longer than forget_s are dropped once a minute, so that a scan
        # from many addresses cannot grow the table without bound
        if now - self._pruned < 60.0:
            return
        self._pruned = now
        idle = [c for c, s in self._clients.items() if now - s.last > self.forget_s]
        for client in idle:
            del self._clients[client]


@dataclass
class _Failures:
    """What :class:`LoginGuard` knows of one address (times from ``time.monotonic``)."""

    window_start: float
    last: float = 0.0
    count: int = 0
    level: int = 0
    blocked_until: float = 0.0
    unreported: int = 0
    refused: int = 0


class AuditLog:
    """An append-only JSON-lines log of access to restricted data, and of refusals.

    Each record is written with one ``write`` on a file opened with ``O_APPEND``, so records
    from several workers never interleave; the file is never truncated or rewritten.
    """

    def __init__(self, path: Path, /):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, principal: Principal, action: str, /, **details: Any) -> None:
        """Append one record of ``principal``'s ``action``: time, who (the unique caller id,
        the name and the address), what, and details such as bbox, filter, count."""
        self.event(
            action,
            who=principal.id or "anonymous",
            name=principal.name,
            client=principal.client,
            **details,
        )

    def event(self, action: str, /, **details: Any) -> None:
        """Append one record of ``action`` with its time and ``details``."""
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "action": action,
            **details,
        }
        line = (json.dumps(entry, default=str) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
