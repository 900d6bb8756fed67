"""The OpenAPI 3 document, rendered from the installed route specs (``registry.RouteSpec``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from web.registry import RouteSpec, Schema

ERROR_SCHEMA: Schema = {
    "type": "object",
    "required": ["code", "message", "field"],
    "properties": {
        "code": {"type": "string", "description": "stable machine-readable code"},
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
            item["content"] = {reply.content_type: {"schema": dict(reply.schema)}}
        elif reply.content_type != "application/json":
            item["content"] = {reply.content_type: {}}
        out[str(status)] = item
    implied: list[tuple[int, str]] = [(500, "服务器内部错误")]
    if spec.body is not None:
        implied += [(400, "请求内容无效"), (413, "请求内容过大")]
    if spec.auth != "none":
        implied.append((401, "未登录或登录已过期"))
    if spec.auth == "admin":
        implied.append((403, "需要管理员权限"))
    if spec.path_params:
        implied.append((404, "资源不存在"))
    if spec.query_params:
        implied.append((400, "查询参数无效"))
    if spec.rate_limited:
        implied.append((429, "请求过于频繁（见 Retry-After）"))
    for status, description in implied:
        out.setdefault(str(status), _error(description))
    return dict(sorted(out.items()))


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
            "schema": dict(spec.path_params.get(name, {"type": "string"})),
        }
        for name in spec.path_param_names()
    ]
    params += [
        {"name": name, "in": "query", "required": False, "schema": dict(schema)}
        for name, schema in spec.query_params.items()
    ]
    params += [
        {"name": name, "in": "header", "required": False, "schema": dict(schema)}
        for name, schema in spec.header_params.items()
    ]
    if params:
        op["parameters"] = params
    if spec.body is not None:
        op["requestBody"] = {
            "required": spec.body_required,
            "content": {spec.body_content_type: {"schema": dict(spec.body)}},
        }
    if spec.auth == "member":
        op["security"] = [{"memberToken": []}]
    elif spec.auth == "admin":
        op["security"] = [{"adminToken": []}]
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
            },
        },
    }
