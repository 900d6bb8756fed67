"""Running one app as the process: ``queue-rebate serve`` and ``queue-rebate notifier``.

``run_process(app, host, port)`` starts the app (its cleanup contexts: database, Redis, the
workers of its role), listens on ``host:port`` when a port is given, and runs until SIGINT or
SIGTERM; then it stops listening, lets requests in flight finish and closes the resources in
reverse. SIGHUP re-reads the WeChat Pay platform key files (``server.app.reload_platform_keys``)
without a restart. A failure to start (a key file, the port taken) is a ``CommandError``: one
line, exit 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from runtime.errors import CommandError
from server.app import reload_platform_keys
from wechat.gateway import PayConfigError

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 30.0


async def run_process(app: web.Application, host: str, port: int | None) -> None:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    try:
        await runner.setup()  # the cleanup contexts start here
    except PayConfigError as exc:
        with contextlib.suppress(Exception):
            await app.cleanup()
        raise CommandError(f"{exc} (fix it in --config or the environment)") from None
    try:
        if port is not None:
            await _listen(runner, host, port)
        await _until_stopped(app)
    finally:
        await runner.cleanup()


async def _listen(runner: web.AppRunner, host: str, port: int) -> None:
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    log.info("listening on http://%s:%s", host, port)


async def _until_stopped(app: web.Application) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload_platform_keys, app)
    try:
        await stop.wait()
        log.info("stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
