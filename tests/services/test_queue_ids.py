"""Queue ids are remembered by the process once read, but never an id only a rolled-back
transaction saw."""

from __future__ import annotations

import pytest
from tortoise.transactions import in_transaction

from models import Queue
from services.queues.locks import ensure_queue
from tests.services.helpers import Clock


async def test_a_queue_created_by_a_rolled_back_transaction_is_not_remembered(db):
    now = Clock().now
    with pytest.raises(RuntimeError):
        async with in_transaction() as conn:
            await ensure_queue(conn, "mall", now)
            await ensure_queue(conn, "mall", now)  # read again by the transaction that made it
            raise RuntimeError("rolled back")
    assert not await Queue.exists(key="mall")
    async with in_transaction() as conn:
        made = await ensure_queue(conn, "mall", now)
    async with in_transaction() as conn:
        read = await ensure_queue(conn, "mall", now)  # read by a transaction that made none
    async with in_transaction() as conn:
        assert await ensure_queue(conn, "mall", now) == read == made
    assert (await Queue.get(key="mall")).id == made
