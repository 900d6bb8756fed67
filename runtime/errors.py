"""The one error a command reports to the operator: what failed and what to do next (exit 2)."""


class CommandError(Exception):
    """A command could not run (exit 2); the message tells the operator what to do."""
