"""The soak's figures (a dict, also written by ``--json``) and their printed form."""

from __future__ import annotations

import argparse
import math
from collections import Counter
from typing import Any

from bench.http_path.stats import ms, percentile
from bench.soak.load import Load
from bench.soak.memory import Memory
from bench.soak.operations import Operator


def figures(
    a: argparse.Namespace,
    load: Load,
    operator: Operator,
    memory: Memory,
    settled_after: float,
    problems: list[str],
    verdict: str,
    logged: Counter[str],
) -> dict[str, Any]:
    f, run = load.figures, load.figures.run
    errors = Counter(f.errors) + Counter(operator.figures.errors)
    ok = not problems and not errors and not logged and not math.isnan(settled_after)
    return {
        "ok": ok,
        "minutes": a.minutes,
        "offered_rate": a.rate,
        "processes": a.processes,
        "helpers": a.helpers,
        "orders": f.orders,
        "orders_per_s": f.orders / (a.minutes * 60.0) if a.minutes else 0.0,
        "order_p50_ms": ms(percentile(f.order_latencies, 0.5)),
        "order_p99_ms": ms(percentile(f.order_latencies, 0.99)),
        "notifications": run.count,
        "notification_p50_ms": ms(percentile(run.latencies, 0.5)),
        "notification_p99_ms": ms(percentile(run.latencies, 0.99)),
        "duplicates": f.duplicates,
        "late_starts": f.late,
        "lag_samples": len(run.lags),
        "lag_p50_ms": ms(percentile(run.lags, 0.5)),
        "lag_p99_ms": ms(percentile(run.lags, 0.99)),
        "lag_max_ms": ms(max(run.lags, default=0.0)),
        "settled_after_load_s": settled_after,
        "settings_changes": operator.figures.settings_changes,
        "job_runs": dict(operator.figures.job_runs),
        "job_statuses": dict(operator.figures.job_statuses),
        "errors": dict(errors),
        "log_errors": dict(logged),
        "memory": memory.table(),
        "problems": problems,
        "verdict": verdict,
    }


def text(fig: dict[str, Any]) -> str:
    lines = [
        f"Soak: {fig['minutes']:g} min at {fig['offered_rate']:g} orders/s offered,"
        f" {fig['processes']} serve process(es), beside them: {', '.join(fig['helpers']) or '-'}",
        f"  orders placed {fig['orders']} ({fig['orders_per_s']:.1f}/s),"
        f" p50 {fig['order_p50_ms']:.0f} ms, p99 {fig['order_p99_ms']:.0f} ms;"
        f" {fig['late_starts']} started late (too many in flight)",
        f"  notifications acknowledged {fig['notifications']}, p50"
        f" {fig['notification_p50_ms']:.0f} ms, p99 {fig['notification_p99_ms']:.0f} ms;"
        f" duplicates (WeChat's retries) acknowledged {fig['duplicates']}",
        f"  settlement lag (204 → entry listed by GET /api/entries), {fig['lag_samples']} samples:"
        f" p50 {fig['lag_p50_ms']:.0f} ms, p99 {fig['lag_p99_ms']:.0f} ms,"
        f" max {fig['lag_max_ms']:.0f} ms; everything settled"
        f" {fig['settled_after_load_s']:.1f} s after the load ended",
        f"  operator: {fig['settings_changes']} settings changes, job runs {fig['job_runs']}",
        f"    {fig['job_statuses']}",
        f"  errors: {fig['errors'] or 'none'}; error lines in the logs: {fig['log_errors'] or 'none'}",
        "  memory (RSS, MiB)            start  middle     end  growth  2nd half",
    ]
    for row in fig["memory"]:
        lines.append(
            f"    {row['process'][:26]:<26} {row['start_mib']:7.1f} {row['middle_mib']:7.1f}"
            f" {row['end_mib']:7.1f} {row['growth_mib']:+7.1f} {row['second_half_growth_mib']:+8.1f}"
        )
    lines += [f"  PROBLEM: {p}" for p in fig["problems"]]
    lines.append(f"  {fig['verdict']}")
    lines.append("Soak OK." if fig["ok"] else "Soak FAILED: see the errors and problems above.")
    return "\n".join(lines)
