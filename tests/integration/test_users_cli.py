"""``beacon users add|list|revoke`` against the store of a running node."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import requests

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
                     "created": entry["created"], "revoked": None}
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
        ("cli", "CLI", "users revoke"), ("cli", "CLI", "users add --role viewer")]
    assert all(i["who"]["label"] and i["who"]["token_id"] is None for i in mine)
