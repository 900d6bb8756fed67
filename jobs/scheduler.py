"""APScheduler wiring: the scheduled jobs of one server process.

Start it in the same startup code that ran ``Tortoise.init``, after it (STACK.md: a scheduler
started elsewhere has no ORM context and its jobs fail with "No TortoiseContext is currently
active")::

    ctx = await Tortoise.init(config=...)
    async with running_scheduler(settings, clients):
        ...

``clients`` (``services.jobs.JobClients``) are the WeChat Pay and 商家转账 clients the caller
built once (the server: those of its ``WeChatGateway``); every run gets them as an argument,
exactly as an operator's run from the CLI or the admin API gets that edge's.

Every process may run a scheduler: the jobs call ``services.jobs.run_scheduled``, which claims
the scheduled slot in the database first, so each slot runs once however many processes fire.

Settlement is not a scheduled job: the server's writer loop (``services.queues.runner``) applies
what payments enqueue, and every second takes over what a stopped process left pending.

The clearing schedule lives in the database (``services.queues.clearing``). The scheduler re-reads it
every minute and moves (or removes) the clearing job when an operator has changed it, so a
change needs no restart. On start, a slot missed within the grace period (e.g. during a deploy
at midnight) is caught up; older misses are left to the operator (``run_job``).
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from runtime import metrics
from runtime.config import Settings
from services.clock import LOCAL_TZ, utcnow
from services.jobs import JOBS, JobClients, run_scheduled
from services.queues.clearing import (
    JOB_NAME,
    WEEKDAYS,
    ClearingKind,
    ClearingSchedule,
    latest_slot,
    load_schedule,
)

log = logging.getLogger(__name__)

CLEARING = JOB_NAME

REFRESH_SECONDS = 60
MISFIRE_GRACE = timedelta(hours=1)  # a run delayed longer than this is skipped, not run late


def clearing_trigger(schedule: ClearingSchedule) -> BaseTrigger | None:
    """The trigger for a clearing schedule (Beijing time), or None when it is switched off or a
    one-off time is already past the grace period."""
    if not schedule.enabled:
        return None
    hour, minute = schedule.at.hour, schedule.at.minute
    if schedule.kind == ClearingKind.DAILY:
        return CronTrigger(hour=hour, minute=minute, timezone=LOCAL_TZ)
    if schedule.kind == ClearingKind.WEEKLY:
        day_of_week = WEEKDAYS[schedule.weekday - 1]
        return CronTrigger(day_of_week=day_of_week, hour=hour, minute=minute, timezone=LOCAL_TZ)
    if schedule.kind == ClearingKind.MONTHLY:
        return CronTrigger(day=schedule.day, hour=hour, minute=minute, timezone=LOCAL_TZ)
    once = schedule.once_local()
    if once is None or once + MISFIRE_GRACE < utcnow():
        return None
    return DateTrigger(run_date=once, timezone=LOCAL_TZ)


async def run_clearing(clients: JobClients) -> None:
    outcome = await run_scheduled(CLEARING, now=utcnow(), clients=clients)
    if outcome.ran:
        log.info(
            "clearing %s: %s %s", outcome.slot, outcome.status, outcome.changes or outcome.error
        )


TICK_SECONDS = 60


async def run_due_jobs(clients: JobClients) -> None:
    """Every other registered job (reconciliation, auto-complete, commissions, statements,
    payouts, dividends, team levels, the love value release) runs its latest slot once, with ``clients``: the tick asks
    each job which slot ``now`` belongs to, and claiming the slot makes the run happen in one
    process only."""
    await _run_due(JOBS, clients)


async def _run_due(jobs: Iterable[str], clients: JobClients) -> None:
    for name in jobs:
        if name == CLEARING:
            continue  # clearing has its own trigger (an operator-set schedule)
        try:
            outcome = await run_scheduled(name, now=utcnow(), clients=clients)
        except Exception:  # one broken job must not starve the others
            log.exception("job %s could not be started", name)
            metrics.observe_job(name, "not_started")
            continue
        if outcome.ran:
            log.info(
                "%s %s: %s %s",
                name,
                outcome.slot,
                outcome.status,
                outcome.changes or outcome.error,
            )


@dataclass
class _ClearingJob:
    """The clearing schedule in force in this scheduler, run with ``clients``."""

    clients: JobClients
    schedule: ClearingSchedule | None = None

    def apply(self, scheduler: AsyncIOScheduler, schedule: ClearingSchedule) -> None:
        if schedule == self.schedule:
            return
        self.schedule = schedule
        trigger = clearing_trigger(schedule)
        if trigger is None:
            if scheduler.get_job(CLEARING) is not None:
                scheduler.remove_job(CLEARING)
            return
        scheduler.add_job(
            run_clearing,
            trigger,
            args=[self.clients],
            id=CLEARING,
            name="队列奖励清零",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(MISFIRE_GRACE.total_seconds()),
        )

    async def refresh(self, scheduler: AsyncIOScheduler) -> None:
        self.apply(scheduler, await load_schedule())


def build_scheduler(
    settings: Settings, clients: JobClients, clearing: ClearingSchedule | None = None
) -> AsyncIOScheduler:
    """A scheduler (not started) whose jobs run with ``clients``: the clearing job for
    ``clearing`` (default: the built-in schedule, off) and the job that keeps it in step with
    the database, the tick of the other jobs, the settlement backlog."""
    scheduler = AsyncIOScheduler(timezone=ZoneInfo(settings.scheduler.timezone))
    job = _ClearingJob(clients)
    job.apply(scheduler, clearing or ClearingSchedule())
    scheduler.add_job(
        job.refresh,
        IntervalTrigger(seconds=REFRESH_SECONDS),
        args=[scheduler],
        id="refresh-schedules",
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        run_due_jobs,
        IntervalTrigger(seconds=TICK_SECONDS),
        args=[clients],
        id="due-jobs",
        coalesce=True,
        max_instances=1,
    )
    return scheduler


async def load_scheduler(settings: Settings, clients: JobClients) -> AsyncIOScheduler:
    """The scheduler for the schedule in the database, not started yet (add listeners here).
    A slot missed within the grace period gets a catch-up run, a no-op if it already ran."""
    schedule = await load_schedule()
    scheduler = build_scheduler(settings, clients, schedule)
    slot = latest_slot(schedule, utcnow()) if schedule.enabled else None
    if slot is not None and utcnow() - slot <= MISFIRE_GRACE:
        scheduler.add_job(run_clearing, args=[clients], id=f"{CLEARING}-catch-up")
    return scheduler


async def start_scheduler(settings: Settings, clients: JobClients) -> AsyncIOScheduler:
    """Load the scheduler and start it. Call it after ``Tortoise.init``, in the same task (see
    the module docstring)."""
    scheduler = await load_scheduler(settings, clients)
    scheduler.start()
    return scheduler


@asynccontextmanager
async def running_scheduler(
    settings: Settings, clients: JobClients
) -> AsyncIterator[AsyncIOScheduler]:
    """The started scheduler for the life of the block (usable inside an aiohttp cleanup_ctx)."""
    scheduler = await start_scheduler(settings, clients)
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)  # runs on the event loop: give it its turn
        await asyncio.sleep(0)
