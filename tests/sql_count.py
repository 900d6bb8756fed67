"""Count the SQL statements this process sends to PostgreSQL (every asyncpg connection): what
the server's log would show with ``log_statement = 'all'``, including BEGIN, COMMIT and the
pool's connection reset. Not a mock: the statements run; they are only counted."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

METHODS = ("execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table")


@dataclass
class Statements:
    texts: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)


@contextmanager
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[Statements]:
    seen = Statements()
    for name in METHODS:
        original = getattr(asyncpg.Connection, name)

        def wrapper(self: Any, *args: Any, _original: Any = original, _name: str = name, **kw: Any):  # type: ignore[no-untyped-def]
            text = args[0] if args and isinstance(args[0], str) else _name
            runs = len(args[1]) if _name == "executemany" and len(args) > 1 else 1  # one a row
            seen.texts.extend([" ".join(str(text).split())] * runs)
            return _original(self, *args, **kw)

        monkeypatch.setattr(asyncpg.Connection, name, wrapper)
    try:
        yield seen
    finally:
        monkeypatch.undo()
