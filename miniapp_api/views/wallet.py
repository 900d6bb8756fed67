"""The member's wallet (balances, the postings that moved it, paged by id) and withdrawals of cash to WeChat
change: the member asks (the amount is held at once); operators review them
(``admin_api.withdrawals``)."""

from __future__ import annotations

from aiohttp import web

from services.clock import utcnow
from services.members.views import ASSETS, my_ledger, my_wallet
from services.wallets.withdrawals import (
    list_withdrawals,
    my_withdrawal,
    request_withdrawal,
    withdrawal_json,
)
from web.auth import MEMBER_ID
from web.query import PAGE_PARAMS, PAGING, page_args, page_reply, paged, query_choice
from web.registry import BODY, Registry, Reply, path_int
from web.schemas import (
    LEDGER_LINE,
    WALLET_REPLY,
    WITHDRAWAL,
    WITHDRAWAL_PARAMS,
    WITHDRAWAL_REPLY,
    obj,
)

routes = Registry()

LEDGER_REPLY = paged(LEDGER_LINE)
WITHDRAW_BODY = obj(
    {"amount_fen": {"type": "integer", "minimum": 1, "description": "提现金额（分）"}},
    required=["amount_fen"],
)


@routes.get(
    "/api/wallet",
    summary="我的钱包余额",
    tags=("wallet",),
    auth="member",
    responses={200: Reply("余额", WALLET_REPLY)},
)
async def wallet_balances(request: web.Request) -> web.Response:
    return web.json_response(await my_wallet(request[MEMBER_ID]))


@routes.get(
    "/api/wallet/ledger",
    summary="我的钱包流水（新的在前）",
    description="Every posting that moved one of my balances, newest first, the amount signed as "
    "I see it (+ in, − out). `asset` filters (cash, points, love_available, love_frozen). "
    + PAGING,
    tags=("wallet",),
    auth="member",
    query_params={
        **PAGE_PARAMS,
        "asset": {"type": "string", "enum": list(ASSETS), "description": "只看这一项余额"},
    },
    responses={200: Reply("流水", LEDGER_REPLY), 400: Reply("分页参数或 asset 无效")},
)
async def wallet_ledger(request: web.Request) -> web.Response:
    asset = query_choice(request, "asset", ASSETS)
    cursor, limit = page_args(request)
    page = await my_ledger(request[MEMBER_ID], asset=asset, cursor=cursor, limit=limit)
    return page_reply(page)


@routes.post(
    "/api/wallet/withdrawals",
    summary="申请提现到微信零钱",
    description="The amount leaves the cash balance at once (held) and waits for an operator. "
    "Refused: under the minimum, over the single or daily cap, over the balance, switched off.",
    tags=("wallet",),
    auth="member",
    body=WITHDRAW_BODY,
    body_example={"amount_fen": 5000},
    responses={
        201: Reply("提现申请已提交", WITHDRAWAL_REPLY),
        409: Reply("余额不足、超过每日上限或提现未开放"),
    },
)
async def withdraw_cash(request: web.Request) -> web.Response:
    created = await request_withdrawal(
        request[MEMBER_ID], request[BODY]["amount_fen"], now=utcnow()
    )
    return web.json_response({"withdrawal": withdrawal_json(created)}, status=201)


@routes.get(
    "/api/wallet/withdrawals",
    summary="我的提现记录（最新在前）",
    description=PAGING,
    tags=("wallet",),
    auth="member",
    query_params=PAGE_PARAMS,
    responses={200: Reply("提现记录", paged(WITHDRAWAL)), 400: Reply("分页参数无效")},
)
async def my_withdrawals(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    page = await list_withdrawals(
        member_id=request[MEMBER_ID], status=None, cursor=cursor, limit=limit
    )
    return page_reply(page.map(withdrawal_json))


@routes.get(
    "/api/wallet/withdrawals/{id}",
    summary="一笔提现的状态",
    tags=("wallet",),
    auth="member",
    path_params=WITHDRAWAL_PARAMS,
    responses={200: Reply("提现", WITHDRAWAL_REPLY)},
)
async def show_withdrawal(request: web.Request) -> web.Response:
    found = await my_withdrawal(request[MEMBER_ID], path_int(request, "id"))
    return web.json_response({"withdrawal": withdrawal_json(found)})
