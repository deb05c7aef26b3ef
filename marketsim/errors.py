"""Errors a user can act on.

Every error raised for bad input (a scenario file, a ``--set`` value, a data file,
a dead endpoint) is a :class:`UsageError` whose message is one line naming the field
and the fix. The CLI prints it to stderr and exits with code 2; nothing else is shown.
"""


def did_you_mean(word: str, choices) -> str:
    """``" (did you mean 'calvano2020'?)"`` for the nearest of ``choices`` to a mistyped
    ``word`` (:func:`difflib.get_close_matches`, cutoff 0.6), else ``""``."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class UsageError(Exception):
    """Bad input from the user: one-line message, CLI exit code 2."""

    exit_code = 2


def format_validation_error(exc, prefix: str = "", model=None, name: str = "SCENARIO") -> str:
    """A pydantic ``ValidationError`` as one line: ``key: message`` per problem, the first
    problem leading. With ``model`` (the pydantic class validated) an unknown key gets
    the nearest known key of its group ("did you mean ..."); ``name`` is what
    ``marketsim params`` takes to list the keys."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "spec"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known, tag = _known_keys(model, err["loc"][:-1]) if model is not None else ([], None)
            hint = did_you_mean(err["loc"][-1], known) if known else ""
            msg = (
                f"unknown parameter{hint}; see 'marketsim params {tag or name}' for the valid keys"
            )
        parts.append(f"{prefix}{loc}: {msg}")
    return "; ".join(parts)


def _models_in(annotation) -> list:
    """The pydantic model classes inside a field's annotation (through ``Annotated``,
    ``list``, unions and ``Optional``)."""
    import typing

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _known_keys(model, path) -> tuple[list[str], str | None]:
    """The field names of the group at ``path`` (a validation error's location without
    its last key) below ``model``, and the last tag on the way; list indices are skipped
    and a tagged union's tag (a policy's name) selects its member."""
    candidates = [model]
    tag_seen = None
    for step in path:
        if isinstance(step, int):
            continue
        nxt = []
        for m in candidates:
            field = m.model_fields.get(step)
            if field is not None:
                nxt += _models_in(field.annotation)
            else:  # a discriminated union's tag: the member whose name is the tag
                tag = m.model_fields.get("name")
                if tag is not None and tag.default == step:
                    nxt.append(m)
                    tag_seen = step
        if not nxt:
            return [], None
        candidates = nxt
    keys = {k for m in candidates for k in m.model_fields}
    return sorted(keys - ({"name"} if tag_seen else set())), tag_seen
