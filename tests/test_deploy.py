"""deploy/ names commands and flags that exist, and the pieces fit together.

Docker is not run here: the compose file is parsed (PyYAML), the systemd units too
(configparser), and every ``queue-rebate`` command line they hold is parsed by the real command
line's parser and checked against the real ``queue-rebate COMMAND --help``. The nginx
configurations are checked against the compose file and the units they front.
"""

from __future__ import annotations

import configparser
import functools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runtime.config import load_settings
from server.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
CLI = Path(sys.executable).parent / "queue-rebate"
APP_SERVICES = ("migrate", "api-1", "api-2", "writer", "scheduler", "notifier")


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string((SYSTEMD / name).read_text())
    return parser


def unit_command(name: str) -> list[str]:
    """The ``queue-rebate`` arguments of a unit's ExecStart (``%i`` as port 8081)."""
    binary, *args = shlex.split(unit(name)["Service"]["ExecStart"].replace("%i", "8081"))
    assert Path(binary).name == "queue-rebate", binary
    return args


UNITS = sorted(p.name for p in SYSTEMD.glob("*.service"))


def command_lines() -> list[object]:
    services = compose()["services"]
    found = [(f"compose:{name}", services[name]["command"]) for name in APP_SERVICES]
    found += [(f"systemd:{name}", unit_command(name)) for name in UNITS]
    return [pytest.param(where, argv, id=where) for where, argv in found]


@functools.cache
def help_text(command: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QR_")}
    done = subprocess.run(
        [str(CLI), command, "--help"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(("where", "argv"), command_lines())
def test_every_command_line_is_accepted_by_the_real_cli(where, argv):
    """Parsed by ``queue-rebate``'s own parser (unknown flags and bad choices exit), and each
    flag is listed by ``queue-rebate COMMAND --help`` run through the installed script. The
    ``serve --role/--host/--port`` and ``notifier --health-port`` lines need the role split
    (issue 20's first items) merged."""
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: `queue-rebate {shlex.join(argv)}` is refused by the parser")
    flags = [a.split("=")[0] for a in argv if a.startswith("--")]
    listed = help_text(argv[0])
    assert [f for f in flags if f not in listed] == [], where


def test_compose_runs_every_role_once_the_migration_is_done():
    services = compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    roles = {
        name: s["command"][s["command"].index("--role") + 1]
        for name, s in services.items()
        if "--role" in s.get("command", [])
    }
    assert roles == {"api-1": "api", "api-2": "api", "writer": "writer", "scheduler": "scheduler"}
    assert services["migrate"]["command"][0] == "migrate"
    assert services["migrate"]["restart"] == "no"
    for name in APP_SERVICES[1:]:
        service = services[name]
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        probe = " ".join(service["healthcheck"]["test"])
        assert re.search(r"http://127\.0\.0\.1:8080/(healthz|readyz)", probe), name
        assert "ports" not in service, f"{name} must be reached through nginx only"
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert "/readyz" in " ".join(services["api-1"]["healthcheck"]["test"])
    assert services["notifier"]["command"][:3] == ["notifier", "--health-port", "8080"]


def test_compose_secrets_come_from_the_environment_file_not_the_config():
    text = (DEPLOY / "compose.yaml").read_text()
    environment = compose()["services"]["api-1"]["environment"]
    example = (DEPLOY / ".env.example").read_text()
    for name, value in environment.items():
        assert name.startswith("QR_")
        for variable in re.findall(r"\$\{(\w+)", value):
            assert f"\n{variable}=" in example, f"{variable} missing from .env.example"
    assert "PASSWORD=" not in (DEPLOY / "queue-rebate.toml").read_text().upper()
    assert "${POSTGRES_PASSWORD:?" in text


def test_the_containers_configuration_loads_and_its_key_files_are_mounted():
    settings = load_settings(str(DEPLOY / "queue-rebate.toml"), {})
    assert settings.database.url.startswith("postgres://")
    mounts = compose()["services"]["api-1"]["volumes"]
    mounted = [m.split(":")[1] for m in mounts]
    pay = settings.wechat_pay
    for path in (pay.private_key_path, pay.platform_cert_path):
        assert any(path.startswith(m + "/") for m in mounted), path
    assert "/etc/queue-rebate/queue-rebate.toml" in mounted
    assert pay.notify_url.startswith("https://")


def test_the_image_is_built_from_the_source_tree_and_runs_as_a_user():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert stages == ["python:3.11-slim", "python:3.11-slim"]
    assert re.search(r"^USER queue-rebate", dockerfile, re.M)
    assert 'ENTRYPOINT ["queue-rebate"]' in dockerfile
    assert "pip install ." in dockerfile
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    packaged = re.search(r"include = \[(.*?)\]", (ROOT / "pyproject.toml").read_text())
    assert packaged is not None
    for package in re.findall(r'"(\w+)\*"', packaged.group(1)):
        assert package not in ignored, f"{package}/ would be missing from the image"
    assert {"tests", ".venv", ".git", "deploy/.env"} <= set(ignored)


def test_nginx_terminates_tls_balances_the_api_and_closes_metrics():
    services = compose()["services"]
    mounts = services["nginx"]["volumes"]
    for name, upstreams in (
        ("compose.conf", ["api-1:8080", "api-2:8080"]),
        ("queue-rebate.conf", ["127.0.0.1:8081", "127.0.0.1:8082"]),
    ):
        conf = (DEPLOY / "nginx" / name).read_text()
        assert re.findall(r"^\s*server (\S+) max_fails", conf, re.M) == upstreams
        assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf
        assert re.search(r"location \^~ /metrics \{\s*return 404;", conf)
        assert re.search(r"^\s*listen 443 ssl[ ;]", conf, re.M)
        for path in re.findall(r"ssl_certificate(?:_key)?\s+(\S+);", conf):
            assert any(m.split(":")[1] == path for m in mounts), path
    assert "./nginx/compose.conf:/etc/nginx/conf.d/default.conf:ro" in mounts


def test_systemd_units_run_as_the_service_user_with_secrets_from_a_file_and_hardening():
    assert {"queue-rebate-api@.service", "queue-rebate-writer.service"} <= set(UNITS)
    assert {"queue-rebate-scheduler.service", "queue-rebate-notifier.service"} <= set(UNITS)
    example = (SYSTEMD / "queue-rebate.env.example").read_text()
    for name in UNITS:
        service = unit(name)["Service"]
        assert service["User"] == "queue-rebate", name
        assert service["EnvironmentFile"] == "/etc/queue-rebate/queue-rebate.env", name
        for option, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict")):
            assert service[option] == value, f"{name}: {option}"
        assert service["CapabilityBoundingSet"] == "", name
        assert unit(name)["Install"]["WantedBy"] == "queue-rebate.target", name
    assert "QR_DATABASE_URL=" in example and "QR_ADMIN_TOKEN_SECRET=" in example
    assert "--port 8081" in " ".join(unit_command("queue-rebate-api@.service"))
    ports = [a[a.index("--port") + 1] for n in UNITS if "--port" in (a := unit_command(n))]
    assert len(set(ports)) == len(ports), "two units listen on one port"
