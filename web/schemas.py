"""Request and response schemas (OpenAPI 3.0 schema objects). Request schemas are enforced by
``registry.validate``; response schemas document what ``web.common`` renders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from models import ApplicationStatus, WithdrawalStatus
from services.members.views import ASSETS
from services.orders.lifecycle import MAX_QUANTITY
from web.registry import Reply

Schema = dict[str, Any]

MAX_ITEMS = 50
MAX_FEN = 100_000_000_00  # one hundred million yuan: far above any order, far below overflow


def obj(properties: dict[str, Schema], *, required: list[str] | None = None) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def optional(schema: Schema, *hidden_by: Mapping[str, Sequence[str]]) -> Schema:
    """A response object whose fields named in ``hidden_by`` (a display switch → the fields it
    hides) may be absent: the rest are ``required`` (``web.openapi``: a success response's
    objects otherwise require every field)."""
    hidden = {name for fields in hidden_by for names in fields.values() for name in names}
    return {**schema, "required": [name for name in schema["properties"] if name not in hidden]}


STRING: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
ID: Schema = {"type": "integer", "minimum": 1}
TIME: Schema = {"type": "string", "format": "date-time", "nullable": True}

# --- requests ---

LOGIN_BODY = obj(
    {
        "code": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "description": "wx.login() 返回的 code（只能用一次）",
        },
        "referral_code": {
            "type": "string",
            "maxLength": 32,
            "nullable": True,
            "description": "推荐码：邀请二维码 scene 中的值",
        },
    },
    required=["code"],
)

ORDER_BODY = obj(
    {
        "source": {"type": "string", "enum": ["mall", "store", "cashier"]},
        "items": {
            "type": "array",
            "maxItems": MAX_ITEMS,
            "items": obj(
                {
                    "product_id": ID,
                    "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY},
                },
                required=["product_id", "quantity"],
            ),
        },
        "store_id": {**ID, "nullable": True},
        "amount_fen": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_FEN,
            "nullable": True,
            "description": "收银台买单金额（分）",
        },
        "deduction_fen": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_FEN,
            "description": "抵扣金额（分）：须等于所用积分与爱心值按抵扣比例折算的金额",
        },
        "deduction_points": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_FEN,
            "description": "用于抵扣的积分（须为积分抵扣比例的整数倍）",
        },
        "deduction_love": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_FEN,
            "description": "用于抵扣的可用爱心值（须为爱心值抵扣比例的整数倍）",
        },
    },
    required=["source"],
)

REFUND_BODY = obj({"reason": {"type": "string", "maxLength": 80, "description": "退款原因"}})

# --- responses ---

MEMBER = obj(
    {
        "id": INT,
        "nickname": STRING,
        "avatar_url": STRING,
        "level": {**INT, "description": "会员等级（0：无等级）"},
        "level_name": {**STRING, "nullable": True, "description": "会员等级名称"},
        "referral_code": STRING,
        "referrer_id": {**INT, "nullable": True},
        "created_at": TIME,
    }
)
WALLET = obj({"cash_fen": INT, "points": INT, "love_available": INT, "love_frozen": INT})
LOGIN_REPLY = obj(
    {"token": STRING, "expires_in": INT, "member": MEMBER, "new_member": {"type": "boolean"}}
)
ME_REPLY = obj({"member": MEMBER, "wallet": WALLET})
REFUND = obj(
    {
        "id": INT,
        "line_id": INT,
        "out_refund_no": STRING,
        "amount_fen": INT,
        "status": {"type": "string", "enum": ["requested", "succeeded", "failed"]},
        "requested_at": TIME,
        "completed_at": TIME,
    }
)
ORDER = obj(
    {
        "id": INT,
        "source": {"type": "string", "enum": ["mall", "store", "cashier"]},
        "status": {
            "type": "string",
            "enum": ["created", "paid", "completed", "refunded", "closed"],
        },
        "store_id": {**INT, "nullable": True},
        "out_trade_no": STRING,
        "total_fen": INT,
        "deduction_fen": INT,
        "deduction_points": INT,
        "deduction_love": INT,
        "paid_fen": INT,
        "created_at": TIME,
        "paid_at": TIME,
        "completed_at": TIME,
        "lines": {
            "type": "array",
            "items": obj(
                {
                    "id": INT,
                    "product_id": {**INT, "nullable": True},
                    "quantity": INT,
                    "paid_fen": INT,
                    "deduction_fen": INT,
                    "status": {
                        "type": "string",
                        "enum": ["open", "settling", "settled", "refunded"],
                    },
                }
            ),
        },
        "refunds": {"type": "array", "items": REFUND},
    }
)
PAYMENT = obj(
    {
        "appId": STRING,
        "timeStamp": STRING,
        "nonceStr": STRING,
        "package": STRING,
        "signType": {"type": "string", "enum": ["RSA", "MD5", "HMAC-SHA256"]},
        "paySign": STRING,
    }
)
PAYMENT["description"] = "原样传给 wx.requestPayment 的参数"
ORDER_REPLY = obj({"order": ORDER})
PAY_REPLY = obj({"order": ORDER, "payment": PAYMENT})
REFUND_REPLY = obj({"refund": REFUND})
HEALTH_REPLY = obj(
    {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
    }
)


LINE_PARAMS = {"id": ID, "line_id": ID}


REFUND_RESPONSES = {
    202: Reply("退款申请已提交，等待微信支付处理", REFUND_REPLY),
    404: Reply("订单或商品不存在"),
    409: Reply("订单未支付或该商品已退款"),
    502: Reply("微信支付拒绝了退款请求（可重试，退款单号不变）"),
    503: Reply("微信支付不可达（可重试，退款单号不变）"),
}


FORM_FIELDS = ("name", "contact", "phone", "licence_no", "address", "category")


INVITE_QR = "merchant-invite-qr"
INVITE_CODE_HEADER = "X-Invite-Code"  # a merchant-invite QR's code (its scene) as text


QR_RESPONSES = {
    200: Reply("小程序码图片（商家邀请码另见响应头 X-Invite-Code）", content_type="image/png"),
    502: Reply("微信返回错误"),
    503: Reply("微信服务不可达"),
}


APPLICATION = obj(
    {
        "id": INT,
        "status": {"type": "string", "enum": [s.value for s in ApplicationStatus]},
        **{name: STRING for name in FORM_FIELDS},
        "inviter_id": {**INT, "nullable": True},
        "commission_bp": {**INT, "nullable": True},
        "store_id": {**INT, "nullable": True},
        "reject_reason": STRING,
        "created_at": TIME,
        "decided_at": TIME,
    }
)


NULL_INT = {**INT, "nullable": True}
BOOL = {"type": "boolean"}


WITHDRAWAL_STATUSES = tuple(s.value for s in WithdrawalStatus)


WITHDRAWAL = obj(
    {
        "id": INT,
        "amount_fen": INT,
        "status": {"type": "string", "enum": list(WITHDRAWAL_STATUSES)},
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
WITHDRAWAL["required"] = [  # member_id and decided_by: in operators' answers only
    name for name in WITHDRAWAL["properties"] if name not in ("member_id", "decided_by")
]


WITHDRAWAL_REPLY = obj({"withdrawal": WITHDRAWAL})


WITHDRAWAL_STATUS_PARAM: Schema = {"type": "string", "enum": list(WITHDRAWAL_STATUSES)}


WITHDRAWAL_PARAMS = {"id": ID}


# --- 会员等级 (member levels) ---

MATCH: Schema = {
    "type": "string",
    "enum": ["all", "any"],
    "description": "两个条件都设置时：all 全部满足（默认），any 满足任一",
}
MEMBER_LEVEL = obj(
    {
        "rank": {
            **INT,
            "description": "等级编号（1–99，越大越高；会员等级奖励权益 level_bp 的键）",
        },
        "name": STRING,
        "spend_fen": {**NULL_INT, "description": "升级条件：统计天数内已完成订单的累计实付（分）"},
        "orders": {**NULL_INT, "description": "升级条件：统计天数内已完成的订单数"},
        "days": {**NULL_INT, "description": "统计天数（null：不限）"},
        "match": MATCH,
        "automatic": {"type": "boolean", "description": "false：无升级条件，只能由运营设置"},
    }
)
LEVEL_PROGRESS = obj(
    {
        "days": NULL_INT,
        "spend_fen": {**INT, "description": "统计天数内已完成订单的累计实付（分）"},
        "orders": {**INT, "description": "统计天数内已完成的订单数"},
        "spend_fen_needed": {**NULL_INT, "description": "还差多少（分）；null：无此条件"},
        "orders_needed": {**NULL_INT, "description": "还差几单；null：无此条件"},
        "reached": {"type": "boolean", "description": "已满足：下一笔订单完成时升级"},
    }
)
MY_LEVEL_REPLY = obj(
    {
        "level": obj({"rank": INT, "name": {**STRING, "nullable": True}}),
        "next": {**MEMBER_LEVEL, "nullable": True, "description": "可自动升级的下一个等级"},
        "progress": {**LEVEL_PROGRESS, "nullable": True},
    }
)

# --- a member's wallet and statement (the member's own API and the operators') ---

WALLET_REPLY = obj(
    {
        "balances": WALLET,
        "withdrawal_held_fen": {**INT, "description": "提现处理中的金额（已从现金余额扣出）"},
    }
)
LEDGER_LINE = obj(
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
)
