"""Reading and checking AIID CSV files: line numbers for every problem, nothing broken filed.

The filing side runs against a small in-process fake of the node's HTTP API (the real one is
exercised by tests/integration/test_import.py): it records what is POSTed, so a test can assert
that a broken row never reached a node and that a second run files nothing.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from federation.aiid import INCIDENT_COLUMNS
from node.cli.aiid_csv import AiidImportError, Corpus, read_corpus
from node.cli.importer import Target, add_parser, check_mapping, import_corpus, run

HEADER = ["_id", "incident_id", "date", "reports", *INCIDENT_COLUMNS[4:], "description", "title"]


def incident(iid: int, date: str = "2024-05-01", title: str | None = None,
             description: str = "An AI system did something.") -> list[str]:
    return [f"ObjectId({iid:024x})", str(iid), date, "[1,2]", '["deployer-co"]',
            '["developer-co"]', '["people"]', description, title or f"Incident number {iid}"]


def write(path: Path, rows: list[list[str]], header: list[str] = HEADER, tail: str = "") -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
        f.write(tail)
    return path


def messages(corpus: Corpus) -> list[str]:
    return [str(p) for p in corpus.problems]


def ids(corpus: Corpus) -> list[int]:
    return [r.incident_id for _, r in corpus.records]


# -- reading ---------------------------------------------------------------------------------
def test_sound_rows_with_newlines_and_quotes_are_read_with_their_start_line(
        tmp_path: Path) -> None:
    quoted = 'He said "stop".\nThen, twice:\n"stop!"'
    corpus = read_corpus(write(tmp_path / "incidents.csv",
                               [incident(1, description=quoted), incident(2)]))
    assert corpus.problems == [] and not corpus.fatal
    assert [(line, r.incident_id) for line, r in corpus.records] == [(2, 1), (5, 2)]
    assert corpus.records[0][1].incident["description"] == quoted


def test_a_bad_date_is_reported_with_its_line_and_the_rest_is_kept(tmp_path: Path) -> None:
    rows = [incident(1, description="two\nlines"), incident(2), incident(3, date="xx"),
            incident(4)]
    corpus = read_corpus(write(tmp_path / "incidents.csv", rows))
    assert messages(corpus) == ["incidents.csv line 5: date 'xx' is not a date (YYYY-MM-DD)"]
    assert ids(corpus) == [1, 2, 4] and not corpus.fatal


def test_a_partial_file_cut_mid_row_is_reported(tmp_path: Path) -> None:
    corpus = read_corpus(write(tmp_path / "incidents.csv", [incident(1), incident(2)],
                               tail='ObjectId(3),3,2024-05-01,"[1]",'))
    assert messages(corpus) == [
        "incidents.csv line 4: the row ends after 5 of 9 columns (missing Alleged developer "
        "of AI system, Alleged harmed or nearly harmed parties, description, title)"]
    assert ids(corpus) == [1, 2]


def test_an_unclosed_quote_is_reported_where_the_record_starts(tmp_path: Path) -> None:
    tail = 'ObjectId(3),3,2024-05-01,"[1]","[]","[]","[]","never closed,\nmore\n'
    corpus = read_corpus(write(tmp_path / "incidents.csv", [incident(1), incident(2)], tail=tail))
    assert messages(corpus) == [
        "incidents.csv line 4: not valid CSV: a quoted value is never closed (the rest of the "
        "file is inside it)"]
    assert ids(corpus) == [1, 2]


def test_a_row_with_too_many_values_is_broken(tmp_path: Path) -> None:
    corpus = read_corpus(write(tmp_path / "incidents.csv", [incident(1), [*incident(2), "x"]]))
    assert messages(corpus) == ["incidents.csv line 3: the row has 10 values but the header "
                                "9 columns"]
    assert ids(corpus) == [1]


def test_every_problem_of_every_row_is_reported(tmp_path: Path) -> None:
    rows = [incident(0, date="2024-13-01", title="ab"), incident(2)]
    rows[0][5] = "not json"
    corpus = read_corpus(write(tmp_path / "incidents.csv", rows))
    assert messages(corpus) == [
        "incidents.csv line 2: incident_id '0' is not a positive whole number",
        "incidents.csv line 2: date '2024-13-01' is not a date (YYYY-MM-DD)",
        "incidents.csv line 2: title 'ab' is too short (3 characters at least)",
        "incidents.csv line 2: Alleged developer of AI system 'not json' is not a JSON array "
        "of strings"]
    assert ids(corpus) == [2]


def test_a_repeated_incident_id_files_neither_row(tmp_path: Path) -> None:
    corpus = read_corpus(write(tmp_path / "incidents.csv",
                               [incident(1), incident(2), incident(1, title="Other one")]))
    assert messages(corpus) == ["incidents.csv line 2: incident_id 1 is repeated on line 4",
                                "incidents.csv line 4: incident_id 1 is repeated from line 2"]
    assert ids(corpus) == [2]


def test_a_missing_column_is_fatal(tmp_path: Path) -> None:
    header = [c for c in HEADER if c != "date"]
    corpus = read_corpus(write(tmp_path / "incidents.csv", [incident(1)[:-1]], header=header))
    assert corpus.fatal and corpus.records == []
    assert messages(corpus) == ["incidents.csv line 1: missing column date"]


def test_an_empty_or_non_utf8_file_is_fatal(tmp_path: Path) -> None:
    (tmp_path / "incidents.csv").write_bytes(b"")
    assert messages(read_corpus(tmp_path / "incidents.csv")) == [
        "incidents.csv line 1: the file is empty; it needs a header row"]
    (tmp_path / "incidents.csv").write_bytes(",".join(HEADER).encode() + b"\n1,\xff\xfe\n")
    corpus = read_corpus(tmp_path / "incidents.csv")
    assert corpus.fatal and "not UTF-8" in messages(corpus)[0]


def test_limit_reads_only_the_first_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "incidents.csv", [incident(i) for i in range(1, 6)] +
                 [incident(6, date="bad")])
    corpus = read_corpus(path, limit=3)
    assert ids(corpus) == [1, 2, 3] and corpus.problems == []


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AiidImportError, match="no such file"):
        read_corpus(tmp_path / "incidents.csv")


# -- classification files --------------------------------------------------------------------
CSET1 = ["Namespace", "Incident ID", "Published", "AI Harm Level", "Lives Lost", "Injuries",
         "Location Country (two letters)"]


def test_classifications_are_joined_by_incident_id(tmp_path: Path) -> None:
    write(tmp_path / "incidents.csv", [incident(1), incident(2)])
    write(tmp_path / "classifications_CSETv1.csv",
          [["CSETv1", "2", "True", "AI tangible harm event", "1", "0", "GB"]], header=CSET1)
    corpus = read_corpus(tmp_path / "incidents.csv")
    assert corpus.classification_rows == {"CSETv1": 1}
    first, second = (r for _, r in corpus.records)
    assert first.classification("CSETv1") is None
    assert second.classification("CSETv1") is not None


def test_a_broken_classification_row_blocks_its_incident(tmp_path: Path) -> None:
    write(tmp_path / "incidents.csv", [incident(1), incident(2), incident(3)])
    write(tmp_path / "classifications_CSETv1.csv", [
        ["CSETv1", "2", "True", "none", "many", "0", ""],
        ["CSETv1", "3", "True", "none", "0", "0", ""],
        ["CSETv1", "3", "True", "none", "0", "0", ""],
        ["CSETv1", "99", "True", "none", "lots", "0", ""],   # not being imported: ignored
    ], header=CSET1)
    corpus = read_corpus(tmp_path / "incidents.csv")
    assert messages(corpus) == [
        "classifications_CSETv1.csv line 2: Lives Lost 'many' is not a whole number",
        "classifications_CSETv1.csv line 4: a second CSETv1 row for incident 3 (first on line 3)",
        "incidents.csv line 3: not filed: its classification is broken "
        "(classifications_CSETv1.csv line 2)",
        "incidents.csv line 4: not filed: its classification is broken "
        "(classifications_CSETv1.csv line 4)"]
    assert ids(corpus) == [1] and not corpus.fatal


def test_a_classification_row_naming_no_incident_is_fatal(tmp_path: Path) -> None:
    write(tmp_path / "incidents.csv", [incident(1)])
    write(tmp_path / "classifications_MIT.csv", [["MIT", "one", "True"]],
          header=["Namespace", "Incident ID", "Published"])
    corpus = read_corpus(tmp_path / "incidents.csv")
    assert corpus.fatal
    assert messages(corpus) == [
        "classifications_MIT.csv line 2: Incident ID 'one' is not a positive whole number"]


# -- the command -----------------------------------------------------------------------------
def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="beacon")
    add_parser(p.add_subparsers(dest="command", required=True))
    return p.parse_args(["import", "aiid", *argv])


def test_dry_run_lists_problems_and_fails(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "incidents.csv", [incident(1), incident(2, date="xx")])
    assert run(parse(str(path), "--dry-run")) == 1
    out, err = capsys.readouterr()
    assert "incidents.csv line 3: date 'xx' is not a date" in err
    assert "dry run: 1 reports would be filed, 1 problems" in out
    assert run(parse(str(write(tmp_path / "incidents.csv", [incident(1)])), "--dry-run")) == 0


def test_a_fatal_file_contacts_no_node(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "incidents.csv", [incident(1)[1:]], header=HEADER[1:-1])
    # Port 9 (discard) is not listening: contacting it would raise AiidImportError.
    assert run(parse(str(path), "--node", "http://127.0.0.1:9", "--token", "t")) == 1
    assert "nothing filed" in capsys.readouterr().err


def test_a_filing_run_needs_a_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEACON_TOKEN", raising=False)
    path = write(tmp_path / "incidents.csv", [incident(1)])
    with pytest.raises(AiidImportError, match="say where to file"):
        run(parse(str(path), "--node", "http://127.0.0.1:9"))


# -- filing, against a fake node --------------------------------------------------------------
class FakeNode:
    """Just enough of the node's API: list (2 a page), get, file; refuses titles with REFUSE."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.docs: list[dict[str, Any]] = []
        self.posts = 0
        self.app = web.Application()
        self.app.add_routes([web.get("/healthz", self.health),
                             web.get("/api/v1/roster", self.roster),
                             web.get("/api/v1/incidents", self.list),
                             web.get("/api/v1/incidents/{id}", self.get),
                             web.post("/api/v1/incidents", self.post)])

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"node": self.node_id})

    async def roster(self, request: web.Request) -> web.Response:
        return web.json_response({"roster": {"members": [{"id": m} for m in ("gb", "fr", "int")]}})

    async def list(self, request: web.Request) -> web.Response:
        assert request.query["origin"] == self.node_id
        start = int(request.query.get("cursor") or 0)
        page = self.docs[start:start + 2]
        items = [{"id": d["id"], "title": d["title"], "origin": self.node_id} for d in page]
        more = start + 2 < len(self.docs)
        return web.json_response({"items": items, "next": str(start + 2) if more else None})

    async def get(self, request: web.Request) -> web.Response:
        return web.json_response(next(d for d in self.docs if d["id"] == request.match_info["id"]))

    async def post(self, request: web.Request) -> web.Response:
        if request.headers["Authorization"] != f"Bearer token-{self.node_id}":
            return web.json_response({"errors": [{"path": "$.headers.Authorization",
                                                  "message": "unknown token"}]}, status=401)
        self.posts += 1
        report = await request.json()
        if "REFUSE" in report["title"]:
            return web.json_response({"errors": [{"path": "$.title", "message": "no"}]},
                                     status=400)
        doc = {**report, "id": f"{self.node_id}-{len(self.docs):016x}"}
        self.docs.append(doc)
        return web.json_response({"id": doc["id"], "digest": "0" * 64}, status=201)


@pytest.fixture
async def nodes(aiohttp_server: Any) -> dict[str, tuple[FakeNode, Target]]:
    out = {}
    for node_id in ("gb", "fr"):
        fake = FakeNode(node_id)
        server = await aiohttp_server(fake.app)
        out[node_id] = (fake, Target(node_id, str(server.make_url("")).rstrip("/"),
                                     f"token-{node_id}"))
    return out


async def test_broken_rows_are_never_filed_and_a_second_run_files_nothing(
        tmp_path: Path, nodes: dict[str, tuple[FakeNode, Target]]) -> None:
    path = write(tmp_path / "incidents.csv",
                 [incident(i) for i in range(1, 7)] + [incident(7, date="xx")])
    targets = [t for _, t in nodes.values()]
    gb, fr = nodes["gb"][0], nodes["fr"][0]
    gb.docs.append({"id": "gb-hand", "title": "Incident number 3"})   # same title, no source

    corpus = read_corpus(path)
    with pytest.raises(AiidImportError, match="--default-node"):   # never picked at random
        await import_corpus(corpus, targets, default=None, progress=io.StringIO())
    summary = await import_corpus(corpus, targets, default="fr", progress=io.StringIO())
    assert summary.total("filed") == 6 and summary.refusals == []
    assert sorted(d["source"]["record_id"] for d in gb.docs[1:] + fr.docs) == list("123456")
    assert len(fr.docs) == 6   # no member country: all at the default
    assert messages(corpus) == ["incidents.csv line 8: date 'xx' is not a date (YYYY-MM-DD)"]

    posts = gb.posts + fr.posts
    again = await import_corpus(read_corpus(path), targets, default="gb", progress=io.StringIO())
    assert gb.posts + fr.posts == posts   # present at fr: not filed again at gb
    assert again.total("present") == 6 and again.total("filed") == 0
    assert {n: c["present"] for n, c in again.per_node.items()} == {"fr": 6}


async def test_refusals_are_reported_with_their_line(
        tmp_path: Path, nodes: dict[str, tuple[FakeNode, Target]]) -> None:
    path = write(tmp_path / "incidents.csv", [incident(2, title="REFUSE me"), incident(4)])
    progress = io.StringIO()
    summary = await import_corpus(read_corpus(path), [nodes["gb"][1]], default=None,
                                  progress=progress)
    assert summary.refusals == ["incidents.csv line 2: incident 2 refused at gb: $.title: no"]
    assert dict(summary.per_node["gb"]) == {"refused": 1, "filed": 1}
    assert progress.getvalue().splitlines()[-1] == "imported 2/2 (filed 1, refused 1)"


async def test_a_refused_token_stops_the_import(
        tmp_path: Path, nodes: dict[str, tuple[FakeNode, Target]]) -> None:
    fake, target = nodes["gb"]
    path = write(tmp_path / "incidents.csv", [incident(2)])
    bad = Target("gb", target.url, "wrong")
    with pytest.raises(AiidImportError, match="refused the token"):
        await import_corpus(read_corpus(path), [bad], default=None, progress=io.StringIO())
    assert fake.posts == 0


def test_check_mapping_keeps_valid_reports(tmp_path: Path) -> None:
    corpus = read_corpus(write(tmp_path / "incidents.csv", [incident(1), incident(2)]))
    assert check_mapping(corpus, ("gb",)) == [] and ids(corpus) == [1, 2]
