"""Request id, access log and metrics; errors as JSON; the request body cap.

Order (outermost first): ``request_context`` gives every request an id (the client's
``X-Request-Id`` when it is a sane token, else a fresh one), echoes it in the response, binds it
to every log line of the request (``runtime.logs``), times the request for its route's metrics
(``runtime.metrics``) and writes one access line per request;
``json_errors`` turns every refusal into the JSON error body; ``body_cap`` refuses a declared
``Content-Length`` above ``[server] max_body_bytes`` before reading anything (a chunked body is
cut off by aiohttp's ``client_max_size`` while it is read: the same 413) — except on the routes
that cap their own bodies (``RouteSpec.body_cap`` False: WeChat Pay's notifications, whose
refusals WeChat wants in its own format).
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from aiohttp import web

from rebate.errors import RebateError
from runtime import logs, metrics
from web.errors import (
    INTERNAL,
    ApiError,
    from_domain,
    from_http,
    from_wechat,
    json_error,
)
from web.keys import SETTINGS
from web.registry import OWN_BODY_CAP, Handler
from wechat.errors import WeChatError

log = logging.getLogger(__name__)
access_log = logging.getLogger("miniapp_api.access")

REQUEST_ID = web.RequestKey("request_id", str)
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}\Z")


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
    token = logs.bind(request_id=request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        return response
    finally:
        elapsed = time.perf_counter() - started
        metrics.observe_request(route_label(request), request.method, status, elapsed)
        access_log.info(
            "%s %s %s %.1fms",
            request.method,
            request.path,
            status,
            elapsed * 1000,
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round(elapsed * 1000, 1),
            },
        )
        logs.reset(token)


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
