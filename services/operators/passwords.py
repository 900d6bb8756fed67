"""Operators' passwords: Argon2id (argon2-cffi's defaults, RFC 9106's second recommendation).

``verify`` says whether the stored hash was made with other parameters than today's, so a login
can store a new hash (``check_needs_rehash``). Hashing and verifying take tens of milliseconds of
CPU and 64 MiB: callers in the event loop run them in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher()
MIN_LENGTH = 8
MAX_LENGTH = 256

# verified against when the name is unknown, so an unknown name costs what a wrong password does
_DUMMY = HASHER.hash("queue-rebate: no such operator")


@dataclass(frozen=True)
class Checked:
    ok: bool
    needs_rehash: bool = False


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify(stored_hash: str | None, password: str) -> Checked:
    """Whether ``password`` matches ``stored_hash`` (``None``: no such operator — always false,
    after the same work)."""
    try:
        HASHER.verify(stored_hash or _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return Checked(False)
    if stored_hash is None:
        return Checked(False)
    return Checked(True, HASHER.check_needs_rehash(stored_hash))


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be an operator's (English, for the command line), or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    if password != password.strip():
        return "a password cannot start or end with whitespace"
    return None
