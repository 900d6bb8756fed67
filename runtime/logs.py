"""The process's logs: who a line is about, one format, no secrets.

Code logs with the standard library (``logging.getLogger(__name__)``); ``configure`` renders
every record through ``structlog``'s ``ProcessorFormatter`` (structlog, STACK.md), as
``[logging] format``:

- ``text`` (the default, for a terminal and the demo): ``<time> [<level>] <message> [<logger>]
  request_id=… operator=…``;
- ``json``: one JSON object per line — ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``,
  ``event`` (the message), the context below, any ``extra=`` fields (the access log's
  ``method``, ``path``, ``status``, ``duration_ms``) and ``exception`` (the traceback) when
  there is one.

Context: ``bind(request_id=…, operator=…, member_id=…)`` sets what every line logged from then on
in this task carries, until ``reset(token)`` (the HTTP middleware binds the request id and
resets at the end of the request; the route guard adds the operator — the admin token's
subject — or the member id once the token is checked). Keys that are unknown are kept out.

Secrets: every line passes ``Redactor`` last before rendering: the configured secrets (token
secrets, API keys, app secrets, database and Redis passwords, the metrics token) are replaced
by ``***`` wherever they appear, as are the values of fields named like a secret
(``password``, ``secret``, ``token``, ``authorization``, ``api_key``…).

APScheduler logs two INFO lines per job run (every tick of every process): its loggers are set
to WARNING unless the level asked for is DEBUG.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from types import MappingProxyType
from typing import Any, TextIO

import structlog

from runtime.ops_settings import LoggingSettings

CONTEXT_KEYS = ("request_id", "operator", "member_id")
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "log_context", default=MappingProxyType({})
)
Token = contextvars.Token[Mapping[str, Any]]


def bind(**fields: Any) -> Token:
    """Add ``fields`` (of ``CONTEXT_KEYS``) to this task's log context; ``reset`` undoes it (and
    anything bound after it)."""
    unknown = set(fields) - set(CONTEXT_KEYS)
    if unknown:
        raise ValueError(f"unknown log context keys: {sorted(unknown)}")
    return _context.set({**_context.get(), **fields})


def reset(token: Token) -> None:
    _context.reset(token)


def context() -> Mapping[str, Any]:
    return _context.get()


def current_request_id() -> str:
    return str(_context.get().get("request_id", "-"))


def install_record_context() -> None:
    """Give every log record the context as attributes: ``request_id`` (``-`` outside a
    request, so ``%(request_id)s`` always formats), ``operator`` and ``member_id`` (None when
    unknown). Idempotent."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "_adds_log_context", False):
        return

    def record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        bound = _context.get()
        record.request_id = bound.get("request_id", "-")
        record.operator = bound.get("operator")
        record.member_id = bound.get("member_id")
        return record

    record_factory._adds_log_context = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record_factory)


# --- no secrets ----------------------------------------------------------------------------------

SECRET_FIELD = re.compile(r"pass(word)?|secret|token|authorization|api_?key|aes_key", re.I)
MASK = "***"
MIN_SECRET = 6  # shorter values would mask ordinary words


def secret_values(settings: Any) -> set[str]:
    """Every secret in a settings dataclass tree: the fields declared ``repr=False`` (how the
    settings mark a secret), a URL's password rather than the whole URL."""
    found: set[str] = set()
    if not dataclasses.is_dataclass(settings):
        return found
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if dataclasses.is_dataclass(value):
            found |= secret_values(value)
        elif isinstance(value, str) and value and not f.repr:
            found.add(_url_password(value) if "://" in value else value)
    found.discard("")
    return found


def _url_password(url: str) -> str:
    userinfo = url.partition("://")[2].rpartition("@")[0]
    return userinfo.partition(":")[2]


class Redactor:
    """A structlog processor: the known secret values masked everywhere in the line, and the
    values of secret-named fields masked whole."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def mask(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None else text

    def __call__(self, logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> Any:
        for key, value in list(event_dict.items()):
            if key in CONTEXT_KEYS:
                continue
            if SECRET_FIELD.search(key) and value not in (None, ""):
                event_dict[key] = MASK
            elif isinstance(value, str):
                event_dict[key] = self.mask(value)
        return event_dict


def _context_fields(logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """The record's context attributes, only those known (no ``-`` / None placeholders)."""
    for key in CONTEXT_KEYS:
        value = event_dict.pop(key, None)
        if value not in (None, "-"):
            event_dict[key] = value
    return event_dict


def formatter(settings: LoggingSettings, secrets: Iterable[str] = ()) -> logging.Formatter:
    """The formatter for ``settings.format``, masking ``secrets``."""
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            _context_fields,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # a plain traceback as text, before the redactor reads it (never a rich traceback
            # with local variables)
            structlog.processors.ExceptionRenderer(),
            Redactor(secrets),
            renderer,
        ],
    )


def configure(
    settings: LoggingSettings, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.Handler:
    """Route every log record of the process to ``stream`` (stderr) in ``settings``' format and
    level, masking ``secrets``; quiet APScheduler. Returns the handler it installed (replacing
    any other on the root logger)."""
    install_record_context()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(settings, secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level_number)
    scheduler_level = logging.DEBUG if settings.level_number <= logging.DEBUG else logging.WARNING
    logging.getLogger("apscheduler").setLevel(scheduler_level)
    return handler
