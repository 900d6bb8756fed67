"""The catalogue as members see it (商品): listed products with their price and rebate terms,
open to anyone (a mall is browsed before logging in). Never a cost or supply price; a delisted
product reads as not found."""

from __future__ import annotations

from aiohttp import web

from services.catalog.products import KINDS
from services.catalog.views import listed_product, listed_products
from web.query import PAGE_PARAMS, PAGING, optional_int, page_args, page_reply, paged, query_choice
from web.registry import Registry, Reply, path_int
from web.schemas import ID, INT, NULL_INT, STRING, obj

routes = Registry()

TERMS = obj(
    {
        "applies": {"type": "boolean", "description": "购买后是否参与排队返利"},
        "reward_bp": {**NULL_INT, "description": "奖励权益比例（万分比，基础等级）"},
        "ratio_source": {**STRING, "nullable": True, "description": "比例来自哪一项设置"},
        "entitlement_fen": {**NULL_INT, "description": "买一件的待返权益（分）"},
        "extract_bp": {**NULL_INT, "description": "提取比例（万分比）"},
        "lottery": {"type": "boolean", "description": "可抽奖改变奖励比例"},
    }
)
PRODUCT = obj(
    {
        "id": INT,
        "kind": {"type": "string", "enum": list(KINDS)},
        "store_id": NULL_INT,
        "name": STRING,
        "price_fen": INT,
        "images": {"type": "array", "items": STRING},
        "stock": {**NULL_INT, "description": "库存；null：不限"},
        "rebate": TERMS,
    }
)


@routes.get(
    "/api/products",
    summary="商品列表（在售）",
    description="Listed products, newest first; `kind` (self, supplier, store) and `store_id` "
    "filter. Each with its rebate terms at the base member level. " + PAGING,
    tags=("catalog",),
    query_params={"kind": {"type": "string", "enum": list(KINDS)}, "store_id": ID, **PAGE_PARAMS},
    responses={200: Reply("在售商品", paged(PRODUCT)), 400: Reply("查询参数无效")},
)
async def products(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    page = await listed_products(
        kind=query_choice(request, "kind", KINDS),
        store_id=optional_int(request, "store_id"),
        cursor=cursor,
        limit=limit,
    )
    return page_reply(page)


@routes.get(
    "/api/products/{id}",
    summary="商品详情（价格与排队返利条件）",
    tags=("catalog",),
    path_params={"id": ID},
    responses={200: Reply("商品", obj({"product": PRODUCT})), 404: Reply("商品不存在或已下架")},
)
async def product(request: web.Request) -> web.Response:
    return web.json_response({"product": await listed_product(path_int(request, "id"))})
