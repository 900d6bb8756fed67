"""商家结算 (SPEC §8): store credits, period statements, and paying each statement exactly once.

- Credit: every settled store / cashier order credits its store with
  ``paid − floor(paid × commission_bp / 10000)`` (``paid``: cash on its lines not refunded;
  the store's commission rate at settlement), one ``StoreCredit`` per order (``credit:<order>``),
  posted from sales to the store's payable (``store:<id>``).
- Refund before the credit is on a statement: the credit is recomputed on what is left of the
  order (``reversed`` when nothing is) and the difference posted back to sales. Refund after:
  the credit stays as stated, and a negative ``clawback:<line>`` credit takes back the
  difference on the next statement (posted from the store's payable to sales).
- A statement paid moves its total from the store's payable out through WeChat Pay.
- Statement (T+N): the closing job run on Beijing day D takes, per store, every open credit
  created before day D − N + 1 began (an order settled on day T is paid on day T + N). One
  statement per store per day (unique); its total is exactly Σ its credits, which are its
  lines. When a store's open credits add up to ≤ 0 (clawbacks), no statement is written and
  they wait for later credits.
- Payout: each statement is paid once, by 商家转账 to the merchant owner's openid, with
  ``out_bill_no = MS<statement id>N<attempt>``. A timeout or an error never leads to a new
  number: the same number is queried; a bill WeChat never received is sent again under the
  same number; only a bill that is definitely failed (FAIL / CANCELLED) is replaced by attempt
  N+1. A statement above the single-transfer cap, or of a store without an owner, is left to
  an operator (``manual``). Every statement bill is sent under ``STATEMENT_SCENE`` (1005
  佣金报酬 with its two 报备信息): the scene travels with the bill, so the one 商家转账 client
  of the merchant account that also pays withdrawals can never send a statement under theirs.

The arithmetic of credits and clawbacks is the engine's (``rebate.store_commission``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from ledger import accounts
from ledger.postings import Posting, post
from models import (
    CreditKind,
    CreditStatus,
    MerchantTransfer,
    Order,
    OrderLine,
    Statement,
    StatementStatus,
    TransferState,
)
from rebate.settings import OrderSource
from rebate.store_commission import clawback, net_of_commission
from runtime.sql import execute, fetch, marks
from services.clock import LOCAL_TZ, local
from services.distribution.settings import load_distribution
from services.errors import NotFound
from services.outbox import Event, emit
from wechat.transfer import SceneInfo, TransferBill, Transfers, TransferScene, send_or_query

log = logging.getLogger(__name__)

CREDIT_COLUMNS = (
    "key",
    "store_id",
    "order_id",
    "line_id",
    "kind",
    "paid_fen",
    "commission_bp",
    "commission_fen",
    "amount_fen",
    "status",
    "created_at",
    "updated_at",
)
TRANSFER_REMARK = "门店结算款"
STATEMENT_SCENE = TransferScene(  # 佣金报酬, the scene merchant accounts are granted for it
    "1005", (SceneInfo("岗位类型", "门店商家"), SceneInfo("报酬说明", "门店结算款"))
)


async def paid_not_refunded(
    conn: BaseDBAsyncClient, order_id: int, *, excluding_line: int | None = None
) -> int:
    """Cash paid on the order's lines that are not refunded (the base of credits and rewards)."""
    rows = await fetch(
        conn,
        "SELECT COALESCE(SUM(paid_fen), 0) AS s FROM order_line"
        " WHERE order_id = $1 AND status <> 'refunded' AND id <> $2",
        [order_id, excluding_line if excluding_line is not None else -1],
    )
    return int(rows[0]["s"])


async def commission_rate(conn: BaseDBAsyncClient, store_id: int) -> int:
    """The store's commission rate now: what its credits (and the union pool's profit of its
    orders) are counted at when an order settles."""
    rows = await fetch(conn, "SELECT commission_bp FROM store WHERE id = $1", [store_id])
    return int(rows[0]["commission_bp"])


async def credit_order(conn: BaseDBAsyncClient, order: Order, now: datetime) -> None:
    """Credit the store for a settling store / cashier order (idempotent by its key)."""
    if order.source not in (OrderSource.STORE, OrderSource.CASHIER) or order.store_id is None:
        return
    paid = await paid_not_refunded(conn, order.id)
    if paid <= 0:
        return
    bp = await commission_rate(conn, order.store_id)  # type: ignore[attr-defined]
    commission, amount = net_of_commission(paid, bp)
    await _insert_credit(
        conn,
        (
            f"credit:{order.id}",
            order.store_id,
            order.id,
            None,
            CreditKind.CREDIT.value,
            paid,
            bp,
            commission,
            amount,
            CreditStatus.OPEN.value,
            now,
            now,
        ),
        now,
    )


async def _insert_credit(conn: BaseDBAsyncClient, row: tuple[object, ...], now: datetime) -> None:
    """The credit row, once (by its key), and its posting: a credit moves what the store is owed
    from sales to the store's payable; a clawback (negative) takes it back."""
    written = await fetch(
        conn,
        f"INSERT INTO store_credit ({', '.join(CREDIT_COLUMNS)}) VALUES ({marks(1, len(CREDIT_COLUMNS))})"
        " ON CONFLICT (key) DO NOTHING RETURNING key, store_id, order_id, amount_fen",
        list(row),
    )
    if written and int(written[0]["amount_fen"]):
        w = written[0]
        store, amount = accounts.store(int(w["store_id"])), int(w["amount_fen"])
        debit, credit = (accounts.SALES, store) if amount > 0 else (store, accounts.SALES)
        kind = "store_credit" if amount > 0 else "store_clawback"
        posting = Posting(
            f"store_credit:{w['key']}", kind, debit, credit, "cash", abs(amount),
            int(w["order_id"]),
        )  # fmt: skip
        await post(conn, [posting], now)


async def on_line_refunded(
    conn: BaseDBAsyncClient, line: OrderLine, paid_after: int, now: datetime
) -> None:
    """A line of a credited order was refunded; ``paid_after`` is what is left of the order."""
    rows = await fetch(
        conn,
        "SELECT id, store_id, paid_fen, commission_bp, amount_fen, status FROM store_credit"
        " WHERE key = $1",
        [f"credit:{line.order_id}"],
    )
    if not rows or rows[0]["status"] == CreditStatus.REVERSED.value:
        return
    credit = rows[0]
    bp = int(credit["commission_bp"])
    if credit["status"] == CreditStatus.OPEN.value and paid_after < int(credit["paid_fen"]):
        if await _reduce_open_credit(conn, credit, line, paid_after, now):
            return
    # Stated already (or just now, by a closing job): take the difference back later.
    accounted = await fetch(
        conn,
        "SELECT COALESCE(SUM(paid_fen), 0) AS p FROM store_credit WHERE order_id = $1"
        " AND kind IN ('credit', 'clawback')",
        [line.order_id],
    )
    taken = clawback(int(accounted[0]["p"]), paid_after, bp)
    if taken is None:
        return
    await _insert_credit(
        conn,
        (
            f"clawback:{line.id}",
            credit["store_id"],
            line.order_id,
            line.id,
            CreditKind.CLAWBACK.value,
            taken.paid_fen,
            bp,
            taken.commission_fen,
            taken.amount_fen,
            CreditStatus.OPEN.value,
            now,
            now,
        ),
        now,
    )


async def _reduce_open_credit(
    conn: BaseDBAsyncClient,
    credit: Mapping[str, Any],
    line: OrderLine,
    paid_after: int,
    now: datetime,
) -> bool:
    """An open credit is recomputed on what is left of the order (reversed when nothing is)
    and the difference posted back; False when a closing job stated it first."""
    commission, amount = net_of_commission(paid_after, int(credit["commission_bp"]))
    changed = await execute(
        conn,
        "UPDATE store_credit SET paid_fen = $1, commission_fen = $2, amount_fen = $3,"
        " status = $4, updated_at = $5 WHERE id = $6 AND status = 'open'",
        [
            paid_after,
            commission,
            amount,
            (CreditStatus.OPEN if paid_after > 0 else CreditStatus.REVERSED).value,
            now,
            credit["id"],
        ],
    )
    if changed and int(credit["amount_fen"]) > amount:
        await post(conn, [_reduction(credit, line, int(credit["amount_fen"]) - amount)], now)
    return bool(changed)


def _reduction(credit: Mapping[str, Any], line: OrderLine, amount: int) -> Posting:
    """What a refund takes off an open credit goes back from the store's payable to sales."""
    return Posting(
        f"store_credit_reduced:{credit['id']}:{line.id}", "store_credit_reduced",
        accounts.store(int(credit["store_id"])), accounts.SALES, "cash", amount,
        line.order_id,  # type: ignore[attr-defined]
    )  # fmt: skip


# --- statements -------------------------------------------------------------------------------


def statement_cutoff(now: datetime, days: int) -> tuple[str, datetime]:
    """(period, cutoff) for a closing run at ``now``: the Beijing day, and the start of the
    day after the last one whose credits are due (T+N)."""
    today = local(now).date()
    due_until = datetime.combine(today - timedelta(days=days - 1), time(0), tzinfo=LOCAL_TZ)
    return today.isoformat(), min(due_until, now).astimezone(UTC)  # stored timestamps are UTC


class _NothingDue(Exception):
    """Rolls back a statement whose credits add up to nothing payable."""


@dataclass(frozen=True)
class ClosingReport:
    period: str
    statements: int
    total_fen: int
    carried_stores: int  # stores whose open credits added up to ≤ 0

    def as_changes(self) -> dict[str, object]:
        return {
            "period": self.period,
            "statements": self.statements,
            "total_fen": self.total_fen,
            "carried_stores": self.carried_stores,
        }


async def close_statements(now: datetime, *, at: datetime | None = None) -> ClosingReport:
    """Job: one statement per store with credits due (T+N) on the Beijing day of ``at`` (the
    slot the run is for; default ``now``). Safe to run again and from many processes: the
    unique (store, period) row admits one statement per store per day."""
    settings = await load_distribution()
    period, cutoff = statement_cutoff(now if at is None else at, settings.statement_days)
    stores = [
        int(r["store_id"])
        for r in await fetch(
            connections.get("default"),
            "SELECT DISTINCT store_id FROM store_credit WHERE status = 'open' AND created_at < $1"
            " ORDER BY store_id",
            [cutoff],
        )
    ]
    made = total = carried = 0
    for store_id in stores:
        try:
            async with in_transaction() as conn:
                amount = await _close_store(conn, store_id, period, cutoff, now)
        except _NothingDue:
            carried += 1
            continue
        if amount is not None:
            made += 1
            total += amount
    return ClosingReport(period, made, total, carried)


async def _close_store(
    conn: BaseDBAsyncClient, store_id: int, period: str, cutoff: datetime, now: datetime
) -> int | None:
    rows = await fetch(
        conn,
        "INSERT INTO statement (store_id, period, cutoff, total_fen, credit_count, status, note,"
        " created_at) VALUES ($1, $2, $3, 0, 0, $4, '', $5)"
        " ON CONFLICT (store_id, period) DO NOTHING RETURNING id",
        [store_id, period, cutoff, StatementStatus.UNPAID.value, now],
    )
    if not rows:
        return None  # this store's statement for today exists already
    statement_id = int(rows[0]["id"])
    await execute(
        conn,
        "UPDATE store_credit SET statement_id = $1, status = 'stated', updated_at = $2"
        " WHERE store_id = $3 AND status = 'open' AND created_at < $4",
        [statement_id, now, store_id, cutoff],
    )
    sums = await fetch(
        conn,
        "SELECT COALESCE(SUM(amount_fen), 0) AS s, COUNT(*) AS n FROM store_credit"
        " WHERE statement_id = $1",
        [statement_id],
    )
    total, count = int(sums[0]["s"]), int(sums[0]["n"])
    if total <= 0:
        raise _NothingDue
    await execute(
        conn,
        "UPDATE statement SET total_fen = $1, credit_count = $2 WHERE id = $3",
        [total, count, statement_id],
    )
    owner = await _owner_of(conn, store_id)
    if owner is not None:
        closed = {"statement_id": statement_id, "store_id": store_id, "total_fen": total}
        await emit(conn, [Event("statement_closed", owner[0], closed)], now)
    return total


async def _owner_of(conn: BaseDBAsyncClient, store_id: int) -> tuple[int, str] | None:
    rows = await fetch(
        conn,
        "SELECT m.id, m.openid FROM merchant x JOIN member m ON m.id = x.owner_id"
        " WHERE x.store_id = $1",
        [store_id],
    )
    return (int(rows[0]["id"]), str(rows[0]["openid"])) if rows else None


# --- payout -----------------------------------------------------------------------------------


async def pay_statement(
    statement_id: int, transfers: Transfers, *, now: datetime
) -> StatementStatus:
    """Move a statement's money once. Safe to call again at any time, from any process: it
    continues whatever attempt is in flight and never opens a second one while the first may
    still succeed."""
    attempt = await _current_attempt(statement_id, now)
    if attempt is None:
        return (await Statement.get(id=statement_id)).status
    bill = await _ask_wechat(attempt, transfers)
    if bill is None:
        return StatementStatus.PAYING
    return await _record_bill(statement_id, attempt.id, bill, now)


async def _current_attempt(statement_id: int, now: datetime) -> MerchantTransfer | None:
    """The attempt to pursue, opening a new one only when there is none or the last one is
    definitely failed. None: nothing to do (paid, or left to an operator)."""
    settings = await load_distribution()
    async with in_transaction() as conn:
        st = await Statement.select_for_update().using_db(conn).get_or_none(id=statement_id)
        if st is None:
            raise NotFound("结算单不存在")
        if st.status in (StatementStatus.PAID, StatementStatus.MANUAL):
            return None
        last = (
            await MerchantTransfer.filter(statement_id=statement_id)
            .using_db(conn)
            .order_by("-attempt")
            .first()
        )
        if last is not None and last.state not in (TransferState.FAIL, TransferState.CANCELLED):
            return last
        owner = await _owner_of(conn, st.store_id)
        problem = (
            "门店没有收款人，请人工结算"
            if owner is None
            else f"金额超过单笔转账上限 {settings.max_transfer_fen} 分，请人工结算"
            if st.total_fen > settings.max_transfer_fen
            else ""
        )
        if problem:
            st.status, st.note = StatementStatus.MANUAL, problem
            await st.save(using_db=conn, update_fields=["status", "note"])
            return None
        assert owner is not None
        number = (last.attempt + 1) if last else 1
        attempt = await MerchantTransfer.create(
            statement_id=statement_id,
            attempt=number,
            out_bill_no=f"MS{statement_id}N{number}",
            amount_fen=st.total_fen,
            openid=owner[1],
            state=TransferState.REQUESTED,
            created_at=now,
            updated_at=now,
            using_db=conn,
        )
        st.status = StatementStatus.PAYING
        await st.save(using_db=conn, update_fields=["status"])
    return attempt


async def _ask_wechat(attempt: MerchantTransfer, transfers: Transfers) -> TransferBill | None:
    """The bill's state as WeChat knows it, or None when it cannot be known now."""
    return await send_or_query(
        transfers,
        out_bill_no=attempt.out_bill_no,
        openid=attempt.openid,
        amount_fen=attempt.amount_fen,
        remark=TRANSFER_REMARK,
        scene=STATEMENT_SCENE,
        send=attempt.state == TransferState.REQUESTED,
    )


async def _record_bill(
    statement_id: int, attempt_id: int, bill: TransferBill, now: datetime
) -> StatementStatus:
    async with in_transaction() as conn:
        st = await Statement.select_for_update().using_db(conn).get(id=statement_id)
        attempt = await MerchantTransfer.filter(id=attempt_id).using_db(conn).get()
        if attempt.state in (TransferState.SUCCESS, TransferState.FAIL, TransferState.CANCELLED):
            return st.status  # someone recorded the final answer first
        if bill.amount_fen is not None and bill.amount_fen != attempt.amount_fen:
            log.error("transfer %s: WeChat reports %s fen", attempt.out_bill_no, bill.amount_fen)
        try:
            state = TransferState(bill.state)
        except ValueError:
            log.warning("transfer %s: unknown state %s", attempt.out_bill_no, bill.state)
            return st.status
        newly_waiting = (
            state == TransferState.WAIT_USER_CONFIRM
            and attempt.state != TransferState.WAIT_USER_CONFIRM
        )
        attempt.state = state
        attempt.transfer_bill_no = bill.transfer_bill_no or attempt.transfer_bill_no
        attempt.package_info = bill.package_info or attempt.package_info
        attempt.fail_reason = bill.fail_reason[:64]
        attempt.updated_at = now
        await attempt.save(using_db=conn)
        owner = await _owner_of(conn, st.store_id)
        if state == TransferState.SUCCESS:
            st.status, st.paid_at = StatementStatus.PAID, now
            await st.save(using_db=conn, update_fields=["status", "paid_at"])
            await post(conn, [_paid(st)], now)
            if owner:
                paid = {"statement_id": st.id, "total_fen": st.total_fen}
                await emit(conn, [Event("statement_paid", owner[0], paid)], now)
        elif state in (TransferState.FAIL, TransferState.CANCELLED):
            st.status, st.note = StatementStatus.UNPAID, f"转账失败: {bill.fail_reason}"[:200]
            await st.save(using_db=conn, update_fields=["status", "note"])
        elif newly_waiting and owner:
            confirm = {
                "statement_id": st.id,
                "out_bill_no": attempt.out_bill_no,
                "package_info": attempt.package_info,
            }
            await emit(conn, [Event("statement_confirm_needed", owner[0], confirm)], now)
        return st.status


def _paid(st: Statement) -> Posting:
    """A statement paid: its total leaves the store's payable through WeChat Pay (商家转账)."""
    return Posting(
        f"statement_paid:{st.id}", "statement_paid", accounts.store(st.store_id),  # type: ignore[attr-defined]
        accounts.WECHAT_PAY, "cash", st.total_fen,
    )  # fmt: skip


async def pay_due_statements(
    transfers: Transfers, *, now: datetime, limit: int = 100
) -> dict[str, int]:
    """Job: pursue every statement not yet paid (new ones, and attempts in flight)."""
    ids = [
        s.id
        for s in await Statement.filter(status__in=[StatementStatus.UNPAID, StatementStatus.PAYING])
        .order_by("id")
        .limit(limit)
    ]
    outcome: dict[str, int] = {}
    for statement_id in ids:
        status = await pay_statement(statement_id, transfers, now=now)
        outcome[status.value] = outcome.get(status.value, 0) + 1
    return outcome
