"""The OpenAPI 3 document, rendered from the installed route specs (``registry.RouteSpec``).

Request schemas are rendered as enforced (``registry.as_enforced``: bigint bounds, the text
pattern). In a success response every object schema that names no ``required`` of its own
requires all its properties: a field that is sometimes absent is declared by leaving it out of
an explicit ``required``. Every JSON refusal is ``components/schemas/Error``, whose ``code`` is
one of ``web.errors.ERROR_CODES``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from web.errors import ERROR_CODES
from web.registry import RouteSpec, Schema, as_enforced

ERROR_SCHEMA: Schema = {
    "type": "object",
    "required": ["code", "message", "field"],
    "properties": {
        "code": {
            "type": "string",
            "enum": list(ERROR_CODES),
            "description": "stable machine-readable code: "
            + "; ".join(f"`{code}` {meaning}" for code, meaning in ERROR_CODES.items()),
        },
        "message": {"type": "string", "description": "为会员显示的中文说明"},
        "field": {"type": "string", "nullable": True, "description": "offending input, if any"},
    },
}

_ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _responses(spec: RouteSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, reply in sorted(spec.responses.items()):
        item: dict[str, Any] = {"description": reply.description}
        if reply.content_type == "application/json" and status >= 400 and reply.schema is None:
            item = _error(reply.description)
        elif reply.schema is not None:
            schema = required_all(reply.schema) if status < 300 else dict(reply.schema)
            item["content"] = {reply.content_type: {"schema": schema}}
        elif reply.content_type != "application/json":
            item["content"] = {reply.content_type: {}}
        out[str(status)] = item
    implied: list[tuple[int, str]] = [(500, "服务器内部错误")]
    if spec.body is not None:
        implied += [(400, "请求内容无效"), (413, "请求内容过大")]
    if spec.auth != "none":
        implied.append((401, "未登录或登录已过期"))
    if spec.auth == "admin":
        implied.append((403, "需要管理员权限：角色没有该权限，或缺少 X-CSRF-Token"))
    if spec.path_params:
        implied += [(400, "路径参数超出范围"), (404, "资源不存在")]
    if spec.query_params:
        implied.append((400, "查询参数无效"))
    if spec.rate_limited:
        implied.append((429, "请求过于频繁（见 Retry-After）"))
    for status, description in implied:
        out.setdefault(str(status), _error(description))
    return dict(sorted(out.items()))


def required_all(schema: Schema) -> dict[str, Any]:
    """A success response's schema with its objects' properties required (the docstring)."""
    out: dict[str, Any] = dict(schema)
    properties = out.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {name: required_all(sub) for name, sub in properties.items()}
        if properties and "required" not in out:
            out["required"] = list(properties)
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = required_all(out[key])
    return out


def _operation(spec: RouteSpec) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": spec.operation_id,
        "summary": spec.summary,
        "responses": _responses(spec),
    }
    if spec.description:
        op["description"] = spec.description
    if spec.tags:
        op["tags"] = list(spec.tags)
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": as_enforced(spec.path_params.get(name, {"type": "string"})),
        }
        for name in spec.path_param_names()
    ]
    params += [
        {"name": name, "in": "query", "required": False, "schema": as_enforced(schema)}
        for name, schema in spec.query_params.items()
    ]
    params += [
        {"name": name, "in": "header", "required": False, "schema": as_enforced(schema)}
        for name, schema in spec.header_params.items()
    ]
    if params:
        op["parameters"] = params
    if spec.body is not None:
        media: dict[str, Any] = {"schema": as_enforced(spec.body)}
        if spec.body_example is not None:
            media["example"] = spec.body_example
        op["requestBody"] = {
            "required": spec.body_required,
            "content": {spec.body_content_type: media},
        }
    if spec.auth == "member":
        op["security"] = [{"memberToken": []}]
    elif spec.auth == "admin":
        op["security"] = [{"adminToken": []}, {"adminSession": []}]
        op["x-permission"] = spec.permission
    return op


def document(specs: Sequence[RouteSpec], *, title: str, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {
                "memberToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "会员令牌: returned by POST /api/login",
                },
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "运营后台令牌: issued to operators, never to members",
                },
                "adminSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "qr_admin_session",
                    "description": "运营后台登录: set by POST /api/admin/session; a change "
                    "made with it sends the session's csrf_token in X-CSRF-Token",
                },
            },
        },
    }
