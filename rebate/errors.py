"""Domain errors. Each carries a stable code and a message a person can read."""


class RebateError(ValueError):
    """A request the rules refuse. Nothing has changed when this is raised."""

    code = "rebate_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidAmount(RebateError):
    code = "invalid_amount"


class InvalidRatio(RebateError):
    code = "invalid_ratio"


class InvalidSetting(RebateError):
    code = "invalid_setting"


class AlreadySettled(RebateError):
    code = "already_settled"


class NotAllowed(RebateError):
    code = "not_allowed"
