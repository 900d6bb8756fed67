"""The WeChat clients for work outside the server (the command line, scripts).

``create_app`` builds its ``WeChatGateway`` on the app's shared HTTP session and cache; anything
that runs jobs without the app builds the same gateway, from the same settings, with
``wechat_clients``::

    async with wechat_clients(settings) as gateway:
        await run_job("reconciliation", now=utcnow(), clients=JobClients.of(gateway))

The gateway lives on its own HTTP session for the length of the block; its access-token cache
is in-process. A key file named in ``[wechat_pay]`` that cannot be used is ``PayConfigError``
here, as it is when the server starts.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from runtime.cache import MemoryCache
from runtime.config import Settings
from wechat.client import DEFAULT_TIMEOUT
from wechat.gateway import WeChatGateway, build_gateway

TOKEN_CACHE_ENTRIES = 8


@asynccontextmanager
async def wechat_clients(
    settings: Settings, *, timeout: float = DEFAULT_TIMEOUT
) -> AsyncIterator[WeChatGateway]:
    """The WeChat clients of ``settings`` (mini-program, WeChat Pay, 商家转账) for the block."""
    async with aiohttp.ClientSession() as session:
        yield build_gateway(settings, session, MemoryCache(TOKEN_CACHE_ENTRIES), timeout=timeout)
