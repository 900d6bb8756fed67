"""Scheduled jobs: every run is recorded, and each scheduled slot runs exactly once.

A run first *claims* its slot: it inserts the ``job_run`` row ``(name, slot)`` in its own
committed statement, before any work. The unique constraint lets exactly one claim succeed, so
however many server processes (each with its own APScheduler) fire for the same scheduled time,
one does the work and the others return at once (STACK.md: APScheduler alone runs a job once
per process). The row then records when the run ended, what it changed and any error.

A failed run stays ``failed``; an operator may retry that slot (``run_job(name, now=…,
slot=…)``), which re-claims it in one conditional UPDATE, so two retries never both run. A
process that dies mid-run leaves its row ``running``: that slot is not retried by itself (a
late clearing is better than a double one) — the operator sees it in ``recent_runs`` and runs
the job by hand. An operator run without a slot gets its own key,
``operator:<time to the microsecond>:<random>``: several runs in one second all run. With a
slot, the work runs for that slot, not for the time it is started: the merchant statements
close the slot's day and the dividends pay the period before the slot (clearing and
auto-complete already take the slot); the catch-up jobs (reconciliation, commission release,
payouts, refunds, team levels) do everything due up to now; the love-value release releases
what matured by the slot, which includes the slot's work.
An operator's run is one line of the operation log (``services.audit``, section ``job``).

Dependencies are arguments: a job's work is ``work(now, slot, clients)``, where ``clients``
(``JobClients``) are the WeChat Pay and 商家转账 clients the caller built once — the server's
composition root for its scheduler and the operators' API, ``server.wechat_clients.wechat_clients``
for the command line — so a job runs the same from the scheduler, the CLI and the admin API.
Nothing is bound around a run (no context variables). Without clients (``JobClients()``)
reconciliation and the double payments' refunds skip their runs, saying so, and the payout jobs
fail, recorded, paying nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from functools import partial
from secrets import token_hex
from time import monotonic
from typing import TYPE_CHECKING, Any

from tortoise import connections
from tortoise.transactions import in_transaction

from models import JobRun, JobRunStatus
from rebate.distribution_settings import DividendPeriod
from rebate.errors import InvalidSetting, NotAllowed
from runtime import metrics
from runtime.ops_settings import OutboxSettings
from runtime.sql import fetch
from services import audit, outbox
from services.clock import LOCAL_TZ, utcnow
from services.distribution import dividends, rewards, team
from services.distribution.settings import load_distribution
from services.errors import NotFound
from services.merchants import settlement as merchant_settlement
from services.orders import auto_complete, double_payments, reconciliation
from services.orders.refunds import RefundGateway
from services.paging import DEFAULT_LIMIT, Page, page_by_id
from services.pool import close as pool_close
from services.queues import clearing
from services.wallets import love_release, withdrawals
from wechat.transfer import Transfers

if TYPE_CHECKING:
    from wechat.gateway import WeChatGateway

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobClients:
    """The WeChat clients jobs use, built once by whoever runs them and passed to every run.
    ``pay``: what reconciliation queries; ``transfers``: the one 商家转账 client (each payout
    names its own scene); ``refunds``: WeChat Pay's refund call (the same pay client), for the
    double payments' refunds. ``None``: not configured. With them, the one setting a job
    takes from the configuration: how long delivered outbox events are kept
    (``[outbox] retention_days``)."""

    pay: reconciliation.PaymentQueries | None = None
    transfers: Transfers | None = None
    refunds: RefundGateway | None = None
    outbox_retention: timedelta = timedelta(days=OutboxSettings().retention_days)

    @classmethod
    def of(cls, gateway: WeChatGateway, outbox: OutboxSettings | None = None) -> JobClients:
        """The clients of a built ``wechat.gateway.WeChatGateway``, and ``outbox``'s
        retention (the settings' ``outbox``; default 30 days)."""
        keep = timedelta(days=(outbox or OutboxSettings()).retention_days)
        return cls(
            pay=gateway.pay, transfers=gateway.transfers, refunds=gateway.pay, outbox_retention=keep
        )


NO_CLIENTS = JobClients()

Work = Callable[[datetime, datetime, JobClients], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Job:
    """A job: which slot a scheduled run at ``now`` belongs to (None: not scheduled now, e.g.
    switched off), and the work for a slot with the caller's clients, returning what it
    changed."""

    slot_for: Callable[[datetime], Awaitable[datetime | None]]
    work: Work  # (now, slot, clients) → changes


async def _clear(now: datetime, slot: datetime, clients: JobClients) -> dict[str, Any]:
    report = await clearing.clear_waiting_entries(now=now, slot=slot)
    return report.as_changes()


# --- distribution (SPEC §8): fixed cadences, Beijing time ---------------------------------------

SlotFor = Callable[[datetime], Awaitable[datetime | None]]


def every_minutes(minutes: int) -> SlotFor:
    async def slot_for(now: datetime) -> datetime:
        at = now.astimezone(LOCAL_TZ).replace(second=0, microsecond=0)
        return at.replace(minute=at.minute - at.minute % minutes)

    return slot_for


def daily_at(hour: int) -> SlotFor:
    schedule = clearing.ClearingSchedule(enabled=True, at=time(hour))

    async def slot_for(now: datetime) -> datetime | None:
        return clearing.latest_slot(schedule, now)

    return slot_for


async def dividend_slot(now: datetime) -> datetime | None:
    """01:00 on the 1st of each month, or on Mondays when dividends are weekly."""
    weekly = (await load_distribution()).dividend_period == DividendPeriod.WEEK
    kind = clearing.ClearingKind.WEEKLY if weekly else clearing.ClearingKind.MONTHLY
    return clearing.latest_slot(clearing.ClearingSchedule(True, kind, time(1)), now)


async def _reconcile(now: datetime, slot: datetime, clients: JobClients) -> dict[str, Any]:
    return await reconciliation.run_reconciliation(now, pay=clients.pay)


async def _auto_complete(now: datetime, slot: datetime, clients: JobClients) -> dict[str, Any]:
    return await auto_complete.run_auto_complete(now, slot)


async def _release_commissions(
    now: datetime, slot: datetime, clients: JobClients
) -> dict[str, Any]:
    return await rewards.release_matured_commissions(now)


async def _close_statements(now: datetime, slot: datetime, clients: JobClients) -> dict[str, Any]:
    return (await merchant_settlement.close_statements(now, at=slot)).as_changes()


def _transfers(clients: JobClients) -> Transfers:
    if clients.transfers is None:
        raise NotAllowed(
            "商家转账未配置：[wechat_pay] 缺少商户号，或使用 APIv2 时未配置 APIv3 密钥文件",
            field="wechat_pay",
        )
    return clients.transfers


async def _pay_statements(now: datetime, slot: datetime, clients: JobClients) -> dict[str, Any]:
    return await merchant_settlement.pay_due_statements(_transfers(clients), now=now)


async def _pursue_withdrawals(now: datetime, slot: datetime, clients: JobClients) -> dict[str, Any]:
    return await withdrawals.pursue_open_withdrawals(_transfers(clients), now=now)


async def _refund_double_payments(
    now: datetime, slot: datetime, clients: JobClients
) -> dict[str, Any]:
    return await double_payments.retry_double_payment_refunds(clients.refunds, now=now)


async def _pay_dividends(now: datetime, slot: datetime, clients: JobClients) -> dict[str, Any]:
    return (await dividends.run_dividend(now, at=slot)).as_changes()


async def _refresh_team_levels(
    now: datetime, slot: datetime, clients: JobClients
) -> dict[str, Any]:
    return await team.refresh_team_levels(now)


async def _release_love(now: datetime, slot: datetime, clients: JobClients) -> dict[str, Any]:
    return await love_release.release_frozen_love(now, slot)


async def _close_pool(now: datetime, slot: datetime, clients: JobClients) -> dict[str, Any]:
    return await pool_close.run_close(now, slot)


async def _prune_outbox(now: datetime, slot: datetime, clients: JobClients) -> dict[str, Any]:
    return await outbox.prune_delivered(before=now - clients.outbox_retention)


JOBS: dict[str, Job] = {
    clearing.JOB_NAME: Job(slot_for=clearing.scheduled_slot, work=_clear),
    # every 10 minutes / hourly; each needs its own switch on in job_setting (default on)
    reconciliation.JOB_NAME: Job(slot_for=reconciliation.scheduled_slot, work=_reconcile),
    auto_complete.JOB_NAME: Job(slot_for=auto_complete.scheduled_slot, work=_auto_complete),
    "commission-release": Job(slot_for=every_minutes(60), work=_release_commissions),
    "merchant-statements": Job(slot_for=daily_at(2), work=_close_statements),
    "merchant-payouts": Job(slot_for=every_minutes(15), work=_pay_statements),
    "withdrawal-payouts": Job(slot_for=every_minutes(15), work=_pursue_withdrawals),
    "double-payment-refunds": Job(slot_for=every_minutes(10), work=_refund_double_payments),
    "dividends": Job(slot_for=dividend_slot, work=_pay_dividends),
    "team-levels": Job(slot_for=daily_at(3), work=_refresh_team_levels),
    love_release.JOB_NAME: Job(slot_for=every_minutes(60), work=_release_love),
    # 工会排队's daily close, at its configured time; off while no order source joins the pool
    pool_close.JOB_NAME: Job(slot_for=pool_close.scheduled_slot, work=_close_pool),
    "outbox-retention": Job(slot_for=daily_at(4), work=_prune_outbox),
}


@dataclass(frozen=True)
class JobOutcome:
    """What a run did: its key (``slot``), the time its work ran for (``ran_for``, ISO), who
    started it, and its changes — or, when ``ran`` is False, why not (``error``) and the run
    that already holds the slot (``run_id``)."""

    name: str
    slot: str
    ran: bool  # False: another process (or an earlier run) already has this slot
    status: str  # succeeded | failed | skipped
    changes: dict[str, Any] | None = None
    error: str = ""
    run_id: int | None = None
    ran_for: str = ""
    trigger: str = "schedule"

    def as_doc(self) -> dict[str, Any]:
        return asdict(self)


def slot_key(slot: datetime) -> str:
    """A scheduled time as the run's key: UTC, to the minute."""
    return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def operator_key(now: datetime) -> str:
    """An operator run's own key: ``operator:<UTC time to the microsecond>:<random>``, so any
    number of runs in one second each get theirs (43 characters, inside ``job_run.slot``)."""
    return f"operator:{now.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}:{token_hex(3)}"


async def claim_slot(name: str, slot: str, *, now: datetime, trigger: str) -> int | None:
    """Claim ``(name, slot)``: the new run's id, or None when it was already claimed. A failed
    run of the slot is taken over only when ``trigger`` is ``operator``."""
    conn = connections.get("default")
    rows = await fetch(
        conn,
        "INSERT INTO job_run (name, slot, trigger, status, attempts, started_at, error)"
        " VALUES ($1, $2, $3, $4, 1, $5, '') ON CONFLICT (name, slot) DO NOTHING RETURNING id",
        [name, slot, trigger, JobRunStatus.RUNNING.value, now],
    )
    if rows:
        return int(rows[0]["id"])
    if trigger != "operator":
        return None
    rows = await fetch(
        conn,
        "UPDATE job_run SET status = $1, attempts = attempts + 1, started_at = $2,"
        " finished_at = NULL, error = '', trigger = $3"
        " WHERE name = $4 AND slot = $5 AND status = $6 RETURNING id",
        [JobRunStatus.RUNNING.value, now, trigger, name, slot, JobRunStatus.FAILED.value],
    )
    return int(rows[0]["id"]) if rows else None


async def run_once(
    name: str,
    slot: datetime,
    *,
    now: datetime,
    trigger: str = "schedule",
    key: str | None = None,
    clients: JobClients = NO_CLIENTS,
    operator: str = "",
) -> JobOutcome:
    """Run job ``name`` for ``slot`` with ``clients`` unless that slot is already claimed;
    record the run (and, for an ``operator``, its line in the operation log)."""
    job = _job(name)
    key = key or slot_key(slot)
    done = partial(JobOutcome, name, key, ran_for=slot.isoformat(), trigger=trigger)
    run_id = await claim_slot(name, key, now=now, trigger=trigger)
    if run_id is None:
        held = await JobRun.get_or_none(name=name, slot=key)
        status = held.status.value if held else "unknown"
        reason = f"该时段已运行过（状态 {status}），未重复运行"
        metrics.observe_job(name, "skipped")
        return done(ran=False, status="skipped", error=reason, run_id=held.id if held else None)
    started = monotonic()
    try:
        changes = await job.work(now, slot, clients)
    except Exception as exc:  # recorded, then reported to the caller as a failed run
        log.exception("job %s slot %s failed", name, key)
        error = f"{type(exc).__name__}: {exc}"
        outcome = done(ran=True, status="failed", error=error, run_id=run_id)
    else:
        outcome = done(ran=True, status="succeeded", changes=changes, run_id=run_id)
    metrics.observe_job(name, outcome.status, monotonic() - started)
    await _finish(outcome, operator)
    return outcome


async def _finish(outcome: JobOutcome, operator: str) -> None:
    """Record how the run ended; an operator's run is in the operation log, in the same
    transaction."""
    async with in_transaction() as conn:
        await (
            JobRun.filter(id=outcome.run_id)
            .using_db(conn)
            .update(
                status=JobRunStatus(outcome.status),
                changes=outcome.changes,
                error=outcome.error,
                finished_at=utcnow(),
            )
        )
        if operator:
            await audit.record(
                conn, operator=operator, section="job", target=f"job:{outcome.name}",
                new=outcome.as_doc(), now=utcnow(),
            )  # fmt: skip


async def run_scheduled(
    name: str, *, now: datetime, clients: JobClients = NO_CLIENTS
) -> JobOutcome:
    """What the scheduler calls when job ``name`` fires: run the slot ``now`` belongs to,
    exactly once across processes. Nothing is recorded when the job is not scheduled now."""
    slot = await _job(name).slot_for(now)
    if slot is None:
        return JobOutcome(name, "", ran=False, status="skipped", error="当前不在运行时段")
    return await run_once(name, slot, now=now, clients=clients)


async def run_job(
    name: str,
    *,
    now: datetime,
    slot: datetime | None = None,
    clients: JobClients = NO_CLIENTS,
    operator: str = "",
) -> JobOutcome:
    """An operator's run (``queue-rebate jobs run clearing``, ``POST /api/admin/jobs/…/run``).
    Without ``slot``: a run of its own, for ``now``, under a key of its own. With ``slot``:
    the work runs for that scheduled slot (a statement closes the slot's day, a dividend pays
    the period before it), if the slot never ran or its run failed; a slot later than ``now``
    is refused. ``operator`` names who asked, for the operation log."""
    _job(name)
    if slot is None:
        return await run_once(
            name, now, now=now, trigger="operator", key=operator_key(now), clients=clients,
            operator=operator,
        )  # fmt: skip
    if slot.tzinfo is None:
        raise InvalidSetting("slot 必须带时区，例如 2026-11-26T00:00+08:00", field="slot")
    if slot > now:
        raise InvalidSetting("slot 不能晚于当前时间：尚未到达的时段不能运行", field="slot")
    return await run_once(
        name, slot, now=now, trigger="operator", clients=clients, operator=operator
    )


async def recent_runs(
    name: str | None = None, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page[JobRun]:
    """The latest runs, newest first by the time they started (a retried slot keeps its row
    and id, so ids do not follow start times): paged on (started_at, id)."""
    query = JobRun.all() if name is None else JobRun.filter(name=name)
    return await page_by_id(query, cursor=cursor, limit=limit, key="started_at")


def _job(name: str) -> Job:
    job = JOBS.get(name)
    if job is None:
        raise NotFound(f"没有名为 {name} 的任务（可用: {', '.join(sorted(JOBS))}）", field="name")
    return job
