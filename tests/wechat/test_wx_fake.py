"""The fake WeChat itself: demo mode, its control endpoints, and running standalone."""

import asyncio
import json
import signal
import socket
import sys

import pytest
from aiohttp.test_utils import TestServer

from wechat import pay_v3
from wechat.client import MiniProgramClient, PayV3Client
from wechat.pay_v3 import MerchantV3
from wechat_fake.server import create_fake_wechat, demo_state


async def test_demo_state_writes_what_the_app_needs(tmp_path):
    state = demo_state(tmp_path)
    settings = json.loads((tmp_path / "fake-wechat.json").read_text())
    assert settings["appid"] == state.appid
    assert settings["apiv3_key"].encode() == state.apiv3_key
    merchant_key = pay_v3.load_private_key((tmp_path / "merchant_key.pem").read_bytes())
    platform_key = pay_v3.load_public_key((tmp_path / "platform_public.pem").read_bytes())
    assert merchant_key.public_key().public_numbers() == state.merchant_public_key.public_numbers()
    assert (
        platform_key.public_numbers() == state.platform_keys[state.platform_serial].public_numbers()
    )


async def test_demo_mode_accepts_any_code_with_a_stable_openid_and_pays_by_control_call(
    tmp_path, http
):
    state = demo_state(tmp_path)
    server = TestServer(create_fake_wechat(state), host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        mini = MiniProgramClient(http, appid=state.appid, secret=state.secret, api_base_url=base)
        first = await mini.code2session("any-code")
        state.used_codes.clear()
        assert (await mini.code2session("any-code")).openid == first.openid

        merchant = MerchantV3(
            state.appid,
            state.mch_id,
            state.merchant_serial,
            pay_v3.load_private_key((tmp_path / "merchant_key.pem").read_bytes()),
            state.apiv3_key,
        )
        pay = PayV3Client(http, merchant, state.platform_keys, pay_api_base_url=base)
        await pay.jsapi_prepay(
            description="demo",
            out_trade_no="D1",
            notify_url=base + "/nowhere",
            total_fen=100,
            openid=first.openid,
        )
        async with http.post(base + "/__fake__/orders/D1/pay") as response:
            assert response.status == 200
            assert (await response.json())["status"] == 404  # the fake has no /nowhere
        assert (await pay.query_order("D1")).trade_state == "SUCCESS"
        async with http.get(base + "/__fake__/calls") as response:
            paths = [call["path"] for call in await response.json()]
        assert "/v3/pay/transactions/jsapi" in paths
    finally:
        await server.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
async def test_runs_standalone_and_prints_its_url(tmp_path, http, stop_signal):
    """Started with SIGINT ignored, as a shell's background job is, it still stops on either."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wechat_fake.server",
        "--port",
        str(port),
        "--keys-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert f"http://127.0.0.1:{port}" in line.decode()
        state = json.loads((tmp_path / "fake-wechat.json").read_text())
        mini = MiniProgramClient(
            http,
            appid=state["appid"],
            secret=state["secret"],
            api_base_url=f"http://127.0.0.1:{port}",
        )
        assert (await mini.fetch_access_token()).token
    finally:
        process.send_signal(stop_signal)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
