"""Operator (运营后台) endpoints for SPEC §8: merchant applications, the distribution settings,
store commissions under the guardrail, the operator's merchant-invite QR, team levels, and
running a scheduled job now. Admin tokens only; the operator is the token's subject.

- The guardrail: a change that lets a store pay out more than its commission is a 400
  (``invalid_setting``, naming the field) unless the request says ``"acknowledge": true``;
  an acknowledged excess is recorded (``guardrail_ack``) and the operators are alerted.
- The 级差 depth limit is at most 3: deeper is refused with the reason (传销), never clamped.
- A refused request changes nothing.
- A job run answers 200 with its outcome, failed runs included (the run is recorded either
  way); it runs with this server's WeChat clients (``JobClients.of(app[WECHAT])``), the same
  the scheduler uses, so reconciliation queries and payouts pay as a scheduled run does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from models import ApplicationStatus, MerchantApplication
from rebate.errors import InvalidSetting
from services.clock import utcnow
from services.distribution.settings import from_doc, load_distribution, to_doc
from services.distribution.team import set_team_level
from services.jobs import JOBS, JobClients, run_job
from services.merchants.onboarding import (
    applications_for_review,
    approve_application,
    invite_scene,
    reject_application,
    save_distribution_settings,
    set_store_commission,
)
from services.operators.roles import Permission
from web.auth import OPERATOR
from web.common import application_json, mini_program_code
from web.keys import SETTINGS, WECHAT
from web.query import PAGE_PARAMS, PAGING, json_reply, page_args, page_reply, paged, query_choice
from web.registry import BODY, Registry, Reply, path_int
from web.schemas import APPLICATION, BOOL, ID, INT, INVITE_QR, QR_RESPONSES, STRING, Schema, obj

routes = Registry()

ID_PARAMS = {"id": ID}
ACKNOWLEDGE: Schema = {
    "type": "boolean",
    "description": "明确确认：门店支出超过佣金时仍然保存（记录在审计中）",
}
GUARDRAIL = obj(
    {
        "store_id": {**INT, "nullable": True},
        "commission_bp": INT,
        "extract_bp": INT,
        "direct_bp": INT,
        "indirect_bp": INT,
        "team_bp": INT,
        "merchant_referral_bp": INT,
        "dividend_pool_bp": INT,
        "payout_bp": INT,
    }
)
GUARDRAIL_REFUSAL = Reply("门店支出将超过佣金（未确认 acknowledge），或参数不符合规则")


# --- merchant applications ------------------------------------------------------------------------

STATUS_FILTER = (*(s.value for s in ApplicationStatus), "all")
ADMIN_APPLICATION = obj({**APPLICATION["properties"], "applicant_id": INT, "decided_by": STRING})


def admin_application_json(app: MerchantApplication) -> dict[str, Any]:
    return {
        **application_json(app),
        "applicant_id": app.applicant_id,  # type: ignore[attr-defined]
        "decided_by": app.decided_by,
    }


@routes.get(
    "/api/admin/merchant-applications",
    summary="商家入驻申请列表",
    description="?status=pending (default) | approved | rejected | all; pending ones oldest "
    "first (the order to decide them in), else newest first. " + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    query_params={"status": {"type": "string", "enum": list(STATUS_FILTER)}, **PAGE_PARAMS},
    responses={200: Reply("申请", paged(ADMIN_APPLICATION)), 400: Reply("参数无效")},
)
async def admin_applications(request: web.Request) -> web.Response:
    status = query_choice(request, "status", STATUS_FILTER) or ApplicationStatus.PENDING.value
    cursor, limit = page_args(request)
    found = await applications_for_review(
        None if status == "all" else ApplicationStatus(status), cursor=cursor, limit=limit
    )
    return page_reply(found.map(admin_application_json))


@routes.post(
    "/api/admin/merchant-applications/{id}/approve",
    summary="通过入驻申请：设置佣金比例，创建门店与收银台",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    path_params=ID_PARAMS,
    body=obj(
        {
            "commission_bp": {**INT, "description": "佣金/折扣比例（万分比，0–10000）"},
            "acknowledge": ACKNOWLEDGE,
        },
        required=["commission_bp"],
    ),
    responses={
        200: Reply(
            "门店已创建",
            obj(
                {
                    "application_id": INT,
                    "store": obj({"id": INT, "name": STRING, "commission_bp": INT}),
                }
            ),
        ),
        400: GUARDRAIL_REFUSAL,
        409: Reply("该申请已处理"),
    },
)
async def approve_merchant(request: web.Request) -> web.Response:
    application_id, body = path_int(request, "id"), request[BODY]
    store = await approve_application(
        application_id,
        commission_bp=body["commission_bp"],
        operator=request[OPERATOR],
        now=utcnow(),
        acknowledge=body.get("acknowledge", False),
    )
    return json_reply(
        {
            "application_id": application_id,
            "store": {"id": store.id, "name": store.name, "commission_bp": store.commission_bp},
        }
    )


@routes.post(
    "/api/admin/merchant-applications/{id}/reject",
    summary="拒绝入驻申请（须填写理由）",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    path_params=ID_PARAMS,
    body=obj({"reason": {"type": "string", "minLength": 2, "maxLength": 200}}, required=["reason"]),
    responses={
        200: Reply("已拒绝", obj({"application": ADMIN_APPLICATION})),
        409: Reply("该申请已处理，或理由不足 2 个字"),
    },
)
async def reject_merchant(request: web.Request) -> web.Response:
    app = await reject_application(
        path_int(request, "id"),
        reason=request[BODY]["reason"],
        operator=request[OPERATOR],
        now=utcnow(),
    )
    return json_reply({"application": admin_application_json(app)})


@routes.get(
    "/api/admin/merchant-invites/qr",
    summary="运营的商家邀请小程序码（无招商奖励）",
    description="An invite without an inviter: stores that join through it pay no 招商奖励. "
    "One per operator, reused.",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    responses=QR_RESPONSES,
)
async def operator_invite_qr(request: web.Request) -> web.Response:
    scene = await invite_scene(now=utcnow(), operator=request[OPERATOR])
    return await mini_program_code(request, scene, kind=INVITE_QR)


# --- distribution settings and the guardrail ------------------------------------------------------

_RATE: Schema = {"type": "integer", "description": "万分比"}
_COUNT: Schema = {"type": "integer", "nullable": True, "minimum": 0}
LEVEL = obj(
    {
        "level": INT,
        "name": STRING,
        "rate_bp": _RATE,
        "min_team_turnover_fen": {**_COUNT, "description": "团队业绩门槛（分）"},
        "min_direct_referrals": {**_COUNT, "description": "直推人数门槛"},
    },
    required=["level", "name", "rate_bp"],
)
SETTINGS_FIELDS: dict[str, Schema] = {
    "enabled": BOOL,
    "direct_bp": {**_RATE, "description": "直推奖励（万分比）"},
    "indirect_bp": {**_RATE, "description": "间推奖励（万分比）"},
    "levels": {
        "type": "array",
        "maxItems": 20,
        "items": LEVEL,
        "description": "团队等级与级差比例",
    },
    "team_depth": {
        "type": "integer",
        "description": "级差层级（默认 2，最多 3：更深的多级分销可能被认定为传销）",
    },
    "merchant_referral_bp": {**_RATE, "description": "招商奖励（万分比）"},
    "freeze_days": {"type": "integer", "description": "佣金冻结天数（订单完成后）"},
    "dividend_pool_bp": {**_RATE, "description": "股东分红：周期内完成营业额的比例"},
    "dividend_period": {"type": "string", "enum": ["month", "week"]},
    "shareholder_level": {"type": "integer", "nullable": True},
    "statement_days": {"type": "integer", "description": "商家结算 T+N 的 N"},
    "max_transfer_fen": {"type": "integer", "description": "单笔商家转账上限（分）"},
}
SETTINGS_DOC = obj(SETTINGS_FIELDS)
SETTINGS_REPLY = obj(
    {
        "settings": SETTINGS_DOC,
        "acknowledged": {
            "type": "array",
            "items": GUARDRAIL,
            "description": "保存后支出超过佣金、已确认的门店",
        },
    }
)


@routes.get(
    "/api/admin/distribution-settings",
    summary="分销设置",
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    responses={200: Reply("当前设置", obj({"settings": SETTINGS_DOC}))},
)
async def distribution_settings(request: web.Request) -> web.Response:
    return json_reply({"settings": to_doc(await load_distribution())})


@routes.route(
    "PATCH",
    "/api/admin/distribution-settings",
    summary="修改分销设置（只改给出的项）",
    description="The fields given replace the current ones (levels as a whole list). Refused, "
    "naming the field, when a value breaks the rules; refused when a store would pay out "
    "more than its commission unless acknowledged.",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    body=obj({**SETTINGS_FIELDS, "acknowledge": ACKNOWLEDGE}),
    responses={200: Reply("已保存", SETTINGS_REPLY), 400: GUARDRAIL_REFUSAL},
)
async def change_distribution_settings(request: web.Request) -> web.Response:
    body = request[BODY]
    changes = {name: value for name, value in body.items() if name != "acknowledge"}
    acknowledge = body.get("acknowledge", False)
    settings = from_doc({**to_doc(await load_distribution()), **changes})
    over = await save_distribution_settings(
        settings, operator=request[OPERATOR], now=utcnow(), acknowledge=acknowledge
    )
    return json_reply({"settings": to_doc(settings), "acknowledged": [n.as_doc() for n in over]})


@routes.post(
    "/api/admin/stores/{id}/commission",
    summary="修改门店佣金比例（受支出护栏约束）",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    path_params=ID_PARAMS,
    body=obj(
        {"commission_bp": {**INT, "description": "万分比，0–10000"}, "acknowledge": ACKNOWLEDGE},
        required=["commission_bp"],
    ),
    responses={200: Reply("已修改", obj({"guardrail": GUARDRAIL})), 400: GUARDRAIL_REFUSAL},
)
async def change_store_commission(request: web.Request) -> web.Response:
    body = request[BODY]
    numbers = await set_store_commission(
        path_int(request, "id"),
        body["commission_bp"],
        operator=request[OPERATOR],
        now=utcnow(),
        acknowledge=body.get("acknowledge", False),
    )
    return json_reply({"guardrail": numbers.as_doc()})


# --- team levels and jobs -------------------------------------------------------------------------


@routes.post(
    "/api/admin/members/{id}/team-level",
    summary="设置会员团队等级（0 取消等级；记录变更）",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    path_params=ID_PARAMS,
    body=obj(
        {
            "level": {"type": "integer", "minimum": 0, "description": "已配置的团队等级，或 0"},
            "note": {"type": "string", "maxLength": 200},
        },
        required=["level"],
    ),
    responses={
        200: Reply("已设置", obj({"member_id": INT, "from_level": INT, "to_level": INT})),
        400: Reply("团队等级不存在"),
    },
)
async def change_team_level(request: web.Request) -> web.Response:
    member_id, body = path_int(request, "id"), request[BODY]
    old = await set_team_level(
        member_id,
        body["level"],
        operator=request[OPERATOR],
        note=body.get("note", ""),
        now=utcnow(),
    )
    return json_reply({"member_id": member_id, "from_level": old, "to_level": body["level"]})


JOB_OUTCOME = obj(
    {
        "name": STRING,
        "slot": {**STRING, "description": "运行记录的键：计划时段，或运营运行自己的键"},
        "ran_for": {**STRING, "description": "本次运行所针对的时间（ISO）"},
        "trigger": {"type": "string", "enum": ["schedule", "operator"]},
        "ran": BOOL,
        "status": {"type": "string", "enum": ["succeeded", "failed", "skipped"]},
        "changes": {"type": "object", "nullable": True, "description": "本次运行做了什么"},
        "error": {**STRING, "description": "失败原因，或未运行的原因"},
        "run_id": {**INT, "nullable": True},
    }
)
JOB_RUN_BODY = obj(
    {
        "slot": {
            "type": "string",
            "description": "重跑的计划时段（ISO，带时区，如 2026-12-04T02:00+08:00）；"
            "不填则立即单独运行一次",
        }
    }
)


def parsed_slot(value: Any) -> datetime | None:
    """The body's ``slot`` as a time, or a 400 naming it."""
    if value is None:
        return None
    try:
        slot = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidSetting(
            "slot 必须是 ISO 时间，例如 2026-12-04T02:00+08:00", field="slot"
        ) from None
    if slot.tzinfo is None:
        raise InvalidSetting("slot 必须带时区，例如 2026-12-04T02:00+08:00", field="slot")
    return slot


@routes.post(
    "/api/admin/jobs/{name}/run",
    summary="立即运行一个定时任务（记录为运营触发）",
    description="Jobs: " + ", ".join(sorted(JOBS)) + ". Without `slot` a run of its own "
    "(its own key: several in one second all run); with `slot` the run is for that scheduled "
    "time (a never-run or failed slot). A failed run is answered 200 with status failed and "
    "its error; an operator's run is in the operation log (section `job`).",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    path_params={"name": {"type": "string", "enum": sorted(JOBS)}},
    body=JOB_RUN_BODY,
    body_required=False,
    responses={
        200: Reply("运行结果", obj({"job": JOB_OUTCOME})),
        400: Reply("slot 无效或尚未到达"),
        404: Reply("没有该任务"),
    },
)
async def run_job_now(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    slot = parsed_slot(request[BODY].get("slot"))
    clients = JobClients.of(request.app[WECHAT], request.app[SETTINGS].outbox)
    outcome = await run_job(
        name, now=utcnow(), slot=slot, clients=clients, operator=request[OPERATOR]
    )
    return json_reply({"job": outcome.as_doc()})
