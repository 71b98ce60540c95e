"""Browser fixtures: Debian's headless Chromium driven by Playwright, against a real federation.

The browser is ``/usr/bin/chromium`` (``make browser-deps`` installs it; override with
``BEACON_CHROMIUM``); Playwright's own browser downloads are never used. In CI (``CI=true``) a
missing Chromium or Playwright is a failure, never a skip. The federation is a real ``beacon
demo`` (gb, fr and the international body) at time scale 0.001, so the tier-1 escalation
deadline (24 h) is 86 s: long enough to acknowledge it in a test, short enough to watch move.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Federation, running_federation

CHROMIUM = Path(os.environ.get("BEACON_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}  # a common laptop screen
TIME_SCALE = 0.001


def _unavailable(why: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{why} (CI never skips browser tests)", pytrace=False)
    pytest.skip(why)


# Module scope, not session: while sync Playwright runs it owns this thread's event loop, so it
# must be stopped before pytest-asyncio runs the async tests of other modules.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[test]'")
    if not CHROMIUM.exists():
        _unavailable(f"no Chromium at {CHROMIUM}: run `make browser-deps` (apt-get install "
                     "chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(autouse=True)
def close_pages() -> Iterator[None]:
    """Close every browser context a test opened: open consoles keep live streams and timers
    running, which would slow the tests that follow."""
    yield
    from tests.browser.console import OPEN_CONTEXTS
    while OPEN_CONTEXTS:
        OPEN_CONTEXTS.pop().close()


@pytest.fixture(scope="module")
def ui_fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("uifed"), ["gb", "fr"],
                            time_scale=TIME_SCALE) as f:
        yield f


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
