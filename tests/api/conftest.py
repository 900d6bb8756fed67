"""The member API under test: the real app (``create_app``) against real PostgreSQL (a fresh
database per test, from ``tests/conftest.py``) or SQLite, real Redis (a key prefix per test,
deleted afterwards), and the fake WeChat served by a real local aiohttp server on 127.0.0.1.

Set ``QR_TEST_REDIS`` to use another Redis (default: redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from prometheus_client import REGISTRY, generate_latest
from tortoise.backends.base.executor import EXECUTOR_CACHE

from runtime.config import (
    AuthSettings,
    DatabaseSettings,
    RedisSettings,
    ServerSettings,
    Settings,
    WechatPaySettings,
    WechatSettings,
)
from runtime.ops_settings import MetricsSettings
from server.app import create_app
from tests import prom
from tests.conftest import REDIS_URL, create_pg_database, drop_pg_database, pg_url
from web.keys import TOKENS, WRITER
from web.options import ApiOptions
from wechat_fake.server import create_fake_wechat
from wechat_fake.state import FakeWeChatState

APPID = "wxapitest00000001"
SECRET = "api-test-app-secret"
MCHID = "1900000109"
API_KEY = "0123456789abcdef0123456789abcdef"
APIV3_KEY = "abcdef0123456789abcdef0123456789"
MERCHANT_SERIAL = "3775B6A45ACD588826D15E583A95F5DD00000000"
PLATFORM_SERIAL = "PUB_KEY_ID_0114232806592025060600000000000000"
NOTIFY_URL = "http://127.0.0.1:9/api/wechat-pay/notify"
MAX_BODY = 4096
TEST_PROXIES = ("127.0.0.1", "::1")  # the test client's peer: its X-Forwarded-For is believed
METRICS_TOKEN = "metrics-token-for-tests"


@dataclass(frozen=True)
class Keys:
    merchant: RSAPrivateKey
    platform: RSAPrivateKey
    merchant_pem: Path
    platform_pem: Path


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("wechat-keys")
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    merchant_pem = directory / "apiclient_key.pem"
    merchant_pem.write_bytes(
        merchant.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    platform_pem = directory / "pub_key.pem"
    platform_pem.write_bytes(
        platform.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return Keys(merchant, platform, merchant_pem, platform_pem)


@pytest.fixture
def wx(keys: Keys) -> FakeWeChatState:
    """What the fake WeChat knows; tests register login codes and flip error switches."""
    return FakeWeChatState(
        appid=APPID,
        secret=SECRET,
        mch_id=MCHID,
        api_key=API_KEY,
        apiv3_key=APIV3_KEY.encode("ascii"),
        merchant_public_key=keys.merchant.public_key(),
        merchant_serial=MERCHANT_SERIAL,
        platform_private_key=keys.platform,
        platform_serial=PLATFORM_SERIAL,
    )


@pytest.fixture
async def fake_wechat(aiohttp_server: Any, wx: FakeWeChatState) -> TestServer:
    server: TestServer = await aiohttp_server(create_fake_wechat(wx), host="127.0.0.1")
    return server


@pytest.fixture
def redis_prefix(key_prefix: str) -> str:
    """The app's ``redis_prefix``: this test's own (``tests.conftest.key_prefix``)."""
    return key_prefix


@pytest.fixture
def make_settings(fake_wechat: TestServer, keys: Keys) -> Callable[..., Settings]:
    base = str(fake_wechat.make_url("")).rstrip("/")

    def build(
        db_url: str, *, redis: bool | str = True, api_version: str = "v3", pay: bool = True
    ) -> Settings:
        """``redis``: True for the test Redis, False for none, or a URL."""
        EXECUTOR_CACHE.clear()  # statements compiled for one backend must not leak to another
        redis_url = redis if isinstance(redis, str) else (REDIS_URL if redis else "")
        return Settings(
            database=DatabaseSettings(url=db_url),
            redis=RedisSettings(url=redis_url),
            server=ServerSettings(max_body_bytes=MAX_BODY),
            wechat=WechatSettings(appid=APPID, app_secret=SECRET, api_base_url=base),
            wechat_pay=WechatPaySettings(
                api_version=api_version,  # type: ignore[arg-type]
                mchid=MCHID if pay else "",
                api_key=API_KEY,
                apiv3_key=APIV3_KEY,
                private_key_path=str(keys.merchant_pem),
                cert_serial_no=MERCHANT_SERIAL,
                platform_cert_path=str(keys.platform_pem),
                platform_public_key_id=PLATFORM_SERIAL,
                api_base_url=base,
                notify_url=NOTIFY_URL,
            ),
            auth=AuthSettings(
                admin_token_secret="admin-secret-for-tests", member_token_secret="member-secret"
            ),
            metrics=MetricsSettings(token=METRICS_TOKEN),
        )

    return build


@dataclass
class Api:
    """A running app, its client and the fake WeChat behind it."""

    client: TestClient
    wx: FakeWeChatState
    db_url: str

    @property
    def app(self) -> Any:
        return self.client.app

    async def login(
        self, openid: str | None = None, *, referral_code: str | None = None, ip: str | None = None
    ) -> dict[str, Any]:
        """Log in as ``openid`` (a fresh one by default); returns the JSON answer."""
        code = f"code-{uuid.uuid4().hex[:10]}"
        self.wx.register_code(code, openid or f"o{uuid.uuid4().hex[:20]}")
        body: dict[str, Any] = {"code": code}
        if referral_code is not None:
            body["referral_code"] = referral_code
        headers = {"X-Forwarded-For": ip} if ip else None
        response = await self.client.post("/api/login", json=body, headers=headers)
        assert response.status == 200, await response.text()
        data: dict[str, Any] = await response.json()
        return data

    async def member_token(self, openid: str | None = None) -> str:
        return str((await self.login(openid))["token"])

    def admin_token(self) -> str:
        return str(self.app[TOKENS].issue_admin("ops@test"))

    async def settled(self) -> None:
        """Wait for the app's writer loop to apply every pending settlement (an app started
        with ``run_writer=True``; without a loop, settlement events apply their own)."""
        loop = self.app[WRITER]
        if loop is not None:
            await loop.settled()


@dataclass
class MetricsAtStart:
    """The process's metrics as the running test started (metrics count across tests: a test
    compares against these, ``tests.prom.delta``)."""

    samples: prom.Samples = field(default_factory=dict)


METRICS_AT_START = MetricsAtStart()


@pytest.fixture(autouse=True)
def metrics_at_start() -> None:
    METRICS_AT_START.samples = prom.parse(generate_latest(REGISTRY).decode())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def shared_pg(pg_template: str) -> Iterator[str]:
    """One PostgreSQL database for the API tests, emptied before each test that uses it:
    ``TRUNCATE`` is far cheaper than ``CREATE``/``DROP DATABASE`` (each writes the whole
    template or checkpoints), which dominated the suite's time on a busy machine."""
    name = asyncio.run(create_pg_database(pg_template))
    yield name
    asyncio.run(drop_pg_database(name))


async def empty_pg(name: str) -> None:
    conn = await asyncpg.connect(pg_url(name).replace("postgres://", "postgresql://", 1))
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        names = ", ".join(f'"{row["tablename"]}"' for row in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def make_api(
    wx: FakeWeChatState,
    make_settings: Callable[..., Settings],
    redis_prefix: str,
    pg_template: str,
    shared_pg: str,
    sqlite_template: Path,
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Any]]:
    """``await make_api("postgres" | "sqlite", ...)``: a running app on an empty database of
    that backend. PostgreSQL is the shared, truncated database; ``own_database=True`` gives a
    fresh one (for tests that break it). Teardown closes every app before dropping a database
    (were the database a separate fixture, pytest could drop it while the app's pool is open)."""
    clients: list[TestClient] = []
    pg_names: list[str] = []
    emptied = False

    async def start(
        backend: str,
        *,
        redis: bool | str = True,
        api_version: str = "v3",
        pay: bool = True,
        own_database: bool = False,
        edit_settings: Callable[[Settings], Settings] | None = None,
        **options: Any,
    ) -> Api:
        nonlocal emptied
        if backend == "postgres" and own_database:
            pg_names.append(await create_pg_database(pg_template))
            db_url = pg_url(pg_names[-1])
        elif backend == "postgres":
            if not emptied:  # two apps of one test share the database, as two processes do
                await empty_pg(shared_pg)
                emptied = True
            db_url = pg_url(shared_pg)
        else:
            path = tmp_path / f"api{len(clients)}.sqlite3"
            shutil.copyfile(sqlite_template, path)
            db_url = f"sqlite://{path}"
        settings = make_settings(db_url, redis=redis, api_version=api_version, pay=pay)
        if edit_settings is not None:
            settings = edit_settings(settings)
        options.setdefault("run_writer", False)  # most tests assert settlement right after it
        options.setdefault("trusted_proxies", TEST_PROXIES)  # tests name clients by the header
        # the templates' schema is generated, not migrated: /readyz would say "pending"
        options.setdefault("check_migrations", False)
        opts = ApiOptions(redis_prefix=redis_prefix, **options)
        client = TestClient(TestServer(create_app(settings, options=opts), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return Api(client, wx, db_url=db_url)

    yield start
    for client in reversed(clients):
        await client.close()
    for name in pg_names:
        await drop_pg_database(name)


@pytest.fixture
async def api(make_api: Callable[..., Any]) -> Api:
    """The app on a fresh PostgreSQL database with Redis and pay v3."""
    started: Api = await make_api("postgres")
    return started
