"""The APScheduler wiring: the clearing job fires at the configured Beijing time for each
schedule kind, and two schedulers (as in two server processes) clear a slot exactly once."""

import asyncio
from datetime import UTC, datetime, time, timedelta

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED

from jobs.scheduler import (
    CLEARING,
    build_scheduler,
    clearing_trigger,
    load_scheduler,
    run_due_jobs,
    running_scheduler,
)
from models import Entry, EntryStatus, JobRun, OutboxEvent
from runtime.config import Settings
from services.catalog.products import new_product
from services.clock import LOCAL_TZ
from services.jobs import JOBS, JobClients
from services.members.accounts import new_member
from services.pool.close import JOB_NAME as POOL_CLOSE
from services.queues.clearing import ClearingKind, ClearingSchedule, latest_slot, save_schedule
from tests.member.support import buy, conserved, orm_on, setup
from tests.services.helpers import Clock

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=LOCAL_TZ)  # a Wednesday


@pytest.mark.parametrize(
    ("schedule", "fires"),
    [
        (ClearingSchedule(enabled=True), datetime(2026, 11, 26, 0, 0)),
        (ClearingSchedule(enabled=True, at=time(22, 30)), datetime(2026, 11, 25, 22, 30)),
        (
            ClearingSchedule(enabled=True, kind=ClearingKind.WEEKLY, weekday=1, at=time(3, 0)),
            datetime(2026, 11, 30, 3, 0),
        ),
        (
            ClearingSchedule(enabled=True, kind=ClearingKind.MONTHLY, day=1),
            datetime(2026, 12, 1, 0, 0),
        ),
        (
            ClearingSchedule(
                enabled=True, kind=ClearingKind.ONCE, once_at=datetime(2099, 1, 2, 8, 0)
            ),
            datetime(2099, 1, 2, 8, 0),
        ),
    ],
)
async def test_the_clearing_job_fires_at_the_scheduled_beijing_time(schedule, fires):
    scheduler = build_scheduler(Settings(), JobClients(), schedule)
    trigger = scheduler.get_job(CLEARING).trigger
    after = NOW if schedule.kind != ClearingKind.ONCE else NOW.replace(year=2098)
    fire = trigger.get_next_fire_time(None, after)
    assert fire == fires.replace(tzinfo=LOCAL_TZ)
    assert latest_slot(schedule, fire) == fire  # a run at that moment belongs to that slot
    assert latest_slot(schedule, fire - timedelta(minutes=1)) != fire
    scheduler.start(paused=True)  # the running scheduler computes the same kind of time
    try:
        next_run = scheduler.get_job(CLEARING).next_run_time.astimezone(LOCAL_TZ)
        assert (next_run.hour, next_run.minute) == (fires.hour, fires.minute)
        assert next_run > datetime.now(UTC)
    finally:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)


def test_no_clearing_job_while_it_is_off_or_a_one_off_time_is_long_past():
    assert build_scheduler(Settings(), JobClients(), ClearingSchedule()).get_job(CLEARING) is None
    past = ClearingSchedule(enabled=True, kind=ClearingKind.ONCE, once_at=datetime(2020, 1, 1))
    assert clearing_trigger(past) is None
    assert build_scheduler(Settings(), JobClients()).get_job("refresh-schedules") is not None


async def test_a_running_scheduler_follows_schedule_changes_in_the_database(db):
    async with running_scheduler(Settings(), JobClients()) as scheduler:
        assert scheduler.running and scheduler.get_job(CLEARING) is None
        refresh = scheduler.get_job("refresh-schedules")
        await save_schedule(ClearingSchedule(enabled=True, at=time(4, 0)))
        await refresh.func(*refresh.args)
        fire = scheduler.get_job(CLEARING).next_run_time.astimezone(LOCAL_TZ)
        assert (fire.hour, fire.minute) == (4, 0)
        await save_schedule(ClearingSchedule(enabled=False))
        await refresh.func(*refresh.args)
        assert scheduler.get_job(CLEARING) is None
    assert not scheduler.running


async def test_two_schedulers_clear_a_slot_exactly_once(pg_url):
    async with orm_on(pg_url, maxsize=8):
        await setup()
        clock = Clock(datetime.now(UTC) - timedelta(hours=1))  # entries join before the slot
        member, product = await new_member("a"), await new_product("P", 10_000)
        for _ in range(4):
            await buy(member, product, clock)
        # a one-off clearing a moment ago: each scheduler runs it (and its start-up catch-up)
        once = datetime.now(LOCAL_TZ).replace(tzinfo=None, second=0, microsecond=0)
        await save_schedule(ClearingSchedule(enabled=True, kind=ClearingKind.ONCE, once_at=once))
        events = []
        all_done = asyncio.Event()

        def count(event):
            if not event.job_id.startswith(CLEARING):
                return  # the other jobs (the settlement backlog runs at start too)
            events.append(event)
            if len(events) == 4:  # two schedulers × (the one-off job + its start-up catch-up)
                all_done.set()

        schedulers = [await load_scheduler(Settings(), JobClients()) for _ in range(2)]
        for s in schedulers:
            s.add_listener(count, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
            s.start()
        try:
            await asyncio.wait_for(all_done.wait(), timeout=30)
        finally:
            for s in schedulers:
                s.shutdown(wait=False)
            await asyncio.sleep(0)
        assert [e.exception for e in events] == [None] * 4
        assert sorted(e.job_id for e in events) == [CLEARING] * 2 + [f"{CLEARING}-catch-up"] * 2
        (run,) = await JobRun.all()
        assert (run.status, run.changes["entries"]) == ("succeeded", 4)
        assert await Entry.filter(status=EntryStatus.CLEARED).count() == 4
        assert await OutboxEvent.filter(kind="entry_cleared").count() == 4
        await conserved()


async def test_the_tick_runs_every_other_job_once_per_slot(db):
    await run_due_jobs(JobClients())
    runs = {run.name: run for run in await JobRun.all()}
    # clearing and the union pool's close are off until an operator switches them on
    assert set(runs) == set(JOBS) - {CLEARING, POOL_CLOSE}
    # without WeChat clients nothing is paid or queried, and those runs say so
    failed = {name: run.error for name, run in runs.items() if run.status != "succeeded"}
    assert set(failed) == {"merchant-payouts", "withdrawal-payouts"}, failed
    assert all("商家转账未配置" in error for error in failed.values()), failed
    assert runs["reconciliation"].changes == {"skipped": "WeChat Pay is not configured"}
    first = await JobRun.all().count()
    await run_due_jobs(JobClients())  # the same slots: nothing runs again
    assert await JobRun.all().count() == first
