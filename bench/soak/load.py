"""The soak's steady load: members order and pay at a fixed rate, and WeChat Pay retries.

Order ``i`` starts at ``start + i / rate`` (open loop): a member logs in (one new member per
``ORDERS_PER_MEMBER`` orders, each from its own loopback address, as ``bench.http_path``
does), places the order (``POST /api/orders``, prepay at the fake WeChat), the fake signs its
payment notification, and the notification is sent to a server. One notification in
``1 / duplicate_share`` is sent again a little later, as WeChat Pay does when it did not see
the first answer in time: it must be acknowledged (204) and change nothing. One order in
``lag_every`` has its settlement lag followed through the member API (``notify.Sender``).

A failed request is counted under its kind and the load goes on: the soak reports errors,
it does not stop at the first.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

from bench.http_path import clients
from bench.http_path.clients import Member, Order
from bench.http_path.notify import Fired, Sender, sign

MAX_IN_FLIGHT = 500  # orders in progress at once; beyond it the load waits (and says so)
RETRY_AFTER = (0.5, 3.0)  # a duplicate notification follows the first after this many seconds


@dataclass
class LoadFigures:
    orders: int = 0  # placed
    paid: list[str] = field(default_factory=list)  # out_trade_no acknowledged (204)
    duplicates: int = 0  # duplicate notifications acknowledged
    errors: Counter[str] = field(default_factory=Counter)
    late: int = 0  # orders that started late because MAX_IN_FLIGHT were in progress
    order_latencies: list[float] = field(default_factory=list)
    run: Fired = field(default_factory=lambda: Fired("soak"))  # notifications and lags


class MemberPool:
    """Order ``i`` is placed by member ``i // ORDERS_PER_MEMBER``, whose login starts with its
    first order (members log in side by side, each once); a member's session is closed once its
    last order is done."""

    def __init__(self, base_urls: Sequence[str]) -> None:
        self.base_urls = list(base_urls)
        self.logins: dict[int, asyncio.Task[Member]] = {}
        self.uses: Counter[int] = Counter()
        self.members: list[Member] = []

    async def take(self, i: int) -> Member:
        k = i // clients.ORDERS_PER_MEMBER
        if k not in self.logins:
            member = clients.new_member(self.base_urls[k % len(self.base_urls)])
            self.members.append(member)
            self.logins[k] = asyncio.create_task(self._login(member))
        return await self.logins[k]

    @staticmethod
    async def _login(member: Member) -> Member:
        await clients.login(member)
        return member

    async def done(self, i: int) -> None:
        k = i // clients.ORDERS_PER_MEMBER
        self.uses[k] += 1
        if self.uses[k] == clients.ORDERS_PER_MEMBER:
            task = self.logins.pop(k)
            del self.uses[k]
            if not task.cancelled() and task.exception() is None:
                await task.result().session.close()

    async def close(self) -> None:
        for member in self.members:
            await member.session.close()


class Load:
    """One soak's orders and notifications."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        ports: Sequence[int],
        fake_url: str,
        products: Sequence[int],
        *,
        duplicate_share: float,
        lag_every: int,
        seed: int = 1,
    ) -> None:
        self.pool = MemberPool([f"http://127.0.0.1:{p}" for p in ports])
        self.sender = Sender(http, ports, lag_every)
        self.resender = Sender(http, ports, 0)  # duplicates: no lag sampled
        self.fake_url, self.products = fake_url, list(products)
        self.duplicate_share = duplicate_share
        self.rng = random.Random(seed)
        self.figures = LoadFigures()
        self.slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.tasks: set[asyncio.Task[None]] = set()

    async def attempt(self, kind: str, call: Callable[[], Awaitable[object]]) -> bool:
        try:
            await call()
            return True
        except (RuntimeError, aiohttp.ClientError, TimeoutError) as exc:
            self.figures.errors[kind] += 1
            if self.figures.errors[kind] <= 3:  # the first few of a kind, not thousands
                print(f"soak: {kind} failed: {str(exc)[:300]}", flush=True)
            return False

    async def one_order(self, i: int) -> None:
        """Order ``i``: place it, have it signed, notify, maybe notify again later."""
        placed: list[Order] = []
        try:
            member = await self.pool.take(i)
            body = clients.order_body(self.rng, self.products)
            took = [0.0]

            async def place() -> None:
                took[0] = await clients.place(member, body, placed)

            if not await self.attempt("order", place):
                return
            self.figures.orders += 1
            self.figures.order_latencies.append(took[0])
            await self.pay(i, placed[0])
        except (RuntimeError, aiohttp.ClientError, TimeoutError) as exc:  # the login
            self.figures.errors["login"] += 1
            print(f"soak: login failed: {str(exc)[:300]}", flush=True)
        finally:
            await self.pool.done(i)
            self.slots.release()

    async def pay(self, i: int, order: Order) -> None:
        signed = []

        async def signing() -> None:
            signed.extend(await sign(self.fake_url, [order]))

        if not await self.attempt("sign", signing):
            return
        note, run = signed[0], self.figures.run
        if not await self.attempt(
            "notification", lambda: self.sender.send(i, note, time.perf_counter(), run)
        ):
            return
        self.figures.paid.append(order.out_trade_no)
        if self.rng.random() < self.duplicate_share:
            await asyncio.sleep(self.rng.uniform(*RETRY_AFTER))
            repeat = Fired("duplicates")  # its latencies are not the first sends'
            if await self.attempt(
                "duplicate notification",
                lambda: self.resender.send(i + 1, note, time.perf_counter(), repeat),
            ):
                self.figures.duplicates += 1

    async def run(self, seconds: float, rate: float, stop: asyncio.Event) -> None:
        """Start orders at ``rate``/s for ``seconds`` (or until ``stop``), then wait for all."""
        started = time.perf_counter()
        i = 0
        while not stop.is_set():
            due = started + i / rate
            if due - started >= seconds:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.slots.locked():
                self.figures.late += 1
            await self.slots.acquire()
            task = asyncio.create_task(self.one_order(i))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            i += 1
        await asyncio.gather(*list(self.tasks))
        await self.follow_lags()
        await self.pool.close()

    async def follow_lags(self) -> None:
        run = self.figures.run
        for task in run.lag_tasks:
            await self.attempt("lag", lambda t=task: t)  # type: ignore[misc]
        run.lag_tasks = []
