"""The service configuration (``api.toml``): limits, CORS, keys, tokens, roles and scopes.

Every option has a safe default, so ``create_app(twin)`` without a config serves the public
collections anonymously and nothing restricted. ``docs/api.example.toml`` shows all options.
"""

from __future__ import annotations

import hashlib
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely

from twin.errors import ConfigError


def hash_key(key: str, /) -> str:
    """The form in which an API key is stored in ``api.toml``.

    Examples
    --------
    >>> hash_key("secret")[:15]
    'sha256:2bb80d53'
    """
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A configured API key: its hash, name, roles, optional service area and rate."""

    name: str
    hash: str
    roles: tuple[str, ...]
    area: shapely.Geometry | None = None
    rate_per_minute: int | None = None


@dataclass(frozen=True)
class ApiConfig:
    """Options of the service; see ``docs/api.md`` for each.

    Examples
    --------
    >>> ApiConfig().max_limit
    1000
    """

    default_limit: int = 10
    max_limit: int = 1000
    max_bbox_area: float = 25e6
    max_body_bytes: int = 1_000_000
    timeout: float = 10.0
    rate_per_minute: int = 60_000
    auth_failures: int = 10
    auth_block_s: float = 1.0
    auth_block_max_s: float = 900.0
    public_url: str | None = None
    trusted_proxies: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    roles: dict[str, frozenset[str]] = field(default_factory=dict)
    anonymous_roles: tuple[str, ...] = ()
    keys: tuple[ApiKey, ...] = ()
    jwt_key: str | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    audit_log: Path | None = None
    collection_scopes: dict[str, str | None] = field(default_factory=dict)
    process_scopes: dict[str, str | None] = field(default_factory=dict)
    tiles_cache: Path | None = None
    jobs: Path | None = None
    feature_cache_bytes: int = 64 * 2**20

    @classmethod
    def load(cls, path: Path, /) -> ApiConfig:
        """Read ``api.toml``.

        Raises
        ------
        ConfigError
            When the file is missing, not TOML, or has a wrong option (named in the message).
        """
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the API config: {exc}") from exc
        return cls.from_dict(data, base=path.parent, source=str(path))

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], /, *, base: Path = Path(), source: str = "api config"
    ) -> ApiConfig:
        """Build from the parsed TOML; relative paths are taken from ``base``."""
        known = {
            "limits",
            "cors",
            "auth",
            "roles",
            "keys",
            "collections",
            "processes",
            "tiles",
            "jobs",
            "server",
        }
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"{source}: unknown sections {sorted(unknown)}")
        limits = data.get("limits", {})
        auth = data.get("auth", {})
        server = data.get("server", {})
        try:
            roles = {name: frozenset(scopes) for name, scopes in data.get("roles", {}).items()}
            keys = tuple(_key(entry, roles, source) for entry in data.get("keys", []))
            names = [k.name for k in keys]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                # a key's name is its owner id (jobs, audit): two keys may not share one
                raise ConfigError(f"{source}: key names {repeated} are used more than once")
            jwt_key = auth.get("jwt_key")
            if "jwt_key_file" in auth:
                jwt_key = (base / auth["jwt_key_file"]).read_text(encoding="utf-8")
            return cls(
                default_limit=int(limits.get("default_limit", 10)),
                max_limit=int(limits.get("max_limit", 1000)),
                max_bbox_area=float(limits.get("max_bbox_area_m2", 25e6)),
                max_body_bytes=int(limits.get("max_body_bytes", 1_000_000)),
                timeout=float(limits.get("timeout_s", 10.0)),
                rate_per_minute=int(limits.get("rate_per_minute", 60_000)),
                auth_failures=int(limits.get("auth_failures", 10)),
                auth_block_s=float(limits.get("auth_block_s", 1.0)),
                auth_block_max_s=float(limits.get("auth_block_max_s", 900.0)),
                feature_cache_bytes=round(float(limits.get("feature_cache_mb", 64)) * 2**20),
                public_url=_public_url(server.get("public_url"), source),
                trusted_proxies=tuple(str(a) for a in server.get("trusted_proxies", ())),
                cors_origins=tuple(data.get("cors", {}).get("origins", ())),
                roles=roles,
                anonymous_roles=tuple(auth.get("anonymous_roles", ())),
                keys=keys,
                jwt_key=jwt_key,
                jwt_algorithms=tuple(auth.get("jwt_algorithms", ("HS256",))),
                jwt_audience=auth.get("jwt_audience"),
                jwt_issuer=auth.get("jwt_issuer"),
                audit_log=(base / auth["audit_log"]) if "audit_log" in auth else None,
                collection_scopes={
                    k: v.get("scope") for k, v in data.get("collections", {}).items()
                },
                process_scopes={k: v.get("scope") for k, v in data.get("processes", {}).items()},
                tiles_cache=(base / data["tiles"]["cache"])
                if "cache" in data.get("tiles", {})
                else None,
                jobs=(base / data["jobs"]["folder"]) if "folder" in data.get("jobs", {}) else None,
            )
        except ConfigError:
            raise
        except (TypeError, ValueError, AttributeError, OSError) as exc:
            raise ConfigError(f"{source}: invalid option: {exc}") from exc

    def scopes_of(self, roles: tuple[str, ...] | list[str], /) -> frozenset[str]:
        """The scopes granted by a list of roles (unknown roles grant nothing)."""
        return frozenset().union(*(self.roles.get(r, frozenset()) for r in roles))


def _public_url(url: str | None, source: str) -> str | None:
    """The configured public base URL, checked: an absolute http(s) URL, no query."""
    if url is None:
        return None
    parts = urllib.parse.urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"{source}: server.public_url {url!r} must be an http(s) URL without query, "
            "such as 'https://twin.klagenfurt.example/api'"
        )
    return str(url).rstrip("/")


def _key(entry: dict[str, Any], roles: dict[str, frozenset[str]], source: str) -> ApiKey:
    name = entry.get("name")
    digest = entry.get("hash", "")
    if not name or not digest.startswith("sha256:") or len(digest) != 71:
        raise ConfigError(
            f"{source}: key {name!r} needs a name and a hash 'sha256:<64 hex>' "
            "(twin.api.config.hash_key makes one); keys are never stored in clear"
        )
    unknown = set(entry.get("roles", ())) - set(roles)
    if unknown:
        raise ConfigError(f"{source}: key {name!r} has unknown roles {sorted(unknown)}")
    area = None
    if "area" in entry:
        area = shapely.box(*entry["area"])
    elif "area_wkt" in entry:
        area = shapely.from_wkt(entry["area_wkt"])
    if area is not None:
        shapely.prepare(area)
    rate = entry.get("rate_per_minute")
    return ApiKey(name, digest, tuple(entry.get("roles", ())), area, rate and int(rate))
