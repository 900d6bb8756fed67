"""The live demo's script: members of a small mall shop through the real HTTP API.

Every order goes the way a phone and WeChat make it go: ``POST /api/login`` (code2session at the
fake WeChat) → ``POST /api/orders`` (a prepay at the fake WeChat Pay) → the member pays at WeChat
Pay, which sends its signed notification to our notify URL → ``POST /api/orders/{id}/confirm``
→ settlement. One payment's notification is lost on purpose and the reconciliation job finds it
by asking WeChat Pay; one line is refunded through WeChat Pay's refund notification. The last
chapter (``demo.pool_story``) is one day of 工会排队, the operator's part through the operators'
API.

The mall itself (settings, goods, a store) is set up with the same service calls an operator's
back office makes; members' nicknames are set directly, as the mini-program's profile step
would (the member API has no endpoint for it).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, TextIO

import aiohttp
from aiohttp import web

from demo.engine import SEED_EXAMPLE, pad, queue_lines, queue_view, yuan
from demo.parts import DemoFailed, Shopper, StoryReport
from demo.pool_story import PoolDay
from ledger.balances import balances_of
from models import Member
from services.catalog.products import new_product, new_store
from services.checks import check_conservation, totals
from services.clock import utcnow
from services.orders.reconciliation import ReconciliationPolicy, reconcile_unpaid
from services.settings.base import save_base
from web.keys import WECHAT
from wechat_fake.server import (
    deliver_payment,
    send_v2_refund_notification,
    send_v3_refund_notification,
)
from wechat_fake.state import FakeWeChatState


class Story:
    def __init__(
        self,
        out: TextIO,
        *,
        pause: float,
        http: aiohttp.ClientSession,
        api_url: str,
        app: web.Application,
        wechat: FakeWeChatState,
        lines: list[str],
        operator_password: str = "",
    ) -> None:
        self.out, self.pause, self.http, self.api = out, pause, http, api_url
        self.app, self.wx, self.lines = app, wechat, lines
        self.operator_password = operator_password
        self.report = StoryReport()

    # --- telling ------------------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)
        self.lines.append(text)  # the web page shows the same story

    async def step(self, text: str) -> None:
        self.say(text)
        if self.pause:
            await asyncio.sleep(self.pause)

    async def table(self, key: str) -> None:
        for line in queue_lines(await queue_view(key)):
            self.say(line)

    # --- the member's side, over HTTP ---------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        expect: int,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(
            method, f"{self.api}{path}", json=body, headers=headers
        ) as response:
            data = await response.json() if response.content_type == "application/json" else None
            if response.status != expect:
                raise DemoFailed(f"{method} {path}: HTTP {response.status} {data}")
            return data

    async def login(self, name: str, referral_code: str | None = None) -> Shopper:
        body = {"code": f"demo-{name}"}
        if referral_code:
            body["referral_code"] = referral_code  # from the referrer's shared QR code
        data = await self.call("POST", "/api/login", expect=200, body=body)
        member_id = int(data["member"]["id"])
        await Member.filter(id=member_id).update(nickname=name)
        return Shopper(name, data["token"], member_id, data["member"]["referral_code"])

    async def order(self, shopper: Shopper, body: dict[str, Any]) -> dict[str, Any]:
        """Create and prepay an order; the member pays at WeChat Pay."""
        data = await self.call("POST", "/api/orders", expect=201, token=shopper.token, body=body)
        order: dict[str, Any] = data["order"]
        self.report.orders.append(order["out_trade_no"])
        prepay = data["payment"]["package"].removeprefix("prepay_id=")
        self.say(f"   ① 下单 {order['out_trade_no']}，微信支付预支付 {prepay[:14]}…")
        return order

    async def pay(self, order: dict[str, Any]) -> None:
        """WeChat Pay notifies our server, signed, as it does after a member pays."""
        delivery = await deliver_payment(self.wx, order["out_trade_no"], session=self.http)
        self.report.notified[order["out_trade_no"]] = delivery.status
        if delivery.status not in (200, 204):
            raise DemoFailed(f"payment notification answered HTTP {delivery.status}")
        self.say(f"   ② 微信支付通知 → 本服务验签、解密、入账，应答 HTTP {delivery.status}")

    async def confirm(self, shopper: Shopper, order: dict[str, Any], mark: str = "③") -> None:
        await self.call(
            "POST", f"/api/orders/{order['id']}/confirm", expect=200, token=shopper.token
        )
        self.say(f"   {mark} 确认收货 → 完成后结算")

    async def buy(self, shopper: Shopper, body: dict[str, Any], what: str) -> dict[str, Any]:
        self.say(f"\n▶ {shopper.name} {what}")
        order = await self.order(shopper, body)
        await self.pay(order)
        await self.confirm(shopper, order)
        if self.pause:
            await asyncio.sleep(self.pause)
        return order

    # --- the scenes ---------------------------------------------------------------------------

    async def run(self) -> StoryReport:
        self.say("排队返利实时演示 —— 会员通过小程序接口下单，微信支付（本地假微信）回调通知，")
        self.say("确认收货后结算：后续订单按「提取比例」先到先得返还给排队中的权益。")
        await save_base(SEED_EXAMPLE)
        tea = await new_product("茶叶礼盒", 16800)
        store = await new_store(
            "街角咖啡",
            commission_bp=2000,
            cashier_rebate={"extract_bp": 1500, "ratios": {"default_bp": 5000}},
        )
        names = ["张三", "李四", "王五", "赵六", "钱七"]
        shoppers = [await self.login(name) for name in names]
        await self.step(f"\n{len(names)} 位会员用微信登录（code2session）：{'、'.join(names)}")

        self.say("\n【场景一】商城统一队列：奖励权益 130%，提取比例 65%")
        tea_body = {"source": "mall", "items": [{"product_id": tea.id, "quantity": 1}]}
        mall_orders = []
        for shopper in shoppers[:4]:
            mall_orders.append(await self.buy(shopper, tea_body, "购买「茶叶礼盒」¥168.00"))
            await self.table("mall")

        await self.lost_notification(shoppers[4], tea_body)
        await self.refund(shoppers[2], mall_orders[2])
        await self.buy(shoppers[0], tea_body, "再次购买「茶叶礼盒」¥168.00 —— 提取跳过已退款的权益")
        await self.table("mall")

        self.say("\n【场景四】门店收银台买单：提取比例 15%，奖励权益 50%")
        cashier = {"source": "cashier", "store_id": store.id, "amount_fen": 3000}
        for shopper in shoppers[:3]:
            await self.buy(shopper, cashier, "在「街角咖啡」收银台买单 ¥30.00")
            await self.table(f"cashier:{store.id}")
        shoppers += await PoolDay(self).run(shoppers, tea_id=tea.id, store_id=store.id)
        await self.summary(shoppers)
        return self.report

    async def lost_notification(self, shopper: Shopper, body: dict[str, Any]) -> None:
        self.say("\n【场景二】支付通知丢失：钱七 付款成功，但微信支付的通知没有送达")
        self.say(f"\n▶ {shopper.name} 购买「茶叶礼盒」¥168.00")
        order = await self.order(shopper, body)
        self.wx.mark_paid(order["out_trade_no"])  # paid at WeChat; the notification is lost
        self.say("   ② 会员已付款，通知丢失 —— 订单仍是「待支付」")
        pay = self.app[WECHAT].pay
        assert pay is not None
        policy = ReconciliationPolicy(query_after=timedelta(0))  # the demo does not wait 10 min
        found = await reconcile_unpaid(pay, now=utcnow(), policy=policy)
        self.report.reconciled.extend(found.recovered)
        await self.step(
            f"   ③ 对账任务查询微信支付订单 → 已支付，补记入账（找回 {len(found.recovered)} 笔）"
        )
        await self.confirm(shopper, order, "④")
        await self.table("mall")

    async def refund(self, shopper: Shopper, order: dict[str, Any]) -> None:
        self.say(
            f"\n【场景三】退款：{shopper.name} 申请退款 —— 排队中的权益离开队列（剩余作废），"
            "已返的留在钱包"
        )
        line = order["lines"][0]
        data = await self.call(
            "POST",
            f"/api/orders/{order['id']}/lines/{line['id']}/refund",
            expect=202,
            token=shopper.token,
            body={"reason": "演示退款"},
        )
        refund = data["refund"]
        self.say(f"   ① 退款申请 {refund['out_refund_no']} → 微信支付受理")
        fake = self.wx.refunds[refund["out_refund_no"]]
        ids = {
            "out_trade_no": order["out_trade_no"],
            "out_refund_no": fake.out_refund_no,
            "refund_id": fake.refund_id,
            "session": self.http,
        }
        pay = self.app[WECHAT].pay
        if pay is not None and pay.api_version == "v2":
            delivery = await send_v2_refund_notification(
                self.wx, fake.notify_url, total_fee=order["paid_fen"], refund_fee=fake.refund, **ids
            )
        else:
            delivery = await send_v3_refund_notification(
                self.wx, fake.notify_url, total=order["paid_fen"], refund=fake.refund, **ids
            )
        self.report.refunds[fake.out_refund_no] = delivery.status
        if delivery.status not in (200, 204):
            raise DemoFailed(f"refund notification answered HTTP {delivery.status}")
        await self.step(f"   ② 微信支付退款通知 → 退款生效，应答 HTTP {delivery.status}")
        await self.table("mall")

    async def summary(self, shoppers: list[Shopper]) -> None:
        self.say("\n【钱包】")
        for shopper in shoppers:
            wallet = await balances_of(shopper.member_id)
            self.say(
                f"   {pad(shopper.name, 6)}返现 {yuan(wallet.cash_fen):>9}   积分 {wallet.points:>6}"
            )
        self.report.problems = await check_conservation()
        t = await totals()
        notified = sum(1 for status in self.report.notified.values() if status in (200, 204))
        self.say(
            f"\n{len(self.report.orders)} 笔订单全部经由 HTTP 接口创建；{notified} 笔由微信支付通知入账，"
            f"{len(self.report.reconciled)} 笔由对账任务找回。"
        )
        self.say(
            f"对账（queue-rebate check）：{'通过' if not self.report.problems else '发现问题'} —— "
            f"{t['queues']} 个队列，{t['entries']} 个排队权益，累计提取 {yuan(t['extracted'])}，"
            f"已返现 {yuan(t['paid'])}，账本 {t['postings']} 笔"
        )
        for problem in self.report.problems:
            self.say(f"   ✗ {problem}")
