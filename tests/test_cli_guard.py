"""The command line's top-level guard: no traceback reaches the user.

An unexpected exception is one line on stderr naming a log file that holds the
traceback (exit 1); bad input is one line (exit 2); Ctrl-C is one line (exit 130); a
reader that closes stdout early (``marketsim ... | head -1``) ends the command quietly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import marketsim.cli as cli
from marketsim.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]


def _raiser(exc):
    def cmd(args):
        raise exc

    return cmd


def test_internal_error_is_one_line_with_traceback_in_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(cli, "_cmd_params", _raiser(ZeroDivisionError("float division by zero")))
    assert cli.main(["params", "calvano2020"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("internal error: ZeroDivisionError: float division by zero; details in ")
    log = Path(err.strip().rsplit("details in ", 1)[1])
    assert log.parent == tmp_path / "cache" / "marketsim" / "errors"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "ZeroDivisionError" in text
    assert "marketsim params calvano2020" in text


def test_log_dir_falls_back_to_temp_when_cache_unwritable(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a path below a file: unwritable
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    folder = cli.error_log_dir()
    assert folder == tmp_path / "tmp" / f"marketsim-{os.getuid()}" / "errors" and folder.is_dir()


@pytest.mark.parametrize(
    ("exc", "code", "start"),
    [
        (UsageError("alpha: must be > 0; use e.g. --set alpha=0.15"), 2, "error: alpha: must"),
        (UsageError("two\nlines"), 2, "error: two; lines"),
        (KeyboardInterrupt(), 130, "interrupted:"),
    ],
)
def test_usage_error_and_interrupt_are_one_line(monkeypatch, capsys, exc, code, start):
    monkeypatch.setattr(cli, "_cmd_params", _raiser(exc))
    assert cli.main(["params", "calvano2020"]) == code
    err = capsys.readouterr().err
    assert err.startswith(start) and err.count("\n") == 1


def test_closed_stdout_exits_quietly():
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line, as with `| head -0`
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        res = subprocess.run(
            [sys.executable, "-m", "marketsim", "params", "market_calm"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write)
    assert res.stderr == "" and res.returncode == 141
