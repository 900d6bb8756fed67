"""The wallet and withdrawals over HTTP: balances and postings paged by id; a withdrawal held
out of the cash balance, approved and paid by 商家转账 (the fake WeChat's) under one bill number —
a lost answer or an error is followed by a query of the same number — or rejected with a reason;
every refusal changes nothing; the books balance after each. Also on SQLite without Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestServer

from models import AuditLog, Member, OutboxEvent, SettingDoc, Withdrawal
from services.checks import check_conservation
from tests.api.conftest import Api, bearer
from tests.api.test_api_member_entries import (
    buy,
    get,
    lottery_base,
    member,
    post,
    recent_clock,
    snapshot,
)
from wechat_fake.transfer import TRANSFER_KEY, FakeTransferState


async def with_cash(api: Api) -> tuple[int, str]:
    """A member whose entry was paid in full by a later order: 10000 fen of cash."""
    await lottery_base()
    clock = recent_clock()
    rich, other = await member(api), await member(api)
    await buy(rich[0], 10_000, clock)
    await buy(other[0], 100_000, clock)  # extracts 10000: the first entry is full
    return rich


async def withdraw(api: Api, token: str, amount: int) -> tuple[int, Any]:
    return await post(api, "/api/wallet/withdrawals", token, {"amount_fen": amount})


async def decide(api: Api, withdrawal_id: int, verb: str, body: Any = None) -> tuple[int, Any]:
    return await post(
        api, f"/api/admin/withdrawals/{withdrawal_id}/{verb}", api.admin_token(), body
    )


def fake_bills(fake_wechat: TestServer) -> FakeTransferState:
    return fake_wechat.app[TRANSFER_KEY]


async def books_balance() -> None:
    assert await check_conservation() == []
    assert await check_conservation() == []


async def results() -> list[dict[str, Any]]:
    events = await OutboxEvent.filter(kind="withdrawal_result").order_by("id")
    return [e.payload for e in events]


async def test_a_withdrawal_is_held_then_paid_once_when_approved(
    make_api: Callable[..., Any], fake_wechat: TestServer
) -> None:
    api = await make_api("postgres")
    member_id, token = await with_cash(api)
    status, asked = await withdraw(api, token, 3000)
    assert status == 201, asked
    held = asked["withdrawal"]
    assert (held["status"], held["amount_fen"]) == ("requested", 3000)
    _, wallet = await get(api, "/api/wallet", token)
    assert wallet["balances"]["cash_fen"] == 7000 and wallet["withdrawal_held_fen"] == 3000
    _, ledger = await get(api, "/api/wallet/ledger?asset=cash&limit=1", token)
    assert [(line["kind"], line["amount"]) for line in ledger["items"]] == [
        ("withdrawal_hold", -3000)
    ]
    _, more = await get(api, f"/api/wallet/ledger?asset=cash&cursor={ledger['next_cursor']}", token)
    assert [line["kind"] for line in more["items"]] == ["payout"] and more["next_cursor"] is None
    await books_balance()

    status, listed = await get(api, "/api/admin/withdrawals?status=requested", api.admin_token())
    assert status == 200 and [w["id"] for w in listed["items"]] == [held["id"]]
    assert listed["items"][0]["member_id"] == member_id and listed["next_cursor"] is None
    status, paid = await decide(api, held["id"], "approve")
    assert status == 200, paid
    assert (paid["withdrawal"]["status"], paid["withdrawal"]["transfer_state"]) == (
        "succeeded",
        "SUCCESS",
    )
    bills = fake_bills(fake_wechat)
    [bill] = bills.created()
    openid = (await Member.get(id=member_id)).openid
    assert (bill.out_bill_no, bill.amount, bill.openid) == (held["out_bill_no"], 3000, openid)
    assert bills.transfer_calls == 1
    assert await results() == [
        {"withdrawal_id": held["id"], "amount_fen": 3000, "status": "succeeded", "reason": ""}
    ]
    audit = await AuditLog.get(section="withdrawal_decision")
    assert (audit.operator, audit.old, audit.new["status"]) == (
        "ops@test",
        {"status": "requested"},
        "paying",
    )

    before = await snapshot()
    for verb, body in (("approve", None), ("reject", {"reason": "太晚了"})):
        status, error = await decide(api, held["id"], verb, body)
        assert status == 409 and error["field"] == "withdrawal_id", (verb, error)
    status, _ = await decide(api, 999_999, "approve")
    assert status == 404
    assert await snapshot() == before and bills.transfer_calls == 1
    _, mine = await get(api, f"/api/wallet/withdrawals/{held['id']}", token)
    assert mine["withdrawal"]["status"] == "succeeded" and "member_id" not in mine["withdrawal"]
    _, wallet = await get(api, "/api/wallet", token)
    assert wallet["balances"]["cash_fen"] == 7000 and wallet["withdrawal_held_fen"] == 0
    await books_balance()


async def test_a_rejection_gives_the_amount_back_with_the_reason(
    make_api: Callable[..., Any], fake_wechat: TestServer
) -> None:
    api = await make_api("postgres")
    _, token = await with_cash(api)
    _, other = await member(api)
    _, asked = await withdraw(api, token, 2000)
    withdrawal_id = asked["withdrawal"]["id"]
    before = await snapshot()
    status, error = await decide(api, withdrawal_id, "reject", {"reason": ""})
    assert status == 400 and error["field"] == "reason"
    status, error = await decide(api, withdrawal_id, "reject", {})
    assert status == 400 and error["field"] == "reason"
    response = await api.client.post(
        f"/api/admin/withdrawals/{withdrawal_id}/reject",
        json={"reason": "x"},
        headers=bearer(token),
    )
    assert response.status == 403  # a member token never passes for an operator's
    status, error = await get(api, f"/api/wallet/withdrawals/{withdrawal_id}", other)
    assert status == 404  # someone else's withdrawal
    assert await snapshot() == before

    status, done = await decide(api, withdrawal_id, "reject", {"reason": "账户信息待核实"})
    assert status == 200, done
    assert (done["withdrawal"]["status"], done["withdrawal"]["reject_reason"]) == (
        "rejected",
        "账户信息待核实",
    )
    _, wallet = await get(api, "/api/wallet", token)
    assert wallet["balances"]["cash_fen"] == 10_000 and wallet["withdrawal_held_fen"] == 0
    _, ledger = await get(api, "/api/wallet/ledger?asset=cash", token)
    assert [(line["kind"], line["amount"]) for line in ledger["items"]] == [
        ("withdrawal_release", 2000),
        ("withdrawal_hold", -2000),
        ("payout", 10_000),
    ]
    assert await results() == [
        {
            "withdrawal_id": withdrawal_id,
            "amount_fen": 2000,
            "status": "failed",
            "reason": "账户信息待核实",
        }
    ]
    status, error = await decide(api, withdrawal_id, "approve")
    assert status == 409
    assert fake_bills(fake_wechat).transfer_calls == 0
    await books_balance()


async def test_withdrawal_refusals_change_nothing(make_api: Callable[..., Any]) -> None:
    api = await make_api("postgres")
    _, token = await with_cash(api)
    _, poor = await member(api)
    await SettingDoc.create(
        name="withdrawal", config={"min_fen": 500, "max_fen": 6000, "daily_cap_fen": 8000}
    )

    async def refused(who: str, amount: int, status: int, code: str) -> None:
        before = await snapshot()
        got, error = await withdraw(api, who, amount)
        assert (got, error["code"]) == (status, code), (amount, error)
        assert error["field"] == "amount_fen"
        assert await snapshot() == before

    await refused(token, 499, 400, "invalid_amount")  # under the minimum
    await refused(token, 6001, 400, "invalid_amount")  # over the single maximum
    await refused(token, 0, 400, "invalid_field")
    await refused(poor, 1000, 409, "not_allowed")  # no cash
    status, first = await withdraw(api, token, 6000)
    assert status == 201
    await refused(token, 3000, 409, "not_allowed")  # 6000 + 3000 > the daily cap
    await decide(api, first["withdrawal"]["id"], "reject", {"reason": "重新申请"})
    status, _ = await withdraw(api, token, 3000)  # a rejected one no longer counts
    assert status == 201
    await refused(token, 5001, 409, "not_allowed")  # 10000 − 3000 held = 7000 left; cap 8000
    await SettingDoc.filter(name="withdrawal").update(config={"enabled": False})
    before = await snapshot()
    status, error = await withdraw(api, token, 1000)
    assert status == 409 and error["message"] == "提现暂未开放"
    assert await snapshot() == before
    await books_balance()


async def test_a_lost_answer_or_an_error_is_followed_by_the_same_bill_number(
    make_api: Callable[..., Any], fake_wechat: TestServer
) -> None:
    api = await make_api("postgres", wechat_timeout=1.0)
    _, token = await with_cash(api)
    bills = fake_bills(fake_wechat)
    bills.delay_next, bills.delay_seconds = 1, 2.0  # the bill is made, the answer comes too late
    _, asked = await withdraw(api, token, 1000)
    status, paid = await decide(api, asked["withdrawal"]["id"], "approve")
    assert status == 200 and paid["withdrawal"]["status"] == "succeeded", paid
    assert (bills.transfer_calls, bills.query_calls, len(bills.bills)) == (1, 1, 1)

    bills.error_next = 1  # WeChat answers 500 and makes nothing
    _, asked = await withdraw(api, token, 2000)
    number = asked["withdrawal"]["out_bill_no"]
    status, pending = await decide(api, asked["withdrawal"]["id"], "approve")
    assert status == 200 and pending["withdrawal"]["status"] == "paying"
    assert (bills.transfer_calls, bills.query_calls, len(bills.bills)) == (2, 2, 1)
    status, paid = await decide(api, asked["withdrawal"]["id"], "approve")  # ask again
    assert paid["withdrawal"]["status"] == "succeeded"
    assert (
        paid["withdrawal"]["out_bill_no"] == number
        and number in bills.bills
        and len(bills.bills) == 2
        and bills.transfer_calls == 3
    )
    assert [r["status"] for r in await results()] == ["succeeded", "succeeded"]
    await books_balance()


async def test_a_failed_transfer_gives_the_money_back_and_a_pending_one_waits(
    make_api: Callable[..., Any], fake_wechat: TestServer
) -> None:
    api = await make_api("postgres")
    _, token = await with_cash(api)
    bills = fake_bills(fake_wechat)
    bills.outcome = "FAIL"
    _, asked = await withdraw(api, token, 1000)
    status, failed = await decide(api, asked["withdrawal"]["id"], "approve")
    assert status == 200 and failed["withdrawal"]["status"] == "failed"
    _, wallet = await get(api, "/api/wallet", token)
    assert wallet["balances"]["cash_fen"] == 10_000
    [event] = await results()
    assert event["status"] == "failed" and "PAYEE_ACCOUNT_ABNORMAL" in event["reason"]

    bills.outcome = "WAIT_USER_CONFIRM"
    _, asked = await withdraw(api, token, 1500)
    withdrawal_id = asked["withdrawal"]["id"]
    _, waiting = await decide(api, withdrawal_id, "approve")
    assert waiting["withdrawal"]["status"] == "paying"
    _, mine = await get(api, f"/api/wallet/withdrawals/{withdrawal_id}", token)
    assert mine["withdrawal"]["transfer_state"] == "WAIT_USER_CONFIRM"
    assert mine["withdrawal"]["package_info"]  # for wx.requestMerchantTransfer
    number = mine["withdrawal"]["out_bill_no"]
    bills.bills[number].state = "SUCCESS"  # the member confirms receipt in the mini-program
    _, paid = await decide(api, withdrawal_id, "approve")
    assert paid["withdrawal"]["status"] == "succeeded"
    assert len(bills.bills) == 2 and (await Withdrawal.get(id=withdrawal_id)).out_bill_no == number
    _, wallet = await get(api, "/api/wallet", token)
    assert wallet["balances"]["cash_fen"] == 8500
    await books_balance()


async def test_the_withdrawal_flow_on_sqlite_without_redis(
    make_api: Callable[..., Any], fake_wechat: TestServer
) -> None:
    api = await make_api("sqlite", redis=False)
    _, token = await with_cash(api)
    _, first = await withdraw(api, token, 4000)
    _, second = await withdraw(api, token, 1000)
    status, paid = await decide(api, first["withdrawal"]["id"], "approve")
    assert status == 200 and paid["withdrawal"]["status"] == "succeeded"
    status, _ = await decide(api, second["withdrawal"]["id"], "reject", {"reason": "测试"})
    assert status == 200
    _, mine = await get(api, "/api/wallet/withdrawals", token)
    assert [w["status"] for w in mine["items"]] == ["rejected", "succeeded"]
    assert "member_id" not in mine["items"][0] and mine["next_cursor"] is None
    _, wallet = await get(api, "/api/wallet", token)
    assert wallet["balances"]["cash_fen"] == 6000
    await books_balance()


async def test_concurrent_requests_and_approvals_move_the_money_once(
    make_api: Callable[..., Any], fake_wechat: TestServer
) -> None:
    api = await make_api("postgres")
    _, token = await with_cash(api)
    answers = await asyncio.gather(withdraw(api, token, 6000), withdraw(api, token, 6000))
    assert sorted(status for status, _ in answers) == [201, 409]  # 10000 fen covers one
    [created] = [body["withdrawal"] for status, body in answers if status == 201]
    decided = await asyncio.gather(*(decide(api, created["id"], "approve") for _ in range(3)))
    statuses = [status for status, _ in decided]  # 409 once another has finished it
    assert 200 in statuses and set(statuses) <= {200, 409}, decided
    assert [b.out_bill_no for b in fake_bills(fake_wechat).created()] == [created["out_bill_no"]]
    assert [r["status"] for r in await results()] == ["succeeded"]
    _, wallet = await get(api, "/api/wallet", token)
    assert wallet["balances"]["cash_fen"] == 4000
    await books_balance()


async def test_a_withdrawal_retried_by_the_payout_job_is_reported_as_a_withdrawal(
    make_api: Callable[..., Any], fake_wechat: TestServer
) -> None:
    """The withdrawal-payouts job sends a member's bill under the withdrawal scene and its 报备信息
    (the operator's, from the withdrawal settings), never the merchant statements' 1005."""
    api = await make_api("postgres")
    _, token = await with_cash(api)
    scene = {  # the operator's (not the default 报备信息): read when the bill is sent
        "transfer_scene_id": "1000",
        "report_infos": [
            {"info_type": "活动名称", "info_content": "年终返现"},
            {"info_type": "奖励说明", "info_content": "排队返利提现"},
        ],
    }
    await SettingDoc.create(name="withdrawal", config=scene)
    bills = fake_bills(fake_wechat)
    bills.error_next = 1  # the approval's bill never reaches WeChat: the job sends it again
    _, asked = await withdraw(api, token, 1000)
    status, pending = await decide(api, asked["withdrawal"]["id"], "approve")
    assert status == 200 and pending["withdrawal"]["status"] == "paying", pending
    assert bills.created() == []

    status, ran = await post(api, "/api/admin/jobs/withdrawal-payouts/run", api.admin_token())
    assert status == 200 and ran["job"]["status"] == "succeeded", ran
    [bill] = bills.created()
    assert bill.out_bill_no == asked["withdrawal"]["out_bill_no"]
    assert (bill.scene_id, bill.report_infos) == (
        "1000",
        (("活动名称", "年终返现"), ("奖励说明", "排队返利提现")),
    )
    assert bill.remark == "返现提现"
    assert (await Withdrawal.get(id=asked["withdrawal"]["id"])).status == "succeeded"
    await books_balance()
