"""直推 / 间推 / 级差 on settlement, the referral binding they follow, the freeze and release,
and refunds (SPEC §8)."""

import asyncio

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from models import (
    Commission,
    CommissionKind,
    DistributionConfig,
    Entry,
    Member,
    Order,
    OrderLine,
    OutboxEvent,
    Posting,
    TeamLevelChange,
    Wallet,
)
from rebate.distribution_settings import DistributionSettings, TeamLevel
from rebate.errors import InvalidSetting
from rebate.money import apply_bp
from rebate.settings import RatioSettings
from runtime.sql import fetch
from services.checks import check_conservation
from services.distribution.promoter import my_rewards, my_team
from services.distribution.referral import Binding, bind_referrer
from services.distribution.rewards import (
    _release,
    on_order_settled,
    release_matured_commissions,
)
from services.distribution.settings import from_doc, to_doc
from services.distribution.team import team_levels
from services.members.accounts import new_member
from services.merchants.onboarding import save_distribution_settings
from services.orders.lifecycle import refund_line
from services.paging import Page
from tests.distribution.support import (
    LEVELS,
    base_rules,
    buy,
    chain,
    configure,
    days,
    refund,
    with_level,
)
from tests.services.helpers import T0, Clock, use_base


async def rewards_of(order_id: int) -> dict[str, tuple[int, int]]:
    """kind (team: ``team:<member>``) → (member, amount)."""
    out = {}
    for c in await Commission.filter(order_id=order_id).order_by("id"):
        key = f"team:{c.member_id}" if c.kind == CommissionKind.TEAM else c.kind.value
        out[key] = (c.member_id, c.amount_fen)
    return out


async def books_balance() -> None:
    assert await check_conservation() == []
    assert await check_conservation() == []


# --- who is rewarded: the binding decides -------------------------------------------------------


async def test_direct_and_indirect_go_to_the_two_referrers_above_the_buyer(db):
    await base_rules()
    await configure(direct_bp=1000, indirect_bp=500)
    top, mid, buyer = await chain(3)
    order = await buy(buyer, 16_801, Clock())
    # floor(16801 × 10%) = 1680, floor(16801 × 5%) = 840: the fractions stay with the platform
    assert await rewards_of(order.id) == {"direct": (mid, 1680), "indirect": (top, 840)}
    assert await Commission.filter(order_id=order.id).first().values("key") == {
        "key": f"reward:direct:{order.id}"
    }
    await books_balance()


async def test_refused_bindings_earn_nothing_and_the_first_referrer_keeps_the_buyer(db):
    """Self, a 2-cycle, a 3-cycle and a late re-binding are refused; rewards follow the one
    binding that stands."""
    await base_rules()
    await configure(direct_bp=1000, indirect_bp=500)
    a, b, c = await chain(3)  # a ← b ← c
    other = await new_member("other")
    code = {m: (await Member.get(id=m)).referral_code for m in (a, b, c, other.id)}
    loner = await new_member("loner")
    assert await bind_referrer(loner.id, loner.referral_code) == Binding.SELF
    assert await bind_referrer(a, code[b]) == Binding.CYCLE  # 2-cycle
    assert await bind_referrer(a, code[c]) == Binding.CYCLE  # 3-cycle
    assert await bind_referrer(c, code[other.id]) == Binding.ALREADY_BOUND
    clock = Clock()
    assert await rewards_of((await buy(loner.id, 10_000, clock)).id) == {}
    assert await rewards_of((await buy(a, 10_000, clock)).id) == {}  # a has no referrer
    assert await rewards_of((await buy(c, 10_000, clock)).id) == {
        "direct": (b, 1000),
        "indirect": (a, 500),
    }
    assert not await Commission.filter(member_id=other.id).exists()


async def test_a_member_bound_after_an_order_earns_only_on_later_orders(db):
    await base_rules()
    await configure(direct_bp=1000)
    promoter, buyer = await new_member("p"), await new_member("b")
    clock = Clock()
    before = await buy(buyer.id, 10_000, clock)
    assert await bind_referrer(buyer.id, promoter.referral_code) == Binding.BOUND
    after = await buy(buyer.id, 10_000, clock)
    assert await rewards_of(before.id) == {}
    assert await rewards_of(after.id) == {"direct": (promoter.id, 1000)}


# --- 级差 -----------------------------------------------------------------------------------------


async def test_team_difference_pays_each_higher_rate_its_difference_up_to_the_depth_limit(db):
    """buyer → low (no level) → mid (3%) → top (5%) → apex (8%): with depth 3, low gets
    nothing, mid 3%, top 5% − 3%; apex is beyond the limit."""
    await base_rules()
    await configure(levels=LEVELS, team_depth=3)
    apex, top, mid, _low, buyer = await chain(5)
    for member, level in ((apex, 3), (top, 2), (mid, 1)):
        await with_level(member, level)
    order = await buy(buyer, 20_001, Clock())
    assert await rewards_of(order.id) == {
        f"team:{mid}": (mid, apply_bp(20_001, 300)),
        f"team:{top}": (top, apply_bp(20_001, 200)),
    }


async def test_team_difference_skips_a_lower_rate_above_a_higher_one_and_default_depth_is_2(db):
    await base_rules()
    await configure(levels=LEVELS)  # team_depth 2
    top, high, low_level, buyer = await chain(4)
    await with_level(top, 3)  # 8%, but three levels up: beyond the default depth
    await with_level(high, 2)  # 5%
    await with_level(low_level, 3)  # 8%: the first ancestor outranks the second
    order = await buy(buyer, 10_000, Clock())
    assert await rewards_of(order.id) == {f"team:{low_level}": (low_level, 800)}


async def test_team_depth_above_three_is_refused_and_three_is_the_most(db):
    with pytest.raises(InvalidSetting) as refused:
        DistributionSettings(team_depth=4)
    assert refused.value.field == "team_depth" and "传销" in refused.value.message
    with pytest.raises(InvalidSetting):
        from_doc({"team_depth": 0})
    assert DistributionSettings(team_depth=3).team_depth == 3


# --- team levels ----------------------------------------------------------------------------------


async def test_levels_rise_by_direct_referrals_and_team_turnover_and_each_change_is_recorded(db):
    await base_rules()
    await configure(levels=LEVELS)
    leader, _first, buyer = await chain(3)  # leader ← first ← buyer
    second = await new_member("second")
    await bind_referrer(second.id, (await Member.get(id=leader)).referral_code)
    clock = Clock()
    await buy(buyer, 60_000, clock)  # leader: 2 directs → 经理; team turnover 60000
    assert (await team_levels_of(leader)) == 1
    await buy(second.id, 40_000, clock)  # team turnover 100000 → 总监
    assert (await team_levels_of(leader)) == 2
    changes = await TeamLevelChange.filter(member_id=leader).order_by("id")
    assert [(c.from_level, c.to_level, c.reason) for c in changes] == [
        (0, 1, "auto"),
        (1, 2, "auto"),
    ]
    assert changes[1].detail == {"team_turnover_fen": 100_000, "direct_referrals": 2}
    await with_level(leader, 0)
    last = await TeamLevelChange.filter(member_id=leader).order_by("-id").first()
    assert (last.from_level, last.to_level, last.reason) == (2, 0, "operator")


async def team_levels_of(member_id: int) -> int:
    async with in_transaction() as conn:
        return (await team_levels(conn, [member_id]))[member_id]


# --- freeze, release, refunds -----------------------------------------------------------------


async def test_commission_is_frozen_then_released_once_after_the_freeze_period(db):
    await base_rules()
    await configure(direct_bp=1000, freeze_days=7)
    promoter, buyer = await chain(2)
    clock = Clock()
    order = await buy(buyer, 10_000, clock)
    commission = await Commission.get(order_id=order.id)
    assert commission.status == "frozen" and commission.release_at == order.completed_at + days(7)
    assert (await release_matured_commissions(order.completed_at + days(6)))["released"] == 0
    assert (await Wallet.get(member_id=promoter)).cash_fen == 0
    assert (await release_matured_commissions(order.completed_at + days(7)))["released"] == 1
    assert (await release_matured_commissions(order.completed_at + days(8)))["released"] == 0
    line = await Posting.get(key=commission.key)
    assert (line.debit, line.credit, line.unit, line.amount, line.kind, line.order_id) == (
        "platform:commissions", f"member:{promoter}:cash", "cash", 1000, "commission", order.id,
    )  # fmt: skip
    assert (await Wallet.get(member_id=promoter)).cash_fen == 1000
    assert await OutboxEvent.filter(kind="commission_released", member_id=promoter).count() == 1
    await books_balance()


async def test_settled_at_payment_the_freeze_counts_from_completion(db):
    await base_rules()
    await configure(direct_bp=1000, freeze_days=3)
    _, buyer = await chain(2)
    order = await buy(buyer, 10_000, Clock(), settle_it=False)
    async with in_transaction() as conn:  # 支付后结算: settled before completion
        await on_order_settled(conn, await Order.get(id=order.id), T0)
    assert (await Commission.get(order_id=order.id)).release_at is None
    assert (await release_matured_commissions(T0 + days(30)))["released"] == 0
    from services.orders.lifecycle import complete_order

    done = await complete_order(order.id, now=T0 + days(1))
    report = await release_matured_commissions(T0 + days(2))
    assert report == {"scheduled": 1, "released": 0, "released_fen": 0}
    assert (await Commission.get(order_id=order.id)).release_at == done.completed_at + days(3)
    assert (await release_matured_commissions(T0 + days(4)))["released"] == 1


async def test_refund_before_release_shrinks_then_reverses_and_never_touches_the_wallet(db):
    await base_rules()
    await configure(direct_bp=1000, indirect_bp=500)
    top, mid, buyer = await chain(3)
    clock = Clock()
    order = await buy(buyer, 10_001, clock, lines=2)
    first, second = await OrderLine.filter(order_id=order.id).order_by("id")
    assert await rewards_of(order.id) == {"direct": (mid, 2000), "indirect": (top, 1000)}
    await refund(first.id, clock.tick())
    assert await rewards_of(order.id) == {"direct": (mid, 1000), "indirect": (top, 500)}
    await refund(second.id, clock.tick())
    assert {c.status for c in await Commission.filter(order_id=order.id)} == {"reversed"}
    assert await rewards_of(order.id) == {"direct": (mid, 0), "indirect": (top, 0)}
    assert (await release_matured_commissions(clock.tick() + days(60)))["released"] == 0
    assert not await Posting.filter(kind="commission").exists()
    await books_balance()


async def test_refund_after_release_leaves_the_commission_paid_as_platform_cost(db):
    await base_rules()
    await configure(direct_bp=1000, freeze_days=0)
    promoter, buyer = await chain(2)
    clock = Clock()
    order = await buy(buyer, 10_000, clock)
    await release_matured_commissions(clock.tick())
    line = await OrderLine.get(order_id=order.id)
    await refund(line.id, clock.tick())
    commission = await Commission.get(order_id=order.id)
    assert (commission.status, commission.amount_fen) == ("released", 1000)
    assert (await Wallet.get(member_id=promoter)).cash_fen == 1000
    await books_balance()


async def test_settling_twice_writes_each_reward_once(db):
    await base_rules()
    await configure(direct_bp=1000, indirect_bp=500)
    _, _, buyer = await chain(3)
    order = await buy(buyer, 10_000, Clock())
    async with in_transaction() as conn:
        await on_order_settled(conn, await Order.get(id=order.id), T0)
    assert await Commission.filter(order_id=order.id).count() == 2
    assert await OutboxEvent.filter(kind="commission_earned").count() == 2


# --- settings and the promoter's view ---------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"direct_bp": 10_001}, "direct_bp"),
        ({"indirect_bp": -1}, "indirect_bp"),
        ({"team_depth": 4}, "team_depth"),
        ({"freeze_days": 91}, "freeze_days"),
        ({"surprise": 1}, "surprise"),
        ({"dividend_period": "year"}, "dividend_period"),
        (
            {
                "levels": [
                    {"level": 1, "name": "a", "rate_bp": 500},
                    {"level": 2, "name": "b", "rate_bp": 400},
                ]
            },
            "levels.1.rate_bp",
        ),
        (
            {"shareholder_level": 2, "levels": [{"level": 1, "name": "a", "rate_bp": 5}]},
            "shareholder_level",
        ),
        ({"direct_bp": 6000, "indirect_bp": 5000}, "direct_bp"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(doc, field):
    with pytest.raises(InvalidSetting) as refused:
        from_doc(doc)
    assert refused.value.field == field


async def test_a_refused_settings_change_changes_nothing(db):
    good = await configure(direct_bp=700)
    with pytest.raises(InvalidSetting):
        await save_distribution_settings(from_doc({"direct_bp": 10_001}), operator="op", now=T0)
    row = await DistributionConfig.get(id=1)
    assert from_doc(row.doc) == good and to_doc(from_doc(row.doc)) == to_doc(good)


async def test_promoter_sees_own_team_and_rewards_paged(db):
    await base_rules()
    await configure(direct_bp=1000, indirect_bp=500)
    top, mid, buyer = await chain(3)
    clock = Clock()
    for _ in range(3):
        await buy(buyer, 10_000, clock)
    team = await my_team(top, limit=1)
    assert team.counts == {1: 1, 2: 1} and team.turnover_fen == 30_000
    assert [m.member_id for m in team.members.items] == [mid]
    rest = await my_team(top, cursor=team.members.next_cursor, limit=1)
    assert [m.member_id for m in rest.members.items] == [buyer] and rest.members.next_cursor is None
    assert rest.counts == team.counts  # the counts cover the whole team on every page
    first = await my_rewards(top, limit=2)
    rewards = await my_rewards(top, cursor=first.rewards.next_cursor, limit=2)
    assert rewards.totals == {"frozen": 1500, "released": 0, "reversed": 0}
    assert len(rewards.rewards.items) == 1 and rewards.rewards.next_cursor is None
    assert [r.commission_id for r in first.rewards.items + rewards.rewards.items] == [
        c.id for c in await Commission.filter(member_id=top).order_by("-id")
    ]
    assert {r.kind for r in (await my_rewards(mid)).rewards.items} == {"direct"}
    assert (await my_rewards(buyer)).rewards == Page([], None)
    assert TeamLevel(1, "x", 1).level == 1


@pytest.mark.postgres
async def test_concurrent_settlement_hooks_and_releases_pay_each_reward_once(pg):
    await base_rules()
    await configure(direct_bp=1000, indirect_bp=500, freeze_days=0)
    top, mid, buyer = await chain(3)
    order = await buy(buyer, 10_000, Clock())

    async def settle_again() -> None:
        async with in_transaction() as conn:
            await on_order_settled(conn, await Order.get(id=order.id), T0)

    await asyncio.gather(*(settle_again() for _ in range(4)))
    assert await Commission.filter(order_id=order.id).count() == 2
    reports = await asyncio.gather(
        *(release_matured_commissions(T0 + days(1), batch=1) for _ in range(4))
    )
    assert sum(r["released"] for r in reports) == 2
    assert (await Wallet.get(member_id=mid)).cash_fen == 1000
    assert (await Wallet.get(member_id=top)).cash_fen == 500
    await books_balance()


@pytest.mark.postgres
async def test_a_refund_racing_a_release_posts_no_reduction_of_what_was_released(pg):
    """The release job commits between the refund's read of the frozen commissions and its
    update: the commission stays released at its amount, and no reduction is posted for it."""
    await base_rules()
    await configure(direct_bp=1000, freeze_days=0)
    promoter, buyer = await chain(2)
    clock = Clock()
    order = await buy(buyer, 10_000, clock, lines=2)
    first, _ = await OrderLine.filter(order_id=order.id).order_by("id")
    commission = await Commission.get(order_id=order.id)
    conn = connections.get("default")
    released = asyncio.Event()

    async def refund_after_release() -> str:
        await released.wait()
        return await refund_line(first.id, now=clock.tick())

    refund = asyncio.create_task(refund_after_release())  # outside the release's transaction
    async with in_transaction() as tx:
        assert await _release(tx, [commission.id], clock.tick()) == (1, 2000)
        released.set()
        for _ in range(500):  # until the refund waits for the commission row's lock
            waiting = await fetch(
                conn,
                "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'",
            )
            if waiting[0]["n"]:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the refund never waited for the release")
    assert await refund == "after_settlement_left_queue"
    commission = await Commission.get(id=commission.id)
    assert (commission.status, commission.amount_fen) == ("released", 2000)
    assert (await Wallet.get(member_id=promoter)).cash_fen == 2000
    assert not await Posting.filter(kind="commission_reduced").exists()
    await books_balance()


@pytest.mark.postgres
async def test_two_lines_refunded_at_once_in_different_queues_reverse_the_whole_commission(pg):
    """Each product has its own queue, so the two refunds take different queue locks; the
    order's lock makes the second see what the first left, and together they reverse it all."""
    await use_base(
        mall_queue_unified=False, extract_bp=1000, ratios=RatioSettings(default_bp=13000)
    )
    await configure(direct_bp=1000, indirect_bp=500)
    top, mid, buyer = await chain(3)
    clock = Clock()
    for _ in range(5):
        order = await buy(buyer, 10_000, clock, lines=2)
        first, second = await OrderLine.filter(order_id=order.id).order_by("id")
        queues = {e.queue_id for e in await Entry.filter(line_id__in=[first.id, second.id])}
        assert len(queues) == 2
        now = clock.tick()
        await asyncio.gather(refund_line(first.id, now=now), refund_line(second.id, now=now))
        assert await rewards_of(order.id) == {"direct": (mid, 0), "indirect": (top, 0)}
        assert {c.status for c in await Commission.filter(order_id=order.id)} == {"reversed"}
        assert (await Order.get(id=order.id)).status == "refunded"
    await books_balance()
