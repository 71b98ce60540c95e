"""``beacon users add|list|revoke`` against the store of a running node."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from federation.timeutil import parse_time
from node.core.config import NodeConfig
from node.store.auth import issue_token
from node.store.db import Store
from tests.integration.conftest import Federation, report
from tests.integration.world import call


def beacon(fed: Federation, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", "users", *args[:1], "--config",
                           fed.node("gb")["config"], *args[1:]],
                          capture_output=True, text=True, timeout=60, check=False)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def listed(fed: Federation) -> dict[str, dict[str, Any]]:
    out = beacon(fed, "list", "--json")
    assert out.returncode == 0, out.stderr
    return {t["id"]: t for t in json.loads(out.stdout)}


def test_add_use_list_and_revoke_a_token(fed: Federation) -> None:
    added = beacon(fed, "add", "--role", "responder", "--label", "duty officer A")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("bkn_") and "\n" not in token
    assert "cannot be shown again" in added.stderr
    token_id = token.split("_")[1]

    url = fed.url("gb", "/api/v1/incidents")
    assert requests.get(url, headers=bearer(token), timeout=10).status_code == 200
    r = requests.post(url, headers=bearer(token), json=report(), timeout=10)
    assert r.status_code == 403 and "responder" in r.json()["errors"][0]["message"]

    entry = listed(fed)[token_id]
    assert entry == {"id": token_id, "role": "responder", "label": "duty officer A",
                     "created": entry["created"], "revoked": None,
                     "expires": entry["expires"], "expired": False}
    table = beacon(fed, "list")
    assert table.returncode == 0 and token_id in table.stdout and "duty officer A" in table.stdout
    for text in (table.stdout, beacon(fed, "list", "--json").stdout):
        assert "argon2" not in text and token.split("_", 2)[2] not in text  # never hashes

    revoked = beacon(fed, "revoke", token_id)
    assert revoked.returncode == 0 and f"revoked {token_id}" in revoked.stdout
    r = requests.get(url, headers=bearer(token), timeout=10)  # at once: no restart, no cache
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert listed(fed)[token_id]["revoked"] is not None

    again = beacon(fed, "revoke", token_id)
    assert again.returncode == 2 and "already revoked" in again.stderr


def test_mistakes_get_a_one_line_answer(fed: Federation) -> None:
    unknown = beacon(fed, "revoke", "000000000000")
    assert unknown.returncode == 2 and "beacon users list" in unknown.stderr
    bad_role = beacon(fed, "add", "--role", "admin")
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr


def test_token_changes_are_in_the_audit_trail(fed: Federation) -> None:
    added = beacon(fed, "add", "--role", "viewer")
    assert added.returncode == 0, added.stderr
    token_id = added.stdout.strip().split("_")[1]
    assert listed(fed)[token_id]["label"] == "viewer"  # the default label is the role
    assert beacon(fed, "revoke", token_id).returncode == 0
    items = call(fed, "gb", "GET", "/api/v1/audit", "auditor").json()["items"]
    mine = [i for i in items if i["target"] == token_id]
    assert [(i["via"], i["method"], i["path"]) for i in mine] == [
        ("cli", "CLI", "users revoke"), ("cli", "CLI", "users add --role viewer --expires 365d")]
    assert all(i["who"]["label"] and i["who"]["token_id"] is None for i in mine)


def _expires_in(fed: Federation, token_id: str) -> timedelta:
    return parse_time(listed(fed)[token_id]["expires"]) - datetime.now(UTC)


def test_tokens_expire_in_a_year_unless_told_otherwise(fed: Federation) -> None:
    ids = {}
    for when in ("default", "30d", "never"):
        extra = () if when == "default" else ("--expires", when)
        added = beacon(fed, "add", "--role", "viewer", "--label", f"expires {when}", *extra)
        assert added.returncode == 0, added.stderr
        ids[when] = added.stdout.strip().split("_")[1]
    assert timedelta(days=364) < _expires_in(fed, ids["default"]) <= timedelta(days=365)
    assert timedelta(days=29) < _expires_in(fed, ids["30d"]) <= timedelta(days=30)
    assert listed(fed)[ids["never"]]["expires"] is None
    table = beacon(fed, "list").stdout
    assert "EXPIRES" in table.splitlines()[0]
    assert next(line for line in table.splitlines() if ids["never"] in line).split()[3] == "never"
    past = beacon(fed, "add", "--role", "viewer", "--expires", "2020-01-01")
    assert past.returncode == 2 and "in the past" in past.stderr


def test_an_expired_token_gets_a_401_that_says_when_and_what_to_do(fed: Federation) -> None:
    # Written straight into the running node's store, as `beacon users add` does, but with an
    # expiry already past: the CLI refuses to issue one, and a test must not sleep.
    store = Store.open(NodeConfig.load(Path(fed.node("gb")["config"])).db_path)
    try:
        token = issue_token(store, "auditor", label="expired", now="2026-01-01T00:00:00Z",
                            expires="2026-02-01T00:00:00Z")
    finally:
        store.close()
    r = requests.get(fed.url("gb", "/api/v1/incidents"), headers=bearer(token), timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    message = r.json()["errors"][0]["message"]
    assert "expired at 2026-02-01T00:00:00Z" in message
    assert "ask a node operator for a new one" in message
    assert listed(fed)[token.split("_")[1]]["expired"] is True


def test_a_provider_token_names_its_developer_and_files_only_for_it(fed: Federation) -> None:
    missing = beacon(fed, "add", "--role", "provider")
    assert missing.returncode == 2 and "--developer" in missing.stderr
    added = beacon(fed, "add", "--role", "provider", "--developer", "Acme Models")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    url = fed.url("gb", "/api/v1/incidents")
    theirs = report(ai_system={"name": "X", "version": "1", "developer": "Example AI",
                               "role": "it did"})
    r = requests.post(url, json=theirs, headers=bearer(token), timeout=15)
    assert r.status_code == 403 and "'Acme Models' only" in r.text, r.text
    own = theirs | {"ai_system": theirs["ai_system"] | {"developer": "acme models"}}
    r = requests.post(url, json=own, headers=bearer(token), timeout=15)
    assert r.status_code == 201, r.text


def test_an_evaluator_token_names_its_organisation_and_only_reviews(fed: Federation) -> None:
    missing = beacon(fed, "add", "--role", "evaluator")
    assert missing.returncode == 2 and "--organisation" in missing.stderr
    stray = beacon(fed, "add", "--role", "viewer", "--organisation", "Acme Evals")
    assert stray.returncode == 2 and "only an evaluator token" in stray.stderr
    added = beacon(fed, "add", "--role", "evaluator", "--organisation", "Acme  Evals")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    model = requests.post(fed.url("gb", "/api/v1/models"), headers=fed.auth("gb", "operator"),
                          json={"developer": "Example AI", "model": "EvalCliLM", "version": "1"},
                          timeout=15).json()["id"]
    r = requests.post(fed.url("gb", f"/api/v1/safety-cases/{model}/reviews"),
                      json={"verdict": "approved", "findings": "ok"}, headers=bearer(token),
                      timeout=15)
    assert r.status_code == 201, r.text
    assert (r.json()["organisation"], r.json()["reviewer_kind"]) == ("Acme Evals", "independent")
    r = requests.get(fed.url("gb", "/api/v1/incidents"), headers=bearer(token), timeout=10)
    assert r.status_code == 403
