"""POST /api/login: a wx.login code (and maybe a referral code) for a member token.

The code is exchanged with WeChat (code2session) for the openid; the session_key that comes
with it is never returned, stored or logged. The member is found by openid or created, and a
referral code binds the referrer under SPEC §8's rules — a refused binding is logged and does
not fail the login.
"""

from __future__ import annotations

from aiohttp import web

from services.distribution.referral import member_arrives
from web.common import client_ip, member_json
from web.errors import ApiError
from web.keys import LIMITER, OPTIONS, SETTINGS, TOKENS, WECHAT
from web.ratelimit import enforce
from web.registry import BODY, Registry, Reply
from web.schemas import LOGIN_BODY, LOGIN_REPLY

routes = Registry()


@routes.post(
    "/api/login",
    summary="小程序登录：用 wx.login 的 code 换会员令牌",
    tags=("member",),
    body=LOGIN_BODY,
    body_example={"code": "0a3Xk1ll2pQ9rT1bC71ll2pQ9r", "referral_code": "K7P2Q9"},
    rate_limited=True,
    responses={
        200: Reply("登录成功", LOGIN_REPLY),
        400: Reply("登录凭证无效或已使用 (40029)"),
        403: Reply("微信判定该账号存在风险 (40226)"),
        429: Reply("登录过于频繁（本服务或微信 45011）"),
        503: Reply("微信服务繁忙或不可达 (-1)，或小程序登录未配置"),
    },
)
async def login(request: web.Request) -> web.Response:
    app = request.app
    if not app[SETTINGS].wechat.appid:
        raise ApiError(503, "login_unavailable", "小程序登录暂未开通")
    limits = app[OPTIONS].rate_limits
    await enforce(app[LIMITER], "login:ip", client_ip(request), limits.login_per_ip)
    body = request[BODY]
    session = await app[WECHAT].mini.code2session(body["code"])
    await enforce(app[LIMITER], "login:member", session.openid, limits.login_per_member)
    arrival = await member_arrives(
        session.openid, unionid=session.unionid, referral_code=body.get("referral_code")
    )
    return web.json_response(
        {
            "token": app[TOKENS].issue_member(arrival.member.id),
            "expires_in": app[OPTIONS].member_token_ttl,
            "member": await member_json(arrival.member),
            "new_member": arrival.created,
        }
    )
