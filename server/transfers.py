"""The 商家转账 client that pays merchant statements, built from ``[wechat_pay]``.

商家转账 is an APIv3 call, so it needs the v3 credentials whatever ``api_version`` the
payments use: ``mchid``, ``apiv3_key``, the merchant private key and its serial, and the
platform certificate or public key. They are loaded exactly as for v3 payments
(``wechat.gateway.build_pay``), against the same configurable ``api_base_url``.

The transfer scene is not the client's: each bill carries its purpose's (merchant statements
``services.merchants.settlement.STATEMENT_SCENE``, withdrawals their settings' scene).

A job's work takes only ``(now, slot)``, so a process that runs the payout job names the
settings it pays with around the run::

    with paying_with(settings):
        await run_job("merchant-payouts", now=utcnow())

Outside such a block the job fails, recorded, with a message saying so; nothing is paid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar

import aiohttp

from rebate.errors import NotAllowed
from runtime.config import Settings
from wechat.client import DEFAULT_TIMEOUT
from wechat.gateway import V3Pay, build_pay
from wechat.transfer import MerchantTransferClient

_PAYING_WITH: ContextVar[Settings | None] = ContextVar("paying_with", default=None)


def build_transfer_client(
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> MerchantTransferClient:
    """A transfer client over ``session``. Refused when no merchant account is configured;
    ``PayConfigError`` when a v3 key file is missing or unusable."""
    v3 = dataclasses.replace(settings.wechat_pay, api_version="v3")
    pay = build_pay(dataclasses.replace(settings, wechat_pay=v3), session, timeout=timeout)
    if pay is None:
        raise NotAllowed("商家转账未配置：[wechat_pay] mchid 为空", field="wechat_pay")
    assert isinstance(pay, V3Pay)
    return MerchantTransferClient(
        session,
        pay.merchant,
        pay.platform_keys,
        pay_api_base_url=v3.api_base_url,
        timeout=timeout,
    )


@contextmanager
def paying_with(settings: Settings) -> Iterator[None]:
    """Payout jobs run inside this block pay with ``settings``."""
    token = _PAYING_WITH.set(settings)
    try:
        yield
    finally:
        _PAYING_WITH.reset(token)


@asynccontextmanager
async def transfers_in_use() -> AsyncIterator[MerchantTransferClient]:
    """A transfer client for the settings of the enclosing ``paying_with``, on its own HTTP
    session for the length of the block."""
    settings = _PAYING_WITH.get()
    if settings is None:
        raise NotAllowed("商家转账未配置：本进程运行任务时未提供 [wechat_pay] 设置")
    async with aiohttp.ClientSession() as session:
        yield build_transfer_client(settings, session)
