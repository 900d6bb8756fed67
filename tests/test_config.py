"""Settings: defaults, the TOML file, environment overrides, and the errors an operator sees."""

import dataclasses
import re
import tomllib
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest

from rebate.settings import BaseSettings, LotteryMode, RandomReturn, SettleOn, Tier
from runtime.config import ConfigError, Settings, load_settings, redact_url
from runtime.db import DEFAULT_DB_URL

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
# An optional example in config.example.toml: "#key = …" or "#[table]", no space after the "#".
OPTIONAL_LINE = re.compile(r"^#(?=\[[a-z_.]+\]|[a-z_]+ = )")


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def config_error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), env or {})
    return str(info.value)


def uncommented_example() -> str:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    return "\n".join(OPTIONAL_LINE.sub("", line) for line in lines) + "\n"


def dataclass_of(tp: Any) -> Any:
    """The dataclass inside ``tp`` (``X`` or ``X | None``), or None."""
    if get_origin(tp) in (Union, types.UnionType):
        inner = [a for a in get_args(tp) if dataclasses.is_dataclass(a)]
        return inner[0] if inner else None
    return tp if dataclasses.is_dataclass(tp) else None


def missing_keys(cls: Any, doc: dict[str, Any], path: str = "") -> list[str]:
    missing = []
    for name, tp in get_type_hints(cls).items():
        key = f"{path}{name}"
        if name not in doc:
            missing.append(key)
        elif nested := dataclass_of(tp):
            missing += missing_keys(nested, doc[name], f"{key}.")
    return missing


def test_defaults_without_a_file() -> None:
    settings = load_settings(None, {})
    assert settings == Settings()
    assert settings.database.url == DEFAULT_DB_URL
    assert settings.redis.url == ""
    assert settings.wechat.api_base_url == "https://api.weixin.qq.com"
    assert settings.wechat_pay.api_base_url == "https://api.mch.weixin.qq.com"
    assert settings.scheduler.timezone == "Asia/Shanghai"
    assert settings.rebate == BaseSettings()
    assert settings.rebate.settle_on is SettleOn.COMPLETED


def test_example_file_states_the_defaults() -> None:
    """Copying config.example.toml to config.toml changes nothing."""
    assert load_settings(str(EXAMPLE), {}) == Settings()


def test_example_file_documents_every_key() -> None:
    doc = tomllib.loads(uncommented_example())
    assert missing_keys(Settings, doc) == []
    text = EXAMPLE.read_text(encoding="utf-8")
    for f in dataclasses.fields(Tier):  # array elements are described in the comment
        assert f.name in text


def test_example_file_optional_examples_are_valid(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, uncommented_example()), {})
    assert settings.rebate.random_return == RandomReturn(cash_places=1, points_places=2)
    assert settings.rebate.ratios.lottery is not None
    assert settings.rebate.ratios.lottery.mode is LotteryMode.FIXED


def test_example_file_comments_every_key() -> None:
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if re.match(r"#?[a-z_]+ = ", line):
            assert "  # " in line, f"undocumented key: {line}"


def test_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[server]
port = 9001

[rebate]
settle_on = "paid"
extract_bp = 6500

[rebate.ratios]
level_bp = { 1 = 12000, 2 = 13000 }
tiers = [{ days = 30, min_amount_fen = 200000, ratio_bp = 5000 }]

[rebate.random_return]
cash_places = 1
points_places = 2
""",
    )
    settings = load_settings(path, {})
    assert settings.server.port == 9001
    assert settings.server.host == "127.0.0.1"
    assert settings.rebate.settle_on is SettleOn.PAID
    assert settings.rebate.extract_bp == 6500
    assert settings.rebate.mall_queue_unified is True
    assert settings.rebate.ratios.level_bp == {1: 12000, 2: 13000}
    assert settings.rebate.ratios.tiers == (Tier(days=30, min_amount_fen=200000, ratio_bp=5000),)
    assert settings.rebate.ratios.default_bp == 10_000  # kept from the default ratios
    assert settings.rebate.random_return == RandomReturn(cash_places=1, points_places=2)
    assert settings.database == Settings().database


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[database]\nurl = "sqlite://from-file.sqlite3"\n[wechat]\napp_secret = "file-secret"\n',
    )
    env = {
        "QR_DATABASE_URL": "postgres://app:pw@db.internal:5432/rebate",
        "QR_REDIS_URL": "redis://127.0.0.1:6379/1",
        "QR_WECHAT_APP_SECRET": "env-secret",
        "QR_WECHAT_PAY_API_KEY": "k2",
        "QR_WECHAT_PAY_APIV3_KEY": "k3",
        "QR_ADMIN_TOKEN_SECRET": "admin",
        "QR_MEMBER_TOKEN_SECRET": "member",
        "UNRELATED": "ignored",
    }
    settings = load_settings(path, env)
    assert settings.database.url == "postgres://app:pw@db.internal:5432/rebate"
    assert settings.redis.url == "redis://127.0.0.1:6379/1"
    assert settings.wechat.app_secret == "env-secret"
    assert settings.wechat_pay.api_key == "k2"
    assert settings.wechat_pay.apiv3_key == "k3"
    assert settings.auth.admin_token_secret == "admin"
    assert settings.auth.member_token_secret == "member"


def test_secrets_never_appear_in_repr() -> None:
    env = {
        "QR_DATABASE_URL": "postgres://app:db-password@h/db",
        "QR_WECHAT_APP_SECRET": "s1",
        "QR_WECHAT_PAY_API_KEY": "s2-secret",
        "QR_WECHAT_PAY_APIV3_KEY": "s3-secret",
        "QR_ADMIN_TOKEN_SECRET": "s4-secret",
        "QR_MEMBER_TOKEN_SECRET": "s5-secret",
    }
    text = repr(load_settings(None, env))
    for secret in ("db-password", "s2-secret", "s3-secret", "s4-secret", "s5-secret"):
        assert secret not in text


def test_database_url_override_for_one_command() -> None:
    settings = load_settings(None, {}).with_database_url("postgres://postgres@127.0.0.1/x")
    assert settings.database.url == "postgres://postgres@127.0.0.1/x"
    with pytest.raises(ConfigError, match=r"^--db: unsupported URL 'mysql://x'"):
        settings.with_database_url("mysql://x")


def test_unknown_key_names_the_file_the_key_and_a_suggestion(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[rebate]\nsettle_onn = "paid"\n')
    assert message.startswith(f"{tmp_path / 'config.toml'}: rebate.settle_onn: unknown key")
    assert "did you mean 'settle_on'?" in message


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[databse]\nurl = 'sqlite://x'\n")
    assert ": databse: unknown key (did you mean 'database'?)" in message


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[server]\nport = "8080"\n')
    assert message.endswith("server.port: expected an integer, got string '8080'")


def test_decimal_ratio_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[rebate]\nextract_bp = 6.5\n")
    assert "rebate.extract_bp: expected an integer, got float 6.5" in message
    assert "65% = 6500" in message


def test_bool_is_not_an_integer(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[rebate]\nextract_bp = true\n")
    assert "rebate.extract_bp: expected an integer, got boolean True" in message


def test_bad_choice_lists_the_choices(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[rebate]\nsettle_on = "shipped"\n')
    assert "rebate.settle_on: expected one of 'paid' | 'completed', got string 'shipped'" in message
    message = config_error(tmp_path, '[wechat_pay]\napi_version = "v4"\n')
    assert "wechat_pay.api_version: expected one of 'v2' | 'v3'" in message


def test_engine_rule_violation_names_the_key(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[rebate]\nextract_bp = 20000\n")
    assert "rebate.extract_bp: " in message
    tiers = "tiers = [{ days = 0, min_amount_fen = 1, ratio_bp = 1 }]"
    message = config_error(tmp_path, f"[rebate.ratios]\n{tiers}\n")
    assert "rebate.ratios.tiers[0]: " in message


def test_missing_required_key_in_optional_table(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[rebate.random_return]\ncash_places = 1\n")
    assert "rebate.random_return.points_places: required key is missing" in message


def test_invalid_values_are_refused(tmp_path: Path) -> None:
    assert "server.port: 0 is not a TCP port" in config_error(tmp_path, "[server]\nport = 0\n")
    message = config_error(tmp_path, '[scheduler]\ntimezone = "Mars/Olympus"\n')
    assert "scheduler.timezone: unknown time zone 'Mars/Olympus'" in message
    message = config_error(tmp_path, '[database]\nurl = "mysql://u:pw@h/db"\n')
    assert "database.url: unsupported URL 'mysql://u:***@h/db'" in message


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^environment variable QR_REDIS_URL: unsupported URL"):
        load_settings(None, {"QR_REDIS_URL": "http://cache"})


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(str(tmp_path / "nope.toml"), {})
    assert "not valid TOML" in config_error(tmp_path, "[server\nport = 1\n")


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("postgres://app:secret@h:5432/db") == "postgres://app:***@h:5432/db"
    assert redact_url("postgres://app@h/db") == "postgres://app@h/db"
    assert redact_url("sqlite://var/x.sqlite3") == "sqlite://var/x.sqlite3"
