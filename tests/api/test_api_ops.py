"""Health, metrics, the OpenAPI document, request ids, the body cap and error JSON."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from console.pages import PREFIX as CONSOLE
from models import Order, OutboxEvent
from runtime import logs
from runtime.ops_settings import LoggingSettings, MetricsSettings
from server.app import create_app
from services.catalog.products import new_product
from services.orders.lifecycle import complete_order, mark_paid
from tests import prom
from tests.api.conftest import MAX_BODY, METRICS_TOKEN, Api, bearer
from tests.conftest import drop_pg_database
from web import openapi
from web.keys import SETTINGS
from web.registry import ROUTE_SPECS, Registry, Reply

# --- /healthz, /readyz -----------------------------------------------------------------------


async def test_healthz_says_alive_without_asking_anything_else(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api("sqlite", redis="redis://127.0.0.1:1/0")
    response = await api.client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "checks": {}}


async def test_readyz_checks_the_database_and_redis(api: Api) -> None:
    response = await api.client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok"},
    }


async def test_readyz_without_redis_checks_the_database_only(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api("sqlite", redis=False)
    checks = (await (await api.client.get("/readyz")).json())["checks"]
    assert checks == {"database": "ok"}


async def test_readyz_is_503_and_names_redis_when_redis_is_down(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api("sqlite", redis="redis://127.0.0.1:1/0")
    response = await api.client.get("/readyz")
    assert response.status == 503
    assert await response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "failed"},
    }


async def test_login_still_works_when_redis_is_down(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api("sqlite", redis="redis://127.0.0.1:1/0")
    assert (await api.login())["token"]  # rate limits fail open, logged


async def test_readyz_is_503_and_names_the_database_when_it_is_gone(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api("postgres", own_database=True)
    await drop_pg_database(api.db_url.rsplit("/", 1)[1])
    response = await api.client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["checks"]["database"] == "failed"


# --- /metrics ----------------------------------------------------------------------------------


async def scrape(api: Api) -> prom.Samples:
    response = await api.client.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return prom.parse(await response.text())


async def test_metrics_need_the_configured_bearer_token(api: Api) -> None:
    missing = await api.client.get("/metrics")
    assert (missing.status, (await missing.json())["code"]) == (401, "unauthenticated")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    wrong = await api.client.get("/metrics", headers=bearer("not-the-metrics-token"))
    assert (wrong.status, (await wrong.json())["code"]) == (401, "invalid_token")
    member = await api.client.get("/metrics", headers=bearer(await api.member_token()))
    assert member.status == 401  # a member's (or an operator's) token is not the metrics token


async def test_metrics_are_not_exposed_without_a_configured_token(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api(
        "sqlite", edit_settings=lambda s: dataclasses.replace(s, metrics=MetricsSettings())
    )
    response = await api.client.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert (response.status, (await response.json())["code"]) == (404, "not_found")


async def test_metrics_count_and_time_requests_by_route_template(api: Api) -> None:
    token = await api.member_token()
    before = await scrape(api)
    await api.client.get("/api/me", headers=bearer(token))
    await api.client.get("/api/orders/1", headers=bearer(token))
    await api.client.get("/api/orders/2", headers=bearer(token))
    await api.client.get("/no/such/page")
    after = await scrape(api)

    def requests(route: str, status: str, method: str = "GET") -> float:
        labels = {"route": route, "method": method, "status": status}
        return prom.delta(before, after, "queue_rebate_http_requests_total", **labels)

    assert requests("/api/me", "200") == 1
    assert requests("/api/orders/{id}", "404") == 2
    assert requests("unmatched", "404") == 1
    duration = "queue_rebate_http_request_duration_seconds"
    labels = {"route": "/api/orders/{id}", "method": "GET"}
    assert prom.delta(before, after, f"{duration}_count", **labels) == 2
    assert prom.delta(before, after, f"{duration}_bucket", le="+Inf", **labels) == 2
    assert prom.delta(before, after, f"{duration}_sum", **labels) > 0
    routes = {dict(labels).get("route") for _, labels in after}
    assert "/api/orders/1" not in routes and "/no/such/page" not in routes


async def test_metrics_carry_the_process_collectors(api: Api) -> None:
    samples = await scrape(api)
    names = {name for name, _ in samples}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names
    assert "python_gc_objects_collected_total" in names


async def test_metrics_gauges_come_from_the_database_at_scrape_time(api: Api) -> None:
    samples = await scrape(api)
    assert prom.value(samples, "queue_rebate_queue_depth") == 0
    assert prom.value(samples, "queue_rebate_settlement_pending") == 0
    assert prom.value(samples, "queue_rebate_outbox_backlog") == 0
    token = await api.member_token()
    product = await new_product("好物", 16800)
    created = await api.client.post(
        "/api/orders",
        json={"source": "mall", "items": [{"product_id": product.id, "quantity": 1}]},
        headers=bearer(token),
    )
    order = await Order.get(id=(await created.json())["order"]["id"])
    now = datetime.now(UTC)
    await mark_paid(order.id, paid_fen=order.paid_fen, now=now)
    await complete_order(order.id, now=now)
    samples = await scrape(api)
    assert prom.value(samples, "queue_rebate_queue_depth") == 1
    assert prom.value(samples, "queue_rebate_settlement_pending") == 0
    events = await OutboxEvent.all().count()
    assert events > 0  # the entry joined: no notifier has read it, so it is backlog
    assert prom.value(samples, "queue_rebate_outbox_backlog") == events


# --- the OpenAPI document ------------------------------------------------------------------------


def _router_operations(app: web.Application) -> set[tuple[str, str]]:
    """The API's routes: not the console's pages and files (HTML, ``tests/api/test_console_http.py``)."""
    return {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"  # HEAD is GET's automatic twin
        and not is_console(route.resource.canonical)
    }


def is_console(path: str) -> bool:
    return path == CONSOLE or path.startswith(CONSOLE + "/")


def _document_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, ops in document["paths"].items() for method in ops}


async def test_the_openapi_document_lists_exactly_the_routes_the_server_has(api: Api) -> None:
    response = await api.client.get("/api/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"].startswith("3.")
    in_router, in_document = _router_operations(api.app), _document_operations(document)
    assert in_router - in_document == set(), "routes missing from the OpenAPI document"
    assert in_document - in_router == set(), "documented operations the server does not have"


async def test_every_documented_operation_is_complete(api: Api) -> None:
    document = await (await api.client.get("/api/openapi.json")).json()
    operation_ids = []
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            operation_ids.append(op["operationId"])
            assert op["summary"], (method, path)
            assert "500" in op["responses"], (method, path)
            for param in op.get("parameters", []):
                assert ("{" + param["name"] + "}" in path) == (param["in"] == "path")
            if "security" in op:
                assert "401" in op["responses"], (method, path)
            if method == "post" and "requestBody" in op:
                assert {"400", "413"} <= op["responses"].keys(), (method, path)
    assert len(operation_ids) == len(set(operation_ids))
    assert document["paths"]["/api/orders"]["post"]["security"] == [{"memberToken": []}]
    admin = document["paths"]["/api/admin/orders/{id}/lines/{line_id}/refund"]["post"]
    assert admin["security"] == [{"adminToken": []}, {"adminSession": []}]


async def test_extra_routes_are_served_and_documented(api: Api) -> None:
    extra = Registry()

    @extra.post(
        "/api/wechat-pay/notify/v3", summary="支付结果通知 v3", responses={204: Reply("ok")}
    )
    async def notify_v3(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = create_app(api.app[SETTINGS], extra_routes=extra.specs)
    assert ("post", "/api/wechat-pay/notify/v3") in _router_operations(app)
    document = openapi.document(app[ROUTE_SPECS], title="t", version="1")
    assert "/api/wechat-pay/notify/v3" in document["paths"]


# --- request ids, error JSON, the body cap ---------------------------------------------------------


async def test_every_response_carries_a_request_id_that_the_logs_carry_too(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await api.client.get("/healthz", headers={"X-Request-Id": "trace-0123456789"})
    assert response.headers["X-Request-Id"] == "trace-0123456789"
    access = [r for r in caplog.records if r.name == "miniapp_api.access"]
    assert access and access[-1].request_id == "trace-0123456789"  # type: ignore[attr-defined]
    text = logs.formatter(LoggingSettings(format="text")).format(access[-1])
    assert "request_id=trace-0123456789" in text  # printed, not only attached
    odd = await api.client.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"})
    assert odd.headers["X-Request-Id"] != "bad id\twith spaces"
    assert len(odd.headers["X-Request-Id"]) == 16


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the process logs while the test runs, as ``[logging] format = "json"`` writes it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.formatter(LoggingSettings(format="json")))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_json_log_lines_carry_the_request_id_operator_and_member_of_their_request(
    api: Api, json_lines: io.StringIO
) -> None:
    member = await api.member_token()
    await api.client.get("/healthz", headers={"X-Request-Id": "req-health-0001"})
    await api.client.get(
        "/api/admin/suppliers",
        headers={"X-Request-Id": "req-admin-00002", **bearer(api.admin_token())},
    )
    await api.client.get("/api/me", headers={"X-Request-Id": "req-member-0003", **bearer(member)})
    await api.client.post(
        "/api/pay/notify/v3", data=b"{}", headers={"X-Request-Id": "req-notify-004"}
    )  # refused inside the handler: its warning is a line of that request too

    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    by_request: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        assert {"timestamp", "level", "logger", "event"} <= line.keys()
        by_request.setdefault(line.get("request_id", "-"), []).append(line)

    def access(request_id: str) -> dict[str, Any]:
        [line] = [x for x in by_request[request_id] if x["logger"] == "miniapp_api.access"]
        return line

    assert access("req-health-0001")["path"] == "/healthz"
    assert "operator" not in access("req-health-0001")
    admin = access("req-admin-00002")
    assert (admin["path"], admin["status"], admin["operator"]) == (
        "/api/admin/suppliers",
        200,
        "ops@test",
    )
    me = access("req-member-0003")
    assert me["path"] == "/api/me" and isinstance(me["member_id"], int)
    refused = [x for x in by_request["req-notify-004"] if x["logger"] != "miniapp_api.access"]
    assert refused and refused[0]["level"] == "warning"
    assert "notification refused" in refused[0]["event"]


async def test_an_unknown_path_and_a_wrong_method_are_json(api: Api) -> None:
    missing = await api.client.get("/api/nothing-here")
    assert missing.status == 404
    assert (await missing.json())["code"] == "not_found"
    wrong = await api.client.get("/api/login")
    assert wrong.status == 405
    assert (await wrong.json())["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]


async def test_an_unexpected_error_is_a_generic_500_with_a_logged_traceback(
    make_api: Callable[..., Any], aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    api: Api = await make_api("sqlite", redis=False)
    broken = Registry()

    @broken.get("/api/broken", summary="boom", responses={200: Reply("never")})
    async def explode(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals 42")

    client = await aiohttp_client(create_app(api.app[SETTINGS], extra_routes=broken.specs))
    response = await client.get("/api/broken")
    assert response.status == 500
    body = await response.json()
    assert body == {
        "code": "internal_error",
        "message": "服务器开小差了，请稍后再试",
        "field": None,
    }
    assert "secret internals" not in await response.text()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and errors[0].exc_info is not None
    assert "secret internals 42" in caplog.text


async def test_a_body_over_the_cap_is_a_413_json(api: Api) -> None:
    body = b'{"code": "' + b"x" * MAX_BODY + b'"}'
    response = await api.client.post(
        "/api/login", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    answer = await response.json()
    assert answer["code"] == "body_too_large"
    assert "过大" in answer["message"]
    assert not api.wx.calls_to("/sns/jscode2session")


async def test_a_chunked_body_over_the_cap_is_a_413_json(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"code": "'
        for _ in range(MAX_BODY // 512 + 2):
            yield b"x" * 512
        yield b'"}'

    response = await api.client.post(
        "/api/login", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    assert (await response.json())["code"] == "body_too_large"
