"""The benchmark's code path, tiny: preload by COPY, a settler process, producers, the checks.

Not a timing test: it asserts that the books balance and that every stored order settled.
"""

import argparse
import random
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bench import timestamp_codec
from bench.dataset import create_schema, preload
from bench.pgbench import _conn_args as pgbench_conn_args
from bench.run import measured_run
from bench.settlement import problems
from bench.writer_python import one_round
from runtime.db import with_database
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
