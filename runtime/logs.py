"""The process's logs: who a line is about, one format, no secrets.

Code logs with the standard library (``logging.getLogger(__name__)``); ``configure`` renders
every record through ``LineFormatter``, as ``[logging] format``:

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
import functools
import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO

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


@functools.lru_cache(maxsize=1024)
def _secret_named(key: str) -> bool:
    return SECRET_FIELD.search(key) is not None


class Redactor:
    """The known secret values masked everywhere in a line's fields, and the values of
    secret-named fields masked whole."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def mask(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None else text

    def redact(self, fields: dict[str, Any]) -> dict[str, Any]:
        for key, value in fields.items():  # values replaced in place, no key added
            if key in CONTEXT_KEYS:
                continue
            if _secret_named(key) and value not in (None, ""):
                fields[key] = MASK
            elif isinstance(value, str):
                fields[key] = self.mask(value)
        return fields


_RECORD_KEYS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
LEVEL_WIDTH = 9  # "[info     ]": the widest level name, "exception", and no wider
EVENT_WIDTH = 30  # the message is padded so that the logger names line up


class LineFormatter(logging.Formatter):
    """One line per record: the fields below, masked by ``Redactor``, rendered as ``text`` or
    ``json``. Written by hand rather than through structlog's ``ProcessorFormatter`` (its chain
    took 38 µs a line, and a paid order logs two or three; this takes 15: ``python -m
    bench.log_lines``)."""

    def __init__(self, fmt: str, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._json = fmt == "json"
        self._redactor = Redactor(secrets)

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """``event``, ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, the ``extra=``
        fields, the known context and ``exception`` (the traceback), in that order."""
        when = datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z")
        event: dict[str, Any] = {
            "event": record.getMessage(),
            "timestamp": when,
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        for key, value in vars(record).items():
            if key not in _RECORD_KEYS and key not in CONTEXT_KEYS:
                event[key] = value
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value not in (None, "-"):
                event[key] = value
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return self._redactor.redact(event)

    def format(self, record: logging.LogRecord) -> str:
        event = self.fields(record)
        if self._json:
            return json.dumps(event, ensure_ascii=False, default=repr)
        head = f"{event.pop('timestamp')} [{event.pop('level'):<{LEVEL_WIDTH}}] "
        head += f"{event.pop('event'):<{EVENT_WIDTH}} [{event.pop('logger')}]"
        trace = event.pop("exception", None)
        pairs = "".join(
            f" {key}={value if isinstance(value, str) else repr(value)}"
            for key, value in sorted(event.items())
        )
        return head + pairs + (f"\n{trace}" if trace else "")


def formatter(settings: LoggingSettings, secrets: Iterable[str] = ()) -> logging.Formatter:
    """The formatter for ``settings.format``, masking ``secrets``."""
    return LineFormatter(settings.format, secrets)


def configure(
    settings: LoggingSettings, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.Handler:
    """Route every log record of the process to ``stream`` (stderr) in ``settings``' format and
    level, masking ``secrets``; quiet APScheduler. Returns the handler it installed (replacing
    any other on the root logger)."""
    install_record_context()
    # the logging HOWTO's "Optimization": no line shows its caller, thread or process, so the
    # records need not look them up (a few µs a line, on every request's access line)
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
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
