"""Field types of our own."""

from tortoise import fields


class JSONTextField(fields.JSONField):  # type: ignore[type-arg]
    """A JSON document kept as the text it was written as: PostgreSQL ``json`` (validated,
    stored as is) rather than ``jsonb`` (parsed into a binary tree on every insert). For
    append-only documents that are read back whole and never queried by content — outbox event
    payloads, written several per settled order (issue 3). Other databases: as JSONField."""

    class _db_postgres:
        SQL_TYPE = "JSON"
