"""Inputs from people and peers to a run: step completions, acknowledgements, declines and
declarations (re-exported by ``federation.runs``, which documents the interface).

    t = complete_step(run, "art73-report", by="alice", note="filed", evidence=[], now=now,
                      ctx=ctx)

Each finds the waiting step it is about — by step id (a person) or by escalation/emergency id
(a peer) — so parallel branches answer independently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

from federation.run_draft import Draft, noop
from federation.run_model import (
    COMPLETABLE,
    DUPLICATE,
    FAILED,
    LATE,
    REFUSED,
    WAITING,
    PlaybookRun,
    RunContext,
    RunError,
    Transition,
)
from federation.run_steps import end_step, repeat_due, settle
from federation.timeutil import format_time

_PEER_ACKED = ("escalate", "request-action")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_NOTE = 5000


def check_evidence(evidence: Iterable[Mapping[str, str]]) -> tuple[dict[str, str], ...]:
    """Evidence items ``{"url", "sha256"}``: an http(s) URL and a lower-case hex SHA-256.

    Raises:
        RunError: an item is malformed (the message says which and what is expected).
    """
    out = []
    for n, item in enumerate(evidence):
        url, digest = str(item.get("url", "")), str(item.get("sha256", ""))
        if not url.startswith(("https://", "http://")) or len(url) > 2000:
            raise RunError(f"evidence[{n}].url must be an http(s) URL (got {url[:80]!r})")
        if not _SHA256.match(digest):
            raise RunError(f"evidence[{n}].sha256 must be 64 lower-case hex digits "
                           f"(got {digest[:80]!r})")
        out.append({"url": url, "sha256": digest})
    return tuple(out)


def complete_step(run: PlaybookRun, step_id: str, *, by: str, now: datetime, ctx: RunContext,
                  note: str = "", evidence: Iterable[Mapping[str, str]] = ()) -> Transition:
    """A person completes a waiting ``acknowledge``, ``report`` or ``watch`` step.

    A report records who filed it, when, the note and the evidence, and stops its clock; the
    branch goes on (e.g. to the authority's own duties anchored on the notification). A
    repeating report (a clock with ``every`` ... ``until``) stays open: the filing is counted
    and the next report falls due one period after this one's due date.

    Args:
        run: the run as stored.
        step_id: the step completed.
        by: the person (user name) completing it.
        now: the current time.
        ctx: this node's context.
        note: what was done or filed (at most 5000 characters).
        evidence: ``[{"url", "sha256"}]`` of what was filed.

    Returns:
        A transition; ``late`` if the step is not waiting (not reached yet, or over) — except a
        report whose deadline passed unfiled, whose late filing is recorded — and ``refused``
        for a step people do not complete (escalations, quorums, notifications).

    Raises:
        RunError: no such step, or malformed evidence or note.
    """
    st = run.step_state(step_id)
    items = check_evidence(evidence)
    if len(note) > MAX_NOTE:
        raise RunError(f"note is {len(note)} characters; at most {MAX_NOTE}")
    i = run.playbook.index_of(step_id)
    if st.action not in COMPLETABLE:
        return noop(run, now, ctx, "complete-refused", by, REFUSED,
                    f"a {st.action} step is not completed by a person "
                    f"(only {', '.join(COMPLETABLE)})", step_id)
    if st.action == "report" and st.status == FAILED and not st.filed_by:
        return _filed_late(run, i, by=by, now=now, ctx=ctx, note=note, evidence=items)
    if run.state != "running" or st.status != WAITING:
        return noop(run, now, ctx, "complete-late", by, LATE, f"step is {st.status}", step_id)
    d = Draft(run, now, ctx)
    d.set_step(i, filed_by=by, filed_at=now, note=note, evidence=items, reports=st.reports + 1)
    detail = (note[:200] + (f"; {len(items)} evidence item(s)" if items else "")).strip("; ")
    clock = d.clock_of(i)
    if st.action == "report":
        on_time = st.deadline is None or now <= st.deadline
        detail = f"{'on time' if on_time else 'late'}" + (f": {detail}" if detail else "")
        if clock is not None:
            detail += f" ({clock.citation}, to {clock.to})"
    if clock is not None and clock.every is not None and clock.until:
        d.log("report-filed", by, step_id, f"#{st.reports + 1} {detail}".strip())
        repeat_due(d, i, missed=False)
        nxt = d.steps[i].deadline
        d.log("next-report-due", "system", step_id, format_time(nxt) if nxt else "")
        return d.finish()
    event = {"report": "report-filed", "acknowledge": "acknowledged"}.get(st.action, "reviewed")
    end_step(d, i, ok=True, event=event, by=by, detail=detail)
    settle(d)
    return d.finish()


def _filed_late(run: PlaybookRun, i: int, *, by: str, now: datetime, ctx: RunContext,
                note: str, evidence: tuple[dict[str, str], ...]) -> Transition:
    """A report whose deadline passed still arrives: record who filed what, when (late); the
    run has already moved on, so nothing else changes."""
    d = Draft(run, now, ctx)
    st = run.steps[i]
    d.set_step(i, filed_by=by, filed_at=now, note=note, evidence=evidence,
               reports=st.reports + 1)
    clock = d.clock_of(i)
    cite = f" ({clock.citation}, to {clock.to})" if clock else ""
    d.log("report-filed", by, st.step_id, f"late, after the deadline{cite}: {note[:200]}"
          .rstrip(": "))
    return d.finish()


def _waiting_for(run: PlaybookRun, ref_id: str, actions: tuple[str, ...]) -> int | None:
    return next((i for i in run.active if run.steps[i].request_id == ref_id
                 and run.steps[i].action in actions), None)


def on_ack(run: PlaybookRun, *, by: str, now: datetime, ctx: RunContext,
           escalation_id: str | None = None, step_id: str | None = None) -> Transition:
    """An acknowledgement: of an escalation by a recipient, or of a local step by this node.

    Args:
        run: the run as stored.
        by: the acknowledging member (peer acks) or local user/role (local steps).
        now: the current time.
        ctx: this node's context.
        escalation_id: the escalation acknowledged; None for a local step.
        step_id: the local step (default: the first waiting acknowledge/report/watch step);
            prefer ``complete_step``, which also records a note and evidence.

    Returns:
        A transition; ``late`` if no waiting step has that escalation (its deadline won the
        race), ``refused`` from someone not asked, ``duplicate`` for a second ack by the same
        member.
    """
    if escalation_id is None:
        local = step_id or next((run.steps[i].step_id for i in run.active
                                 if run.steps[i].action in COMPLETABLE), None)
        if local is None:
            return noop(run, now, ctx, "ack-late", by, LATE, "no local step waits")
        return complete_step(run, local, by=by, now=now, ctx=ctx)
    i = _waiting_for(run, escalation_id, _PEER_ACKED)
    if i is None:
        return noop(run, now, ctx, "ack-late", by, LATE, escalation_id)
    current, step = run.steps[i], run.playbook.steps[i]
    if by not in current.targets:
        return noop(run, now, ctx, "ack-refused", by, REFUSED, f"{by} was not asked", step.id)
    if by in current.acked_by:
        return noop(run, now, ctx, "ack-duplicate", by, DUPLICATE, escalation_id, step.id)
    d = Draft(run, now, ctx)
    acked = (*current.acked_by, by)
    d.set_step(i, acked_by=acked)
    if step.acks == "any" or set(acked) >= set(current.targets):
        end_step(d, i, ok=True, event="acknowledged", by=by)
    else:
        d.log("acknowledged", by, step.id, f"{len(acked)} of {len(current.targets)}")
    return d.finish()


def on_decline(run: PlaybookRun, *, ref_id: str, by: str, now: datetime, ctx: RunContext,
               reason: str = "") -> Transition:
    """A recipient declines an escalation, or a member declines to co-sign an emergency.

    When the ack policy (``any``: every recipient declined; ``all``: one did) or the quorum can
    no longer be met, the step fails at once instead of waiting for its deadline.

    Returns:
        A transition, or a recorded no-op (``late``, ``refused``, ``duplicate``).
    """
    i = _waiting_for(run, ref_id, (*_PEER_ACKED, "quorum"))
    if i is None:
        return noop(run, now, ctx, "decline-late", by, LATE, ref_id)
    current, step = run.steps[i], run.playbook.steps[i]
    if by not in current.targets:
        return noop(run, now, ctx, "decline-refused", by, REFUSED, f"{by} was not asked",
                    step.id)
    if by in current.declined_by or by in current.declarations:
        return noop(run, now, ctx, "decline-duplicate", by, DUPLICATE, ref_id, step.id)
    d = Draft(run, now, ctx)
    declined = (*current.declined_by, by)
    d.set_step(i, declined_by=declined)
    d.log("declined", by, step.id, reason)
    n = len(current.targets)
    if step.action == "quorum":
        impossible = n - len(declined) < current.threshold
    else:
        impossible = len(declined) == n if step.acks == "any" else True
    if impossible:
        end_step(d, i, ok=False, event="declined", by=by)
    return d.finish()


def on_declaration(run: PlaybookRun, *, emergency_id: str, by: str, now: datetime,
                   ctx: RunContext) -> Transition:
    """A member's signed declaration toward a waiting quorum; each member counts once.

    Returns:
        A transition (on reaching k of n: ``DeclareEmergency`` and the branch goes on), or a
        recorded no-op: ``refused`` from a non-member, ``duplicate`` for a member already
        counted, ``late`` if no quorum for that emergency is open.
    """
    i = _waiting_for(run, emergency_id, ("quorum",))
    if i is None:
        return noop(run, now, ctx, "declaration-late", by, LATE, emergency_id)
    current, step = run.steps[i], run.playbook.steps[i]
    if by not in current.targets:
        return noop(run, now, ctx, "declaration-refused", by, REFUSED,
                    f"{by} is not among the {len(current.targets)} members who may declare",
                    step.id)
    if by in current.declarations:
        return noop(run, now, ctx, "declaration-duplicate", by, DUPLICATE, emergency_id,
                    step.id)
    d = Draft(run, now, ctx)
    declared = (*current.declarations, by)
    d.set_step(i, declarations=declared,
               declined_by=tuple(m for m in current.declined_by if m != by))
    d.log("declaration", by, step.id, f"{len(declared)} of {current.threshold} needed "
          f"({len(current.targets)} members)")
    if len(declared) >= current.threshold:
        end_step(d, i, ok=True, event="quorum-reached", by=by)
    return d.finish()
