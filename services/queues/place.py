"""A waiting entry's place in its queue: how many waiting entries of the same queue have a
smaller seq — the order the queue pays in under 按队列顺序 (SPEC §4). 0: it is paid next."""

from models import Entry, EntryStatus


async def entries_ahead(queue_id: int, seq: int) -> int:
    """Waiting entries of the queue ahead of ``seq``."""
    return await Entry.filter(queue_id=queue_id, status=EntryStatus.WAITING, seq__lt=seq).count()
