"""Referral binding (SPEC §8): once, never self, never a cycle, never changed — and a refused
binding never fails the login."""

from __future__ import annotations

import asyncio
import logging

import pytest

from models import Member
from services.distribution.referral import Binding, bind_referrer, member_arrives
from services.members.accounts import new_member
from tests.api.conftest import Api

# --- the service, on both backends -----------------------------------------------------------


async def test_binding_sets_the_referrer_once(db: str) -> None:
    alice, bob = await new_member("oA"), await new_member("oB")
    assert await bind_referrer(bob.id, alice.referral_code) == Binding.BOUND
    assert (await Member.get(id=bob.id)).referrer_id == alice.id  # type: ignore[attr-defined]


async def test_codes_are_read_case_insensitively_and_trimmed(db: str) -> None:
    alice, bob = await new_member("oA"), await new_member("oB")
    assert await bind_referrer(bob.id, f"  {alice.referral_code.lower()} ") == Binding.BOUND


async def test_a_member_is_never_their_own_referrer(db: str) -> None:
    alice = await new_member("oA")
    assert await bind_referrer(alice.id, alice.referral_code) == Binding.SELF
    assert (await Member.get(id=alice.id)).referrer_id is None  # type: ignore[attr-defined]


async def test_a_referrer_is_never_changed(db: str) -> None:
    alice, bob, carol = await new_member("oA"), await new_member("oB"), await new_member("oC")
    await bind_referrer(carol.id, alice.referral_code)
    assert await bind_referrer(carol.id, bob.referral_code) == Binding.ALREADY_BOUND
    assert (await Member.get(id=carol.id)).referrer_id == alice.id  # type: ignore[attr-defined]


async def test_binding_never_forms_a_cycle_however_long(db: str) -> None:
    chain = [await new_member(f"o{i}") for i in range(6)]
    for child, parent in zip(chain[1:], chain[:-1], strict=True):  # 0 ← 1 ← 2 ← … ← 5
        assert await bind_referrer(child.id, parent.referral_code) == Binding.BOUND
    assert await bind_referrer(chain[0].id, chain[5].referral_code) == Binding.CYCLE
    assert await bind_referrer(chain[0].id, chain[1].referral_code) == Binding.CYCLE
    assert (await Member.get(id=chain[0].id)).referrer_id is None  # type: ignore[attr-defined]


async def test_an_unknown_code_binds_nothing(db: str) -> None:
    alice = await new_member("oA")
    for code in ("NOPE2345", "", "X" * 40):
        assert await bind_referrer(alice.id, code) == Binding.UNKNOWN_CODE


async def test_two_first_logins_of_one_person_make_one_member(db: str) -> None:
    arrivals = await asyncio.gather(*(member_arrives("oTwin") for _ in range(5)))
    assert {a.member.id for a in arrivals} == {arrivals[0].member.id}
    assert sum(a.created for a in arrivals) == 1
    assert await Member.filter(openid="oTwin").count() == 1


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_two_members_binding_each_other_at_once_form_no_cycle(db: str) -> None:
    for round_ in range(5):
        a, b = await new_member(f"oX{round_}"), await new_member(f"oY{round_}")
        outcomes = await asyncio.gather(
            bind_referrer(a.id, b.referral_code), bind_referrer(b.id, a.referral_code)
        )
        assert sorted(outcomes) == sorted([Binding.BOUND, Binding.CYCLE])


# --- through login ----------------------------------------------------------------------------


async def test_login_through_a_referral_code_binds_the_referrer(api: Api) -> None:
    alice = (await api.login("oAlice"))["member"]
    bob = (await api.login("oBob", referral_code=alice["referral_code"]))["member"]
    assert bob["referrer_id"] == alice["id"]


async def test_refused_bindings_let_the_login_succeed_and_are_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="services.distribution.referral")
    alice = (await api.login("oAlice"))["member"]
    again = (await api.login("oAlice", referral_code=alice["referral_code"]))["member"]
    unknown = (await api.login("oBob", referral_code="ZZZZ9999"))["member"]
    assert again["referrer_id"] is None and unknown["referrer_id"] is None
    assert "self" in caplog.text and "unknown_code" in caplog.text


async def test_a_member_who_came_without_a_code_is_bound_by_the_first_code(api: Api) -> None:
    alice = (await api.login("oAlice"))["member"]
    carol = (await api.login("oCarol"))["member"]
    assert (await api.login("oBob"))["member"]["referrer_id"] is None
    bound = await api.login("oBob", referral_code=alice["referral_code"])
    later = await api.login("oBob", referral_code=carol["referral_code"])
    assert bound["member"]["referrer_id"] == later["member"]["referrer_id"] == alice["id"]


async def test_login_refuses_a_cycle_silently(api: Api) -> None:
    alice = (await api.login("oAlice"))["member"]
    bob = (await api.login("oBob", referral_code=alice["referral_code"]))["member"]
    back = await api.login("oAlice", referral_code=bob["referral_code"])
    assert back["member"]["referrer_id"] is None
