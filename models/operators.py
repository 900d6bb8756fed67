"""运营后台账号: the people who run the back office, their login sessions and their API tokens
(``services.operators``)."""

from tortoise import fields
from tortoise.models import Model


class Operator(Model):
    """One operator account: a name, a role (``services.operators.roles``), an Argon2 password
    hash, and the state of its lockout after failed logins."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=32, unique=True)
    role = fields.CharField(max_length=16)
    password_hash = fields.CharField(max_length=256)
    disabled = fields.BooleanField(default=False)
    failed_logins = fields.IntField(default=0)  # failures since failed_since
    failed_since = fields.DatetimeField(null=True)  # the first failure of the current window
    locked_until = fields.DatetimeField(null=True)
    last_login_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "operator"


class OperatorSession(Model):
    """A browser's login: the cookie holds a random secret, the row is keyed by its SHA-256 (a
    copy of the table logs no one in). ``csrf_token`` must come back in ``X-CSRF-Token`` on
    every state-changing request made with the cookie."""

    id = fields.CharField(max_length=64, primary_key=True)  # sha256 hex of the cookie's secret
    operator = fields.ForeignKeyField(
        "models.Operator", related_name="sessions", on_delete=fields.CASCADE
    )
    csrf_token = fields.CharField(max_length=64)
    address = fields.CharField(max_length=64, default="")  # the client's, at login
    created_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()

    class Meta:
        table = "operator_session"
        indexes = (("operator_id", "created_at"),)


class OperatorToken(Model):
    """An API token issued to an operator (``queue-rebate operator token issue``): the signed
    token names this row's id, and the row says whether it has been revoked."""

    id = fields.CharField(max_length=32, primary_key=True)  # random, shown to revoke it
    operator = fields.ForeignKeyField(
        "models.Operator", related_name="tokens", on_delete=fields.CASCADE
    )
    label = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "operator_token"
        indexes = (("operator_id", "created_at"),)
