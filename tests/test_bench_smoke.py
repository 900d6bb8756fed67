"""The benchmark's code path, tiny: preload by COPY, a settler process, producers, the checks.

Not a timing test: it asserts that the books balance and that every stored order settled.
"""

import argparse
import logging
import random
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tortoise import Tortoise

from bench import timestamp_codec
from bench.dataset import create_schema, preload
from bench.http_path import sqlcount
from bench.http_path.cli import check, main_async
from bench.http_path.cli import parse as parse_args
from bench.http_path.database import connect
from bench.log_lines import main as log_lines_main
from bench.pgbench import _conn_args as pgbench_conn_args
from bench.places import measure as places_measure
from bench.places import waiting_seqs
from bench.pool_close import bench_share as pool_bench_share
from bench.pool_close import create_schema as pool_schema
from bench.pool_close import parse as pool_parse
from bench.run import measured_run
from bench.settlement import problems
from bench.soak.cli import log_errors as soak_log_errors
from bench.soak.cli import main_async as soak_main_async
from bench.soak.cli import parse as soak_parse
from bench.writer_python import one_round
from runtime.db import tortoise_config, with_database
from services.queues.settled_rows import ENTRY_COLUMNS
from tests.conftest import create_pg_database, drop_pg_database, pg_url

pytestmark = pytest.mark.postgres


@pytest.fixture
async def empty_pg_url():
    """An empty database: the benchmark creates its schema by the migrations."""
    name = await create_pg_database()
    try:
        yield pg_url(name)
    finally:
        await drop_pg_database(name)


async def test_bench_run_settles_every_stored_order_and_conserves(empty_pg_url):
    await create_schema(empty_pg_url)
    ds = await preload(empty_pg_url, waiting=300, members=50)
    assert await problems(ds) == []  # the preloaded rows alone already balance

    fig = await measured_run(ds, "smoke", orders=1_000, producers=2, chunk=100, batch=128)
    assert fig.orders == 1_000
    assert fig.batches >= 1_000 // 128
    assert fig.p50_ms <= fig.p99_ms <= fig.max_ms
    assert fig.peak_rss_mib > 0
    assert await problems(ds) == []

    paced = await measured_run(
        ds, "paced", duration=0.5, rate=1_000, producers=2, chunk=25, batch=128
    )
    assert paced.orders > 0
    assert await problems(ds) == []


def test_database_urls_keep_their_query_and_pgbench_reads_a_socket_dir():
    socket = "postgres://postgres@/test?host=/var/run/postgresql"
    assert with_database(socket, "qr_bench_10") == (
        "postgres://postgres@/qr_bench_10?host=/var/run/postgresql"
    )
    assert with_database("postgres://u@127.0.0.1:5433/test", "x") == "postgres://u@127.0.0.1:5433/x"
    assert pgbench_conn_args(with_database(socket, "b")) == [
        "-h", "/var/run/postgresql", "-p", "5432", "-U", "postgres", "b",
    ]  # fmt: skip
    assert pgbench_conn_args("postgres://u@10.0.0.2:6432/b") == [
        "-h", "10.0.0.2", "-p", "6432", "-U", "u", "b",
    ]  # fmt: skip


SOCKET_DIR = Path("/var/run/postgresql")


async def test_bench_runs_over_a_unix_socket(empty_pg_url):
    """QR_BENCH_PG may name a Unix socket (``?host=/dir``): the settler process, the producers
    and the checks all connect through it."""
    assert (SOCKET_DIR / ".s.PGSQL.5432").exists(), (
        f"PostgreSQL's Unix socket is not in {SOCKET_DIR}: start the local server "
        "(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)"
    )
    url = f"{urlsplit(empty_pg_url)._replace(netloc='postgres@').geturl()}?host={SOCKET_DIR}"
    await create_schema(url)
    ds = await preload(url, waiting=50, members=10)
    fig = await measured_run(ds, "socket", orders=200, producers=2, chunk=50, batch=64)
    assert fig.orders == 200
    assert await problems(ds) == []


def test_writer_python_microbenchmark_times_each_stage():
    stages = one_round(50, random.Random(1))
    assert set(stages) == {"lines", "engine", "rows"}
    assert all(seconds > 0 for seconds in stages.values())


async def test_timestamp_codec_benchmark_runs(capsys):
    await timestamp_codec.main_async(argparse.Namespace(rows=20, rounds=2))
    out = capsys.readouterr().out
    assert "asyncpg" in out and "pg_codecs" in out and "ratio" in out


# --- the HTTP payment path (bench/http_path) ------------------------------------------------


async def test_http_bench_pays_settles_and_checks_every_order(capsys):
    """The whole HTTP benchmark, tiny: real `queue-rebate serve`, the fake WeChat in its own
    process, orders and notifications over HTTP, the statement count, pgbench and the checks."""
    name = f"qr_bench_http_smoke_{uuid.uuid4().hex[:8]}"
    args = parse_args(
        ["--orders", "30", "--repeat", "1", "--processes", "1", "--lag-every", "5",
         "--sql-count", "5" if sqlcount.PG_LOG.exists() else "0", "--sql-warmup", "2",
         "--stats-wait", "0", "--pgbench-seconds", "1", "--pgbench-scale", "1",
         "--db-name", name, "--keep"]
    )  # fmt: skip
    try:
        figures = await main_async(args)
        out = capsys.readouterr().out
        (repeat,) = figures["results"][1]
        assert repeat["orders"]["count"] == 90 and repeat["orders"]["per_s"] > 0
        assert [r["name"] for r in repeat["runs"]] == ["c16", "c64", "paced 1,000/s"]
        for run in repeat["runs"]:
            assert run["count"] == 30 and run["per_s"] > 0 and run["lag_samples"] == 6
            assert run["p50_ms"] <= run["p99_ms"] and run["server_cpu_ms"] > 0
        if sqlcount.PG_LOG.exists():
            assert figures["sql"]["statements"] > 5 * 5  # several statements per notification
            assert figures["sql"]["by_kind"]["COMMIT"] >= 5
        assert "queue-rebate check: OK" in out and figures["pgbench_tps"] > 0
        await _a_second_entry_fails_the_checks(pg_url(name), repeat)
    finally:
        await drop_pg_database(name)


async def _a_second_entry_fails_the_checks(url: str, repeat: dict) -> None:
    """The checks are not decorative: one duplicated entry makes them fail loudly."""
    conn = await connect(url)
    try:
        columns = ", ".join(ENTRY_COLUMNS)
        await conn.execute(
            f"INSERT INTO entry ({columns}) SELECT {columns} FROM entry ORDER BY id DESC LIMIT 1"
        )
        paid = [r["out_trade_no"] for r in await conn.fetch(
            "SELECT out_trade_no FROM orders WHERE status <> 'created'"
        )]  # fmt: skip
    finally:
        await conn.close()
    with pytest.raises(SystemExit, match="without exactly one entry"):
        await check(url, paid)


def test_sql_count_reads_statements_and_transactions_between_the_markers():
    def line(pid: int, sql: str, db: str = "b", kind: str = "statement") -> str:
        return f"2026-12-06 03:02:36.475 UTC [{pid}] postgres@{db} LOG:  {kind}: {sql}"

    log = [
        line(9, "SELECT 'before'"),
        line(1, "SELECT 'bench-marker-start'"),
        line(2, "BEGIN;"),
        line(2, "SELECT 1 FROM x WHERE id = $1", kind="execute __asyncpg_stmt_1__"),
        "2026-12-06 03:02:36.475 UTC [2] postgres@b DETAIL:  parameters: $1 = '1'",
        line(3, "SELECT 2", db="other"),
        line(2, "COMMIT;"),
        line(2, "SELECT pg_advisory_unlock_all();"),
        "\tCLOSE ALL;",
        line(1, "SELECT count(*) FROM pending_settlement"),
        line(1, "SELECT 'bench-marker-end'"),
        line(2, "SELECT 'after'"),
    ]
    found = sqlcount.parse(log, "b", own_pid=1)
    assert found.statements == 4
    assert found.transactions == 2  # BEGIN…COMMIT, and the pool's reset on its own
    assert found.by_kind == {"BEGIN": 1, "SELECT": 1, "COMMIT": 1, "pool-reset": 1}
    assert sqlcount.own_statements(log, "b", own_pid=1) == 3


# --- the soak (bench/soak) ------------------------------------------------------------------


async def test_soak_smoke_run_pays_retries_changes_settings_runs_jobs_and_checks(capsys):
    """``python -m bench.soak --minutes 0.5``: the steady load with WeChat's retries, an
    operator's settings changes and job runs (API and command line), a notifier beside two
    servers; every paid order settled once, the books balance, memory reported per process."""
    name = f"qr_soak_smoke_{uuid.uuid4().hex[:8]}"
    args = soak_parse(
        ["--minutes", "0.5", "--rate", "5", "--duplicates", "0.5", "--lag-every", "5",
         "--settings-every", "4", "--jobs-every", "3", "--db-name", name, "--keep"]
    )  # fmt: skip
    try:
        figures = await soak_main_async(args)
    finally:
        await drop_pg_database(name)
    out = capsys.readouterr().out
    assert figures["ok"], out
    assert figures["orders"] == figures["notifications"] > 100
    assert figures["duplicates"] > 0 and figures["lag_samples"] > 0
    assert figures["settings_changes"] >= 3
    assert figures["job_runs"].get("api", 0) >= 2 and figures["job_runs"].get("cli", 0) >= 2
    assert figures["errors"] == {} and figures["log_errors"] == {} and figures["problems"] == []
    processes = [row["process"] for row in figures["memory"]]
    assert sum(p.startswith("serve :") for p in processes) == 2
    assert "queue-rebate notifier" in processes
    assert all(row["start_mib"] > 0 and row["end_mib"] > 0 for row in figures["memory"])
    assert "queue-rebate check: OK" in out or "OK: conservation holds" in out


def test_soak_counts_error_lines_in_the_logs(tmp_path):
    (tmp_path / "serve-1.log").write_text(
        "2026-12-06 08:00:00,1 INFO web.access no error here\n"
        "Traceback (most recent call last):\n"
        "2026-12-06 08:00:01,2 ERROR aiohttp.server Error handling request\n"
    )
    (tmp_path / "helper-0.log").write_text(
        '{"level": "error", "message": "x"}\n{"levelname": "CRITICAL", "message": "y"}\n'
        '{"level": "info", "message": "an error was retried"}\n'
    )
    (tmp_path / "fake.log").write_text("fake WeChat listening\n")
    assert soak_log_errors(tmp_path) == {"serve-1": 2, "helper-0": 2}


async def test_the_pool_close_benchmark_pays_the_chosen_share_and_conserves(empty_pg_url):
    await pool_schema(empty_pg_url)
    args = pool_parse(["--entries", "400", "--members", "50", "--pgbench-seconds", "0"])
    figures = await pool_bench_share(empty_pg_url, 25, args)  # checks the books, or exits
    assert figures["paid_count"] == figures["expected_paid"] == 100
    assert figures["closing_fen"] == 0 and figures["waiting_count"] == 300
    assert figures["seconds"] > 0 and figures["rss_peak_kib"] >= figures["rss_before_kib"] > 0


async def test_the_places_benchmark_checks_every_place_it_times(empty_pg_url, capsys):
    await create_schema(empty_pg_url)
    ds = await preload(empty_pg_url, waiting=1_500, members=50)
    seqs = await waiting_seqs(empty_pg_url, ds.queue_id)
    await Tortoise.init(config=tortoise_config(empty_pg_url))
    try:
        await places_measure(ds.queue_id, seqs)  # asserts each place it times
    finally:
        await Tortoise.close_connections()
    out = capsys.readouterr().out
    assert "1,500 waiting: markers read" in out and "tail (1,499 ahead)" in out
    assert "whole prefix counted for the tail entry" in out


def test_the_log_lines_benchmark_times_both_formats(capsys, monkeypatch):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.setattr(sys, "argv", ["log_lines", "--lines", "50"])
    try:
        log_lines_main()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    out = capsys.readouterr().out
    assert out.count("µs per access line") == 3 and "json (LineFormatter)" in out
