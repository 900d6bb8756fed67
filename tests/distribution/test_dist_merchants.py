"""Merchant invites, applications, decisions, the commission guardrail, 招商 and isolation."""

from dataclasses import replace

import pytest

from models import (
    Cashier,
    Commission,
    DistributionConfig,
    Entry,
    GuardrailAck,
    Merchant,
    MerchantApplication,
    MerchantInvite,
    OutboxEvent,
    Store,
)
from rebate.distribution_settings import DistributionSettings
from rebate.errors import InvalidSetting, NotAllowed
from rebate.settings import OrderSource, RatioSettings
from services.catalog.products import new_product
from services.distribution.settings import from_doc
from services.errors import Conflict, NotFound
from services.members.accounts import new_member
from services.merchants.onboarding import (
    MAX_SCENE_CHARS,
    apply_for_merchant,
    approve_application,
    create_invite,
    guardrail_numbers,
    invite_of_scene,
    reject_application,
    save_distribution_settings,
    set_store_commission,
    statement_lines,
    store_orders,
    store_queue,
    store_statements,
    store_turnover,
    stores_of_member,
)
from services.merchants.settlement import close_statements
from services.orders.lifecycle import Item, create_order, mark_paid
from tests.distribution.support import (
    LEVELS,
    MERCHANT_FORM,
    approved_store,
    base_rules,
    configure,
    days,
    pay_cashier,
    settle,
)
from tests.services.helpers import T0, Clock, use_base


async def test_invite_scene_is_opaque_and_fits_the_mini_program_code(db):
    promoter = await new_member("promoter")
    scene = await create_invite(now=T0, inviter_id=promoter.id)
    assert scene.startswith("m:") and len(scene) <= MAX_SCENE_CHARS
    assert len(scene) == 18 and scene[2:].isalnum()  # a token, not the inviter's id
    assert (await invite_of_scene(scene)).inviter_id == promoter.id
    operator_scene = await create_invite(now=T0, operator="小李")
    assert (await invite_of_scene(operator_scene)).inviter_id is None
    for bad in ("m:nope", f"m:{promoter.id}", "x:" + scene[2:], ""):
        with pytest.raises(NotFound):
            await invite_of_scene(bad)
    with pytest.raises(NotAllowed):
        await create_invite(now=T0)


BAD_FORMS = [
    ({"phone": "12800138000"}, "phone"),
    ({"phone": "1380013800"}, "phone"),
    ({"licence_no": "91350100M000100Y44"}, "licence_no"),  # wrong check character
    ({"licence_no": "91350100M000100Y4"}, "licence_no"),
    ({"licence_no": "9135010OM000100Y43"}, "licence_no"),  # O is not in the alphabet
    ({"name": "店"}, "name"),
    ({"contact": ""}, "contact"),
    ({"address": "福州"}, "address"),
    ({"category": "   "}, "category"),
]


async def test_every_bad_application_is_refused_and_changes_nothing(db):
    applicant = await new_member("applicant")
    for change, field in BAD_FORMS:
        with pytest.raises(NotAllowed) as refused:
            await apply_for_merchant(applicant.id, replace(MERCHANT_FORM, **change), now=T0)
        assert refused.value.field == field, change
    assert await MerchantApplication.all().count() == 0
    assert await OutboxEvent.all().count() == 0


async def test_applications_one_pending_at_a_time_and_never_on_ones_own_invite(db):
    applicant = await new_member("applicant")
    own = await create_invite(now=T0, inviter_id=applicant.id)
    with pytest.raises(NotAllowed):
        await apply_for_merchant(applicant.id, MERCHANT_FORM, now=T0, scene=own)
    with pytest.raises(NotFound):
        await apply_for_merchant(applicant.id, MERCHANT_FORM, now=T0, scene="m:unknown")
    first = await apply_for_merchant(applicant.id, MERCHANT_FORM, now=T0)
    with pytest.raises(Conflict):
        await apply_for_merchant(applicant.id, MERCHANT_FORM, now=T0)
    assert await MerchantApplication.all().count() == 1
    alert = await OutboxEvent.get(kind="operator_alert")
    assert f"#{first.id}" in alert.payload["text"]


async def test_approval_creates_the_store_and_cashier_and_records_the_inviter(db):
    await base_rules()
    promoter, owner = await new_member("promoter"), await new_member("owner")
    store_id = await approved_store(owner.id, inviter_id=promoter.id, commission_bp=2500)
    store = await Store.get(id=store_id)
    assert (store.name, store.commission_bp) == (MERCHANT_FORM.name, 2500)
    assert await Cashier.exists(store_id=store_id)
    merchant = await Merchant.get(store_id=store_id)
    assert (merchant.owner_id, merchant.inviter_id) == (owner.id, promoter.id)
    application = await MerchantApplication.get(id=merchant.application_id)
    assert (application.status, application.decided_by) == ("approved", "op")
    event = await OutboxEvent.get(kind="merchant_application_decided")
    assert event.member_id == owner.id and event.payload["approved"] is True
    with pytest.raises(NotAllowed):  # decided once
        await reject_application(application.id, reason="重复处理", operator="op", now=T0)


async def test_rejection_needs_a_reason_and_tells_the_applicant(db):
    owner = await new_member("owner")
    application = await apply_for_merchant(owner.id, MERCHANT_FORM, now=T0)
    with pytest.raises(NotAllowed) as refused:
        await reject_application(application.id, reason=" ", operator="op", now=T0)
    assert refused.value.field == "reason"
    assert (await MerchantApplication.get(id=application.id)).status == "pending"
    await reject_application(application.id, reason="营业执照不清晰", operator="op", now=T0)
    event = await OutboxEvent.get(kind="merchant_application_decided")
    assert event.payload == {
        "application_id": application.id,
        "approved": False,
        "reason": "营业执照不清晰",
    }
    with pytest.raises(NotAllowed):
        await approve_application(application.id, commission_bp=3000, operator="op", now=T0)
    assert await Store.all().count() == 0


async def test_guardrail_refuses_an_unfunded_store_unless_acknowledged_and_audits_that(db):
    """extraction 10% + 直推 10% + 间推 5% + top team 8% + 招商 2% = 35% against 30%."""
    await base_rules(extract_bp=1000)
    await configure(direct_bp=1000, indirect_bp=500, levels=LEVELS, merchant_referral_bp=200)
    owner = await new_member("owner")
    application = await apply_for_merchant(owner.id, MERCHANT_FORM, now=T0)
    with pytest.raises(InvalidSetting) as refused:
        await approve_application(application.id, commission_bp=3000, operator="op", now=T0)
    assert refused.value.field == "commission_bp" and "35.00%" in refused.value.message
    assert await Store.all().count() == 0 and await GuardrailAck.all().count() == 0
    assert (await MerchantApplication.get(id=application.id)).status == "pending"
    with pytest.raises(InvalidSetting):  # the flag must be exactly True
        await approve_application(
            application.id, commission_bp=3000, operator="op", now=T0, acknowledge="yes"
        )
    store = await approve_application(
        application.id, commission_bp=3000, operator="op", now=T0, acknowledge=True
    )
    ack = await GuardrailAck.get(store_id=store.id)
    assert (ack.operator, ack.context, ack.commission_bp, ack.payout_bp) == (
        "op",
        "approve",
        3000,
        3500,
    )
    assert ack.numbers["extract_bp"] == 1000 and ack.numbers["team_bp"] == 800
    assert ack.acknowledged_at == T0
    alerts = [e.payload["text"] for e in await OutboxEvent.filter(kind="operator_alert")]
    assert any("确认门店" in text and "op" in text for text in alerts)


async def test_guardrail_on_commission_changes_store_extraction_and_settings(db):
    await base_rules(extract_bp=1000)
    await configure(direct_bp=1000)
    store_id = await approved_store((await new_member("owner")).id, commission_bp=3000)
    assert not await GuardrailAck.exists()  # 20% within 30%: nothing to acknowledge
    with pytest.raises(InvalidSetting) as refused:
        await set_store_commission(store_id, 1500, operator="op", now=T0)
    assert refused.value.field == "commission_bp"
    assert (await Store.get(id=store_id)).commission_bp == 3000
    await new_product(
        "贵价茶", 10_000, kind="store", store_id=store_id, rebate={"extract_bp": 2500}
    )
    assert (await guardrail_numbers(store_id)).extract_bp == 2500  # a product's own ratio
    raise_direct = DistributionSettings(direct_bp=3000)
    before = (await DistributionConfig.get(id=1)).doc
    with pytest.raises(InvalidSetting):
        await save_distribution_settings(raise_direct, operator="op", now=T0)
    assert (await DistributionConfig.get(id=1)).doc == before
    over = await save_distribution_settings(raise_direct, operator="op", now=T0, acknowledge=True)
    assert [n.store_id for n in over] == [store_id]
    assert from_doc((await DistributionConfig.get(id=1)).doc) == raise_direct
    assert (await GuardrailAck.get(store_id=store_id)).context == "distribution"


async def test_merchant_referral_reward_goes_to_whoever_invited_the_store(db):
    await base_rules()
    await configure(merchant_referral_bp=150)
    promoter, owner, buyer = [await new_member(n) for n in ("promoter", "owner", "buyer")]
    invited = await approved_store(owner.id, inviter_id=promoter.id)
    clock = Clock()
    order = await pay_cashier(buyer.id, invited, 12_345, clock)
    commission = await Commission.get(order_id=order.id)
    assert (commission.member_id, commission.kind, commission.amount_fen) == (
        promoter.id,
        "merchant",
        12_345 * 150 // 10_000,
    )
    product = await new_product("门店茶", 5000, kind="store", store_id=invited)
    goods = await create_order(buyer.id, OrderSource.STORE, items=[Item(product.id)])
    await mark_paid(goods.id, paid_fen=5000, now=clock.tick())
    await settle(goods, clock.tick())
    assert (await Commission.get(order_id=goods.id)).amount_fen == 75
    operator_store = await approved_store((await new_member("owner2")).id)
    other = await pay_cashier(buyer.id, operator_store, 10_000, clock)
    assert not await Commission.filter(order_id=other.id).exists()
    assert await MerchantInvite.all().count() == 1


async def test_a_merchant_sees_its_own_store_and_nothing_of_another(db):
    # one queue for every store's cashier; entries stay waiting (1% extraction)
    await use_base(
        extract_bp=100, ratios=RatioSettings(default_bp=13000), cashiers_queue_unified=True
    )
    owner_a, owner_b, buyer = [await new_member(n) for n in ("a", "b", "buyer")]
    store_a = await approved_store(owner_a.id)
    owner_b_store = await approved_store(owner_b.id)
    clock = Clock()
    mine = [await pay_cashier(buyer.id, store_a, 1000 * (i + 1), clock) for i in range(2)]
    theirs = await pay_cashier(buyer.id, owner_b_store, 9999, clock)
    await close_statements(clock.tick() + days(2))
    assert await stores_of_member(owner_a.id) == [store_a]
    assert [o["id"] for o in (await store_orders(store_a)).items] == [mine[1].id, mine[0].id]
    assert await Entry.filter(status="waiting").count() == 3  # B's entry shares the queue
    totals, queue = await store_queue(store_a)
    assert totals["waiting"] == 2 and [e["order_id"] for e in queue.items] == [o.id for o in mine]
    turnover = await store_turnover(store_a, since=T0, until=clock.tick())
    assert turnover == {"orders": 2, "paid_fen": 3000, "credited_fen": 2100}
    statements = (await store_statements(store_a)).items
    assert len(statements) == 1
    lines = await statement_lines(store_a, statements[0]["id"])
    assert [line["order_id"] for line in lines.items] == [o.id for o in mine]
    their_statement = (await store_statements(owner_b_store)).items[0]
    with pytest.raises(NotFound):
        await statement_lines(store_a, their_statement["id"])
    assert theirs.id not in {o["id"] for o in (await store_orders(store_a, limit=50)).items}
