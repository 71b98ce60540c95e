"""The fast paths of starting and saving a run say exactly what the plain ones say: the stored
JSON (``to_json``) parses to ``to_dict()``, ``evolve`` is ``dataclasses.replace``, the
playbook index starts the playbooks a scan of every trigger starts, and ``format_time``'s UTC
shortcut writes what the general path writes."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from federation.playbook import Playbook
from federation.run_model import PlaybookRun, StepState, evolve
from federation.runs import complete_step, on_ack, on_deadline, playbooks_to_start, start_run
from federation.severity import Severity
from federation.timeutil import format_time
from federation.triggers import Conditions, IncidentFacts
from tests.unit.conftest import NOW
from tests.unit.test_runs import CTX, EVIDENCE, incident, playbooks  # noqa: F401 - fixture

D = timedelta(days=1)


def _runs(by_id: dict[str, Playbook]) -> list[PlaybookRun]:
    """Runs in many states: just started, answered, past deadlines, a report filed."""
    out = []
    for pb in by_id.values():
        t = start_run(pb, incident(), now=NOW, ctx=CTX)
        out.append(t.run)
        t = on_deadline(t.run, token=t.run.token, now=NOW + 3 * D, ctx=CTX)
        out.append(t.run)
    cross = start_run(by_id["serious-incident-cross-border"], incident(), now=NOW, ctx=CTX).run
    esc = next(st.request_id for st in cross.steps if st.request_id)
    out.append(on_ack(cross, by="fr", now=NOW + D / 4, ctx=CTX, escalation_id=esc).run)
    out.append(complete_step(cross, "art73-report", by="alice", note="filed", evidence=EVIDENCE,
                             now=NOW + D, ctx=CTX).run)
    return out


def test_stored_json_is_to_dict(playbooks: dict[str, Playbook]) -> None:  # noqa: F811
    runs = _runs(playbooks)
    assert any(st.evidence for r in runs for st in r.steps)
    assert any(h.event == "deadline-missed" for r in runs for h in r.history)
    for run in runs:
        assert json.loads(run.to_json()) == run.to_dict()
        again = PlaybookRun.from_dict(json.loads(run.to_json()))
        assert again == PlaybookRun.from_dict(run.to_dict())


def test_evolve_is_replace() -> None:
    st = StepState("s1", "escalate", targets=("fr",))
    changes = {"status": "waiting", "timer_at": NOW, "acked_by": ("fr",)}
    assert evolve(st, changes) == dataclasses.replace(st, **changes)  # type: ignore[arg-type]
    assert st.status == "pending"  # the original is untouched
    with pytest.raises(TypeError, match="no field"):
        evolve(st, {"stauts": "waiting"})


def test_the_index_starts_what_every_trigger_starts(
        playbooks: dict[str, Playbook]) -> None:  # noqa: F811
    pbs = list(playbooks.values())
    for severity in Severity:
        for red in ([], ["deception"]):
            for affected in ([], ["fr"]):
                doc = incident(severity=severity.value, red_lines=red,
                               affected_jurisdictions=affected)
                for local, is_local in (("gb", True), ("fr", False)):
                    got = playbooks_to_start(pbs, None, doc, existing=[], local_id=local,
                                             is_local=is_local)
                    facts = IncidentFacts.from_document(doc)
                    want = [p for p in pbs if p.trigger.matches(facts, local_id=local,
                                                                is_local=is_local)]
                    assert got == want, (severity, red, affected, local)


@pytest.mark.parametrize("t", [
    datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    datetime(999, 1, 2, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),  # noqa: UP017 - the same object
])
def test_format_time_utc_shortcut(t: datetime) -> None:
    general = t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    assert format_time(t) == general


def test_facts_from_a_document_are_the_constructed_ones() -> None:
    """``from_document`` skips the frozen ``__init__``: it must still set every field, and the
    object must equal one built through the constructor."""
    doc = incident(red_lines=["deception"], affected_jurisdictions=["fr", "jp"])
    facts = IncidentFacts.from_document(doc)
    assert set(vars(facts)) == {f.name for f in dataclasses.fields(IncidentFacts)}
    built = IncidentFacts(**vars(facts))
    assert facts == built
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.origin = "xx"  # type: ignore[misc]


def _flags_reference(c: Conditions, f: IncidentFacts) -> bool:
    """What ``Conditions`` checked before it asked only about the conditions set."""
    others = set(f.affected_jurisdictions) - {f.origin}
    flags = ((c.cross_border, bool(others)),
             (c.critical_infrastructure, f.infrastructure_disrupted),
             (c.widespread_infringement, f.widespread), (c.deaths, f.deaths > 0))
    return all(want is None or want == have for want, have in flags)


@pytest.mark.parametrize("flag", ["cross_border", "critical_infrastructure",
                                  "widespread_infringement", "deaths"])
def test_each_flag_condition_holds_as_before(flag: str) -> None:
    docs = [incident(), incident(affected_jurisdictions=["fr", "jp"], harm_types=["human-rights"]),
            incident(critical_infrastructure_sector="energy", irreversible=True,
                     harm_quantification={"deaths": 2}, widespread_infringement=True)]
    for doc in docs:
        f = IncidentFacts.from_document(doc)
        for want in (None, True, False):
            c = Conditions(**{flag: want})
            assert c.holds(f) == _flags_reference(c, f), (flag, want, doc)
