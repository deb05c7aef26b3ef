"""Running a plan's tasks on ``dask.distributed``, for ``sweep`` and ``calibrate``.

A client on a ``LocalCluster`` of single-threaded worker processes, or on an existing
scheduler; every task submitted, a failed one once more, a second failure logged and
given up; each result written by the caller as a part under ``OUT/parts/`` (atomically,
so a killed run leaves at most temporaries, removed when it resumes).
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from marketsim.errors import UsageError
from marketsim.io import run_metadata, write_json_atomic
from marketsim.progress import make_progress

PARTS = "parts"


def start_parts(out: Path, manifest_name: str, plan_manifest: dict, items: list) -> tuple:
    """Make ``out/parts`` (without the temporaries of a killed run) and write the manifest.

    Returns the parts folder, the manifest (the plan's, with the run's metadata) and the
    ``items`` (with a ``filename``) whose part is not on disk yet.
    """
    parts = out / PARTS
    parts.mkdir(parents=True, exist_ok=True)
    # a SIGKILL between write and rename leaves ``.<name>.<random>.tmp``: never a part
    for tmp in parts.glob(".*.parquet.*.tmp"):
        tmp.unlink(missing_ok=True)
    manifest = {**plan_manifest, **run_metadata()}
    write_json_atomic(manifest, out / manifest_name)
    return parts, manifest, [x for x in items if not (parts / x.filename).exists()]


#: address schemes of a dask scheduler
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")


def check_scheduler(address: str) -> str:
    """A dask scheduler address ``SCHEME://HOST:PORT``, or one line saying what is wrong."""
    from urllib.parse import urlsplit

    hint = "give SCHEME://HOST:PORT, e.g. tcp://127.0.0.1:8786"
    text = address.strip()
    if "://" not in text:  # dask reads HOST:PORT as tcp://HOST:PORT
        text = f"tcp://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"--scheduler {address!r}: {exc}; {hint}") from None
    if parts.scheme not in SCHEDULER_SCHEMES:
        raise UsageError(
            f"--scheduler {address!r}: scheme {parts.scheme or '(none)'!r} is not one of "
            f"{', '.join(SCHEDULER_SCHEMES)}; {hint}"
        )
    if parts.scheme == "inproc" and parts.netloc:  # a scheduler in this process
        return address.strip()
    if not parts.hostname or port is None or port == 0:
        raise UsageError(f"--scheduler {address!r}: no host or port; {hint}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise UsageError(f"--scheduler {address!r}: unexpected path or user; {hint}")
    return address.strip()


def _open_client(workers: int | None, scheduler: str | None, quiet: bool):
    from distributed import Client, LocalCluster

    if scheduler is not None:
        scheduler = check_scheduler(scheduler)
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise UsageError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
        silence_logs=logging.ERROR,
        env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    return Client(cluster), cluster


@contextmanager
def dask_client(workers: int | None, scheduler: str | None, quiet: bool):
    """A dask client (on a local cluster of ``workers`` or at ``scheduler``), closed after."""
    client, cluster = _open_client(workers, scheduler, quiet)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def task_progress(quiet: bool):
    return make_progress(enabled=not quiet)


def one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0] if text else type(exc).__name__


def retrying_once(client, fn, items, *, args, key, on_result, on_failure, describe, log):
    """Run ``fn(*args(item))`` on dask for every item, a failed one once more; return the
    items that failed twice.

    An attempt's task key is ``f"{key(item)}-{attempt}"``. ``on_result(item, result)``
    takes each result as it arrives, ``on_failure(item)`` each item given up;
    ``describe(item)`` names an item in the warning and error lines.
    """
    from distributed import as_completed

    meta: dict[str, tuple[Any, int]] = {}

    def send(item, attempt: int):
        fut = client.submit(fn, *args(item), pure=False, key=f"{key(item)}-{attempt}")
        meta[fut.key] = (item, attempt)
        return fut

    failed = []
    pending = as_completed([send(item, 0) for item in items])
    for fut in pending:
        item, attempt = meta.pop(fut.key)
        if fut.status == "finished":
            on_result(item, fut.result())
        else:
            try:
                fut.result()
                err = "task did not finish"
            except Exception as exc:  # the worker's exception, reported with its item
                err = one_line(exc)
            if attempt == 0:
                log(f"warning: {describe(item)} failed: {err}; retrying once")
                pending.add(send(item, 1))
            else:
                log(f"error: {describe(item)} failed again: {err}")
                failed.append(item)
                on_failure(item)
        fut.release()
    return failed
