"""Reading the AI Incident Database CSV files, with a line number on every problem.

    corpus = read_corpus(Path("../shared/data/aiid/incidents.csv"))
    corpus.records, corpus.problems          # broken rows are reported, never filed

Used by ``beacon import aiid`` (``node.cli.importer``) and the demo's seeding. The csv module reads
the files in strict mode (descriptions hold newlines and quotes); classification files beside
the incidents file are joined by incident id when present.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from federation import aiid
from federation.errors import Error

CLASSIFICATION_FILE = "classifications_{}.csv"


class AiidImportError(Error):
    """The import cannot start or go on (bad arguments, unreachable node, refused token)."""


# -- reading and checking the CSV files -----------------------------------------------------
@dataclass(frozen=True)
class RowProblem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line}: {self.message}"


@dataclass
class CsvRow:
    line: int
    values: dict[str, str | None]
    problems: list[str] = field(default_factory=list)


def read_rows(path: Path, required: Sequence[str]) -> tuple[list[CsvRow], list[RowProblem]]:
    """Every record of a CSV file with the line it starts on; and file-level problems.

    A short or long record gets a problem (its missing values are ``None``); a record the csv
    module cannot parse (an unterminated quote) is reported and skipped. A file-level problem
    (no header, missing columns, not UTF-8) means the rows cannot be trusted.
    """
    name = path.name
    rows: list[CsvRow] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, strict=True)
            header = next(reader, None)
            if not header:
                return [], [RowProblem(name, 1, "the file is empty; it needs a header row")]
            missing = [c for c in required if c not in header]
            if missing:
                return [], [RowProblem(name, 1, f"missing column {', '.join(missing)}")]
            index: dict[str, int] = {}
            for i, column in enumerate(header):
                index.setdefault(column, i)  # a repeated column name: the first one counts
            for line, fields, error in _records(reader):
                if error:
                    rows.append(CsvRow(line, {}, [error]))
                elif fields:
                    rows.append(_row(line, fields, header, index))
    except UnicodeDecodeError as e:
        return rows, [RowProblem(name, (rows[-1].line + 1) if rows else 1,
                                 f"the file is not UTF-8 text ({e.reason})")]
    except OSError as e:
        raise AiidImportError(f"cannot read {path}: {e.strerror or e}") from e
    return rows, []


def _records(reader: Any) -> Iterator[tuple[int, list[str], str]]:
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            text = str(e)
            if "unexpected end of data" in text:
                text = "a quoted value is never closed (the rest of the file is inside it)"
            yield start, [], f"not valid CSV: {text}"
            if reader.line_num < start:  # nothing consumed: stop rather than loop
                return
            continue
        yield start, fields, ""


def _row(line: int, fields: list[str], header: list[str], index: dict[str, int]) -> CsvRow:
    values: dict[str, str | None] = {c: (fields[i] if i < len(fields) else None)
                                     for c, i in index.items()}
    row = CsvRow(line, values)
    if len(fields) < len(header):
        missing = header[len(fields):]
        shown = ", ".join(missing[:4]) + (", …" if len(missing) > 4 else "")
        row.problems.append(f"the row ends after {len(fields)} of {len(header)} columns "
                            f"(missing {shown})")
    elif len(fields) > len(header):
        row.problems.append(f"the row has {len(fields)} values but the header "
                            f"{len(header)} columns")
    return row


@dataclass
class Corpus:
    """What the files say: sound records (with their line) and every problem found."""

    records: list[tuple[int, aiid.AiidRecord]]
    problems: list[RowProblem]
    fatal: bool
    classification_rows: dict[str, int]
    source: str


def read_corpus(incidents_csv: Path, limit: int | None = None) -> Corpus:
    """Read ``incidents.csv`` (its first ``limit`` rows) and the classification files beside it.

    Raises:
        AiidImportError: the incidents file cannot be read at all.
    """
    if not incidents_csv.is_file():
        raise AiidImportError(f"{incidents_csv}: no such file; pass AIID's incidents.csv")
    rows, problems = read_rows(incidents_csv, aiid.INCIDENT_COLUMNS)
    fatal = bool(problems)
    rows = rows[:limit] if limit is not None else rows
    name = incidents_csv.name
    by_id: dict[int, CsvRow] = {}
    for row in rows:
        row.problems += aiid.check_incident_row(row.values) if not row.problems else []
        iid = aiid.parse_id(row.values.get("incident_id") or "")
        if iid is None:
            continue
        if iid in by_id:
            # Two rows for one incident: neither can be trusted to be the right one.
            first = by_id[iid]
            first.problems.append(f"incident_id {iid} is repeated on line {row.line}")
            row.problems.append(f"incident_id {iid} is repeated from line {first.line}")
        else:
            by_id[iid] = row
    classes = _read_classifications(incidents_csv.parent, set(by_id))
    classified, class_problems, blocked, counts, class_fatal = classes
    fatal = fatal or class_fatal
    problems += class_problems
    records = []
    for row in rows:
        iid = aiid.parse_id(row.values.get("incident_id") or "")
        if iid is not None and iid in blocked and not row.problems:
            row.problems.append(f"not filed: its classification is broken ({blocked[iid]})")
        problems += [RowProblem(name, row.line, m) for m in row.problems]
        if not row.problems and iid is not None:
            values = {k: v or "" for k, v in row.values.items()}
            records.append((row.line, aiid.AiidRecord(values, classified.get(iid))))
    return Corpus(records, problems, fatal, counts, name)


def _read_classifications(folder: Path, wanted: set[int]) -> tuple[
        dict[int, dict[str, dict[str, str]]], list[RowProblem], dict[int, str], dict[str, int],
        bool]:
    """Join classification rows by incident id. Problems of rows naming an incident outside
    ``wanted`` are not reported; a row naming no incident at all is fatal."""
    classified: dict[int, dict[str, dict[str, str]]] = {}
    problems: list[RowProblem] = []
    blocked: dict[int, str] = {}
    counts: dict[str, int] = {}
    fatal = False
    for namespace in aiid.NAMESPACES:
        path = folder / CLASSIFICATION_FILE.format(namespace)
        if not path.is_file():
            continue
        rows, file_problems = read_rows(path, ("Incident ID",))
        problems += file_problems
        fatal = fatal or bool(file_problems)
        counts[namespace] = len(rows)
        seen: dict[int, int] = {}
        for row in rows:
            messages = row.problems or aiid.check_classification_row(namespace, row.values)
            iid = aiid.parse_id(row.values.get("Incident ID") or "")
            if iid is None:
                # Which incident it classifies is unknown, so any of them might be misfiled.
                fatal = True
                problems += [RowProblem(path.name, row.line, m) for m in messages]
                continue
            if iid not in wanted:
                continue
            if iid in seen:
                messages = [*messages, f"a second {namespace} row for incident {iid} "
                                       f"(first on line {seen[iid]})"]
            seen[iid] = row.line
            problems += [RowProblem(path.name, row.line, m) for m in messages]
            if messages:
                blocked.setdefault(iid, f"{path.name} line {row.line}")
            else:
                classified.setdefault(iid, {})[namespace] = {k: v or ""
                                                             for k, v in row.values.items()}
    return classified, problems, blocked, counts, fatal
