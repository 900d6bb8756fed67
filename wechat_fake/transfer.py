"""The fake WeChat's 商家转账 endpoints (create by ``out_bill_no``, query by ``out_bill_no``).

``add_transfer_routes(app)`` adds them to a ``create_fake_wechat`` app; requests are already
checked by its v3 signature middleware, and answers are signed with the fake platform key.
A repeated ``out_bill_no`` returns the existing bill (a different amount or payee for the same
number is refused), as WeChat does. Each bill keeps what it was sent with — scene, 报备信息,
remark — for tests to check.

Behaviour switches on ``FakeTransferState`` (``app[TRANSFER_KEY]``):
- ``delay_next``: the next N transfer calls create the bill, then answer only after
  ``delay_seconds`` — longer than the client's timeout, this is "the money moved but the
  answer was lost";
- ``outcome``: the state new bills end in — ``SUCCESS`` (default), ``WAIT_USER_CONFIRM``
  (the payee must confirm; ``POST /__fake__/transfers/{no}/confirm`` plays that) or ``FAIL``;
- ``error_next``: the next N transfer calls answer HTTP 500 without creating a bill.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from wechat.pay_results import CHINA_TZ
from wechat.transfer import OUT_BILL_NO, QUERY_PATH, TRANSFER_PATH
from wechat_fake.notify import signed_v3_headers
from wechat_fake.state import STATE_KEY


@dataclass
class FakeBill:
    out_bill_no: str
    transfer_bill_no: str
    appid: str
    openid: str
    amount: int
    remark: str
    scene_id: str
    state: str
    created_at: str
    fail_reason: str = ""
    report_infos: tuple[tuple[str, str], ...] = ()  # (info_type, info_content) as received


@dataclass
class FakeTransferState:
    outcome: str = "SUCCESS"
    delay_next: int = 0
    delay_seconds: float = 2.0
    error_next: int = 0
    bills: dict[str, FakeBill] = field(default_factory=dict)
    transfer_calls: int = 0
    query_calls: int = 0

    def created(self) -> list[FakeBill]:
        return list(self.bills.values())


TRANSFER_KEY = web.AppKey("fake_transfer_state", FakeTransferState)


def _now() -> str:
    return datetime.now(CHINA_TZ).isoformat(timespec="seconds")


def _answer(request: web.Request, status: int, data: dict[str, Any]) -> web.Response:
    state = request.app[STATE_KEY]
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    headers = signed_v3_headers(body, state.platform_private_key, state.platform_serial)
    return web.Response(status=status, body=body, headers=headers, content_type="application/json")


def _error(request: web.Request, status: int, code: str, message: str) -> web.Response:
    return _answer(request, status, {"code": code, "message": message})


def _bill_json(bill: FakeBill, *, full: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "out_bill_no": bill.out_bill_no,
        "transfer_bill_no": bill.transfer_bill_no,
        "create_time": bill.created_at,
        "state": bill.state,
    }
    if bill.state == "WAIT_USER_CONFIRM":
        data["package_info"] = "affffddafdfafddffda==" + bill.transfer_bill_no[-6:]
    if bill.fail_reason:
        data["fail_reason"] = bill.fail_reason
    if full:
        data.update(
            appid=bill.appid,
            transfer_scene_id=bill.scene_id,
            openid=bill.openid,
            transfer_amount=bill.amount,
            transfer_remark=bill.remark,
            update_time=_now(),
        )
    return data


def _invalid(data: Any, appid: str) -> str:
    """Why WeChat would refuse this body (PARAM_ERROR), or ``""``."""
    if not isinstance(data, dict):
        return "body is not a JSON object"
    if data.get("appid") != appid:
        return "appid"
    if not isinstance(data.get("out_bill_no"), str) or not OUT_BILL_NO.match(data["out_bill_no"]):
        return "out_bill_no"
    amount = data.get("transfer_amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return "transfer_amount"
    remark = data.get("transfer_remark")
    if not isinstance(remark, str) or not 0 < len(remark) <= 32:
        return "transfer_remark"
    if not data.get("openid") or not data.get("transfer_scene_id"):
        return "openid / transfer_scene_id"
    if not isinstance(data.get("transfer_scene_report_infos"), list):
        return "transfer_scene_report_infos"
    return ""


def _report_infos(raw: list[Any]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (str(item.get("info_type", "")), str(item.get("info_content", "")))
        for item in raw
        if isinstance(item, dict)
    )


async def transfer_bills(request: web.Request) -> web.Response:
    fake = request.app[TRANSFER_KEY]
    fake.transfer_calls += 1
    if fake.error_next > 0:
        fake.error_next -= 1
        return _error(request, 500, "SYSTEM_ERROR", "系统繁忙，请稍后重试")
    try:
        data = json.loads(await request.read())
    except ValueError:
        data = None
    why = _invalid(data, request.app[STATE_KEY].appid)
    if why:
        return _error(request, 400, "PARAM_ERROR", f"参数错误: {why}")
    assert isinstance(data, dict)
    bill = fake.bills.get(data["out_bill_no"])
    if bill is None:
        bill = FakeBill(
            out_bill_no=data["out_bill_no"],
            transfer_bill_no="1330000" + secrets.token_hex(12),
            appid=data["appid"],
            openid=data["openid"],
            amount=data["transfer_amount"],
            remark=data["transfer_remark"],
            scene_id=data["transfer_scene_id"],
            state=fake.outcome,
            created_at=_now(),
            fail_reason="PAYEE_ACCOUNT_ABNORMAL" if fake.outcome == "FAIL" else "",
            report_infos=_report_infos(data["transfer_scene_report_infos"]),
        )
        fake.bills[bill.out_bill_no] = bill
    elif bill.amount != data["transfer_amount"] or bill.openid != data["openid"]:
        return _error(request, 400, "INVALID_REQUEST", "商户单号重复，且与原单参数不一致")
    if fake.delay_next > 0:
        fake.delay_next -= 1
        await asyncio.sleep(fake.delay_seconds)  # the bill exists; the answer comes too late
    return _answer(request, 200, _bill_json(bill, full=False))


async def query_bill(request: web.Request) -> web.Response:
    fake = request.app[TRANSFER_KEY]
    fake.query_calls += 1
    bill = fake.bills.get(request.match_info["out_bill_no"])
    if bill is None:
        return _error(request, 404, "NOT_FOUND", "记录不存在")
    data = _bill_json(bill, full=True)
    data["mch_id"] = request.app[STATE_KEY].mch_id
    return _answer(request, 200, data)


async def confirm_bill(request: web.Request) -> web.Response:
    """The payee confirms receipt in the mini-program (wx.requestMerchantTransfer)."""
    bill = request.app[TRANSFER_KEY].bills.get(request.match_info["out_bill_no"])
    if bill is None:
        raise web.HTTPNotFound(text="no such bill")
    if bill.state == "WAIT_USER_CONFIRM":
        bill.state = "SUCCESS"
    return web.json_response({"state": bill.state})


def add_transfer_routes(app: web.Application, state: FakeTransferState | None = None) -> None:
    """Serve 商家转账 on a fake WeChat app (before it starts)."""
    app[TRANSFER_KEY] = state if state is not None else FakeTransferState()
    app.add_routes(
        [
            web.post(TRANSFER_PATH, transfer_bills),
            web.get(QUERY_PATH, query_bill),
            web.post("/__fake__/transfers/{out_bill_no}/confirm", confirm_bill),
        ]
    )


__all__ = ["TRANSFER_KEY", "FakeBill", "FakeTransferState", "add_transfer_routes"]
