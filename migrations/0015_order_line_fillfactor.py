# Hand-written (no model change): PostgreSQL stores order lines with half their pages free.
# Each line is written once when its order is stored and updated once when its queue's writer
# settles it (settling -> settled); with the room on its page that update is HOT and adds no
# entries to order_line's two indexes (issue 3, bench/RESULTS.md). 0010 had set 80, which left
# room for about a third of a page's updates. Only new pages honour it.
# ruff: noqa
from tortoise import migrations
from tortoise.migrations import operations as ops


async def set_fillfactor(apps, schema_editor) -> None:
    if schema_editor.DIALECT == "postgres":
        await schema_editor._run_sql("ALTER TABLE order_line SET (fillfactor = 50)")


async def reset_fillfactor(apps, schema_editor) -> None:
    if schema_editor.DIALECT == "postgres":
        await schema_editor._run_sql("ALTER TABLE order_line SET (fillfactor = 80)")


class Migration(migrations.Migration):
    dependencies = [('models', '0014_order_lookups_indexed')]

    initial = False

    operations = [ops.RunPython(set_fillfactor, reset_fillfactor)]
