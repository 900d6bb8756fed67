"""``queue-rebate demo``: a guided simulation on the embedded database that a person can watch.

It builds a small mall (products, a store with a cashier, members), drives real orders through
the same services the server uses — create, pay, complete, refund — and prints each queue's
progress after every step, in the words the mall's operators and members use.
"""

import asyncio
import random
import sys
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TextIO

from ledger.balances import balances_of
from models import Entry, Member, Queue
from rebate.settings import BaseSettings, OrderSource, RatioSettings, SettleOn
from services.catalog.products import new_product, new_store
from services.checks import check_conservation, totals
from services.members.accounts import new_member
from services.orders.lifecycle import Item, complete_order, create_order, mark_paid, refund_line
from services.settings.base import save_base

STATUS = {
    "waiting": "排队中",
    "completed": "已完成",
    "refunded": "已退款",
    "exchanged": "已兑换",
    "cleared": "已清零",
}
SCOPE = {
    "mall": "商城统一队列",
    "stores": "所有门店队列",
    "cashiers": "所有收银台队列",
    "product": "商品队列",
    "store": "门店队列",
    "cashier": "门店收银台队列",
}


# The seed's worked example: one mall queue, reward 130%, extraction 65%, settled on completion.
SEED_EXAMPLE = BaseSettings(
    settle_on=SettleOn.COMPLETED,
    mall_queue_unified=True,
    extract_bp=6500,
    ratios=RatioSettings(default_bp=13000),
)


def pad(text: str, width: int, *, right: bool = False) -> str:
    """Pad to a terminal width, counting a CJK character as two columns."""
    shown = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    fill = " " * max(0, width - shown)
    return fill + text if right else text + fill


def yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def bar(paid: int, total: int, width: int = 12) -> str:
    filled = paid * width // total if total else 0
    return "█" * filled + "·" * (width - filled)


class Demo:
    def __init__(self, out: TextIO, pause: float) -> None:
        self.out, self.pause = out, pause
        self.now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
        self.rng = random.Random(2026)  # a fixed seed: the demo tells the same story every time

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def tick(self) -> datetime:
        self.now += timedelta(minutes=7)
        return self.now

    async def step(self, text: str) -> None:
        self.say(text)
        if self.pause:
            await asyncio.sleep(self.pause)

    async def buy(self, member: Member, product_id: int, name: str, price: int) -> int:
        order = await create_order(member.id, OrderSource.MALL, items=[Item(product_id)])
        await mark_paid(order.id, paid_fen=order.paid_fen, now=self.tick(), rng=self.rng)
        await complete_order(order.id, now=self.tick(), rng=self.rng)
        await self.step(f"\n▶ {member.nickname} 购买「{name}」{yuan(price)}，支付并确认收货 → 结算")
        return order.id

    async def pay_cashier(self, member: Member, store_id: int, amount: int) -> int:
        order = await create_order(
            member.id, OrderSource.CASHIER, store_id=store_id, amount_fen=amount
        )
        await mark_paid(order.id, paid_fen=amount, now=self.tick(), rng=self.rng)
        await complete_order(order.id, now=self.tick(), rng=self.rng)
        await self.step(f"\n▶ {member.nickname} 在门店收银台买单 {yuan(amount)} → 结算")
        return order.id

    async def table(self, key: str) -> None:
        for line in queue_lines(await queue_view(key)):
            self.say(line)


@dataclass(frozen=True)
class QueueView:
    """One queue as the demos show it (terminal table and the live demo's web page)."""

    key: str
    scope: str
    queue: Queue
    entries: list[Entry]


async def queue_view(key: str) -> QueueView:
    queue = await Queue.get(key=key)
    entries = await Entry.filter(queue_id=queue.id).order_by("seq").prefetch_related("member")
    return QueueView(key, SCOPE.get(key.split(":")[0], key), queue, entries)


def progress(e: Entry) -> str:
    if e.points:
        return f"随机返：转为 {e.points} 积分"
    return f"{bar(e.paid_fen, e.entitlement_fen)} {e.paid_fen * 100 // e.entitlement_fen:>3}%"


def queue_lines(view: QueueView) -> list[str]:
    queue = view.queue
    lines = [
        f"  队列 {view.key}（{view.scope}）· 排队中 {queue.waiting_count} 人 · 累计提取 "
        f"{yuan(queue.extracted_fen)} · 已返现 {yuan(queue.paid_fen)} · "
        f"暂停扣留 {yuan(queue.withheld_fen)} · 无人可返 {yuan(queue.unallocated_fen)}",
        f"   位次  {pad('会员', 6)}{pad('待返权益', 10, right=True)}"
        f"{pad('已返现', 10, right=True)}   {pad('进度', 26)}状态",
    ]
    lines.extend(
        f"   {e.seq:>4}  {pad(e.member.nickname, 6)}{yuan(e.entitlement_fen):>10}"
        f"{yuan(e.paid_fen):>10}   {pad(progress(e), 26)}{STATUS[e.status]}"
        for e in view.entries
    )
    return lines


async def run_demo(out: TextIO = sys.stdout, *, pause: float = 0.4) -> None:
    """Tell the story. The database must be migrated and empty."""
    d = Demo(out, pause)
    d.say("排队返利演示 —— 每笔结算订单按「奖励权益比例」获得排队权益，后续订单按「提取比例」")
    d.say("先到先得返还给排队中的权益，直到返满为止。金额单位为分，舍入的零头归平台。")
    await save_base(SEED_EXAMPLE)
    d.say("\n【场景一】商城统一队列：奖励权益 130%，提取比例 65%（种子文档里的例子）")
    names = ["张三", "李四", "王五", "赵六", "钱七"]
    members = [await new_member(f"demo-{i}", nickname=n) for i, n in enumerate(names)]
    tea = await new_product("茶叶礼盒", 16800)
    for m in members[:4]:
        await d.buy(m, tea.id, "茶叶礼盒", 16800)
        await d.table("mall")
    d.say("\n  张三 的 168.00 获得 218.40 权益；之后每单提取 109.20，两单后返满。")

    d.say("\n【场景二】退款：李四 的订单在结算后退款 —— 已返的留在钱包，剩余权益作废并离开队列")
    li_order = (await Entry.get(member_id=members[1].id)).order_id
    from models import OrderLine

    line = await OrderLine.get(order_id=li_order)
    await refund_line(line.id, now=d.tick())
    await d.step("\n▶ 李四 退款")
    await d.buy(members[4], tea.id, "茶叶礼盒", 16800)
    await d.table("mall")

    d.say("\n【场景三】门店收银台 + 随机返：每组 3 人，1 人返现金、2 人直接转为积分")
    store = await new_store(
        "街角咖啡",
        commission_bp=2000,
        cashier_rebate={
            "extract_bp": 1500,
            "ratios": {"default_bp": 5000},
            "random_return": {"cash_places": 1, "points_places": 2},
        },
    )
    for m in members:
        await d.pay_cashier(m, store.id, 3000)
    await d.table(f"cashier:{store.id}")

    d.say("\n【钱包】")
    for m in members:
        w = await balances_of(m.id)
        d.say(f"   {pad(m.nickname, 6)}返现 {yuan(w.cash_fen):>9}   积分 {w.points:>6}")
    problems = await check_conservation()
    t = await totals()
    d.say(
        f"\n对账（queue-rebate check）：{'通过' if not problems else '发现问题'} —— "
        f"{t['queues']} 个队列，{t['entries']} 个排队权益，累计提取 {yuan(t['extracted'])}，"
        f"已返现 {yuan(t['paid'])}，账本 {t['postings']} 笔"
    )
    for p in problems:
        d.say(f"   ✗ {p}")
    if problems:
        raise SystemExit(1)


async def _main() -> None:  # pragma: no cover - manual use: python -m demo.engine
    from tortoise import Tortoise

    from runtime.db import tortoise_config

    ctx = await Tortoise.init(config=tortoise_config("sqlite://:memory:"))
    await Tortoise.generate_schemas()
    try:
        await run_demo()
    finally:
        await ctx.close_connections()


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(_main())
