"""A browser user whose session ended is told why on the sign-in page (revoked, token expired).

The token is issued straight into the running node's store, as ``beacon users add`` does; its
expiry is then moved into the past in the store, which is what the passage of time does to it,
so the test needs no sleeping and no clock of the node's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from node.core.config import NodeConfig
from node.store.auth import issue_token, revoke_token
from node.store.db import Store
from tests.browser.console import no_script_errors, open_page, shot
from tests.integration.conftest import Federation

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@contextmanager
def gb_store(fed: Federation) -> Iterator[Store]:
    store = Store.open(NodeConfig.load(Path(fed.node("gb")["config"])).db_path)
    try:
        yield store
    finally:
        store.close()


def new_token(fed: Federation, label: str) -> str:
    with gb_store(fed) as store:
        return issue_token(store, "responder", label=label, now="2026-11-01T00:00:00Z",
                           expires="2099-01-01T00:00:00Z")


def sign_in_with(browser: Browser, fed: Federation, token: str) -> Page:
    page = open_page(browser)
    page.goto(fed.url("gb", "/login"))
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(fed.url("gb", "/"))
    expect(page.get_by_role("heading", level=1, name="Incidents")).to_be_visible()
    return page


def ended_notice(page: Page, fed: Federation, shots: Path, name: str) -> str:
    """Navigate as a user would after a while away; return what the sign-in page says."""
    page.goto(fed.url("gb", "/inbox"))
    page.wait_for_url(re.compile(r"/login"))
    notice = page.locator("#session-ended")
    expect(notice).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(notice.inner_text())
    text = notice.inner_text()
    shot(page, shots, name)
    page.reload()  # said once: the dead cookie is cleared
    expect(page.locator("#session-ended")).to_have_count(0)
    return text


def test_a_revoked_token_ends_the_session_and_the_page_says_so(
        browser: Browser, ui_fed: Federation, shots: Path) -> None:
    token = new_token(ui_fed, "revoked in a browser test")
    page = sign_in_with(browser, ui_fed, token)
    page.goto("about:blank")  # away: no console script may see the 401 first and navigate
    with gb_store(ui_fed) as store:
        assert revoke_token(store, token.split("_")[1], now="2026-11-29T10:15:00Z")
    text = ended_notice(page, ui_fed, shots, "session-ended-revoked")
    assert "a node operator revoked your API token at 2026-11-29T10:15:00Z" in text
    assert "Ask an operator for a new token" in text
    no_script_errors(page)


def test_an_expired_token_ends_the_session_and_cannot_sign_in_again(
        browser: Browser, ui_fed: Federation, shots: Path) -> None:
    token = new_token(ui_fed, "expires in a browser test")
    page = sign_in_with(browser, ui_fed, token)
    page.goto("about:blank")  # away: no console script may see the 401 first and navigate
    with gb_store(ui_fed) as store, store.transaction() as tx:
        tx.execute("UPDATE tokens SET expires_at = '2026-11-29T06:00:00Z' WHERE token_id = ?",
                   (token.split("_")[1],))
    text = ended_notice(page, ui_fed, shots, "session-ended-token-expired")
    assert "your API token expired at 2026-11-29T06:00:00Z" in text
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#token-error")).to_contain_text(
        "This token expired at 2026-11-29T06:00:00Z. Ask a node operator for a new token.")
    shot(page, shots, "sign-in-expired-token")
    no_script_errors(page)
