"""Operators' list of merchants' statements (商家结算单); they are paid by the
``merchant-payouts`` job (``POST /api/admin/jobs/merchant-payouts/run`` pays the due ones now)."""

from __future__ import annotations

from aiohttp import web

from services.merchants.statements import STATUSES, list_statements
from services.operators.roles import Permission
from web.query import PAGE_PARAMS, PAGING, optional_int, page_args, page_reply, paged, query_choice
from web.registry import Registry, Reply
from web.schemas import ID, INT, STRING, TIME, obj

routes = Registry()

ADMIN_STATEMENT = obj(
    {
        "id": INT,
        "store_id": INT,
        "store_name": STRING,
        "period": {**STRING, "description": "结算日（北京时间）"},
        "total_fen": {**INT, "description": "应付商家（分）"},
        "credit_count": INT,
        "status": {
            "type": "string",
            "enum": list(STATUSES),
            "description": "unpaid 待打款 · paying 打款中 · paid 已打款 · manual 需人工打款",
        },
        "note": STRING,
        "created_at": TIME,
        "paid_at": TIME,
    }
)


@routes.get(
    "/api/admin/statements",
    summary="运营：商家结算单列表",
    description="Every store's statements, newest first; `status` and `store_id` filter. " + PAGING,
    tags=("admin",),
    auth="admin",
    query_params={
        "status": {"type": "string", "enum": list(STATUSES)},
        "store_id": ID,
        **PAGE_PARAMS,
    },
    responses={200: Reply("结算单", paged(ADMIN_STATEMENT)), 400: Reply("查询参数无效")},
    permission=Permission.VIEW,
)
async def admin_statements(request: web.Request) -> web.Response:
    status = query_choice(request, "status", STATUSES)
    cursor, limit = page_args(request)
    page = await list_statements(
        status=status,
        store_id=optional_int(request, "store_id"),
        cursor=cursor,
        limit=limit,
    )
    return page_reply(page)
