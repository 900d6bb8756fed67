"""A standalone notifier serves its own ``/metrics`` when ``[metrics] notifier_port`` is set,
behind the same bearer token as the server's."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from bot.notifier import metrics_listener
from runtime.config import Settings
from runtime.ops_settings import MetricsSettings

TOKEN = "notifier-metrics-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_notifier_listener_needs_the_token_and_serves_the_metrics(db, http):
    port = free_port()
    settings = Settings(metrics=MetricsSettings(token=TOKEN, notifier_port=port))
    url = f"http://127.0.0.1:{port}/metrics"
    async with metrics_listener(settings):
        async with http.get(url) as refused:
            assert refused.status == 401
        async with http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 200
            text = await response.text()
    assert "queue_rebate_outbox_backlog 0.0" in text
    assert "process_cpu_seconds_total" in text


async def test_without_a_port_nothing_listens(db, http):
    port = free_port()
    settings = Settings(metrics=MetricsSettings(token=TOKEN, notifier_host="127.0.0.1"))
    assert settings.metrics.notifier_port == 0  # the default
    async with metrics_listener(settings):
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"http://127.0.0.1:{port}/metrics")
