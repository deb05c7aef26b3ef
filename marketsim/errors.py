"""Errors a user can act on.

Every error raised for bad input (a scenario file, a ``--set`` value, a data file,
a dead endpoint) is a :class:`UsageError` whose message is one line naming the field
and the fix. The CLI prints it to stderr and exits with code 2; nothing else is shown.
"""


class UsageError(Exception):
    """Bad input from the user: one-line message, CLI exit code 2."""

    exit_code = 2
