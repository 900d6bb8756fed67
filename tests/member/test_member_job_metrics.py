"""Job results as metrics: every run counted by job and status, and a job the scheduler's tick
could not even start counted too (not only logged)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY

from jobs.scheduler import run_due_jobs
from services.jobs import JOBS, Job, JobClients


def runs(job: str, status: str) -> float:
    labels = {"job": job, "status": status}
    return REGISTRY.get_sample_value("queue_rebate_job_runs_total", labels) or 0.0


async def test_the_tick_counts_each_jobs_result(db, monkeypatch: pytest.MonkeyPatch):
    async def no_slot_table(now: datetime) -> datetime | None:
        raise RuntimeError("the database went away")

    async def never(now: datetime, slot: datetime, clients: JobClients) -> dict[str, Any]:
        raise AssertionError("not started, so never run")

    monkeypatch.setitem(JOBS, "broken", Job(slot_for=no_slot_table, work=never))
    before = {
        "broken": runs("broken", "not_started"),
        "team-levels": runs("team-levels", "succeeded"),
        "payouts": runs("merchant-payouts", "failed"),
        "again": runs("team-levels", "skipped"),
    }
    await run_due_jobs(JobClients())
    assert runs("broken", "not_started") - before["broken"] == 1
    assert runs("team-levels", "succeeded") - before["team-levels"] == 1
    assert runs("merchant-payouts", "failed") - before["payouts"] == 1  # no 商家转账 client
    await run_due_jobs(JobClients())  # the same slots: each one skipped
    assert runs("team-levels", "skipped") - before["again"] == 1
    duration = REGISTRY.get_sample_value(
        "queue_rebate_job_duration_seconds_count", {"job": "team-levels"}
    )
    assert duration is not None and duration >= 1
