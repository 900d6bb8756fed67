"""商家结算: store credits, T+N statements that add up to their orders, and payout exactly once
through 商家转账 (query-before-retry)."""

import asyncio

import pytest

from models import MerchantTransfer, OrderLine, OutboxEvent, Statement, StoreCredit
from services.catalog.products import new_store
from services.checks import check_conservation
from services.members.accounts import new_member
from services.merchants.settlement import close_statements, pay_due_statements, pay_statement
from tests.distribution.support import (
    approved_store,
    base_rules,
    configure,
    days,
    pay_cashier,
    refund,
)
from tests.services.helpers import T0, Clock

DAY1 = T0 + days(1)  # T0 is 10:00 Beijing time


def owed(paid: int, bp: int = 3000) -> int:
    return paid - paid * bp // 10_000


async def books_balance() -> None:
    assert await check_conservation() == []
    assert await check_conservation() == []


async def test_statements_add_up_exactly_to_their_orders_and_follow_t_plus_n(db):
    await base_rules()
    await configure(statement_days=1)
    buyer = await new_member("buyer")
    stores = [await approved_store((await new_member(f"o{i}")).id) for i in range(2)]
    clock = Clock()
    amounts = {stores[0]: [1999, 3333, 7], stores[1]: [10_001]}
    for store_id, paid in amounts.items():
        for amount in paid:
            await pay_cashier(buyer.id, store_id, amount, clock)
    same_day = await close_statements(clock.tick())
    assert same_day.statements == 0  # T+1: nothing is due on the day itself
    report = await close_statements(DAY1)
    assert report.statements == 2 and report.period == "2026-11-26"
    for store_id, paid in amounts.items():
        statement = await Statement.get(store_id=store_id)
        credits = await StoreCredit.filter(statement_id=statement.id)
        assert (
            statement.total_fen == sum(owed(p) for p in paid) == sum(c.amount_fen for c in credits)
        )
        assert statement.credit_count == len(paid) == len(credits)
        assert {c.status for c in credits} == {"stated"}
    assert (await close_statements(DAY1 + days(0.1))).statements == 0  # once a day per store
    assert await Statement.all().count() == 2
    assert await OutboxEvent.filter(kind="statement_closed").count() == 2
    await books_balance()


async def test_refunds_reverse_open_credits_and_are_clawed_back_after_a_statement(db):
    await base_rules()
    await configure(statement_days=0)
    buyer = await new_member("buyer")
    store_id = await approved_store((await new_member("owner")).id)
    clock = Clock()
    early = await pay_cashier(buyer.id, store_id, 5000, clock)
    await refund((await OrderLine.get(order_id=early.id)).id, clock.tick())
    credit = await StoreCredit.get(key=f"credit:{early.id}")
    assert (credit.status, credit.paid_fen, credit.amount_fen) == ("reversed", 0, 0)
    stated = await pay_cashier(buyer.id, store_id, 10_000, clock)
    first = await close_statements(clock.tick())
    assert first.statements == 1 and first.total_fen == owed(10_000)
    await refund((await OrderLine.get(order_id=stated.id)).id, clock.tick())
    clawback = await StoreCredit.get(kind="clawback")
    assert (clawback.paid_fen, clawback.amount_fen, clawback.status) == (-10_000, -7000, "open")
    assert (await close_statements(clock.tick() + days(1))).carried_stores == 1  # −7000 waits
    await pay_cashier(buyer.id, store_id, 20_000, clock)
    later = await close_statements(clock.tick() + days(2))
    assert later.statements == 1 and later.total_fen == owed(20_000) - 7000
    await books_balance()


async def closed_statement(owner_id: int, paid: int, clock: Clock) -> Statement:
    store_id = await approved_store(owner_id)
    await pay_cashier((await new_member(f"buyer{paid}")).id, store_id, paid, clock)
    await close_statements(clock.tick() + days(2))
    return await Statement.get(store_id=store_id)


async def test_a_lost_answer_is_queried_under_the_same_number_and_paid_once(db, transfers):
    await base_rules()
    owner = await new_member("owner")
    clock = Clock()
    statement = await closed_statement(owner.id, 10_000, clock)
    transfers.bills.delay_next = 1  # the bill is made, the answer arrives after our timeout
    assert await pay_statement(statement.id, transfers.client, now=clock.tick()) == "paid"
    bills = transfers.bills.created()
    assert [(b.out_bill_no, b.amount, b.openid) for b in bills] == [
        (f"MS{statement.id}N1", 7000, owner.openid)
    ]
    assert (transfers.bills.transfer_calls, transfers.bills.query_calls) == (1, 1)
    assert await pay_statement(statement.id, transfers.client, now=clock.tick()) == "paid"
    assert await pay_due_statements(transfers.client, now=clock.tick()) == {}
    assert transfers.bills.transfer_calls == 1 and len(transfers.bills.created()) == 1
    assert await OutboxEvent.filter(kind="statement_paid", member_id=owner.id).count() == 1
    await books_balance()


async def test_an_error_before_any_bill_is_sent_again_under_the_same_number(db, transfers):
    await base_rules()
    clock = Clock()
    statement = await closed_statement((await new_member("owner")).id, 10_000, clock)
    transfers.bills.error_next = 1  # HTTP 500 and no bill: the query finds nothing
    assert await pay_statement(statement.id, transfers.client, now=clock.tick()) == "paying"
    attempt = await MerchantTransfer.get(statement_id=statement.id)
    assert attempt.state == "requested" and transfers.bills.created() == []
    assert await pay_due_statements(transfers.client, now=clock.tick()) == {"paid": 1}
    assert [b.out_bill_no for b in transfers.bills.created()] == [attempt.out_bill_no]
    assert await MerchantTransfer.filter(statement_id=statement.id).count() == 1
    await books_balance()


async def test_only_a_definitely_failed_bill_is_replaced_by_a_new_number(db, transfers):
    await base_rules()
    clock = Clock()
    statement = await closed_statement((await new_member("owner")).id, 10_000, clock)
    transfers.bills.outcome = "FAIL"
    assert await pay_statement(statement.id, transfers.client, now=clock.tick()) == "unpaid"
    transfers.bills.outcome = "SUCCESS"
    assert await pay_statement(statement.id, transfers.client, now=clock.tick()) == "paid"
    attempts = await MerchantTransfer.filter(statement_id=statement.id).order_by("attempt")
    assert [(a.out_bill_no, a.state) for a in attempts] == [
        (f"MS{statement.id}N1", "FAIL"),
        (f"MS{statement.id}N2", "SUCCESS"),
    ]
    await books_balance()


async def test_a_transfer_waiting_for_the_merchant_to_confirm_is_paid_after_confirmation(
    db, transfers
):
    await base_rules()
    owner = await new_member("owner")
    clock = Clock()
    statement = await closed_statement(owner.id, 10_000, clock)
    transfers.bills.outcome = "WAIT_USER_CONFIRM"
    assert await pay_statement(statement.id, transfers.client, now=clock.tick()) == "paying"
    event = await OutboxEvent.get(kind="statement_confirm_needed")
    assert event.member_id == owner.id and event.payload["package_info"]
    no = f"MS{statement.id}N1"
    async with transfers.http.post(f"{transfers.url}/__fake__/transfers/{no}/confirm") as r:
        assert r.status == 200
    assert await pay_statement(statement.id, transfers.client, now=clock.tick()) == "paid"
    assert transfers.bills.transfer_calls == 1
    await books_balance()


async def test_statements_without_a_payee_or_above_the_cap_are_left_to_an_operator(db, transfers):
    await base_rules()
    await configure(max_transfer_fen=5000, statement_days=0)
    clock = Clock()
    big = await closed_statement((await new_member("owner")).id, 10_000, clock)
    bare = await new_store("自营门店", commission_bp=3000)  # no merchant: nobody to pay
    await pay_cashier((await new_member("b2")).id, bare.id, 1000, clock)
    await close_statements(clock.tick() + days(3))
    orphan = await Statement.get(store_id=bare.id)
    assert await pay_due_statements(transfers.client, now=clock.tick()) == {"manual": 2}
    assert "上限" in (await Statement.get(id=big.id)).note
    assert "收款人" in (await Statement.get(id=orphan.id)).note
    assert transfers.bills.transfer_calls == 0
    await books_balance()


@pytest.mark.postgres
async def test_concurrent_closing_and_paying_make_one_statement_and_one_bill(pg, transfers):
    await base_rules()
    await configure(statement_days=0)
    clock = Clock()
    store_id = await approved_store((await new_member("owner")).id)
    for i in range(3):
        await pay_cashier((await new_member(f"b{i}")).id, store_id, 1000 + i, clock)
    closing = clock.tick()
    reports = await asyncio.gather(*(close_statements(closing) for _ in range(4)))
    assert sum(r.statements for r in reports) == 1
    statement = await Statement.get(store_id=store_id)
    assert statement.total_fen == sum(owed(1000 + i) for i in range(3))
    now = clock.tick()
    outcomes = await asyncio.gather(
        *(pay_statement(statement.id, transfers.client, now=now) for _ in range(4))
    )
    assert "paid" in outcomes and set(outcomes) <= {"paid", "paying"}
    assert len(transfers.bills.created()) == 1
    assert await MerchantTransfer.filter(statement_id=statement.id).count() == 1
    await books_balance()
