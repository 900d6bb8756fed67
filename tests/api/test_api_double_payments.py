"""A member who pays one order twice, over HTTP with the fake WeChat: the second transaction is
recorded and acknowledged, its cash enters the books owed back, and it is refunded through
WeChat Pay's refund API (by its transaction id, under one refund number however often the
request is retried) — or, when so configured, left to an operator with an alert. The refund's
own notification settles it. Both API versions, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from tortoise import connections

from ledger.accounts import DOUBLE_PAYMENTS
from ledger.balances import account_balances
from models import DoublePayment, Entry, Order, OrderStatus, OutboxEvent, PaymentNotice, Posting
from runtime.config import Settings
from services.checks import check_conservation, check_warnings
from services.clock import utcnow
from services.jobs import JobClients, run_job
from services.orders.reconciliation import reconcile_unpaid
from tests.api.conftest import Api, bearer
from tests.api.test_api_notify import (
    V2_REFUND,
    V3_REFUND,
    Unpaid,
    callbacks,
    post_v2,
    post_v3,
    snapshot,
    unpaid_order,
    v2_answer,
    v2_payment,
    v3_payment,
)
from web.keys import WECHAT
from wechat.xmlsafe import parse_flat_xml
from wechat_fake.server import deliver_refund, send_v3_refund_notification

BACKENDS = ("sqlite", "postgres")
REFUNDS = "/v3/refund/domestic/refunds"
V2_REFUNDS = "/secapi/pay/refund"


async def start(
    make_api: Callable[..., Any], backend: str, version: str = "v3", policy: str = "refund"
) -> Api:
    def policy_of(settings: Settings) -> Settings:
        pay = dataclasses.replace(settings.wechat_pay, double_payment=policy)  # type: ignore[arg-type]
        return dataclasses.replace(settings, wechat_pay=pay)

    api: Api = await make_api(
        backend, redis=backend == "postgres", api_version=version, edit_settings=policy_of
    )
    return api


async def deliver(api: Api, order: Unpaid, transaction_id: str, version: str) -> None:
    """WeChat notifies ``transaction_id`` paying ``order``: acknowledged."""
    if version == "v3":
        headers, body = v3_payment(api, order, transaction_id=transaction_id)
        response = await post_v3(api, headers, body)
        assert response.status == 204, await response.text()
    else:
        response = await post_v2(api, v2_payment(order, transaction_id=transaction_id))
        assert response.status == 200
        assert (await v2_answer(response))["return_code"] == "SUCCESS"


async def paid_twice(api: Api, version: str) -> tuple[Unpaid, str, str]:
    """An order paid, then paid again: (order, first transaction, second transaction)."""
    order = await unpaid_order(api)
    first = api.wx.mark_paid(order.out_trade_no).transaction_id
    await deliver(api, order, first, version)
    second = api.wx.pay_again(order.out_trade_no).transaction_id
    await deliver(api, order, second, version)
    return order, first, second


def refund_calls(api: Api) -> list[dict[str, Any]]:
    """The refund requests the fake WeChat Pay received (v3 JSON or v2 XML fields)."""
    v3 = [json.loads(c.body) for c in api.wx.calls_to(REFUNDS)]
    return v3 + [parse_flat_xml(c.body) for c in api.wx.calls_to(V2_REFUNDS)]


async def owed() -> int:
    """What ``platform:double_payments`` holds (owed back to payers)."""
    return (await account_balances(connections.get("default"))).get(DOUBLE_PAYMENTS, 0)


async def run_refunds(api: Api | None, later: int = 0) -> Any:
    """An operator's run of the refund job ``later`` minutes from now (a run of its own each),
    with the app's WeChat clients (none without ``api``)."""
    clients = JobClients.of(api.app[WECHAT]) if api is not None else JobClients()
    now = utcnow() + timedelta(minutes=later)
    return (await run_job("double-payment-refunds", now=now, clients=clients)).changes


async def platform_refund(api: Api, order: Unpaid, transaction_id: str, amount: int) -> Any:
    """WeChat notifies a refund of ``transaction_id`` an operator made in the merchant platform
    (v3), under a refund number of WeChat's own."""
    return await send_v3_refund_notification(
        api.wx,
        str(api.client.make_url(V3_REFUND)),
        out_trade_no=order.out_trade_no,
        out_refund_no="50301000000000000000000000007",
        refund_id="50301000000000000000000000007",
        total=order.total,
        refund=amount,
        transaction_id=transaction_id,
    )


async def alerts() -> list[str]:
    return [e.payload["text"] for e in await OutboxEvent.filter(kind="operator_alert")]


# --- refunded automatically ------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("version", ["v2", "v3"])
async def test_a_second_payment_is_recorded_acknowledged_and_refunded_by_its_transaction(
    make_api: Callable[..., Any], backend: str, version: str
) -> None:
    api = await start(make_api, backend, version)
    order, _, second = await paid_twice(api, version)

    double = await DoublePayment.get(transaction_id=second)
    assert (double.order_id, double.amount_fen, double.status) == (
        order.id,
        order.total,
        "refunding",
    )
    assert callbacks(f"{version}.payment", "double_payment") == 1
    # the order keeps its one payment: one entry, one payment posting; each transaction's
    # notice is recorded under its own key, so a redelivery of either is a duplicate
    assert (await Order.get(id=order.id)).status == OrderStatus.PAID
    assert await PaymentNotice.filter(order_id=order.id).count() == 2
    assert await Posting.filter(kind="payment", order_id=order.id).count() == 1
    assert await Entry.filter(order_id=order.id).count() == 1
    assert await Posting.filter(key=f"double_payment:{double.id}", amount=order.total).exists()
    assert await owed() == order.total
    # WeChat Pay was asked once, for that transaction's full amount, under the row's number
    [call] = refund_calls(api)
    amount = call.get("refund_fee") or call["amount"]["refund"]
    assert (call["transaction_id"], call["out_refund_no"]) == (second, double.out_refund_no)
    assert "out_trade_no" not in call and int(amount) == order.total
    assert api.wx.second_payments[second].refunded == order.total
    assert await check_conservation() == []

    # WeChat reports the refund done: the money has left, once
    url = str(api.client.make_url(V2_REFUND if version == "v2" else V3_REFUND))
    for _ in range(2):
        delivery = await deliver_refund(api.wx, double.out_refund_no, url, api=version)
        assert delivery.status in (200, 204), delivery.body
    assert (await DoublePayment.get(id=double.id)).status == "refunded"
    assert await Posting.filter(key=f"double_payment_refund:{double.id}").count() == 1
    assert await owed() == 0
    kind = f"{version}.refund"
    assert callbacks(kind, "double_payment_refund") == 1
    assert callbacks(kind, "duplicate") == 1
    assert await check_conservation() == []
    assert await alerts() == []


@pytest.mark.parametrize("version", ["v2", "v3"])
async def test_the_same_second_transaction_again_is_a_duplicate_that_changes_nothing(
    make_api: Callable[..., Any], version: str
) -> None:
    api = await start(make_api, "postgres", version)
    order, _, second = await paid_twice(api, version)
    before = await snapshot()
    doubles = await DoublePayment.all().values()

    await deliver(api, order, second, version)

    assert await snapshot() == before
    assert await DoublePayment.all().values() == doubles
    assert len(refund_calls(api)) == 1  # accepted already: not asked again
    assert callbacks(f"{version}.payment", "duplicate") == 1


async def test_a_refund_wechat_refuses_is_asked_again_under_the_same_number(
    make_api: Callable[..., Any],
) -> None:
    api = await start(make_api, "postgres")
    api.wx.refuse_refunds = "NOT_ENOUGH"  # 基本账户余额不足
    order, _, second = await paid_twice(api, "v3")
    double = await DoublePayment.get(transaction_id=second)
    assert (double.status, double.attempts) == ("refund_pending", 1)
    assert "NOT_ENOUGH" in double.last_error
    assert await owed() == order.total  # recorded and owed back all the same

    assert await run_refunds(api, 1) == {"asked": 1, "refund_failed_will_retry": [double.id]}
    assert await alerts() == []
    await deliver(api, order, second, "v3")  # WeChat redelivers: asked again, third failure
    [alert] = await alerts()
    assert f"重复支付 #{double.id}" in alert and "3 次" in alert

    api.wx.refuse_refunds = ""
    assert await run_refunds(api, 2) == {"asked": 1, "refund_requested": [double.id]}
    double = await DoublePayment.get(id=double.id)
    assert (double.status, double.attempts, double.last_error) == ("refunding", 4, "")
    numbers = {call["out_refund_no"] for call in refund_calls(api)}
    assert (len(refund_calls(api)), numbers) == (4, {double.out_refund_no})
    assert len(api.wx.refunds) == 1  # one refund at WeChat
    assert await run_refunds(api, 3) == {"asked": 0}
    assert len(await alerts()) == 1


async def test_without_wechat_pay_the_job_says_so_and_changes_nothing(
    make_api: Callable[..., Any],
) -> None:
    api = await start(make_api, "sqlite")
    api.wx.refuse_refunds = "SYSTEM_ERROR"
    await paid_twice(api, "v3")
    assert await run_refunds(None) == {"skipped": "WeChat Pay is not configured"}
    assert (await DoublePayment.get()).status == "refund_pending"


async def test_a_refund_wechat_closes_is_left_to_an_operator(
    make_api: Callable[..., Any],
) -> None:
    api = await start(make_api, "postgres")
    order, _, second = await paid_twice(api, "v3")
    double = await DoublePayment.get(transaction_id=second)
    url = str(api.client.make_url(V3_REFUND))
    delivery = await deliver_refund(api.wx, double.out_refund_no, url, refund_status="ABNORMAL")
    assert delivery.status == 204
    assert (await DoublePayment.get(id=double.id)).status == "refund_failed"
    [alert] = await alerts()
    assert double.out_refund_no in alert
    assert await owed() == order.total  # still owed
    assert await check_conservation() == []


# --- left to an operator ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
async def test_under_the_alert_policy_an_operator_is_told_and_their_refund_settles_it(
    make_api: Callable[..., Any], backend: str
) -> None:
    api = await start(make_api, backend, policy="alert")
    order, _, second = await paid_twice(api, "v3")
    double = await DoublePayment.get(transaction_id=second)
    assert double.status == "awaiting_operator"
    assert refund_calls(api) == []
    [alert] = await alerts()
    assert order.out_trade_no in alert and second in alert
    assert await run_refunds(api) == {"asked": 0}

    # the operator refunds it in the merchant platform, under a number of WeChat's own
    assert (await platform_refund(api, order, second, order.total)).status == 204
    assert (await DoublePayment.get(id=double.id)).status == "refunded"
    assert await owed() == 0
    assert (await Order.get(id=order.id)).status == OrderStatus.PAID  # its lines untouched
    assert await check_conservation() == []


async def test_a_partial_refund_of_a_double_payment_is_not_applied_and_alerts(
    make_api: Callable[..., Any],
) -> None:
    api = await start(make_api, "postgres", policy="alert")
    order, _, second = await paid_twice(api, "v3")
    before = await snapshot()
    delivery = await platform_refund(api, order, second, order.total - 1)
    assert delivery.status == 204  # authentic: WeChat need not retry what cannot add up
    assert callbacks("v3.refund", "unmatched") == 1
    assert await snapshot() == before
    assert (await DoublePayment.get(transaction_id=second)).status == "awaiting_operator"
    assert len(await alerts()) == 2


# --- refused as before -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"), [("total", 16799), ("openid", "oSomeoneElse"), ("currency", "USD")]
)
async def test_a_second_transaction_that_does_not_match_the_order_changes_nothing(
    make_api: Callable[..., Any], field: str, value: Any
) -> None:
    api = await start(make_api, "postgres")
    order = await unpaid_order(api)
    await deliver(api, order, api.wx.mark_paid(order.out_trade_no).transaction_id, "v3")
    before = await snapshot()
    headers, body = v3_payment(api, order, **{field: value})
    response = await post_v3(api, headers, body)
    assert response.status == 400
    assert (await response.json())["code"] == "FAIL"
    assert callbacks("v3.payment", "mismatch") == 1
    assert await snapshot() == before
    assert await DoublePayment.all().count() == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("version", ["v2", "v3"])
async def test_a_payment_of_an_order_closed_unpaid_is_recorded_acknowledged_and_refunded(
    make_api: Callable[..., Any], backend: str, version: str
) -> None:
    api = await start(make_api, backend, version)
    order = await unpaid_order(api)
    await Order.filter(id=order.id).update(created_at=utcnow() - timedelta(hours=25))
    report = await reconcile_unpaid(api.app[WECHAT].pay, now=utcnow())
    assert report.closed == [order.out_trade_no]  # closed unpaid, the payment sheet still open
    paid = api.wx.mark_paid(order.out_trade_no).transaction_id  # the member pays after all

    await deliver(api, order, paid, version)  # acknowledged: WeChat stops retrying

    assert (await Order.get(id=order.id)).status == OrderStatus.CLOSED  # it stays closed
    assert await Entry.filter(order_id=order.id).count() == 0
    assert not await Posting.filter(kind="payment", order_id=order.id).exists()
    double = await DoublePayment.get(transaction_id=paid)
    assert (double.order_id, double.amount_fen, double.status) == (
        order.id,
        order.total,
        "refunding",
    )
    assert callbacks(f"{version}.payment", "double_payment") == 1
    [call] = refund_calls(api)
    assert (call["transaction_id"], call["out_refund_no"]) == (paid, double.out_refund_no)
    assert "订单已关闭" in (call.get("reason") or call.get("refund_desc") or "")
    assert await check_conservation() == []
    url = str(api.client.make_url(V2_REFUND if version == "v2" else V3_REFUND))
    delivery = await deliver_refund(api.wx, double.out_refund_no, url, api=version)
    assert delivery.status in (200, 204), delivery.body
    assert (await DoublePayment.get(id=double.id)).status == "refunded"
    assert await owed() == 0 and await check_conservation() == []
    response = await api.client.get("/api/admin/double-payments", headers=bearer(api.admin_token()))
    [row] = (await response.json())["items"]
    assert (row["kind"], row["status"]) == ("closed_order", "refunded")


async def test_a_closed_orders_payment_that_would_not_have_paid_it_is_still_refused(
    make_api: Callable[..., Any],
) -> None:
    api = await start(make_api, "sqlite")
    order = await unpaid_order(api)
    await Order.filter(id=order.id).update(status=OrderStatus.CLOSED)
    before = await snapshot()
    response = await post_v2(api, v2_payment(order, total_fee=order.total - 1))
    assert response.status == 400
    assert (await v2_answer(response))["return_code"] == "FAIL"
    assert await snapshot() == before
    assert await DoublePayment.all().count() == 0


# --- queue-rebate check and the operators' list ----------------------------------------------


async def test_check_warns_of_a_double_payment_not_refunded_in_time(
    make_api: Callable[..., Any],
) -> None:
    api = await start(make_api, "postgres", policy="alert")
    await paid_twice(api, "v3")
    double = await DoublePayment.get()
    assert await check_warnings(utcnow()) == []  # just arrived
    [warning] = await check_warnings(utcnow() + timedelta(hours=25))
    assert f"double payment {double.id}" in warning and "awaiting_operator" in warning
    await DoublePayment.filter(id=double.id).update(status="refunding")  # in WeChat's hands
    assert await check_warnings(utcnow() + timedelta(hours=25)) == []
    assert len(await check_warnings(utcnow() + timedelta(days=8))) == 1
    assert await check_conservation() == []  # owed, not wrong


async def test_operators_list_double_payments_by_status_page_by_page(
    make_api: Callable[..., Any],
) -> None:
    api = await start(make_api, "postgres", policy="alert")
    made = []
    for _ in range(3):
        order, _, second = await paid_twice(api, "v3")
        made.append(second)
    await DoublePayment.filter(transaction_id=made[0]).update(status="refunded")
    admin = bearer(api.admin_token())

    response = await api.client.get("/api/admin/double-payments?limit=2", headers=admin)
    assert response.status == 200, await response.text()
    page = await response.json()
    assert [d["transaction_id"] for d in page["items"]] == [made[2], made[1]]
    assert (page["owed_count"], page["owed_fen"]) == (2, 2 * order.total)
    item = page["items"][0]
    assert (item["status"], item["amount_fen"], item["out_trade_no"]) == (
        "awaiting_operator",
        order.total,
        order.out_trade_no,
    )
    cursor = page["next_cursor"]
    response = await api.client.get(
        f"/api/admin/double-payments?limit=2&cursor={cursor}", headers=admin
    )
    rest = await response.json()
    assert ([d["transaction_id"] for d in rest["items"]], rest["next_cursor"]) == ([made[0]], None)

    response = await api.client.get("/api/admin/double-payments?status=refunded", headers=admin)
    assert [d["transaction_id"] for d in (await response.json())["items"]] == [made[0]]
    response = await api.client.get("/api/admin/double-payments?status=lost", headers=admin)
    assert response.status == 400
    member = bearer(await api.member_token())
    response = await api.client.get("/api/admin/double-payments", headers=member)
    assert response.status in (401, 403)
