"""The notifier end to end: outbox events in, WeChat calls (recorded by the fake) out."""

from __future__ import annotations

from typing import Any

import pytest

from bot.messages import local_time
from models import DeliveryAttempt, NotificationDelivery, OfficialAccountFollower, OutboxEvent
from rebate.settings import RatioSettings, SettleOn
from services.catalog.products import new_product
from services.members.consents import grant_consent, remaining_consents
from tests.bot.conftest import MEMBER_KINDS, T0, member
from tests.services.helpers import Clock as SettleClock
from tests.services.helpers import seeded, use_base
from tests.services.test_settle_smoke import buy

PAYLOADS: dict[str, dict[str, Any]] = {
    "entry_joined": {
        "entry_id": 1,
        "queue": "mall",
        "position": 2,
        "entitlement_fen": 21840,
        "lottery": False,
    },
    "lottery_available": {"entry_id": 1, "lottery": {"mode": "fixed", "ratios_bp": [15000]}},
    "lottery_drawn": {
        "entry_id": 1,
        "ratio_bp": 15000,
        "entitlement_fen": 25200,
        "old_ratio_bp": 13000,
        "old_entitlement_fen": 21840,
        "status": "waiting",
    },
    "payout_received": {
        "entry_id": 1,
        "amount_fen": 10920,
        "paid_fen": 10920,
        "entitlement_fen": 21840,
        "progress_bp": 5000,
    },
    "entry_completed": {"entry_id": 1, "entitlement_fen": 21840},
    "entry_converted": {"entry_id": 2, "points": 500},
    "entry_refunded": {"entry_id": 3},
    "entry_cleared": {"entry_id": 4, "forfeited_fen": 1000},
    "entry_exchanged": {"entry_id": 5, "asset": "love_available", "amount": 300},
    "commission_earned": {"order_id": 8, "kind": "team", "amount_fen": 300},
    "commission_released": {
        "commission_id": 4,
        "order_id": 8,
        "kind": "direct",
        "amount_fen": 1234,
    },
    "dividend_received": {"period": "2026-11", "amount_fen": 8800, "run_id": 1},
    "withdrawal_result": {
        "withdrawal_id": 9,
        "amount_fen": 5000,
        "status": "failed",
        "reason": "银行卡信息有误",
    },
    "merchant_application_decided": {"application_id": 3, "approved": True, "store_id": 2},
    "statement_closed": {"statement_id": 5, "store_id": 2, "total_fen": 99000},
    "statement_paid": {"statement_id": 5, "total_fen": 99000},
    "statement_confirm_needed": {"statement_id": 5, "out_bill_no": "B1", "package_info": "p"},
}

# The subscribe message each kind produces (default keywords: title, detail, time).
EXPECTED_SUBSCRIBE = {
    "entry_joined": ("加入排队", "商城队列第3位"),
    "lottery_available": ("可以抽奖", "回复抽奖即可参与"),
    "lottery_drawn": ("抽奖结果", "抽中150%"),
    "entry_completed": ("权益已返完", "共218.40元"),
    "entry_converted": ("已转为积分", "获得500积分"),
    "entry_refunded": ("权益已失效", "订单退款"),
    "entry_cleared": ("权益已清零", "按平台规则清零"),
    "entry_exchanged": ("兑换成功", "获得300爱心值"),
    "commission_earned": ("佣金待到账", "团队奖励3.00元"),
    "commission_released": ("佣金到账", "直推奖励12.34元"),
    "dividend_received": ("分红到账", "分红88.00元"),
    "withdrawal_result": ("提现失败", "提现失败，50.00元"),
    "merchant_application_decided": ("入驻审核结果", "入驻申请已通过"),
    "statement_closed": ("结算单已生成", "应结990.00元"),
    "statement_paid": ("结算已打款", "已打款990.00元"),
    "statement_confirm_needed": ("请确认收款", "请在小程序确认收款"),
}


async def emit(kind: str, member_id: int | None, payload: dict[str, Any]) -> OutboxEvent:
    return await OutboxEvent.create(kind=kind, member_id=member_id, payload=payload, created_at=T0)


def sent_to(mini_wx, openid: str) -> list[dict[str, Any]]:
    return [m for m in mini_wx.sent_messages if m["touser"] == openid]


async def test_each_event_kind_reaches_its_member_with_the_right_template_data(
    db, make_notifier, mini_wx, oa_fake
):
    m = await member(1, consents={f"T_{kind}": 1 for kind in MEMBER_KINDS})
    other = await member(2)  # no consents: hears nothing on the subscribe channel
    for kind in MEMBER_KINDS:
        await emit(kind, m.id, PAYLOADS[kind])
    await emit("operator_alert", None, {"text": "守恒检查失败：队列 mall 差 1 分"})
    await emit("merchant_application_submitted", None, {"name": "老王茶铺", "contact": "王先生"})
    await emit("payout_received", other.id, PAYLOADS["payout_received"])

    assert await make_notifier().run_once() > 0

    messages = sent_to(mini_wx, "o-mini-1")
    assert [msg["template_id"] for msg in messages] == [f"T_{kind}" for kind in MEMBER_KINDS]
    assert sent_to(mini_wx, "o-mini-2") == []
    when = local_time(T0)
    assert when == "2026年11月25日 10:00"
    for msg in messages:
        kind = msg["template_id"][2:]
        assert msg["page"] == "pages/queue/index"
        if kind == "payout_received":
            assert msg["data"] == {
                "amount1": {"value": "109.20元"},
                "thing2": {"value": "50%"},
                "thing3": {"value": "共享链"},
            }
            continue
        title, detail = EXPECTED_SUBSCRIBE[kind]
        assert msg["data"] == {
            "thing1": {"value": title},
            "thing2": {"value": detail},
            "time3": {"value": when},
        }, kind

    # The official account: payouts as its template, the rest as customer-service text.
    assert sorted(t["touser"] for t in oa_fake.templates) == ["o-oa-1", "o-oa-2"]
    payout = next(t for t in oa_fake.templates if t["touser"] == "o-oa-1")
    assert payout["template_id"] == "OA_PAYOUT"
    assert payout["data"] == {"keyword1": {"value": "109.20元"}}
    assert payout["miniprogram"] == {
        "appid": "wxbotmini00000001",
        "pagepath": "pages/q",
    }
    texts = [t["text"]["content"] for t in oa_fake.texts if t["touser"] == "o-oa-1"]
    assert len(texts) == len(MEMBER_KINDS) - 1
    assert texts[0] == "【共享链】您已加入商城队列，当前排第3位，待返权益218.40元。"
    assert "【共享链】您已将排队权益兑换为300爱心值。" in texts
    assert "您的提现50.00元未成功：银行卡信息有误。请稍后重试或联系客服。" in texts

    # Operators: the failed withdrawal, the alert, the new application — in event order.
    assert [a["msgtype"] for a in oa_fake.alerts] == ["text"] * 3
    assert [a["text"]["content"] for a in oa_fake.alerts] == [
        "提现失败：提现单 9，金额 50.00 元，原因：银行卡信息有误。",
        "守恒检查失败：队列 mall 差 1 分",
        "新的商家入驻申请：老王茶铺（联系人：王先生），请到后台审核。",
    ]
    # Every consent was used once; every delivery is recorded with its one attempt.
    assert await remaining_consents(m.id, "T_payout_received") == 0
    statuses = await NotificationDelivery.all().values_list("status", flat=True)
    assert statuses.count("skipped") == 1  # member 2's subscribe message: no consent
    assert set(statuses) == {"sent", "skipped"}
    assert await DeliveryAttempt.all().count() == len(statuses)
    # A second pass finds nothing new and sends nothing again.
    calls = len(mini_wx.sent_messages) + len(oa_fake.texts) + len(oa_fake.alerts)
    assert await make_notifier().run_once() == 0
    assert len(mini_wx.sent_messages) + len(oa_fake.texts) + len(oa_fake.alerts) == calls


async def test_a_settled_order_tells_its_member_where_they_stand(db, make_notifier, mini_wx):
    await use_base(
        extract_bp=6500, ratios=RatioSettings(default_bp=13000), settle_on=SettleOn.COMPLETED
    )
    product = await new_product("茶叶", 16800)
    first = await member(
        1, consents={"T_entry_joined": 5, "T_payout_received": 5, "T_entry_completed": 1}
    )
    second = await member(2, consents={"T_entry_joined": 5})
    settle_clock, rng = SettleClock(), seeded()
    await buy(first.id, product.id, settle_clock, rng)
    await buy(second.id, product.id, settle_clock, rng)
    await buy(second.id, product.id, settle_clock, rng)

    await make_notifier().run_once()

    mine = [
        (m["template_id"], m["data"]["thing2"]["value"] if "thing2" in m["data"] else "")
        for m in sent_to(mini_wx, "o-mini-1")
    ]
    assert mine == [
        ("T_entry_joined", "商城队列第1位"),
        ("T_payout_received", "50%"),
        ("T_payout_received", "100%"),
        ("T_entry_completed", "共218.40元"),
    ]
    theirs = [m["data"]["thing2"]["value"] for m in sent_to(mini_wx, "o-mini-2")]
    assert theirs == ["商城队列第2位", "商城队列第2位"]  # the first had left by the second


async def test_43101_is_recorded_never_retried_and_stops_that_template_for_that_member(
    db, make_notifier, mini_wx, oa_fake, clock
):
    refusing = await member(1, consents={"T_payout_received": 3})
    fine = await member(2, consents={"T_payout_received": 1})
    mini_wx.subscribe_errcodes["o-mini-1"] = 43101
    for m in (refusing, refusing, fine):
        await emit("payout_received", m.id, PAYLOADS["payout_received"])

    notifier = make_notifier()
    await notifier.run_once()
    clock.advance(24 * 3600)
    await notifier.run_once()

    calls = mini_wx.calls_to("/cgi-bin/message/subscribe/send")
    assert sum(b"o-mini-1" in c.body for c in calls) == 1  # one try, never retried
    assert len(sent_to(mini_wx, "o-mini-2")) == 1
    assert await remaining_consents(refusing.id, "T_payout_received") == 0
    mine = await NotificationDelivery.filter(member_id=refusing.id, channel="subscribe").order_by(
        "id"
    )
    assert [d.status for d in mine] == ["refused", "skipped"]
    assert "43101" in mine[0].last_error
    attempts = await DeliveryAttempt.filter(delivery_id=mine[0].id)
    assert [(a.outcome, a.errcode) for a in attempts] == [("refused", 43101)]
    # Other channels go on: the official account still told them both times.
    assert [t["touser"] for t in oa_fake.templates].count("o-oa-1") == 2

    # The member consents again in the mini-program: the next message goes out.
    del mini_wx.subscribe_errcodes["o-mini-1"]
    await grant_consent(refusing.id, "T_payout_received", 1, now=clock.now)
    await emit("payout_received", refusing.id, PAYLOADS["payout_received"])
    await notifier.run_once()
    assert len(sent_to(mini_wx, "o-mini-1")) == 1


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_busy_is_retried_with_backoff_until_it_succeeds_or_the_cap(
    db, make_notifier, mini_wx, clock
):
    patient = await member(1, consents={"T_payout_received": 2})
    unlucky = await member(2, consents={"T_payout_received": 2})
    mini_wx.subscribe_errcodes.update({"o-mini-1": -1, "o-mini-2": -1})
    await emit("payout_received", patient.id, PAYLOADS["payout_received"])
    await emit("payout_received", unlucky.id, PAYLOADS["payout_received"])
    notifier = make_notifier(backoff_seconds=5, max_attempts=3)

    await notifier.run_once()  # attempt 1 each: busy
    await notifier.run_once()  # not due yet: no call
    assert len(mini_wx.calls_to("/cgi-bin/message/subscribe/send")) == 2
    del mini_wx.subscribe_errcodes["o-mini-1"]
    clock.advance(5)
    await notifier.run_once()  # attempt 2: patient's goes out, unlucky's is busy again
    clock.advance(9)
    await notifier.run_once()  # 10 s backoff not over for unlucky
    clock.advance(1)
    await notifier.run_once()  # attempt 3 of 3: busy, failed for good
    clock.advance(3600)
    await notifier.run_once()

    assert len(sent_to(mini_wx, "o-mini-1")) == 1
    assert len(mini_wx.calls_to("/cgi-bin/message/subscribe/send")) == 5
    done = await NotificationDelivery.get(member_id=patient.id, channel="subscribe")
    failed = await NotificationDelivery.get(member_id=unlucky.id, channel="subscribe")
    assert (done.status, done.attempts, failed.status, failed.attempts) == ("sent", 2, "failed", 3)
    outcomes = (
        await DeliveryAttempt.filter(delivery_id=failed.id)
        .order_by("number")
        .values_list("number", "outcome", "errcode")
    )
    assert outcomes == [(1, "retry", -1), (2, "retry", -1), (3, "retry", -1)]
    assert (
        await remaining_consents(patient.id, "T_payout_received") == 1
    )  # one message, one consent
    assert await remaining_consents(unlucky.id, "T_payout_received") == 2


async def test_not_following_the_official_account_sends_nothing_there(db, make_notifier, oa_fake):
    never = await member(1, follows=False)
    gone = await member(2)  # we think they follow; WeChat says 43004
    oa_fake.unfollowed.add("o-oa-2")
    await emit("entry_completed", never.id, PAYLOADS["entry_completed"])
    await emit("entry_completed", gone.id, PAYLOADS["entry_completed"])

    await make_notifier().run_once()

    assert oa_fake.texts == []
    official = await NotificationDelivery.filter(channel="official").order_by("id")
    assert [d.status for d in official] == ["skipped", "skipped"]
    assert not (await OfficialAccountFollower.get(openid="o-oa-2")).following


async def test_operator_set_custom_names_win_over_the_bot_settings(db, make_notifier, mini_wx):
    from models import SettingDoc
    from services.members.views import DISPLAY_DOC, Display, display_to_doc

    m = await member(1, consents={"T_payout_received": 1, "T_entry_exchanged": 1})
    await SettingDoc.create(
        name=DISPLAY_DOC,
        config=display_to_doc(Display(rebate_name="消费全返", exchange_name="换购")),
    )
    await emit("payout_received", m.id, PAYLOADS["payout_received"])
    await emit("entry_exchanged", m.id, PAYLOADS["entry_exchanged"])

    await make_notifier().run_once()

    payout, exchanged = sent_to(mini_wx, "o-mini-1")
    assert payout["data"]["thing3"] == {"value": "消费全返"}  # not [bot.names] "共享链"
    assert exchanged["data"]["thing1"] == {"value": "换购成功"}
