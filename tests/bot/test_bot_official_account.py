"""The official account's message endpoint: every way a request is refused, and every command
answered, in plain and encrypted mode, against the real database and the fake WeChat."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator

import pytest
import xmltodict
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from wechatpy.crypto import WeChatCrypto

from bot.followers import following_openid
from bot.routes import setup_routes
from models import OfficialAccountFollower
from rebate.settings import Lottery, LotteryMode, RatioSettings, SettleOn
from runtime.bot_settings import BotSettings
from services.catalog.products import new_product
from services.members.accounts import new_member
from tests.bot.conftest import OA_AES_KEY, OA_APPID, OA_TOKEN, member
from tests.services.helpers import Clock, seeded, use_base
from tests.services.test_settle_smoke import buy

PATH = "/wechat/official-account"
CRYPTO = WeChatCrypto(OA_TOKEN, OA_AES_KEY, OA_APPID)

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


@pytest.fixture
async def endpoint(db, bot_config: BotSettings, oa_url) -> AsyncIterator[TestClient]:
    app = web.Application()
    setup_routes(app, None, bot=bot_config)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


def signed(*, timestamp: int | None = None, nonce: str = "n0nce", token: str = OA_TOKEN) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = hashlib.sha1("".join(sorted([token, ts, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": ts, "nonce": nonce}


def _envelope(openid: str, msg_type: str, fields: str) -> str:
    return (
        "<xml><ToUserName><![CDATA[gh_bottest]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
        f"{fields}</xml>"
    )


def text_message(openid: str, content: str) -> str:
    return _envelope(openid, "text", f"<Content><![CDATA[{content}]]></Content><MsgId>1</MsgId>")


def event_message(openid: str, event: str) -> str:
    return _envelope(openid, "event", f"<Event><![CDATA[{event}]]></Event>")


async def post(client: TestClient, xml: str, *, encrypted: bool = False) -> str | None:
    """Send ``xml`` as WeChat would; the reply's text (``None`` for ``success``)."""
    query = signed()
    body = xml
    if encrypted:
        body = CRYPTO.encrypt_message(xml, query["nonce"], query["timestamp"])
        query |= {
            "encrypt_type": "aes",
            "msg_signature": xmltodict.parse(body)["xml"]["MsgSignature"],
        }
    response = await client.post(PATH, params=query, data=body.encode())
    assert response.status == 200, await response.text()
    answer = await response.text()
    if answer == "success":
        return None
    if encrypted:
        outer = xmltodict.parse(answer)["xml"]
        answer = CRYPTO.decrypt_message(
            answer, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"]
        )
    reply = xmltodict.parse(answer)["xml"]
    assert reply["ToUserName"] == xml.split("<FromUserName><![CDATA[")[1].split("]]>")[0]
    return str(reply["Content"])


# --- refusals ---------------------------------------------------------------------------------


async def test_the_url_check_echoes_only_a_correctly_signed_request(endpoint):
    ok = await endpoint.get(PATH, params={**signed(), "echostr": "e-123"})
    assert (ok.status, await ok.text()) == (200, "e-123")
    forged = await endpoint.get(PATH, params={**signed(token="guess"), "echostr": "e-123"})
    assert forged.status == 403


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(signed(token="not-our-token"), id="bad signature"),
        pytest.param({}, id="no signature"),
        pytest.param(signed(timestamp=int(time.time()) - 3600), id="stale timestamp"),
    ],
)
async def test_an_unsigned_or_replayed_message_is_refused(endpoint, query):
    response = await endpoint.post(PATH, params=query, data=text_message("o-oa-1", "余额"))
    assert response.status == 403


async def test_an_encrypted_message_with_a_bad_msg_signature_is_refused(endpoint):
    query = signed()
    body = CRYPTO.encrypt_message(
        text_message("o-oa-1", "余额"), query["nonce"], query["timestamp"]
    )
    query |= {"encrypt_type": "aes", "msg_signature": "0" * 40}
    response = await endpoint.post(PATH, params=query, data=body.encode())
    assert response.status == 403


async def test_entity_expansion_is_refused_before_parsing(endpoint):
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><xml><Content>&b;</Content></xml>'
    )
    response = await endpoint.post(PATH, params=signed(), data=bomb.encode())
    assert response.status == 400


# --- commands ---------------------------------------------------------------------------------


async def two_members_in_line() -> tuple:
    """The seed's example with a lottery: member 1 was paid half, member 2 waits unpaid."""
    await use_base(
        extract_bp=6500,
        ratios=RatioSettings(default_bp=13000, lottery=Lottery(LotteryMode.FIXED, (15000,))),
        settle_on=SettleOn.COMPLETED,
    )
    product = await new_product("茶叶", 16800)
    first, second = await member(1), await member(2)
    clock, rng = Clock(), seeded()
    await buy(first.id, product.id, clock, rng)
    await buy(second.id, product.id, clock, rng)
    return first, second


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_each_command_is_answered(endpoint, encrypted):
    first, _ = await two_members_in_line()

    async def ask(openid: str, text: str) -> str | None:
        return await post(endpoint, text_message(openid, text), encrypted=encrypted)

    assert await ask("o-oa-1", "进度") == (
        "您有1个排队中的共享链权益：\n商城队列 第1位，已返109.20/218.40元"
    )
    assert await ask("o-oa-2", " 进度 ") == (
        "您有1个排队中的共享链权益：\n商城队列 第2位，已返0.00/218.40元"
    )
    assert await ask("o-oa-1", "余额") == "返现余额：109.20元\n积分：0\n爱心值：0"
    code = await ask("o-oa-1", "推广码")
    assert code is not None
    assert code.startswith(f"您的推广码：{first.referral_code}\n")
    assert "打开「好物商城」→ 我的 → 推广码" in code
    assert await ask("o-oa-1", "抽奖") == (
        "您目前没有可以抽奖的排队权益（抽奖须在收到返现之前进行）。"
    )
    assert await ask("o-oa-2", "抽奖") == "抽奖结果：奖励比例150%（原130%），待返权益252.00元。"
    assert await ask("o-oa-2", "抽奖") == (
        "您目前没有可以抽奖的排队权益（抽奖须在收到返现之前进行）。"
    )
    help_text = await ask("o-oa-1", "帮助")
    assert help_text is not None and help_text.startswith("您可以回复：\n进度 — 查看共享链排队进度")
    assert await ask("o-oa-1", "今天天气怎么样") == help_text  # unknown text gets the help


async def test_a_follower_not_linked_to_a_member_is_told_how_to_bind(endpoint, oa_fake):
    for command in ("进度", "余额"):
        assert await post(endpoint, text_message("o-oa-stranger", command)) == (
            "您还没有绑定会员。请用同一个微信打开「好物商城」登录一次，"
            "绑定后回复「帮助」即可查询共享链进度、余额和推广码。"
        )
    assert (await post(endpoint, text_message("o-oa-stranger", "帮助"))).startswith("您可以回复")
    follower = await OfficialAccountFollower.get(openid="o-oa-stranger")
    assert follower.unionid is None


async def test_following_links_the_member_by_unionid_and_unfollowing_stops_messages(
    endpoint, oa_fake, oa_wx
):
    m = await new_member("o-mini-7", unionid="u-7")
    oa_fake.unionids["o-oa-7"] = "u-7"
    welcome = await post(endpoint, event_message("o-oa-7", "subscribe"), encrypted=True)
    assert welcome is not None and welcome.startswith("欢迎关注！共享链的返现、抽奖等消息")
    follower = await OfficialAccountFollower.get(openid="o-oa-7")
    assert (follower.unionid, follower.following) == ("u-7", True)
    assert len(oa_wx.calls_to("/cgi-bin/user/info")) == 1  # asked once, not per message
    assert (
        await post(endpoint, text_message("o-oa-7", "余额"))
        == "返现余额：0.00元\n积分：0\n爱心值：0"
    )
    assert len(oa_wx.calls_to("/cgi-bin/user/info")) == 1
    assert await following_openid(m.id) == "o-oa-7"  # where the notifier writes to them

    assert await post(endpoint, event_message("o-oa-7", "unsubscribe")) is None
    assert not (await OfficialAccountFollower.get(openid="o-oa-7")).following
    assert await following_openid(m.id) is None


async def test_replies_say_the_custom_name_the_operator_set(endpoint):
    from services.settings.changes import change_settings

    await two_members_in_line()
    before = await post(endpoint, text_message("o-oa-1", "帮助"))
    assert before is not None and "查看共享链排队进度" in before  # [bot.names] until one is set
    await change_settings(
        {"display": {"rebate_name": "消费全返", "exchange_name": "换购"}},
        operator="ops",
        now=Clock().tick(),
    )
    assert await post(endpoint, text_message("o-oa-1", "进度")) == (
        "您有1个排队中的消费全返权益：\n商城队列 第1位，已返109.20/218.40元"
    )
    help_text = await post(endpoint, text_message("o-oa-1", "帮助"))
    assert help_text is not None and "查看消费全返排队进度" in help_text
    assert await post(endpoint, text_message("o-oa-stranger", "进度")) == (
        "您还没有绑定会员。请用同一个微信打开「好物商城」登录一次，"
        "绑定后回复「帮助」即可查询消费全返进度、余额和推广码。"
    )
    for reply in (help_text, await post(endpoint, event_message("o-oa-1", "subscribe"))):
        assert reply is not None and "共享链" not in reply and "排队返利" not in reply
