"""Job runs: each scheduled slot runs once, however many callers fire for it; every run is
recorded; a failed slot can be retried by an operator, a succeeded one cannot."""

import asyncio
from datetime import time, timedelta

import pytest

from models import Entry, EntryStatus, JobRun, OutboxEvent
from services.catalog.products import new_product
from services.errors import NotFound
from services.jobs import (
    JOBS,
    Job,
    JobClients,
    recent_runs,
    run_job,
    run_once,
    run_scheduled,
    slot_key,
)
from services.members.accounts import new_member
from services.queues.clearing import ClearingSchedule, save_schedule
from tests.member.support import buy, conserved, setup
from tests.services.helpers import Clock


async def three_waiting(clock: Clock) -> list[Entry]:
    await setup()
    member, product = await new_member("a"), await new_product("P", 10_000)
    return [await buy(member, product, clock) for _ in range(3)]


async def test_nothing_runs_or_is_recorded_while_clearing_is_off(db):
    clock = Clock()
    await three_waiting(clock)
    outcome = await run_scheduled("clearing", now=clock.tick())
    assert (outcome.ran, outcome.status) == (False, "skipped")
    assert await JobRun.all().count() == 0
    assert await Entry.filter(status=EntryStatus.WAITING).count() == 3


async def test_concurrent_runs_for_one_slot_clear_once(db):
    clock = Clock()
    entries = await three_waiting(clock)
    await save_schedule(ClearingSchedule(enabled=True, at=time(10, 30)))  # daily, Beijing time
    now = clock.tick(3600)  # 11:0x: the slot is today's 10:30, after the entries joined
    outcomes = await asyncio.gather(*(run_scheduled("clearing", now=now) for _ in range(4)))
    assert sorted(o.ran for o in outcomes) == [False, False, False, True]
    (run,) = await JobRun.all()
    assert (run.name, run.trigger, run.status, run.attempts) == (
        "clearing",
        "schedule",
        "succeeded",
        1,
    )
    assert run.slot == "2026-11-25T02:30Z"  # 10:30 Beijing
    assert run.changes["entries"] == 3 and run.finished_at is not None and run.error == ""
    assert await Entry.filter(status=EntryStatus.CLEARED).count() == len(entries)
    assert await OutboxEvent.filter(kind="entry_cleared").count() == 3
    later = await run_scheduled("clearing", now=now + timedelta(hours=1))  # same slot still
    assert later.ran is False
    await conserved()


async def test_an_operator_run_gets_a_slot_of_its_own(db):
    clock = Clock()
    await three_waiting(clock)
    now = clock.tick()
    outcome = await run_job("clearing", now=now)
    assert (outcome.ran, outcome.status, outcome.changes["entries"]) == (True, "succeeded", 3)
    (run,) = (await recent_runs("clearing")).items
    assert run.trigger == "operator"
    assert run.slot.startswith(f"operator:{now.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}:")
    again = await run_job("clearing", now=now)  # the same instant: a run of its own too
    assert (again.ran, again.status) == (True, "succeeded") and again.slot != outcome.slot
    assert await JobRun.filter(trigger="operator").count() == 2
    await conserved()


async def test_a_failed_run_is_recorded_and_only_an_operator_retries_it(db, monkeypatch):
    calls = []

    async def flaky(now, slot, clients):
        calls.append(clients)
        if len(calls) == 1:
            raise RuntimeError("数据库暂时不可用")
        return {"done": True}

    async def slot_for(now):
        return now.replace(minute=0, second=0, microsecond=0)

    monkeypatch.setitem(JOBS, "flaky", Job(slot_for=slot_for, work=flaky))
    now = Clock().tick()
    first = await run_scheduled("flaky", now=now)
    assert (first.status, first.error) == ("failed", "RuntimeError: 数据库暂时不可用")
    assert (await run_scheduled("flaky", now=now)).ran is False  # the scheduler does not retry
    slot = await slot_for(now)
    operators = JobClients()  # the work gets whatever clients the caller passes
    retry = await run_job("flaky", now=now, slot=slot, clients=operators)
    assert (retry.status, retry.changes) == ("succeeded", {"done": True})
    assert calls[-1] is operators
    run = await JobRun.get(name="flaky", slot=slot_key(slot))
    assert (run.status, run.attempts, run.error, run.trigger) == ("succeeded", 2, "", "operator")
    assert (await run_job("flaky", now=now, slot=slot)).ran is False  # succeeded: never again
    assert len(calls) == 2


async def test_an_unknown_job_is_not_found(db):
    with pytest.raises(NotFound) as caught:
        await run_job("dividends-typo", now=Clock().tick())
    assert caught.value.field == "name"
    assert await JobRun.all().count() == 0


async def test_run_once_records_what_it_changed(db):
    clock = Clock()
    await three_waiting(clock)
    slot = clock.tick()
    outcome = await run_once("clearing", slot, now=clock.tick())
    run = await JobRun.get(id=outcome.run_id)
    assert run.changes == outcome.changes and run.changes["forfeited_fen"] == 30_000 - 2_000
