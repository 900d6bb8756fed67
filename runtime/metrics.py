"""The process's Prometheus metrics (``prometheus_client``), defined once, here.

Every metric lives in ``prometheus_client``'s default registry, which also carries the client's
process, platform and garbage-collector collectors (``process_cpu_seconds_total``,
``process_resident_memory_bytes``, ``process_open_fds``, ``python_gc_*``…). The HTTP layer, the
queue writer, the notifier and the jobs record what they do through the functions below; the
``/metrics`` endpoint (``web.metrics``) sets the database gauges at scrape time and renders the
registry.

Each process exposes its own metrics (no multiprocess mode): Prometheus scrapes every ``serve``
process (and every ``queue-rebate notifier`` with a metrics port) as a target of its own and
sums across them with ``sum by (…)``. Counters restart at zero with their process, which
``rate()`` handles. Label values are bounded: a route's template (never the raw path), a job's
name, a channel, and short fixed outcome codes.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.registry import CollectorRegistry

# No ``*_created`` twin of every counter and histogram series: Prometheus does not need them,
# and they would double the series scraped.
disable_created_metrics()

NAMESPACE = "queue_rebate"

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
    namespace=NAMESPACE,
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival to its response, by route template and method.",
    ["route", "method"],
    namespace=NAMESPACE,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PAY_NOTIFICATIONS = Counter(
    "pay_notifications",
    "WeChat Pay notifications (payment and refund notices) handled: result is accepted, "
    "duplicate or rejected; reason the precise outcome (applied, bad_signature, mismatch…).",
    ["kind", "result", "reason"],
    namespace=NAMESPACE,
)
WRITER_LAG = Histogram(
    "writer_lag_seconds",
    "Time from a line's settlement being committed (payment, completion) to its queue's writer "
    "settling it.",
    namespace=NAMESPACE,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
WRITER_BATCH = Histogram(
    "writer_batch_lines",
    "Lines settled per writer batch (one transaction).",
    namespace=NAMESPACE,
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
WRITER_FAILURES = Counter(
    "writer_failures",
    "Writer loop drains that failed (retried after a pause).",
    namespace=NAMESPACE,
)
DELIVERIES = Counter(
    "notifier_deliveries",
    "Notifier delivery tries, by channel and the status they left the delivery in "
    "(sent, pending: retried later, failed, refused, skipped).",
    ["channel", "status"],
    namespace=NAMESPACE,
)
JOB_RUNS = Counter(
    "job_runs",
    "Scheduled and operator job runs, by job and status (succeeded, failed, skipped: the slot "
    "had run; not_started: the scheduler's tick could not start it).",
    ["job", "status"],
    namespace=NAMESPACE,
)
JOB_DURATION = Histogram(
    "job_duration_seconds",
    "How long a job run's work took, by job.",
    ["job"],
    namespace=NAMESPACE,
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0),
)
QUEUE_DEPTH = Gauge(
    "queue_depth", "Entries waiting in all queues (from the database).", namespace=NAMESPACE
)
SETTLEMENT_PENDING = Gauge(
    "settlement_pending",
    "Order lines enqueued but not yet settled by their queue's writer (from the database).",
    namespace=NAMESPACE,
)
OUTBOX_BACKLOG = Gauge(
    "outbox_backlog",
    "Outbox events not delivered yet: not read by the notifier, or with a delivery pending or "
    "being sent (from the database).",
    namespace=NAMESPACE,
)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_LATENCY.labels(route, method).observe(seconds)


def count_notification(kind: str, outcome: str, *, acknowledged: bool) -> None:
    """``kind`` e.g. ``v3.payment``; ``outcome`` the handler's verdict (``applied``,
    ``duplicate``, ``bad_signature``…); ``acknowledged``: WeChat was told to stop retrying."""
    if not acknowledged:
        result = "rejected"
    else:
        result = "duplicate" if outcome == "duplicate" else "accepted"
    PAY_NOTIFICATIONS.labels(kind, result, outcome).inc()


def observe_batch(lines: int, lags: list[float]) -> None:
    """A writer batch of ``lines`` lines, each settled ``lags`` seconds after it was enqueued."""
    WRITER_BATCH.observe(lines)
    for lag in lags:
        WRITER_LAG.observe(max(lag, 0.0))


def count_delivery(channel: str, status: str) -> None:
    DELIVERIES.labels(channel, status).inc()


def observe_job(job: str, status: str, seconds: float | None = None) -> None:
    JOB_RUNS.labels(job, status).inc()
    if seconds is not None:
        JOB_DURATION.labels(job).observe(seconds)


def set_gauges(*, queue_depth: int, settlement_pending: int, outbox_backlog: int) -> None:
    QUEUE_DEPTH.set(queue_depth)
    SETTLEMENT_PENDING.set(settlement_pending)
    OUTBOX_BACKLOG.set(outbox_backlog)


def registry() -> CollectorRegistry:
    """The registry ``/metrics`` renders: the default one, with the process collectors."""
    return REGISTRY
