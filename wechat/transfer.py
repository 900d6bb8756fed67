"""WeChat Pay 商家转账 (merchant transfer to a user's 零钱), APIv3: create a transfer bill by
``out_bill_no`` and query it by the same number.

    POST /v3/fund-app/mch-transfer/transfer-bills
    GET  /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}

Requests are JSON signed with the merchant key and answers are verified against the platform
keys, exactly like the other v3 calls (this client is a ``PayV3Client``).

The rule that keeps money from moving twice (STACK.md, and WeChat's own API notes): when a
transfer call times out or errs, its outcome is unknown — query the *same* ``out_bill_no``.
Only a bill that is definitely failed (``FAIL``, ``CANCELLED``) may be replaced by a new
number. ``NOT_FOUND`` on the query means WeChat never created the bill: sending it again with
the same number is safe (WeChat treats a repeated number as the same bill).

The transfer scene (转账场景 and its 报备信息) travels with each bill (``transfer(...,
scene=...)``), not with the client: one client per merchant account serves every purpose, and
the service that pays names its own purpose's scene — merchant statements their 1005 佣金报酬,
withdrawals the scene in the operator's withdrawal settings. A purpose can never borrow
another's scene, and an operator's change of the withdrawal scene applies to the next bill
without a restart. (One client per purpose, each built with its scene, would have needed the
settings at build time and a rebuild on every change.)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

from wechat import pay_v3
from wechat.client import DEFAULT_TIMEOUT, PAY_API_BASE_URL, PayV3Client
from wechat.errors import PayV3Error, ResponseSignatureInvalid, WeChatUnreachable

log = logging.getLogger(__name__)

TRANSFER_PATH = "/v3/fund-app/mch-transfer/transfer-bills"
QUERY_PATH = TRANSFER_PATH + "/out-bill-no/{out_bill_no}"
OUT_BILL_NO = re.compile(r"^[0-9A-Za-z]{1,32}$")
MAX_REMARK_CHARS = 32
FINAL_STATES = frozenset({"SUCCESS", "FAIL", "CANCELLED"})
FAILED_STATES = frozenset({"FAIL", "CANCELLED"})
UNKNOWN_OUTCOME = (WeChatUnreachable, PayV3Error, ResponseSignatureInvalid)


@dataclass(frozen=True)
class TransferBill:
    """A transfer bill as WeChat reports it. ``state``: ACCEPTED, PROCESSING,
    WAIT_USER_CONFIRM, TRANSFERING, SUCCESS, FAIL, CANCELING or CANCELLED."""

    out_bill_no: str
    transfer_bill_no: str
    state: str
    amount_fen: int | None = None
    package_info: str = ""  # for wx.requestMerchantTransfer while WAIT_USER_CONFIRM
    fail_reason: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCESS"

    @property
    def definitely_failed(self) -> bool:
        """Only now may the payment be retried under a new ``out_bill_no``."""
        return self.state in FAILED_STATES


@dataclass(frozen=True)
class SceneInfo:
    """转账场景报备信息: one ``info_type`` / ``info_content`` pair the scene requires."""

    info_type: str
    info_content: str


@dataclass(frozen=True)
class TransferScene:
    """转账场景: the scene the merchant account was granted for one purpose (e.g. ``1005``
    佣金报酬, ``1000`` 现金营销) and the 报备信息 WeChat requires with it."""

    scene_id: str
    report_infos: tuple[SceneInfo, ...] = ()


def parse_bill(data: Mapping[str, Any]) -> TransferBill:
    """A (verified) transfer or query answer."""
    out_bill_no = data.get("out_bill_no")
    state = data.get("state")
    if not isinstance(out_bill_no, str) or not isinstance(state, str) or not state:
        raise WeChatUnreachable("transfer answer lacks out_bill_no or state")
    amount = data.get("transfer_amount")
    return TransferBill(
        out_bill_no=out_bill_no,
        transfer_bill_no=str(data.get("transfer_bill_no", "")),
        state=state,
        amount_fen=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
        package_info=str(data.get("package_info", "")),
        fail_reason=str(data.get("fail_reason", "")),
        raw=dict(data),
    )


def build_transfer_body(
    *,
    appid: str,
    out_bill_no: str,
    scene: TransferScene,
    openid: str,
    amount_fen: int,
    remark: str,
    notify_url: str | None = None,
    user_recv_perception: str | None = None,
) -> dict[str, Any]:
    """Body of POST /v3/fund-app/mch-transfer/transfer-bills. Refuses what WeChat would."""
    if not OUT_BILL_NO.match(out_bill_no):
        raise ValueError("out_bill_no: 1–32 letters and digits")
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise ValueError("transfer amount must be a positive number of fen")
    if not remark or len(remark) > MAX_REMARK_CHARS:
        raise ValueError(f"transfer remark: 1–{MAX_REMARK_CHARS} characters")
    body: dict[str, Any] = {
        "appid": appid,
        "out_bill_no": out_bill_no,
        "transfer_scene_id": scene.scene_id,
        "openid": openid,
        "transfer_amount": amount_fen,
        "transfer_remark": remark,
        "transfer_scene_report_infos": [
            {"info_type": i.info_type, "info_content": i.info_content} for i in scene.report_infos
        ],
    }
    if notify_url is not None:
        body["notify_url"] = notify_url
    if user_recv_perception is not None:
        body["user_recv_perception"] = user_recv_perception
    return body


class MerchantTransferClient(PayV3Client):
    """商家转账 over the app's shared aiohttp session; base URL configurable (the fake in
    tests and the demo). One per merchant account: each bill names its own ``TransferScene``
    (see the module docstring)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        merchant: pay_v3.MerchantV3,
        platform_keys: pay_v3.PlatformKeys,
        *,
        notify_url: str | None = None,
        user_recv_perception: str | None = None,
        pay_api_base_url: str = PAY_API_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
        max_skew: int = pay_v3.DEFAULT_MAX_SKEW,
    ) -> None:
        super().__init__(
            session,
            merchant,
            platform_keys,
            pay_api_base_url=pay_api_base_url,
            timeout=timeout,
            max_skew=max_skew,
        )
        self._appid = merchant.appid
        self._notify_url = notify_url
        self._perception = user_recv_perception

    async def transfer(
        self, *, out_bill_no: str, openid: str, amount_fen: int, remark: str, scene: TransferScene
    ) -> TransferBill:
        """Create (or, for a number WeChat already has, get back) the transfer bill, under
        ``scene``. ``WeChatUnreachable`` / ``PayV3Error``: outcome unknown — ``query`` the same
        number."""
        body = build_transfer_body(
            appid=self._appid,
            out_bill_no=out_bill_no,
            scene=scene,
            openid=openid,
            amount_fen=amount_fen,
            remark=remark,
            notify_url=self._notify_url,
            user_recv_perception=self._perception,
        )
        return parse_bill(await self._request("POST", TRANSFER_PATH, body))

    async def query(self, out_bill_no: str) -> TransferBill | None:
        """The bill, or None when WeChat has no bill with this number (404 NOT_FOUND)."""
        path = QUERY_PATH.format(out_bill_no=quote(out_bill_no, safe=""))
        try:
            return parse_bill(await self._request("GET", path))
        except PayV3Error as exc:
            if exc.status == 404 and exc.code == "NOT_FOUND":
                return None
            raise


class Transfers(Protocol):
    """What paying by 商家转账 needs of ``MerchantTransferClient`` (tests may pass a fake)."""

    async def transfer(
        self, *, out_bill_no: str, openid: str, amount_fen: int, remark: str, scene: TransferScene
    ) -> TransferBill: ...

    async def query(self, out_bill_no: str) -> TransferBill | None: ...


async def send_or_query(
    transfers: Transfers,
    *,
    out_bill_no: str,
    openid: str,
    amount_fen: int,
    remark: str,
    scene: TransferScene,
    send: bool,
) -> TransferBill | None:
    """The bill's state as WeChat knows it, or None when it cannot be known now.

    ``send``: the bill was never answered yet, so (re)send it under the same number and
    ``scene``; an unknown outcome is followed by a query of that number, never by a new one.
    Otherwise only query."""
    if send:
        try:
            return await transfers.transfer(
                out_bill_no=out_bill_no,
                openid=openid,
                amount_fen=amount_fen,
                remark=remark,
                scene=scene,
            )
        except UNKNOWN_OUTCOME as exc:
            log.warning(
                "transfer %s: outcome unknown (%r); querying the same number", out_bill_no, exc
            )
    try:
        bill = await transfers.query(out_bill_no)
    except UNKNOWN_OUTCOME as exc:
        log.warning("transfer %s: query failed (%r); will ask again", out_bill_no, exc)
        return None
    if bill is None:
        log.info(
            "transfer %s: WeChat has no such bill; it will be sent again, same number", out_bill_no
        )
    return bill


__all__ = [
    "FAILED_STATES",
    "FINAL_STATES",
    "UNKNOWN_OUTCOME",
    "MerchantTransferClient",
    "SceneInfo",
    "TransferBill",
    "TransferScene",
    "Transfers",
    "build_transfer_body",
    "parse_bill",
    "send_or_query",
]
