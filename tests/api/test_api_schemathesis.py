"""schemathesis against the app's own OpenAPI document: every operation, with data that fits
its schemas and data that does not, as a member and as an operator (each operation with the
token its security names), through a real server on PostgreSQL and Redis. No answer may be a
500, and every documented answer must match its schema (required fields, no undeclared ones,
the error codes' enum).

Bounded: a few examples per operation and mode, derandomized (the same cases on every run), no
database of examples — the whole test stays under a minute on a two-core machine. A failure
lists every operation that failed, with the request that did it (as curl)."""

from __future__ import annotations

import asyncio
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api.conftest import Api, bearer

EXAMPLES = 6  # per operation and generation mode
CHECKS = [not_a_server_error, response_schema_conformance]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


def fuzz(operation: Any, mode: Any, base_url: str, headers: dict[str, str]) -> str | None:
    """The first failure of ``operation`` in ``mode``, or None."""
    session = requests.Session()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is enough
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        case.call_and_validate(
            base_url=base_url, session=session, headers=headers, checks=CHECKS, timeout=30
        )

    try:
        run()
    except Unsatisfiable:  # nothing to negate (no parameters, no JSON body): nothing to send
        return None
    except Exception as exc:  # a failed check: name the operation, go on with the others
        return f"{operation.method.upper()} {operation.path} ({mode}): {exc}"
    finally:
        session.close()
    return None


def fuzz_all(document: dict[str, Any], base_url: str, tokens: dict[str, str]) -> list[str]:
    failures = []
    for result in schemathesis.openapi.from_dict(document).get_all_operations():
        operation = result.ok()
        security = operation.definition.raw.get("security", [{}])
        scheme = next(iter(security[0]), None)
        headers = bearer(tokens[scheme]) if scheme else {}
        for mode in MODES:
            failure = fuzz(operation, mode, base_url, headers)
            if failure is not None:
                failures.append(failure)
    return failures


async def test_no_500_and_no_schema_violation_as_member_or_operator(api: Api) -> None:
    tokens = {"memberToken": await api.member_token(), "adminToken": api.admin_token()}
    document = await (await api.client.get("/api/openapi.json")).json()
    base_url = str(api.client.make_url("")).rstrip("/")
    # schemathesis calls synchronously: in a thread, while this loop serves the requests
    failures = await asyncio.to_thread(fuzz_all, document, base_url, tokens)
    assert not failures, "\n\n".join(failures)
