"""The one error a command reports to the operator: what failed and what to do next (exit 2);
and the error a settings dataclass raises on an unusable value."""


class CommandError(Exception):
    """A command could not run (exit 2); the message tells the operator what to do."""


class InvalidValue(ValueError):
    """An unusable setting. ``key`` is relative to the dataclass that refuses it;
    ``runtime.config``'s loader turns it into the full dotted key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem
