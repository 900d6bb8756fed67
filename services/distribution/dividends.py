"""股东分红 (SPEC §8): a share of each period's completed turnover, split among shareholders.

- Period: the last complete calendar month (or ISO week), Beijing time, before the run.
- Turnover: cash paid on the unrefunded lines of orders *completed* inside the period (mall,
  store and cashier alike).
- Pool: ``floor(turnover × dividend_pool_bp / 10000)`` — the fraction of a fen stays with the
  platform (``rebate.distribution.dividend_pool``).
- Shareholders: members whose team level is at least ``shareholder_level``, as it stands when
  the job runs.
- Split: equal shares, by the largest-remainder method over members in id order, so the parts
  add up to exactly the pool; the fen that do not divide evenly go one each to the
  shareholders with the lowest member ids (``rebate.distribution.split_pool``). Equal rather
  than weighted by team turnover: the shareholder level already ranks members by turnover, and
  an equal split cannot be moved by shifting purchases between teams at the end of a period.
- No shareholder: the run is recorded with nothing distributed (the pool stays with the
  platform, and is visible on the run).
- Exactly once per period, however many processes run the job: the run row is unique by
  period and written in the same transaction as every share and its posting (from sales to
  the shareholder's cash).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from ledger import accounts
from ledger.postings import Posting, post
from models import DividendRun
from rebate.distribution import dividend_pool, split_pool
from rebate.distribution_settings import DistributionSettings, DividendPeriod
from runtime.sql import fetch, insert_many
from services.clock import LOCAL_TZ, local
from services.distribution.settings import load_distribution
from services.outbox import Event, emit


@dataclass(frozen=True)
class Period:
    key: str  # 2026-11 | 2026-W48
    start: datetime
    end: datetime


def previous_period(kind: DividendPeriod, now: datetime) -> Period:
    """The last complete period before ``now`` (Beijing calendar)."""
    today = local(now).date()
    if kind == DividendPeriod.MONTH:
        end_day = today.replace(day=1)
        start_day = (end_day - timedelta(days=1)).replace(day=1)
        key = f"{start_day.year:04d}-{start_day.month:02d}"
    else:
        end_day = today - timedelta(days=today.weekday())
        start_day = end_day - timedelta(days=7)
        year, week, _ = start_day.isocalendar()
        key = f"{year:04d}-W{week:02d}"
    return Period(key, _midnight(start_day), _midnight(end_day))


def _midnight(day: date) -> datetime:
    """Beijing midnight, as UTC (timestamps are stored in UTC; SQLite compares them as text)."""
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


@dataclass(frozen=True)
class DividendOutcome:
    ran: bool  # False: this period had already run
    run: DividendRun

    def as_changes(self) -> dict[str, object]:
        """For the job's run record."""
        return {
            "period": self.run.period,
            "ran": self.ran,
            "pool_fen": self.run.pool_fen,
            "shareholders": self.run.shareholders,
            "distributed_fen": self.run.distributed_fen,
        }


async def run_dividend(now: datetime, *, at: datetime | None = None) -> DividendOutcome:
    """Job: pay the dividend of the last period complete at ``at`` (the slot the run is for;
    default ``now``), once."""
    settings = await load_distribution()
    period = previous_period(settings.dividend_period, now if at is None else at)
    async with in_transaction() as conn:
        run_id = await _pay(conn, settings, period, now)
    run = await DividendRun.get(period=period.key)
    return DividendOutcome(ran=run_id is not None, run=run)


async def _pay(
    conn: BaseDBAsyncClient, settings: DistributionSettings, period: Period, now: datetime
) -> int | None:
    turnover = await completed_turnover(conn, period.start, period.end)
    pool = dividend_pool(turnover, settings)
    members = await shareholders(conn, settings)
    parts = split_pool(pool, len(members))
    rows = await fetch(
        conn,
        "INSERT INTO dividend_run (period, period_start, period_end, turnover_fen, pool_bp,"
        " pool_fen, shareholders, distributed_fen, ran_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (period) DO NOTHING RETURNING id",
        [
            period.key,
            period.start,
            period.end,
            turnover,
            settings.dividend_pool_bp,
            pool,
            len(members),
            sum(parts),
            now,
        ],
    )
    if not rows:
        return None
    run_id = int(rows[0]["id"])
    paid = [(m, amount) for m, amount in zip(members, parts, strict=True) if amount > 0]
    await _pay_shares(conn, run_id, period.key, paid, now)
    return run_id


async def _pay_shares(
    conn: BaseDBAsyncClient, run_id: int, period: str, paid: list[tuple[int, int]], now: datetime
) -> None:
    """Each shareholder's share: its row, its posting from sales to their cash, and the event
    that tells them."""
    if not paid:
        return
    await insert_many(
        conn,
        "dividend_share",
        ("run_id", "member_id", "amount_fen"),
        [(run_id, m, amount) for m, amount in paid],
    )
    await post(
        conn,
        [
            Posting(
                f"dividend:{period}:{m}",
                "dividend",
                accounts.SALES,
                accounts.member(m),
                "cash",
                amount,
                memo=f"股东分红 {period}",
            )
            for m, amount in paid
        ],
        now,
    )
    events = [
        Event("dividend_received", m, {"period": period, "amount_fen": amount, "run_id": run_id})
        for m, amount in paid
    ]
    await emit(conn, events, now)


async def completed_turnover(conn: BaseDBAsyncClient, start: datetime, end: datetime) -> int:
    rows = await fetch(
        conn,
        "SELECT COALESCE(SUM(l.paid_fen), 0) AS s FROM order_line l JOIN orders o"
        " ON o.id = l.order_id WHERE o.completed_at >= $1 AND o.completed_at < $2"
        " AND l.status <> 'refunded'",
        [start, end],
    )
    return int(rows[0]["s"])


async def shareholders(conn: BaseDBAsyncClient, settings: DistributionSettings) -> list[int]:
    """Shareholder member ids, ascending."""
    if settings.shareholder_level is None:
        return []
    rows = await fetch(
        conn,
        "SELECT member_id FROM team_standing WHERE level >= $1 ORDER BY member_id",
        [settings.shareholder_level],
    )
    return [int(r["member_id"]) for r in rows]
