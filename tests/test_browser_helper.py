"""Without Chromium the report pages' browser checks skip on a user's machine and fail
where MARKETSIM_REQUIRE_BROWSER=1 (CI)."""

from __future__ import annotations

import pytest

from tests import _browser


@pytest.fixture
def no_browser(monkeypatch, tmp_path):
    monkeypatch.setattr(_browser, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setattr(_browser.shutil, "which", lambda name: None)


def test_a_missing_browser_skips_with_the_install_command(no_browser, monkeypatch):
    monkeypatch.delenv("MARKETSIM_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        _browser.chromium()


def test_a_missing_browser_fails_where_one_is_required(no_browser, monkeypatch):
    monkeypatch.setenv("MARKETSIM_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="not found"):
        _browser.chromium()
