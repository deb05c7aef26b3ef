"""Headless Chromium for the report tests: the DOM of a page after its scripts ran.

Debian's ``chromium`` (``apt-get install chromium``; ``.ci/run`` installs it as root).
Without it these tests skip with that advice, so that ``make test`` runs on a machine
with only Python, pip and make; with ``MARKETSIM_REQUIRE_BROWSER=1`` (``.ci/run`` sets it)
a missing browser is a failure, so CI cannot pass with the pages unchecked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
#: a src/href that would load something from the network
NETWORK_URL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""")


def chromium() -> str:
    """The browser's path; skips the test without one (fails under
    ``MARKETSIM_REQUIRE_BROWSER=1``)."""
    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if exe is None:
        why = (
            f"{CHROMIUM} not found: the report pages are checked in Debian's chromium; "
            "install it with `apt-get install -y chromium` (.ci/run does this as root)"
        )
        if os.environ.get("MARKETSIM_REQUIRE_BROWSER") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return exe


def dump_dom(page: Path, tmp_path: Path) -> str:
    """The serialised DOM of ``page`` once its scripts have run (``--dump-dom``)."""
    exe = chromium()
    res = subprocess.run(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def rendered_offline(page: Path, tmp_path: Path) -> str:
    """Open ``page`` and check it rendered offline; returns the DOM.

    Asserts: no src/href to the network in the file or the DOM, the CSP forbids loads,
    no Vega error, and one rendered ``<svg class="marks">`` per ``div.chart``.
    """
    text = page.read_text()
    n_charts = len(re.findall(r"<div class='chart'", text))
    assert not NETWORK_URL.search(text)
    assert "default-src 'none'" in text
    dom = dump_dom(page, tmp_path)
    assert 'class="vega-error"' not in dom, "a chart failed to render"
    assert len(re.findall(r"<div class=\"chart\b.*?</div>", dom, flags=re.S)) == n_charts
    rendered = re.findall(r'<svg[^>]*class="marks"', dom)
    assert len(rendered) == n_charts, f"{len(rendered)} of {n_charts} charts rendered"
    assert not NETWORK_URL.search(dom)
    return dom
