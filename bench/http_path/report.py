"""What the HTTP benchmark prints: a line per run as it goes, then medians and the method."""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Mapping, Sequence

from bench.http_path.repeat import OrderFigures, Repeat, RunFigures
from bench.http_path.sqlcount import SqlCount
from bench.http_path.stats import median

METHOD = """How each figure was obtained:
- setup: a fresh database qr_bench_http, schema and base settings by `queue-rebate migrate` (its
  [rebate] table: settle on payment, one mall-wide queue, extraction 65 %, reward 130 %), 8
  products by SQL (no API makes them yet), VACUUM ANALYZE after seeding and before every timed
  phase (autovacuum is off on this machine). Redis: its own database, emptied of qr:* first.
- servers: N `queue-rebate serve --config FILE` processes, one per port (serve has no
  multi-process option); requests are spread over them round-robin. WeChat and WeChat Pay v3 are
  the fake WeChat (wechat_fake) in its own process, with fresh merchant and platform keys.
- orders: members log in (POST /api/login, code2session at the fake), then 16 concurrent clients
  place orders (POST /api/orders: order + v3 JSAPI prepay at the fake) of 1 or 2 products;
  orders/s = orders / wall time, latency = request → reply. Each member connects from its own
  loopback address and places at most 5 orders (serve's per-IP and per-member rate limits are
  not configurable). serve CPU per order from /proc/<pid>/stat utime+stime.
- notifications: every run's v3 TRANSACTION.SUCCESS notifications are signed by the fake before
  the run. cN = N senders, each sends its next when the previous is answered: notifications/s =
  n / (first send → last 204), latency = send → 204. paced = notification i sent at start + i/rate
  whatever the replies (open loop); rate achieved = n / (first scheduled send → last 204),
  latency from the scheduled moment. Every reply must be 204.
- settled/s = n / (first send → every line of the run's orders settled in the database).
- lag = 204 received → the order's entry listed by GET /api/entries, for 1 order in LAG_EVERY,
  polled at once, then 10 ms doubling to 100 ms apart: an upper bound, which includes the
  answering poll's own request time (printed beside it; when the first poll lists the entry,
  the entry was visible by the time the server ran that poll). The polls are extra load.
- CPU per notification: utime+stime of the serve processes (and --with helpers), and of the
  PostgreSQL backends of the bench database's sessions, from the first send until every line
  settled, / n.
- SQL: one fresh serve process with ALTER DATABASE … SET log_statement = 'all', warm-up
  notifications, then N sequential ones between two marker statements; the PostgreSQL log's
  statement lines of the bench database between the markers (the bench's own session excluded)
  / N; transactions per server process from BEGIN…COMMIT and lone statements, and the
  pg_stat_database xact_commit+xact_rollback delta less the bench session's own.
- pgbench: `pgbench -i -s SCALE` then `pgbench -N -c 8 -j 2 -T SECONDS` on a scratch database in
  the same run; ratio = notifications/s ÷ pgbench tps.
- checks after every repeat: every paid order's every line settled, with exactly one entry and
  one extraction; no pending settlement left; no order with two payment notices; every
  acknowledged payment's order paid; `queue-rebate check` (conservation) exits 0."""


def run_line(run: RunFigures) -> str:
    return (
        f"{run.name:>12}: {run.count:,} notifications, {run.per_s:,.0f}/s, p50 {run.p50_ms:,.1f} ms"
        f" p99 {run.p99_ms:,.1f} ms; settled {run.settled_per_s:,.0f}/s; lag p50"
        f" {run.lag_p50_ms:,.1f} ms p99 {run.lag_p99_ms:,.1f} ms ({run.lag_samples} sampled,"
        f" {run.first_poll_hits} seen at the first poll, {run.polls} polls, the answering"
        f" poll's own time p50 {run.poll_p50_ms:,.1f} ms p99 {run.poll_p99_ms:,.1f} ms);"
        f" CPU per notification: serve {run.server_cpu_ms:.2f} ms,"
        f" PostgreSQL {run.db_cpu_ms:.2f} ms, load generator {run.bench_cpu_ms:.2f} ms"
    )


def orders_line(o: OrderFigures) -> str:
    return (
        f"{'orders':>12}: {o.count:,} by {o.members:,} members (logins {o.logins_per_s:,.0f}/s),"
        f" {o.per_s:,.0f} orders/s at 16 concurrent, p50 {o.p50_ms:,.1f} ms p99"
        f" {o.p99_ms:,.1f} ms; serve CPU {o.server_cpu_ms:.2f} ms per order"
    )


def summary(
    load: str,
    tps: float,
    results: Mapping[int, Sequence[Repeat]],
    sql: SqlCount | None,
    verdict: str,
    a: argparse.Namespace,
) -> str:
    lines = [
        *header(load),
        f"options: --processes {','.join(map(str, a.processes))} --repeat {a.repeat}"
        f" --orders {a.orders} --rate {a.rate:g} --lag-every {a.lag_every}"
        f" --sql-count {a.sql_count}",
        f"pgbench -N -c {a.pgbench_clients} -j 2 -T {a.pgbench_seconds} (scale"
        f" {a.pgbench_scale}), same run: {tps:,.0f} tps",
    ]
    for processes, repeats in results.items():
        lines += median_lines(processes, repeats, tps)
    if sql is not None:
        lines.append(sql_line(sql))
    lines.append(f"checks: every paid order settled exactly once; queue-rebate check: {verdict}")
    return "\n".join(lines) + "\n\n" + METHOD.replace("LAG_EVERY", str(a.lag_every))


def _med(values: Sequence[float], fmt: str = ",.0f") -> str:
    return format(median(values), fmt)


def median_lines(processes: int, repeats: Sequence[Repeat], tps: float) -> list[str]:
    o = [r.orders for r in repeats]
    out = [
        f"{processes} serve process{'es' if processes > 1 else ''}, median of {len(repeats)}:",
        f"  orders created: {_med([x.per_s for x in o])}/s at 16 concurrent, p50"
        f" {_med([x.p50_ms for x in o], ',.1f')} ms p99 {_med([x.p99_ms for x in o], ',.1f')}"
        f" ms, serve CPU {_med([x.server_cpu_ms for x in o], '.2f')} ms/order",
    ]
    for i, name in enumerate(r.name for r in repeats[0].runs):
        runs = [r.runs[i] for r in repeats]
        rate = median([r.per_s for r in runs])
        out.append(
            f"  {name:>12}: {rate:,.0f} notifications/s (÷ pgbench {rate / tps:.3f}), p50"
            f" {_med([r.p50_ms for r in runs], ',.1f')} ms"
            f" p99 {_med([r.p99_ms for r in runs], ',.1f')} ms;"
            f" settled {_med([r.settled_per_s for r in runs])}/s; lag p50"
            f" {_med([r.lag_p50_ms for r in runs], ',.1f')} ms p99"
            f" {_med([r.lag_p99_ms for r in runs], ',.1f')} ms (of which the entries request"
            f" p50 {_med([r.poll_p50_ms for r in runs], ',.1f')} ms); CPU/notification serve"
            f" {_med([r.server_cpu_ms for r in runs], '.2f')} ms + PostgreSQL"
            f" {_med([r.db_cpu_ms for r in runs], '.2f')} ms"
        )
    return out


def sql_line(count: SqlCount) -> str:
    ranked = sorted(count.by_kind.items(), key=lambda kv: -kv[1])
    kinds = ", ".join(f"{k} {count.per(n):.1f}" for k, n in ranked)
    stat = (
        f", pg_stat_database {count.per(count.stat_xacts):.2f}"
        if count.stat_xacts is not None
        else ""
    )
    return (
        f"SQL per notification ({count.notifications} sequential, one serve process):"
        f" {count.per(count.statements):.1f} statements ({kinds});"
        f" transactions {count.per(count.transactions):.2f} (log){stat}"
    )


def header(load: str) -> list[str]:
    return [
        "",
        "== HTTP payment path: queue-rebate serve on PostgreSQL + Redis, fake WeChat Pay v3 ==",
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}, load average at start {load}",
    ]
