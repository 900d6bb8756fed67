"""Health, metrics, the OpenAPI document, request ids, the body cap and error JSON."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from console.pages import PREFIX as CONSOLE
from models import Order
from server.app import create_app
from services.catalog.products import new_product
from services.orders.lifecycle import complete_order, mark_paid
from tests.api.conftest import MAX_BODY, Api, bearer
from tests.conftest import drop_pg_database
from web import openapi
from web.keys import SETTINGS
from web.metrics import count_callback
from web.registry import ROUTE_SPECS, Registry, Reply

# --- /healthz ----------------------------------------------------------------------------------


async def test_healthz_checks_the_database_and_redis(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok"},
    }


async def test_healthz_without_redis_checks_the_database_only(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api("sqlite", redis=False)
    assert (await (await api.client.get("/healthz")).json())["checks"] == {"database": "ok"}


async def test_healthz_is_503_and_names_redis_when_redis_is_down(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api("sqlite", redis="redis://127.0.0.1:1/0")
    response = await api.client.get("/healthz")
    assert response.status == 503
    assert await response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "failed"},
    }


async def test_login_still_works_when_redis_is_down(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api("sqlite", redis="redis://127.0.0.1:1/0")
    assert (await api.login())["token"]  # rate limits fail open, logged


async def test_healthz_is_503_and_names_the_database_when_it_is_gone(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api("postgres", own_database=True)
    await drop_pg_database(api.db_url.rsplit("/", 1)[1])
    response = await api.client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["checks"]["database"] == "failed"


# --- /metrics ----------------------------------------------------------------------------------


async def test_metrics_count_requests_by_route_and_status(api: Api) -> None:
    token = await api.member_token()
    await api.client.get("/api/me", headers=bearer(token))
    await api.client.get("/api/orders/1", headers=bearer(token))
    await api.client.get("/api/orders/2", headers=bearer(token))
    await api.client.get("/no/such/page")
    response = await api.client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    assert (
        'queue_rebate_http_requests_total{method="POST",route="/api/login",status="200"} 1' in text
    )
    assert 'queue_rebate_http_requests_total{method="GET",route="/api/me",status="200"} 1' in text
    assert (
        'queue_rebate_http_requests_total{method="GET",route="/api/orders/{id}",status="404"} 2'
        in text
    )
    assert 'route="unmatched",status="404"} 1' in text
    assert "# TYPE queue_rebate_http_requests_total counter" in text


async def test_metrics_gauges_come_from_the_database_at_scrape_time(api: Api) -> None:
    text = await (await api.client.get("/metrics")).text()
    assert "queue_rebate_queue_depth 0" in text
    assert "queue_rebate_settlement_lag 0" in text
    assert "queue_rebate_outbox_backlog 0" in text
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
    text = await (await api.client.get("/metrics")).text()
    assert "queue_rebate_queue_depth 1" in text
    assert "queue_rebate_settlement_lag 0" in text
    assert "# TYPE queue_rebate_queue_depth gauge" in text


async def test_callbacks_are_counted_through_the_helper(api: Api) -> None:
    count_callback(api.app, "v3.payment", "applied")
    count_callback(api.app, "v3.payment", "applied")
    count_callback(api.app, "v2.payment", "bad_signature")
    text = await (await api.client.get("/metrics")).text()
    assert 'queue_rebate_callbacks_total{kind="v3.payment",outcome="applied"} 2' in text
    assert 'queue_rebate_callbacks_total{kind="v2.payment",outcome="bad_signature"} 1' in text


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
    assert admin["security"] == [{"adminToken": []}]


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
    assert "request_id=trace-0123456789" in access[-1].getMessage()
    odd = await api.client.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"})
    assert odd.headers["X-Request-Id"] != "bad id\twith spaces"
    assert len(odd.headers["X-Request-Id"]) == 16


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
