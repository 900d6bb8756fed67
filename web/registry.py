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
``minLength``/``maxLength``, ``pattern``, ``minItems``/``maxItems``, ``nullable``. Integers are
JSON integers only: ``true`` and ``1.0`` are refused (money is whole fen).

Path and query parameters are checked against their schemas the same way before the handler
runs (views still read them with ``web.query``): a query value of the wrong type, out of its
bounds or not in its enum is a 400 naming it, an empty one is absent; a path value that is not
of its type or not in its enum names no resource (404), one out of its bounds is a 400.

Two rules hold for every value a request carries, declared or not (free-form objects too), and
the document states them on every request schema (``as_enforced``): an integer fits PostgreSQL's
``bigint`` (``minimum``/``maximum`` no wider than ±2^63), and text — values and object keys —
holds no control character but tab, line feed and carriage return, nor a lone UTF-16 surrogate
(``pattern: TEXT_PATTERN``): PostgreSQL stores neither a NUL nor those. A float that is not
finite is refused too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from runtime import logs
from services.operators.roles import is_permission
from web.auth import MEMBER_ID, OPERATOR, TokenKind, authenticate, member_id_of
from web.errors import ApiError
from web.keys import TOKENS
from web.operator_auth import IDENTITY, authenticate_operator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Schema = Mapping[str, Any]
Auth = Literal["none", "member", "admin"]

BODY = web.RequestKey("json_body", dict)
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # PostgreSQL bigint
# the characters no text may hold: C0 controls but tab, LF, CR; DEL; lone surrogates
_BAD_TEXT = "\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F\\uD800-\\uDFFF"
TEXT_PATTERN = f"^[^{_BAD_TEXT}]*$"  # ECMA-262 and Python alike
_BAD_CHAR = re.compile(f"[{_BAD_TEXT}]")
_WHOLE = re.compile(r"-?[0-9]+")


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
    body_example: Mapping[str, Any] | None = None  # a valid body, shown in the document
    # False: the handler reads and caps its body itself, and refuses one too large in its own
    # format (WeChat Pay's notifications); the app's body_cap middleware leaves it alone
    body_cap: bool = True
    # an operators' route (auth "admin"): the permission its caller's role needs
    # (``services.operators.roles``; ``"any"``: any signed-in operator). Required there.
    permission: str | None = None

    def __post_init__(self) -> None:
        if self.auth == "admin" and (self.permission is None or not is_permission(self.permission)):
            raise ValueError(f"{self.method} {self.path}: an admin route declares its permission")
        if self.auth != "admin" and self.permission is not None:
            raise ValueError(f"{self.method} {self.path}: only admin routes take a permission")

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

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)


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
            logs.bind(member_id=request[MEMBER_ID])  # reset with the request's context
        elif spec.auth == "admin":
            assert spec.permission is not None  # RouteSpec refuses an admin route without one
            identity = await authenticate_operator(request, spec.permission)
            request[IDENTITY] = identity
            request[OPERATOR] = identity.name
            logs.bind(operator=request[OPERATOR])
        check_params(request, spec)
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
    scan(data, "")
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


def check_params(request: web.Request, spec: RouteSpec) -> None:
    """The route's path and query parameters against their schemas (the module's docstring)."""
    for name in spec.path_param_names():
        schema = spec.path_params.get(name, {"type": "string"})
        value = _param(schema, request.match_info[name])
        if value is None:
            raise ApiError(404, "not_found", "请求的资源不存在", field=name)
        if "enum" in schema and value not in schema["enum"]:
            choices = "、".join(str(c) for c in schema["enum"])
            raise ApiError(404, "not_found", f"{name} 必须是以下之一：{choices}", field=name)
        _check_value(schema, value, name)
    for name, schema in spec.query_params.items():
        for raw in request.query.getall(name, ()):
            if raw == "":
                continue
            value = _param(schema, raw)
            if value is None:
                kind = _TYPE_NAMES.get(schema.get("type", "string"), "字符串")
                raise _refuse(name, f"{name} 必须是{kind}")
            _check_value(schema, value, name)


def _param(schema: Schema, raw: str) -> Any:
    """A parameter's text as its schema's type, or None when it is not of that type."""
    kind = schema.get("type", "string")
    if kind == "integer":
        if not _WHOLE.fullmatch(raw):
            return None
        if len(raw.lstrip("-")) > 19:  # far out of bounds (and int() caps digits)
            return INT64_MAX + 1 if raw[0] != "-" else INT64_MIN - 1
        return int(raw)
    if kind == "boolean":
        return {"true": True, "1": True, "false": False, "0": False}.get(raw)
    return raw if kind == "string" else None


def _check_value(schema: Schema, value: Any, path: str) -> None:
    scan(value, path)
    validate(schema, value, path)


def scan(value: Any, path: str) -> None:
    """Refuse what no field may hold (the module's docstring), wherever it is in ``value``."""
    if isinstance(value, str):
        if _BAD_CHAR.search(value):
            raise _refuse(path, f"{path or '请求内容'} 不能包含控制字符")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise _refuse(path, f"{path or '请求内容'} 超出范围")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _refuse(path, f"{path or '请求内容'} 不是有效的数字")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            scan(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for name, item in value.items():
            if _BAD_CHAR.search(name):
                raise _refuse(path, f"{path or '请求内容'} 的字段名不能包含控制字符")
            scan(item, _join(path, name))


def as_enforced(schema: Schema) -> Schema:
    """``schema`` with the rules every request value obeys written into it: ``pattern`` on text
    (unless it has an enum or pattern of its own), bigint bounds on integers — for the
    document, so clients and fuzzers see what the server refuses."""
    out: dict[str, Any] = dict(schema)
    kind = out.get("type")
    if kind == "string" and "enum" not in out and "pattern" not in out:
        out["pattern"] = TEXT_PATTERN
    if kind == "integer":
        out["maximum"] = min(out.get("maximum", INT64_MAX), INT64_MAX)
        out["minimum"] = max(out.get("minimum", INT64_MIN), INT64_MIN)
    if isinstance(out.get("properties"), Mapping):
        out["properties"] = {k: as_enforced(v) for k, v in out["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), Mapping):
            out[key] = as_enforced(out[key])
    return out


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
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise _refuse(path, f"{label} 格式不正确")
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
