"""The live demo's last chapter: one day of 工会排队 (the union pool), through the HTTP edges a
real operator and members use.

The demo operator logs in to the operators' API (session cookie and CSRF token, as the console
does), switches the pool on for all three order sources with 动态加速, and records the tea's
成本价 (without it a mall line has no profit to give). Three orders settle into the pool — a
cashier payment, a mall order by a new member who arrived through the first buyer's referral
code (so the first buyer's waiting entry is accelerated at once), a store product order — paid
by WeChat Pay's signed notifications like every order of the story. Then the operator runs the
daily close (``POST /api/admin/jobs/union-pool-close/run``, no ``slot``: the close of
``day_of(now)``), and the story prints who left the queue, who still waits (with the member's
own projected wait) and the day's statement.
"""

from __future__ import annotations

from typing import Any, Protocol

import aiohttp

from demo.engine import pad, yuan
from demo.parts import DemoFailed, Shopper, StoryReport
from models import ProductKind
from services.catalog.products import new_product

SOURCE = {"mall": "商城", "store": "门店", "cashier": "收银台"}
STATUS = {"waiting": "排队中", "paid": "已分红", "refunded": "已退款", "over_ceiling": "排队已满"}
ACCEL_BP = 2000  # 动态加速: a fifth of a direct referral's contribution
SETTINGS = {"sources": ["mall", "store", "cashier"], "accel_bp": ACCEL_BP}
TEA_COST_FEN = 4800


def percent(bp: int) -> str:
    return f"{bp / 100:g}%"


class Story(Protocol):
    """What the chapter uses of ``demo.story.Story`` (which imports this module)."""

    http: aiohttp.ClientSession
    api: str
    operator_password: str
    report: StoryReport

    def say(self, text: str = "") -> None: ...
    async def step(self, text: str) -> None: ...
    async def call(
        self,
        method: str,
        path: str,
        *,
        expect: int,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any: ...
    async def login(self, name: str, referral_code: str | None = None) -> Shopper: ...
    async def buy(self, shopper: Shopper, body: dict[str, Any], what: str) -> dict[str, Any]: ...


class PoolDay:
    def __init__(self, story: Story) -> None:
        self.story = story
        self.headers: dict[str, str] = {}  # the operator's session cookie and CSRF token

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        """An operator's request, signed in as the console is."""
        return await self.story.call(method, path, expect=200, body=body, headers=self.headers)

    async def sign_in(self) -> None:
        body = {"name": "demo", "password": self.story.operator_password}
        async with self.story.http.post(f"{self.story.api}/api/admin/session", json=body) as r:
            who = await r.json()
            if r.status != 200:
                raise DemoFailed(f"POST /api/admin/session: HTTP {r.status} {who}")
            cookie = "; ".join(f"{k}={m.value}" for k, m in r.cookies.items())
        self.headers = {"Cookie": cookie, "X-CSRF-Token": who["csrf_token"]}

    async def run(self, shoppers: list[Shopper], *, tea_id: int, store_id: int) -> list[Shopper]:
        """The chapter; the member who joined in it (for the wallets)."""
        s = self.story
        s.say("\n【场景五】工会排队的一天：利润的一部分进入工会返利池，每日结算按消费顺序全额分红")
        await self.switch_on(tea_id)
        beans = await new_product("手冲咖啡豆", 8800, kind=ProductKind.STORE, store_id=store_id)
        first, buyer = shoppers[0], shoppers[1]
        cashier = {"source": "cashier", "store_id": store_id, "amount_fen": 3000}
        await s.buy(first, cashier, "在「街角咖啡」收银台买单 ¥30.00 —— 进入工会排队")
        await self.show_mine(first)
        newcomer = await s.login("孙八", referral_code=first.referral_code)
        await s.step(f"\n孙八 扫 {first.name} 的推广码登录，成为 {first.name} 的直推会员")
        tea = {"source": "mall", "items": [{"product_id": tea_id, "quantity": 1}]}
        await s.buy(newcomer, tea, "购买「茶叶礼盒」¥168.00 —— 直推订单触发动态加速")
        await self.show_acceleration(first, newcomer)
        item = {"product_id": beans.id, "quantity": 1}
        store = {"source": "store", "store_id": store_id, "items": [item]}
        await s.buy(buyer, store, "在「街角咖啡」购买门店商品「手冲咖啡豆」¥88.00")
        await self.show_entries("\n工会排队明细（GET /api/admin/union-pool/entries，按排队顺序）：")
        await self.close()
        await self.show_entries("\n日结后的工会排队：")
        await self.show_waits([first, newcomer, buyer])
        await self.show_statement()
        return [newcomer]

    async def switch_on(self, tea_id: int) -> None:
        s = self.story
        await self.sign_in()
        data = await self.admin("PATCH", "/api/admin/union-pool/settings", SETTINGS)
        pool = data["settings"]
        await s.step(
            "▶ 运营登录运营后台，开启工会排队（PATCH /api/admin/union-pool/settings）：商城、门店、"
            f"收银台订单都进入返利池；返利池比例 {percent(pool['pool_bp'])}（利润扣除奖励后），"
            f"分红额度 {percent(pool['quota_bp'])}，动态加速 {percent(pool['accel_bp'])}，"
            f"每日 {pool['close_at']} 结算"
        )
        body = {"cost_price_fen": TEA_COST_FEN}
        product = (await self.admin("PATCH", f"/api/admin/products/{tea_id}", body))["product"]
        await s.step(
            f"▶ 运营为「{product['name']}」录入成本价 {yuan(TEA_COST_FEN)}"
            f"（PATCH /api/admin/products/{tea_id}）：商城订单的利润 = 售价 − 成本价"
        )

    async def entries(self) -> list[dict[str, Any]]:
        data = await self.admin("GET", "/api/admin/union-pool/entries?limit=50")
        return list(data["items"])

    async def show_mine(self, shopper: Shopper) -> None:
        data = await self.story.call("GET", "/api/me/union-pool", expect=200, token=shopper.token)
        for e in data["items"]:
            self.story.say(
                f"   {shopper.name} 的工会排队（GET /api/me/union-pool）：排队号 {e['id']}，"
                f"{SOURCE[e['source']]}订单，分红额度 {yuan(e['quota_fen'])}，"
                f"位次 {e['position']}，待分红 {yuan(e['owed_fen'])}"
            )

    async def show_acceleration(self, referrer: Shopper, buyer: Shopper) -> None:
        rows = await self.entries()
        gave = next(e for e in rows if e["member_id"] == buyer.member_id)
        sped = [e for e in rows if e["member_id"] == referrer.member_id]
        oldest = sped[0]
        await self.story.step(
            f"   动态加速：{buyer.name} 的订单贡献返利池 {yuan(gave['contribution_fen'])}，其中 "
            f"{percent(ACCEL_BP)}（{yuan(oldest['accelerated_in_fen'])}）立即支付给"
            f" {referrer.name} 最早的排队权益（排队号 {oldest['id']}）：已分红 "
            f"{yuan(oldest['paid_fen'])} / {yuan(oldest['quota_fen'])}"
        )

    async def show_entries(self, title: str) -> None:
        self.story.say(title)
        for e in await self.entries():
            place = f"位次 {e['position']}" if e["position"] is not None else ""
            self.story.say(
                f"   {e['id']:>3}  {pad(e['nickname'], 6)}{pad(SOURCE[e['source']], 7)}"
                f"贡献 {yuan(e['contribution_fen']):>8}  分红额度 {yuan(e['quota_fen']):>8}  "
                f"已分红 {yuan(e['paid_fen']):>8}（加速 {yuan(e['accelerated_in_fen'])}）  "
                f"{STATUS.get(e['status'], e['status'])} {place}".rstrip()
            )

    async def close(self) -> None:
        data = await self.admin("POST", "/api/admin/jobs/union-pool-close/run", {})
        job = data["job"]
        changes = job.get("changes") or {}
        if job["status"] != "succeeded" or not changes.get("closed"):
            raise DemoFailed(f"union-pool-close: {job}")
        await self.story.step(
            f"\n▶ 运营执行每日结算（POST /api/admin/jobs/union-pool-close/run；北京时间中午前"
            f"运行结算前一天）：结算 {changes['day']}，{changes['paid_count']} 人全额分红共 {yuan(changes['paid_fen'])}，"
            f"余额 {yuan(changes['closing_fen'])} 结转次日"
        )

    async def show_waits(self, shoppers: list[Shopper]) -> None:
        rows = await self.entries()
        self.story.report.pool_entries = rows
        left = [e["nickname"] for e in rows if e["status"] == "paid"]
        self.story.say(f"\n离开队列（已全额分红）：{'、'.join(left) or '无'}")
        for shopper in shoppers:
            data = await self.story.call(
                "GET", "/api/me/union-pool?status=waiting", expect=200, token=shopper.token
            )
            for e in data["items"]:
                days = e["projected_wait_days"]
                wait = f"预计约 {days} 次每日结算后全额分红" if days is not None else "暂无法预计"
                self.story.say(
                    f"   {shopper.name} 仍在排队：位次 {e['position']}，前面待分红 "
                    f"{yuan(e['ahead_fen'])}，自己待分红 {yuan(e['owed_fen'])}，{wait}"
                    f"（近 7 天日均流入 {yuan(data['inflow_per_day_fen'])}）"
                )

    async def show_statement(self) -> None:
        data = await self.admin("GET", "/api/admin/union-pool/days?limit=1")
        day = data["items"][0]
        self.story.report.pool_day = day
        given = day["contributed"]
        by_source = "，".join(f"{SOURCE[k]} {yuan(v)}" for k, v in sorted(given.items()))
        self.story.say(
            f"\n工会返利池日结单 {day['day']}（GET /api/admin/union-pool/days）：期初 "
            f"{yuan(day['opening_fen'])} + 贡献 {yuan(sum(given.values()))}（{by_source}）"
            f" − 动态加速 {yuan(day['accelerated_fen'])} − 退款收回 {yuan(day['taken_back_fen'])}"
            f" − 分红 {yuan(day['paid_fen'])}（{day['paid_count']} 笔）= 期末 "
            f"{yuan(day['closing_fen'])}；仍排队 {day['waiting_count']} 笔，"
            f"待分红 {yuan(day['waiting_owed_fen'])}"
        )
