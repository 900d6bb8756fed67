"""Route specs: one declaration per endpoint drives routing, auth, body validation and the
OpenAPI document, so the document cannot drift from what the server does.

A views module builds a ``Registry`` and decorates its handlers::

    routes = Registry()

    @routes.post("/api/login", summary="...", body=LOGIN_BODY, responses={200: ...})
    async def login(request): ...

``create_app`` installs every registry; ``openapi.document`` renders the installed specs. The
request body, when a spec declares one, is read (within ``client_max_size``), parsed and checked
against its schema before the handler runs, and handed over as ``request[BODY]``.

Schemas are a small subset of OpenAPI 3.0 schema objects, enforced by ``validate``: ``type``
(object, array, string, integer, boolean), ``properties``, ``required``,
``additionalProperties: false``, ``items``, ``enum``, ``minimum``/``maximum``,
``minLength``/``maxLength``, ``minItems``/``maxItems``, ``nullable``. Integers are JSON integers
only: ``true`` and ``1.0`` are refused (money is whole fen).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from web.auth import MEMBER_ID, OPERATOR, TokenKind, authenticate, member_id_of
from web.errors import ApiError
from web.keys import TOKENS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Schema = Mapping[str, Any]
Auth = Literal["none", "member", "admin"]

BODY = web.RequestKey("json_body", dict)
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Reply:
    """One documented response: a description and, for JSON, its schema."""

    description: str
    schema: Schema | None = None
    content_type: str = "application/json"


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    summary: str
    responses: Mapping[int, Reply]
    auth: Auth = "none"
    body: Schema | None = None
    body_content_type: str = "application/json"  # others are documented, not validated
    body_required: bool = True  # False: an empty body reads as {}
    tags: tuple[str, ...] = ()
    description: str = ""
    rate_limited: bool = False
    path_params: Mapping[str, Schema] = field(default_factory=dict)
    query_params: Mapping[str, Schema] = field(default_factory=dict)  # documented; views parse
    header_params: Mapping[str, Schema] = field(default_factory=dict)  # optional; views parse
    # False: the handler reads and caps its body itself, and refuses one too large in its own
    # format (WeChat Pay's notifications); the app's body_cap middleware leaves it alone
    body_cap: bool = True

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    def path_param_names(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)


ROUTE_SPECS: web.AppKey[list[RouteSpec]] = web.AppKey("route_specs")  # for the document
OWN_BODY_CAP: web.AppKey[set[str]] = web.AppKey("own_body_cap")  # names of body_cap=False routes


class Registry:
    def __init__(self) -> None:
        self.specs: list[RouteSpec] = []

    def route(
        self, method: str, path: str, *, summary: str, responses: Mapping[int, Reply], **extra: Any
    ) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self.specs.append(RouteSpec(method.upper(), path, handler, summary, responses, **extra))
            return handler

        return decorate

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)


def install(app: web.Application, specs: Sequence[RouteSpec]) -> None:
    app.setdefault(ROUTE_SPECS, []).extend(specs)
    app.setdefault(OWN_BODY_CAP, set()).update(s.operation_id for s in specs if not s.body_cap)
    for spec in specs:
        app.router.add_route(spec.method, spec.path, _guard(spec), name=spec.operation_id)


def _guard(spec: RouteSpec) -> Handler:
    """The handler behind its auth check and body validation."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        if spec.auth == "member":
            claims = authenticate(request, request.app[TOKENS], TokenKind.MEMBER)
            request[MEMBER_ID] = member_id_of(claims)
        elif spec.auth == "admin":
            request[OPERATOR] = authenticate(request, request.app[TOKENS], TokenKind.ADMIN).subject
        if spec.body is not None and spec.body_content_type == "application/json":
            request[BODY] = await read_json(request, spec.body, required=spec.body_required)
        return await spec.handler(request)

    guarded.__name__ = spec.operation_id
    guarded.__doc__ = spec.handler.__doc__
    return guarded


async def read_json(request: web.Request, schema: Schema, *, required: bool) -> dict[str, Any]:
    raw = await request.read()  # over client_max_size: HTTPRequestEntityTooLarge → 413
    if not raw.strip():
        if not required:
            return {}
        raise ApiError(400, "malformed_json", "请求内容不能为空")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "malformed_json", "请求内容不是有效的 JSON") from None
    validate(schema, data, "")
    if not isinstance(data, dict):  # every request schema is an object
        raise ApiError(400, "invalid_field", "请求内容必须是 JSON 对象")
    return data


def path_int(request: web.Request, name: str) -> int:
    """A numeric path parameter; anything else is a resource that does not exist."""
    value = request.match_info[name]
    if not value.isdigit() or len(value) > 18:
        raise ApiError(404, "not_found", "请求的资源不存在", field=name)
    return int(value)


# --- validation ---------------------------------------------------------------------------------


def _refuse(path: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", message, field=path or None)


_TYPE_NAMES = {
    "object": "对象",
    "array": "数组",
    "string": "字符串",
    "integer": "整数",
    "boolean": "布尔值",
}


def _is_type(kind: str, value: Any) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    raise ValueError(f"unsupported schema type {kind!r}")


def validate(schema: Schema, value: Any, path: str) -> None:
    """Refuse ``value`` with a 400 naming the field (dotted path) when it breaks ``schema``."""
    label = path or "请求内容"
    if value is None:
        if schema.get("nullable"):
            return
        raise _refuse(path, f"{label} 不能为空")
    kind = schema.get("type")
    if kind is not None and not _is_type(kind, value):
        raise _refuse(path, f"{label} 必须是{_TYPE_NAMES[kind]}")
    if "enum" in schema and value not in schema["enum"]:
        choices = "、".join(str(c) for c in schema["enum"])
        raise _refuse(path, f"{label} 必须是以下之一：{choices}")
    if kind == "integer":
        if "minimum" in schema and value < schema["minimum"]:
            raise _refuse(path, f"{label} 不能小于 {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise _refuse(path, f"{label} 不能大于 {schema['maximum']}")
    if kind == "string":
        if len(value) < schema.get("minLength", 0):
            raise _refuse(path, f"{label} 不能为空" if len(value) == 0 else f"{label} 太短")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise _refuse(path, f"{label} 不能超过 {schema['maxLength']} 个字符")
    if kind == "array":
        if len(value) < schema.get("minItems", 0):
            raise _refuse(path, f"{label} 至少需要 {schema['minItems']} 项")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise _refuse(path, f"{label} 最多 {schema['maxItems']} 项")
        for i, item in enumerate(value):
            validate(schema.get("items", {}), item, f"{path}[{i}]")
    if kind == "object":
        properties: Mapping[str, Schema] = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise _refuse(_join(path, name), f"缺少 {_join(path, name)}")
        if schema.get("additionalProperties") is False:
            for name in value:
                if name not in properties:
                    raise _refuse(_join(path, name), f"不支持的字段 {_join(path, name)}")
        for name, sub in properties.items():
            if name in value:
                validate(sub, value[name], _join(path, name))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
