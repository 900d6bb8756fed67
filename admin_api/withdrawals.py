"""Operators' review of withdrawals (提现审核): the list, approve — paid by 商家转账 under the
withdrawal's one bill number — and reject with a reason (the held amount comes back)."""

from __future__ import annotations

import logging

from aiohttp import web

from services.clock import utcnow
from services.operators.roles import Permission
from services.wallets.withdrawals import (
    approve_withdrawal,
    list_withdrawals,
    reject_withdrawal,
    withdrawal_json,
)
from web.auth import OPERATOR
from web.errors import ApiError
from web.keys import WECHAT
from web.query import PAGE_PARAMS, PAGING, page_args, page_reply, paged, query_choice
from web.registry import BODY, Registry, Reply, path_int
from web.schemas import (
    WITHDRAWAL,
    WITHDRAWAL_PARAMS,
    WITHDRAWAL_REPLY,
    WITHDRAWAL_STATUS_PARAM,
    WITHDRAWAL_STATUSES,
    obj,
)
from wechat.transfer import Transfers

log = logging.getLogger(__name__)

routes = Registry()


REJECT_BODY = obj(
    {"reason": {"type": "string", "minLength": 1, "maxLength": 80, "description": "驳回原因"}},
    required=["reason"],
)


@routes.get(
    "/api/admin/withdrawals",
    summary="运营：提现申请列表",
    description="`status` filters (requested = 待审核); newest first. " + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    query_params={"status": WITHDRAWAL_STATUS_PARAM, **PAGE_PARAMS},
    responses={200: Reply("提现申请", paged(WITHDRAWAL)), 400: Reply("查询参数无效")},
)
async def admin_withdrawals(request: web.Request) -> web.Response:
    status = query_choice(request, "status", WITHDRAWAL_STATUSES)
    cursor, limit = page_args(request)
    page = await list_withdrawals(member_id=None, status=status, cursor=cursor, limit=limit)
    return page_reply(page.map(lambda w: withdrawal_json(w, for_operator=True)))


def transfers(request: web.Request) -> Transfers:
    """The server's one 商家转账 client (it needs the WeChat Pay APIv3 credentials); the
    withdrawal service names the withdrawal scene on each bill."""
    client = request.app[WECHAT].transfers
    if client is None:
        raise ApiError(503, "transfer_unavailable", "提现需要开通微信支付 APIv3 商家转账")
    return client


@routes.post(
    "/api/admin/withdrawals/{id}/approve",
    summary="运营：批准提现并转账（已在转账中的再查询同一单号）",
    description="Approves a requested withdrawal and pays it by 商家转账 with its own bill "
    "number. A timeout or error is followed by a query of the same number, never a new one; "
    "until WeChat answers the withdrawal stays `paying` and approving again asks again.",
    tags=("admin",),
    auth="admin",
    permission=Permission.MONEY,
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
        transfers=transfers(request),
        now=utcnow(),
    )
    return web.json_response({"withdrawal": withdrawal_json(done, for_operator=True)})


@routes.post(
    "/api/admin/withdrawals/{id}/reject",
    summary="运营：驳回提现（金额退回现金余额）",
    tags=("admin",),
    auth="admin",
    permission=Permission.MONEY,
    body=REJECT_BODY,
    body_example={"reason": "收款账户信息不符"},
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
