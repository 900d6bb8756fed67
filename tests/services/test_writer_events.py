"""The events the queue's writer leaves for the chat bot, exactly, on both backends (the
PostgreSQL writer builds their JSON by hand, services.queues.pg_bulk)."""

from models import Entry, OutboxEvent
from rebate.settings import RandomReturn, RatioSettings, SettleOn
from services.catalog.products import new_product
from services.members.accounts import new_member
from services.orders.lifecycle import Item, create_order, mark_paid
from tests.services.helpers import Clock, seeded, use_base

WRITER_KINDS = (
    "entry_joined",
    "lottery_available",
    "payout_received",
    "entry_completed",
    "entry_converted",
)


async def buy(member_id: int, product_id: int, clock: Clock) -> int:
    order = await create_order(member_id, "mall", items=[Item(product_id)])
    await mark_paid(order.id, paid_fen=order.paid_fen, now=clock.tick(), rng=seeded())
    return order.id


async def writer_events() -> list[tuple[str, int, dict]]:
    events = await OutboxEvent.filter(kind__in=WRITER_KINDS).order_by("id")
    return [(e.kind, e.member_id, e.payload) for e in events]


async def test_joined_lottery_payouts_and_completion(db):
    await use_base(settle_on=SettleOn.PAID, extract_bp=6500, ratios=RatioSettings(default_bp=13000))
    lottery = {"mode": "fixed", "ratios_bp": [1000, 5000]}
    product = await new_product("茶叶", 16800, rebate={"ratios": {"lottery": lottery}})
    clock = Clock()
    members = [(await new_member(f"e{i}")).id for i in range(3)]
    entries = []
    for m in members:
        entries.append(await Entry.get(order_id=await buy(m, product.id, clock)))
    doc = entries[0].lottery
    assert doc["mode"] == "fixed" and doc["source"] == "product:lottery"
    e1, e2, e3 = (e.id for e in entries)
    m1, m2, m3 = members

    def joined(entry_id: int, position: int) -> dict:
        return {
            "entry_id": entry_id,
            "queue": "mall",
            "position": position,
            "entitlement_fen": 21840,
            "lottery": True,
        }

    def received(paid: int) -> dict:
        return {
            "entry_id": e1,
            "amount_fen": 10920,
            "paid_fen": paid,
            "entitlement_fen": 21840,
            "progress_bp": paid * 10_000 // 21840,
        }

    assert await writer_events() == [
        ("entry_joined", m1, joined(e1, 0)),
        ("lottery_available", m1, {"entry_id": e1, "lottery": doc}),
        ("entry_joined", m2, joined(e2, 1)),
        ("lottery_available", m2, {"entry_id": e2, "lottery": doc}),
        ("payout_received", m1, received(10920)),
        ("entry_joined", m3, joined(e3, 1)),
        ("lottery_available", m3, {"entry_id": e3, "lottery": doc}),
        ("payout_received", m1, received(21840)),
        ("entry_completed", m1, {"entry_id": e1, "entitlement_fen": 21840}),
    ]


async def test_random_return_conversion(db):
    await use_base(
        settle_on=SettleOn.PAID,
        extract_bp=1000,
        ratios=RatioSettings(default_bp=13000),
        random_return=RandomReturn(cash_places=0, points_places=1),
        exchange_points_bp=10_000,
    )
    product = await new_product("A", 1000)
    member = (await new_member("r")).id
    entry = await Entry.get(order_id=await buy(member, product.id, Clock()))

    assert entry.points == 1300
    assert await writer_events() == [
        ("entry_converted", member, {"entry_id": entry.id, "points": 1300})
    ]
