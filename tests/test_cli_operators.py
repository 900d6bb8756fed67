"""``queue-rebate operator …``: accounts and API tokens from the command line, on SQLite."""

from __future__ import annotations

import io
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from server.cli import main
from services.operators.passwords import HASHER
from web.auth import TokenKind, TokenSigner

SECRET = "cli-admin-secret"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database (the commands refuse one that is not), copied by each test."""
    path = tmp_path_factory.mktemp("migrated") / "qr.sqlite3"
    assert main(["migrate", "--db", f"sqlite://{path}"]) == 0
    return path


@pytest.fixture
def url(migrated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("QR_ADMIN_TOKEN_SECRET", SECRET)
    shutil.copyfile(migrated, tmp_path / "qr.sqlite3")
    return f"sqlite://{tmp_path}/qr.sqlite3"


def rows(url: str, query: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(url.removeprefix("sqlite://")) as db:
        return db.execute(query, params).fetchall()


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["operator", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_passwd_disable(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def op(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        return run(capsys, monkeypatch, *argv, "--db", url, stdin=stdin)

    assert op("add", "alice", "--role", "finance", "--password-stdin", stdin="first pass\n")[0] == 0
    [(role, first_hash, disabled)] = rows(
        url, "SELECT role, password_hash, disabled FROM operator WHERE name = 'alice'"
    )
    assert (role, disabled) == ("finance", 0)
    assert HASHER.verify(str(first_hash), "first pass")
    code, _, err = op("add", "alice", "--role", "owner", "--password-stdin", stdin="other pass\n")
    assert (code, err.strip()) == (
        2,
        "queue-rebate operator: error: an operator of that name exists already",
    )
    code, _, err = op("add", "bob", "--role", "support", "--password-stdin", stdin="short\n")
    assert code == 2 and "at least 8 characters" in err
    code, _, err = op("add", "cli:bob", "--role", "support", "--password-stdin", stdin="x" * 9)
    assert code == 2 and "an operator name is" in err
    assert rows(url, "SELECT count(*) FROM operator") == [(1,)]

    # prompted twice without --password-stdin
    answers = iter(["second pass", "second pass"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert op("passwd", "alice")[0] == 0
    [(second_hash,)] = rows(url, "SELECT password_hash FROM operator WHERE name = 'alice'")
    assert HASHER.verify(str(second_hash), "second pass")
    answers = iter(["third pass", "typo pass"])
    code, _, err = op("passwd", "alice")
    assert code == 2 and "the passwords differ" in err

    code, out, _ = op("list")
    assert code == 0 and out.split()[:3] == ["alice", "finance", "active"]
    assert op("disable", "alice")[0] == 0
    assert op("list")[1].split()[:3] == ["alice", "finance", "disabled"]
    assert op("role", "alice", "support")[0] == 0
    assert op("disable", "nobody")[2].strip().endswith("no such operator")
    logged = rows(url, "SELECT operator, section, target FROM audit_log ORDER BY id")
    assert len(logged) == 4 and all(
        who.startswith("cli") and (section, target) == ("operator", "alice")  # type: ignore[union-attr]
        for who, section, target in logged
    )


def test_token_issue_list_revoke(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def op(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        return run(capsys, monkeypatch, *argv, "--db", url, stdin=stdin)

    assert op("add", "alice", "--role", "owner", "--password-stdin", stdin="first pass\n")[0] == 0
    code, out, err = op("token", "issue", "alice", "--ttl", "2h", "--label", "ci")
    assert code == 0, err
    token = out.splitlines()[-1]
    signer = TokenSigner(member_secret="m", admin_secret=SECRET, member_ttl=1, admin_ttl=1)
    claims = signer.verify(token, TokenKind.ADMIN)
    [(token_id, label, revoked)] = rows(url, "SELECT id, label, revoked_at FROM operator_token")
    assert (claims.subject, label, revoked) == (f"token:{token_id}", "ci", None)
    assert 7100 < claims.expires_at - int(time.time()) <= 7200
    listed = op("token", "list", "alice")[1].split()
    assert listed[:3] == [token_id, "alice", "valid"]

    assert op("token", "revoke", str(token_id))[0] == 0
    assert rows(url, "SELECT revoked_at IS NOT NULL FROM operator_token") == [(1,)]
    assert op("token", "list")[1].split()[:3] == [token_id, "alice", "revoked"]
    assert op("token", "revoke", "nope")[2].strip().endswith("no such token")
    assert op("token", "issue", "alice", "--ttl", "10")[0] == 2  # under a minute
    assert op("token", "issue", "nobody")[2].strip().endswith("no such operator")
    monkeypatch.delenv("QR_ADMIN_TOKEN_SECRET")
    code, _, err = op("token", "issue", "alice")
    assert code == 2 and "admin_token_secret" in err
