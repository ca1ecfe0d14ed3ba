"""The service configuration (``api.toml``): limits, CORS, keys, tokens, roles and scopes.

Every option has a safe default, so ``create_app(twin)`` without a config serves the public
collections anonymously and nothing restricted. ``docs/api.example.toml`` shows all options.
"""

from __future__ import annotations

import hashlib
import ipaddress
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import shapely
from pydantic import BaseModel, Field, StrictFloat, StrictStr

from twin.errors import ConfigError
from twin.schema import TABLE, quantity, string, validated


def hash_key(key: str, /) -> str:
    """The form in which an API key is stored in ``api.toml``.

    Examples
    --------
    >>> hash_key("secret")[:15]
    'sha256:2bb80d53'
    """
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


class Limits(BaseModel):
    """``[limits]``: what one request, one caller and one worker may use."""

    model_config = TABLE

    # a page holds at least one feature
    default_limit: int = quantity(10, "features", "a page when the client asks none", ge=1)
    max_limit: int = quantity(1000, "features", "larger limits are clamped to this", ge=1)
    max_bbox_area_m2: float = quantity(25e6, "m²", "larger bboxes are refused", gt=0)
    max_body_bytes: int = quantity(1_000_000, "bytes", "larger bodies are refused", ge=1)
    timeout_s: float = quantity(10.0, "s", "a longer query is interrupted", gt=0)
    rate_per_minute: int = quantity(60_000, "requests a minute", "per caller, per worker", ge=1)
    auth_failures: int = quantity(10, "failures a minute", "before an address is blocked", ge=1)
    auth_block_s: float = quantity(1.0, "s", "first block of an address", gt=0)
    auth_block_max_s: float = quantity(900.0, "s", "longest block (the doubling stops)", gt=0)
    # 0 keeps nothing; 1 TiB is more memory than a server of this service has
    feature_cache_mb: float = quantity(64, "MiB", "GeoJSON kept, per worker", ge=0, le=2**20)


class Server(BaseModel):
    """``[server]``: how the service is reached."""

    model_config = TABLE

    public_url: str | None = string(None, "the start of every link")
    trusted_proxies: list[StrictStr] = Field(default_factory=list)


class Cors(BaseModel):
    """``[cors]``: the web origins allowed to call the service."""

    model_config = TABLE

    origins: list[StrictStr] = Field(default_factory=list)


#: JSON Web Signature algorithms a token may be signed with (RFC 7518 § 3.1, RFC 8037);
#: ``none`` is not one of them
JWT_ALGORITHMS = (
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
    "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA",
)  # fmt: skip


class Auth(BaseModel):
    """``[auth]``: tokens, anonymous callers and the audit log."""

    model_config = TABLE

    jwt_key: str | None = string(None, "the key tokens are checked with")
    jwt_key_file: str | None = string(None, "a file holding it, relative to api.toml")
    jwt_algorithms: list[Literal[JWT_ALGORITHMS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["HS256"],
        min_length=1,
        json_schema_extra={"must": f"a list of one or more of {', '.join(JWT_ALGORITHMS)}"},
    )
    jwt_audience: str | None = string(None, "the audience a token must name")
    jwt_issuer: str | None = string(None, "the issuer a token must name")
    audit_log: str | None = string(None, "the audit log, relative to api.toml")
    anonymous_roles: list[StrictStr] = Field(default_factory=list)


class KeyEntry(BaseModel):
    """A ``[[keys]]`` entry: a hashed API key, its roles, service area and rate."""

    model_config = TABLE

    name: str = string(..., "the key's owner id (jobs, audit log)")
    hash: str = string(
        ...,
        "the key's hash",
        pattern=r"^sha256:[0-9a-f]{64}$",
        json_schema_extra={
            "must": "a hash 'sha256:<64 hex>' (twin.api.config.hash_key makes one); "
            "keys are never stored in clear"
        },
    )
    roles: list[StrictStr] = Field(default_factory=list)
    area: list[StrictFloat] | None = Field(
        None,
        min_length=4,
        max_length=4,
        json_schema_extra={"must": "[xmin, ymin, xmax, ymax] in the project CRS"},
    )
    area_wkt: str | None = string(None, "the service area as WKT (project CRS)")
    rate_per_minute: int | None = quantity(None, "requests a minute", "this key's rate", ge=1)


class Scope(BaseModel):
    """A ``[collections.ID]`` or ``[processes.ID]`` table: the scope it needs."""

    model_config = TABLE

    scope: str | None = string(None, "the scope a caller needs (none: public)")


class Tiles(BaseModel):
    """``[tiles]``: where the 3D Tiles of the buildings are cached."""

    model_config = TABLE

    cache: str | None = string(None, "the cache folder, relative to api.toml")


class Jobs(BaseModel):
    """``[jobs]``: where job status and results are kept."""

    model_config = TABLE

    folder: str | None = string(None, "the jobs' folder, relative to api.toml")


class ApiFile(BaseModel):
    """A whole ``api.toml`` as TOML gives it; :meth:`ApiConfig.from_dict` reads it."""

    model_config = TABLE

    limits: Limits = Field(default_factory=Limits)
    server: Server = Field(default_factory=Server)
    cors: Cors = Field(default_factory=Cors)
    auth: Auth = Field(default_factory=Auth)
    roles: dict[str, list[StrictStr]] = Field(default_factory=dict)
    keys: list[KeyEntry] = Field(default_factory=list)
    collections: dict[str, Scope] = Field(default_factory=dict)
    processes: dict[str, Scope] = Field(default_factory=dict)
    tiles: Tiles = Field(default_factory=Tiles)
    jobs: Jobs = Field(default_factory=Jobs)


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
            When the file is missing, not TOML, or has a wrong option (named in the message
            with its value and what it must be).
        """
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the API config: {exc}") from exc
        return cls.from_dict(data, base=path.parent, source=str(path))

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], /, *, base: Path = Path(), source: str = "api config"
    ) -> ApiConfig:
        """Build from the parsed TOML; relative paths are taken from ``base``.

        Raises
        ------
        ConfigError
            When an option is unknown, of the wrong type or out of its range, or the options
            contradict each other; the message names ``source`` and the option.
        """
        file = validated(ApiFile, data, where=source)
        limits, auth, server = file.limits, file.auth, file.server
        if limits.auth_block_max_s < limits.auth_block_s:
            raise ConfigError(
                f"{source}: [limits] auth_block_max_s = {limits.auth_block_max_s:g}: must be at "
                f"least auth_block_s ({limits.auth_block_s:g} s), where the blocks start"
            )
        roles = {name: frozenset(scopes) for name, scopes in file.roles.items()}
        keys = tuple(_key(k, entry, roles, source) for k, entry in enumerate(file.keys, 1))
        names = [k.name for k in keys]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            # a key's name is its owner id (jobs, audit): two keys may not share one
            raise ConfigError(f"{source}: key names {repeated} are used more than once")
        for address in server.trusted_proxies:
            try:
                ipaddress.ip_network(address, strict=False)
            except ValueError:
                raise ConfigError(
                    f"{source}: [server] trusted_proxies: {address!r} is no address or network"
                ) from None
        jwt_key = auth.jwt_key
        if auth.jwt_key_file is not None:
            try:
                jwt_key = (base / auth.jwt_key_file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise ConfigError(
                    f"{source}: [auth] jwt_key_file = {auth.jwt_key_file!r}: cannot read it: "
                    f"{getattr(exc, 'strerror', None) or exc}"
                ) from None
        return cls(
            default_limit=limits.default_limit,
            max_limit=limits.max_limit,
            max_bbox_area=limits.max_bbox_area_m2,
            max_body_bytes=limits.max_body_bytes,
            timeout=limits.timeout_s,
            rate_per_minute=limits.rate_per_minute,
            auth_failures=limits.auth_failures,
            auth_block_s=limits.auth_block_s,
            auth_block_max_s=limits.auth_block_max_s,
            feature_cache_bytes=round(limits.feature_cache_mb * 2**20),
            public_url=_public_url(server.public_url, source),
            trusted_proxies=tuple(server.trusted_proxies),
            cors_origins=tuple(file.cors.origins),
            roles=roles,
            anonymous_roles=tuple(auth.anonymous_roles),
            keys=keys,
            jwt_key=jwt_key,
            jwt_algorithms=tuple(auth.jwt_algorithms),
            jwt_audience=auth.jwt_audience,
            jwt_issuer=auth.jwt_issuer,
            audit_log=None if auth.audit_log is None else base / auth.audit_log,
            collection_scopes={k: v.scope for k, v in file.collections.items()},
            process_scopes={k: v.scope for k, v in file.processes.items()},
            tiles_cache=None if file.tiles.cache is None else base / file.tiles.cache,
            jobs=None if file.jobs.folder is None else base / file.jobs.folder,
        )

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


def _key(k: int, entry: KeyEntry, roles: dict[str, frozenset[str]], source: str) -> ApiKey:
    """The ``k``-th ``[[keys]]`` entry, its roles known and its area a valid geometry."""
    name = entry.name
    unknown = set(entry.roles) - set(roles)
    if unknown:
        raise ConfigError(f"{source}: key {name!r} has unknown roles {sorted(unknown)}")
    area = None
    if entry.area is not None and entry.area_wkt is not None:
        raise ConfigError(f"{source}: key {name!r}: give area or area_wkt, not both")
    if entry.area is not None:
        xmin, ymin, xmax, ymax = entry.area
        if not (xmin < xmax and ymin < ymax):
            raise ConfigError(
                f"{source}: [keys #{k}] area = {list(entry.area)}: must be [xmin, ymin, xmax, "
                "ymax] with xmin < xmax and ymin < ymax (project CRS)"
            )
        area = shapely.box(xmin, ymin, xmax, ymax)
    elif entry.area_wkt is not None:
        try:
            area = shapely.from_wkt(entry.area_wkt)
        except shapely.errors.GEOSException as exc:
            raise ConfigError(f"{source}: [keys #{k}] area_wkt: not WKT: {exc}") from None
        if not shapely.is_valid(area) or shapely.get_dimensions(area) != 2:
            raise ConfigError(
                f"{source}: [keys #{k}] area_wkt: must be a valid polygon or multipolygon"
            )
    if area is not None:
        shapely.prepare(area)
    return ApiKey(name, entry.hash, tuple(entry.roles), area, entry.rate_per_minute)
