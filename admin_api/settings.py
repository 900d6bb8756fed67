"""Operators (admin token): every SPEC setting, read and changed with validation and an audit
trail; products', stores' and cashiers' own rebate settings (store extraction under the
commission guardrail); 一键启用; the audit trail; queue economics; scheduled job runs (an
operator runs a job through ``POST /api/admin/jobs/{name}/run``, in ``admin_api.distribution``).

A refused change answers 400 naming the field (its path in the request body) and saves
nothing. The request schemas below check shapes and types; ``services.settings.changes`` checks
the rules (ranges, lottery lists, group sizes, the guardrail).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models import JobRun
from services import audit
from services.clock import utcnow
from services.jobs import JOBS, recent_runs
from services.operators.roles import Permission
from services.queues.economics import ESTIMATE_NOTE, QueueEconomics, queue_economics
from services.settings.changes import (
    SECTIONS,
    UNCHANGED,
    change_settings,
    change_target,
    enable_all_products,
    read_settings,
    read_target,
)
from web.auth import OPERATOR
from web.query import (
    PAGE_PARAMS,
    PAGING,
    TIME_RANGE_PARAMS,
    optional_int,
    page_args,
    page_reply,
    paged,
    query_choice,
    query_range,
)
from web.registry import BODY, Registry, Reply, path_int
from web.schemas import BOOL, ID, INT, NULL_INT, STRING, TIME, Schema, obj

routes = Registry()

ANY_OBJECT: Schema = {"type": "object"}


def nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


LOTTERY_DOC = nullable(
    obj(
        {
            "mode": enum("fixed", "range"),
            "ratios_bp": {"type": "array", "items": INT, "maxItems": 50},
            "low_bp": INT,
            "high_bp": INT,
        },
        required=["mode"],
    )
)
RATIOS_DOC = obj(
    {
        "level_bp": {
            "type": "object",
            "additionalProperties": INT,
            "description": "会员等级奖励权益：等级 → 比例（万分比）",
        },
        "tiers": {
            "type": "array",
            "maxItems": 20,
            "description": "累计金额奖励",
            "items": obj(
                {"days": INT, "min_amount_fen": INT, "ratio_bp": INT},
                required=["days", "min_amount_fen", "ratio_bp"],
            ),
        },
        "lottery": LOTTERY_DOC,
        "default_bp": NULL_INT,
    }
)
RANDOM_RETURN_DOC = nullable(
    obj(
        {
            "group_size": {**INT, "description": "每组人数：须等于 cash_places + points_places"},
            "cash_places": INT,
            "points_places": INT,
        }
    )
)
BASE_DOC = obj(
    {
        "enabled": BOOL,
        "new_products_enabled": BOOL,
        "deduction": enum("participate", "exclude"),
        "settle_on": enum("paid", "completed"),
        "payout_order": enum("queue_order", "completed_first"),
        "mall_queue_unified": BOOL,
        "stores_queue_unified": BOOL,
        "cashiers_queue_unified": BOOL,
        "extract_bp": INT,
        "ratios": RATIOS_DOC,
        "paused": BOOL,
        "random_return": RANDOM_RETURN_DOC,
        "exchange_points_bp": INT,
        "exchange_love_bp": INT,
        "love_frozen": BOOL,
        "deduction_points_per_fen": {
            **INT,
            "description": "积分抵扣比例：多少积分抵 1 分（0：关闭）",
        },
        "deduction_love_per_fen": {
            **INT,
            "description": "爱心值抵扣比例：多少爱心值抵 1 分（0：关闭）",
        },
        "deduction_max_bp": {**INT, "description": "抵扣上限：可抵扣的价格比例（万分比）"},
        "deduction_min_cash_fen": {**INT, "description": "最低现金支付（分，至少 1）"},
    }
)
CLEARING_DOC = obj(
    {
        "enabled": BOOL,
        "kind": enum("daily", "weekly", "monthly", "once"),
        "at": {**STRING, "description": "HH:MM（北京时间）"},
        "weekday": INT,
        "day": INT,
        "once_at": nullable({**STRING, "description": "YYYY-MM-DDTHH:MM（北京时间）"}),
    }
)
DISPLAY_DOC = obj(
    {
        "queue_progress": {**BOOL, "description": "队列进程"},
        "accumulated_reward": {**BOOL, "description": "累计奖励"},
        "pending_reward": {**BOOL, "description": "待奖励"},
        "member_info": {**BOOL, "description": "会员信息"},
        "pending_amount": {**BOOL, "description": "待奖励金额"},
        "rebate_name": {**STRING, "description": "自定义名称"},
        "exchange_name": {**STRING, "description": "兑换自定义名称"},
    }
)
WITHDRAWAL_DOC = obj(
    {
        "enabled": BOOL,
        "min_fen": INT,
        "max_fen": INT,
        "daily_cap_fen": INT,
        "transfer_scene_id": STRING,
        "report_infos": {
            "type": "array",
            "items": obj(
                {"info_type": STRING, "info_content": STRING},
                required=["info_type", "info_content"],
            ),
        },
        "remark": STRING,
    }
)
POINTS_TRANSFER_DOC = obj(
    {
        "enabled": {**BOOL, "description": "开启积分转让（默认关闭）"},
        "min_points": {**INT, "description": "单笔最少转让积分"},
        "max_points": {**INT, "description": "单笔最多转让积分"},
        "daily_points": {**INT, "description": "每人每日（北京时间）最多转让积分"},
        "keep_points": {**INT, "description": "转让后至少保留的积分"},
        "fee_bp": {**INT, "description": "手续费（万分比，向下取整，由转出方另付）"},
    }
)
LOVE_DOC = obj(
    {
        "release_enabled": {**BOOL, "description": "冻结爱心值到期自动释放"},
        "release_days": {**INT, "description": "冻结天数（自入账起）"},
    }
)
ACKNOWLEDGE: Schema = {
    **BOOL,
    "description": "确认提取比例超过门店佣金（平台将支出多于收入）",
}
SETTINGS_BODY = obj(
    {
        "base": BASE_DOC,
        "clearing": CLEARING_DOC,
        "display": DISPLAY_DOC,
        "withdrawal": WITHDRAWAL_DOC,
        "points_transfer": POINTS_TRANSFER_DOC,
        "love": LOVE_DOC,
        "acknowledge": ACKNOWLEDGE,
    }
)
SETTINGS_REPLY = obj({name: ANY_OBJECT for name in SECTIONS})
TARGET_DOC = nullable(
    obj(
        {
            "extract_bp": NULL_INT,
            "ratios": RATIOS_DOC,
            "windows": {
                "type": "array",
                "maxItems": 10,
                "items": obj({"start": STRING, "end": STRING}, required=["start", "end"]),
            },
            "limits": obj({"per_day": NULL_INT, "total": NULL_INT}),
            "random_return": RANDOM_RETURN_DOC,
            "deduction_max_bp": {**NULL_INT, "description": "抵扣上限（万分比；null：沿用上级）"},
            "deduction_min_cash_fen": {
                **NULL_INT,
                "description": "最低现金支付（分；null：沿用上级）",
            },
        }
    )
)
TARGET_BODY = obj(
    {
        "enabled": {**BOOL, "description": "开启排队返利"},
        "settings": TARGET_DOC,
        "acknowledge": ACKNOWLEDGE,
    }
)
TARGET_REPLY = obj({"target": obj({"enabled": BOOL, "settings": nullable(ANY_OBJECT)})})
AUDIT_REPLY = paged(
    obj(
        {
            "id": INT,
            "operator": STRING,
            "section": STRING,
            "target": STRING,
            "old": nullable(ANY_OBJECT),
            "new": nullable(ANY_OBJECT),
            "created_at": TIME,
        }
    )
)
ECONOMICS_REPLY = paged(
    obj(
        {
            "queue_id": INT,
            "key": STRING,
            "waiting_entries": INT,
            "outstanding_fen": INT,
            "inflow_fen": obj({"1": INT, "7": INT, "30": INT}),
            "until_newest_full_seconds": NULL_INT,
        }
    ),
    note=STRING,
)
JOB_RUN = obj(
    {
        "id": INT,
        "name": STRING,
        "slot": STRING,
        "trigger": STRING,
        "status": STRING,
        "attempts": INT,
        "started_at": TIME,
        "finished_at": TIME,
        "changes": nullable(ANY_OBJECT),
        "error": STRING,
    }
)
RUNS_REPLY = paged(JOB_RUN)
REFUSED = {400: Reply("设置不合规（field 指明哪一项），未保存任何内容")}


@routes.get(
    "/api/admin/settings",
    summary="运营：全部设置（基础、清零、显示与名称、提现、积分转让、爱心值）",
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    responses={200: Reply("当前生效的设置", SETTINGS_REPLY)},
)
async def admin_settings(request: web.Request) -> web.Response:
    return web.json_response(await read_settings())


@routes.route(
    "PUT",
    "/api/admin/settings",
    summary="运营：修改设置（只需给出要改的项）",
    description="Each section replaces the keys given (`base.ratios` its own keys). All or "
    "nothing; every changed section is audited. Raising the base extraction ratio goes "
    "through the commission guardrail of each store that falls back to it (`acknowledge`).",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    body=SETTINGS_BODY,
    responses={200: Reply("修改后的全部设置", SETTINGS_REPLY), **REFUSED},
)
async def change_admin_settings(request: web.Request) -> web.Response:
    body = request[BODY]
    acknowledge = bool(body.get("acknowledge", False))
    changes = {name: doc for name, doc in body.items() if name != "acknowledge"}
    settings = await change_settings(
        changes, operator=request[OPERATOR], now=utcnow(), acknowledge=acknowledge
    )
    return web.json_response(settings)


def _target_routes(kind: str, plural: str, label: str) -> None:
    path = f"/api/admin/{plural}/{{id}}/rebate"
    params = {"id": ID}

    async def read(request: web.Request) -> web.Response:
        return web.json_response({"target": await read_target(kind, path_int(request, "id"))})

    async def change(request: web.Request) -> web.Response:
        body = request[BODY]
        target = await change_target(
            kind,
            path_int(request, "id"),
            enabled=body.get("enabled"),
            settings=body["settings"] if "settings" in body else UNCHANGED,
            operator=request[OPERATOR],
            now=utcnow(),
            acknowledge=bool(body.get("acknowledge", False)),
        )
        return web.json_response({"target": target})

    read.__name__, change.__name__ = f"admin_{kind}_rebate", f"change_{kind}_rebate"
    routes.get(
        path,
        summary=f"运营：{label}排队返利设置",
        tags=("admin",),
        auth="admin",
        permission=Permission.VIEW,
        path_params=params,
        responses={200: Reply("开关与独立设置（settings 为 null：全部沿用上级）", TARGET_REPLY)},
    )(read)
    routes.route(
        "PUT",
        path,
        summary=f"运营：修改{label}排队返利设置",
        description="`settings` replaces the whole document (null: none of its own). A change "
        "of the extraction a store's orders give goes through the commission guardrail.",
        tags=("admin",),
        auth="admin",
        permission=Permission.OPERATIONS,
        body=TARGET_BODY,
        path_params=params,
        responses={200: Reply("修改后的设置", TARGET_REPLY), **REFUSED},
    )(change)


_target_routes("product", "products", "商品")
_target_routes("store", "stores", "门店")
_target_routes("cashier", "cashiers", "收银台")


@routes.post(
    "/api/admin/products/enable-rebate",
    summary="运营：一键启用（所有商城自营与供应商商品开启排队返利）",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    responses={200: Reply("开启的商品数", obj({"enabled": INT}))},
)
async def enable_rebate_everywhere(request: web.Request) -> web.Response:
    count = await enable_all_products(operator=request[OPERATOR], now=utcnow())
    return web.json_response({"enabled": count})


@routes.get(
    "/api/admin/audit",
    summary="运营：操作日志（谁、何时、旧值、新值）",
    description="Every change an operator makes, newest first. Filters: `section` (one of "
    + ", ".join(audit.SECTIONS)
    + "), `target` (e.g. store:3), `operator`, and `from` / `to` (ISO date or time with its "
    "timezone; a date is a Beijing day, `to` including that whole day). " + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    query_params={
        "section": {"type": "string", "enum": list(audit.SECTIONS)},
        "target": STRING,
        "operator": STRING,
        **TIME_RANGE_PARAMS,
        **PAGE_PARAMS,
    },
    responses={200: Reply("变更记录", AUDIT_REPLY), 400: Reply("查询参数无效（field 指明哪一项）")},
)
async def admin_audit(request: web.Request) -> web.Response:
    section = query_choice(request, "section", audit.SECTIONS)
    since, until = query_range(request)
    cursor, limit = page_args(request)
    page = await audit.trail(
        section=section,
        target=request.query.get("target") or None,
        operator=request.query.get("operator") or None,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    return page_reply(page)


@routes.get(
    "/api/admin/queues/economics",
    summary="运营：队列经济（待还总额、流入、预计时间）",
    description="Per queue (or `queue_id`), in the order the queues were made: waiting "
    "entries, outstanding entitlement, inflow over 1 / 7 / 30 days, and the projected time "
    "until its newest entry is full at the 7-day rate (null: nothing flowed in). An estimate, "
    "not a promise. " + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    query_params={"queue_id": ID, **PAGE_PARAMS},
    responses={200: Reply("队列经济", ECONOMICS_REPLY), 400: Reply("查询参数无效")},
)
async def admin_economics(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    page = await queue_economics(
        now=utcnow(), queue_id=optional_int(request, "queue_id"), cursor=cursor, limit=limit
    )
    return page_reply(page.map(economics_json), note=ESTIMATE_NOTE)


def economics_json(q: QueueEconomics) -> dict[str, Any]:
    return {
        "queue_id": q.queue_id,
        "key": q.key,
        "waiting_entries": q.waiting_entries,
        "outstanding_fen": q.outstanding_fen,
        "inflow_fen": {str(days): fen for days, fen in q.inflow_fen.items()},
        "until_newest_full_seconds": None
        if q.until_newest_full is None
        else int(q.until_newest_full.total_seconds()),
    }


@routes.get(
    "/api/admin/jobs/runs",
    summary="运营：定时任务运行记录",
    description="`name` filters; the latest first by start time (a retried run moves up). "
    + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    query_params={"name": {"type": "string", "enum": sorted(JOBS)}, **PAGE_PARAMS},
    responses={200: Reply("最近的运行（新的在前）", RUNS_REPLY), 400: Reply("查询参数无效")},
)
async def admin_job_runs(request: web.Request) -> web.Response:
    name = query_choice(request, "name", tuple(sorted(JOBS)))
    cursor, limit = page_args(request)
    runs = await recent_runs(name, cursor=cursor, limit=limit)
    return page_reply(runs.map(job_run_json))


def job_run_json(r: JobRun) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "slot": r.slot,
        "trigger": r.trigger,
        "status": r.status.value,
        "attempts": r.attempts,
        "started_at": r.started_at.isoformat(),
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
        "changes": r.changes,
        "error": r.error,
    }
