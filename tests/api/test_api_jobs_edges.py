"""Every job runs the same from each edge that starts it: the server's scheduler (its tick, or
the clearing trigger), the command line (``queue-rebate jobs run NAME`` with a config whose
WeChat URLs point at the fake WeChat) and the operators' API (``POST /api/admin/jobs/NAME/run``).

Each job has one scenario and one expected outcome, checked after a run through each edge:
a lost payment is recovered by reconciliation, a merchant statement and a member's withdrawal
reach the fake WeChat under their own transfer scene, and so on. The scheduler edge uses the
scheduler the app itself started, so it runs with the clients the composition root gave it.
The database is migrated (the command line refuses one that is not), shared by the tests and
emptied before each."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from tortoise.transactions import in_transaction

from models import (
    Commission,
    DividendRun,
    DoublePayment,
    Entry,
    EntryStatus,
    JobRun,
    Member,
    NotificationDelivery,
    NotifierCursor,
    Order,
    OrderLine,
    OrderStatus,
    OutboxEvent,
    SettingDoc,
    Statement,
    TeamLevelChange,
    Wallet,
    Withdrawal,
)
from rebate.distribution_settings import DividendPeriod
from rebate.settings import OrderSource
from rebate.union_pool_settings import PoolSettings
from runtime.config import DatabaseSettings, Settings
from server.cli import main
from services.catalog.products import new_product
from services.clock import LOCAL_TZ, utcnow
from services.distribution.dividends import previous_period
from services.distribution.referral import bind_referrer
from services.jobs import JOBS
from services.members.accounts import new_member
from services.merchants.settlement import close_statements
from services.orders.lifecycle import Item, create_order, mark_paid
from services.pool.contributions import PoolLine, contribute
from services.pool.settings import load_pool, store_pool
from services.queues.clearing import ClearingSchedule, save_schedule
from services.settings.cache import POOL, changing
from services.wallets.adjustments import adjust_balance
from tests.api.conftest import Api, bearer
from tests.api.test_api_double_payments import paid_twice
from tests.api.test_api_member_entries import recent_clock
from tests.api.test_api_member_wallet import with_cash
from tests.api.test_api_notify import unpaid_order
from tests.conftest import create_pg_database, drop_pg_database, pg_url
from tests.distribution.support import (
    LEVELS,
    approved_store,
    base_rules,
    buy,
    chain,
    configure,
    pay_cashier,
    with_level,
)
from tests.member.support import setup, waiting_entry
from tests.services.helpers import Clock
from web.keys import SCHEDULER, SETTINGS
from wechat_fake.transfer import TRANSFER_KEY, FakeTransferState

EDGES = ("scheduler", "cli", "admin_api")
Check = Callable[[dict[str, Any]], Awaitable[None]]


# --- the database: migrated once, emptied before each test ----------------------------------


@pytest.fixture(scope="session")
def migrated_pg() -> Iterator[str]:
    name = asyncio.run(create_pg_database())
    assert main(["migrate", "--db", pg_url(name)]) == 0
    yield pg_url(name)
    asyncio.run(drop_pg_database(name))


async def empty_but_migrated(url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'tortoise_migrations'"
        )
        names = ", ".join(f'"{row["tablename"]}"' for row in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def start(make_api: Callable[..., Any], migrated_pg: str) -> Callable[..., Awaitable[Api]]:
    async def started(edge: str) -> Api:
        await empty_but_migrated(migrated_pg)
        database = DatabaseSettings(url=migrated_pg)
        api: Api = await make_api(
            "postgres",
            edit_settings=lambda s: dataclasses.replace(s, database=database),
            run_scheduler=edge == "scheduler",
        )
        return api

    return started


# --- the edges ------------------------------------------------------------------------------


async def by_scheduler(api: Api, name: str, tmp_path: Path) -> None:
    """What the app's own scheduler runs: the tick of the jobs, or the clearing trigger once
    the schedule in the database has been picked up."""
    scheduler = api.app[SCHEDULER]
    assert scheduler is not None
    if name == "clearing":
        refresh = scheduler.get_job("refresh-schedules")
        await refresh.func(*refresh.args)
        job = scheduler.get_job("clearing")
    else:
        job = scheduler.get_job("due-jobs")
    await job.func(*job.args)


def write_config(path: Path, settings: Settings) -> Path:
    lines = []
    for section in ("database", "wechat", "wechat_pay"):
        lines.append(f"[{section}]")
        values = dataclasses.asdict(getattr(settings, section))
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def by_cli(api: Api, name: str, tmp_path: Path) -> None:
    settings = api.app[SETTINGS]
    config = write_config(tmp_path / "config.toml", settings)
    argv = ["jobs", "run", name, "--config", str(config), "--db", settings.database.url]
    assert await asyncio.to_thread(main, argv) == 0  # its own event loop, as in a shell


async def by_admin_api(api: Api, name: str, tmp_path: Path) -> None:
    response = await api.client.post(
        f"/api/admin/jobs/{name}/run", headers=bearer(api.admin_token())
    )
    assert response.status == 200, await response.text()
    job = (await response.json())["job"]
    assert job["status"] == "succeeded", job


RUN_BY = {"scheduler": by_scheduler, "cli": by_cli, "admin_api": by_admin_api}


# --- one scenario per job: set it up, then check what the run changed ------------------------


def bills(fake_wechat: TestServer) -> FakeTransferState:
    return fake_wechat.app[TRANSFER_KEY]


async def clearing(api: Api, fake_wechat: TestServer) -> Check:
    await setup()
    _, entry, _ = await waiting_entry("oWaiting", clock=recent_clock())
    at = (utcnow() - timedelta(minutes=1)).astimezone(LOCAL_TZ)  # the scheduled slot just passed
    await save_schedule(
        ClearingSchedule(enabled=True, at=at.time().replace(second=0, microsecond=0))
    )

    async def check(changes: dict[str, Any]) -> None:
        del changes["slot"]  # the scheduled time, or the operator's now
        assert changes == {"entries": 1, "forfeited_fen": 10_000, "queues": {"mall": 1}}
        assert (await Entry.get(id=entry.id)).status == EntryStatus.CLEARED

    return check


async def reconciliation(api: Api, fake_wechat: TestServer) -> Check:
    order = await unpaid_order(api)
    api.wx.mark_paid(order.out_trade_no)  # paid at WeChat; the notification never arrives
    await Order.filter(id=order.id).update(created_at=utcnow() - timedelta(minutes=11))

    async def check(changes: dict[str, Any]) -> None:
        assert changes["recovered"] == [order.out_trade_no], changes
        assert (await Order.get(id=order.id)).status == OrderStatus.PAID
        assert await Entry.filter(order_id=order.id).count() == 1

    return check


async def auto_complete(api: Api, fake_wechat: TestServer) -> Check:
    await base_rules()
    buyer = await new_member("oBuyer")
    product = await new_product("好物", 10_000)
    order = await create_order(buyer.id, OrderSource.MALL, items=[Item(product.id)])
    await mark_paid(order.id, paid_fen=order.paid_fen, now=utcnow() - timedelta(days=7, hours=1))

    async def check(changes: dict[str, Any]) -> None:
        assert changes == {"completed": 1, "order_ids": [order.id]}
        assert (await Order.get(id=order.id)).status == OrderStatus.COMPLETED

    return check


async def commission_release(api: Api, fake_wechat: TestServer) -> Check:
    await base_rules()
    await configure(direct_bp=1000, freeze_days=7)
    promoter, buyer = await chain(2)
    order = await buy(buyer, 10_000, Clock(utcnow() - timedelta(days=8)))

    async def check(changes: dict[str, Any]) -> None:
        assert changes["released"] == 1, changes
        assert (await Commission.get(order_id=order.id)).status == "released"
        assert (await Wallet.get(member_id=promoter)).cash_fen == 1000

    return check


async def store_paid_by_a_buyer() -> int:
    await base_rules()
    await configure(statement_days=0)
    store_id = await approved_store((await new_member("oOwner")).id, commission_bp=3000)
    # paid over a day ago: due at the latest 02:00 slot, the one the scheduler's run is for
    paid = Clock(utcnow() - timedelta(days=1, hours=1))
    await pay_cashier((await new_member("oShopper")).id, store_id, 10_000, paid)
    return store_id


async def merchant_statements(api: Api, fake_wechat: TestServer) -> Check:
    store_id = await store_paid_by_a_buyer()

    async def check(changes: dict[str, Any]) -> None:
        assert (changes["statements"], changes["total_fen"]) == (1, 7000), changes
        assert (await Statement.get(store_id=store_id)).total_fen == 7000

    return check


async def merchant_payouts(api: Api, fake_wechat: TestServer) -> Check:
    store_id = await store_paid_by_a_buyer()
    assert (await close_statements(utcnow())).statements == 1

    async def check(changes: dict[str, Any]) -> None:
        assert changes == {"paid": 1}
        statement = await Statement.get(store_id=store_id)
        assert statement.status == "paid"
        [bill] = bills(fake_wechat).created()
        assert (bill.out_bill_no, bill.amount, bill.openid) == (
            f"MS{statement.id}N1",
            7000,
            "oOwner",
        )
        assert (bill.scene_id, bill.report_infos, bill.remark) == (
            "1005",
            (("岗位类型", "门店商家"), ("报酬说明", "门店结算款")),
            "门店结算款",
        )

    return check


async def withdrawal_payouts(api: Api, fake_wechat: TestServer) -> Check:
    member_id, token = await with_cash(api)
    infos = [{"info_type": "活动名称", "info_content": "年终返现"}]
    await SettingDoc.create(name="withdrawal", config={"report_infos": infos})
    bills(fake_wechat).error_next = 1  # the approval's bill never reaches WeChat
    response = await api.client.post(
        "/api/wallet/withdrawals", json={"amount_fen": 2000}, headers=bearer(token)
    )
    withdrawal_id = (await response.json())["withdrawal"]["id"]
    response = await api.client.post(
        f"/api/admin/withdrawals/{withdrawal_id}/approve", headers=bearer(api.admin_token())
    )
    assert (await response.json())["withdrawal"]["status"] == "paying"

    async def check(changes: dict[str, Any]) -> None:
        assert changes == {"succeeded": 1}
        withdrawal = await Withdrawal.get(id=withdrawal_id)
        assert withdrawal.status == "succeeded"
        [bill] = bills(fake_wechat).created()
        openid = (await Member.get(id=member_id)).openid
        assert (bill.out_bill_no, bill.amount, bill.openid) == (
            withdrawal.out_bill_no,
            2000,
            openid,
        )
        assert (bill.scene_id, bill.report_infos, bill.remark) == (
            "1000",
            (("活动名称", "年终返现"),),
            "返现提现",
        )

    return check


async def dividends(api: Api, fake_wechat: TestServer) -> Check:
    await base_rules()
    await configure(levels=LEVELS, shareholder_level=3, dividend_pool_bp=100)
    holder = await new_member("oHolder")
    await with_level(holder.id, 3)
    period = previous_period(DividendPeriod.MONTH, utcnow())
    await buy((await new_member("oBuyer")).id, 50_000, Clock(period.start + timedelta(days=1)))

    async def check(changes: dict[str, Any]) -> None:
        assert (changes["period"], changes["distributed_fen"]) == (period.key, 500), changes
        assert (await DividendRun.get(period=period.key)).shareholders == 1
        assert (await Wallet.get(member_id=holder.id)).cash_fen == 500

    return check


async def team_levels(api: Api, fake_wechat: TestServer) -> Check:
    await configure(levels=LEVELS)  # 经理: two direct referrals
    leader = await new_member("oLeader")
    code = (await Member.get(id=leader.id)).referral_code
    for name in ("oA", "oB"):
        await bind_referrer((await new_member(name)).id, code)

    async def check(changes: dict[str, Any]) -> None:
        assert changes == {"evaluated": 1, "risen": 1}
        (change,) = await TeamLevelChange.filter(member_id=leader.id)
        assert (change.from_level, change.to_level, change.reason) == (0, 1, "auto")

    return check


async def double_payment_refunds(api: Api, fake_wechat: TestServer) -> Check:
    api.wx.refuse_refunds = "SYSTEM_ERROR"  # the refund asked after the notification fails
    _, _, second = await paid_twice(api, "v3")
    api.wx.refuse_refunds = ""

    async def check(changes: dict[str, Any]) -> None:
        double = await DoublePayment.get(transaction_id=second)
        assert changes == {"asked": 1, "refund_requested": [double.id]}
        assert (double.status, double.attempts) == ("refunding", 2)
        assert api.wx.refunds[double.out_refund_no].transaction_id == second

    return check


async def love_release(api: Api, fake_wechat: TestServer) -> Check:
    holder = await new_member("oLove")
    await adjust_balance(
        holder.id, balance="love_frozen", amount=100, reason="冻结爱心值", operator="ops",
        request_id="love-frozen-1", now=utcnow() - timedelta(days=8),
    )  # fmt: skip

    async def check(changes: dict[str, Any]) -> None:
        assert changes == {"released": 1, "amount": 100}
        wallet = await Wallet.get(member_id=holder.id)
        assert (wallet.love_frozen, wallet.love_available) == (0, 100)

    return check


async def outbox_retention(api: Api, fake_wechat: TestServer) -> Check:
    """Two events the notifier has read, one delivered 40 days ago (deleted with its delivery),
    one delivered yesterday (kept); one event it has not read (kept)."""
    old, recent, unread = [
        await OutboxEvent.create(
            kind="entry_joined", member_id=None, payload={}, created_at=utcnow() - age
        )
        for age in (timedelta(days=40), timedelta(days=1), timedelta(days=40))
    ]
    await NotifierCursor.create(consumer="notifier", last_event_id=recent.id, updated_at=utcnow())
    await NotificationDelivery.create(
        event_id=old.id, channel="wecom", kind="entry_joined", content={}, status="sent",
        next_attempt_at=utcnow(), created_at=utcnow(),
    )  # fmt: skip

    async def check(changes: dict[str, Any]) -> None:
        assert changes == {"events": 1, "deliveries": 1, "attempts": 0}
        left = await OutboxEvent.all().order_by("id").values_list("id", flat=True)
        assert left == [recent.id, unread.id]

    return check


async def union_pool_close(api: Api, fake_wechat: TestServer) -> Check:
    """The mall's orders join the pool: one line pays its quota of 110, the next (330) does not
    fit the 200 its own profit put in, and 90 carries over."""
    async with changing(POOL) as conn:
        await store_pool(conn, PoolSettings(sources=(OrderSource.MALL,), pool_bp=10_000))
    first = None
    for openid, price, cost in (("oPoolA", 100, 100), ("oPoolB", 300, 100)):
        member = await new_member(openid)
        order = await create_order(
            member.id, OrderSource.MALL, items=[Item((await new_product(openid, price)).id, 1)]
        )
        line = await OrderLine.get(order_id=order.id)
        async with in_transaction() as conn:
            pooled = PoolLine(line.id, order.id, member.id, OrderSource.MALL, price, cost)
            entry = await contribute(conn, pooled, await load_pool(), utcnow())
        first = first or entry

    async def check(changes: dict[str, Any]) -> None:
        assert {k: v for k, v in changes.items() if k != "day"} == {
            "closed": True, "paid_fen": 110, "paid_count": 1, "closing_fen": 90,
        }  # fmt: skip
        assert first is not None and (await Wallet.get(member_id=first.member_id)).cash_fen == 110

    return check


SCENARIOS: dict[str, Callable[[Api, TestServer], Awaitable[Check]]] = {
    "clearing": clearing,
    "reconciliation": reconciliation,
    "auto_complete": auto_complete,
    "commission-release": commission_release,
    "merchant-statements": merchant_statements,
    "merchant-payouts": merchant_payouts,
    "withdrawal-payouts": withdrawal_payouts,
    "double-payment-refunds": double_payment_refunds,
    "dividends": dividends,
    "team-levels": team_levels,
    "love-release": love_release,
    "outbox-retention": outbox_retention,
    "union-pool-close": union_pool_close,
}


def test_every_job_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(JOBS)


@pytest.mark.parametrize("edge", EDGES)
@pytest.mark.parametrize("name", sorted(JOBS))
async def test_each_job_runs_the_same_through_each_edge(
    start: Callable[..., Awaitable[Api]],
    fake_wechat: TestServer,
    tmp_path: Path,
    name: str,
    edge: str,
) -> None:
    api = await start(edge)
    check = await SCENARIOS[name](api, fake_wechat)
    await RUN_BY[edge](api, name, tmp_path)
    [run] = await JobRun.filter(name=name)
    assert (run.status, run.error, run.trigger) == (
        "succeeded",
        "",
        "schedule" if edge == "scheduler" else "operator",
    )
    await check(dict(run.changes))
