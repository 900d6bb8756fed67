"""The byte cache under the QR images and the access tokens (runtime.cache), in the real Redis
and in the process: ``add`` stores only into an empty key (the token refresh lock),
``delete(if_value=)`` only removes what it still holds, and a Redis failure goes to the
fallback when there is one, else reads as a miss. (The LRU: tests/api/test_api_me.py.)"""

from __future__ import annotations

import pytest

from runtime.cache import BytesCache, MemoryCache, RedisCache
from tests.conftest import REDIS_DOWN_URL


@pytest.fixture(params=["redis", "memory"])
def cache(request, new_redis, key_prefix) -> BytesCache:
    if request.param == "memory":
        return MemoryCache(8)
    return RedisCache(new_redis(), prefix=key_prefix)


async def test_add_stores_only_into_an_empty_key(cache: BytesCache) -> None:
    assert await cache.add("lock", b"one", 10)
    assert not await cache.add("lock", b"two", 10)
    assert await cache.get("lock") == b"one"
    await cache.delete("lock")
    assert await cache.add("lock", b"three", 10)


async def test_delete_if_value_leaves_what_another_owner_holds(cache: BytesCache) -> None:
    await cache.put("lock", b"theirs", 10)
    await cache.delete("lock", if_value=b"mine")
    assert await cache.get("lock") == b"theirs"
    await cache.delete("lock", if_value=b"theirs")
    assert await cache.get("lock") is None


async def test_processes_see_one_another_through_redis(new_redis, key_prefix) -> None:
    one = RedisCache(new_redis(), prefix=key_prefix)
    two = RedisCache(new_redis(), prefix=key_prefix)  # another process
    assert await one.add("lock", b"one", 10)
    assert not await two.add("lock", b"two", 10)
    await two.put("token", b"t", 100)
    assert await one.get("token") == b"t"
    assert 95 <= await new_redis().ttl(f"{key_prefix}cache:token") <= 100


async def test_a_failing_redis_uses_the_fallback_when_there_is_one(new_redis) -> None:
    memory = MemoryCache(8)
    cache = RedisCache(new_redis(REDIS_DOWN_URL), prefix="x:", fallback=memory)
    await cache.put("token", b"t", 100)
    assert await cache.get("token") == b"t"
    assert await memory.get("token") == b"t"
    assert await cache.add("lock", b"me", 10)
    assert not await cache.add("lock", b"you", 10)
    await cache.delete("lock", if_value=b"me")
    assert await memory.get("lock") is None


async def test_a_failing_redis_without_fallback_reads_as_a_miss_and_lets_add_through(
    new_redis,
) -> None:
    cache = RedisCache(new_redis(REDIS_DOWN_URL), prefix="x:")
    await cache.put("token", b"t", 100)
    assert await cache.get("token") is None
    assert await cache.add("lock", b"me", 10)
    assert await cache.add("lock", b"you", 10)  # nobody to share a lock with
    await cache.delete("lock", if_value=b"me")
