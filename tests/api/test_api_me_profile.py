"""``PATCH /api/me``: a member edits their nickname and avatar and gets ``GET /api/me``'s answer
back; every bad value is a 400 naming its field, with nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise import connections

from runtime.sql import fetch
from tests.api.conftest import Api, bearer


async def patch(api: Api, token: str, body: Any) -> tuple[int, Any]:
    response = await api.client.patch("/api/me", json=body, headers=bearer(token))
    return response.status, await response.json()


async def members() -> list[dict[str, Any]]:
    return await fetch(connections.get("default"), "SELECT * FROM member ORDER BY id")


async def test_a_member_edits_their_profile(api: Api) -> None:
    token = await api.member_token()
    other = await api.member_token()
    before = await (await api.client.get("/api/me", headers=bearer(token))).json()

    status, body = await patch(
        api, token, {"nickname": "  茶友小王 ", "avatar_url": "https://img.example/a.png"}
    )
    assert status == 200, body
    assert set(body) == set(before) == {"member", "wallet"}
    assert body["wallet"] == before["wallet"]
    assert body["member"] == {
        **before["member"],
        "nickname": "茶友小王",
        "avatar_url": "https://img.example/a.png",
    }
    again = await (await api.client.get("/api/me", headers=bearer(token))).json()
    assert again == body

    status, body = await patch(api, token, {"avatar_url": ""})  # only what is given changes
    assert status == 200
    assert body["member"]["nickname"] == "茶友小王" and body["member"]["avatar_url"] == ""
    assert (await (await api.client.get("/api/me", headers=bearer(other))).json())["member"][
        "nickname"
    ] == ""
    assert (await api.client.patch("/api/me", json={"nickname": "x"})).status == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"nickname": ""}, "nickname"),
        ({"nickname": "   "}, "nickname"),
        ({"nickname": "长" * 33}, "nickname"),
        ({"nickname": "a\u0000b"}, "nickname"),
        ({"nickname": "a\nb"}, "nickname"),
        ({"nickname": 7}, "nickname"),
        ({"nickname": None}, "nickname"),
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"avatar_url": "https://a/\u0000.png"}, "avatar_url"),
        ({"avatar_url": "https://a/b c.png"}, "avatar_url"),
        ({"avatar_url": "https://a/" + "x" * 510}, "avatar_url"),
        ({"nickname": "好", "avatar_url": "ftp://a/b.png"}, "avatar_url"),
        ({"level": 9}, "level"),
        ({"referral_code": "ABCDEFGH"}, "referral_code"),
        ({}, "nickname"),
    ],
)
async def test_a_bad_profile_is_refused_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    token = await api.member_token()
    assert (await patch(api, token, {"nickname": "原来的"}))[0] == 200
    before = await members()
    status, reply = await patch(api, token, body)
    assert status == 400, reply
    assert reply["field"] == field and reply["message"]
    assert await members() == before
