"""Errors a user can act on.

Every error raised for bad input (a scenario file, a ``--set`` value, a data file,
a dead endpoint) is a :class:`UsageError` whose message is one line naming the field
and the fix. The CLI prints it to stderr and exits with code 2; nothing else is shown.
"""


class UsageError(Exception):
    """Bad input from the user: one-line message, CLI exit code 2."""

    exit_code = 2


def format_validation_error(exc, prefix: str = "") -> str:
    """A pydantic ``ValidationError`` as one line: ``key: message`` per problem, the first
    problem leading."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "spec"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown parameter; see 'marketsim params SCENARIO' for the valid keys"
        parts.append(f"{prefix}{loc}: {msg}")
    return "; ".join(parts)
