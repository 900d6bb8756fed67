"""The registry's one validation, walked over every route: each text field of a body, path or
query (nested ones and free-form objects too) sent a NUL, each integer one 2^63, is a 400
naming that field — never a 500 — and no row of any table changes. Before this check
PostgreSQL refused both (``CharacterNotInRepertoireError``, ``value out of int64 range``) and
the answer was a 500. The document states both rules, and every error code the source can
raise is in the document's ``Error`` enum."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tortoise import connections

from server.app import route_specs
from tests.api.conftest import Api, bearer
from web.errors import ERROR_CODES, HTTP_MESSAGES
from web.registry import INT64_MAX, TEXT_PATTERN, RouteSpec, Schema, scan, validate

NUL = "a\u0000b"
HUGE = 2**63
ROOT = Path(__file__).resolve().parents[2]


def bad_bodies(schema: Schema, field: str = "") -> Iterator[tuple[str, Any]]:
    """(the field's name as the API names it, a body holding a bad value there) for every
    text and integer field of ``schema``; a free-form object gets a key of its own."""
    kind = schema.get("type")
    if kind == "string":
        yield field, NUL
    elif kind == "integer":
        yield field, HUGE
    elif kind == "array":
        for name, value in bad_bodies(schema.get("items", {}), f"{field}[0]"):
            yield name, [value]
    elif kind == "object":
        properties = schema.get("properties") or {"key": {"type": "string"}}
        for prop, sub in properties.items():
            for name, value in bad_bodies(sub, f"{field}.{prop}" if field else prop):
                yield name, {prop: value}


def bad_requests(spec: RouteSpec) -> Iterator[tuple[int, str, str, Any]]:
    """(status, field, url, JSON body or None) of every bad value ``spec`` can be sent: a 400,
    but a path value outside its enum names no resource (404)."""
    good = {
        name: spec.path_params.get(name, {}).get("enum", ["1"])[0]
        for name in spec.path_param_names()
    }
    for name in spec.path_param_names():
        schema = spec.path_params.get(name, {"type": "string"})
        bad = str(HUGE) if schema.get("type") == "integer" else quote(NUL)
        yield 404 if "enum" in schema else 400, name, spec.path.format(**{**good, name: bad}), None
    url = spec.path.format(**good)
    for name, schema in spec.query_params.items():
        bad = str(HUGE) if schema.get("type") == "integer" else quote(NUL)
        yield 400, name, f"{url}?{name}={bad}", None
    if spec.body is not None and spec.body_content_type == "application/json":
        for name, body in bad_bodies(spec.body):
            yield 400, name, url, body


async def rows() -> dict[str, list[Any]]:
    conn = connections.get("default")
    tables = await conn.execute_query_dict(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    )
    return {
        t["tablename"]: await conn.execute_query_dict(f'SELECT * FROM "{t["tablename"]}"')
        for t in tables
    }


async def test_nul_and_2_63_anywhere_are_a_400_naming_the_field(api: Api) -> None:
    tokens = {"member": bearer(await api.member_token()), "admin": bearer(api.admin_token())}
    tokens["none"] = {}
    before = await rows()
    sent = 0
    for spec in route_specs():
        for status, field, url, body in bad_requests(spec):
            response = await api.client.request(
                spec.method, url, json=body, headers=tokens[spec.auth]
            )
            answer = await response.json()
            code = "invalid_field" if status == 400 else "not_found"
            assert (response.status, answer["code"], answer["field"]) == (status, code, field), (
                spec.method,
                url,
                body,
                answer,
            )
            sent += 1
    assert sent > 150  # every route with a body, path or query parameter
    assert await rows() == before


async def test_the_document_states_the_rules_on_every_request_value(api: Api) -> None:
    document = await (await api.client.get("/api/openapi.json")).json()
    seen = {"string": 0, "integer": 0}

    def walk(schema: Schema) -> None:
        kind = schema.get("type")
        if kind == "string" and "enum" not in schema:
            assert "pattern" in schema, schema
            seen["string"] += 1
        if kind == "integer":
            assert -(2**63) <= schema["minimum"] <= schema["maximum"] <= INT64_MAX, schema
            seen["integer"] += 1
        for sub in (schema.get("properties") or {}).values():
            walk(sub)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                walk(schema[key])

    for ops in document["paths"].values():
        for op in ops.values():
            for param in op.get("parameters", []):
                walk(param["schema"])
            for media in op.get("requestBody", {}).get("content", {}).values():
                walk(media["schema"])
    assert seen["string"] > 50 and seen["integer"] > 50
    turnover = document["paths"]["/api/merchant/stores/{store_id}/turnover"]["get"]
    assert {p["name"] for p in turnover["parameters"] if p["in"] == "query"} == {
        "date_from",
        "date_to",
    }  # once only in the description's prose
    assert re.search(TEXT_PATTERN, "换行\n制表\t") and not re.search(TEXT_PATTERN, NUL)


def raised_codes() -> set[str]:
    """Every error code in the source: ``ApiError(status, "code", ...)`` and the domain
    errors' ``code = "..."``."""
    codes = {code for code, _ in HTTP_MESSAGES.values()}
    for folder in ("rebate", "services", "ledger", "web", "admin_api", "miniapp_api", "server"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", None) == "ApiError"
                    and len(node.args) > 1
                    and isinstance(node.args[1], ast.Constant)
                ):
                    codes.add(node.args[1].value)
                if isinstance(node, ast.ClassDef):
                    for stmt in node.body:
                        if (
                            isinstance(stmt, ast.Assign)
                            and [getattr(t, "id", None) for t in stmt.targets] == ["code"]
                            and isinstance(stmt.value, ast.Constant)
                        ):
                            codes.add(stmt.value.value)
    return codes


async def test_every_error_code_is_in_the_documents_enum(api: Api) -> None:
    document = await (await api.client.get("/api/openapi.json")).json()
    enum = document["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
    assert enum == list(ERROR_CODES)
    assert raised_codes() - set(enum) == set()
    op = document["paths"]["/api/orders"]["post"]
    assert op["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_the_examples_are_valid_bodies_and_the_main_bodies_have_one() -> None:
    examples = {
        f"{spec.method} {spec.path}": spec
        for spec in route_specs()
        if spec.body_example is not None
    }
    for spec in examples.values():
        assert spec.body is not None
        scan(spec.body_example, "")
        validate(spec.body, spec.body_example, "")
    assert {
        "POST /api/login",
        "POST /api/orders",
        "POST /api/orders/{id}/lines/{line_id}/refund",
        "POST /api/wallet/withdrawals",
        "POST /api/merchant-applications",
        "POST /api/admin/members/{id}/adjustments",
        "POST /api/admin/products",
    } <= set(examples)
