"""Effects: what a run transition asks the node to do, as plain data.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)
    >>> ArmTimer("gb-00112233aabbccdd", "run:gb-00112233aabbccdd:step:2", t, 7).to_dict()["at"]
    '2026-11-21T12:00:00Z'

Transitions in ``federation.runs`` are pure; they return the new run and a tuple of effects. The
node persists the run and its effects in one transaction (an outbox), then executes them in
order. Every effect is safe to execute twice: messages carry stable ids (``escalation_id``,
``emergency_id``) and timers have explicit job ids armed with ``replace_existing``.

| effect | the node |
|---|---|
| ``Notify`` | tells a local role (UI, mail) |
| ``RecordIncident`` | records the incident in a local register (e.g. the hazard watch list) |
| ``SendEscalation`` | signs an ``escalation`` and publishes it to each recipient |
| ``RequestAction`` | signs an ``escalation`` with a ``request`` (e.g. suspend a deployment) |
| ``ProposeEmergency`` | signs an ``emergency`` with state ``pending`` |
| ``DeclareEmergency`` | signs an ``emergency`` with state ``active`` and the declarations |
| ``EndEmergency`` | signs an ``emergency`` with state ``none`` |
| ``PublishAdvisory`` | publishes an advisory or a status report to the audience |
| ``SendResolution`` | signs a ``resolution`` to everyone the run escalated to |
| ``ArmTimer`` | ``add_job(id=job_id, run_date=at, replace_existing=True)``, which later calls |
| | ``on_deadline(run, token=token)`` |
| ``CancelTimer`` | removes the job if it exists |

``AnyEffect`` (at the end) is the closed union of these: ``Transition.effects`` holds only its
members, and ``node.pipeline.engine._execute`` matches over it ending in ``assert_never``, so
``make lint``
fails when an effect has no branch (``tests/unit/test_effects.py`` shows mypy failing on a
dispatch that forgets one). The messages an effect causes are built by the pure builders of
``federation.run_messages``, which refuse rather than sign a placeholder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from federation.timeutil import format_time


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Effect:
    """Base of every effect; ``kind`` names it in ``to_dict`` (for an outbox table)."""

    kind: ClassVar[str] = "effect"
    run_id: str

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"kind": self.kind, **out}


@dataclass(frozen=True)
class Notify(Effect):
    kind: ClassVar[str] = "notify"
    step_id: str
    role: str
    message: str
    due: datetime | None = None


@dataclass(frozen=True)
class RecordIncident(Effect):
    kind: ClassVar[str] = "record-incident"
    step_id: str
    incident_id: str
    role: str = ""


@dataclass(frozen=True)
class SendEscalation(Effect):
    kind: ClassVar[str] = "send-escalation"
    step_id: str
    escalation_id: str
    incident_id: str
    incident_revision: int
    tier: int
    to: tuple[str, ...]
    deadline: datetime
    acks: str
    reason: str


@dataclass(frozen=True)
class RequestAction(Effect):
    kind: ClassVar[str] = "request-action"
    step_id: str
    escalation_id: str
    incident_id: str
    incident_revision: int
    tier: int
    to: tuple[str, ...]
    action: str
    deployments: tuple[str, ...]
    deadline: datetime | None
    reason: str


@dataclass(frozen=True)
class ProposeEmergency(Effect):
    kind: ClassVar[str] = "propose-emergency"
    step_id: str
    emergency_id: str
    incident_id: str
    threshold: int
    members: tuple[str, ...]
    deadline: datetime


@dataclass(frozen=True)
class DeclareEmergency(Effect):
    kind: ClassVar[str] = "declare-emergency"
    emergency_id: str
    incident_id: str
    threshold: int
    members: tuple[str, ...]
    declarations: tuple[str, ...]


@dataclass(frozen=True)
class EndEmergency(Effect):
    kind: ClassVar[str] = "end-emergency"
    emergency_id: str
    incident_id: str
    reason: str


@dataclass(frozen=True)
class PublishAdvisory(Effect):
    kind: ClassVar[str] = "publish-advisory"
    step_id: str
    incident_id: str
    report: str  # "advisory" or "status-report"
    tier: int
    to: tuple[str, ...]
    tlp: str
    title: str
    sequence: int = 0


@dataclass(frozen=True)
class SendResolution(Effect):
    kind: ClassVar[str] = "send-resolution"
    incident_id: str
    outcome: str  # "resolved" or "completed"
    escalation_ids: tuple[str, ...]
    to: tuple[str, ...]


@dataclass(frozen=True)
class ArmTimer(Effect):
    kind: ClassVar[str] = "arm-timer"
    job_id: str
    at: datetime
    token: int


@dataclass(frozen=True)
class CancelTimer(Effect):
    kind: ClassVar[str] = "cancel-timer"
    job_id: str


# The closed set of effects. Transitions carry only these, and the node dispatches over them with
# ``match`` ending in ``assert_never``: a new effect class that is added here but gets no branch
# in ``node.pipeline.engine._execute`` fails ``mypy`` (and one that is not added here cannot be
# returned).
AnyEffect = (Notify | RecordIncident | SendEscalation | RequestAction | ProposeEmergency
             | DeclareEmergency | EndEmergency | PublishAdvisory | SendResolution | ArmTimer
             | CancelTimer)
