"""Operations settings: ``[metrics]``, ``[logging]`` and ``[outbox]``, read by ``runtime.config``'s
TOML loader into ``Settings.metrics`` / ``.logging`` / ``.outbox``.

- ``[metrics]``: ``/metrics`` needs ``Authorization: Bearer <token>``; with no token configured
  it answers 404 (the default: metrics are not exposed until an operator sets a token, best
  from ``QR_METRICS_TOKEN``). A ``queue-rebate notifier`` serves it on its ``--health-port``.
- ``[logging]``: ``level`` and ``format`` (``text`` for a terminal, the default; ``json``, one
  object per line, for production log shippers); ``QR_LOG_LEVEL`` / ``QR_LOG_FORMAT`` override.
- ``[outbox]``: delivered outbox events are kept ``retention_days`` days, then deleted by the
  daily ``outbox-retention`` job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from runtime.errors import InvalidValue

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class MetricsSettings:
    token: str = field(default="", repr=False)  # empty: /metrics answers 404

    def __post_init__(self) -> None:
        if self.token and len(self.token) < 16:
            raise InvalidValue("token", "must be at least 16 characters (or empty: no /metrics)")


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    format: Literal["text", "json"] = "text"

    def __post_init__(self) -> None:
        if self.level.upper() not in LEVELS:
            raise InvalidValue("level", f"expected one of {', '.join(LEVELS)}, got {self.level!r}")
        if self.format not in ("text", "json"):
            raise InvalidValue("format", f"expected 'text' or 'json', got {self.format!r}")

    @property
    def level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.level.upper()]


@dataclass(frozen=True)
class OutboxSettings:
    retention_days: int = 30  # delivered events older than this are deleted

    def __post_init__(self) -> None:
        if self.retention_days < 1:
            raise InvalidValue("retention_days", "must be at least 1")
