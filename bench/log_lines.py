"""What one log line costs: ``python -m bench.log_lines``.

An access line as the HTTP middleware logs it (``extra=`` fields, a request id bound), rendered by
``runtime.logs.LineFormatter`` in ``text`` and ``json`` and, for scale, by the standard library's
``logging.Formatter`` with a plain format, each into a ``StringIO`` through a ``StreamHandler``
configured by ``runtime.logs.configure`` (so with its record factory and its logging knobs), two
configured secrets to mask. Median microseconds per line of 5 rounds of ``--lines`` lines, by
``time.perf_counter``; CPU only, no database.
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import time

from runtime import logs
from runtime.ops_settings import LoggingSettings

SECRETS = {"a-configured-secret", "another-secret-value"}
PLAIN = "%(asctime)s [%(levelname)s] %(message)s [%(name)s] request_id=%(request_id)s"


def per_line(formatter: logging.Formatter, lines: int) -> float:
    """Median µs per access line through a handler using ``formatter``."""
    logs.configure(LoggingSettings(format="text"), SECRETS, stream=io.StringIO())
    logging.getLogger().handlers[0].setFormatter(formatter)
    access = logging.getLogger("miniapp_api.access")
    token = logs.bind(request_id="4f1c0a9e7b3d2c10")
    rounds = []
    try:
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(lines):
                access.info(
                    "%s %s %s %.1fms", "POST", "/api/pay/notify/v3", 204, 3.2,
                    extra={"method": "POST", "path": "/api/pay/notify/v3", "status": 204,
                           "duration_ms": 3.2},
                )  # fmt: skip
            rounds.append((time.perf_counter() - started) / lines * 1e6)
    finally:
        logs.reset(token)
    return statistics.median(rounds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lines", type=int, default=20_000)
    a = p.parse_args()
    for name, formatter in (
        ("text (LineFormatter)", logs.formatter(LoggingSettings(format="text"), SECRETS)),
        ("json (LineFormatter)", logs.formatter(LoggingSettings(format="json"), SECRETS)),
        ("plain logging.Formatter, for scale", logging.Formatter(PLAIN)),
    ):
        print(f"{name}: {per_line(formatter, a.lines):.1f} µs per access line")


if __name__ == "__main__":
    main()
