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
from schemathesis.specs.openapi.checks import response_schema_conformance

from models import Member
from services.merchants.onboarding import apply_for_merchant
from tests.api.conftest import Api, bearer
from tests.api.test_api_paging import withdrawal
from tests.distribution.support import MERCHANT_FORM, approved_store, base_rules, buy, pay_cashier
from tests.services.helpers import T0, Clock

EXAMPLES = 6  # per operation and generation mode


def no_server_fault(ctx: Any, response: Any, case: Any) -> bool:
    """No 500, and no other 5xx than the operation documents (WeChat's 502/503: the fake
    WeChat knows none of the rows made here, so refunds and payouts reach it and fail)."""
    documented = case.operation.definition.raw["responses"]
    status = response.status_code
    assert status != 500 and (status < 500 or str(status) in documented), (
        f"{status} {response.text[:300]}"
    )
    return True


CHECKS = [no_server_fault, response_schema_conformance]
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


async def rows_of_mine(member_id: int) -> None:
    """Something of the member's for the fuzzed ids to find (small ids come first): a store
    and its cashier, orders with entries, a withdrawal, a merchant application."""
    await base_rules(extract_bp=100)
    clock = Clock()
    store = await approved_store(member_id)
    await buy(member_id, 10_000, clock)
    await pay_cashier(member_id, store, 5_000, clock)
    await withdrawal(member_id, 1, "requested")
    await apply_for_merchant(member_id, MERCHANT_FORM, now=T0)


async def test_no_500_and_no_schema_violation_as_member_or_operator(api: Api) -> None:
    member = await api.login()
    await rows_of_mine(int(member["member"]["id"]))
    assert await Member.all().count() == 1
    tokens = {"memberToken": str(member["token"]), "adminToken": api.admin_token()}
    document = await (await api.client.get("/api/openapi.json")).json()
    base_url = str(api.client.make_url("")).rstrip("/")
    # schemathesis calls synchronously: in a thread, while this loop serves the requests
    failures = await asyncio.to_thread(fuzz_all, document, base_url, tokens)
    assert not failures, "\n\n".join(failures)
