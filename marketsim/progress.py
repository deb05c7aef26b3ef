"""The progress bar of every long run: one look, on stderr, and one switch to silence it.

Results go to files and errors to stderr; the bar is drawn on stderr with rich, so a run
piped or redirected keeps its standard output clean. ``--quiet`` (``progress=False``)
turns it off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


def make_progress(*, enabled: bool = True, count: str | None = None, transient: bool = False):
    """A rich ``Progress`` with marketsim's columns: description, bar, count, elapsed, eta.

    ``count`` replaces the "done/total" column with a format string (e.g.
    ``"{task.completed:.0f}/{task.total:.0f}"`` for fractional totals).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn() if count is None else count,
        TimeElapsedColumn(),
        "eta",
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=transient,
    )


@contextmanager
def progress_bar(
    description: str, total: float, *, enabled: bool = True, count: str | None = None
) -> Iterator[Callable[..., None]]:
    """A bar for one task; yields ``update(completed=..., advance=...)`` (a no-op when
    ``enabled`` is false, so callers need no second code path)."""
    if not enabled:
        yield lambda completed=None, advance=None: None
        return
    with make_progress(count=count) as bar:
        task = bar.add_task(description, total=total)

        def update(completed=None, advance=None):
            bar.update(task, completed=completed, advance=advance)

        yield update


#: set once the "compiling kernels" line has been printed in this process
_ANNOUNCED: list[bool] = []


def announce_compiling(estimate_s: float | None = None) -> None:
    """Print ``compiling kernels (first run only, ~N s)...`` on stderr once, when numba
    first compiles a kernel in this process.

    numba raises its ``numba:compile`` event only on a cache miss (a kernel loaded from
    the on-disk cache raises none), so a run whose kernels are cached prints nothing.
    ``estimate_s`` is the measured cold compile time of the caller's kernels on a 2-core
    machine (None: no figure given). Idempotent: a second call adds no second listener.
    """
    if _ANNOUNCED:
        return
    _ANNOUNCED.append(False)
    import sys

    from numba.core import event

    about = f", ~{estimate_s:.0f} s" if estimate_s else ""

    class _Announce(event.Listener):
        def on_start(self, ev):
            if not _ANNOUNCED[0]:
                _ANNOUNCED[0] = True
                print(f"compiling kernels (first run only{about})...", file=sys.stderr, flush=True)

        def on_end(self, ev):
            pass

    event.register("numba:compile", _Announce())
