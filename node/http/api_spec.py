"""The HTTP API described endpoint by endpoint: who may call it, what it takes, what it answers.

    >>> ENDPOINTS[("POST", "/api/v1/incidents")].roles
    ('operator', 'provider')
    >>> ENDPOINTS[("GET", "/healthz")].roles   # public: no token needed
    ()

This table is the one source of ``node.web.openapi``'s document (its ``x-roles`` per operation) and
of the integration tests that call every endpoint with every role. A route registered on the app
without an entry here makes ``tests/integration/test_openapi.py`` fail: describe it here, next
to the ones like it. Parameter ranges and enums mirror the handlers' own checks (``int_param``
bounds, status and severity enums), so that a request the document allows is one the handler
takes, and one it forbids is answered with 400.

Schemas: ``ref("incident")`` points at ``schemas/incident.v1.json`` as embedded in the document
(``#/components/schemas/incident.v1``); ``ref("Errors")`` at one of ``SCHEMAS`` below;
``report`` and ``report-changes`` are derived from the incident schema by ``node.web.openapi``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from federation.webhooks import MIN_SECRET, WEBHOOK_ROLES
from node.store.auth import STAFF_ROLES

Schema = Mapping[str, Any]
ANY_ROLE: tuple[str, ...] = STAFF_ROLES
# An independent evaluator reads the model registry it reviews, and nothing else.
REGISTRY_READERS: tuple[str, ...] = (*STAFF_ROLES, "evaluator")
PUBLIC: tuple[str, ...] = ()
BIG = 2**62  # the handlers' upper bound for sizes, indexes and cursors


def ref(name: str) -> dict[str, str]:
    """A component schema: a message schema by short name (``incident``), or one of ``SCHEMAS``
    (capitalised) or ``report``/``report-changes``."""
    local = name[0].isupper() or name.startswith("report")
    return {"$ref": f"#/components/schemas/{name if local else name + '.v1'}"}


def common(name: str) -> dict[str, str]:
    """A reference to one of ``common.v1.json``'s ``$defs``."""
    return {"$ref": f"#/components/schemas/common.v1/$defs/{name}"}


def nullable(schema: Schema) -> dict[str, Any]:
    return {"anyOf": [dict(schema), {"type": "null"}]}


def page_of(item: Schema, next_type: str = "string") -> dict[str, Any]:
    return {"type": "object", "required": ["items", "next"],
            "properties": {"items": {"type": "array", "items": dict(item)},
                           "next": {"type": [next_type, "null"],
                                    "description": "pass as ?cursor= for the next page"}}}


def items_of(item: Schema) -> dict[str, Any]:
    return {"type": "object", "required": ["items"],
            "properties": {"items": {"type": "array", "items": dict(item)}}}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
OPT_STR: Schema = {"type": ["string", "null"]}


def obj(required: tuple[str, ...], **props: Schema) -> dict[str, Any]:
    return {"type": "object", "required": list(required),
            "properties": {k: dict(v) for k, v in props.items()}}


@dataclass(frozen=True)
class Param:
    name: str
    schema: Schema
    description: str
    where: str = "query"
    required: bool = False


@dataclass(frozen=True)
class Endpoint:
    """One operation. ``roles`` empty means public; ``errors`` are the statuses besides 401
    (always possible: a bad token is refused even on a public endpoint) and 403 (added when
    ``roles`` is narrower than every role)."""

    summary: str
    tag: str
    roles: tuple[str, ...]
    answer: Schema | None
    status: int = 200
    params: tuple[Param, ...] = ()
    body: Schema | None = None
    body_required: bool = False
    errors: tuple[int, ...] = ()
    media: str = "application/json"
    alt_media: tuple[str, ...] = ()  # other media types of the success answer, as text (CSV)
    headers: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    auth: str = "bearer"  # or "session": a console page, signed in by cookie (node.http.sessions)
    body_media: str = "application/json"
    # Answers that are not the JSON error shape: status -> (description, media type of a text
    # body, or None for no body). A 3xx gets a Location header.
    other: Mapping[int, tuple[str, str | None]] = field(default_factory=dict)


def limit(default: int, hi: int) -> Param:
    return Param("limit", {"type": "integer", "minimum": 1, "maximum": hi, "default": default},
                 f"page size, 1..{hi}")


CURSOR = Param("cursor", {"type": "integer", "minimum": 0, "maximum": BIG},
               "the previous page's `next`")
ID = Param("id", {"type": "string", "minLength": 1}, "the id", where="path", required=True)
STEP = Param("step", {"type": "string", "minLength": 1}, "the step id", where="path",
             required=True)
WORKERS = ("responder", "operator")  # the people who work a run

MODEL_TAG = "preparedness"
FILING_STATES = ("pending", "released", "rejected")
FILING = obj(("id", "kind", "developer", "filed_by", "filed_at", "state", "body"), id=STR,
             kind={"enum": ["incident", "evaluation", "training-run", "monitoring"]},
             developer=STR, filed_by=STR, filed_at=STR, state={"enum": list(FILING_STATES)},
             decided_at=OPT_STR, decided_by=OPT_STR, reason=OPT_STR, message_id=OPT_STR,
             digest=OPT_STR, body={"type": "object"})
# node.pipeline.registry.flags / federation.model_registry.assurance_flag
FLAG = obj(("flagged", "above_threshold", "thresholds", "safety_case", "reason"),
           flagged={"type": "boolean"}, above_threshold={"type": "boolean"},
           thresholds={"type": "array", "items": STR}, safety_case=STR, reason=STR)
MODEL_BODY = obj(("developer", "model", "version"), developer=STR, model=STR, version=STR,
                 deployment_jurisdictions={"type": "array", "items": STR},
                 training_compute_flop={"type": "number", "minimum": 0},
                 modalities={"type": "array", "items": STR},
                 critical_systems={"type": "array", "items": STR},
                 safety_case={"type": "object"}, audits={"type": "array"})
EVALUATION_BODY = obj(("developer", "model", "version", "suite", "domain", "score", "evaluator",
                       "evaluated_at"), developer=STR, model=STR, version=STR, suite=STR,
                      domain=STR, score={"type": "number", "minimum": 0, "maximum": 1},
                      evaluator=STR, evaluated_at=STR, notes=STR)

SCHEMAS: dict[str, dict[str, Any]] = {
    "Errors": obj(("errors",), errors={
        "type": "array", "minItems": 1,
        "items": obj(("path", "message"), path={"type": "string", "description":
                                                "JSONPath of the problem, e.g. $.title or "
                                                "$.query.limit"}, message=STR)}),
    "IncidentSummary": obj(
        ("id", "revision", "origin", "digest", "severity", "tlp", "status", "title",
         "issued_at", "received_at"),
        id=STR, revision=INT, origin=common("member_id"), digest=common("digest"),
        severity=common("severity"), tlp=common("tlp"), status=STR, title=STR,
        occurred_at=OPT_STR, issued_at=STR, received_at=STR,
        harm_types={"type": "array", "items": STR}, red_lines={"type": "array", "items": STR},
        affected_jurisdictions={"type": "array", "items": STR}),
    "IncidentDetail": {"allOf": [ref("incident"), obj(
        ("origin", "digest", "verified", "received_at", "revisions", "envelope"),
        digest=common("digest"), received_at=STR,
        verified={"type": "boolean", "description": "the signature verifies against the "
                                                    "roster this node trusts now"},
        revisions={"type": "array", "items": obj(("revision", "digest"), revision=INT,
                                                 digest=common("digest"))},
        envelope=ref("envelope"))]},
    "Run": obj(("id", "incident_id", "playbook", "state", "tier", "steps", "history"),
               id=STR, incident_id=STR, state=STR, tier=INT, current_step=OPT_STR,
               playbook=obj(("id", "version", "title"), id=STR, version=INT, title=STR),
               emergency={"type": ["object", "null"]}, started_at=STR, closed_at=OPT_STR,
               close_reason=OPT_STR,
               steps={"type": "array", "items": obj(("id", "action", "status"), id=STR,
                                                    action=STR, status=STR,
                                                    deadline=OPT_STR)},
               history={"type": "array", "items": obj(("at", "event", "by"), at=STR,
                                                      event=STR, by=STR)},
               owner=STR, read_only={"type": "boolean"}),
    "InboxItem": obj(("id", "origin", "incident_id", "run_id", "tier", "deadline", "status",
                      "overdue"),
                     id=STR, origin=STR, incident_id=STR, run_id=STR, tier=INT, deadline=STR,
                     status={"enum": ["open", "acked", "declined", "answered", "closed"]},
                     overdue={"type": "boolean"}, received_at=STR, answered_at=OPT_STR,
                     answered_by=OPT_STR, assignee=OPT_STR, assigned_at=OPT_STR,
                     title=OPT_STR, red_lines={"type": "array", "items": STR}),
    "Answered": obj(("escalation_id", "digest", "status"), escalation_id=STR,
                    digest=common("digest"), status={"enum": ["acked", "declined"]}),
    "AuditEntry": obj(
        ("seq", "at", "via", "who", "method", "path", "status"),
        seq=INT, at=STR, via={"enum": ["api", "cli"]},
        who={"anyOf": [obj(("token_id", "role", "label"), token_id=OPT_STR, role=OPT_STR,
                           label=OPT_STR), {"type": "null"}],
             "description": "the token that acted (null: none was valid)"},
        method=STR, path=STR, route=OPT_STR, target=OPT_STR, digest=OPT_STR,
        status={"type": "integer", "description": "HTTP status of the outcome; 0: CLI ok"},
        remote=OPT_STR),
    "QuarantineItem": obj(("seq", "at", "subject", "reason", "detail", "size", "data_b64"),
                          seq=INT, at=STR, subject=STR, reason=STR, detail=STR,
                          digest=OPT_STR, size=INT, data_b64=STR),
    "Health": obj(("status", "node", "nats", "store", "scheduler", "outbox_depth"),
                  status={"enum": ["ok", "degraded"]}, node=STR, role=STR, nats=STR,
                  store={"enum": ["ok", "error"]},
                  scheduler={"enum": ["running", "paused", "stopped", "absent"]},
                  outbox_depth=INT, roster_version=INT, incidents={"type": ["integer", "null"]},
                  tasks={"type": "object", "description": "each background task: state "
                         "(running, backoff, done, stopped), restarts, last_error, "
                         "last_error_at", "additionalProperties": obj(
                             ("state", "restarts"), state=STR, restarts=INT,
                             last_error=OPT_STR, last_error_at=OPT_STR)},
                  late_clocks={"type": "array", "description": "deadlines whose firing "
                               "failed and is being retried", "items": obj(
                                   ("run_id", "attempts"), run_id=STR, token=INT, attempts=INT,
                                   late_since=STR, last_error=STR, next_attempt_at=STR)},
                  webhooks={"enum": ["running", "restarting", "stopped"],
                            "description": "the webhook dispatcher (docs/notifications.md)"}),
}

CREATED_INCIDENT = obj(("id", "digest"), id=STR, digest=common("digest"))
STATS_TAG = "statistics"
STATS_RANGE = (Param("since", {"type": "string"}, "first occurrence date included (YYYY-MM-DD)"),
               Param("until", {"type": "string"}, "last occurrence date included (YYYY-MM-DD)"))
SCHEMAS.update({
    "StatGroups": obj(("total", "groups"), total=INT, undated=INT, basis=STR, groups={
        "type": "array", "items": obj(
        ("key", "count"), key={"type": "object", "additionalProperties": {
            "type": ["string", "integer", "null"]}}, count=INT)}),
    "StatSummary": obj(
        ("node", "role", "generated_at", "total", "stubs", "red_lines", "red_line_reports",
         "tripwires", "ack_times", "escalations"),
        node=STR, role=STR, generated_at=STR, total=INT, stubs=INT, red_line_reports=INT,
        undated=INT, clusters=INT,
        red_lines={"type": "object", "additionalProperties": INT},
        tripwires={"type": "object", "additionalProperties": INT},
        ack_times={"type": "array", "items": obj(
            ("tier", "count", "median_seconds", "p90_seconds"), tier=INT, count=INT,
            median_seconds={"type": "number"}, p90_seconds={"type": "number"})},
        escalations=obj(("seen", "answered", "closed", "open", "overdue", "overdue_items",
                         "open_items"), seen=INT, answered=INT, closed=INT, open=INT,
                        overdue=INT, overdue_items={"type": "array", "items": {"type": "object"}},
                        open_items={"type": "array", "items": {"type": "object"}})),
    "StatSnapshot": obj(
        ("origin", "signer", "digest", "issued_at", "received_at", "verified", "snapshot",
         "envelope"),
        origin=STR, digest=common("digest"), issued_at=STR, received_at=STR,
        verified={"type": "boolean"}, snapshot=ref("stats"), envelope=ref("envelope"),
        signer=obj(("member", "role", "keyid"), member=STR, role=OPT_STR, keyid=OPT_STR)),
})
LOG_TAG, RUN_TAG, INC_TAG, OPS_TAG = "transparency log", "playbook runs", "incidents", "operations"
HOOK_TAG = "notifications"
SCHEMAS["Webhook"] = obj(
    ("id", "url", "roles", "created_at"), id=STR, url=STR,
    roles={"type": "array", "items": {"enum": list(WEBHOOK_ROLES)}}, created_at=STR,
    deliveries={"type": "object", "description": "counts by status (GET only)",
                "additionalProperties": INT},
    last_delivery={"type": ["object", "null"], "description": "the last attempt (GET only)"})

ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    # -- incidents (node.http.api) --------------------------------------------------------------
    ("POST", "/api/v1/incidents"): Endpoint(
        "File a new incident report", INC_TAG, ("operator", "provider"), CREATED_INCIDENT,
        status=201,
        body=ref("report"), body_required=True, errors=(400, 413),
        headers={"Location": "the new incident's URL"},
        description="The node sets type, origin, issued_at, id and revision, signs the "
                    "incident and publishes it (TLP:RED stays at this node)."),
    ("POST", "/api/v1/incidents/{id}/revisions"): Endpoint(
        "File a new signed revision of one of this node's incidents", INC_TAG, ("operator",),
        obj(("id", "revision", "digest"), id=STR, revision=INT, digest=common("digest")),
        status=201, params=(ID,), body=ref("report-changes"), body_required=True,
        errors=(400, 403, 404, 413),
        description="The body holds the fields that change; the TLP label cannot change. "
                    "403 if another member issued the incident."),
    ("GET", "/api/v1/incidents"): Endpoint(
        "Incidents this node holds, newest first", INC_TAG, ANY_ROLE,
        {"allOf": [page_of(ref("IncidentSummary")), obj((), total={
            "type": "integer", "description": "with a chart filter: the events in that group"})]},
        params=(Param("origin", STR, "only this member's incidents"),
                Param("severity", common("severity"), "at least this severity"),
                Param("since", {"type": "string", "format": "date-time"},
                      "issued at or after (RFC 3339 with an offset)"),
                Param("where", STR, "a chart's group, dimension:value (repeatable; empty "
                                    "value: unknown), e.g. year:2020, country:FR"),
                Param("basis", {"enum": ["observed", "derived", "all"]}, "with where: as "
                      "/api/v1/stats counted"),
                Param("occurred_since", STR, "with where: occurred on or after (YYYY-MM-DD)"),
                Param("occurred_until", STR, "with where: occurred on or before (YYYY-MM-DD)"),
                limit(50, 500), CURSOR), errors=(400,),
        description="With where, basis or occurred_*: the events behind one bar of "
                    "/api/v1/stats (one report per same-as cluster) and their total."),
    ("POST", "/api/v1/incidents/{id}/links"): Endpoint(
        "Sign a link: this node's report is the same as, or related to, another report",
        INC_TAG, ("operator",), obj(("digest", "link", "cluster"), digest=common("digest"),
                                    link=ref("link"), cluster={"type": "array", "items": STR}),
        status=201, params=(ID,), body_required=True, errors=(400, 403, 404, 413),
        body=obj(("incident_id", "relation"), incident_id=STR,
                 relation={"enum": ["same-as", "related-to"]}, note=STR),
        description="403 unless this node owns {id}; 404 if either report is unknown here. "
                    "Statistics then count a same-as cluster once, with every reporter."),
    ("GET", "/api/v1/incidents/{id}/links"): Endpoint(
        "A report's links, its same-as cluster and candidate duplicates", INC_TAG, ANY_ROLE,
        obj(("links", "cluster", "candidates"), links={"type": "array", "items": {
            "type": "object"}}, cluster={"type": "array", "items": STR},
            candidates={"type": "array", "items": obj(
                ("incident_id", "origin", "title", "reasons"), incident_id=STR, origin=STR,
                title=STR, reasons={"type": "array", "items": STR})}),
        params=(ID,), errors=(404,)),
    ("GET", "/api/v1/incidents/{id}"): Endpoint(
        "One incident with its verbatim signed envelope", INC_TAG, ANY_ROLE,
        ref("IncidentDetail"), params=(ID,), errors=(404,)),
    ("GET", "/api/v1/roster"): Endpoint(
        "The roster this node trusts, with its signed envelope", "federation", ANY_ROLE,
        obj(("roster", "envelope"), roster=ref("roster"), envelope=ref("envelope"))),
    ("GET", "/api/v1/peers"): Endpoint(
        "The other members and their last heartbeat", "federation", ANY_ROLE,
        items_of(obj(("id", "role", "jurisdiction", "heartbeat"), id=STR, role=STR,
                     jurisdiction=STR, heartbeat={
                         "type": ["object", "null"], "required": ["origin", "at", "seen_at",
                                                                  "verified"],
                         "description": "the peer's last heartbeat: unsigned, so only checked "
                                        "for shape and range (verified: false)",
                         "properties": {"origin": STR, "at": STR, "roster_version": INT,
                                        "outbox": INT, "seen_at": STR,
                                        "verified": {"type": "boolean"}}}))),
    ("GET", "/api/v1/quarantine"): Endpoint(
        "Inbound messages this node refused, with reason and bytes", "federation",
        ("auditor", "operator"),
        {"allOf": [page_of(ref("QuarantineItem")),
                   obj(("counts",), counts={"type": "object",
                                            "additionalProperties": {"type": "integer"}})]},
        params=(Param("reason", STR, "only this reason code"), limit(50, 500), CURSOR),
        errors=(400,)),
    # -- playbook runs and escalations (node.http.api_runs) --------------------------------------
    ("GET", "/api/v1/runs"): Endpoint(
        "Playbook runs, most recently updated first", RUN_TAG, ANY_ROLE, items_of(ref("Run")),
        params=(Param("incident", STR, "only runs about this incident"), limit(100, 1000)),
        errors=(400,)),
    ("GET", "/api/v1/runs/{id}"): Endpoint(
        "One playbook run", RUN_TAG, ANY_ROLE, ref("Run"), params=(ID,), errors=(404,)),
    ("POST", "/api/v1/runs/{id}/declare"): Endpoint(
        "Co-sign the emergency a run proposes (quorum step)", RUN_TAG, ("operator",),
        obj(("emergency_id", "digest"), emergency_id=STR, digest=common("digest")),
        status=201, params=(ID,),
        body={"type": "object", "properties": {"statement": {"type": "string"}}},
        errors=(400, 404, 409, 413)),
    ("GET", "/api/v1/escalations"): Endpoint(
        "This node's escalation inbox, with deadlines", RUN_TAG, ANY_ROLE,
        items_of(ref("InboxItem")),
        params=(Param("status", {"enum": ["open", "acked", "declined", "answered", "closed"]},
                      "only escalations in this state"),), errors=(400,),
        description="Ordered by incident (triage groups them). answered: another recipient's "
                    "ack ended the step (answered_by says who); assignee: who took it here."),
    # -- working a run (node.http.api_steps) ------------------------------------------------------
    ("POST", "/api/v1/runs/{id}/steps/{step}/complete"): Endpoint(
        "Complete a step of this node's run (acknowledge, report, watch)", RUN_TAG, WORKERS,
        ref("Run"), params=(ID, STEP), body=obj(
            (), note={"type": "string", "maxLength": 5000},
            evidence={"type": "array", "items": obj(
                ("url", "sha256"), url={"type": "string", "pattern": "^https?://"},
                sha256={"type": "string", "pattern": "^[0-9a-f]{64}$"})}),
        errors=(400, 404, 409, 413),
        description="Recorded in the run (who, when, note, evidence) and signed as a step "
                    "message: in this node's transparency log and sent to the peers the run "
                    "asked. A report step stops its clock. 409: the step is not waiting or "
                    "is not completed by a person."),
    ("POST", "/api/v1/runs"): Endpoint(
        "Start a playbook by hand on an incident this node holds (own or a peer's)", RUN_TAG,
        WORKERS, ref("Run"), status=201, body_required=True,
        body=obj(("incident_id", "playbook_id"), incident_id=STR, playbook_id=STR),
        errors=(400, 404, 409, 413)),
    ("POST", "/api/v1/escalations/{id}/assign"): Endpoint(
        "Take or assign an escalation in this node's inbox to a person", RUN_TAG, WORKERS,
        obj(("escalation_id", "assignee"), escalation_id=STR, assignee=STR), params=(ID,),
        body=obj((), assignee={"type": "string", "minLength": 1, "pattern": "\\S"}),
        errors=(400, 404, 413), description="Without an assignee, the caller takes it."),
    ("POST", "/api/v1/escalations/{id}/ack"): Endpoint(
        "Acknowledge an escalation (stops it moving to the next tier)", RUN_TAG,
        ("responder",), ref("Answered"), status=201, params=(ID,),
        body={"type": "object", "properties": {"note": {"type": "string"}}},
        errors=(400, 404, 409, 413)),
    ("POST", "/api/v1/escalations/{id}/decline"): Endpoint(
        "Decline an escalation, saying why", RUN_TAG, ("responder",), ref("Answered"),
        status=201, params=(ID,), body_required=True,
        body={"type": "object", "required": ["reason"],
              "properties": {"reason": {"type": "string", "minLength": 1, "pattern": "\\S"}}},
        errors=(400, 404, 409, 413)),
    ("GET", "/api/v1/emergency"): Endpoint(
        "The federation-wide emergency state", RUN_TAG, ANY_ROLE,
        obj(("state", "threshold", "declarations"),
            state={"enum": ["none", "pending", "active"]},
            threshold={"type": ["integer", "null"]},
            declarations={"type": "array", "items": obj(("by", "at", "digest"), by=STR,
                                                        at=STR, digest=STR)})),
    ("GET", "/api/v1/notifications"): Endpoint(
        "What runs asked this node's people to do, newest first (the last 200)", HOOK_TAG,
        ANY_ROLE,
        items_of(obj(("seq", "run_id", "step_id", "role", "kind", "message", "created_at"),
                     seq=INT, run_id=STR, step_id=STR, role=STR, kind=STR, message=STR,
                     due=OPT_STR, created_at=STR)),
        description="role: the playbook role the step names (duty-officer, ...); kind: notify, "
                    "or record-incident; due: the step's deadline, if any. Webhooks deliver "
                    "the same notify steps (docs/notifications.md)."),
    # -- webhooks (node.http.api_webhooks) --------------------------------------------------------
    ("POST", "/api/v1/webhooks"): Endpoint(
        "Register a webhook: signed notifications POSTed to a URL", HOOK_TAG, ("operator",),
        ref("Webhook"), status=201, body_required=True,
        body=obj(("url", "roles", "secret"),
                 url={"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://.", "maxLength": 2000},
                 roles={"type": "array", "minItems": 1,
                        "items": {"enum": list(WEBHOOK_ROLES)}},
                 secret={"type": "string", "minLength": MIN_SECRET, "maxLength": 512}),
        errors=(400, 413),
        description="Each event this node's people should hear about is POSTed as JSON "
                    "(event, run_id, step, incident_id, message, id, node, at) with "
                    "X-Beacon-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>. "
                    "roles choose the events (docs/notifications.md). The secret is never "
                    "answered. url may also be mailto:<address> if the node has an SMTP "
                    "server ([smtp] in node.toml)."),
    ("GET", "/api/v1/webhooks"): Endpoint(
        "The webhooks, with delivery counts and the last attempt", HOOK_TAG, ("operator",),
        items_of(ref("Webhook"))),
    ("GET", "/api/v1/webhooks/{id}/deliveries"): Endpoint(
        "A webhook's delivery log, newest first", HOOK_TAG, ("operator",),
        obj(("webhook_id", "items"), webhook_id=STR, items={"type": "array", "items": obj(
            ("seq", "event", "event_key", "status", "attempts", "body"), seq=INT, event=STR,
            event_key=STR, status={"enum": ["pending", "delivered", "failed"]}, attempts=INT,
            body={"type": "object"}, next_at=OPT_STR, created_at=STR,
            last_attempt_at=OPT_STR, last_error=OPT_STR,
            response_code={"type": ["integer", "null"]})}),
        params=(ID, limit(100, 1000)), errors=(400, 404)),
    ("DELETE", "/api/v1/webhooks/{id}"): Endpoint(
        "Delete a webhook and its delivery log", HOOK_TAG, ("operator",), None, status=204,
        params=(ID,), errors=(404,)),
    # -- transparency log (node.http.api_log) ----------------------------------------------------
    ("GET", "/api/v1/log/checkpoint"): Endpoint(
        "The latest checkpoint (C2SP signed note) with cosignature lines", LOG_TAG, PUBLIC,
        {"type": "string"}, media="text/plain",
        params=(Param("origin", STR, "a peer's log (default: this node's)"),), errors=(404,)),
    ("POST", "/api/v1/log/checkpoint"): Endpoint(
        "Sign and publish a checkpoint now", LOG_TAG, ("operator",),
        obj(("size", "root", "note"), size=INT, root=STR, note=STR), status=201),
    ("GET", "/api/v1/log/proof/inclusion"): Endpoint(
        "RFC 9162 inclusion proof of a message in this node's log", LOG_TAG, ANY_ROLE,
        obj(("leaf_index", "tree_size", "path"), leaf_index=INT, tree_size=INT,
            path={"type": "array", "items": STR}),
        params=(Param("digest", common("digest"), "the message digest", required=True),
                Param("size", {"type": "integer", "minimum": 1, "maximum": BIG},
                      "tree size (default: the current one)")), errors=(400, 404)),
    ("GET", "/api/v1/log/proof/consistency"): Endpoint(
        "RFC 9162 consistency proof between two sizes of this node's log", LOG_TAG, ANY_ROLE,
        obj(("path",), path={"type": "array", "items": STR}),
        params=(Param("from", {"type": "integer", "minimum": 0, "maximum": BIG}, "old size",
                      required=True),
                Param("to", {"type": "integer", "minimum": 0, "maximum": BIG}, "new size",
                      required=True)), errors=(400,)),
    ("GET", "/api/v1/log/checkpoints/{origin}"): Endpoint(
        "Checkpoints of a member's log that this node saw and witnessed", LOG_TAG, ANY_ROLE,
        obj(("origin", "items"), origin=STR, items={"type": "array", "items": obj(
            ("size", "root", "note", "status", "cosigned_by", "witnessed"), size=INT,
            root=STR, note=STR, status=STR, cosigned_by={"type": "array", "items": STR},
            cosigned_by_me={"type": "boolean"}, witnessed={"type": "boolean"})}),
        params=(Param("origin", {"type": "string", "minLength": 1}, "member id", "path",
                      required=True), limit(50, 1000)), errors=(400,)),
    ("GET", "/api/v1/log/entries"): Endpoint(
        "This node's log entries (envelopes; RED and AMBER+STRICT incidents withheld) by leaf "
        "index", LOG_TAG, ("auditor", "operator"),
        page_of({"oneOf": [
            obj(("index", "digest", "envelope"), index=INT, digest=common("digest"),
                envelope=ref("envelope")),
            obj(("index", "digest", "withheld"), index=INT, digest=common("digest"),
                withheld={"enum": ["TLP:RED", "TLP:AMBER+STRICT"],
                          "description": "the text stays at this node; the leaf counts"})]},
            next_type="integer"),
        params=(Param("start", {"type": "integer", "minimum": 0, "maximum": BIG},
                      "first leaf index"), limit(500, 5000)), errors=(400,)),
    ("GET", "/api/v1/log/equivocations"): Endpoint(
        "Proofs that a member's log forked", LOG_TAG, ANY_ROLE,
        items_of(obj(("origin", "size", "evidence", "detected_at"), origin=STR, size=INT,
                     evidence={"type": "object"}, detected_at=STR, incident_id=OPT_STR))),
    # -- global statistics (node.http.api_stats) --------------------------------------------------
    ("GET", "/api/v1/stats"): Endpoint(
        "Incident counts by any combination of dimensions", STATS_TAG, ANY_ROLE,
        ref("StatGroups"), media="application/json", alt_media=("text/csv",),
        params=(Param("by", STR, "comma-separated dimensions: origin, severity, harm_type, "
                                 "red_line, developer, year, month, week, country, sector, "
                                 "model"),
                *STATS_RANGE,
                Param("basis", {"enum": ["observed", "derived", "all"]},
                      "which values count as known (default all); others are null"),
                Param("format", {"enum": ["json", "csv"]},
                      "csv: the same groups as CSV (or send Accept: text/csv)")),
        errors=(400,),
        description="One record per incident id: full reports and the stubs of RED and "
                    "AMBER+STRICT reports. harm_type and red_line are multi-valued, so group "
                    "counts may add up to more than total. With Accept: text/csv: a header "
                    "(the dimensions, then count) and one row per group."),
    ("GET", "/api/v1/stats/summary"): Endpoint(
        "Red-line and tripwire crossings, acknowledgement times, open and overdue escalations",
        STATS_TAG, ANY_ROLE, ref("StatSummary"), params=STATS_RANGE, errors=(400,)),
    ("GET", "/api/v1/stats/snapshot"): Endpoint(
        "The newest statistics snapshot signed by the international body", STATS_TAG, ANY_ROLE,
        ref("StatSnapshot"), errors=(404,),
        description="verified: the envelope's signature verifies now against the roster key "
                    "of a member whose role is international-body."),
    ("POST", "/api/v1/stats/snapshot"): Endpoint(
        "Sign and publish a statistics snapshot now (international body only)", STATS_TAG,
        ("operator",), ref("StatSnapshot"), status=201, errors=(409,),
        description="409 at a member node: only the international body signs snapshots."),
    # -- preparedness and assurance (node.http.api_models) ------------------------------------
    ("POST", "/api/v1/models"): Endpoint(
        "Register a model, or a new version of one (a new revision of its registration)",
        MODEL_TAG, ("operator",), obj(("id", "revision", "digest", "model"), id=STR,
                                      revision=INT, digest=common("digest"), model=ref("model")),
        status=201, body_required=True, errors=(400, 413), body=MODEL_BODY,
        headers={"Location": "the model's URL"},
        description="The node signs a model message that every member receives. A report "
                    "naming developer, model (ai_system.name) and version is then linked to it "
                    "and gets its deployment jurisdictions as affected jurisdictions."),
    ("GET", "/api/v1/models"): Endpoint(
        "The current revision of every registered model", MODEL_TAG, REGISTRY_READERS,
        items_of({"allOf": [ref("model"), obj(("assurance_flag",), assurance_flag=FLAG)]}),
        params=(Param("developer", STR, "only this developer's"),),
        description="assurance_flag.flagged: above a threshold (training compute, e.g. 10^25 "
                    "FLOP, AI Act Art. 51(2); or an evaluation at early warning or red line) "
                    "without an approved safety case; reason says why."),
    ("GET", "/api/v1/models/{id}"): Endpoint(
        "One registered model: its current revision, its versions and its incidents", MODEL_TAG,
        REGISTRY_READERS, {"allOf": [ref("model"), obj(
            ("digest", "versions", "incidents", "evaluations", "approaching", "assurance_flag"),
            digest=common("digest"), assurance_flag=FLAG,
            evaluations={"type": "array", "items": ref("evaluation")},
            approaching={"type": "array", "items": STR},
            versions={"type": "array", "items": obj(
                ("revision", "version", "digest", "issued_at"), revision=INT, version=STR,
                digest=common("digest"), issued_at=STR)},
            incidents={"type": "array", "items": obj(
                ("id", "origin", "severity", "title"), id=STR, origin=STR, severity=STR,
                title=STR)})]},
        params=(ID,), errors=(404,)),
    ("POST", "/api/v1/safety-cases/{id}/reviews"): Endpoint(
        "Review another member's registered model: a signed verdict on its safety case",
        MODEL_TAG, ("operator", "evaluator"), {"allOf": [ref("safety-case-review"), obj(
            ("digest",), digest=common("digest"))]}, status=201, params=(ID,),
        body_required=True, errors=(400, 404, 413),
        body=obj(("verdict", "findings"), verdict={"enum": ["approved", "rejected"]},
                 findings=STR),
        description="{id} is the model's id. Every node then shows the verdict in "
                    "GET /api/v1/models/{id} as safety_case.reviews[] with verified; a member "
                    "cannot review a model it registered (400). An evaluator token (an "
                    "independent evaluator registered at this node, beacon users add --role "
                    "evaluator --organisation ...) records reviewer_kind independent under its "
                    "organisation, signed by this node; it may review any model."),
    ("POST", "/api/v1/monitoring"): Endpoint(
        "Report a failed run-time check: it files an incident carrying the signal", MODEL_TAG,
        ("operator", "provider"), {"allOf": [ref("monitoring"), obj(
            ("digest", "incident_id"), digest=common("digest"), incident_id=OPT_STR)]},
        status=201, body_required=True, errors=(400, 413),
        body=obj(("developer", "model", "version", "check", "assumption", "environment",
                  "action"), developer=STR, model=STR, version=STR, check=STR,
                 assumption=STR, environment=STR, action=STR, observed_at=STR, details=STR),
        description="The model must be registered; a provider token files for its own "
                    "developer only (403)."),
    ("GET", "/api/v1/monitoring/{id}"): Endpoint(
        "One monitoring signal and the report it filed", MODEL_TAG, ANY_ROLE,
        ref("monitoring"), params=(ID,), errors=(404,)),
    ("GET", "/api/v1/preparedness/summary"): Endpoint(
        "Tripwire crossings by domain, declarations above each compute threshold, models "
        "without an approved safety case", MODEL_TAG, ANY_ROLE,
        obj(("tripwire_crossings", "declarations_above_threshold",
             "models_without_approved_safety_case", "unapproved_models"),
            tripwire_crossings={"type": "array", "items": obj(
                ("domain", "level", "n"), domain=STR, level=STR, n=INT)},
            declarations_above_threshold={"type": "object", "additionalProperties": INT},
            models_without_approved_safety_case=INT,
            unapproved_models={"type": "array", "items": STR})),
    ("POST", "/api/v1/evaluations"): Endpoint(
        "Record a capability evaluation against the shared tripwire of its domain", MODEL_TAG,
        ("operator", "provider"), {"allOf": [ref("evaluation"), obj(
            ("digest", "incident_id"), digest=common("digest"), incident_id=OPT_STR)]},
        status=201, body_required=True, errors=(400, 413), body=EVALUATION_BODY,
        headers={"Location": "the evaluation's URL"},
        description="400 for a score outside 0-1, a domain with no tripwire or a model not "
                    "registered. At or above the red line the node also files an incident "
                    "carrying the evaluation (incident_id), at or above early warning a "
                    "serious hazard; the tripwire-crossing playbook answers both."),
    ("GET", "/api/v1/evaluations"): Endpoint(
        "The evaluations of one model, newest first", MODEL_TAG, ANY_ROLE,
        items_of(ref("evaluation")), errors=(400,),
        params=(Param("developer", STR, "the developer (required)"),
                Param("model", STR, "the model (required)"),
                Param("version", STR, "only this version"))),
    ("GET", "/api/v1/evaluations/{id}"): Endpoint(
        "One evaluation and the report it filed, if any", MODEL_TAG, ANY_ROLE,
        ref("evaluation"), params=(ID,), errors=(404,)),
    ("GET", "/api/v1/tripwires"): Endpoint(
        "The shared capability tripwires: early-warning and red-line thresholds per domain",
        MODEL_TAG, ANY_ROLE, {"allOf": [items_of(obj(
            ("id", "domain", "early_warning", "red_line", "protocol", "protocol_version"),
            id=STR, domain=STR, title=STR, early_warning={"type": "number"},
            red_line={"type": "number"}, red_line_id=STR, protocol=STR,
            protocol_version=STR)), obj(("version", "approaching_margin"), version=INT,
                                        approaching_margin={"type": "number"})]}),
    ("POST", "/api/v1/training-runs"): Endpoint(
        "Declare a training run: the thresholds it crosses and the clocks they start",
        MODEL_TAG, ("operator", "provider"), {"allOf": [ref("training-run"), obj(
            ("digest",), digest=common("digest"))]}, status=201, body_required=True,
        errors=(400, 413), body=obj(("developer", "model", "compute_flop", "started_at"),
                                    developer=STR, model=STR,
                                    compute_flop={"type": "number", "minimum": 0},
                                    started_at=STR, expected_end=STR, threshold_known_at=STR,
                                    notified_at=STR, notes=STR),
        description="Thresholds (10^25, 10^26 FLOP) are data (playbooks/tripwires.yaml); each "
                    "starts its regimes.yaml clock, e.g. AI Act Art. 52(1): two weeks."),
    ("GET", "/api/v1/training-runs"): Endpoint(
        "Declared training runs, newest first", MODEL_TAG, ANY_ROLE,
        items_of(ref("training-run")), params=(Param("developer", STR, "only this developer's"),)),
    ("GET", "/api/v1/deadlines"): Endpoint(
        "Regulatory deadlines started by declarations, soonest first", MODEL_TAG, ANY_ROLE,
        items_of(obj(("subject", "regime", "clock", "due_at", "state"), subject=STR,
                     regime=STR, clock=STR, origin=STR, anchor_at=STR, due_at=STR,
                     state={"enum": ["due", "overdue", "met"]}, met_at=OPT_STR,
                     overdue_at=OPT_STR, developer=OPT_STR, model=OPT_STR)),
        params=(Param("state", {"enum": ["due", "overdue", "met"]}, "only this state"),),
        errors=(400,)),
    # -- provider filings held for review (node.http.api_provider_filings) ----------------
    ("GET", "/api/v1/provider-filings"): Endpoint(
        "Provider filings held for review before exchange, oldest first", MODEL_TAG, ANY_ROLE,
        {"allOf": [items_of(FILING), obj(("policy",), policy={
            "enum": ["immediately", "after-review"]})]},
        params=(Param("state", {"enum": list(FILING_STATES)}, "only this state"),),
        errors=(400,),
        description="With [providers] exchange_provider_filings = \"after-review\", a provider "
                    "token's report, declaration, evaluation or monitoring signal is answered "
                    "202 {filing_id, kind, state: pending} and kept here, unsigned: nothing "
                    "pending leaves the node."),
    ("GET", "/api/v1/provider-filings/{id}"): Endpoint(
        "One provider filing and its decision", MODEL_TAG, ANY_ROLE, FILING, params=(ID,),
        errors=(404,)),
    ("POST", "/api/v1/provider-filings/{id}/release"): Endpoint(
        "Release a held provider filing: sign and publish it now", MODEL_TAG, ("operator",),
        {"allOf": [FILING, obj(("filed",), filed={"type": "object"})]}, params=(ID,),
        body=obj((), reason=STR), errors=(400, 404, 409, 413),
        description="Filed as if the provider sent it now (checked again, signed now); 409 if "
                    "it was decided before; 400 (and still pending) if it no longer passes."),
    ("POST", "/api/v1/provider-filings/{id}/reject"): Endpoint(
        "Reject a held provider filing: it is never exchanged", MODEL_TAG, ("operator",),
        FILING, params=(ID,), body_required=True, body=obj(("reason",), reason=STR),
        errors=(400, 404, 409, 413)),
    # -- audit trail, operations, this document ---------------------------------------------
    ("GET", "/api/v1/audit"): Endpoint(
        "The audit trail: state-changing actions, who took them and when, newest first",
        OPS_TAG, ("auditor", "operator"), page_of(ref("AuditEntry")),
        params=(limit(50, 500), CURSOR, Param("token", STR, "only this token id's actions")),
        errors=(400,)),
    ("GET", "/healthz"): Endpoint(
        "Health: NATS, store and scheduler", OPS_TAG, PUBLIC, ref("Health"), errors=(503,),
        description="200 while the node can serve; 503 (same body) if its store or its "
                    "deadline scheduler is not working."),
    ("GET", "/metrics"): Endpoint(
        "Prometheus metrics", OPS_TAG, PUBLIC, {"type": "string"}, media="text/plain"),
    ("GET", "/api/v1/openapi.json"): Endpoint(
        "This document (OpenAPI 3.1)", OPS_TAG, PUBLIC,
        {"type": "object", "required": ["openapi", "paths"]}),
}
