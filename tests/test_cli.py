"""``queue-rebate`` as an operator runs it: exit codes, messages, and what it leaves behind."""

import asyncio
import contextlib
import io
import json
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from runtime.config import load_settings
from server.cli import main
from server.database import opened
from services.clock import utcnow
from services.orders.payments import apply_payment
from services.settings.codec import base_from_doc
from tests.services.test_payments import APPID, MCHID, _notice, _order

UNREACHABLE_PG = "postgres://postgres@127.0.0.1:1/queue_rebate"  # nothing listens on port 1


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path}/var/qr.sqlite3"


@pytest.fixture(scope="module")
def migrated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database ``queue-rebate migrate`` made, once for the module (migrating costs seconds
    of CPU: tortoise replays its model state per operation)."""
    path = tmp_path_factory.mktemp("migrated") / "qr.sqlite3"
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["migrate", "--db", f"sqlite://{path}"]) == 0, out.getvalue()
    return path


@pytest.fixture
def migrated(tmp_path: Path, migrated_file: Path) -> str:
    """``sqlite_url(tmp_path)`` holding a copy of the migrated database."""
    (tmp_path / "var").mkdir()
    shutil.copyfile(migrated_file, tmp_path / "var" / "qr.sqlite3")
    return sqlite_url(tmp_path)


def rows(tmp_path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "var" / "qr.sqlite3") as db:
        return db.execute(query).fetchall()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_migrate_creates_the_sqlite_file_and_its_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "migrate", "--db", sqlite_url(tmp_path))
    assert code == 0
    assert (tmp_path / "var" / "qr.sqlite3").is_file()
    assert "Applying models.0001_initial ... OK" in out
    assert "Base rebate settings: seeded" in out


def test_migrate_twice_is_a_no_op(
    tmp_path: Path, migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = migrated  # migrated once already
    applied = rows(tmp_path, "SELECT app, name, applied_at FROM tortoise_migrations")
    seeded = rows(tmp_path, "SELECT id, base, updated_at FROM rebate_config")

    code, out, err = run(capsys, "migrate", "--db", url)
    assert (code, err) == (0, "")
    assert "No migrations to apply" in out
    assert "Applying" not in out
    assert "already in the database, left unchanged" in out
    assert rows(tmp_path, "SELECT app, name, applied_at FROM tortoise_migrations") == applied
    assert rows(tmp_path, "SELECT id, base, updated_at FROM rebate_config") == seeded


def test_migrate_seeds_base_settings_from_the_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "rebate.toml"
    config.write_text(
        '[rebate]\nsettle_on = "paid"\nextract_bp = 6500\n'
        "[rebate.ratios]\ndefault_bp = 13000\nlevel_bp = { 2 = 15000 }\n",
        encoding="utf-8",
    )
    assert run(capsys, "migrate", "--config", str(config), "--db", sqlite_url(tmp_path))[0] == 0
    [(doc,)] = rows(tmp_path, "SELECT base FROM rebate_config WHERE id = 1")
    assert base_from_doc(json.loads(doc)) == load_settings(str(config), {}).rebate


def test_check_on_an_empty_migrated_database_is_ok(
    tmp_path: Path, migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = migrated
    code, out, err = run(capsys, "check", "--db", url)
    assert (code, err) == (0, "")
    assert out.startswith("OK: conservation holds in ")


def test_check_reports_each_problem_and_exits_1(
    tmp_path: Path, migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = migrated
    with sqlite3.connect(tmp_path / "var" / "qr.sqlite3") as db:  # 5 fen that came from nowhere
        db.execute(
            "INSERT INTO queue (key, next_seq, waiting_count, extracted_fen, paid_fen,"
            " withheld_fen, unallocated_fen, rr_size, rr_slots, rr_index, created_at)"
            " VALUES ('mall', 1, 0, 5, 0, 0, 0, 0, '', 0, '2026-01-01 00:00:00+00:00')"
        )
    code, out, _ = run(capsys, "check", "--db", url)
    assert code == 1
    assert "PROBLEM: " in out
    assert "mall" in out
    assert "problem(s) found" in out


async def paid_twice(url: str, days_ago: int) -> None:
    """An order paid, and paid again ``days_ago`` days ago by a second transaction."""
    async with opened(url, must_exist=True):
        order = await _order()
        then = utcnow() - timedelta(days=days_ago)
        for notice in (_notice(order), _notice(order, transaction_id="tx-second")):
            await apply_payment(notice, appid=APPID, mchid=MCHID, now=then)


def test_check_counts_double_payments_owed_and_warns_of_a_late_one_without_failing(
    tmp_path: Path, migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = migrated
    asyncio.run(paid_twice(url, days_ago=2))
    code, out, err = run(capsys, "check", "--db", url)
    assert (code, err) == (0, "")
    ok, warning = out.splitlines()
    assert ok.startswith("OK: conservation holds in ")
    assert ok.endswith("; 1 double payment(s) of ¥12.34 not refunded yet.")
    assert warning.startswith(
        "WARNING: double payment not refunded in time: double payment 1 (tx-second, 1234 fen)"
        " is refund_pending since "
    )


def test_check_on_unreachable_postgres_exits_2_and_says_what_to_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "check", "--db", UNREACHABLE_PG)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1  # one line
    assert err.startswith("queue-rebate check: error: cannot open database postgres://")
    assert "Is PostgreSQL running" in err
    assert "pg_ctlcluster" in err


def test_check_without_the_database_file_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "check", "--db", sqlite_url(tmp_path))
    assert code == 2
    assert "does not exist: create it with `queue-rebate migrate`" in err
    assert not (tmp_path / "var").exists()


def test_check_on_an_unmigrated_database_asks_for_migrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "var").mkdir()
    sqlite3.connect(tmp_path / "var" / "qr.sqlite3").close()
    code, _, err = run(capsys, "check", "--db", sqlite_url(tmp_path))
    assert code == 2
    assert "is not migrated" in err
    assert "models.0001_initial" in err
    assert "run `queue-rebate migrate`" in err


def test_serve_refuses_an_unmigrated_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "var").mkdir()
    sqlite3.connect(tmp_path / "var" / "qr.sqlite3").close()
    code, out, err = run(capsys, "serve", "--db", sqlite_url(tmp_path))
    assert (code, out) == (2, "")
    assert err.startswith("queue-rebate serve: error: database ")
    assert "run `queue-rebate migrate`" in err


def test_config_toml_in_the_working_directory_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QR_DATABASE_URL", raising=False)
    Path("config.toml").write_text('[database]\nurl = "sqlite://from-config.sqlite3"\n')
    code, _, err = run(capsys, "check")
    assert code == 2
    assert "database file from-config.sqlite3 does not exist" in err


def test_db_flag_beats_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QR_DATABASE_URL", UNREACHABLE_PG)
    code, _, err = run(capsys, "check")
    assert code == 2
    assert "127.0.0.1:1" in err
    code, _, err = run(capsys, "check", "--db", sqlite_url(tmp_path))
    assert "127.0.0.1:1" not in err
    assert "qr.sqlite3 does not exist" in err


def test_bad_config_is_one_line_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nprot = 8080\n", encoding="utf-8")
    code, out, err = run(capsys, "migrate", "--config", str(config))
    assert (code, out) == (2, "")
    assert err == (
        f"queue-rebate migrate: error: {config}: server.prot: unknown key (did you mean 'port'?);"
        " known keys: host, port, max_body_bytes, trusted_proxies\n"
    )


def test_makemigrations_check_finds_nothing_to_write(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "makemigrations", "--check")
    assert code == 0
    assert "No changes detected" in out


def test_demo_runs_on_a_fresh_scratch_database_every_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QR_DATABASE_URL", UNREACHABLE_PG)  # the demo never uses the real database
    for _ in range(2):
        code, out, _ = run(capsys, "demo", "--pause", "0")
        assert code == 0
        assert out.startswith("Demo database: sqlite://var/demo.sqlite3 (fresh)")
    code, out, _ = run(capsys, "check", "--db", "sqlite://var/demo.sqlite3")
    assert code == 0, out
    assert out.startswith("OK: conservation holds")


def test_jobs_run_records_the_run_and_unknown_jobs_are_refused(
    tmp_path: Path, migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = migrated
    code, out, _ = run(capsys, "jobs", "run", "clearing", "--db", db)
    assert code == 0 and "clearing operator:" in out and "done" in out
    code, out, _ = run(capsys, "jobs", "runs", "--db", db)
    assert code == 0 and "succeeded" in out
    assert rows(tmp_path, "SELECT name, status FROM job_run") == [("clearing", "succeeded")]
    code, _, err = run(capsys, "jobs", "run", "no-such-job", "--db", db)
    assert code == 2 and "no job named 'no-such-job'" in err
    code, _, err = run(capsys, "jobs", "run", "clearing", "--slot", "2026-11-26T00:00", "--db", db)
    assert code == 2 and "timezone" in err


def test_jobs_run_with_an_unreadable_pay_key_exits_2_naming_it(
    tmp_path: Path, migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = migrated
    config = tmp_path / "pay.toml"
    config.write_text(
        f'[wechat_pay]\nmchid = "1900000109"\nprivate_key_path = "{tmp_path}/missing.pem"\n',
        encoding="utf-8",
    )
    code, out, err = run(capsys, "jobs", "run", "clearing", "--config", str(config), "--db", db)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "[wechat_pay] private_key_path: cannot read" in err
    assert rows(tmp_path, "SELECT name FROM job_run") == []


# --- jobs: for the slot given; the names README, --help and the registry agree ----------------


async def statement_due(url: str) -> None:
    """A store with one cashier payment credited on 2026-11-25 (Beijing), due the same day."""
    from services.members.accounts import new_member
    from tests.distribution.support import approved_store, base_rules, configure, pay_cashier
    from tests.services.helpers import Clock

    async with opened(url, must_exist=True):
        await base_rules()
        await configure(statement_days=0)
        store_id = await approved_store((await new_member("oOwner")).id)
        await pay_cashier((await new_member("oBuyer")).id, store_id, 10_000, Clock())


def test_jobs_run_with_a_slot_closes_the_period_of_that_slot(
    tmp_path: Path, migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = migrated
    asyncio.run(statement_due(db))
    slot = "2026-11-26T02:00+08:00"
    code, out, err = run(capsys, "jobs", "run", "merchant-statements", "--slot", slot, "--db", db)
    assert (code, err) == (0, ""), out
    assert "merchant-statements 2026-11-25T18:00Z (for 2026-11-26T02:00:00+08:00): done" in out
    assert rows(tmp_path, "SELECT period FROM statement") == [("2026-11-26",)]
    audit = rows(tmp_path, "SELECT operator, section, target FROM audit_log WHERE section = 'job'")
    assert [(op.startswith("cli"), section, target) for op, section, target in audit] == [
        (True, "job", "job:merchant-statements")
    ]
    code, out, _ = run(capsys, "jobs", "run", "merchant-statements", "--slot", slot, "--db", db)
    assert code == 0 and "not run: 该时段已运行过（状态 succeeded）" in out


def test_jobs_run_refuses_a_slot_not_come_yet_and_one_that_is_not_a_time(
    tmp_path: Path, migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = migrated
    later = (utcnow() + timedelta(days=1)).isoformat()
    code, out, err = run(capsys, "jobs", "run", "clearing", "--slot", later, "--db", db)
    assert (code, out) == (2, "") and "--slot: slot 不能晚于当前时间" in err
    code, out, err = run(capsys, "jobs", "run", "clearing", "--slot", "yesterday", "--db", db)
    assert (code, out) == (2, "") and "--slot: 'yesterday' is not an ISO time" in err
    assert rows(tmp_path, "SELECT name FROM job_run") == []


def readme_job_names() -> list[str]:
    """The job names of the README's jobs table (the rows of its first column)."""
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("| job | when | what a run does |", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\s*\| `([a-z_-]+)` \|", table, re.MULTILINE)


def test_the_readme_and_help_list_exactly_the_registrys_jobs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from services.jobs import JOBS

    assert sorted(readme_job_names()) == sorted(JOBS)
    with pytest.raises(SystemExit):
        main(["jobs", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    listed = help_text.split("the job: one of ", 1)[1].split(" options:", 1)[0]
    assert sorted(listed.replace("- ", "-").split(", ")) == sorted(JOBS)
