"""The fake WeChat of the HTTP benchmark, in a process of its own.

``python -m bench.http_path.fake --port P --keys-dir DIR`` serves ``wechat_fake`` exactly as the
demo does (fresh merchant and platform keys, any login code accepted; DIR receives what the
server's configuration needs: ``merchant_key.pem``, ``platform_public.pem``, ``fake-wechat.json``)
and one more endpoint for the benchmark, playing the members paying:

``POST /__bench__/sign`` with ``{"out_trade_nos": [...]}`` marks those orders paid and answers,
for each, the TRANSACTION.SUCCESS notification WeChat Pay would send (``wechat_fake.notify``:
headers signed with the platform key, resource encrypted with the APIv3 key), without sending
it. The benchmark signs every notification of a run this way before timing it, then sends them
itself at the concurrency or rate it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import datetime
from pathlib import Path

from aiohttp import web

from wechat.pay_results import CHINA_TZ
from wechat_fake.notify import build_v3_notification, new_transaction_id, v3_transaction
from wechat_fake.server import create_fake_wechat, demo_state
from wechat_fake.state import STATE_KEY, FakeWeChatState


def signed_notification(state: FakeWeChatState, out_trade_no: str) -> dict[str, object]:
    """Mark the order paid (a transaction id of its own) and build its v3 notification."""
    order = state.orders[out_trade_no]
    if order.trade_state != "SUCCESS":
        order.trade_state = "SUCCESS"
        order.transaction_id = new_transaction_id()  # random: never shared by two orders
        order.paid_at = datetime.now(CHINA_TZ).replace(microsecond=0)
    plain = v3_transaction(
        appid=state.appid,
        mchid=state.mch_id,
        out_trade_no=order.out_trade_no,
        total=order.total,
        openid=order.openid,
        transaction_id=order.transaction_id,
    )
    headers, body = build_v3_notification(
        platform_key=state.platform_private_key,
        platform_serial=state.platform_serial,
        apiv3_key=state.apiv3_key,
        event_type="TRANSACTION.SUCCESS",
        original_type="transaction",
        plain_resource=plain,
        summary="支付成功",
    )
    return {"out_trade_no": out_trade_no, "headers": headers, "body": body.decode("utf-8")}


async def sign(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    wanted = (await request.json())["out_trade_nos"]
    unknown = [no for no in wanted if no not in state.orders]
    if unknown:
        raise web.HTTPNotFound(text=f"no prepay seen for {unknown[:3]}")
    return web.json_response([signed_notification(state, no) for no in wanted])


def bench_fake(keys_dir: Path) -> web.Application:
    state = demo_state(keys_dir)
    app = create_fake_wechat(state)
    app.router.add_post("/__bench__/sign", sign)
    app.on_response_prepare.append(_forget_calls)
    return app


async def _forget_calls(request: web.Request, response: web.StreamResponse) -> None:
    """The fake records every request (tests assert on them); a benchmark makes thousands, so
    the record is dropped as it goes."""
    request.app[STATE_KEY].calls.clear()


async def serve(host: str, port: int, keys_dir: Path) -> None:
    runner = web.AppRunner(bench_fake(keys_dir), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print(f"fake WeChat listening on http://{host}:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http_path.fake", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--keys-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.keys_dir))


if __name__ == "__main__":
    main()
