"""Payment notifications, as WeChat Pay sends them, fired at the servers; and settlement lag.

Every notification of a run is signed before the run (``bench.http_path.fake``: the fake WeChat
marks the order paid and builds the v3 TRANSACTION.SUCCESS notification, RSA-signed headers
and AES-GCM resource), so the run times only the server. Notification ``i`` goes to server
``i mod N``. A reply other than 204 (acknowledged) fails the benchmark.

- fixed concurrency ``c``: ``c`` senders, each sending its next notification when the previous
  one is answered. Rate = notifications / (last reply − first send); latency = reply − send.
- paced: notification ``i`` is sent at ``start + i / rate`` whatever the replies (open loop, up
  to ``PACED_CONNECTIONS`` in flight). Its latency counts from that scheduled moment, so a
  server that falls behind shows it in the latency (no coordinated omission).
- settlement lag: for one notification in ``lag_every``, once its 204 arrives, the member's
  ``GET /api/entries`` is polled (10 ms, then doubling up to 100 ms between polls) until the
  order's entry is listed. Lag = arrival of that answer − arrival of the 204: an upper bound,
  within one poll interval and that poll's own request time (recorded too: under load the
  member API's answer itself takes time; an entry listed by the first poll, sent as the 204
  arrived, was visible no later than the server ran that poll).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.http_path.clients import Order, expect

PACED_CONNECTIONS = 1_000
LAG_TIMEOUT = 120.0
POLL_FIRST, POLL_MAX = 0.010, 0.100
SIGN_CHUNK = 250


@dataclass
class Signed:
    order: Order
    headers: dict[str, str]
    body: bytes


@dataclass
class Fired:
    """One notification run."""

    name: str
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0  # first send (or scheduled send) → last reply
    lags: list[float] = field(default_factory=list)
    polls: int = 0
    first_poll_hits: int = 0  # sampled entries already listed by the first poll
    poll_latencies: list[float] = field(default_factory=list)  # the answering polls' own time
    lag_tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.wall if self.wall else 0.0


async def sign(fake_url: str, orders: Sequence[Order]) -> list[Signed]:
    """Each order's notification, signed by the fake WeChat (which marks the order paid)."""
    by_no = {o.out_trade_no: o for o in orders}
    out: list[Signed] = []
    async with aiohttp.ClientSession() as http:
        for start in range(0, len(orders), SIGN_CHUNK):
            chunk = [o.out_trade_no for o in orders[start : start + SIGN_CHUNK]]
            async with http.post(f"{fake_url}/__bench__/sign", json={"out_trade_nos": chunk}) as r:
                signed: list[dict[str, Any]] = await expect(r, 200, "sign notifications")
            out += [
                Signed(by_no[s["out_trade_no"]], s["headers"], s["body"].encode()) for s in signed
            ]
    return out


class Sender:
    """Sends notifications over one HTTP session and follows the sampled ones' settlement."""

    def __init__(self, http: aiohttp.ClientSession, ports: Sequence[int], lag_every: int) -> None:
        self.http, self.ports, self.lag_every = http, list(ports), lag_every

    async def send(self, i: int, note: Signed, since: float, run: Fired) -> float:
        url = f"http://127.0.0.1:{self.ports[i % len(self.ports)]}/api/pay/notify/v3"
        async with self.http.post(url, data=note.body, headers=note.headers) as reply:
            await expect(reply, 204, f"payment notification of {note.order.out_trade_no}")
        acked = time.perf_counter()
        run.latencies.append(acked - since)
        if self.lag_every and i % self.lag_every == 0:
            run.lag_tasks.append(asyncio.create_task(self.follow(note.order, acked, run)))
        return acked

    async def follow(self, order: Order, acked: float, run: Fired) -> None:
        """Poll the member's entries until this order's entry shows; record the lag."""
        wait = POLL_FIRST
        url = f"{order.member.base_url}/api/entries?limit=50"
        for attempt in itertools.count():
            run.polls += 1
            sent = time.perf_counter()
            async with self.http.get(url, headers=order.member.auth) as reply:
                page = await expect(reply, 200, "member entries")
            seen = time.perf_counter()
            if any(e["order_id"] == order.order_id for e in page["items"]):
                run.lags.append(seen - acked)
                run.poll_latencies.append(seen - sent)
                run.first_poll_hits += attempt == 0
                return
            if seen - acked > LAG_TIMEOUT:
                raise RuntimeError(
                    f"order {order.order_id}: no entry {LAG_TIMEOUT:.0f} s after payment"
                )
            await asyncio.sleep(wait)
            wait = min(wait * 2, POLL_MAX)


async def fire_concurrent(sender: Sender, notes: Sequence[Signed], concurrency: int) -> Fired:
    run = Fired(f"c{concurrency}")
    pending = iter(enumerate(notes))
    last = 0.0

    async def worker() -> None:
        nonlocal last
        for i, note in pending:
            last = max(last, await sender.send(i, note, time.perf_counter(), run))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    run.wall = last - started
    return run


async def fire_paced(sender: Sender, notes: Sequence[Signed], rate: float) -> Fired:
    run = Fired(f"paced {rate:,.0f}/s")
    started = time.perf_counter()
    tasks = []
    for i, note in enumerate(notes):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(sender.send(i, note, due, run)))
    acked = await asyncio.gather(*tasks)
    run.wall = max(acked) - started if acked else 0.0
    return run


async def settle_lags(run: Fired) -> None:
    await asyncio.gather(*run.lag_tasks)
    run.lag_tasks = []
