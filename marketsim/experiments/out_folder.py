"""The output folder of a run, checked before any work so that two runs never mix.

``--out DIR`` must be a folder that can be written (or created) and that is one of:

* missing or empty (a mark alone is an attempt that stopped before writing anything);
* holding this same command, when the command resumes (``compare``, ``sweep``): the
  folder's mark (:data:`MARK`, written when a run claims the folder) records the
  command and the hash of what defines its results, and a resumed run must match it;
* anything marketsim wrote, with ``overwrite=True`` (``--overwrite``): the old run is
  removed first. The folder is renamed aside in one step and a new one made, so a crash
  leaves the old run whole beside an empty folder, never two runs in one folder. When
  the rename is not possible (the folder is a mount point or the working directory),
  its entries are removed one by one with the mark last, so a half-cleared folder still
  reads as the old run and is refused rather than reused.

A folder holding files marketsim did not write is never removed, even with
``--overwrite``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from marketsim.errors import UsageError
from marketsim.io import write_json_atomic

#: the file that marks a folder as a marketsim run's and says which
MARK = ".marketsim-run.json"

#: files and folders a marketsim run writes (folders of older versions have no mark)
RUN_FILES = ("summary.json", "compare.json", "sweep.json", "cells", "parts", "audit.json")


def run_key(identity: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of what defines a run's results."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _first_file_above(path: Path) -> Path | None:
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def check_writable(out: Path, option: str = "--out") -> None:
    """Make ``out`` (a folder) or refuse it with one line: a file, a device such as
    ``/dev/null``, a path below a file, or a folder that cannot be written."""
    if out.exists() and not out.is_dir():
        raise UsageError(
            f"{option} {out}: is a file, not a folder; give a folder path (it is created)"
        )
    blocker = _first_file_above(out.parent)
    if blocker is not None:
        raise UsageError(f"{option} {out}: {blocker} is a file, not a folder; choose another path")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(
            f"{option} {out}: cannot write there ({reason}); choose a folder you can write"
        ) from None


def read_mark(out: Path) -> dict | None:
    """The folder's mark, or None (no mark, or one that is not a JSON object)."""
    try:
        mark = json.loads((out / MARK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return mark if isinstance(mark, dict) else None


def _describe(mark: dict | None) -> str:
    if not mark:
        return "files of an earlier run"
    what = f"a {mark.get('command', '?')} of {mark.get('scenario', '?')}"
    return what + (f" ({mark['summary']})" if mark.get("summary") else "")


def _clear(out: Path) -> None:
    """Remove the old run in ``out``; see the module notes on crashes."""
    aside = out.parent / f".{out.name}.old-{os.getpid()}"
    try:
        os.rename(out, aside)
    except OSError:
        entries = [p for p in out.iterdir() if p.name != MARK]
        for p in entries:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        (out / MARK).unlink(missing_ok=True)
        return
    out.mkdir()
    shutil.rmtree(aside, ignore_errors=True)


def claim(
    out,
    *,
    command: str,
    scenario: str,
    identity: dict[str, Any],
    resumable: bool,
    overwrite: bool = False,
    summary: str = "",
) -> Path:
    """Check ``out`` for a new run of ``command`` and mark it as that run's folder.

    Parameters
    ----------
    out : path of the output folder
    command : ``"run"``, ``"compare"`` or ``"sweep"``
    scenario : scenario name, for messages
    identity : what defines the run's results (spec, seeds, versions); a resumable
        command resumes only a folder whose mark holds the same
    resumable : whether an unfinished run of the same identity may continue in ``out``
    overwrite : remove an earlier run's files first
    summary : a few words for messages (``"seed 0, 2 sessions"``)

    Raises
    ------
    UsageError
        naming ``--out`` and the fix, before any work is done.
    """
    out = Path(out)
    check_writable(out)
    key = run_key({"command": command, "scenario": scenario, **identity})
    # a folder holding only a mark is an attempt that stopped before writing anything
    entries = sorted(p.name for p in out.iterdir() if p.name != MARK)
    if entries:
        mark = read_mark(out)
        ours = mark is not None or any(name in RUN_FILES for name in entries)
        same = mark is not None and mark.get("key") == key
        if overwrite and ours:
            _clear(out)
        elif overwrite:
            raise UsageError(
                f"--out {out}: holds {len(entries)} entries that are not a marketsim run "
                f"(e.g. {entries[0]!r}); --overwrite removes only runs; choose a new folder"
            )
        elif same and resumable:
            pass  # the same command resumes: its finished cells are reused
        elif same:
            raise UsageError(
                f"--out {out}: holds an earlier run of this same command; add --overwrite "
                "to run it again, or choose a new folder"
            )
        elif ours:
            raise UsageError(
                f"--out {out}: holds {_describe(mark)}, not this {command} of {scenario}; "
                "choose a new folder, or add --overwrite to replace it"
            )
        else:
            raise UsageError(
                f"--out {out}: is not empty ({len(entries)} entries, e.g. {entries[0]!r}); "
                "choose a new or empty folder"
            )
    write_json_atomic(
        {"command": command, "scenario": scenario, "key": key, "summary": summary}, out / MARK
    )
    return out


__all__ = ["MARK", "check_writable", "claim", "read_mark", "run_key"]
