"""The member's wallet (balances, ledger lines paged by id) and withdrawals of cash to WeChat
change: the member asks (the amount is held at once), an operator approves — paid by 商家转账
under one bill number — or rejects with a reason (the amount comes back)."""

from __future__ import annotations

import logging

from aiohttp import web

from miniapp_api.auth import MEMBER_ID, OPERATOR
from miniapp_api.errors import ApiError
from miniapp_api.keys import HTTP, OPTIONS, SETTINGS, WECHAT
from miniapp_api.registry import BODY, Registry, Reply, path_int
from miniapp_api.views.common import utcnow
from miniapp_api.views.entries import page_args, query_choice
from miniapp_api.views.schemas import ID, INT, STRING, TIME, obj
from miniapp_api.wechat_gateway import V3Pay
from models import WithdrawalStatus
from services.member_views import ASSETS, my_ledger, my_wallet
from services.withdrawals import (
    approve_withdrawal,
    list_withdrawals,
    my_withdrawal,
    reject_withdrawal,
    request_withdrawal,
    withdrawal_json,
    withdrawal_transfers,
)
from wechat.transfer import Transfers

log = logging.getLogger(__name__)

routes = Registry()

NULL_INT = {**INT, "nullable": True}
STATUSES = tuple(s.value for s in WithdrawalStatus)
WALLET_REPLY = obj(
    {
        "balances": obj(
            {"cash_fen": INT, "points": INT, "love_available": INT, "love_frozen": INT}
        ),
        "withdrawal_held_fen": {**INT, "description": "提现处理中的金额（已从现金余额扣出）"},
    }
)
LEDGER_REPLY = obj(
    {
        "lines": {
            "type": "array",
            "items": obj(
                {
                    "id": INT,
                    "asset": {"type": "string", "enum": list(ASSETS)},
                    "amount": {**INT, "description": "正数入账，负数出账"},
                    "kind": STRING,
                    "memo": STRING,
                    "order_id": NULL_INT,
                    "entry_id": NULL_INT,
                    "created_at": TIME,
                }
            ),
        },
        "next_cursor": NULL_INT,
    }
)
WITHDRAWAL = obj(
    {
        "id": INT,
        "amount_fen": INT,
        "status": {"type": "string", "enum": list(STATUSES)},
        "out_bill_no": STRING,
        "transfer_state": STRING,
        "package_info": {**STRING, "description": "待确认收款时传给 wx.requestMerchantTransfer"},
        "fail_reason": STRING,
        "reject_reason": STRING,
        "requested_at": TIME,
        "decided_at": TIME,
        "finished_at": TIME,
        "member_id": {**INT, "description": "仅运营可见"},
        "decided_by": {**STRING, "description": "仅运营可见"},
    }
)
WITHDRAWAL_REPLY = obj({"withdrawal": WITHDRAWAL})
WITHDRAWALS_REPLY = obj(
    {"withdrawals": {"type": "array", "items": WITHDRAWAL}, "next_cursor": NULL_INT}
)
WITHDRAW_BODY = obj(
    {"amount_fen": {"type": "integer", "minimum": 1, "description": "提现金额（分）"}},
    required=["amount_fen"],
)
REJECT_BODY = obj(
    {"reason": {"type": "string", "minLength": 1, "maxLength": 80, "description": "驳回原因"}},
    required=["reason"],
)
WITHDRAWAL_PARAMS = {"id": ID}


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
    summary="我的钱包流水（按 id 倒序分页）",
    description="`asset` filters (cash, points, love_available, love_frozen); `limit` ≤ 50; "
    "pass `next_cursor` back as `cursor` for the next page.",
    tags=("wallet",),
    auth="member",
    responses={200: Reply("流水", LEDGER_REPLY)},
)
async def wallet_ledger(request: web.Request) -> web.Response:
    asset = query_choice(request, "asset", ASSETS)
    cursor, limit = page_args(request)
    page = await my_ledger(request[MEMBER_ID], asset=asset, cursor=cursor, limit=limit)
    return web.json_response({"lines": page.lines, "next_cursor": page.next_cursor})


@routes.post(
    "/api/wallet/withdrawals",
    summary="申请提现到微信零钱",
    description="The amount leaves the cash balance at once (held) and waits for an operator. "
    "Refused: under the minimum, over the single or daily cap, over the balance, switched off.",
    tags=("wallet",),
    auth="member",
    body=WITHDRAW_BODY,
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
    summary="我的提现记录",
    tags=("wallet",),
    auth="member",
    responses={200: Reply("提现记录", WITHDRAWALS_REPLY)},
)
async def my_withdrawals(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    rows, more = await list_withdrawals(
        member_id=request[MEMBER_ID], status=None, cursor=cursor, limit=limit
    )
    return web.json_response(
        {"withdrawals": [withdrawal_json(w) for w in rows], "next_cursor": more}
    )


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


# --- operators ----------------------------------------------------------------------------------


@routes.get(
    "/api/admin/withdrawals",
    summary="运营：提现申请列表",
    description="`status` filters (requested = 待审核); newest first, paged by `cursor`.",
    tags=("admin",),
    auth="admin",
    responses={200: Reply("提现申请", WITHDRAWALS_REPLY)},
)
async def admin_withdrawals(request: web.Request) -> web.Response:
    status = query_choice(request, "status", STATUSES)
    cursor, limit = page_args(request)
    rows, more = await list_withdrawals(member_id=None, status=status, cursor=cursor, limit=limit)
    return web.json_response(
        {"withdrawals": [withdrawal_json(w, for_operator=True) for w in rows], "next_cursor": more}
    )


async def transfers(request: web.Request) -> Transfers:
    """商家转账 needs WeChat Pay APIv3 (the merchant key and the platform keys)."""
    pay = request.app[WECHAT].pay
    if not isinstance(pay, V3Pay):
        raise ApiError(503, "transfer_unavailable", "提现需要开通微信支付 APIv3 商家转账")
    return await withdrawal_transfers(
        request.app[HTTP],
        pay.merchant,
        pay.platform_keys,
        pay_api_base_url=request.app[SETTINGS].wechat_pay.api_base_url,
        timeout=request.app[OPTIONS].wechat_timeout,
    )


@routes.post(
    "/api/admin/withdrawals/{id}/approve",
    summary="运营：批准提现并转账（已在转账中的再查询同一单号）",
    description="Approves a requested withdrawal and pays it by 商家转账 with its own bill "
    "number. A timeout or error is followed by a query of the same number, never a new one; "
    "until WeChat answers the withdrawal stays `paying` and approving again asks again.",
    tags=("admin",),
    auth="admin",
    path_params=WITHDRAWAL_PARAMS,
    responses={
        200: Reply("提现（succeeded / paying / failed）", WITHDRAWAL_REPLY),
        409: Reply("该提现已处理完毕"),
        503: Reply("未开通商家转账"),
    },
)
async def admin_approve_withdrawal(request: web.Request) -> web.Response:
    withdrawal_id = path_int(request, "id")
    log.info("operator %s approves withdrawal %s", request[OPERATOR], withdrawal_id)
    done = await approve_withdrawal(
        withdrawal_id,
        operator=request[OPERATOR],
        transfers=await transfers(request),
        now=utcnow(),
    )
    return web.json_response({"withdrawal": withdrawal_json(done, for_operator=True)})


@routes.post(
    "/api/admin/withdrawals/{id}/reject",
    summary="运营：驳回提现（金额退回现金余额）",
    tags=("admin",),
    auth="admin",
    body=REJECT_BODY,
    path_params=WITHDRAWAL_PARAMS,
    responses={200: Reply("已驳回", WITHDRAWAL_REPLY), 409: Reply("只有待审核的提现可以驳回")},
)
async def admin_reject_withdrawal(request: web.Request) -> web.Response:
    done = await reject_withdrawal(
        path_int(request, "id"),
        operator=request[OPERATOR],
        reason=request[BODY]["reason"],
        now=utcnow(),
    )
    return web.json_response({"withdrawal": withdrawal_json(done, for_operator=True)})
