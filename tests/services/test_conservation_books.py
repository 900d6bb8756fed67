"""``queue-rebate check`` finds a posting that is missing, wrong or out of place: every account
of the platform must agree with the rows that moved value through it."""

import pytest
from tortoise import connections

from ledger import accounts
from ledger.balances import account_balances
from models import DoublePayment, Member, Order
from runtime.sql import execute, fetch
from services.catalog.products import new_store
from services.checks import check_conservation
from services.orders.double_payments import settle_double_payment_refund
from services.orders.payments import apply_payment
from services.wallets.withdrawals import request_withdrawal
from tests.services.helpers import T0, Clock
from tests.services.test_conservation_keys import settled_books
from tests.services.test_payments import APPID, MCHID, _notice, _order

INSERT = (
    "INSERT INTO posting (key, kind, debit, credit, unit, amount, memo, created_at)"
    " VALUES ($1, 'stray', $2, $3, 'cash', $4, '', $5)"
)


def titled(problems: list[str], title: str) -> list[str]:
    return [p for p in problems if p.startswith(f"{title}: ")]


async def test_the_example_balances(db):
    await settled_books()
    assert await check_conservation() == []


async def test_a_paid_order_without_its_payment_posting_is_found(db):
    await settled_books()
    order = await Order.filter(paid_at__isnull=False).order_by("id").first()
    await execute(
        connections.get("default"), "DELETE FROM posting WHERE key = $1", [f"payment:{order.id}"]
    )

    found = await check_conservation()

    assert found == [
        f"paid order without exactly its payment posting: order {order.id} paid {order.paid_fen}:"
        " payment posting None None → None"
    ]


async def test_an_extraction_posted_for_another_amount_unbalances_its_queue(db):
    await settled_books()
    conn = connections.get("default")
    rows = await fetch(
        conn, "SELECT id, key, amount FROM posting WHERE kind = 'extraction' ORDER BY id"
    )
    await execute(conn, "UPDATE posting SET amount = amount + 1 WHERE id = $1", [rows[0]["id"]])

    found = await check_conservation()

    assert len(titled(found, "queue pool's postings ≠ its extractions")) == 1
    assert titled(found, "queue pool does not balance") == [
        "queue pool does not balance: queue:1 holds 1 after its payouts, withheld and unallocated"
    ]


@pytest.mark.parametrize(
    ("credit", "title"),
    [
        (accounts.WITHHELD, "platform:withheld ≠ the queues' withheld_fen"),
        (accounts.COMMISSIONS, "platform:commissions ≠ the commissions still frozen"),
        (accounts.WITHDRAWALS, "platform:withdrawals ≠ the withdrawals still open"),
    ],
)
async def test_value_in_a_platform_account_that_no_row_explains_is_found(db, credit, title):
    await settled_books()
    await execute(connections.get("default"), INSERT, ["stray:1", accounts.SALES, credit, 5, T0])

    assert len(titled(await check_conservation(), title)) == 1


async def test_a_store_payable_that_its_credits_do_not_explain_is_found(db):
    await settled_books()
    store = await new_store("店")
    await execute(
        connections.get("default"),
        INSERT,
        ["stray:1", accounts.SALES, accounts.store(store.id), 5, T0],
    )

    assert titled(
        await check_conservation(), "store payable ≠ its credits less its paid statements"
    ) == [
        f"store payable ≠ its credits less its paid statements: store {store.id} is owed 0,"
        " its account holds 5"
    ]


async def test_a_withdrawal_without_its_hold_posting_is_found_with_the_wallet_it_left_wrong(db):
    await settled_books()
    member = await Member.get(openid="k0")
    withdrawal = await request_withdrawal(member.id, 100, now=T0)
    await execute(
        connections.get("default"),
        "DELETE FROM posting WHERE key = $1",
        [f"withdrawal_hold:{withdrawal.id}"],
    )

    found = await check_conservation()

    assert titled(found, "withdrawal_hold posting wrong or missing") == [
        f"withdrawal_hold posting wrong or missing: withdrawal {withdrawal.id} (requested, 100 fen):"
        " hold posting missing"
    ]
    assert len(titled(found, "wallet ≠ its accounts in the ledger")) == 1
    assert len(titled(found, "platform:withdrawals ≠ the withdrawals still open")) == 1


async def double_payment(*, refunded: bool) -> DoublePayment:
    """An order paid, then paid again by a second transaction, refunded or not."""
    order, clock = await _order(), Clock()
    await apply_payment(_notice(order), appid=APPID, mchid=MCHID, now=clock.tick())
    second = _notice(order, transaction_id="tx-second")
    assert (
        await apply_payment(second, appid=APPID, mchid=MCHID, now=clock.tick()) == "double_payment"
    )
    double = await DoublePayment.get(transaction_id="tx-second")
    if refunded:
        assert await settle_double_payment_refund(double.id, refund_id="RF", now=clock.tick())
    return await DoublePayment.get(id=double.id)


@pytest.mark.parametrize("refunded", [False, True])
async def test_a_double_payment_owed_or_refunded_balances(db, refunded):
    double = await double_payment(refunded=refunded)
    assert await check_conservation() == []
    balances = await account_balances(connections.get("default"))
    assert balances.get(accounts.DOUBLE_PAYMENTS, 0) == (0 if refunded else double.amount_fen)


async def test_a_double_payment_marked_refunded_without_its_refund_posting_is_found(db):
    double = await double_payment(refunded=False)
    await DoublePayment.filter(id=double.id).update(status="refunded")

    found = await check_conservation()

    assert titled(found, "double_payment_refund posting wrong or missing") == [
        f"double_payment_refund posting wrong or missing: double payment {double.id} (refunded,"
        f" {double.amount_fen} fen): double_payment_refund posting missing"
    ]
    assert (
        len(titled(found, "platform:double_payments ≠ the double payments not yet refunded")) == 1
    )


async def test_a_double_payment_without_its_posting_and_a_stray_one_are_found(db):
    double = await double_payment(refunded=True)
    conn = connections.get("default")
    await execute(conn, "DELETE FROM posting WHERE key = $1", [f"double_payment:{double.id}"])
    await execute(
        conn, INSERT, ["double_payment:999", accounts.WECHAT_PAY, accounts.DOUBLE_PAYMENTS, 5, T0]
    )
    await execute(
        conn, "UPDATE posting SET kind = 'double_payment' WHERE key = 'double_payment:999'"
    )

    found = await check_conservation()

    assert len(titled(found, "double_payment posting wrong or missing")) == 1
    assert len(titled(found, "double_payment posting without its double payment")) == 1
