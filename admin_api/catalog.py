"""Operators keep the catalogue (商品管理): suppliers (供应商), and products of the three kinds —
自营 ``self``, 供应商 ``supplier`` (naming its supplier), 门店商品 ``store`` (naming its store) —
created, edited, listed with filters, listed and delisted (上架 / 下架). Every change is in the
operation log with the operator's name (``services.catalog.admin``).

A refusal answers 400 (409 for an external code another product has) naming the field, and
saves nothing.
"""

from __future__ import annotations

from aiohttp import web

from admin_api.settings import ACKNOWLEDGE, BOOL, TARGET_DOC, enum, nullable
from services.catalog import admin
from services.catalog.products import (
    KINDS,
    MAX_CODE,
    MAX_IMAGE_URL,
    MAX_IMAGES,
    MAX_NAME,
    MAX_SHORT,
    MAX_SUPPLIER_NAME,
)
from services.clock import utcnow
from services.operators.roles import Permission
from web.auth import OPERATOR
from web.query import (
    PAGE_PARAMS,
    PAGING,
    optional_int,
    page_args,
    page_reply,
    paged,
    query_bool,
    query_choice,
    query_text,
)
from web.registry import BODY, Registry, Reply, path_int
from web.schemas import ID, INT, MAX_FEN, STRING, TIME, Schema, obj

routes = Registry()

NULL_ID = nullable(ID)
FEN: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_FEN}
NULL_FEN = nullable({"type": "integer", "minimum": 0, "maximum": MAX_FEN})

SUPPLIER_FIELDS: dict[str, Schema] = {
    "name": {"type": "string", "minLength": 1, "maxLength": MAX_SUPPLIER_NAME},
    "contact": {"type": "string", "maxLength": MAX_SHORT, "description": "联系人"},
    "phone": {"type": "string", "maxLength": MAX_SHORT, "description": "联系电话"},
}
SUPPLIER = obj({"id": INT, "name": STRING, "contact": STRING, "phone": STRING, "created_at": TIME})
SUPPLIER_REPLY = obj({"supplier": SUPPLIER})

EDITABLE: dict[str, Schema] = {
    "supplier_id": {**NULL_ID, "description": "供应商商品的供应商"},
    "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
    "price_fen": {**FEN, "description": "售价（分）"},
    "cost_price_fen": {**NULL_FEN, "description": "成本价（分）；会员不可见"},
    "supply_price_fen": {**NULL_FEN, "description": "供货价（分，仅供应商商品）；会员不可见"},
    "external_code": nullable(
        {"type": "string", "maxLength": MAX_CODE, "description": "商品编码（唯一）"}
    ),
    "images": nullable(
        {
            "type": "array",
            "maxItems": MAX_IMAGES,
            "items": {"type": "string", "maxLength": MAX_IMAGE_URL},
            "description": "图片地址（http/https）",
        }
    ),
    "stock": nullable({"type": "integer", "minimum": 0, "description": "库存；null：不限"}),
    "rebate_enabled": {**BOOL, "description": "开启排队返利（不传：按商品排队返利默认）"},
    "rebate": TARGET_DOC,
    "acknowledge": ACKNOWLEDGE,
}
PRODUCT_BODY = obj(
    {
        "kind": {**enum(*KINDS), "description": "self 自营、supplier 供应商、store 门店商品"},
        "store_id": {**NULL_ID, "description": "门店商品的门店"},
        **EDITABLE,
    },
    required=["kind", "name", "price_fen"],
)
PRODUCT_EDIT_BODY = obj(EDITABLE)
PRODUCT = obj(
    {
        "id": INT,
        "kind": enum(*KINDS),
        "store_id": nullable(INT),
        "supplier_id": nullable(INT),
        "name": STRING,
        "price_fen": INT,
        "cost_price_fen": nullable(INT),
        "supply_price_fen": nullable(INT),
        "external_code": nullable(STRING),
        "images": {"type": "array", "items": STRING},
        "stock": nullable(INT),
        "listed": BOOL,
        "rebate_enabled": BOOL,
        "rebate": nullable({"type": "object"}),
        "created_at": TIME,
    }
)
PRODUCT_REPLY = obj({"product": PRODUCT})
PARAMS = {"id": ID}
REFUSED = {400: Reply("输入不合规（field 指明哪一项），未保存任何内容")}
NOT_FOUND = {404: Reply("不存在")}
CODE_TAKEN = {409: Reply("商品编码已被其他商品使用（field: external_code）")}


@routes.post(
    "/api/admin/suppliers",
    summary="运营：新增供应商",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    body=obj(SUPPLIER_FIELDS, required=["name"]),
    body_example={"name": "云南茶叶合作社", "contact": "李华", "phone": "13900139000"},
    responses={201: Reply("新的供应商", SUPPLIER_REPLY), **REFUSED},
)
async def create_supplier(request: web.Request) -> web.Response:
    supplier = await admin.create_supplier(request[BODY], operator=request[OPERATOR], now=utcnow())
    return web.json_response({"supplier": supplier}, status=201)


@routes.get(
    "/api/admin/suppliers",
    summary="运营：供应商列表",
    description="`name` filters (contains); newest first. " + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    query_params={"name": STRING, **PAGE_PARAMS},
    responses={200: Reply("供应商", paged(SUPPLIER)), 400: Reply("查询参数无效")},
)
async def admin_suppliers(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    name = query_text(request, "name", limit=MAX_SUPPLIER_NAME)
    return page_reply(await admin.suppliers(name=name, cursor=cursor, limit=limit))


@routes.route(
    "PATCH",
    "/api/admin/suppliers/{id}",
    summary="运营：修改供应商（只需给出要改的项）",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    body=obj(SUPPLIER_FIELDS),
    path_params=PARAMS,
    responses={200: Reply("修改后的供应商", SUPPLIER_REPLY), **REFUSED, **NOT_FOUND},
)
async def edit_supplier(request: web.Request) -> web.Response:
    supplier = await admin.edit_supplier(
        path_int(request, "id"), request[BODY], operator=request[OPERATOR], now=utcnow()
    )
    return web.json_response({"supplier": supplier})


@routes.post(
    "/api/admin/products",
    summary="运营：新增商品（自营、供应商、门店商品）",
    description="Supplier goods name an existing `supplier_id`, store goods an existing "
    "`store_id`, self-operated goods neither. `rebate_enabled` defaults to 商品排队返利 "
    "(`base.new_products_enabled`); `rebate` is the product's own settings document (as "
    "`PUT /api/admin/products/{id}/rebate`), a store product's extraction under the "
    "commission guardrail (`acknowledge`). Cost above price is allowed.",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    body=PRODUCT_BODY,
    body_example={
        "kind": "self",
        "name": "金骏眉 100g",
        "price_fen": 12800,
        "cost_price_fen": 6000,
        "stock": 200,
        "images": ["https://cdn.example.com/tea.png"],
    },
    responses={201: Reply("新的商品", PRODUCT_REPLY), **REFUSED, **CODE_TAKEN},
)
async def create_product(request: web.Request) -> web.Response:
    body = request[BODY]
    product = await admin.create_product(
        body,
        operator=request[OPERATOR],
        now=utcnow(),
        acknowledge=bool(body.get("acknowledge", False)),
    )
    return web.json_response({"product": product}, status=201)


@routes.get(
    "/api/admin/products",
    summary="运营：商品列表",
    description="Filters: `kind`, `store_id`, `supplier_id`, `listed`, `rebate_enabled` "
    "(true/false), `name` (contains); newest first. " + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    query_params={
        "kind": enum(*KINDS),
        "store_id": ID,
        "supplier_id": ID,
        "listed": BOOL,
        "rebate_enabled": BOOL,
        "name": STRING,
        **PAGE_PARAMS,
    },
    responses={200: Reply("商品", paged(PRODUCT)), 400: Reply("查询参数无效")},
)
async def admin_products(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    page = await admin.products(
        kind=query_choice(request, "kind", KINDS),
        store_id=optional_int(request, "store_id"),
        supplier_id=optional_int(request, "supplier_id"),
        listed=query_bool(request, "listed"),
        rebate_enabled=query_bool(request, "rebate_enabled"),
        name=query_text(request, "name", limit=MAX_NAME),
        cursor=cursor,
        limit=limit,
    )
    return page_reply(page)


@routes.get(
    "/api/admin/products/{id}",
    summary="运营：商品详情（含成本价、供货价）",
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    path_params=PARAMS,
    responses={200: Reply("商品", PRODUCT_REPLY), **NOT_FOUND},
)
async def admin_product(request: web.Request) -> web.Response:
    return web.json_response({"product": await admin.read_product(path_int(request, "id"))})


@routes.route(
    "PATCH",
    "/api/admin/products/{id}",
    summary="运营：修改商品（只需给出要改的项）",
    description="Kind and store are fixed once a product exists. Every change is one audit "
    "row with the old and new values of what changed.",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    body=PRODUCT_EDIT_BODY,
    path_params=PARAMS,
    responses={
        200: Reply("修改后的商品", PRODUCT_REPLY),
        **REFUSED,
        **NOT_FOUND,
        **CODE_TAKEN,
    },
)
async def edit_product(request: web.Request) -> web.Response:
    body = request[BODY]
    changes = {k: v for k, v in body.items() if k != "acknowledge"}
    product = await admin.edit_product(
        path_int(request, "id"),
        changes,
        operator=request[OPERATOR],
        now=utcnow(),
        acknowledge=bool(body.get("acknowledge", False)),
    )
    return web.json_response({"product": product})


def _listing_route(action: str, listed: bool, label: str) -> None:
    async def view(request: web.Request) -> web.Response:
        product = await admin.set_listed(
            path_int(request, "id"), listed, operator=request[OPERATOR], now=utcnow()
        )
        return web.json_response({"product": product})

    view.__name__ = f"{action}_product"
    routes.post(
        f"/api/admin/products/{{id}}/{action}",
        summary=f"运营：商品{label}",
        description="A delisted product cannot be bought and its own queue never pays again "
        "(SPEC §3); members no longer see it. Doing it twice is refused (400, field `listed`).",
        tags=("admin",),
        auth="admin",
        permission=Permission.OPERATIONS,
        path_params=PARAMS,
        responses={200: Reply(f"已{label}", PRODUCT_REPLY), **REFUSED, **NOT_FOUND},
    )(view)


_listing_route("delist", False, "下架")
_listing_route("list", True, "上架")
