"""``queue-rebate serve`` / ``notifier`` as an operator meets them (issue 20 items 1 and 2):
``--host`` / ``--port`` / ``--role`` and their environment variables, the health endpoints of
every role, the deployment knobs of the settings file, PostgreSQL URLs as operators write them,
and one line on stderr (exit 2, no traceback) for every way a start can fail."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runtime.config import ConfigError, Settings, load_settings
from runtime.db import asyncpg_credentials, postgres_ssl
from runtime.ops_settings import MetricsSettings
from runtime.ratelimit import Limit
from server.app import create_app, create_notifier_app
from server.cli import main
from web.options import ApiOptions

SECRET = "s" * 32

METRICS_TOKEN = "metrics-token-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("serve") / "migrated.sqlite3"
    assert main(["migrate", "--db", f"sqlite://{path}"]) == 0
    return path


@pytest.fixture
def migrated(tmp_path: Path, migrated_template: Path) -> str:
    """A migrated SQLite database of this test's own."""
    path = tmp_path / "serve.sqlite3"
    shutil.copyfile(migrated_template, path)
    return f"sqlite://{path}"


# --- settings -------------------------------------------------------------------------------


def test_postgresql_urls_and_their_tls_modes_are_accepted() -> None:
    url = "postgresql://app:pw@db.internal:6432/mall?sslmode=require&timeout=10"
    settings = load_settings(None, {"QR_DATABASE_URL": url})
    assert settings.database.url == url
    credentials = asyncpg_credentials(url)["credentials"]
    assert credentials["ssl"] == "require"  # asyncpg's ssl argument, not a stray sslmode
    assert "sslmode" not in credentials
    assert (credentials["host"], credentials["port"], credentials["timeout"]) == (
        "db.internal",
        6432,
        10,
    )
    assert postgres_ssl("postgres://h/db?ssl=true") == "require"
    assert postgres_ssl("postgres://h/db?ssl=false") == "disable"
    assert postgres_ssl("postgres://h/db?sslmode=verify-full") == "verify-full"
    assert postgres_ssl("postgres://h/db") is None
    assert "ssl" not in asyncpg_credentials("postgres://h/db")["credentials"]


def test_an_unknown_tls_mode_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="QR_DATABASE_URL: sslmode='on' is not a TLS mode"):
        load_settings(None, {"QR_DATABASE_URL": "postgresql://h/db?sslmode=on"})


def test_host_and_port_come_from_the_environment() -> None:
    settings = load_settings(None, {"QR_HOST": "0.0.0.0", "QR_PORT": "8081"})
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 8081)
    with pytest.raises(ConfigError, match="QR_PORT: 'eighty' is not an integer"):
        load_settings(None, {"QR_PORT": "eighty"})


def test_deployment_knobs_of_the_settings_file_reach_the_app(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "[server]\ntrusted_proxies = ['10.0.0.0/8', '127.0.0.1']\n"
        "[auth]\nmember_token_ttl = 3600\nadmin_token_ttl = 600\n"
        "[rate_limits]\nlogin_per_ip = { count = 300, window = 60 }\n"
        "[wechat_pay]\nrefund_notify_url = 'https://mall.example/api/pay/notify/v3/refund'\n",
        encoding="utf-8",
    )
    options = ApiOptions.from_settings(load_settings(str(config), {}), role="api")
    assert options.trusts("10.1.2.3") and options.trusts("127.0.0.1")
    assert not options.trusts("192.168.1.1")
    assert (options.member_token_ttl, options.admin_token_ttl) == (3600, 600)
    assert options.rate_limits.login_per_ip == Limit(300, 60)
    assert options.rate_limits.order_per_ip == Limit(60, 60)  # the default stays
    assert options.refund_notify_url == "https://mall.example/api/pay/notify/v3/refund"
    assert (options.serve_api, options.run_writer, options.run_scheduler) == (True, False, False)


def test_a_trusted_proxy_that_is_not_an_address_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[server]\ntrusted_proxies = ['nginx']\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"server.trusted_proxies\[0\]: 'nginx' is not an IP"):
        load_settings(str(config), {})


# --- roles ----------------------------------------------------------------------------------


async def get(client: TestClient, path: str) -> tuple[int, object]:
    response = await client.get(path)
    body = await response.json() if response.content_type == "application/json" else None
    return response.status, body


@pytest.mark.parametrize("role", ["writer", "scheduler"])
async def test_a_worker_role_serves_health_and_metrics_only(migrated: str, role: str) -> None:
    settings = Settings(metrics=MetricsSettings(token=METRICS_TOKEN)).with_database_url(migrated)
    app = create_app(settings, options=ApiOptions.from_settings(settings, role=role))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert await get(client, "/healthz") == (200, {"status": "ok", "checks": {}})
        assert await get(client, "/readyz") == (
            200,
            {"status": "ok", "checks": {"database": "ok", "migrations": "ok", role: "ok"}},
        )
        assert (await client.get("/metrics")).status == 401  # behind its token
        scrape = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert scrape.status == 200
        assert (await client.get("/api/products")).status == 404
        assert (await client.get("/api/openapi.json")).status == 404


async def test_the_api_role_runs_no_writer_and_no_scheduler(migrated: str) -> None:
    settings = Settings().with_database_url(migrated)
    app = create_app(settings, options=ApiOptions.from_settings(settings, role="api"))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        status, body = await get(client, "/readyz")
        assert (status, body) == (
            200,
            {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}},
        )
        assert (await client.get("/api/products")).status == 200


async def test_readyz_names_a_stopped_writer(migrated: str) -> None:
    from web.keys import WRITER

    settings = Settings().with_database_url(migrated)
    app = create_app(settings, options=ApiOptions.from_settings(settings, role="all"))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        writer = app[WRITER]
        assert writer is not None
        await writer.stop()
        status, body = await get(client, "/readyz")
        assert status == 503
        assert body == {
            "status": "unavailable",
            "checks": {
                "database": "ok",
                "migrations": "ok",
                "writer": "stopped",
                "scheduler": "ok",
            },
        }


async def test_the_notifier_answers_health_and_readiness(migrated: str) -> None:
    app = create_notifier_app(Settings().with_database_url(migrated))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert await get(client, "/readyz") == (
            200,
            {"status": "ok", "checks": {"database": "ok", "migrations": "ok", "notifier": "ok"}},
        )
        assert (await client.get("/api/products")).status == 404


# --- real processes -------------------------------------------------------------------------


def command(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


async def wait_answering(url: str, proc: subprocess.Popen[str]) -> dict[str, object]:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            assert proc.poll() is None, proc.communicate()[1]
            try:
                async with http.get(url) as response:
                    return dict(await response.json())
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # waits, and closes its pipes


async def test_serve_listens_on_the_host_and_port_given_and_stops_on_sigterm(
    migrated: str, processes: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    proc = command(
        "serve", "--db", migrated, "--host", "127.0.0.1", "--port", str(port), "--role", "api"
    )
    processes.append(proc)
    ready = await wait_answering(f"http://127.0.0.1:{port}/readyz", proc)
    assert ready == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


async def test_serve_takes_its_port_and_role_from_the_environment(
    migrated: str, processes: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    proc = command("serve", "--db", migrated, env={"QR_PORT": str(port), "QR_ROLE": "writer"})
    processes.append(proc)
    ready = await wait_answering(f"http://127.0.0.1:{port}/readyz", proc)
    assert ready["checks"] == {"database": "ok", "migrations": "ok", "writer": "ok"}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


async def test_the_notifier_command_answers_on_its_health_port(
    migrated: str, processes: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    proc = command("notifier", "--db", migrated, "--health-port", str(port))
    processes.append(proc)
    ready = await wait_answering(f"http://127.0.0.1:{port}/readyz", proc)
    assert ready["checks"] == {"database": "ok", "migrations": "ok", "notifier": "ok"}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


# --- one line for every failure to start ----------------------------------------------------


def pem_key(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def pay_config(tmp_path: Path, **keys: str) -> Path:
    """A v3 WeChat Pay configuration; ``keys`` override its key file paths."""
    private = keys.get("private_key_path") or str(pem_key(tmp_path / "apiclient_key.pem"))
    platform = keys.get("platform_cert_path") or str(pem_key(tmp_path / "platform.pem"))
    config = tmp_path / "pay.toml"
    config.write_text(
        "[wechat]\nappid = 'wx0000000000000001'\n"
        "[wechat_pay]\nmchid = '1900000109'\napiv3_key = 'abcdef0123456789abcdef0123456789'\n"
        f"cert_serial_no = 'ABC'\nprivate_key_path = '{private}'\n"
        f"platform_cert_path = '{platform}'\nplatform_public_key_id = 'PUB_KEY_ID_1'\n",
        encoding="utf-8",
    )
    return config


def fails_to_start(*argv: str, env: dict[str, str] | None = None) -> str:
    """Run ``serve`` expecting exit 2 with one line on stderr; returns that line."""
    secrets = {"QR_ADMIN_TOKEN_SECRET": SECRET, "QR_MEMBER_TOKEN_SECRET": SECRET}
    proc = command("serve", "--port", str(free_port()), *argv, env={**secrets, **(env or {})})
    try:
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("queue-rebate serve: error: ")
    return lines[0]


def test_a_bad_config_file_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nport = 'eighty'\n", encoding="utf-8")
    assert "server.port: expected an integer" in fails_to_start("--config", str(config))


def test_a_missing_key_file_is_one_line(tmp_path: Path, migrated: str) -> None:
    config = pay_config(tmp_path, private_key_path=str(tmp_path / "nowhere.pem"))
    line = fails_to_start("--config", str(config), "--db", migrated)
    assert f"private_key_path: cannot read {tmp_path / 'nowhere.pem'}" in line


def test_an_unreadable_key_file_is_one_line(tmp_path: Path, migrated: str) -> None:
    (tmp_path / "a-directory.pem").mkdir()
    config = pay_config(tmp_path, platform_cert_path=str(tmp_path / "a-directory.pem"))
    line = fails_to_start("--config", str(config), "--db", migrated)
    assert "platform_cert_path: cannot read" in line


def test_an_invalid_key_file_is_one_line(tmp_path: Path, migrated: str) -> None:
    (tmp_path / "garbage.pem").write_text("not a key\n", encoding="utf-8")
    config = pay_config(tmp_path, private_key_path=str(tmp_path / "garbage.pem"))
    line = fails_to_start("--config", str(config), "--db", migrated)
    assert "private_key_path:" in line and "not an RSA private key" in line


def test_an_unreachable_database_is_one_line_naming_the_cause() -> None:
    line = fails_to_start("--db", "postgresql://postgres@127.0.0.1:1/test")
    assert "cannot open database" in line and "Connect call failed" in line


def test_a_tls_failure_is_named_instead_of_asking_to_start_postgresql() -> None:
    url = os.environ.get("QR_TEST_PG", "postgres://postgres@127.0.0.1:5432/test")
    line = fails_to_start("--db", f"{url}?sslmode=verify-full")
    assert "TLS" in line
    assert "pg_ctlcluster" not in line


def test_an_unreachable_redis_is_one_line(migrated: str) -> None:
    line = fails_to_start("--db", migrated, env={"QR_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert "cannot reach Redis redis://127.0.0.1:1/0" in line


def test_short_token_secrets_with_wechat_pay_refuse_to_start(tmp_path: Path, migrated: str) -> None:
    config = pay_config(tmp_path)
    line = fails_to_start(
        "--config", str(config), "--db", migrated, env={"QR_MEMBER_TOKEN_SECRET": "short"}
    )
    assert "[auth] member_token_secret: empty or shorter than 32 characters" in line


def test_a_port_taken_is_one_line(migrated: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = command("serve", "--db", migrated, "--port", str(port))
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2  # after the start-up log lines, the error is the last one
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"queue-rebate serve: error: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in err
