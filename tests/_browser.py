"""Headless Chromium for the report tests: the DOM of a page after its scripts ran.

Debian's ``chromium`` is required (``.ci/run`` installs it as root); without it the
tests fail with a message rather than skip, so a missing browser cannot hide a broken
page.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
#: a src/href that would load something from the network
NETWORK_URL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""")


def dump_dom(page: Path, tmp_path: Path) -> str:
    """The serialised DOM of ``page`` once its scripts have run (``--dump-dom``)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(
            f"{CHROMIUM} not found: the report test needs Debian's chromium; "
            "install it with `apt-get install -y chromium` (.ci/run does this as root)"
        )
    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
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
