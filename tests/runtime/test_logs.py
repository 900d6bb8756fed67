"""Logs: the format and level the settings ask for, the request's context on every line, no
secrets, and APScheduler kept quiet."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from runtime import logs
from runtime.config import ConfigError, load_settings
from runtime.ops_settings import LoggingSettings

SECRETS_ENV = {
    "QR_DATABASE_URL": "postgres://app:db-password-123@db.internal:5432/rebate",
    "QR_REDIS_URL": "redis://:redis-password-9@cache:6379/0",
    "QR_ADMIN_TOKEN_SECRET": "admin-signing-secret",
    "QR_WECHAT_PAY_APIV3_KEY": "abcdef0123456789abcdef0123456789",
    "QR_METRICS_TOKEN": "metrics-token-0123456789",
    "QR_OA_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    scheduler_level = logging.getLogger("apscheduler").level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        logging.getLogger("apscheduler").setLevel(scheduler_level)


def configured(settings: LoggingSettings, secrets: set[str] | None = None) -> io.StringIO:
    out = io.StringIO()
    logs.configure(settings, secrets or set(), stream=out)
    return out


def test_every_configured_secret_is_found_and_a_url_gives_only_its_password() -> None:
    found = logs.secret_values(load_settings(None, SECRETS_ENV))
    assert found == {
        "db-password-123",
        "redis-password-9",
        "admin-signing-secret",
        "abcdef0123456789abcdef0123456789",
        "metrics-token-0123456789",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    }


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_never_reach_a_log_line(fmt: str, restore_logging: None) -> None:
    settings = load_settings(None, SECRETS_ENV)
    out = configured(LoggingSettings(format=fmt), logs.secret_values(settings))  # type: ignore[arg-type]
    log = logging.getLogger("tests.leaky")
    log.warning("connecting to %s", SECRETS_ENV["QR_DATABASE_URL"])
    log.warning("signing with %s", settings.auth.admin_token_secret)
    log.warning(
        "called WeChat Pay",
        extra={"authorization": "WECHATPAY2-SHA256-RSA2048 mchid=1", "api_key": "k" * 32},
    )
    try:
        raise ValueError(f"bad key {settings.wechat_pay.apiv3_key}")
    except ValueError:
        log.exception("refund decryption failed")
    text = out.getvalue()
    for secret in logs.secret_values(settings) | {"k" * 32, "WECHATPAY2-SHA256"}:
        assert secret not in text
    assert "postgres://app:***@db.internal:5432/rebate" in text
    assert text.count("***") >= 5
    if fmt == "json":
        lines = [json.loads(line) for line in text.splitlines()]
        assert [line["level"] for line in lines] == ["warning"] * 3 + ["error"]
        assert "ValueError: bad key ***" in lines[-1]["exception"]


def test_context_is_on_every_line_until_reset(restore_logging: None) -> None:
    out = configured(LoggingSettings(format="json"))
    log = logging.getLogger("tests.context")
    token = logs.bind(request_id="req-0001")
    log.info("first")
    logs.bind(operator="ops@example", member_id=42)
    log.info("second")
    logs.reset(token)
    log.info("after")
    first, second, after = [json.loads(line) for line in out.getvalue().splitlines()]
    assert first["request_id"] == "req-0001" and "operator" not in first
    assert (second["request_id"], second["operator"], second["member_id"]) == (
        "req-0001",
        "ops@example",
        42,
    )
    assert not {"request_id", "operator", "member_id"} & after.keys()
    with pytest.raises(ValueError, match="password"):
        logs.bind(password="x")


def test_level_from_the_settings_and_apscheduler_at_warning(restore_logging: None) -> None:
    out = configured(LoggingSettings(level="WARNING", format="text"))
    logging.getLogger("tests.level").info("not shown")
    logging.getLogger("tests.level").warning("shown")
    assert "not shown" not in out.getvalue() and "shown" in out.getvalue()

    out = configured(LoggingSettings(level="INFO"))
    scheduler = logging.getLogger("apscheduler.executors.default")
    scheduler.info('Running job "run_due_jobs (trigger: interval[0:01:00])"')
    scheduler.warning("Run time of job was missed")
    assert "Running job" not in out.getvalue()
    assert "was missed" in out.getvalue()

    out = configured(LoggingSettings(level="DEBUG"))
    scheduler.info("Running job while debugging")
    assert "Running job while debugging" in out.getvalue()


def test_logging_settings_from_the_file_and_the_environment(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[logging]\nlevel = "WARNING"\nformat = "json"\n', encoding="utf-8")
    settings = load_settings(str(path), {})
    assert (settings.logging.level, settings.logging.format) == ("WARNING", "json")
    settings = load_settings(str(path), {"QR_LOG_LEVEL": "debug", "QR_LOG_FORMAT": "text"})
    assert (settings.logging.level_number, settings.logging.format) == (logging.DEBUG, "text")
    with pytest.raises(ConfigError, match="QR_LOG_FORMAT: expected 'text' or 'json', got 'xml'"):
        load_settings(None, {"QR_LOG_FORMAT": "xml"})
    path.write_text('[logging]\nlevel = "LOUD"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"logging\.level: expected one of DEBUG"):
        load_settings(str(path), {})
    with pytest.raises(ConfigError, match="QR_METRICS_TOKEN: must be at least 16"):
        load_settings(None, {"QR_METRICS_TOKEN": "short"})
