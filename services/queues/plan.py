"""Enqueueing an order for settlement (SPEC §4–§6): for each open line, decide its queue, its
extraction, whether it may join, and the ratio its entry starts with — then leave it pending
for the queue's writer (``services.queues.writer``)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from tortoise.backends.base.client import BaseDBAsyncClient

from models import LineStatus, Order, OrderLine
from rebate.eligibility import line_verdict
from rebate.money import apply_bp
from rebate.queues import queue_key_for
from rebate.ratios import Layer, RatioChoice, ratio_for
from rebate.settings import BaseSettings, OrderSource, RatioSettings, TargetSettings
from runtime.sql import MAX_PARAMS, execute, fetch, insert_many, is_pg, marks, values_list
from services.catalog.rules import ProductRules, cashier_rules, products_rules, store_rules
from services.clock import local
from services.distribution.rewards import on_order_settled
from services.errors import NotFound
from services.pool.settings import load_pool
from services.pool.settlement import settle_into_pool
from services.queues.locks import ensure_queue
from services.settings.codec import to_doc


@dataclass(frozen=True)
class LineRules:
    """The settings that govern one line, merged from its layers."""

    target: TargetSettings  # enable switch, windows, limits (the line's own effective values)
    extract_bp: int
    layers: dict[Layer, RatioSettings]
    limit_target: str  # product:<id> | store:<id> | cashier:<store id>
    random_return: Any  # RandomReturn | None


class OpenLine(NamedTuple):
    """An order line not yet settled, as enqueueing reads it."""

    id: int
    product_id: int | None
    paid_fen: int


@dataclass(frozen=True)
class Buyer:
    id: int
    openid: str
    level: int


@dataclass(frozen=True)
class Targets:
    """The settings that govern an order's lines: its products', its store's, its cashier's."""

    products: dict[int, ProductRules]
    store: TargetSettings | None = None
    cashier: TargetSettings | None = None


async def targets_of(conn: BaseDBAsyncClient, order: Order, lines: Sequence[OpenLine]) -> Targets:
    """From the settings cache; what is not cached yet, one read per kind of row."""
    store_id = order.store_id  # type: ignore[attr-defined]
    if order.source == OrderSource.CASHIER:
        cashier = await cashier_rules(store_id, conn)
        if cashier is None:
            raise NotFound("该门店没有收银台")
        return Targets({}, cashier=cashier)
    ids = sorted({line.product_id for line in lines if line.product_id is not None})
    products = await products_rules(ids, conn)
    store = None
    if order.source != OrderSource.MALL:
        store = await store_rules(store_id, conn)
        if store is None:
            raise NotFound(f"门店 {store_id} 不存在")
    return Targets(products, store=store)


def rules_for_line(order: Order, line: OpenLine, base: BaseSettings, rows: Targets) -> LineRules:
    """Store goods: the store product's settings first, then the store's; windows and limits are
    the store's (门店排队返利设置). Cashier orders: the cashier's. Mall goods: the product's."""
    if rows.cashier is not None:
        t = rows.cashier
        return LineRules(
            t,
            _first(t.extract_bp, base.extract_bp),
            {Layer.CASHIER: t.ratios, Layer.BASE: base.ratios},
            f"cashier:{order.store_id}",  # type: ignore[attr-defined]
            t.random_return or base.random_return,
        )
    product = rows.products.get(line.product_id or 0)
    if product is None:
        raise NotFound(f"商品 {line.product_id} 不存在")
    return goods_rules(product, rows.store, base, order.store_id)  # type: ignore[attr-defined]


def goods_rules(
    product: ProductRules, store: TargetSettings | None, base: BaseSettings, store_id: int | None
) -> LineRules:
    """A goods line's rules: a mall product's own over base; a store product's over its store's
    (``store``, of the order's store ``store_id``) over base."""
    p = product.target
    if store is None:
        return LineRules(
            p,
            _first(p.extract_bp, base.extract_bp),
            {Layer.PRODUCT: p.ratios, Layer.BASE: base.ratios},
            f"product:{product.id}",
            base.random_return,
        )
    s = store
    merged = TargetSettings(
        enabled=p.enabled and s.enabled,
        extract_bp=None,
        ratios=p.ratios,
        windows=s.windows,
        limits=s.limits,
        random_return=s.random_return,
    )
    return LineRules(
        merged,
        _first(p.extract_bp, s.extract_bp, base.extract_bp),
        {Layer.STORE_PRODUCT: p.ratios, Layer.STORE: s.ratios, Layer.BASE: base.ratios},
        f"store:{store_id}",
        s.random_return or base.random_return,
    )


def _first(*values: int | None) -> int:
    for v in values:
        if v is not None:
            return v
    raise AssertionError("base settings always carry an extraction ratio")


async def spend_by_days(
    conn: BaseDBAsyncClient, order: Order, layers: dict[Layer, RatioSettings], now: datetime
) -> dict[int, int]:
    """累计金额: the member's completed qualifying orders (this one excluded) per tier window.
    Mall: self-operated + supplier goods; store and cashier: that store's cashier + online orders."""
    days = sorted({t.days for r in layers.values() for t in r.tiers})
    out: dict[int, int] = {}
    for d in days:
        since = now - timedelta(days=d)
        if order.source == OrderSource.MALL:
            rows = await fetch(
                conn,
                "SELECT COALESCE(SUM(paid_fen), 0) AS s FROM orders WHERE member_id = $1"
                " AND source = 'mall' AND status = 'completed' AND completed_at >= $2 AND id <> $3",
                [order.member_id, since, order.id],
            )
        else:
            rows = await fetch(
                conn,
                "SELECT COALESCE(SUM(paid_fen), 0) AS s FROM orders WHERE member_id = $1"
                " AND store_id = $2 AND source IN ('store', 'cashier') AND status = 'completed'"
                " AND completed_at >= $3 AND id <> $4",
                [order.member_id, order.store_id, since, order.id],
            )
        out[d] = int(rows[0]["s"])
    return out


PENDING_COLUMNS = (
    "queue_id",
    "line_id",
    "order_id",
    "member_id",
    "extraction_fen",
    "joins",
    "skip_reason",
    "base_fen",
    "ratio_bp",
    "ratio_source",
    "entitlement_fen",
    "lottery",
    "target",
    "day",
    "limit_per_day",
    "limit_total",
    "rr_cash",
    "rr_points",
    "created_at",
)


BUYER_AND_LINES = (
    "m.openid AS buyer_openid, m.level AS buyer_level, l.id AS line_id,"
    " l.product_id AS line_product_id, l.paid_fen AS line_paid_fen"
)  # what ``buyer_and_lines_of`` reads, from ``member m`` and the open lines ``l``


async def buyer_and_open_lines(
    conn: BaseDBAsyncClient, order: Order
) -> tuple[Buyer, list[OpenLine]]:
    """The order's buyer (with the 会员等级 the ratio chain uses) and its open lines, in one
    read."""
    rows = await fetch(
        conn,
        f"SELECT {BUYER_AND_LINES} FROM member m"
        " LEFT JOIN order_line l ON l.order_id = $1 AND l.status = 'open'"
        " WHERE m.id = $2 ORDER BY l.id",
        [order.id, order.member_id],
    )
    if not rows:
        raise NotFound("会员不存在")
    return buyer_and_lines_of(order, rows)


def buyer_and_lines_of(order: Order, rows: list[dict[str, Any]]) -> tuple[Buyer, list[OpenLine]]:
    """The buyer and open lines in ``rows`` (one per open line, or one with no line), read with
    ``BUYER_AND_LINES``."""
    # 会员等级 as it was when the order was placed (SPEC §5); the member's level now only for
    # orders placed before the order recorded it
    first = rows[0]
    level = order.member_level if order.member_level is not None else int(first["buyer_level"])
    buyer = Buyer(order.member_id, str(first["buyer_openid"]), level)  # type: ignore[attr-defined]
    lines = [
        OpenLine(int(r["line_id"]), r["line_product_id"], int(r["line_paid_fen"]))
        for r in rows
        if r["line_id"] is not None
    ]
    return buyer, lines


async def enqueue_order(
    conn: BaseDBAsyncClient,
    order: Order,
    base: BaseSettings,
    now: datetime,
    read: tuple[Buyer, list[OpenLine]] | None = None,
) -> set[int]:
    """Write a pending settlement for every open line of ``order``; returns the queues touched.
    ``read``: ``buyer_and_open_lines`` of this transaction, if the caller has it already.

    Master switch off or the line's target disabled: the line settles with no queue effect.
    An order whose source the union pool takes settles into the pool instead, after its rewards
    (``services.pool.settlement``): never into a share queue. Must run inside the caller's
    transaction, with the order row locked."""
    buyer, lines = read or await buyer_and_open_lines(conn, order)
    if lines and (pool := await load_pool(conn)).takes(order.source):
        await on_order_settled(conn, order, now)  # the rewards the pool's profit is net of
        await settle_into_pool(conn, order, pool, now)
        return set()
    paid_at = local(order.paid_at or now)
    targets = await targets_of(conn, order, lines) if lines else Targets({})
    queue_ids: dict[str, int] = {}
    rows: list[tuple[Any, ...]] = []
    inert: list[int] = []
    for line in lines:
        row = await _pending_row(conn, order, line, buyer, base, targets, paid_at, now, queue_ids)
        if row is None:
            inert.append(line.id)
        else:
            rows.append(row)
    if rows:
        await _write_pending(conn, rows)
    if inert:
        await OrderLine.filter(id__in=inert).using_db(conn).update(status=LineStatus.SETTLED)
    await on_order_settled(conn, order, now)  # referral, team and 招商 rewards; store credit
    return {int(r[0]) for r in rows}


async def _write_pending(conn: BaseDBAsyncClient, rows: list[tuple[Any, ...]]) -> None:
    """The pending settlements, and their lines marked settling: one statement on PostgreSQL
    (a data-modifying CTE, one round trip fewer on the payment path), two on SQLite."""
    if is_pg(conn) and len(rows) * len(PENDING_COLUMNS) <= MAX_PARAMS:
        values, args = values_list(conn, len(PENDING_COLUMNS), rows)
        await execute(
            conn,
            f"WITH p AS (INSERT INTO pending_settlement ({', '.join(PENDING_COLUMNS)})"
            f" VALUES {values} RETURNING line_id)"
            " UPDATE order_line SET status = 'settling' WHERE id IN (SELECT line_id FROM p)",
            args,
        )
        return
    await insert_many(conn, "pending_settlement", PENDING_COLUMNS, rows)
    ids = [r[1] for r in rows]
    await execute(
        conn, f"UPDATE order_line SET status = 'settling' WHERE id IN ({marks(1, len(ids))})", ids
    )


async def _pending_row(
    conn: BaseDBAsyncClient,
    order: Order,
    line: OpenLine,
    buyer: Buyer,
    base: BaseSettings,
    targets: Targets,
    paid_at: datetime,
    now: datetime,
    queue_ids: dict[str, int],
) -> tuple[Any, ...] | None:
    """The line's pending settlement (PENDING_COLUMNS): its queue, extraction, whether it may
    join, its ratio and where it came from; None when it extracts nothing (no queue effect)."""
    rules = rules_for_line(order, line, base, targets)
    # 抵扣订单开关 is about the order: under `exclude`, no line of an order that used points /
    # love value gets an entry, whatever its own share of the deduction rounded to.
    verdict = line_verdict(
        base, rules.target, paid_at_local=paid_at, deduction_fen=order.deduction_fen
    )
    if not verdict.extracts:
        return None
    choice: RatioChoice = ratio_for(
        order.source,
        rules.layers,
        level=buyer.level,
        spend_by_days=await spend_by_days(conn, order, rules.layers, now),
    )
    key = queue_key_for(order.source, base, product_id=line.product_id, store_id=order.store_id)
    if key not in queue_ids:
        queue_ids[key] = await ensure_queue(conn, key, now)
    rr = rules.random_return
    return (
        queue_ids[key],
        line.id,
        order.id,
        order.member_id,  # type: ignore[attr-defined]
        apply_bp(line.paid_fen, rules.extract_bp),
        verdict.joins,
        verdict.reason,
        line.paid_fen,
        choice.ratio_bp,
        choice.source,
        apply_bp(line.paid_fen, choice.ratio_bp),
        _lottery_doc(choice),
        rules.limit_target,
        paid_at.date().isoformat(),
        rules.target.limits.per_day,
        rules.target.limits.total,
        rr.cash_places if rr else 0,
        rr.points_places if rr else 0,
        now,
    )


def _lottery_doc(choice: RatioChoice) -> str | None:
    if choice.lottery is None:
        return None
    import json

    doc = to_doc(choice.lottery)
    doc["source"] = choice.lottery_source
    return json.dumps(doc)
