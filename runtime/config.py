"""Service settings: a frozen dataclass tree read from a TOML file, secrets from the environment.

Nothing is read at import time: ``load_settings(path, env)`` is called by the composition root
(the CLI). Precedence, lowest first: built-in defaults, the TOML file, the environment variables
in ``ENV_OVERRIDES``, and finally the CLI's ``--db``.

The ``[rebate]`` table has the shape of ``rebate.settings.BaseSettings``: ``queue-rebate migrate``
uses it to seed the base-settings row (``rebate_config``) once, when that row does not exist yet.
"""

import dataclasses
import difflib
import ipaddress
import tomllib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from enum import Enum
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rebate.errors import RebateError
from rebate.settings import BaseSettings
from runtime.bot_settings import BotSettings
from runtime.db import DEFAULT_DB_URL, SSL_MODES, postgres_ssl
from runtime.errors import InvalidValue
from runtime.ops_settings import LoggingSettings, MetricsSettings, OutboxSettings
from runtime.ratelimit import Limit

T = TypeVar("T")


class ConfigError(Exception):
    """The configuration cannot be used. The message names the file (or variable) and the key."""


def _require_scheme(key: str, url: str, schemes: tuple[str, ...], expected: str) -> None:
    if not url.startswith(tuple(f"{scheme}://" for scheme in schemes)):
        raise InvalidValue(key, f"unsupported URL {redact_url(url)!r}; expected {expected}")


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***``, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = field(default=DEFAULT_DB_URL, repr=False)

    def __post_init__(self) -> None:
        _require_scheme(
            "url",
            self.url,
            ("sqlite", "postgres", "postgresql", "asyncpg"),
            "sqlite://PATH or postgres[ql]://USER[:PASSWORD]@HOST:PORT/DBNAME[?sslmode=MODE]",
        )
        try:
            postgres_ssl(self.url)
        except ValueError as exc:
            raise InvalidValue("url", f"{exc} (sslmode: {' | '.join(SSL_MODES)})") from None


@dataclass(frozen=True)
class RedisSettings:
    url: str = field(default="", repr=False)  # empty: no Redis

    def __post_init__(self) -> None:
        if self.url:
            _require_scheme(
                "url", self.url, ("redis", "rediss", "unix"), "redis://HOST:PORT/DB or empty"
            )


def _port(key: str, port: int) -> None:
    if not 1 <= port <= 65_535:
        raise InvalidValue(key, f"{port} is not a TCP port (1–65535)")


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1_048_576
    # reverse proxies (addresses or CIDRs) whose X-Forwarded-For names the client; empty: none
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _port("port", self.port)
        if self.max_body_bytes < 1_024:
            raise InvalidValue("max_body_bytes", "must be at least 1024")
        for i, proxy in enumerate(self.trusted_proxies):
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise InvalidValue(
                    f"trusted_proxies[{i}]", f"{proxy!r} is not an IP address or CIDR"
                ) from None


@dataclass(frozen=True)
class RateLimits:
    """How many logins and new orders one client IP and one member may make per window (the
    fixed windows of ``runtime.ratelimit``; over the count: 429)."""

    login_per_ip: Limit = Limit(30, 60)
    login_per_member: Limit = Limit(10, 60)
    order_per_ip: Limit = Limit(60, 60)
    order_per_member: Limit = Limit(20, 60)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            limit: Limit = getattr(self, f.name)
            if limit.count < 1 or limit.window < 1:
                raise InvalidValue(f.name, "count and window must be at least 1")


@dataclass(frozen=True)
class WechatSettings:
    appid: str = ""
    app_secret: str = field(default="", repr=False)
    api_base_url: str = "https://api.weixin.qq.com"

    def __post_init__(self) -> None:
        _require_scheme("api_base_url", self.api_base_url, ("https", "http"), "an http(s) URL")


@dataclass(frozen=True)
class PlatformKey:
    """One WeChat Pay platform key: a platform certificate (平台证书; its serial is read from the
    file) or a WeChat Pay public key (微信支付公钥) with its ``PUB_KEY_ID_…``."""

    path: str
    id: str = ""  # the public key's ID; empty for a certificate


@dataclass(frozen=True)
class WechatPaySettings:
    api_version: Literal["v2", "v3"] = "v3"
    mchid: str = ""
    api_key: str = field(default="", repr=False)  # APIv2 key (32 characters)
    apiv3_key: str = field(default="", repr=False)  # APIv3 key (32 bytes)
    private_key_path: str = ""  # merchant API private key, apiclient_key.pem
    cert_serial_no: str = ""  # serial number of the merchant API certificate
    platform_cert_path: str = ""  # WeChat Pay platform certificate or WeChat Pay public key (PEM)
    platform_public_key_id: str = ""  # PUB_KEY_ID_… when platform_cert_path is a public key
    platform_keys: tuple[PlatformKey, ...] = ()  # more platform keys, accepted alongside
    platform_keys_dir: str = ""  # every *.pem here is a platform key too (re-read on SIGHUP)
    platform_cert_refresh_seconds: int = 43_200  # certificate mode: download /v3/certificates
    api_base_url: str = "https://api.mch.weixin.qq.com"
    notify_url: str = ""  # public HTTPS URL WeChat Pay calls back
    refund_notify_url: str = ""  # refund results; empty: the merchant platform's setting
    v2_cert_path: str = (
        ""  # APIv2 refunds: merchant API certificate apiclient_cert.pem (TLS client cert)
    )
    # a second payment of an order already paid: refunded automatically, or left to an operator
    double_payment: Literal["refund", "alert"] = "refund"

    def __post_init__(self) -> None:
        _require_scheme("api_base_url", self.api_base_url, ("https", "http"), "an http(s) URL")
        for key in ("notify_url", "refund_notify_url"):
            if getattr(self, key):
                _require_scheme(key, getattr(self, key), ("https", "http"), "an http(s) URL")
        if self.platform_cert_refresh_seconds < 0:
            raise InvalidValue("platform_cert_refresh_seconds", "must be 0 (never) or more")


MIN_SECRET_CHARS = 32


@dataclass(frozen=True)
class AuthSettings:
    """Tokens' secrets, and the operators' logins (``services.operators``, ``web.operator_auth``)."""

    admin_token_secret: str = field(default="", repr=False)
    member_token_secret: str = field(default="", repr=False)
    member_token_ttl: int = 7 * 24 * 3600  # seconds a member token stays valid
    admin_token_ttl: int = 8 * 3600  # seconds an operator token stays valid

    # admin tokens signed with the secret but issued to no operator account (TokenSigner's
    # issue_admin): accepted as the owner role, or refused
    legacy_admin_tokens: bool = True
    cookie_secure: Literal["auto", "true", "false"] = "auto"  # auto: when the request is HTTPS
    session_idle_minutes: int = 30  # a session unused this long is over
    session_absolute_hours: int = 12  # and any session this long after its login
    login_max_failures: int = 5  # failed passwords within the window lock the account
    login_failure_window_minutes: int = 15
    lockout_minutes: int = 15
    login_attempts_per_address: int = 30  # logins one client address may try per window
    # the most one manual adjustment by a finance operator may move (fen, points or love value)
    finance_adjustment_limit: int = 100_000

    def __post_init__(self) -> None:
        for key in ("member_token_ttl", "admin_token_ttl"):
            if getattr(self, key) < 60:
                raise InvalidValue(key, "must be at least 60 seconds")
        for name in (
            "session_idle_minutes",
            "session_absolute_hours",
            "login_max_failures",
            "login_failure_window_minutes",
            "lockout_minutes",
            "login_attempts_per_address",
            "finance_adjustment_limit",
        ):
            if getattr(self, name) < 1:
                raise InvalidValue(name, "must be at least 1")

    def weak_secrets(self) -> list[str]:
        """The token secrets that are empty or shorter than ``MIN_SECRET_CHARS``."""
        return [
            key
            for key in ("admin_token_secret", "member_token_secret")
            if len(getattr(self, key)) < MIN_SECRET_CHARS
        ]


@dataclass(frozen=True)
class SchedulerSettings:
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidValue("timezone", f"unknown time zone {self.timezone!r}") from None


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    wechat: WechatSettings = field(default_factory=WechatSettings)
    wechat_pay: WechatPaySettings = field(default_factory=WechatPaySettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    rebate: BaseSettings = field(default_factory=BaseSettings)  # seeds rebate_config on migrate
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    bot: BotSettings = field(default_factory=BotSettings)  # the chat bot (SPEC §9)
    # operations (runtime/ops_settings.py): /metrics, logs, outbox retention
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)

    def with_database_url(self, url: str) -> "Settings":
        """These settings pointed at another database (the CLI's ``--db``)."""
        try:
            return dataclasses.replace(self, database=DatabaseSettings(url=url))
        except InvalidValue as exc:
            raise ConfigError(f"--db: {exc.problem}") from None


# Environment variable → (section, key). Secrets belong here rather than in the file.
ENV_OVERRIDES: Mapping[str, tuple[str, str]] = {
    "QR_DATABASE_URL": ("database", "url"),
    "QR_REDIS_URL": ("redis", "url"),
    "QR_HOST": ("server", "host"),
    "QR_PORT": ("server", "port"),
    "QR_WECHAT_APP_SECRET": ("wechat", "app_secret"),
    "QR_WECHAT_PAY_API_KEY": ("wechat_pay", "api_key"),
    "QR_WECHAT_PAY_APIV3_KEY": ("wechat_pay", "apiv3_key"),
    "QR_ADMIN_TOKEN_SECRET": ("auth", "admin_token_secret"),
    "QR_MEMBER_TOKEN_SECRET": ("auth", "member_token_secret"),
    "QR_OA_APP_SECRET": ("bot.official_account", "app_secret"),
    "QR_OA_TOKEN": ("bot.official_account", "token"),
    "QR_OA_ENCODING_AES_KEY": ("bot.official_account", "encoding_aes_key"),
    "QR_WECOM_KEY": ("bot.wecom", "key"),
    "QR_METRICS_TOKEN": ("metrics", "token"),
    "QR_LOG_LEVEL": ("logging", "level"),
    "QR_LOG_FORMAT": ("logging", "format"),
}


def load_settings(path: str | None, env: Mapping[str, str]) -> Settings:
    """Defaults, overlaid by the TOML file at ``path`` (if given), overlaid by ``env``.

    Raises ``ConfigError`` naming the file or variable and the key on anything unknown or ill-typed.
    """
    settings = Settings()
    if path is not None:
        settings = _from_table(Settings, _read_toml(path), source=path)
    for name, (section, key) in ENV_OVERRIDES.items():
        if name not in env:
            continue
        try:
            value: str | int = env[name]
            if name == "QR_PORT":
                value = _env_int(env[name])
            settings = _replace_at(settings, section.split("."), key, value)
        except InvalidValue as exc:
            raise ConfigError(f"environment variable {name}: {exc.problem}") from None
    return settings


def _env_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidValue("", f"{text!r} is not an integer") from None


def _replace_at(node: Any, path: list[str], key: str, value: str | int) -> Any:
    """``node`` with ``<path>.<key>`` set to ``value`` (sections may nest: ``bot.wecom``)."""
    if not path:
        return dataclasses.replace(node, **{key: value})
    child = _replace_at(getattr(node, path[0]), path[1:], key, value)
    return dataclasses.replace(node, **{path[0]: child})


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with Path(path).open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


# --- TOML tables -> settings dataclasses ---------------------------------------------------


def _from_table(cls: type[T], table: Mapping[str, Any], *, source: str) -> T:
    """Build ``cls`` from a TOML table; absent keys keep their defaults."""
    try:
        return _build(cls, table, None, "")
    except InvalidValue as exc:
        where = f"{source}: {exc.key}" if exc.key else source
        raise ConfigError(f"{where}: {exc.problem}") from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _field_default(f: "dataclasses.Field[Any]") -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _build(cls: type[T], table: Any, base: Any, path: str) -> T:
    """``cls`` from ``table``; fields absent from it come from ``base`` or the class defaults."""
    if not isinstance(table, Mapping):
        raise InvalidValue(path, f"expected a table, got {_describe(table)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in table:
        if key not in fields:
            near = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            known = ", ".join(fields)
            raise InvalidValue(_join(path, str(key)), f"unknown key{hint}; known keys: {known}")
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, f in fields.items():
        default = getattr(base, name) if base is not None else _field_default(f)
        if name in table:
            values[name] = _convert(table[name], hints[name], default, _join(path, name))
        elif default is dataclasses.MISSING:
            raise InvalidValue(_join(path, name), "required key is missing")
        else:
            values[name] = default
    try:
        return cls(**values)
    except InvalidValue as exc:
        raise InvalidValue(_join(path, exc.key), exc.problem) from None
    except RebateError as exc:
        # The engine names the field relative to the object it checks, when it can.
        if exc.field and exc.field.split(".", 1)[0] in fields:
            raise InvalidValue(_join(path, exc.field), exc.message) from None
        detail = f" ({exc.field})" if exc.field else ""
        raise InvalidValue(path, f"{exc.message}{detail}") from None


def _convert(value: Any, tp: Any, default: Any, path: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if len(options) != 1:
            raise TypeError(f"unsupported settings type {tp!r} at {path}")
        inner = default if dataclasses.is_dataclass(default) else None
        return _convert(value, options[0], inner, path)
    if origin is Literal or (isinstance(tp, type) and issubclass(tp, Enum)):
        return _choice(value, tp, path)
    if tp in _SCALARS:
        return _SCALARS[tp](value, path)
    if origin is tuple:
        args = get_args(tp)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"unsupported settings type {tp!r} at {path}")
        if not isinstance(value, list):
            raise InvalidValue(path, f"expected an array, got {_describe(value)}")
        return tuple(_convert(v, args[0], None, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict):
        key_type, value_type = get_args(tp)
        if not isinstance(value, Mapping):
            raise InvalidValue(path, f"expected a table, got {_describe(value)}")
        return {
            _convert_key(k, key_type, path): _convert(v, value_type, None, f"{path}.{k}")
            for k, v in value.items()
        }
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, default if dataclasses.is_dataclass(default) else None, path)
    raise TypeError(f"unsupported settings type {tp!r} at {path}")


def _choice(value: Any, tp: Any, path: str) -> Any:
    """A Literal's value or an Enum's member, refusing anything else with the choices."""
    literal = get_origin(tp) is Literal
    choices = get_args(tp) if literal else tuple(member.value for member in tp)
    if value not in choices:
        raise InvalidValue(path, f"expected one of {_choices(choices)}, got {_describe(value)}")
    return value if literal else tp(value)


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue(path, f"expected true or false, got {_describe(value)}")
    return value


def _int(value: Any, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        hint = ""
        if isinstance(value, float):
            hint = " (amounts are whole fen, ratios whole basis points: 65% = 6500)"
        raise InvalidValue(path, f"expected an integer, got {_describe(value)}{hint}")
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidValue(path, f"expected a string, got {_describe(value)}")
    return value


def _time(value: Any, path: str) -> time:
    if isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    if not isinstance(value, time):
        raise InvalidValue(path, f"expected a time of day like 08:30:00, got {_describe(value)}")
    return value


_SCALARS: dict[Any, Callable[[Any, str], Any]] = {bool: _bool, int: _int, str: _str, time: _time}


def _convert_key(key: str, key_type: Any, path: str) -> Any:
    if key_type is int:
        try:
            return int(key)
        except ValueError:
            raise InvalidValue(f"{path}.{key}", "expected an integer key") from None
    return _convert(key, key_type, None, f"{path}.{key}")


def _choices(choices: tuple[Any, ...]) -> str:
    return " | ".join(repr(c) for c in choices)


def _describe(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array"}
    kind = "table" if isinstance(value, Mapping) else names.get(type(value), type(value).__name__)
    return f"{kind} {value!r}" if not isinstance(value, Mapping | list) else kind
