"""Merchants (SPEC §8), member side: a promoter's merchant-invite QR, the application the
merchant files after scanning it, and a merchant's view of its own stores.

- The invite QR is an unlimited mini-program code whose scene is ``m:<token>``
  (``services.merchants.onboarding.create_invite``); it opens the same page as the referral QR, which tells
  the two apart by the ``m:`` prefix. A member's invite is made once and reused, so the cached
  code stays valid.
- An application form is checked field by field; a bad one is a 400 naming the field, with
  the rule in Chinese.
- A merchant sees only the stores it owns: another store's id, or a statement of another
  store, is "not found" (404), as for orders.
- Every list is paged like all lists (``web.query``: ``?limit=`` and ``cursor``), its counts or
  its statement beside the page.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from models import CreditKind, Statement, StatementStatus
from rebate.errors import NotAllowed
from services.clock import LOCAL_TZ, local, utcnow
from services.errors import NotFound
from services.merchants.onboarding import (
    ApplicationForm,
    applications_of,
    apply_for_merchant,
    checked_form,
    invite_scene,
    my_stores,
    statement_json,
    statement_lines,
    store_orders,
    store_queue,
    store_statements,
    store_turnover,
    stores_of_member,
)
from web.auth import MEMBER_ID
from web.common import application_json, mini_program_code
from web.errors import ApiError
from web.query import PAGE_PARAMS, PAGING, json_reply, page_args, page_reply, paged
from web.registry import BODY, Registry, Reply, path_int
from web.schemas import (
    APPLICATION,
    FORM_FIELDS,
    ID,
    INT,
    INVITE_QR,
    QR_RESPONSES,
    STRING,
    TIME,
    Schema,
    obj,
)

routes = Registry()

MAX_TURNOVER_DAYS = 366
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- the invite QR --------------------------------------------------------------------------------


@routes.get(
    "/api/merchant-invites/qr",
    summary="我的商家邀请小程序码（scene 为 m:<邀请码>）",
    description="The promoter's merchant-invite code: a merchant who scans it and is approved "
    "earns the promoter 招商奖励 on the store's turnover. Same page as the referral QR.",
    tags=("merchants",),
    auth="member",
    responses=QR_RESPONSES,
)
async def merchant_invite_qr(request: web.Request) -> web.Response:
    scene = await invite_scene(now=utcnow(), inviter_id=request[MEMBER_ID])
    return await mini_program_code(request, scene, kind=INVITE_QR)


# --- applications ---------------------------------------------------------------------------------

_TEXT: Schema = {"type": "string", "maxLength": 200}
APPLICATION_BODY = obj(
    {
        "scene": {
            "type": "string",
            "minLength": 1,
            "maxLength": 32,
            "description": "扫码进入时的 scene（m:<邀请码>）",
        },
        "name": {**_TEXT, "description": "商家名称，2–64 字"},
        "contact": {**_TEXT, "description": "联系人，2–32 字"},
        "phone": {**_TEXT, "description": "11 位中国大陆手机号"},
        "licence_no": {**_TEXT, "description": "18 位统一社会信用代码"},
        "address": {**_TEXT, "description": "地址，5–128 字"},
        "category": {**_TEXT, "description": "经营类目，1–32 字"},
    },
    required=["scene", *FORM_FIELDS],
)


def form_of(body: dict[str, Any]) -> ApplicationForm:
    """The form, trimmed and checked; a bad field is the client's input error (400)."""
    try:
        return checked_form(ApplicationForm(**{name: body[name] for name in FORM_FIELDS}))
    except NotAllowed as exc:
        raise ApiError(400, "invalid_field", exc.message, field=exc.field) from None


@routes.post(
    "/api/merchant-applications",
    summary="商家入驻申请（扫商家邀请码后填写）",
    tags=("merchants",),
    auth="member",
    body=APPLICATION_BODY,
    body_example={
        "scene": "m:AB12CD34",
        "name": "阿明茶铺",
        "contact": "王明",
        "phone": "13800138000",
        "licence_no": "91310000MA1FL8XXXX",
        "address": "上海市浦东新区世纪大道 100 号",
        "category": "餐饮",
    },
    responses={
        201: Reply("申请已提交，等待运营审核", obj({"application": APPLICATION})),
        404: Reply("邀请码无效"),
        409: Reply("已有待审核的申请，或使用了自己的邀请码"),
    },
)
async def apply_merchant(request: web.Request) -> web.Response:
    body = request[BODY]
    application = await apply_for_merchant(
        request[MEMBER_ID], form_of(body), now=utcnow(), scene=body["scene"]
    )
    return json_reply({"application": application_json(application)}, status=201)


@routes.get(
    "/api/merchant-applications/mine",
    summary="我的商家入驻申请（最新在前）",
    description=PAGING,
    tags=("merchants",),
    auth="member",
    query_params=PAGE_PARAMS,
    responses={200: Reply("我的申请", paged(APPLICATION)), 400: Reply("分页参数无效")},
)
async def my_merchant_applications(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    mine = await applications_of(request[MEMBER_ID], cursor=cursor, limit=limit)
    return page_reply(mine.map(application_json))


# --- a merchant's own stores ----------------------------------------------------------------------

STORE_PARAMS = {"store_id": ID}
STATEMENT_PARAMS = {"store_id": ID, "id": ID}
STORE = obj({"id": INT, "name": STRING, "commission_bp": INT})
STORE_ORDER = obj(
    {
        "id": INT,
        "source": {"type": "string", "enum": ["store", "cashier"]},
        "status": STRING,
        "paid_fen": INT,
        "deduction_fen": INT,
        "paid_at": TIME,
        "completed_at": TIME,
    }
)
QUEUE_REPLY = paged(
    obj(
        {
            "id": INT,
            "queue": STRING,
            "seq": INT,
            "entitlement_fen": INT,
            "paid_fen": INT,
            "order_id": INT,
        }
    ),
    waiting={**INT, "description": "排队中的条目数（全部，不只本页）"},
    outstanding_fen={**INT, "description": "排队中的条目尚未返还的金额（全部，不只本页）"},
)
TURNOVER_REPLY = obj(
    {
        "store_id": INT,
        "date_from": {"type": "string", "format": "date"},
        "date_to": {"type": "string", "format": "date"},
        "orders": INT,
        "paid_fen": {**INT, "description": "未退款部分的实付金额"},
        "credited_fen": {**INT, "description": "已结算订单计入门店的金额（扣除佣金后）"},
    }
)
STATEMENT = obj(
    {
        "id": INT,
        "period": STRING,
        "total_fen": INT,
        "credit_count": INT,
        "status": {"type": "string", "enum": [s.value for s in StatementStatus]},
        "created_at": TIME,
        "paid_at": TIME,
    }
)
STATEMENT_LINE = obj(
    {
        "id": INT,
        "kind": {"type": "string", "enum": [k.value for k in CreditKind]},
        "order_id": INT,
        "line_id": {**INT, "nullable": True},
        "paid_fen": INT,
        "commission_bp": INT,
        "commission_fen": INT,
        "amount_fen": INT,
    }
)


async def own_store(request: web.Request) -> int:
    store_id = path_int(request, "store_id")
    if store_id not in await stores_of_member(request[MEMBER_ID]):
        raise NotFound("门店不存在", field="store_id")
    return store_id


DATE_PARAM: Schema = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}


def query_date(request: web.Request, name: str, default: date) -> date:
    raw = request.query.get(name, "")
    if raw == "":
        return default
    try:
        if not _DATE.match(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "invalid_field", f"{name} 必须是日期 YYYY-MM-DD", field=name) from None


def beijing_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


@routes.get(
    "/api/merchant/stores",
    summary="我的门店（我是店主的门店，最早开的在前）",
    description=PAGING,
    tags=("merchant",),
    auth="member",
    query_params=PAGE_PARAMS,
    responses={200: Reply("门店列表", paged(STORE)), 400: Reply("分页参数无效")},
)
async def merchant_stores(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    stores = await my_stores(request[MEMBER_ID], cursor=cursor, limit=limit)
    return page_reply(
        stores.map(lambda s: {"id": s.id, "name": s.name, "commission_bp": s.commission_bp})
    )


@routes.get(
    "/api/merchant/stores/{store_id}/orders",
    summary="门店订单（商品与买单，最新在前）",
    description=PAGING,
    tags=("merchant",),
    auth="member",
    path_params=STORE_PARAMS,
    query_params=PAGE_PARAMS,
    responses={200: Reply("订单", paged(STORE_ORDER)), 400: Reply("分页参数无效")},
)
async def merchant_orders(request: web.Request) -> web.Response:
    store_id = await own_store(request)
    cursor, limit = page_args(request)
    return page_reply(await store_orders(store_id, cursor=cursor, limit=limit))


@routes.get(
    "/api/merchant/stores/{store_id}/queue",
    summary="门店排队中的返利条目（最早在前）",
    description="The store's waiting entries, oldest first; `waiting` and `outstanding_fen` "
    "cover every waiting entry. " + PAGING,
    tags=("merchant",),
    auth="member",
    path_params=STORE_PARAMS,
    query_params=PAGE_PARAMS,
    responses={200: Reply("排队情况", QUEUE_REPLY), 400: Reply("分页参数无效")},
)
async def merchant_queue(request: web.Request) -> web.Response:
    store_id = await own_store(request)
    cursor, limit = page_args(request)
    totals, entries = await store_queue(store_id, cursor=cursor, limit=limit)
    return page_reply(entries, **totals)


@routes.get(
    "/api/merchant/stores/{store_id}/turnover",
    summary="门店营业额（按北京时间日期，含首尾两天）",
    description="`date_from` and `date_to` are Beijing dates, both included; default today; "
    f"at most {MAX_TURNOVER_DAYS} days. Orders count by the time they were paid.",
    tags=("merchant",),
    auth="member",
    path_params=STORE_PARAMS,
    query_params={
        "date_from": {**DATE_PARAM, "description": "起始日期（北京时间，含；默认今天）"},
        "date_to": {**DATE_PARAM, "description": "截止日期（北京时间，含；默认今天）"},
    },
    responses={200: Reply("营业额", TURNOVER_REPLY), 400: Reply("日期无效")},
)
async def merchant_turnover(request: web.Request) -> web.Response:
    store_id = await own_store(request)
    today = local(utcnow()).date()
    first = query_date(request, "date_from", today)
    last = query_date(request, "date_to", max(first, today))
    if not timedelta(0) <= last - first < timedelta(days=MAX_TURNOVER_DAYS):
        raise ApiError(
            400,
            "invalid_field",
            f"date_to 必须不早于 date_from，且跨度不超过 {MAX_TURNOVER_DAYS} 天",
            field="date_to",
        )
    totals = await store_turnover(
        store_id,
        since=beijing_midnight(first),
        until=beijing_midnight(last + timedelta(days=1)),
    )
    return json_reply(
        {"store_id": store_id, "date_from": first, "date_to": last, **totals},
    )


@routes.get(
    "/api/merchant/stores/{store_id}/statements",
    summary="门店结算单（最新在前）",
    description=PAGING,
    tags=("merchant",),
    auth="member",
    path_params=STORE_PARAMS,
    query_params=PAGE_PARAMS,
    responses={200: Reply("结算单", paged(STATEMENT)), 400: Reply("分页参数无效")},
)
async def merchant_statements(request: web.Request) -> web.Response:
    store_id = await own_store(request)
    cursor, limit = page_args(request)
    return page_reply(await store_statements(store_id, cursor=cursor, limit=limit))


@routes.get(
    "/api/merchant/stores/{store_id}/statements/{id}",
    summary="结算单明细（其包含的每笔订单入账，按入账顺序）",
    description="The statement beside its lines (its credits, in the order they were made). "
    + PAGING,
    tags=("merchant",),
    auth="member",
    path_params=STATEMENT_PARAMS,
    query_params=PAGE_PARAMS,
    responses={
        200: Reply(
            "结算单与明细：total_fen 等于全部各行 amount_fen 之和",
            paged(STATEMENT_LINE, statement=STATEMENT),
        ),
        400: Reply("分页参数无效"),
    },
)
async def merchant_statement(request: web.Request) -> web.Response:
    store_id = await own_store(request)
    statement_id = path_int(request, "id")
    cursor, limit = page_args(request)
    lines = await statement_lines(store_id, statement_id, cursor=cursor, limit=limit)
    statement = await Statement.get(id=statement_id)
    return page_reply(lines, statement=statement_json(statement))
