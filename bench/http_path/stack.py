"""The processes under test: the fake WeChat and ``queue-rebate serve``, each an OS process.

The server is started exactly as an operator starts it: ``queue-rebate serve --config FILE
--db URL``, one TOML file per process (``serve`` takes its port from ``[server] port`` and has no
option for several processes, so N processes are N ``serve`` commands on N ports, and the
benchmark spreads its requests over them). The configuration points ``[wechat]`` and
``[wechat_pay]`` (v3, the fake's keys) at the fake WeChat and ``[redis]`` at the benchmark's
Redis database. Each process's output goes to a log file in the scratch directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

HOST = "127.0.0.1"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
ROOT = Path(__file__).resolve().parents[2]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Proc:
    name: str
    process: asyncio.subprocess.Process
    log: Path
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Stack:
    scratch: Path
    db_name: str
    db_url: str
    redis_url: str
    fake: Proc | None = None
    servers: list[Proc] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    helper_commands: list[str] = field(default_factory=list)  # --with: queue-rebate COMMANDs
    helpers: list[Proc] = field(default_factory=list)

    @property
    def keys_dir(self) -> Path:
        return self.scratch / "fake-wechat"

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cli_binary() -> str:
    """The ``queue-rebate`` command of this environment."""
    beside = Path(sys.executable).parent / "queue-rebate"
    found = str(beside) if beside.exists() else shutil.which("queue-rebate")
    if not found:
        raise RuntimeError("queue-rebate not found: run `make install`")
    return found


def child_env() -> dict[str, str]:
    """The environment without QR_* overrides, so only the config file and --db count."""
    return {k: v for k, v in os.environ.items() if not k.startswith("QR_")}


async def run_cli(*args: str) -> str:
    """Run ``queue-rebate ARGS``; its output, or RuntimeError with it when it fails."""
    proc = await asyncio.create_subprocess_exec(
        cli_binary(), *args, cwd=ROOT, env=child_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    if proc.returncode:
        raise RuntimeError(f"queue-rebate {' '.join(args)} exited {proc.returncode}:\n{text}")
    return text


async def _spawn(name: str, args: list[str], log: Path, port: int) -> Proc:
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            *args, cwd=ROOT, env=child_env(), stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    return Proc(name, process, log, port)


async def _wait_ready(proc: Proc, path: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    async with aiohttp.ClientSession() as http:
        while True:
            if proc.process.returncode is not None:
                raise RuntimeError(f"{proc.name} exited at start:\n{proc.tail()}")
            try:
                async with http.get(proc.url + path) as reply:
                    if reply.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{proc.name} not ready after {READY_TIMEOUT:.0f} s:\n{proc.tail()}"
                )
            await asyncio.sleep(0.1)


async def start_fake(stack: Stack) -> Proc:
    port = free_port()
    args = [sys.executable, "-m", "bench.http_path.fake", "--port", str(port)]
    args += ["--keys-dir", str(stack.keys_dir)]
    stack.fake = await _spawn("fake WeChat", args, stack.scratch / "fake.log", port)
    await _wait_ready(stack.fake, "/__fake__/calls")
    return stack.fake


def server_config(stack: Stack, port: int) -> str:
    """The TOML an operator would write for this server, against the fake WeChat."""
    assert stack.fake is not None
    wx = json.loads((stack.keys_dir / "fake-wechat.json").read_text())
    if not stack.secrets:
        stack.secrets = {k: secrets.token_urlsafe(32) for k in ("member", "admin")}
    return f"""
[database]
url = "{stack.db_url}"
[redis]
url = "{stack.redis_url}"
[server]
host = "{HOST}"
port = {port}
[wechat]
appid = "{wx["appid"]}"
app_secret = "{wx["secret"]}"
api_base_url = "{stack.fake.url}"
[wechat_pay]
api_version = "v3"
mchid = "{wx["mch_id"]}"
api_key = "{wx["api_key"]}"
apiv3_key = "{wx["apiv3_key"]}"
private_key_path = "{stack.keys_dir / "merchant_key.pem"}"
cert_serial_no = "{wx["merchant_serial"]}"
platform_cert_path = "{stack.keys_dir / "platform_public.pem"}"
platform_public_key_id = "{wx["platform_serial"]}"
api_base_url = "{stack.fake.url}"
notify_url = "http://{HOST}:{port}/api/pay/notify/v3"
[auth]
member_token_secret = "{stack.secrets["member"]}"
admin_token_secret = "{stack.secrets["admin"]}"
{REBATE_TOML}"""


# 支付后结算, one mall-wide queue (开启商家队列), the seed's example ratios: extraction 65 %,
# reward 130 %. `queue-rebate migrate` writes them as the base settings of a new database.
REBATE_TOML = """[rebate]
settle_on = "paid"
mall_queue_unified = true
extract_bp = 6500
[rebate.ratios]
default_bp = 13000
"""


def config_file(stack: Stack, port: int) -> Path:
    path = stack.scratch / f"serve-{port}.toml"
    path.write_text(server_config(stack, port))
    return path


# Runs the `queue-rebate` script (argv[1]) under cProfile timing CPU, not wall time: on a busy
# machine wall time charges a call for the moments the process was not even running.
PROFILE_WRAPPER = (
    "import cProfile, runpy, sys, time; out = sys.argv.pop(1); sys.argv.pop(0);"
    " p = cProfile.Profile(time.process_time); p.enable()\n"
    "try: runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "finally: p.disable(); p.dump_stats(out)"
)


def _profiled(port: int) -> list[str]:
    """``QR_BENCH_SERVE_PROFILE=DIR``: each serve process runs under cProfile (CPU time), its
    stats written to ``DIR/serve-<port>.prof`` when it stops."""
    where = os.environ.get("QR_BENCH_SERVE_PROFILE")
    if not where:
        return []
    Path(where).mkdir(parents=True, exist_ok=True)
    return [sys.executable, "-c", PROFILE_WRAPPER, str(Path(where) / f"serve-{port}.prof")]


async def start_servers(stack: Stack, count: int) -> list[Proc]:
    """``count`` ``queue-rebate serve`` processes, each on its own port, once all answer."""
    for _ in range(count):
        port = free_port()
        args = [*_profiled(port), cli_binary(), "serve", "--config", str(config_file(stack, port))]
        args += ["--db", stack.db_url]
        log = stack.scratch / f"serve-{port}.log"
        stack.servers.append(await _spawn(f"serve :{port}", args, log, port))
    for proc in stack.servers:
        await _wait_ready(proc, "/readyz")
    await start_helpers(stack)
    return stack.servers


async def start_helpers(stack: Stack) -> None:
    """Each ``--with`` command (``queue-rebate COMMAND --config <first server's> --db URL``),
    for work the server leaves to another process; it must still be running a second later."""
    for i, command in enumerate(stack.helper_commands):
        config = stack.scratch / f"serve-{stack.servers[0].port}.toml"
        args = [cli_binary(), *command.split(), "--config", str(config), "--db", stack.db_url]
        log = stack.scratch / f"helper-{i}.log"
        stack.helpers.append(await _spawn(f"queue-rebate {command}", args, log, 0))
    await asyncio.sleep(1.0 if stack.helper_commands else 0.0)
    for proc in stack.helpers:
        if proc.process.returncode is not None:
            raise RuntimeError(f"{proc.name} exited at start:\n{proc.tail()}")


async def stop(proc: Proc) -> None:
    """SIGTERM (aiohttp shuts down gracefully), SIGKILL if it does not exit in time."""
    if proc.process.returncode is None:
        proc.process.terminate()
        try:
            await asyncio.wait_for(proc.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            proc.process.kill()
            await proc.process.wait()


async def stop_servers(stack: Stack) -> None:
    for proc in [*stack.helpers, *stack.servers]:
        await stop(proc)
    stack.servers, stack.helpers = [], []


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (``/proc/<pid>/stat`` fields 14 and 15), in seconds;
    0 when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; field 3 is fields[0]
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` (``VmRSS`` of ``/proc/<pid>/status``), in KiB; 0
    when the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def servers_cpu(stack: Stack) -> float:
    """CPU seconds of the serve processes and the ``--with`` helpers so far."""
    return sum(cpu_seconds(proc.pid) for proc in [*stack.servers, *stack.helpers])
