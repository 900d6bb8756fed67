"""Manual adjustments (余额调整): one posting each, keyed by the operator's request id, never below
zero, logged with the operator and the reason, and told to the member."""

import asyncio

import pytest

from ledger.balances import balances_of
from models import AuditLog, OutboxEvent, Posting
from rebate.errors import InvalidAmount, InvalidSetting, NotAllowed
from services.checks import check_conservation
from services.errors import Conflict, NotFound
from services.members.accounts import new_member
from services.wallets.adjustments import adjust_balance
from tests.services.helpers import T0


async def adjust(
    member_id: int,
    amount: int,
    *,
    balance: str = "cash",
    request_id: str = "req-0001",
    reason: str = "客服补偿",
) -> object:
    return await adjust_balance(
        member_id, balance=balance, amount=amount, reason=reason, operator="ops@test",
        request_id=request_id, now=T0,
    )  # fmt: skip


async def test_an_adjustment_is_one_posting_logged_and_told(db):
    m = await new_member("o1")
    done = await adjust(m.id, 1_500)
    assert (done.balance_after, (await balances_of(m.id)).cash_fen) == (1_500, 1_500)
    posting = await Posting.get(key="adjustment:req-0001")
    assert (posting.debit, posting.credit, posting.unit, posting.amount, posting.memo) == (
        "platform:adjustments", f"member:{m.id}:cash", "cash", 1_500, "客服补偿",
    )  # fmt: skip
    log = await AuditLog.get(section="wallet_adjustment")
    assert (log.operator, log.target, log.old["value"], log.new["value"]) == (
        "ops@test",
        f"member:{m.id}",
        0,
        1_500,
    )
    event = await OutboxEvent.get(kind="balance_adjusted")
    assert (event.member_id, event.payload["amount"], event.payload["reason"]) == (
        m.id,
        1_500,
        "客服补偿",
    )
    assert await check_conservation() == []


async def test_points_and_love_come_from_their_issuers_and_can_be_taken_back(db):
    m = await new_member("o1")
    await adjust(m.id, 300, balance="points", request_id="req-points-1")
    await adjust(m.id, -120, balance="points", request_id="req-points-2")
    await adjust(m.id, 50, balance="love_frozen", request_id="req-love-1")
    wallet = await balances_of(m.id)
    assert (wallet.points, wallet.love_frozen) == (180, 50)
    taken = await Posting.get(key="adjustment:req-points-2")
    assert (taken.debit, taken.credit, taken.amount) == (
        f"member:{m.id}:points",
        "platform:points",
        120,
    )
    assert (await Posting.get(key="adjustment:req-love-1")).debit == "platform:love"
    assert await check_conservation() == []


async def test_taking_back_more_than_the_member_holds_is_refused_and_changes_nothing(db):
    m = await new_member("o1")
    await adjust(m.id, 100)
    with pytest.raises(NotAllowed):
        await adjust(m.id, -101, request_id="req-0002")
    assert (await balances_of(m.id)).cash_fen == 100
    assert await Posting.filter(key="adjustment:req-0002").count() == 0
    assert await AuditLog.filter(section="wallet_adjustment").count() == 1


async def test_a_retried_request_changes_nothing_and_a_reused_id_for_another_change_is_refused(db):
    m = await new_member("o1")
    first = await adjust(m.id, 700)
    again = await adjust(m.id, 700)
    assert again.posting_key == first.posting_key and (await balances_of(m.id)).cash_fen == 700
    with pytest.raises(Conflict):
        await adjust(m.id, 800)
    assert await Posting.filter(kind="adjustment").count() == 1
    assert await OutboxEvent.filter(kind="balance_adjusted").count() == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"amount": 0}, InvalidAmount),
        ({"amount": True}, InvalidAmount),
        ({"amount": 100_000_001}, InvalidAmount),
        ({"balance": "gold"}, InvalidSetting),
        ({"reason": "  "}, InvalidSetting),
        ({"reason": "长" * 81}, InvalidSetting),
        ({"request_id": "short"}, InvalidSetting),
        ({"request_id": "has space in it"}, InvalidSetting),
    ],
)
async def test_bad_input_is_refused_by_field_and_changes_nothing(db, change, error):
    m = await new_member("o1")
    args = {"balance": "cash", "amount": 5, "reason": "原因", "request_id": "req-0001", **change}
    with pytest.raises(error):
        await adjust_balance(m.id, operator="ops@test", now=T0, **args)
    assert await Posting.all().count() == 0


async def test_an_unknown_member_is_not_found(db):
    with pytest.raises(NotFound):
        await adjust(404, 5)


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_concurrent_take_backs_never_drive_a_balance_below_zero(db):
    m = await new_member("o1")
    await adjust(m.id, 100)
    results = await asyncio.gather(
        *(adjust(m.id, -30, request_id=f"req-take-{i}") for i in range(5)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, NotAllowed) for r in refused) and len(refused) == 2
    assert (await balances_of(m.id)).cash_fen == 10
    assert await check_conservation() == []
