"""The catalogue as members see it (商品): listed products with their price and rebate terms,
open to anyone (a mall is browsed before logging in): with a member token, the terms are that
member's (their 会员等级's ratio), without one the base level's. Never a cost or supply price;
a delisted product reads as not found."""

from __future__ import annotations

from aiohttp import web

from models import Member
from services.catalog.products import KINDS
from services.catalog.views import BASE_LEVEL, listed_product, listed_products
from web.auth import TokenKind, authenticate, member_id_of
from web.keys import TOKENS
from web.query import PAGE_PARAMS, PAGING, optional_int, page_args, page_reply, paged, query_choice
from web.registry import Registry, Reply, path_int
from web.schemas import ID, INT, NULL_INT, STRING, obj

routes = Registry()

TERMS = obj(
    {
        "applies": {"type": "boolean", "description": "购买后是否参与排队返利"},
        "reward_bp": {**NULL_INT, "description": "奖励权益比例（万分比，按当前会员的等级）"},
        "ratio_source": {**STRING, "nullable": True, "description": "比例来自哪一项设置"},
        "entitlement_fen": {**NULL_INT, "description": "买一件的待返权益（分）"},
        "extract_bp": {**NULL_INT, "description": "提取比例（万分比）"},
        "lottery": {"type": "boolean", "description": "可抽奖改变奖励比例"},
        "estimate": {
            **obj(
                {
                    "ahead": {**INT, "description": "排在前面的待奖励权益数"},
                    "ahead_fen": {**INT, "description": "排在前面的权益还待返的金额（分）"},
                    "eta_seconds": {
                        **NULL_INT,
                        "description": "预计多久返完（秒）；null：无法估计",
                    },
                    "estimated_full_at": {**STRING, "nullable": True},
                    "daily_inflow_fen": {**INT, "description": "该队列最近7天日均提取金额（分）"},
                    "is_estimate": {"type": "boolean"},
                    "note": {**STRING, "description": "估计，不是承诺"},
                }
            ),
            "nullable": True,
            "description": "现在买一件、新入队的权益预计等待多久（估计；不参与返利时为 null）",
        },
    }
)
LEVEL_NOTE = (
    " With a member token (optional) the terms are at that member's level; without one, at "
    "the base level (0). An invalid token is a 401."
)


async def viewer_level(request: web.Request) -> int:
    """The level of the member whose token came with the request; the base level without one."""
    if "Authorization" not in request.headers:
        return BASE_LEVEL
    claims = authenticate(request, request.app[TOKENS], TokenKind.MEMBER)
    member = await Member.get_or_none(id=member_id_of(claims))
    return BASE_LEVEL if member is None else member.level


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
    "filter. Each with its rebate terms." + LEVEL_NOTE + " " + PAGING,
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
        level=await viewer_level(request),
    )
    return page_reply(page)


@routes.get(
    "/api/products/{id}",
    summary="商品详情（价格与排队返利条件）",
    description="A listed product with its rebate terms." + LEVEL_NOTE,
    tags=("catalog",),
    path_params={"id": ID},
    responses={200: Reply("商品", obj({"product": PRODUCT})), 404: Reply("商品不存在或已下架")},
)
async def product(request: web.Request) -> web.Response:
    found = await listed_product(path_int(request, "id"), level=await viewer_level(request))
    return web.json_response({"product": found})
