"""Checks of raw AI Incident Database rows, before anything is mapped. Pure.

    >>> for problem in check_incident_row({"incident_id": "x", "date": "2024-02-30",
    ...     "title": "ok title", "description": "", "Alleged deployer of AI system": "[]",
    ...     "Alleged developer of AI system": "[]",
    ...     "Alleged harmed or nearly harmed parties": "[]"}): print(problem)
    incident_id 'x' is not a positive whole number
    date '2024-02-30' is not a date (YYYY-MM-DD)

The importer (``node.cli.aiid_csv``) adds file names and line numbers; ``federation.aiid`` maps the
rows these checks let through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date

INCIDENT_COLUMNS = ("incident_id", "date", "title", "description", "Alleged deployer of AI system",
                    "Alleged developer of AI system", "Alleged harmed or nearly harmed parties")
LIST_COLUMNS = INCIDENT_COLUMNS[4:]


def check_incident_row(row: Mapping[str, str | None]) -> list[str]:
    """What is wrong with one ``incidents.csv`` row, as messages; empty if it can be mapped."""
    problems = [f"{c} is missing" for c in INCIDENT_COLUMNS if row.get(c) is None]
    raw_id = row.get("incident_id")
    if raw_id is not None and parse_id(raw_id) is None:
        problems.append(f"incident_id {raw_id!r} is not a positive whole number")
    raw_date = row.get("date")
    if raw_date is not None and parse_date(raw_date) is None:
        problems.append(f"date {raw_date!r} is not a date (YYYY-MM-DD)")
    title = row.get("title")
    if title is not None and len(title.strip()) < 3:
        problems.append(f"title {title!r} is too short (3 characters at least)")
    for column in LIST_COLUMNS:
        value = row.get(column)
        if value is not None and parse_list(value) is None:
            problems.append(f"{column} {value[:60]!r} is not a JSON array of strings")
    return problems


def check_classification_row(namespace: str, row: Mapping[str, str | None]) -> list[str]:
    """What is wrong with one classification row (only the fields the mapping reads)."""
    raw_id = row.get("Incident ID")
    if raw_id is None or parse_id(raw_id) is None:
        return [f"Incident ID {raw_id!r} is not a positive whole number"]
    problems = []
    if namespace == "CSETv1":
        for column in ("Lives Lost", "Injuries"):
            value = (row.get(column) or "").strip()
            if value and not value.isdigit():
                problems.append(f"{column} {value!r} is not a whole number")
    return problems


def parse_id(text: str) -> int | None:
    value = text.strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if len(text.strip()) == 10 else None
    except ValueError:
        return None


def parse_list(text: str) -> list[str] | None:
    """A JSON array of strings (AIID's list columns); an empty cell is an empty list."""
    if not text.strip():
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return [v.strip() for v in value if v.strip()]
