"""WeChat Pay notifications over HTTP, both versions: a genuine one pays its order once (and a
retry is acknowledged), and every way a notification can be refused has its own test, each
proving the database unchanged. Notifications are built exactly as WeChat builds them
(``wechat_fake.notify``) with the fake WeChat's keys; orders are created through the API, so
the fake WeChat Pay knows them. PostgreSQL with Redis; the happy path on SQLite too."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest

from models import (
    Entry,
    JobSetting,
    Member,
    Order,
    OrderLine,
    OrderStatus,
    PaymentNotice,
    Posting,
    Refund,
)
from rebate.settings import BaseSettings, OrderSource, SettleOn
from services.catalog.products import new_product
from services.clock import utcnow
from services.jobs import JobClients, run_job, run_scheduled
from services.orders import auto_complete, reconciliation
from services.orders.lifecycle import Item, create_order
from services.orders.reconciliation import reconcile_unpaid
from services.settings.base import save_base
from tests import prom
from tests.api.conftest import (
    API_KEY,
    APPID,
    MAX_BODY,
    MCHID,
    METRICS_AT_START,
    METRICS_TOKEN,
    Api,
    bearer,
)
from web.keys import WECHAT
from wechat.xmlsafe import parse_flat_xml
from wechat_fake import notify as fake_notify
from wechat_fake.server import send_v2_refund_notification, send_v3_refund_notification

V2, V2_REFUND = "/api/pay/notify/v2", "/api/pay/notify/v2/refund"
V3, V3_REFUND = "/api/pay/notify/v3", "/api/pay/notify/v3/refund"
PRICE = 16800
BUYER = "oNotifyBuyer"


@dataclass(frozen=True)
class Unpaid:
    id: int
    out_trade_no: str
    total: int
    openid: str
    token: str


async def unpaid_order(
    api: Api, openid: str = BUYER, settle_on: SettleOn = SettleOn.PAID
) -> Unpaid:
    """An order created through the API (so WeChat Pay has its prepay), by default settling on
    payment so that a payment applied shows as an entry too."""
    await save_base(BaseSettings(settle_on=settle_on))
    token = await api.member_token(openid)
    product = await new_product("好物", PRICE)
    response = await api.client.post(
        "/api/orders",
        json={"source": "mall", "items": [{"product_id": product.id, "quantity": 1}]},
        headers=bearer(token),
    )
    assert response.status == 201, await response.text()
    order = (await response.json())["order"]
    return Unpaid(order["id"], order["out_trade_no"], order["paid_fen"], openid, token)


async def snapshot() -> dict[str, Any]:
    return {
        "paid_orders": await Order.exclude(status=OrderStatus.CREATED).count(),
        "notices": await PaymentNotice.all().count(),
        "entries": await Entry.all().count(),
        "postings": await Posting.all().count(),
        "refunded_lines": await OrderLine.filter(status="refunded").count(),
    }


def callbacks(kind: str, outcome: str) -> int:
    """Notifications of ``kind`` handled with ``outcome`` (the metric's reason) since this test
    started, whatever result they counted as (accepted, duplicate, rejected). The metrics are
    the process's: two apps of one test count together, as they would not in two processes."""
    after = prom.parse(generate_latest(REGISTRY).decode())
    name = "queue_rebate_pay_notifications_total"
    return int(
        sum(
            prom.delta(METRICS_AT_START.samples, after, name, kind=kind, result=r, reason=outcome)
            for r in ("accepted", "duplicate", "rejected")
        )
    )


# --- building notifications the way WeChat does ----------------------------------------------


def v3_payment(
    api: Api,
    order: Unpaid,
    *,
    apiv3_key: bytes | None = None,
    serial: str | None = None,
    timestamp: int | None = None,
    **tx: Any,
) -> tuple[dict[str, str], bytes]:
    fields: dict[str, Any] = {
        "appid": APPID,
        "mchid": MCHID,
        "out_trade_no": order.out_trade_no,
        "total": order.total,
        "openid": order.openid,
        **tx,
    }
    currency = fields.pop("currency", None)
    plain = fake_notify.v3_transaction(**fields)
    if currency is not None:
        plain["amount"]["currency"] = currency
    return fake_notify.build_v3_notification(
        platform_key=api.wx.platform_private_key,
        platform_serial=serial or api.wx.platform_serial,
        apiv3_key=apiv3_key or api.wx.apiv3_key,
        event_type="TRANSACTION.SUCCESS",
        original_type="transaction",
        plain_resource=plain,
        timestamp=timestamp,
    )


def v2_payment(order: Unpaid, **fields: Any) -> bytes:
    args: dict[str, Any] = {
        "api_key": API_KEY,
        "appid": APPID,
        "mch_id": MCHID,
        "out_trade_no": order.out_trade_no,
        "total_fee": order.total,
        "openid": order.openid,
        "sign_type": "HMAC-SHA256",
        **fields,
    }
    return fake_notify.build_v2_payment_notification(**args)


async def post_v3(api: Api, headers: dict[str, str], body: bytes, path: str = V3) -> Any:
    return await api.client.post(path, data=body, headers=headers)


async def post_v2(api: Api, body: Any, path: str = V2) -> Any:
    return await api.client.post(path, data=body, headers={"Content-Type": "text/xml"})


async def v2_answer(response: Any) -> dict[str, str]:
    assert response.content_type == "text/xml"
    return parse_flat_xml(await response.read())


# --- the genuine article ---------------------------------------------------------------------


async def assert_v3_pays_once(api: Api) -> None:
    order = await unpaid_order(api)
    headers, body = v3_payment(api, order)
    response = await post_v3(api, headers, body)
    assert response.status == 204, await response.text()
    assert (await Order.get(id=order.id)).status == OrderStatus.PAID
    after = await snapshot()
    assert (after["notices"], after["entries"]) == (1, 1)

    again = await post_v3(api, headers, body)  # WeChat retries: acknowledged, nothing new
    assert again.status == 204
    assert await snapshot() == after
    assert callbacks("v3.payment", "applied") == 1
    assert callbacks("v3.payment", "duplicate") == 1


async def assert_v2_pays_once(api: Api, sign_type: str) -> None:
    order = await unpaid_order(api)
    body = v2_payment(order, sign_type=sign_type)
    response = await post_v2(api, body)
    assert response.status == 200
    assert await v2_answer(response) == {"return_code": "SUCCESS", "return_msg": "OK"}
    assert (await Order.get(id=order.id)).status == OrderStatus.PAID
    after = await snapshot()
    assert (after["notices"], after["entries"]) == (1, 1)

    again = await post_v2(api, body)
    assert (await v2_answer(again))["return_code"] == "SUCCESS"
    assert await snapshot() == after
    assert callbacks("v2.payment", "duplicate") == 1


async def test_a_v3_notification_pays_its_order_once_and_a_retry_is_acknowledged(
    api: Api,
) -> None:
    await assert_v3_pays_once(api)


async def test_a_v2_hmac_notification_pays_its_order_once_and_a_retry_is_acknowledged(
    api: Api,
) -> None:
    await assert_v2_pays_once(api, "HMAC-SHA256")


@pytest.mark.parametrize("version", ["v2", "v3"])
async def test_notifications_pay_once_on_sqlite_without_redis(
    make_api: Callable[..., Any], version: str
) -> None:
    api: Api = await make_api("sqlite", redis=False)
    if version == "v3":
        await assert_v3_pays_once(api)
    else:
        await assert_v2_pays_once(api, "MD5")


async def test_metrics_count_notices_accepted_duplicate_and_rejected_by_reason(api: Api) -> None:
    def scrape_text() -> Any:
        return api.client.get("/metrics", headers=bearer(METRICS_TOKEN))

    before = prom.parse(await (await scrape_text()).text())
    order = await unpaid_order(api)
    headers, body = v3_payment(api, order)
    assert (await post_v3(api, headers, body)).status == 204
    assert (await post_v3(api, headers, body)).status == 204  # WeChat's retry: a duplicate
    forged = {**headers, "Wechatpay-Signature": "AAAA" + headers["Wechatpay-Signature"][4:]}
    assert (await post_v3(api, forged, body)).status == 401
    after = prom.parse(await (await scrape_text()).text())

    def counted(result: str, reason: str) -> float:
        return prom.delta(
            before, after, "queue_rebate_pay_notifications_total",
            kind="v3.payment", result=result, reason=reason,
        )  # fmt: skip

    assert counted("accepted", "applied") == 1
    assert counted("duplicate", "duplicate") == 1
    assert counted("rejected", "bad_signature") == 1
    assert counted("accepted", "duplicate") == counted("rejected", "applied") == 0


# --- refusals: each changes nothing ----------------------------------------------------------


@pytest.fixture
async def order(api: Api) -> Unpaid:
    return await unpaid_order(api)


@pytest.fixture
async def before(order: Unpaid) -> dict[str, Any]:
    return await snapshot()


async def assert_unchanged(api: Api, order: Unpaid, before: dict[str, Any]) -> None:
    assert await snapshot() == before
    assert (await Order.get(id=order.id)).status == OrderStatus.CREATED


async def assert_v3_refused(
    api: Api, order: Unpaid, before: dict[str, Any], response: Any, status: int, outcome: str
) -> None:
    assert response.status == status, await response.text()
    answer = await response.json()
    assert answer["code"] == "FAIL" and answer["message"]
    assert callbacks("v3.payment", outcome) == 1
    await assert_unchanged(api, order, before)


async def assert_v2_refused(
    api: Api, order: Unpaid, before: dict[str, Any], response: Any, status: int, outcome: str
) -> None:
    assert response.status == status
    answer = await v2_answer(response)
    assert answer["return_code"] == "FAIL" and answer["return_msg"]
    assert callbacks("v2.payment", outcome) == 1
    await assert_unchanged(api, order, before)


async def test_a_bad_v2_sign_changes_nothing(api: Api, order: Unpaid, before: dict) -> None:
    body = v2_payment(order)
    sign = re.search(rb"<sign><!\[CDATA\[(\w+)\]\]>", body)
    assert sign is not None, body
    flipped = (b"A" if sign.group(1)[:1] != b"A" else b"B") + sign.group(1)[1:]
    forged = body.replace(sign.group(1), flipped)
    response = await post_v2(api, forged)
    await assert_v2_refused(api, order, before, response, 401, "bad_signature")


async def test_a_v3_body_with_one_byte_changed_changes_nothing(
    api: Api, order: Unpaid, before: dict
) -> None:
    headers, body = v3_payment(api, order)
    at = body.index(b'"summary"') + 1
    tampered = body[:at] + b"S" + body[at + 1 :]  # "summary" → "Summary"
    response = await post_v3(api, headers, tampered)
    await assert_v3_refused(api, order, before, response, 401, "bad_signature")


async def test_an_unknown_platform_serial_changes_nothing(
    api: Api, order: Unpaid, before: dict
) -> None:
    headers, body = v3_payment(api, order, serial="PUB_KEY_ID_NOT_OURS")
    response = await post_v3(api, headers, body)
    await assert_v3_refused(api, order, before, response, 401, "unknown_serial")


async def test_a_stale_v3_timestamp_changes_nothing(api: Api, order: Unpaid, before: dict) -> None:
    headers, body = v3_payment(api, order, timestamp=int(time.time()) - 3600)
    response = await post_v3(api, headers, body)
    await assert_v3_refused(api, order, before, response, 401, "stale_timestamp")


async def test_a_wrong_aes_tag_changes_nothing(api: Api, order: Unpaid, before: dict) -> None:
    headers, body = v3_payment(api, order, apiv3_key=b"k" * 32)  # signed, but not our key
    response = await post_v3(api, headers, body)
    await assert_v3_refused(api, order, before, response, 400, "bad_tag")


async def test_an_amount_off_by_one_fen_changes_nothing(
    api: Api, order: Unpaid, before: dict
) -> None:
    headers, body = v3_payment(api, order, total=order.total - 1)
    response = await post_v3(api, headers, body)
    await assert_v3_refused(api, order, before, response, 400, "mismatch")


async def test_a_foreign_currency_changes_nothing(api: Api, order: Unpaid, before: dict) -> None:
    headers, body = v3_payment(api, order, currency="USD")
    response = await post_v3(api, headers, body)
    await assert_v3_refused(api, order, before, response, 400, "mismatch")


async def test_a_foreign_appid_changes_nothing(api: Api, order: Unpaid, before: dict) -> None:
    headers, body = v3_payment(api, order, appid="wxsomeoneelse0001")
    response = await post_v3(api, headers, body)
    await assert_v3_refused(api, order, before, response, 400, "wrong_merchant")


async def test_a_foreign_mchid_changes_nothing(api: Api, order: Unpaid, before: dict) -> None:
    response = await post_v2(api, v2_payment(order, mch_id="1900000999"))
    await assert_v2_refused(api, order, before, response, 400, "wrong_merchant")


async def test_an_unknown_out_trade_no_changes_nothing(
    api: Api, order: Unpaid, before: dict
) -> None:
    headers, body = v3_payment(api, order, out_trade_no="QRNOSUCHORDER0000000000000000000")
    response = await post_v3(api, headers, body)
    await assert_v3_refused(api, order, before, response, 404, "unknown_order")


async def test_a_payer_mismatch_changes_nothing(api: Api, order: Unpaid, before: dict) -> None:
    response = await post_v2(api, v2_payment(order, openid="oSomeoneElse"))
    await assert_v2_refused(api, order, before, response, 400, "mismatch")


async def test_result_code_fail_is_acknowledged_and_changes_nothing(
    api: Api, order: Unpaid, before: dict
) -> None:
    response = await post_v2(api, v2_payment(order, result_code="FAIL"))
    assert response.status == 200
    assert (await v2_answer(response))["return_code"] == "SUCCESS"  # so WeChat stops retrying
    assert callbacks("v2.payment", "result_fail") == 1
    await assert_unchanged(api, order, before)


async def test_a_v3_trade_state_other_than_success_is_acknowledged_and_changes_nothing(
    api: Api, order: Unpaid, before: dict
) -> None:
    headers, body = v3_payment(api, order, trade_state="PAYERROR")
    response = await post_v3(api, headers, body)
    assert response.status == 204
    assert callbacks("v3.payment", "result_fail") == 1
    await assert_unchanged(api, order, before)


async def test_an_xxe_payload_changes_nothing(api: Api, order: Unpaid, before: dict) -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<xml><return_code>SUCCESS</return_code><appid>&xxe;</appid></xml>"
    )
    response = await post_v2(api, body)
    await assert_v2_refused(api, order, before, response, 400, "forbidden_xml")


async def test_a_billion_laughs_payload_changes_nothing(
    api: Api, order: Unpaid, before: dict
) -> None:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    body = f'<?xml version="1.0"?><!DOCTYPE xml [{entities}]><xml><a>&lol9;</a></xml>'
    response = await post_v2(api, body.encode())
    await assert_v2_refused(api, order, before, response, 400, "forbidden_xml")


def padded(body: bytes, chunked: bool) -> Any:
    """``body`` grown past the cap: declared (bytes, with their Content-Length) or chunked."""
    pad = b" " * (MAX_BODY // 512 + 2) * 512

    async def chunks() -> AsyncIterator[bytes]:
        yield body
        for at in range(0, len(pad), 512):
            yield pad[at : at + 512]

    return chunks() if chunked else body + pad


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_an_oversize_v2_body_is_refused_in_wechats_format_and_changes_nothing(
    api: Api, order: Unpaid, before: dict, chunked: bool
) -> None:
    response = await post_v2(api, padded(v2_payment(order), chunked))
    assert response.headers.get("Connection", "").lower() == "close"
    await assert_v2_refused(api, order, before, response, 413, "oversize")


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_an_oversize_v3_body_is_refused_in_wechats_format_and_changes_nothing(
    api: Api, order: Unpaid, before: dict, chunked: bool
) -> None:
    headers, body = v3_payment(api, order)
    response = await post_v3(api, headers, padded(body, chunked))
    await assert_v3_refused(api, order, before, response, 413, "oversize")


@pytest.mark.parametrize("version", ["v2", "v3"])
async def test_an_oversize_refund_notification_is_refused_in_wechats_format(
    api: Api, version: str
) -> None:
    path = V2_REFUND if version == "v2" else V3_REFUND
    response = await api.client.post(path, data=b"<xml>" + b" " * MAX_BODY + b"</xml>")
    assert response.status == 413
    if version == "v2":
        assert (await v2_answer(response))["return_code"] == "FAIL"
    else:
        assert (await response.json())["code"] == "FAIL"
    assert callbacks(f"{version}.refund", "oversize") == 1


async def test_other_routes_still_refuse_an_oversize_body_with_the_json_error(api: Api) -> None:
    response = await api.client.post("/api/login", data=b"{" + b" " * MAX_BODY + b"}")
    assert response.status == 413
    assert (await response.json())["code"] == "body_too_large"


# --- refunds ---------------------------------------------------------------------------------


async def paid_and_refund_requested(api: Api) -> tuple[Unpaid, Refund]:
    order = await unpaid_order(api)
    paid = api.wx.mark_paid(order.out_trade_no)  # the member pays at WeChat Pay
    headers, body = v3_payment(api, order, transaction_id=paid.transaction_id)
    assert (await post_v3(api, headers, body)).status == 204
    line = await OrderLine.get(order_id=order.id)
    response = await api.client.post(
        f"/api/orders/{order.id}/lines/{line.id}/refund", headers=bearer(order.token)
    )
    assert response.status == 202, await response.text()
    return order, await Refund.get(order_id=order.id)


@pytest.mark.parametrize("version", ["v2", "v3"])
async def test_a_refund_notification_applies_the_refund_rule_once(api: Api, version: str) -> None:
    order, refund = await paid_and_refund_requested(api)
    entry = await Entry.get(order_id=order.id)
    assert entry.status == "waiting"
    sender = send_v2_refund_notification if version == "v2" else send_v3_refund_notification
    url = str(api.client.make_url(V2_REFUND if version == "v2" else V3_REFUND))
    amounts = (
        {"total_fee": order.total, "refund_fee": refund.amount_fen}
        if version == "v2"
        else {"total": order.total, "refund": refund.amount_fen}
    )
    fake_refund = api.wx.refunds[refund.out_refund_no]
    for _ in range(2):  # the second is WeChat retrying: acknowledged, nothing new
        delivery = await sender(
            api.wx,
            url,
            out_trade_no=order.out_trade_no,
            out_refund_no=refund.out_refund_no,
            refund_id=fake_refund.refund_id,
            **amounts,
        )
        if version == "v2":
            assert delivery.status == 200
            assert parse_flat_xml(delivery.body)["return_code"] == "SUCCESS"
        else:
            assert delivery.status == 204
    assert (await Refund.get(id=refund.id)).status == "succeeded"
    assert (await Entry.get(id=entry.id)).status == "refunded"  # SPEC §4: leaves its queue
    assert await PaymentNotice.filter(key__startswith="refund:").count() == 1
    kind = f"{version}.refund"
    assert (callbacks(kind, "applied"), callbacks(kind, "duplicate")) == (1, 1)


async def test_a_v2_refund_notification_under_another_key_changes_nothing(api: Api) -> None:
    order, refund = await paid_and_refund_requested(api)
    before = await snapshot()
    body = fake_notify.build_v2_refund_notification(
        api_key="f" * 32,
        appid=APPID,
        mch_id=MCHID,
        out_trade_no=order.out_trade_no,
        out_refund_no=refund.out_refund_no,
        refund_id="50300000000000000000000000001",
        total_fee=order.total,
        refund_fee=refund.amount_fen,
    )
    response = await post_v2(api, body, V2_REFUND)
    assert (await v2_answer(response))["return_code"] == "FAIL"
    assert callbacks("v2.refund", "bad_ciphertext") == 1
    assert await snapshot() == before
    assert (await Refund.get(id=refund.id)).status == "requested"


# --- when the notification never comes: reconciliation; when the member never confirms -------


@pytest.mark.parametrize("version", ["v2", "v3"])
async def test_reconciliation_recovers_a_payment_whose_notification_was_lost(
    make_api: Callable[..., Any], version: str
) -> None:
    api: Api = await make_api("postgres", api_version=version)
    order = await unpaid_order(api)
    paid = api.wx.mark_paid(order.out_trade_no)  # paid at WeChat; no notification arrives
    later = utcnow() + timedelta(minutes=11)
    clients = JobClients.of(api.app[WECHAT])
    run = await run_scheduled(reconciliation.JOB_NAME, now=later, clients=clients)
    assert run.status == "succeeded", run.error
    assert run.changes is not None and run.changes["recovered"] == [order.out_trade_no]
    assert (await Order.get(id=order.id)).status == OrderStatus.PAID
    assert await PaymentNotice.filter(key=f"pay:{paid.transaction_id}").count() == 1
    assert await Entry.filter(order_id=order.id).count() == 1

    # the notification turns up after all: the same payment, acknowledged, nothing new
    before = await snapshot()
    headers, body = v3_payment(api, order, transaction_id=paid.transaction_id)
    if version == "v3":
        assert (await post_v3(api, headers, body)).status == 204
    else:
        late = v2_payment(order, transaction_id=paid.transaction_id)
        assert (await v2_answer(await post_v2(api, late)))["return_code"] == "SUCCESS"
    assert await snapshot() == before


async def test_reconciliation_waits_then_closes_orders_wechat_says_are_unpaid(api: Api) -> None:
    young = await unpaid_order(api, "oYoung")
    old = await unpaid_order(api, "oOld")
    product = await new_product("未下单", 100)
    never_prepaid = await create_order(  # created, but WeChat Pay was never asked
        (await Member.get(openid="oOld")).id, OrderSource.MALL, items=[Item(product.id)]
    )
    now = utcnow()
    await Order.filter(id__in=[old.id, never_prepaid.id]).update(
        created_at=now - timedelta(hours=25)
    )
    report = await reconcile_unpaid(api.app[WECHAT].pay, now=now)
    assert set(report.closed) == {old.out_trade_no, never_prepaid.out_trade_no}
    assert report.queried == 2  # the young one is not due yet
    assert (await Order.get(id=young.id)).status == OrderStatus.CREATED
    assert (await Order.get(id=old.id)).status == OrderStatus.CLOSED

    report = await reconcile_unpaid(api.app[WECHAT].pay, now=now + timedelta(minutes=11))
    assert (report.queried, report.still_unpaid, report.closed) == (1, 1, [])
    assert (await Order.get(id=young.id)).status == OrderStatus.CREATED


async def test_reconciliation_without_a_pay_client_says_so_and_changes_nothing(
    api: Api,
) -> None:
    order = await unpaid_order(api)
    api.wx.mark_paid(order.out_trade_no)
    run = await run_job(reconciliation.JOB_NAME, now=utcnow() + timedelta(minutes=11))
    assert run.status == "succeeded"
    assert run.changes == {"skipped": "WeChat Pay is not configured"}
    assert (await Order.get(id=order.id)).status == OrderStatus.CREATED


async def test_orders_paid_more_than_seven_days_ago_are_completed_and_settled(
    api: Api,
) -> None:
    orders = []
    for openid in ("oSlow", "oRecent"):
        order = await unpaid_order(api, openid, settle_on=SettleOn.COMPLETED)
        headers, body = v3_payment(api, order)
        assert (await post_v3(api, headers, body)).status == 204
        orders.append(order)
    slow, recent = orders
    now = utcnow()
    await Order.filter(id=slow.id).update(paid_at=now - timedelta(days=7, minutes=1))
    assert await Entry.all().count() == 0  # 完成后结算: nothing settles on payment

    run = await run_scheduled(auto_complete.JOB_NAME, now=now)
    assert run.status == "succeeded" and run.changes == {"completed": 1, "order_ids": [slow.id]}
    assert (await Order.get(id=slow.id)).status == OrderStatus.COMPLETED
    assert (await Order.get(id=recent.id)).status == OrderStatus.PAID
    assert await Entry.filter(order_id=slow.id).count() == 1  # settled as a confirmation would

    await JobSetting.create(name=auto_complete.JOB_NAME, config={"after_days": 1})
    run = await run_job(auto_complete.JOB_NAME, now=now + timedelta(days=1, minutes=1))
    assert run.changes == {"completed": 1, "order_ids": [recent.id]}
