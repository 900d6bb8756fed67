# Hand-written (no model change): on PostgreSQL, the ASCII text keys that are indexed and written
# per order compare bytewise (COLLATE "C") instead of through the database's locale (strcoll).
# For ASCII — ledger keys like payout:<extraction>:<entry>, WeChat out_trade_no, targets like
# product:<id>, dates — the order and equality are the same; each index probe is cheaper
# (issue 3, bench/RESULTS.md). SQLite compares bytewise already.
# ruff: noqa
from tortoise import migrations
from tortoise.migrations import operations as ops

COLUMNS = (
    ("ledger_line", "key", 96),
    ("orders", "out_trade_no", 32),
    ("entry", "target", 32),
    ("entry", "day", 10),
)


async def bytewise(apps, schema_editor) -> None:
    if schema_editor.DIALECT != "postgres":
        return
    for table, column, length in COLUMNS:
        await schema_editor._run_sql(
            f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE VARCHAR({length}) COLLATE "C"'
        )


async def by_locale(apps, schema_editor) -> None:
    if schema_editor.DIALECT != "postgres":
        return
    for table, column, length in COLUMNS:
        await schema_editor._run_sql(
            f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE VARCHAR({length}) COLLATE "default"'
        )


class Migration(migrations.Migration):
    dependencies = [('models', '0010_queue_tables_fillfactor')]

    initial = False

    operations = [ops.RunPython(bytewise, by_locale)]
