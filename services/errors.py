"""Service-level errors on top of the engine's (all carry a code and a Chinese message)."""

from rebate.errors import RebateError


class NotFound(RebateError):
    code = "not_found"


class Conflict(RebateError):
    code = "conflict"


class InvalidField(RebateError):
    """A request field the rules refuse (unknown reference, wrong combination): a 400 naming it."""

    code = "invalid_field"
