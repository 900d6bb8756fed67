# Hand-written (no model change): PostgreSQL storage settings for the rows the queue writer
# updates in place. With free room in a page, an update that changes no indexed column (an
# entry's paid amount, a line's status, a wallet's balances) stays on its page as a HOT update
# and adds no index entries (issue 3, bench/RESULTS.md). Only new pages honour it.
# ruff: noqa
from tortoise import migrations
from tortoise.migrations import operations as ops

FILLFACTOR = {"entry": 80, "order_line": 80, "wallet": 70}


async def set_fillfactor(apps, schema_editor) -> None:
    if schema_editor.DIALECT != "postgres":
        return  # SQLite has no such setting
    for table, percent in FILLFACTOR.items():
        await schema_editor._run_sql(f"ALTER TABLE {table} SET (fillfactor = {percent})")


async def reset_fillfactor(apps, schema_editor) -> None:
    if schema_editor.DIALECT != "postgres":
        return
    for table in FILLFACTOR:
        await schema_editor._run_sql(f"ALTER TABLE {table} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [('models', '0009_entry_head_partial_index')]

    initial = False

    operations = [ops.RunPython(set_fillfactor, reset_fillfactor)]
