"""The node's SQLite store (WAL): verbatim signed envelopes, projections, outbox, quarantine.

    store = Store.open(Path("gb/beacon.sqlite3"))
    with store.transaction() as tx: ...
    store.close()

Every signed envelope is kept byte for byte as it was signed or received; every other table is a
projection of them, except the outbox (what still has to reach NATS), the quarantine (what was
refused, with its reason) and the API tokens. A report accepted with 201 was committed here
together with its outbox row in one transaction, so a crash or a NATS outage loses nothing.

This module holds the schema (``MIGRATIONS``: every table; some migrations backfill
``stat_records`` from ``incidents`` and ``stat_cells`` from ``stat_records``; triggers keep
``incident_search_stale`` for the search index, ``node/store/search.py``, the counts of
``stat_cells`` and ``escalation_counts``) and the key-value table ``meta``. The queries live in one
module per table group beside it (``records``, ``runs``, ``witness``, ``stats`` …); see
docs/architecture.md, "The store".

``synchronous=FULL``: a commit survives power loss, not only a process crash; the consumer
amortises the fsync by committing a whole fetched batch at once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federation.errors import Error
from federation.search_text import index_text

# -- statistics cells (node/store/stats.py) ------------------------------------------------------
# What a stat_records row contributes to any statistics query, as (name, SQL over the row ``{r}``):
# the date ranges compare (the occurrence date, or the Thursday of a stub's ISO week: Jan 4 lies
# in week 1), the date, week and stub flag the year/month/week dimensions read, every other
# dimension's value, and the provenance of each (federation.stats.PROVENANCE_FIELD). Rows alike
# in all of these count alike in every query, so a query reads one cell per distinct combination.
STAT_CELL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("range_day", "CASE WHEN {r}.occurred_on IS NOT NULL THEN {r}.occurred_on "
                  "WHEN {r}.is_stub AND {r}.week IS NOT NULL THEN date(substr({r}.week, 1, 4) "
                  "|| '-01-04', '-' || ((CAST(strftime('%w', substr({r}.week, 1, 4) || '-01-04') "
                  "AS INTEGER) + 6) % 7) || ' days', '+' || ((CAST(substr({r}.week, 7, 2) AS "
                  "INTEGER) - 1) * 7 + 3) || ' days') END"),
    ("occurred_on", "{r}.occurred_on"),
    ("week", "CASE WHEN {r}.is_stub THEN {r}.week END"),
    ("is_stub", "{r}.is_stub"),
    ("origin", "{r}.origin"),
    ("severity", "{r}.severity"),
    ("developer", "{r}.developer"),
    ("sector", "json_extract({r}.facets, '$.sector')"),
    ("model", "json_extract({r}.facets, '$.model')"),
    ("harm_types", "json({r}.harm_types)"),
    ("red_lines", "json({r}.red_lines)"),
    ("countries", "json(json_extract({r}.facets, '$.countries'))"),
    ("p_severity", "json_extract({r}.facets, '$.provenance.severity')"),
    ("p_harm_types", "json_extract({r}.facets, '$.provenance.harm_types')"),
    ("p_countries", "json_extract({r}.facets, '$.provenance.countries')"),
    ("p_developer", "json_extract({r}.facets, '$.provenance.\"ai_system.developer\"')"),
    ("p_model", "json_extract({r}.facets, '$.provenance.\"ai_system.name\"')"),
    ("p_sector", "json_extract({r}.facets, '$.provenance.sector')"),
    ("p_occurred", "json_extract({r}.facets, '$.provenance.occurred_at')"),
)
_CELL_NAMES = ", ".join(name for name, _ in STAT_CELL_COLUMNS)


def _cell_values(row: str) -> str:
    """``SELECT``: the cell key and columns of the stat_records row named ``row``."""
    values = ", ".join(f"{sql.format(r=row)} AS {name}" for name, sql in STAT_CELL_COLUMNS)
    return f"SELECT json_array({_CELL_NAMES}) AS cell, {_CELL_NAMES} FROM (SELECT {values})"  # noqa: S608


def _count_cell(row: str, step: str) -> str:
    values = _cell_values(row)
    return (f"INSERT INTO stat_cells(cell, {_CELL_NAMES}, n) SELECT *, {step} FROM "  # noqa: S608
            f"({values}) WHERE true ON CONFLICT(cell) DO UPDATE SET n = n + {step}")


def _stat_cells_migration() -> str:
    # Built from STAT_CELL_COLUMNS (constants, never user text) so that the backfill and the
    # triggers cannot disagree on what a cell is.
    backfill = ", ".join(f"{sql.format(r='r')} AS {name}" for name, sql in STAT_CELL_COLUMNS)
    columns = ", ".join(f"{name} ANY" for name, _ in STAT_CELL_COLUMNS)
    return f"""
    CREATE TABLE stat_cells (
        cell TEXT PRIMARY KEY,           -- JSON array of the columns below, in their order
        {columns},
        n INTEGER NOT NULL               -- how many stat_records rows hold these values
    ) WITHOUT ROWID;
    INSERT INTO stat_cells(cell, {_CELL_NAMES}, n)
        SELECT json_array({_CELL_NAMES}), {_CELL_NAMES}, COUNT(*) FROM (
            SELECT {backfill} FROM stat_records r) GROUP BY {_CELL_NAMES};
    CREATE TRIGGER stat_cells_insert AFTER INSERT ON stat_records BEGIN
        {_count_cell("NEW", "1")};
    END;
    CREATE TRIGGER stat_cells_update AFTER UPDATE ON stat_records BEGIN
        {_count_cell("OLD", "-1")};
        {_count_cell("NEW", "1")};
    END;
    CREATE TRIGGER stat_cells_delete AFTER DELETE ON stat_records BEGIN
        {_count_cell("OLD", "-1")};
    END;
    CREATE INDEX stat_records_tripwires ON stat_records(incident_id) WHERE tripwire_ids != '[]'
    """  # noqa: S608



def _stat_cells_by_id_migration() -> str:
    # The cells get an integer id that each stat_records row names (``cell_id``, indexed with
    # the incident id: the rows of a cell, for the incident list behind a chart's bar). The
    # storing code finds or makes the row's cell (node.store.stats.cell_id: the values it
    # already holds, no JSON parsed back) and triggers on the id alone move the count. Rebuilt
    # here from the rows, keys and ids computed by one expression so that they agree.
    direct = [sql.format(r="stat_records") for _, sql in STAT_CELL_COLUMNS]
    key = f"json_array({', '.join(direct)})"
    columns = ", ".join(f"{name} ANY" for name, _ in STAT_CELL_COLUMNS)
    values = ", ".join(f"{sql} AS {name}" for sql, (name, _) in zip(direct, STAT_CELL_COLUMNS,
                                                                     strict=True))
    return f"""
    DROP TRIGGER stat_cells_insert;
    DROP TRIGGER stat_cells_update;
    DROP TRIGGER stat_cells_delete;
    DROP TABLE stat_cells;
    CREATE TABLE stat_cells (
        id INTEGER PRIMARY KEY,
        cell TEXT NOT NULL UNIQUE,       -- JSON array of the columns below, in their order
        {columns},
        n INTEGER NOT NULL               -- how many stat_records rows hold these values
    );
    ALTER TABLE stat_records ADD COLUMN cell_id INTEGER;
    INSERT INTO stat_cells(cell, {_CELL_NAMES}, n)
        SELECT {key} AS cell, {values}, COUNT(*) FROM stat_records GROUP BY cell;
    UPDATE stat_records SET cell_id = (SELECT id FROM stat_cells WHERE cell = {key});
    CREATE INDEX stat_records_cell ON stat_records(cell_id, incident_id);
    CREATE TRIGGER stat_cells_insert AFTER INSERT ON stat_records BEGIN
        UPDATE stat_cells SET n = n + 1 WHERE id = NEW.cell_id;
    END;
    CREATE TRIGGER stat_cells_update AFTER UPDATE OF cell_id ON stat_records
    WHEN OLD.cell_id IS NOT NEW.cell_id BEGIN
        UPDATE stat_cells SET n = n - 1 WHERE id = OLD.cell_id;
        UPDATE stat_cells SET n = n + 1 WHERE id = NEW.cell_id;
    END;
    CREATE TRIGGER stat_cells_delete AFTER DELETE ON stat_records BEGIN
        UPDATE stat_cells SET n = n - 1 WHERE id = OLD.cell_id;
    END
    """  # noqa: S608

def _search_stale_trigger(name: str, event: str) -> str:
    """A trigger that keeps a row's indexed text in ``incident_search_stale`` when ``event``
    replaces or removes an incident the search index holds (below the watermark), once: the
    first text is the indexed one (a contentless index deletes only given that text)."""
    return f"""CREATE TRIGGER {name} AFTER {event} ON incidents
    WHEN old.seq <= CAST(COALESCE((SELECT value FROM meta
                                   WHERE key = 'search_indexed_seq'), 0) AS INTEGER)
    BEGIN
        INSERT INTO incident_search_stale(seq, indexed_document)
        SELECT old.seq, old.document WHERE NOT EXISTS
            (SELECT 1 FROM incident_search_stale WHERE seq = old.seq);
    END"""  # noqa: S608 - constants only


MIGRATIONS: list[str] = [
    # 1: the foundation
    """
    CREATE TABLE envelopes (
        digest TEXT PRIMARY KEY,
        message_type TEXT NOT NULL,
        origin TEXT NOT NULL,
        subject TEXT NOT NULL,
        envelope BLOB NOT NULL,          -- the DSSE JSON, verbatim
        received_at TEXT NOT NULL,
        local INTEGER NOT NULL           -- 1 if this node signed it
    );
    CREATE INDEX envelopes_type ON envelopes(message_type, origin);
    CREATE TABLE incidents (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        revision INTEGER NOT NULL,
        digest TEXT NOT NULL REFERENCES envelopes(digest),
        origin TEXT NOT NULL,
        severity TEXT NOT NULL,
        severity_rank INTEGER NOT NULL,
        tlp TEXT NOT NULL,
        status TEXT NOT NULL,
        title TEXT NOT NULL,
        occurred_at TEXT,
        issued_at TEXT NOT NULL,
        received_at TEXT NOT NULL,
        document TEXT NOT NULL
    );
    CREATE INDEX incidents_origin ON incidents(origin, seq);
    CREATE INDEX incidents_severity ON incidents(severity_rank, seq);
    CREATE TABLE incident_revisions (
        id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        digest TEXT NOT NULL REFERENCES envelopes(digest),
        PRIMARY KEY (id, revision)
    );
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        digest TEXT NOT NULL UNIQUE,
        subject TEXT NOT NULL,
        data BLOB NOT NULL,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX outbox_pending ON outbox(sent_at, seq);
    CREATE TABLE quarantine (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        subject TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        digest TEXT,
        data BLOB NOT NULL
    );
    CREATE INDEX quarantine_reason ON quarantine(reason);
    CREATE TABLE tokens (
        token_id TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        label TEXT NOT NULL,
        hash TEXT NOT NULL,              -- Argon2id of the whole token
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE TABLE log_leaves (           -- this node's transparency log: one leaf per signed
        idx INTEGER PRIMARY KEY,         -- envelope, leaf data = the 32-byte message digest
        digest TEXT NOT NULL UNIQUE,
        leaf_hash BLOB NOT NULL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: transparency logs: own and peers' checkpoints, cosignatures, equivocation evidence
    """
    CREATE TABLE checkpoints (
        origin TEXT NOT NULL,            -- member id whose log this is
        size INTEGER NOT NULL,
        root BLOB NOT NULL,
        note TEXT NOT NULL,              -- the C2SP signed note as the log signed it
        digest TEXT,                     -- of the checkpoint message that carried it
        issued_at TEXT NOT NULL,
        received_at TEXT NOT NULL,
        status TEXT NOT NULL,            -- own | consistent | first-seen | unverified
        detail TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (origin, size)
    );
    CREATE TABLE cosignatures (
        origin TEXT NOT NULL,
        size INTEGER NOT NULL,
        witness TEXT NOT NULL,
        line TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (origin, size, witness)
    );
    CREATE TABLE equivocations (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        origin TEXT NOT NULL,
        size INTEGER NOT NULL,
        evidence TEXT NOT NULL,          -- JSON: both notes and why they conflict
        detected_at TEXT NOT NULL,
        incident_id TEXT
    );
    """,
    # 3: playbook runs, the escalation inbox, emergencies, local notifications, advisories
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        incident_id TEXT NOT NULL,
        playbook_id TEXT NOT NULL,
        state TEXT NOT NULL,
        token INTEGER NOT NULL,
        timer_at TEXT,                   -- the current step's next wake-up, if any
        document TEXT NOT NULL,          -- PlaybookRun.to_dict()
        updated_at TEXT NOT NULL
    );
    CREATE INDEX runs_incident ON runs(incident_id);
    CREATE INDEX runs_timer ON runs(state, timer_at);
    CREATE TABLE escalations (           -- this node's inbox: escalations addressed to it
        id TEXT PRIMARY KEY,
        origin TEXT NOT NULL,
        incident_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        tier INTEGER NOT NULL,
        deadline TEXT NOT NULL,
        status TEXT NOT NULL,            -- open | acked | declined | closed
        document TEXT NOT NULL,
        received_at TEXT NOT NULL,
        answered_at TEXT,
        answered_by TEXT,
        answer_digest TEXT
    );
    CREATE INDEX escalations_status ON escalations(status, deadline);
    CREATE TABLE emergencies (
        id TEXT PRIMARY KEY,
        origin TEXT NOT NULL,
        incident_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        state TEXT NOT NULL,
        document TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE declarations (
        emergency_id TEXT NOT NULL,
        origin TEXT NOT NULL,
        digest TEXT NOT NULL,
        statement TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        PRIMARY KEY (emergency_id, origin)
    );
    CREATE TABLE notifications (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        step_id TEXT NOT NULL,
        role TEXT NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        due TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE advisories (
        id TEXT PRIMARY KEY,
        origin TEXT NOT NULL,
        incident_id TEXT NOT NULL,
        document TEXT NOT NULL,
        received_at TEXT NOT NULL
    );
    """,
    # 4: the operators' audit trail: who changed what through the API or the CLI, and when
    """
    CREATE TABLE audit_trail (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        via TEXT NOT NULL,               -- api | cli
        token_id TEXT,                   -- who: NULL when no valid token was presented
        role TEXT,
        label TEXT,
        method TEXT NOT NULL,            -- HTTP method, or CLI for the command line
        path TEXT NOT NULL,              -- request path, or the CLI command
        route TEXT,                      -- the route template, e.g. /api/v1/incidents/{id}
        target TEXT,                     -- the id acted on or created, if any
        digest TEXT,                     -- of the envelope the action signed, if any
        status INTEGER NOT NULL,         -- HTTP status of the outcome (CLI: 0 ok)
        remote TEXT
    );
    CREATE INDEX audit_trail_token ON audit_trail(token_id, seq);
    """,
    # the roster chain this node accepted after its genesis roster
    """
    CREATE TABLE roster_versions (
        version INTEGER PRIMARY KEY,
        digest TEXT NOT NULL,
        envelope BLOB NOT NULL,
        accepted_at TEXT NOT NULL
    );
    """,
    # global statistics (node/pipeline/statistics.py): one record per incident id, from full reports
    # and stubs, and the newest snapshot signed by the international body; backfilled from the
    # incidents already stored
    """
    CREATE TABLE stat_records (
        incident_id TEXT PRIMARY KEY,
        revision INTEGER NOT NULL,
        is_stub INTEGER NOT NULL,        -- 1: only the RED or AMBER+STRICT stub was seen
        digest TEXT NOT NULL,
        origin TEXT NOT NULL,
        severity TEXT NOT NULL,
        harm_types TEXT NOT NULL,        -- JSON arrays
        red_lines TEXT NOT NULL,
        tripwire_ids TEXT NOT NULL,
        developer TEXT,
        occurred_on TEXT,                -- YYYY-MM-DD (UTC), full reports only
        week TEXT,                       -- YYYY-Www, stubs only
        tlp TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE stat_snapshots (
        origin TEXT PRIMARY KEY,
        digest TEXT NOT NULL REFERENCES envelopes(digest),
        issued_at TEXT NOT NULL,
        received_at TEXT NOT NULL
    );
    INSERT INTO stat_records(incident_id, revision, is_stub, digest, origin, severity,
        harm_types, red_lines, tripwire_ids, developer, occurred_on, week, tlp, updated_at)
    SELECT id, revision, 0, digest, origin, severity,
        COALESCE(json_extract(document, '$.harm_types'), '[]'),
        COALESCE(json_extract(document, '$.red_lines'), '[]'),
        COALESCE(json_extract(document, '$.tripwire_ids'), '[]'),
        NULLIF(json_extract(document, '$.ai_system.developer'), ''),
        substr(occurred_at, 1, 10), NULL, tlp, received_at
    FROM incidents
    """,
    # web console sessions (node/http/sessions.py): only the SHA-256 of the cookie is stored
    """
    CREATE TABLE web_sessions (
        id_hash TEXT PRIMARY KEY,
        token_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        seen_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE INDEX web_sessions_token ON web_sessions(token_id)
    """,
    # API tokens expire (node/store/auth.py); NULL is "never", so tokens issued before this
    # migration keep working exactly as they did until an operator replaces them
    """
    ALTER TABLE tokens ADD COLUMN expires_at TEXT
    """,
    # statistics facets (affected countries, sector, model, provenance) and links between
    # reports of one event (node/pipeline/statistics.py, federation/links.py)
    """
    ALTER TABLE stat_records ADD COLUMN facets TEXT NOT NULL DEFAULT '{}';
    UPDATE stat_records SET facets = (SELECT json_object(
        'countries', json(COALESCE(json_extract(i.document, '$.countries'), '[]')),
        'sector', COALESCE(json_extract(i.document, '$.sector'),
                           json_extract(i.document, '$.critical_infrastructure_sector')),
        'model', COALESCE(json_extract(i.document, '$.ai_system.model_ref'),
                          json_extract(i.document, '$.ai_system.name')),
        'provenance', json(COALESCE(json_extract(i.document, '$.provenance'), '{}')))
        FROM incidents i WHERE i.id = stat_records.incident_id) WHERE is_stub = 0
        AND EXISTS (SELECT 1 FROM incidents i WHERE i.id = stat_records.incident_id);
    CREATE TABLE incident_links (
        incident_id TEXT NOT NULL,       -- the linking node's own report
        linked_id TEXT NOT NULL,
        relation TEXT NOT NULL,          -- same-as | related-to
        origin TEXT NOT NULL,
        digest TEXT NOT NULL REFERENCES envelopes(digest),
        issued_at TEXT NOT NULL,
        PRIMARY KEY (incident_id, linked_id, relation)
    );
    CREATE INDEX incident_links_linked ON incident_links(linked_id)
    """,
    # webhooks (node/notify/webhooks.py): endpoints operators register, and the durable delivery
    # queue and log; a delivery row is written before any attempt, so a restart resumes it
    """
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        roles TEXT NOT NULL,             -- JSON array of API roles (federation.webhooks)
        secret TEXT NOT NULL,            -- the HMAC key, never returned by the API
        created_at TEXT NOT NULL
    );
    CREATE TABLE webhook_deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        event_key TEXT NOT NULL,         -- what happened (idempotency: once per webhook)
        event TEXT NOT NULL,
        body BLOB NOT NULL,              -- the exact bytes POSTed and signed, every attempt
        status TEXT NOT NULL,            -- pending | delivered | failed
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at TEXT NOT NULL,           -- when the next attempt is due (pending only)
        created_at TEXT NOT NULL,
        last_attempt_at TEXT,
        last_error TEXT,
        response_code INTEGER,
        UNIQUE (webhook_id, event_key)
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_at)
    """,
    # inbox triage (node/http/api_steps.py): who took an escalation; status may now also be
    # 'answered' (another recipient's answer ended it, node/pipeline/engine.py _on_step)
    """
    ALTER TABLE escalations ADD COLUMN assignee TEXT;
    ALTER TABLE escalations ADD COLUMN assigned_at TEXT
    """,
    # the model registry (federation/model_registry.py, node/pipeline/registry.py): every
    # signed revision of every registration; the current one is the highest revision
    """
    CREATE TABLE model_revisions (
        id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        origin TEXT NOT NULL,
        developer_key TEXT NOT NULL,     -- federation.model_registry.key(developer)
        model_key TEXT NOT NULL,
        version_key TEXT NOT NULL,
        digest TEXT NOT NULL REFERENCES envelopes(digest),
        received_at TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (id, revision)
    );
    CREATE INDEX model_revisions_names ON model_revisions(developer_key, model_key, version_key)
    """,
    # capability evaluations against the shared tripwires (federation/tripwires.py,
    # node/pipeline/assurance.py)
    """
    CREATE TABLE evaluations (
        id TEXT PRIMARY KEY,
        origin TEXT NOT NULL,
        developer_key TEXT NOT NULL,
        model_key TEXT NOT NULL,
        version_key TEXT NOT NULL,
        domain TEXT NOT NULL,
        score REAL NOT NULL,
        level TEXT NOT NULL,             -- below | approaching | early-warning | red-line
        incident_id TEXT,                -- the report it filed (at its origin only)
        digest TEXT NOT NULL REFERENCES envelopes(digest),
        received_at TEXT NOT NULL,
        document TEXT NOT NULL
    );
    CREATE INDEX evaluations_model ON evaluations(developer_key, model_key, version_key)
    """,
    # training-run declarations and the regulatory deadlines they start
    # (federation/training_runs.py, node/pipeline/deadlines.py); a deadline turns overdue once:
    # overdue_at is set by the one UPDATE that moves it from due
    """
    CREATE TABLE training_runs (
        id TEXT PRIMARY KEY,
        origin TEXT NOT NULL,
        developer_key TEXT NOT NULL,
        compute_flop REAL NOT NULL,
        digest TEXT NOT NULL REFERENCES envelopes(digest),
        received_at TEXT NOT NULL,
        document TEXT NOT NULL
    );
    CREATE TABLE deadlines (
        subject TEXT NOT NULL,           -- what the clock is about: a training run's id
        clock TEXT NOT NULL,             -- the regimes.yaml clock id
        citation TEXT NOT NULL,
        origin TEXT NOT NULL,
        anchor_at TEXT NOT NULL,
        due_at TEXT NOT NULL,
        state TEXT NOT NULL,             -- due | overdue | met
        met_at TEXT,
        overdue_at TEXT,                 -- when this node saw it become overdue (once)
        PRIMARY KEY (subject, clock)
    );
    CREATE INDEX deadlines_due ON deadlines(state, due_at)
    """,
    # provider tokens name their developer (node/store/auth.py)
    """
    ALTER TABLE tokens ADD COLUMN developer TEXT
    """,
    # safety-case reviews: members' signed verdicts on registered models (node/pipeline/registry.py)
    """
    CREATE TABLE safety_case_reviews (
        id TEXT PRIMARY KEY,
        model_id TEXT NOT NULL,
        origin TEXT NOT NULL,
        verdict TEXT NOT NULL,
        digest TEXT NOT NULL REFERENCES envelopes(digest),
        issued_at TEXT NOT NULL,
        document TEXT NOT NULL
    );
    CREATE INDEX safety_case_reviews_model ON safety_case_reviews(model_id)
    """,
    # post-deployment monitoring signals (federation/monitoring.py, node/pipeline/assurance.py)
    """
    CREATE TABLE monitoring_signals (
        id TEXT PRIMARY KEY,
        origin TEXT NOT NULL,
        developer_key TEXT NOT NULL,
        incident_id TEXT,                -- the report it filed (at its origin only)
        digest TEXT NOT NULL REFERENCES envelopes(digest),
        received_at TEXT NOT NULL,
        document TEXT NOT NULL
    )
    """,
    # prep: independent evaluators' tokens name their organisation (node/store/auth.py); a
    # provider's filings held for an operator's review before anything is signed or exchanged
    # (exchange_provider_filings = "after-review"; node/store/registry.py)
    """
    ALTER TABLE tokens ADD COLUMN organisation TEXT;
    CREATE TABLE provider_filings (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,              -- incident | evaluation | training-run | monitoring
        developer TEXT NOT NULL,
        filed_by TEXT NOT NULL,          -- the provider token's id
        filed_at TEXT NOT NULL,
        body TEXT NOT NULL,              -- the request body as the provider sent it (checked)
        state TEXT NOT NULL,             -- pending | released | rejected
        decided_at TEXT,
        decided_by TEXT,
        reason TEXT,
        message_id TEXT,                 -- what the release signed
        digest TEXT
    );
    CREATE INDEX provider_filings_state ON provider_filings(state, filed_at)
    """,
    # search: a trigram full-text index of the incidents (node/store/search.py; what it holds:
    # federation/search_text.py), rowid = incidents.seq. Contentless, no positions, no sizes:
    # it answers "which rows may contain these trigrams", and every candidate is re-checked with
    # the exact LIKE. A background task indexes rows after their batch commits, up to the
    # watermark meta 'search_indexed_seq'; rows above it (here: all existing rows of an upgraded
    # node, until the task has caught up) are searched by LIKE. A row replaced or deleted below
    # the watermark keeps its indexed text in incident_search_stale until the task re-indexes
    # it (a contentless index can only delete what it is told it holds); meanwhile it is
    # searched by LIKE too. The first replacement's old text is the indexed one, so later ones
    # are skipped — by NOT EXISTS: a trigger's OR IGNORE yields to the outer upsert's policy.
    f"""
    CREATE VIRTUAL TABLE incident_search USING fts5(
        body, tokenize='trigram', detail='none', columnsize=0, content='');
    -- merge 8 segments of a level instead of 4: a fifth less CPU per indexed report for the
    -- small batches the background task commits, at the price of a few more segments
    INSERT INTO incident_search(incident_search, rank) VALUES ('automerge', 8);
    CREATE TABLE incident_search_stale (
        seq INTEGER PRIMARY KEY,         -- incidents.seq
        indexed_document TEXT NOT NULL   -- the document as it was indexed
    );
    {_search_stale_trigger("incident_search_replaced", "UPDATE OF document")};
    {_search_stale_trigger("incident_search_deleted", "DELETE")}
    """,  # noqa: S608 - built from constants only
    # stats: statistics cells (node/store/stats.py, node/pipeline/statistics.py): stat_records
    # counted per distinct combination of what any query reads, kept by triggers in the
    # transaction that changes a row (a cell may fall to n = 0 and stay); built here from the
    # rows an upgraded node holds. A partial index finds the rare rows naming a tripwire.
    _stat_cells_migration(),
    # stats2: cells by integer id, found or made by the storing code (node/store/stats.py
    # cell_id) instead of triggers that recompute every cell column in SQL; triggers keep only
    # the counts, by id. The rows' cell ids are indexed: the incident list behind a chart's bar
    # reads the rows of its cells (statistics.bar_events).
    _stat_cells_by_id_migration(),
    # escalation_states: the escalation figures kept as escalations, answers and resolutions arrive
    # (node/store/escalation_states.py, node/pipeline/statistics.py): a projection of
    # the envelopes up to the watermark meta 'escalation_figures_seq', caught up from them on
    # read; an upgraded node's first read fills it from the envelopes it already holds
    """
    CREATE TABLE escalation_facts (
        id TEXT PRIMARY KEY,
        envelope_origin TEXT NOT NULL,   -- of two escalations with one id, the greater
        seq INTEGER NOT NULL,            -- (envelope origin, envelope rowid) counts
        origin TEXT NOT NULL,
        incident_id TEXT NOT NULL,
        tier INTEGER NOT NULL,
        issued_us INTEGER NOT NULL,      -- microseconds since 1970 (UTC)
        deadline_us INTEGER NOT NULL,
        recipients TEXT NOT NULL,        -- JSON list, as signed
        acks TEXT NOT NULL,
        state TEXT NOT NULL,             -- answered | closed | waiting (open or overdue by now)
        waiting_on TEXT NOT NULL         -- JSON list
    );
    CREATE INDEX escalation_facts_state ON escalation_facts(state, deadline_us, id);
    CREATE INDEX escalation_facts_incident ON escalation_facts(origin, incident_id);
    CREATE TABLE escalation_answers (  -- each recipient's first answer: earliest, then by rank
        escalation_id TEXT NOT NULL,
        origin TEXT NOT NULL,
        issued_us INTEGER NOT NULL,
        rank INTEGER NOT NULL,           -- 0 ack, 1 decline, 2 a step acked by it
        PRIMARY KEY (escalation_id, origin)
    ) WITHOUT ROWID;
    CREATE TABLE escalation_samples (  -- an ack's time, per recipient's first answer if an ack
        escalation_id TEXT NOT NULL,
        recipient TEXT NOT NULL,
        tier INTEGER NOT NULL,
        seconds REAL NOT NULL,
        PRIMARY KEY (escalation_id, recipient)
    ) WITHOUT ROWID;
    CREATE INDEX escalation_samples_tier ON escalation_samples(tier, seconds);
    -- how many escalations stand in each state and how many ack times each tier has, kept
    -- by triggers: a call reads them instead of counting index ranges of 10^5 rows
    CREATE TABLE escalation_counts (
        kind TEXT NOT NULL,              -- state | tier
        key TEXT NOT NULL,               -- the state, or the tier as text
        n INTEGER NOT NULL,
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;
    CREATE TRIGGER escalation_counts_insert AFTER INSERT ON escalation_facts BEGIN
        INSERT INTO escalation_counts(kind, key, n) VALUES ('state', NEW.state, 1)
            ON CONFLICT(kind, key) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER escalation_counts_update AFTER UPDATE OF state ON escalation_facts
    WHEN OLD.state <> NEW.state BEGIN
        UPDATE escalation_counts SET n = n - 1 WHERE kind = 'state' AND key = OLD.state;
        INSERT INTO escalation_counts(kind, key, n) VALUES ('state', NEW.state, 1)
            ON CONFLICT(kind, key) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER escalation_counts_sample AFTER INSERT ON escalation_samples BEGIN
        INSERT INTO escalation_counts(kind, key, n) VALUES ('tier', CAST(NEW.tier AS TEXT), 1)
            ON CONFLICT(kind, key) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER escalation_counts_unsample AFTER DELETE ON escalation_samples BEGIN
        UPDATE escalation_counts SET n = n - 1
        WHERE kind = 'tier' AND key = CAST(OLD.tier AS TEXT);
    END;
    CREATE TABLE escalation_closed_ids (escalation_id TEXT PRIMARY KEY) WITHOUT ROWID;
    CREATE TABLE escalation_closed_incidents (  -- the latest resolution of an incident
        origin TEXT NOT NULL,
        incident_id TEXT NOT NULL,
        issued_us INTEGER NOT NULL,
        PRIMARY KEY (origin, incident_id)
    ) WITHOUT ROWID
    """,
    # bars: a report's cell id beside its incident id, so that the incident list walking
    # newest first behind a chart's bar (node/store/stats.py events_condition) finds each
    # row's cell in the index alone, never reading the row (≈ 9,000 rows for a large bar's
    # first page at 10^6); named by that query (INDEXED BY: the planner prefers the unique
    # index on incident_id, which is not covering)
    """
    CREATE INDEX stat_records_incident_cell ON stat_records(incident_id, cell_id)
    """,
]




class StoreError(Error):
    """The database could not be opened, migrated or written."""


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: int | None


class Store:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Store:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            # 64 MiB of page cache instead of SQLite's 2 MiB: the unique indexes on digests and
            # ids take inserts at random places, and with 2 MiB each insert into a store of
            # 10^5 reports re-reads index pages from the OS: CPU per stored report grew 44 % over
            # the first 10^5 reports with 2 MiB, 12 % with 64 MiB (docs/performance.md).
            conn.execute("PRAGMA cache_size=-65536")
            # Short: a node waits for a lock on its event loop, so a long wait by one writer
            # (while another process holds the store) stalls every other task with it. A writer
            # that gives up after a second is retried by its loop (supervisor, backoff).
            conn.execute("PRAGMA busy_timeout=1000")
            # The search index's text of a stored report, in SQL (node/store/search.py).
            conn.create_function("beacon_search_text", 1, index_text, deterministic=True)
            store = cls(conn, path)
            store._migrate()
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the store at {path}: {e}") from e
        return store

    def close(self) -> None:
        self.conn.close()

    def _migrate(self) -> None:
        version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path} has schema version {version}, newer than this "
                             f"software ({len(MIGRATIONS)}); upgrade Beacon")
        for n, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction() as tx:
                for statement in _statements(script):
                    tx.execute(statement)
                tx.execute(f"PRAGMA user_version={n}")

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work: ``BEGIN IMMEDIATE`` … ``COMMIT`` (rollback on error).

        ``durable=False`` is for what can be rebuilt from the store (a derived index and its
        watermark, written together): its commit skips the fsync (``synchronous=NORMAL``; in
        WAL mode the store stays consistent, and the next durable commit syncs these pages
        too), so a power cut can undo it, never corrupt it.
        """
        if not durable:
            self.conn.execute("PRAGMA synchronous=NORMAL")
        try:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise StoreError(f"cannot begin a transaction: {e}") from e
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as e:
                raise StoreError(f"commit failed: {e}") from e
        finally:
            if not durable:
                self.conn.execute("PRAGMA synchronous=FULL")

    def changes(self) -> tuple[int, int]:
        """A mark that moves whenever the store is written: rows changed by this connection
        (``total_changes``) and commits by any other (``PRAGMA data_version``). The same mark
        twice means nothing was written in between, so a figure read at the first still holds.

        >>> import tempfile; store = Store.open(Path(tempfile.mkdtemp()) / "s.sqlite3")
        >>> before = store.changes()
        >>> with store.transaction() as tx: Store.set_meta(tx, "k", "v")
        >>> store.changes() != before, store.changes() == store.changes()
        (True, True)
        """
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        return self.conn.total_changes, int(version)

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"query failed: {e}") from e

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    # -- meta -----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        value = self.scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    @staticmethod
    def set_meta(tx: sqlite3.Connection, key: str, value: str) -> None:
        tx.execute("INSERT INTO meta(key, value) VALUES(?, ?) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration script, split at ``;`` — but not inside a trigger's body."""
    statement = ""
    for part in script.split(";"):
        statement += part + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                yield statement
            statement = ""
    if statement.strip(" \n;"):
        yield statement


def row_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {k: row[k] for k in row.keys()}  # noqa: SIM118 - sqlite3.Row is not a mapping


def loads(text: str | bytes) -> Any:
    return json.loads(text)
