"""``/metrics`` in the Prometheus text exposition format (0.0.4), written by hand.

Counters live in this process (Prometheus scrapes every ``serve`` process and sums them):
``queue_rebate_http_requests_total{route,method,status}`` and
``queue_rebate_callbacks_total{kind,outcome}`` — the payment-notification handlers count
theirs with ``count_callback(request.app, kind, outcome)``. Gauges are computed from the
database at scrape time, so every process reports the same shared truth:
queue depth (Σ ``queue.waiting_count``), outbox backlog (rows in ``outbox_event``) and
settlement lag (``pending_settlement`` rows: lines waiting for their queue's writer).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from aiohttp import web
from tortoise import connections

from runtime.sql import fetch

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_HELP = {
    "queue_rebate_http_requests_total": ("counter", "HTTP requests answered, by route and status."),
    "queue_rebate_callbacks_total": (
        "counter",
        "WeChat Pay notifications handled, by kind and outcome.",
    ),
    "queue_rebate_queue_depth": ("gauge", "Entries waiting in all queues."),
    "queue_rebate_outbox_backlog": ("gauge", "Outbox events stored for delivery."),
    "queue_rebate_settlement_lag": ("gauge", "Order lines enqueued but not yet settled."),
}

Labels = tuple[tuple[str, str], ...]


class Metrics:
    """The process's counters."""

    def __init__(self) -> None:
        self._counters: dict[str, Counter[Labels]] = {
            "queue_rebate_http_requests_total": Counter(),
            "queue_rebate_callbacks_total": Counter(),
        }

    def inc(self, name: str, labels: Mapping[str, str], amount: int = 1) -> None:
        self._counters[name][tuple(sorted(labels.items()))] += amount

    def count_request(self, route: str, method: str, status: int) -> None:
        self.inc(
            "queue_rebate_http_requests_total",
            {"route": route, "method": method, "status": str(status)},
        )

    def count_callback(self, kind: str, outcome: str) -> None:
        self.inc("queue_rebate_callbacks_total", {"kind": kind, "outcome": outcome})

    def value(self, name: str, labels: Mapping[str, str]) -> int:
        return self._counters[name][tuple(sorted(labels.items()))]

    def counter_lines(self) -> list[str]:
        lines: list[str] = []
        for name, series in self._counters.items():
            lines.extend(_header(name))
            lines.extend(
                f"{name}{_labels(labels)} {value}" for labels, value in sorted(series.items())
            )
        return lines


METRICS = web.AppKey("metrics", Metrics)


def count_callback(app: web.Application, kind: str, outcome: str) -> None:
    """For the notification handlers: ``kind`` e.g. ``v3.payment``, ``outcome`` e.g.
    ``applied``, ``duplicate``, ``bad_signature``."""
    app[METRICS].count_callback(kind, outcome)


async def gauges() -> dict[str, int]:
    conn = connections.get("default")
    depth = await fetch(conn, "SELECT COALESCE(SUM(waiting_count), 0) AS n FROM queue")
    backlog = await fetch(conn, "SELECT COUNT(*) AS n FROM outbox_event")
    lag = await fetch(conn, "SELECT COUNT(*) AS n FROM pending_settlement")
    return {
        "queue_rebate_queue_depth": int(depth[0]["n"]),
        "queue_rebate_outbox_backlog": int(backlog[0]["n"]),
        "queue_rebate_settlement_lag": int(lag[0]["n"]),
    }


def exposition(metrics: Metrics, gauge_values: Mapping[str, int]) -> str:
    lines = metrics.counter_lines()
    for name, value in gauge_values.items():
        lines.extend(_header(name))
        lines.append(f"{name} {value}")
    return "\n".join(lines) + "\n"


def _header(name: str) -> Iterable[str]:
    kind, help_text = _HELP[name]
    return (f"# HELP {name} {help_text}", f"# TYPE {name} {kind}")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"
