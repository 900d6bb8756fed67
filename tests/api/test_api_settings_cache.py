"""The server's settings cache (services.settings.cache) behind the operators' API: on PostgreSQL
the app listens (``server.app.listen_ctx``) and hears a change another process commits; on
SQLite there is nothing to listen to and the process's own changes are seen at once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from rebate.settings import BaseSettings
from runtime.listen import connect_params
from services.settings.cache import BASE, SETTINGS
from services.settings.codec import to_doc
from tests.api.conftest import Api, bearer
from web.keys import LISTEN


async def extract_bp(api: Api) -> int:
    response = await api.client.get("/api/admin/settings", headers=bearer(api.admin_token()))
    assert response.status == 200
    return int((await response.json())["base"]["extract_bp"])


async def change_from_another_process(db_url: str, value: int, *, commit: bool) -> None:
    """What another server process's ``changing(BASE)`` does, on a connection of its own."""
    conn = await asyncpg.connect(**connect_params(db_url))
    try:
        tx = conn.transaction()
        await tx.start()
        doc = to_doc(BaseSettings(extract_bp=value))
        await conn.execute(
            "INSERT INTO rebate_config (id, base, updated_at) VALUES (1, $1::jsonb, now())"
            " ON CONFLICT (id) DO UPDATE SET base = excluded.base",
            json.dumps(doc),
        )
        await conn.execute("SELECT pg_notify('qr_settings', 'base')")
        await (tx.commit() if commit else tx.rollback())
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_the_server_hears_a_change_committed_by_another_process(api: Api) -> None:
    hub = api.app[LISTEN]
    assert hub is not None and hub.listening
    assert await extract_bp(api) == 1000  # the default …
    assert BASE in SETTINGS  # … now served from memory
    await change_from_another_process(api.db_url, 1500, commit=False)
    await asyncio.sleep(0.2)
    assert await extract_bp(api) == 1000
    await change_from_another_process(api.db_url, 2500, commit=True)
    start = time.monotonic()
    while await extract_bp(api) != 2500:
        assert time.monotonic() - start < 2.0
        await asyncio.sleep(0.01)


async def test_sqlite_needs_no_listener_and_sees_its_own_changes_at_once(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api("sqlite", redis=False)
    assert api.app[LISTEN] is None
    assert await extract_bp(api) == 1000
    admin = bearer(api.admin_token())
    response = await api.client.put(
        "/api/admin/settings", json={"base": {"extract_bp": 3000}}, headers=admin
    )
    assert response.status == 200, await response.text()
    assert await extract_bp(api) == 3000


@pytest.mark.postgres
async def test_the_custom_names_are_cached_and_follow_a_change(api: Api) -> None:
    from services.members.views import load_display
    from services.settings.cache import DISPLAY

    admin = bearer(api.admin_token())
    names = {"display": {"rebate_name": "消费全返"}}
    response = await api.client.put("/api/admin/settings", json=names, headers=admin)
    assert response.status == 200, await response.text()
    assert (await load_display()).rebate_name == "消费全返"
    assert DISPLAY in SETTINGS  # read once, then from memory like every setting
    names = {"display": {"rebate_name": "排队免单"}}
    response = await api.client.put("/api/admin/settings", json=names, headers=admin)
    assert response.status == 200, await response.text()
    assert (await load_display()).rebate_name == "排队免单"
