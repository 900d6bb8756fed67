"""``GET /demo``: the live demo as a web page, reloading itself every 2 seconds.

Read-only, built from the same data as the terminal table (``demo.engine.queue_view``): the
story so far, every queue with its entries, 工会排队 (the union pool's entries in queue order and
its latest daily statement), the orders by status, and the notifications the fake WeChat Pay
delivered with our server's answers. Served by the demo process only (installed with
``create_app(..., extra_routes=routes.specs)``), never by ``queue-rebate serve``.
"""

from __future__ import annotations

from collections import Counter
from html import escape

from aiohttp import web

from demo.engine import STATUS, QueueView, progress, queue_view, yuan
from demo.pool_story import SOURCE
from demo.pool_story import STATUS as POOL_STATUS
from models import Order, Queue
from services.pool.admin import pool_days
from services.pool.entries import pool_entries
from web.registry import Registry, Reply
from wechat_fake.state import FakeWeChatState

STORY: web.AppKey[list[str]] = web.AppKey("demo_story")  # the lines the story printed so far
FAKE_WECHAT = web.AppKey("demo_fake_wechat", FakeWeChatState)

ORDER_STATUS = {
    "created": "待支付",
    "paid": "已支付",
    "completed": "已完成",
    "refunded": "已退款",
    "closed": "已关闭",
}
REFRESH_SECONDS = 2

routes = Registry()

STYLE = """
body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2em; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.bar { font-family: monospace; }
pre { background: #f6f6f6; padding: 1em; max-height: 24em; overflow: auto; }
"""


def queue_html(view: QueueView) -> str:
    q = view.queue
    rows = "".join(
        f"<tr><td class=n>{e.seq}</td><td>{escape(e.member.nickname)}</td>"
        f"<td class=n>{yuan(e.entitlement_fen)}</td><td class=n>{yuan(e.paid_fen)}</td>"
        f"<td class=bar>{escape(progress(e))}</td><td>{STATUS[e.status]}</td></tr>"
        for e in view.entries
    )
    return (
        f"<h3>队列 {escape(view.key)}（{escape(view.scope)}）</h3>"
        f"<p>排队中 {q.waiting_count} 人 · 累计提取 {yuan(q.extracted_fen)} · "
        f"已返现 {yuan(q.paid_fen)} · 暂停扣留 {yuan(q.withheld_fen)} · "
        f"无人可返 {yuan(q.unallocated_fen)}</p>"
        "<table><tr><th>位次</th><th>会员</th><th>待返权益</th><th>已返现</th><th>进度</th>"
        f"<th>状态</th></tr>{rows}</table>"
    )


async def pool_html() -> str:
    """工会排队: the entries in queue order and the latest daily statement ("" while empty)."""
    entries = (await pool_entries(status=None, member_id=None, cursor=None, limit=50)).items
    if not entries:
        return ""
    rows = "".join(
        f"<tr><td class=n>{e['id']}</td><td>{escape(e['nickname'])}</td>"
        f"<td>{SOURCE.get(e['source'], e['source'])}</td>"
        f"<td class=n>{yuan(e['contribution_fen'])}</td><td class=n>{yuan(e['quota_fen'])}</td>"
        f"<td class=n>{yuan(e['paid_fen'])}</td><td class=n>{yuan(e['accelerated_in_fen'])}</td>"
        f"<td>{POOL_STATUS.get(e['status'], e['status'])}</td>"
        f"<td class=n>{e['position'] or ''}</td></tr>"
        for e in entries
    )
    days = (await pool_days(cursor=None, limit=1)).items
    statement = ""
    if days:
        d = days[0]
        statement = (
            f"<p>日结单 {d['day']}：期初 {yuan(d['opening_fen'])} · 贡献 "
            f"{yuan(sum(d['contributed'].values()))} · 动态加速 {yuan(d['accelerated_fen'])} · "
            f"退款收回 {yuan(d['taken_back_fen'])} · 分红 {yuan(d['paid_fen'])}"
            f"（{d['paid_count']} 笔） · 期末 {yuan(d['closing_fen'])}</p>"
        )
    return (
        f"<h2>工会排队</h2>{statement}<table><tr><th>排队号</th><th>会员</th><th>来源</th>"
        "<th>贡献</th><th>分红额度</th><th>已分红</th><th>加速</th><th>状态</th><th>位次</th>"
        f"</tr>{rows}</table>"
    )


async def render_page(app: web.Application) -> str:
    views = [await queue_view(q.key) for q in await Queue.all().order_by("id")]
    statuses = Counter(str(o.status) for o in await Order.all())
    orders = " · ".join(f"{ORDER_STATUS.get(s, s)} {n}" for s, n in sorted(statuses.items()))
    deliveries = Counter(
        f"{d.kind} → HTTP {d.status}" for d in app[FAKE_WECHAT].deliveries if d.kind
    )
    delivered = "".join(f"<li>{escape(k)}: {n} 次</li>" for k, n in sorted(deliveries.items()))
    lines = app[STORY]
    story = escape("\n".join(lines))
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        f"<title>排队返利 · 实时演示</title><style>{STYLE}</style></head><body>"
        "<h1>排队返利 · 实时演示</h1>"
        f"<p>每 {REFRESH_SECONDS} 秒刷新。订单：{orders or '暂无'}</p>"
        f"<h2>队列</h2>{''.join(queue_html(v) for v in views) or '<p>暂无排队</p>'}"
        f"{await pool_html()}"
        f"<h2>微信支付通知（假微信发出，本服务应答）</h2><ul>{delivered or '<li>暂无</li>'}</ul>"
        f"<h2>过程</h2><pre>{story}</pre></body></html>"
    )


@routes.get(
    "/demo",
    summary="实时演示页面（仅演示进程提供）",
    tags=("demo",),
    responses={200: Reply("HTML，每 2 秒自动刷新", content_type="text/html")},
)
async def demo_page(request: web.Request) -> web.Response:
    return web.Response(text=await render_page(request.app), content_type="text/html")
