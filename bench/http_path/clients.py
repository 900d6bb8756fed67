"""Members as the mini-program makes them: ``POST /api/login`` (code2session at the fake WeChat),
then ``POST /api/orders`` (the order and its WeChat Pay v3 prepay, at the fake).

``queue-rebate serve`` limits logins and new orders per client IP and per member
(``web.options.RateLimits``: 30 logins and 60 orders a minute per IP, 20 orders per member) and
its configuration file cannot change that. Real members come from many addresses, so each
benchmark member connects from its own loopback address (127.0.x.y, all of 127/8 reaches the
loopback interface on Linux) and places at most ``ORDERS_PER_MEMBER`` orders a repeat.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

ORDERS_PER_MEMBER = 5
_addresses = itertools.count()


def next_address() -> str:
    """A fresh loopback source address, 127.1.0.1 onwards (never 127.0.0.1)."""
    n = next(_addresses)
    return f"127.{1 + n // 62_500}.{n // 250 % 250}.{1 + n % 250}"


@dataclass
class Member:
    code: str
    base_url: str
    session: aiohttp.ClientSession
    token: str = ""
    member_id: int = 0

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Order:
    member: Member
    order_id: int
    out_trade_no: str
    lines: int


@dataclass
class Timed:
    """Latencies (s) of one phase and its wall time."""

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0


async def expect(reply: aiohttp.ClientResponse, status: int, what: str) -> Any:
    body = await reply.read()
    if reply.status != status:
        text = body.decode(errors="replace")[:500]
        raise RuntimeError(f"{what}: HTTP {reply.status} (expected {status}): {text}")
    return await reply.json() if body else None


async def run_pool(jobs: Sequence[Callable[[], Awaitable[float]]], concurrency: int) -> Timed:
    """Run ``jobs`` (each returns its latency) with ``concurrency`` workers."""
    pending = iter(jobs)
    timed = Timed()

    async def worker() -> None:
        for job in pending:
            timed.latencies.append(await job())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    timed.wall = time.perf_counter() - started
    return timed


def new_member(base_url: str) -> Member:
    connector = aiohttp.TCPConnector(local_addr=(next_address(), 0), limit=2)
    session = aiohttp.ClientSession(connector=connector)
    return Member(code="bench-" + secrets.token_hex(12), base_url=base_url, session=session)


async def login(member: Member) -> float:
    started = time.perf_counter()
    async with member.session.post(
        f"{member.base_url}/api/login", json={"code": member.code}
    ) as reply:
        answer = await expect(reply, 200, "login")
    member.token, member.member_id = answer["token"], answer["member"]["id"]
    return time.perf_counter() - started


async def log_in(
    count: int, base_urls: Sequence[str], concurrency: int
) -> tuple[list[Member], Timed]:
    """``count`` new members, spread over the servers, logged in."""
    members = [new_member(base_urls[i % len(base_urls)]) for i in range(count)]
    timed = await run_pool([functools.partial(login, m) for m in members], concurrency)
    return members, timed


def order_body(rng: random.Random, products: Sequence[int]) -> dict[str, Any]:
    """A mall order of one or two different products, one of each."""
    chosen = rng.sample(list(products), rng.choice((1, 2)))
    return {"source": "mall", "items": [{"product_id": p, "quantity": 1} for p in chosen]}


async def place(member: Member, body: dict[str, Any], into: list[Order]) -> float:
    started = time.perf_counter()
    async with member.session.post(
        f"{member.base_url}/api/orders", json=body, headers=member.auth
    ) as reply:
        answer = await expect(reply, 201, "create order")
    elapsed = time.perf_counter() - started
    if not answer["payment"]:
        raise RuntimeError(f"order {answer['order']['id']} came back without its payment")
    order = answer["order"]
    into.append(Order(member, order["id"], order["out_trade_no"], len(order["lines"])))
    return elapsed


async def place_orders(
    members: Sequence[Member], count: int, products: Sequence[int], concurrency: int, seed: int
) -> tuple[list[Order], Timed]:
    """``count`` orders, round-robin over ``members`` (so one member's orders are spread out)."""
    rng = random.Random(seed)
    placed: list[Order] = []
    who = [members[i % len(members)] for i in range(count)]
    jobs = [functools.partial(place, m, order_body(rng, products), placed) for m in who]
    timed = await run_pool(jobs, concurrency)
    return placed, timed


async def close(members: Sequence[Member]) -> None:
    for member in members:
        await member.session.close()
