"""The benchmark's code path, tiny: preload by COPY, a settler process, producers, the checks.

Not a timing test: it asserts that the books balance and that every stored order settled.
"""

import pytest

from bench.dataset import create_schema, preload
from bench.run import measured_run
from bench.settlement import problems
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
