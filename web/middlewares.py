"""Request id, access log and metrics; errors as JSON; the request body cap.

Order (outermost first): ``request_context`` gives every request an id (the client's
``X-Request-Id`` when it is a sane token, else a fresh one), echoes it in the response, makes it
available to every log record as ``%(request_id)s`` and writes one access line per request;
``json_errors`` turns every refusal into the JSON error body; ``body_cap`` refuses a declared
``Content-Length`` above ``[server] max_body_bytes`` before reading anything (a chunked body is
cut off by aiohttp's ``client_max_size`` while it is read: the same 413) — except on the routes
that cap their own bodies (``RouteSpec.body_cap`` False: WeChat Pay's notifications, whose
refusals WeChat wants in its own format).
"""

from __future__ import annotations

import contextvars
import logging
import re
import secrets
import time
from typing import Any

from aiohttp import web

from rebate.errors import RebateError
from web.errors import (
    INTERNAL,
    ApiError,
    from_domain,
    from_http,
    from_wechat,
    json_error,
)
from web.keys import METRICS, SETTINGS
from web.registry import OWN_BODY_CAP, Handler
from wechat.errors import WeChatError

log = logging.getLogger(__name__)
access_log = logging.getLogger("miniapp_api.access")

REQUEST_ID = web.RequestKey("request_id", str)
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}\Z")


def install_log_request_id() -> None:
    """Give every log record a ``request_id`` attribute (``-`` outside a request). Idempotent."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "_adds_request_id", False):
        return

    def record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = current_request_id.get()
        return record

    record_factory._adds_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record_factory)


def route_label(request: web.Request) -> str:
    """The route template (``/api/orders/{id}``), never the raw path: bounded label values."""
    route = request.match_info.route
    resource = route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    offered = request.headers.get("X-Request-Id", "")
    request_id = offered if _SANE_ID.match(offered) else secrets.token_hex(8)
    request[REQUEST_ID] = request_id
    token = current_request_id.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        return response
    finally:
        elapsed = (time.perf_counter() - started) * 1000
        request.app[METRICS].count_request(route_label(request), request.method, status)
        access_log.info(
            "%s %s %s %.1fms request_id=%s",
            request.method,
            request.path,
            status,
            elapsed,
            request_id,
        )
        current_request_id.reset(token)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.get(REQUEST_ID)
    try:
        return await handler(request)
    except ApiError as exc:
        error = exc
    except RebateError as exc:
        error = from_domain(exc)
    except WeChatError as exc:
        log.warning("WeChat call failed for %s %s: %r", request.method, request.path, exc)
        error = from_wechat(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = from_http(exc)
    except Exception:
        log.exception(
            "unhandled error in %s %s (request_id=%s)", request.method, request.path, request_id
        )
        error = INTERNAL
    return json_error(error, request_id)


@web.middleware
async def body_cap(request: web.Request, handler: Handler) -> web.StreamResponse:
    limit = request.app[SETTINGS].server.max_body_bytes  # the app's client_max_size
    declared = request.content_length
    own_cap = request.match_info.route.name in request.app.get(OWN_BODY_CAP, ())
    if declared is not None and declared > limit and not own_cap:
        raise ApiError(
            413,
            "body_too_large",
            f"请求内容过大（上限 {limit} 字节）",
            headers={"Connection": "close"},
        )
    return await handler(request)
