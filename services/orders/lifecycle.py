"""Order lifecycle: create, pay, complete, refund — and settlement at the configured event.

Settlement event (SPEC §4): ``paid`` settles when payment is recorded, ``completed`` (default)
when the order completes. Either way the order's lines are enqueued in the same transaction as
the status change, and the queues' writer applies them right after.
"""

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from ledger import accounts
from ledger.postings import Posting, post
from models import (
    EntryStatus,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    ProductKind,
)
from rebate.deduction import Plan, Request
from rebate.errors import AlreadySettled, InvalidAmount, NotAllowed
from rebate.money import check_fen
from rebate.random_return import RandomSource
from rebate.settings import BaseSettings, OrderSource, SettleOn
from runtime.sql import execute, fetch, insert_many, is_pg
from services.catalog.rules import cashier_rules, products_rules
from services.catalog.stock import release_stock, reserve_stock
from services.distribution.rewards import on_line_refunded
from services.errors import Conflict, NotFound
from services.members.level_changes import on_order_completed
from services.orders.deduction import give_back, plan_for, refund_share
from services.orders.deduction import take as take_deduction
from services.outbox import Event, emit
from services.pool.refunds import take_back_line
from services.queues.locks import lock_queue
from services.queues.plan import BUYER_AND_LINES, Buyer, OpenLine, buyer_and_lines_of, enqueue_order
from services.queues.runner import hand_over
from services.settings.base import load_base

MAX_QUANTITY = 999
NO_DEDUCTION = Request()


@dataclass(frozen=True)
class Item:
    product_id: int
    quantity: int = 1


@dataclass(frozen=True)
class Placed:
    """An order as ``place_order`` made it (or, for a retried request, found it)."""

    order: Order
    lines: list[OrderLine]  # in id order; read back, or as inserted
    openid: str  # the payer, for the prepay
    replayed: bool  # the same idempotency key made it before


async def create_order(
    member_id: int,
    source: OrderSource,
    *,
    items: list[Item] | None = None,
    store_id: int | None = None,
    amount_fen: int | None = None,
    deduction: Request = NO_DEDUCTION,
) -> Order:
    """A new unpaid order (``place_order`` without an idempotency key)."""
    placed = await place_order(
        member_id,
        source,
        items=items,
        store_id=store_id,
        amount_fen=amount_fen,
        deduction=deduction,
    )
    return placed.order


async def place_order(
    member_id: int,
    source: OrderSource,
    *,
    items: list[Item] | None = None,
    store_id: int | None = None,
    amount_fen: int | None = None,
    deduction: Request = NO_DEDUCTION,
    idempotency_key: str | None = None,
) -> Placed:
    """A new unpaid order. Mall and store orders list goods; a cashier order is an amount paid
    to a store. ``deduction``: points / love value pay part of the price (抵扣,
    ``services.orders.deduction``), split over the lines and debited in the order's
    transaction with the member's wallet locked (one posting per unit used); none: nothing of
    it is read or written.

    The goods and the cashier are checked against the settings cache; the member, the order
    and its lines are one transaction of three statements (four when goods count stock: one
    conditional UPDATE takes it, ``services.catalog.stock``). With ``idempotency_key``, a request
    the member already made under that key returns that order (``replayed``) — unless it asked
    for something else, which is refused."""
    counted: dict[int, int] = {}
    if source == OrderSource.CASHIER:
        lines = await _cashier_line(items, store_id, amount_fen)
    else:
        lines, store_id = await _goods_lines(source, items, store_id, amount_fen, counted)
    plan = await plan_for(source, lines, store_id, deduction)
    wanted = Wanted(
        source,
        store_id if source != OrderSource.MALL else None,
        lines,
        plan,
        tuple(sorted(counted.items())),
    )
    try:
        return await _insert_order(member_id, wanted, idempotency_key)
    except IntegrityError:
        if idempotency_key is None:
            raise
        placed = await _replay(member_id, wanted, idempotency_key)
        if placed is None:
            raise
        return placed


Line = tuple[int | None, int, int]  # product, quantity, price


@dataclass(frozen=True)
class Wanted:
    """What a request for an order asks for, checked."""

    source: OrderSource
    store_id: int | None
    lines: list[Line]
    deduction: Plan  # the lines' deductions, in line order
    counted: tuple[tuple[int, int], ...] = ()  # units of products that count stock, by id


LINE_COLUMNS = ("order_id", "product_id", "quantity", "paid_fen", "deduction_fen", "status")


async def _insert_order(member_id: int, wanted: Wanted, idempotency_key: str | None) -> Placed:
    """The order and its lines in one transaction (a concurrent request under the same key
    waits for this one and then fails on the key: IntegrityError), with the stock it takes."""
    prices = [price for _, _, price in wanted.lines]
    plan = wanted.deduction
    deductions = plan.lines or [0] * len(prices)
    async with in_transaction() as conn:
        openid, level = await _buyer(conn, member_id)
        if wanted.counted:
            await reserve_stock(conn, wanted.counted)
        order = await Order.create(
            member_id=member_id,
            member_level=level,  # the ratio chain's level (SPEC §5): the level at order time
            source=wanted.source,
            store_id=wanted.store_id,
            out_trade_no=new_out_trade_no(),
            total_fen=sum(prices),
            deduction_fen=plan.deduction_fen,
            deduction_points=plan.points,
            deduction_love=plan.love,
            paid_fen=sum(prices) - plan.deduction_fen,
            idempotency_key=idempotency_key,
            using_db=conn,
        )
        if plan.deduction_fen:
            await take_deduction(conn, member_id, order.id, plan, order.created_at)
        rows = [
            (order.id, pid, qty, price - d, d, LineStatus.OPEN.value)
            for (pid, qty, price), d in zip(wanted.lines, deductions, strict=True)
        ]
        ids = await insert_many(conn, "order_line", LINE_COLUMNS, rows, returning="id")
    lines = [
        OrderLine(id=int(i["id"]), **dict(zip(LINE_COLUMNS, row, strict=True)))
        for i, row in zip(ids, rows, strict=True)
    ]
    return Placed(order, lines, openid, replayed=False)


async def _buyer(conn: BaseDBAsyncClient, member_id: int) -> tuple[str, int]:
    """The member's openid (for the prepay) and 会员等级 (recorded on the order)."""
    rows = await fetch(conn, "SELECT openid, level FROM member WHERE id = $1", [member_id])
    if not rows:
        raise NotFound("会员不存在")
    return str(rows[0]["openid"]), int(rows[0]["level"])


async def _replay(member_id: int, wanted: Wanted, idempotency_key: str) -> Placed | None:
    """The member's order under ``idempotency_key`` (None: there is none), if it is what
    ``wanted`` asks for again."""
    order = await Order.get_or_none(member_id=member_id, idempotency_key=idempotency_key)
    if order is None:
        return None
    lines = await OrderLine.filter(order_id=order.id).order_by("id")
    again = (
        order.source == wanted.source
        and order.store_id == wanted.store_id  # type: ignore[attr-defined]
        and (order.deduction_points, order.deduction_love)
        == (wanted.deduction.points, wanted.deduction.love)
        and [(li.product_id, li.quantity) for li in lines]  # type: ignore[attr-defined]
        == [(pid, qty) for pid, qty, _ in wanted.lines]
        and (wanted.source != OrderSource.CASHIER or order.total_fen == wanted.lines[0][2])
    )
    if not again:
        raise Conflict("该幂等键已用于另一笔不同的订单", field="Idempotency-Key")
    openid, _ = await _buyer(connections.get("default"), member_id)
    return Placed(order, lines, openid, True)


async def _cashier_line(
    items: list[Item] | None, store_id: int | None, amount_fen: int | None
) -> list[Line]:
    """A cashier order is one amount paid to a store's cashier."""
    if items:
        raise InvalidAmount("收银台买单不能包含商品", field="items")
    if store_id is None or await cashier_rules(store_id) is None:
        raise NotFound("门店收银台不存在", field="store_id")
    return [(None, 1, check_fen(amount_fen if amount_fen is not None else 0, field="amount_fen"))]


async def _goods_lines(
    source: OrderSource,
    items: list[Item] | None,
    store_id: int | None,
    amount_fen: int | None,
    counted: dict[int, int],
) -> tuple[list[Line], int | None]:
    """The lines of a goods order and its store: mall orders buy self-operated and supplier
    goods, store orders one store's goods. ``counted`` receives the units of products that
    count stock."""
    if not items:
        raise InvalidAmount("订单至少需要一件商品", field="items")
    if amount_fen is not None:
        raise InvalidAmount("商品订单的金额由商品价格决定", field="amount_fen")
    lines: list[Line] = []
    products = await products_rules(item.product_id for item in items)  # one read at most
    for item in items:
        if not isinstance(item.quantity, int) or not 1 <= item.quantity <= MAX_QUANTITY:
            raise InvalidAmount(f"商品数量必须在 1–{MAX_QUANTITY} 之间", field="quantity")
        product = products.get(item.product_id)
        if product is None or not product.listed:
            raise NotFound(f"商品 {item.product_id} 不存在或已下架", field="product_id")
        if source == OrderSource.MALL and product.kind == ProductKind.STORE:
            raise NotAllowed("门店商品不能在商城订单中购买", field="product_id")
        if source == OrderSource.STORE:
            if product.kind != ProductKind.STORE:
                raise NotAllowed("门店订单只能购买门店商品", field="product_id")
            if store_id is None:
                store_id = product.store_id
            if product.store_id != store_id:
                raise NotAllowed("一个门店订单只能包含同一门店的商品", field="product_id")
        lines.append((product.id, item.quantity, product.price_fen * item.quantity))
        if product.counted:
            counted[product.id] = counted.get(product.id, 0) + item.quantity
    return lines, store_id


async def lock_order(conn: BaseDBAsyncClient, column: str, value: object) -> Order | None:
    """The order whose ``column`` (``id`` or ``out_trade_no``) is ``value``, locked for the rest
    of the transaction — one statement, and without the ORM's query building, which is most of
    the Python a payment costs (the row becomes a model as the ORM's own reads make it)."""
    assert column in ("id", "out_trade_no")
    lock = " FOR UPDATE" if is_pg(conn) else ""  # SQLite serialises writers itself
    rows = await fetch(conn, f"SELECT * FROM orders WHERE {column} = $1{lock}", [value])
    return Order._init_from_db(**rows[0]) if rows else None


async def lock_order_to_pay(
    conn: BaseDBAsyncClient, out_trade_no: str
) -> tuple[Order, tuple[Buyer, list[OpenLine]]] | None:
    """``lock_order`` by ``out_trade_no`` and the order's ``buyer_and_open_lines``, in one
    statement: a payment notification's first read (the order row alone is locked)."""
    lock = " FOR UPDATE OF o" if is_pg(conn) else ""
    rows = await fetch(
        conn,
        f"SELECT o.*, {BUYER_AND_LINES} FROM orders o JOIN member m ON m.id = o.member_id"
        " LEFT JOIN order_line l ON l.order_id = o.id AND l.status = 'open'"
        f" WHERE o.out_trade_no = $1 ORDER BY l.id{lock}",
        [out_trade_no],
    )
    if not rows:
        return None
    order = Order._init_from_db(**rows[0])
    return order, buyer_and_lines_of(order, rows)


async def close_unpaid(conn: BaseDBAsyncClient, order: Order, now: datetime) -> bool:
    """Close an unpaid order unless something paid it meanwhile (in the caller's transaction):
    the stock it took and the points / love value it deducted go back. Whether it closed."""
    changed = (
        await Order.filter(id=order.id, status=OrderStatus.CREATED)
        .using_db(conn)
        .update(status=OrderStatus.CLOSED)
    )
    if changed:
        await release_stock(conn, order.id)
        if order.deduction_fen:
            await give_back(conn, order, now)
        order.status = OrderStatus.CLOSED
    return bool(changed)


async def cancel_order(order_id: int, *, member_id: int, now: datetime) -> Order:
    """The member cancels their unpaid order (取消订单): it closes as reconciliation closes an
    expired one. Someone else's order is not found; a paid or closed one is refused."""
    async with in_transaction() as conn:
        order = await lock_order(conn, "id", order_id)
        if order is None or order.member_id != member_id:  # type: ignore[attr-defined]
            raise NotFound("订单不存在")
        if not await close_unpaid(conn, order, now):
            raise NotAllowed("只有未支付的订单可以取消")
    return order


def new_out_trade_no() -> str:
    """商户订单号: 32 chars max, letters and digits (WeChat Pay's rule)."""
    return "QR" + secrets.token_hex(15).upper()


async def mark_paid(
    order_id: int, *, paid_fen: int, now: datetime, rng: RandomSource | None = None
) -> Order:
    """Record payment. The amount must match to the fen; paying twice is refused. The payment
    callbacks use ``record_payment`` inside their own transaction instead."""
    base = await load_base()
    async with in_transaction() as conn:
        order = await lock_order(conn, "id", order_id)
        if order is None:
            raise NotFound("订单不存在")
        queues = await record_payment(conn, order, paid_fen=paid_fen, now=now, base=base)
    await hand_over(queues, now, rng)
    return order


async def record_payment(
    conn: BaseDBAsyncClient,
    order: Order,
    *,
    paid_fen: int,
    now: datetime,
    base: BaseSettings,
    read: tuple[Buyer, list[OpenLine]] | None = None,
) -> set[int]:
    """Mark a locked, unpaid order paid and, under 支付后结算, enqueue it. Returns the queues to
    hand over once the caller's transaction commits. ``read``: the order's
    ``buyer_and_open_lines`` in this transaction, if the caller has it already."""
    if order.status != OrderStatus.CREATED:
        raise AlreadySettled("订单已支付")
    if paid_fen != order.paid_fen:
        raise InvalidAmount(
            f"支付金额 {paid_fen} 与订单金额 {order.paid_fen} 不符", field="paid_fen"
        )
    order.status, order.paid_at = OrderStatus.PAID, now
    await execute(
        conn,
        "UPDATE orders SET status = $1, paid_at = $2 WHERE id = $3",
        [OrderStatus.PAID.value, now, order.id],
    )
    if paid_fen:
        await post(conn, [payment_posting(order.id, paid_fen)], now)
    if base.settle_on != SettleOn.PAID:
        return set()
    return await enqueue_order(conn, order, base, now, read)


def payment_posting(order_id: int, paid_fen: int) -> Posting:
    """A payment: the cash WeChat Pay collected for the order becomes the platform's sales."""
    return Posting(
        f"payment:{order_id}", "payment", accounts.WECHAT_PAY, accounts.SALES, "cash", paid_fen,
        order_id,
    )  # fmt: skip


async def complete_order(order_id: int, *, now: datetime, rng: RandomSource | None = None) -> Order:
    """确认收货 (or auto-complete): the default settlement event. Under ``completed_first`` this
    also makes the order's waiting entries payable; and the member rises to the 会员等级 their
    completed orders now reach (never lower). An order paid under 完成后结算 whose lines are
    still open settles now even if the event was switched to 支付后结算 meanwhile: every paid
    order settles exactly once."""
    base = await load_base()
    async with in_transaction() as conn:
        order = await Order.select_for_update().using_db(conn).get_or_none(id=order_id)
        if order is None:
            raise NotFound("订单不存在")
        if order.status != OrderStatus.PAID:
            raise NotAllowed("只有已支付的订单可以完成")
        order.status, order.completed_at = OrderStatus.COMPLETED, now
        await order.save(using_db=conn, update_fields=["status", "completed_at"])
        await execute(  # through its lines' extractions: entry has no index by order or line
            conn,
            "UPDATE entry SET order_completed = $1 WHERE id IN (SELECT x.entry_id FROM order_line l"
            " JOIN extraction x ON x.line_id = l.id WHERE l.order_id = $2)",
            [True, order.id],
        )
        unsettled = (
            await OrderLine.filter(order_id=order.id, status=LineStatus.OPEN)
            .using_db(conn)
            .exists()
        )
        settles = base.settle_on == SettleOn.COMPLETED or unsettled
        queues = await enqueue_order(conn, order, base, now) if settles else set()
        await on_order_completed(conn, order.member_id, order.id, now)  # type: ignore[attr-defined]
    await hand_over(queues, now, rng)
    return order


async def settle_order(
    order_id: int, *, now: datetime, rng: RandomSource | None = None
) -> set[int]:
    """Settle an order's open lines now (operator or recovery use). Settling twice is refused."""
    base = await load_base()
    async with in_transaction() as conn:
        order = await Order.select_for_update().using_db(conn).get_or_none(id=order_id)
        if order is None:
            raise NotFound("订单不存在")
        if order.status not in (OrderStatus.PAID, OrderStatus.COMPLETED):
            raise NotAllowed("订单未支付，不能结算")
        if (
            not await OrderLine.filter(order_id=order_id, status=LineStatus.OPEN)
            .using_db(conn)
            .exists()
        ):
            raise AlreadySettled("订单已结算")
        queues = await enqueue_order(conn, order, base, now)
    await hand_over(queues, now, rng)
    return queues


async def refund_line(
    line_id: int,
    *,
    now: datetime,
    within: Callable[[BaseDBAsyncClient], Awaitable[None]] | None = None,
) -> str:
    """Refund one line (SPEC §4). Before it settles: no queue effect. After: its entry, if still
    waiting, leaves the queue (``refunded``, remainder forfeited); what it received and what its
    extraction paid others stay paid (platform cost). Returns what happened.

    Lock order: the line's queue, its order, then the line. The queue first, as its writer takes
    it, so the two never deadlock; the order before any of its lines, as a payment or a
    completion takes it, and so that two refunds of one order's lines (in different queues)
    follow each other and each sees what the other left of the order. ``within`` runs in the
    same transaction (a refund notification records itself there, so it takes effect exactly
    once); if it raises, nothing changes."""
    for _ in range(3):
        queue_id = await _queue_of_line(line_id)
        async with in_transaction() as conn:
            if queue_id is not None:
                await lock_queue(conn, queue_id)
            order = await _lock_order_of_line(conn, line_id)
            line = await OrderLine.select_for_update().using_db(conn).get(id=line_id)
            if line.status == LineStatus.REFUNDED:
                raise AlreadySettled("该商品已退款")
            if order.status in (OrderStatus.CREATED, OrderStatus.CLOSED):
                raise NotAllowed("订单未支付，无需退款")
            if queue_id is None and line.status in (LineStatus.SETTLING, LineStatus.SETTLED):
                if await _queue_of_line(line_id) is not None:
                    continue  # it was enqueued meanwhile: retry with its queue locked
            outcome = await _refund_locked(conn, order, line, now)
            if within is not None:
                await within(conn)
            return outcome
    raise NotAllowed("退款与结算冲突，请重试")


async def _lock_order_of_line(conn: BaseDBAsyncClient, line_id: int) -> Order:
    rows = await fetch(conn, "SELECT order_id FROM order_line WHERE id = $1", [line_id])
    if not rows:
        raise NotFound("订单行不存在")
    return await Order.select_for_update().using_db(conn).get(id=int(rows[0]["order_id"]))


async def _refund_locked(
    conn: BaseDBAsyncClient, order: Order, line: OrderLine, now: datetime
) -> str:
    """The refund's effects, with the line and its order locked; what happened. The line's
    share of the order's deduction goes back too (SPEC §10)."""
    outcome = "before_settlement"
    if line.status == LineStatus.SETTLING:
        await execute(conn, "DELETE FROM pending_settlement WHERE line_id = $1", [line.id])
    elif line.status == LineStatus.SETTLED:
        pooled = await take_back_line(conn, line.id, order.id, now)  # a union pool order's
        outcome = pooled if pooled is not None else await _leave_queue(conn, line, now)
    await refund_share(conn, order, line, now)
    line.status, line.refunded_at = LineStatus.REFUNDED, now
    await line.save(using_db=conn, update_fields=["status", "refunded_at"])
    if line.paid_fen:
        await post(conn, [refund_posting(line)], now)
    await on_line_refunded(conn, line, now)  # frozen commissions and store credit
    others = OrderLine.filter(order_id=line.order_id).exclude(status=LineStatus.REFUNDED)  # type: ignore[attr-defined]
    if not await others.using_db(conn).exists():
        await Order.filter(id=line.order_id).using_db(conn).update(status=OrderStatus.REFUNDED)  # type: ignore[attr-defined]
    return outcome


async def _queue_of_line(line_id: int) -> int | None:
    rows = await fetch(
        connections.get("default"),
        "SELECT queue_id FROM pending_settlement WHERE line_id = $1"
        " UNION ALL SELECT queue_id FROM extraction WHERE line_id = $2",
        [line_id, line_id],
    )
    return int(rows[0]["queue_id"]) if rows else None


def refund_posting(line: OrderLine) -> Posting:
    """A refund: the line's cash goes back out through WeChat Pay."""
    return Posting(
        f"refund:{line.id}", "refund", accounts.SALES, accounts.WECHAT_PAY, "cash", line.paid_fen,
        line.order_id,  # type: ignore[attr-defined]
    )  # fmt: skip


async def _leave_queue(conn: BaseDBAsyncClient, line: OrderLine, now: datetime) -> str:
    """A settled line is refunded: its entry, if still waiting, leaves the queue. What its
    extraction already paid to others stays paid: that is what the refund costs the platform,
    posted from ``platform:cost`` to sales, which refunds the line in full (SPEC §4). What the
    extraction withheld or could not allocate is the platform's already."""
    rows = await fetch(
        conn,
        "SELECT x.id, x.paid_fen, e.id AS entry_id, e.queue_id, e.member_id FROM extraction x"
        " LEFT JOIN entry e ON e.id = x.entry_id WHERE x.line_id = $1",
        [line.id],
    )
    if not rows:
        return "after_settlement_no_entry"
    x = rows[0]
    if int(x["paid_fen"]):
        cost = Posting(
            f"refund_cost:{line.id}", "refund_cost", accounts.COST, accounts.SALES, "cash",
            int(x["paid_fen"]), line.order_id, None, int(x["id"]),  # type: ignore[attr-defined]
        )  # fmt: skip
        await post(conn, [cost], now)
    if x["entry_id"] is None:
        return "after_settlement_no_entry"
    changed = await execute(
        conn,
        "UPDATE entry SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        [EntryStatus.REFUNDED.value, now, x["entry_id"], EntryStatus.WAITING.value],
    )
    if not changed:
        return "after_settlement_entry_done"
    await execute(
        conn,
        "UPDATE queue SET waiting_count = waiting_count - 1 WHERE id = $1",
        [x["queue_id"]],
    )
    event = Event("entry_refunded", int(x["member_id"]), {"entry_id": int(x["entry_id"])})
    await emit(conn, [event], now)
    return "after_settlement_left_queue"
