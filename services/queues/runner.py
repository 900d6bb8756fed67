"""The writer loop: in every server process, settles the queues that have pending rows, all
the time (SPEC §4).

A settlement event (a payment under 支付后结算, a completion, an operator's settlement) commits
its pending rows and then hands their queues over with ``hand_over``. In a process that runs a
``WriterLoop`` (the server), that only wakes the loop — the request replies at once and the
loop applies whatever is pending by then, in batches as large as the backlog; elsewhere (the
CLI, a one-off job, tests without a server) the queues are drained right there.

One writer per queue across all processes is the queue's lock (``services.queues.locks``): the
loop drains with ``apply_pending(wait=False)``, which leaves a queue whose writer is at work in
another process to that writer — it looks for pending rows again after each commit, so it sees
every row committed before this loop looked. A process that dies holding a queue loses its
transaction (PostgreSQL rolls it back when the connection drops) and leaves the rows pending:
every loop also looks for queues with pending rows every ``poll_seconds``, whatever else it is
doing, so another process takes them over within that time. A row is applied once: the writer
deletes it in the batch's transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Iterable
from datetime import datetime

from rebate.random_return import RandomSource
from runtime import metrics
from services.clock import utcnow
from services.queues.writer import DEFAULT_BATCH, apply_pending, queues_with_pending

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # the safety net: how often a loop looks for queues with pending rows
RETRY_SECONDS = 1.0  # after a failed batch (the database restarting, say)
BUSY_SECONDS = 0.02  # a queue held by another process's writer: look again this much later


class WriterLoop:
    """A task that applies pending settlements as soon as their queues are handed over, and
    every ``poll_seconds`` those of any queue with pending rows."""

    def __init__(
        self,
        *,
        poll_seconds: float = POLL_SECONDS,
        batch_size: int = DEFAULT_BATCH,
        rng: RandomSource | None = None,
    ) -> None:
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.rng = rng or secrets.SystemRandom()
        self._due: set[int] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.applied = 0  # lines applied by this loop (metrics, tests)

    def poke(self, queues: Iterable[int]) -> None:
        """These queues have new pending rows (committed): apply them soon."""
        self._due.update(queues)
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="writer-loop")

    @property
    def running(self) -> bool:
        """Started and not ended (``/readyz``)."""
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Stop after the batch in progress (its transaction commits or rolls back whole)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def settled(self, timeout: float = 30.0) -> None:
        """Wait until no pending settlement is left (what a test waits for after a payment)."""
        deadline = time.monotonic() + timeout
        while pending := await queues_with_pending():
            self.poke(pending)
            await asyncio.wait_for(self._idle.wait(), deadline - time.monotonic())
            await asyncio.sleep(0.01)  # left to another process's writer: let it commit

    async def _run(self) -> None:
        next_poll = 0.0
        while True:
            if time.monotonic() >= next_poll:
                self._due.update(await _pending_or_nothing())
                next_poll = time.monotonic() + self.poll_seconds
            if not self._due:
                self._idle.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), next_poll - time.monotonic())
                self._wake.clear()
                continue
            due, self._due = self._due, set()
            pause = 0.0
            for queue_id in sorted(due):
                outcome = await self._drain(queue_id, utcnow())
                if outcome != "done":
                    self._due.add(queue_id)
                    pause = max(pause, RETRY_SECONDS if outcome == "failed" else BUSY_SECONDS)
            await asyncio.sleep(pause)

    async def _drain(self, queue_id: int, now: datetime) -> str:
        """``done``; ``busy`` when another process's writer holds the queue (it applies what it
        sees, and this loop looks again shortly, gathering what arrives meanwhile, rather than
        once per payment); ``failed``."""
        try:
            done = await apply_pending(
                queue_id, now=now, batch_size=self.batch_size, rng=self.rng, wait=False
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("writer loop: queue %s failed; retrying", queue_id)
            metrics.WRITER_FAILURES.inc()
            return "failed"
        self.applied += done.lines
        return "busy" if done.busy else "done"


async def _pending_or_nothing() -> set[int]:
    try:
        return await queues_with_pending()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("writer loop: could not look for pending settlements")
        return set()


# The process's loop, when it runs one (the server installs it for its lifetime).
_loop: WriterLoop | None = None


def install(loop: WriterLoop) -> None:
    global _loop
    _loop = loop


def uninstall(loop: WriterLoop) -> None:
    """Stop handing over to ``loop`` (unless another loop was installed since)."""
    global _loop
    if _loop is loop:
        _loop = None


async def hand_over(queues: set[int], now: datetime, rng: RandomSource | None = None) -> None:
    """After the transaction that enqueued rows on ``queues`` committed: wake this process's
    writer loop, or, where none runs, apply them now. A queue whose writer is at work is left to
    it (``apply_pending(wait=False)``), so concurrent payments never wait for each other."""
    if not queues:
        return
    if _loop is not None:
        _loop.poke(queues)
        return
    for queue_id in sorted(queues):
        await apply_pending(queue_id, now=now, rng=rng, wait=False)
