"""Producers of paid orders, as payment callbacks would store them under ``settle_on = paid``.

``produce`` writes, per paid order, exactly the rows ``mark_paid`` + ``enqueue_order`` leave for
the queue's writer: the order (``paid``), its line (``settling``), the posting of its payment
and its pending settlement (extraction, entitlement and ratio decided at enqueue time). It writes them in bulk (COPY, a
chunk of orders per transaction) so that storing orders is not the bottleneck: the benchmark
measures the writer. ``produce_via_services`` drives the real service functions
(``create_order`` + ``mark_paid``, which settles inline) for comparison at a smaller scale.
"""

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from bench.dataset import EXTRACT_BP, LINE_COLUMNS, ORDER_COLUMNS, REWARD_BP, Dataset, asyncpg_url
from ledger.postings import COLUMNS as POSTING_COLUMNS
from rebate.money import apply_bp
from rebate.settings import OrderSource
from runtime.pg_codecs import install_codecs
from services.clock import local
from services.orders.lifecycle import payment_posting
from services.queues.plan import PENDING_COLUMNS


@dataclass
class Produced:
    orders: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0


async def produce(
    ds: Dataset,
    *,
    orders: int = 0,
    duration: float = 0.0,
    rate: float = 0.0,
    producers: int = 2,
    chunk: int = 200,
    seed: int = 11,
) -> Produced:
    """``producers`` connections storing paid orders, ``chunk`` orders per transaction, until
    ``orders`` are stored (if given) or ``duration`` seconds have passed; ``rate`` > 0 paces them
    to that many orders/s in total, else they go as fast as they can."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + duration if duration else float("inf")
    share = -(-orders // producers) if orders else None  # orders per producer
    per_producer = rate / producers if rate else 0.0
    counts = [0] * producers

    async def one(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        # codecs as the service's own connections have them (runtime/db.py)
        conn = await asyncpg.connect(asyncpg_url(ds.url))
        await install_codecs(conn)
        try:
            while loop.time() < deadline and (share is None or counts[k] < share):
                if per_producer:
                    delay = started + counts[k] / per_producer - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                n = chunk if share is None else min(chunk, share - counts[k])
                await store_paid_orders(conn, ds, n, rng)
                counts[k] += n
        finally:
            await conn.close()

    await asyncio.gather(*(one(k) for k in range(producers)))
    return Produced(sum(counts), loop.time() - started)


async def store_paid_orders(
    conn: asyncpg.Connection, ds: Dataset, n: int, rng: random.Random
) -> None:
    """One transaction: ``n`` paid mall orders of one line each, pending for the mall queue."""
    ids = await conn.fetch(
        "SELECT nextval('orders_id_seq') AS o, nextval('order_line_id_seq') AS l"
        " FROM generate_series(1, $1)",
        n,
    )
    now = datetime.now(UTC)
    day = local(now).date().isoformat()
    rows = []
    for r in ids:
        product = rng.choice(list(ds.product_prices))
        rows.append(
            (
                int(r["o"]),
                int(r["l"]),
                rng.randint(1, ds.members),
                product,
                ds.product_prices[product],
            )
        )
    async with conn.transaction():
        await conn.copy_records_to_table(
            "orders",
            columns=ORDER_COLUMNS,
            records=[
                (o, m, "mall", None, "paid", f"Q{o:030d}", price, 0, price, now, None, now)
                for o, _, m, _, price in rows
            ],
        )
        await conn.copy_records_to_table(
            "order_line",
            columns=LINE_COLUMNS,
            records=[(ln, o, p, 1, price, 0, "settling") for o, ln, _, p, price in rows],
        )
        await conn.copy_records_to_table(
            "posting",
            columns=POSTING_COLUMNS,
            records=[(*payment_posting(o, price), now) for o, _, _, _, price in rows],
        )
        await conn.copy_records_to_table(
            "pending_settlement",
            columns=PENDING_COLUMNS,
            records=[
                _pending(ds.queue_id, o, ln, m, p, price, day, now) for o, ln, m, p, price in rows
            ],
        )


def _pending(
    queue_id: int, order_id: int, line_id: int, member_id: int, product_id: int, price: int,
    day: str, now: datetime,
) -> tuple[object, ...]:  # fmt: skip
    """The pending settlement (PENDING_COLUMNS) ``enqueue_order`` writes for a paid line."""
    return (
        queue_id, line_id, order_id, member_id, apply_bp(price, EXTRACT_BP), True, "", price,
        REWARD_BP, "base:default", apply_bp(price, REWARD_BP), None, f"product:{product_id}", day,
        None, None, 0, 0, now,
    )  # fmt: skip


async def produce_via_services(
    ds: Dataset, *, orders: int, concurrency: int = 4, seed: int = 13
) -> Produced:
    """The full path: ``create_order`` then ``mark_paid`` (which enqueues and drains the queue
    inline), ``concurrency`` callers at once. Needs the ORM initialised by the caller."""
    from services.clock import utcnow
    from services.orders.lifecycle import Item, create_order, mark_paid

    rng = random.Random(seed)
    plan = [
        (rng.randint(1, ds.members), rng.choice(list(ds.product_prices))) for _ in range(orders)
    ]
    todo = iter(plan)

    async def worker() -> None:
        for member, product in todo:
            order = await create_order(member, OrderSource.MALL, items=[Item(product)])
            await mark_paid(order.id, paid_fen=order.paid_fen, now=utcnow())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Produced(orders, time.perf_counter() - started)
