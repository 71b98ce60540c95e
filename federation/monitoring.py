"""Post-deployment monitoring signals: a run-time check that failed, and the report it files. Pure.

    >>> from datetime import timezone
    >>> doc = monitoring_body({"developer": "Example AI", "model": "ExampleLM", "version": "3.0",
    ...     "check": "refusal-classifier", "assumption": "harmful CBRN queries are refused",
    ...     "environment": "production EU", "action": "model shut down",
    ...     "observed_at": "2026-11-26T00:00:00Z"}, origin="gb",
    ...     now=datetime(2026, 11, 26, 1, tzinfo=timezone.utc), token=bytes(8))
    >>> doc["id"], failure_report(doc, "ab" * 32)["severity"]
    ('gb-signal-0000000000000000', 'incident')

A ``monitoring`` message (``schemas/monitoring.v1.json``) records which safety-case assumption a
run-time check guarded, where it failed and what was done (e.g. the model was shut down). At the
node that signs it, it files an incident carrying the signal (``failure_report``), so the
playbooks answer it like any report; providers file it through their authority's node.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from federation.errors import Problem, SchemaError
from federation.timeutil import format_time

CLIENT_FIELDS = ("developer", "model", "version", "check", "assumption", "environment",
                 "action", "observed_at", "details")
REQUIRED = ("developer", "model", "version", "check", "assumption", "environment", "action")


def monitoring_body(body: Mapping[str, Any], *, origin: str, now: datetime,
                    token: bytes | None = None) -> dict[str, Any]:
    """The ``monitoring`` message ``origin`` signs for a client's ``body``.

    Raises:
        SchemaError: an unknown field or a missing text (the schema checks the rest).
    """
    problems = [Problem(f"$.{k}", f"unknown field; known fields are {', '.join(CLIENT_FIELDS)}")
                for k in body if k not in CLIENT_FIELDS]
    problems += [Problem(f"$.{k}", "a non-empty string is required") for k in REQUIRED
                 if not isinstance(body.get(k), str) or not str(body.get(k)).strip()]
    if problems:
        raise SchemaError(problems, "monitoring")
    doc = {"type": "monitoring", "origin": origin, "issued_at": format_time(now),
           "id": f"{origin}-signal-{(token or secrets.token_bytes(8)).hex()}"}
    return doc | {k: body[k] for k in CLIENT_FIELDS if k in body}


def failure_report(signal: Mapping[str, Any], digest: str) -> dict[str, Any]:
    """The incident a failed run-time check files at its origin, carrying the signal."""
    what = f"{signal['model']} {signal['version']}"
    return {
        "title": f"Run-time check {signal['check']} failed on {what}"[:300],
        "description": f"The run-time check {signal['check']} of {signal['developer']} {what} "
                       f"failed in {signal['environment']}. It guarded the safety-case "
                       f"assumption: {signal['assumption']}. Action taken: {signal['action']}.",
        "severity": "incident",
        "harm_types": ["public-interest"],
        "ai_system": {"name": signal["model"], "version": signal["version"],
                      "developer": signal["developer"],
                      "role": f"a deployed model whose run-time check {signal['check']} failed"},
        "submitter": {"organisation": str(signal["developer"])[:300]},
        "supporting_materials": [{"description": f"monitoring signal {signal['id']} ({digest})"}],
        "actions_taken": str(signal["action"])[:5000],
        "tlp": "GREEN",
        "monitoring": {"id": signal["id"], "digest": digest, "check": signal["check"],
                       "assumption": signal["assumption"], "action": signal["action"]},
        **({"occurred_at": signal["observed_at"]} if signal.get("observed_at") else {}),
    }
