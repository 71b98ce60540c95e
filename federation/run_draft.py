"""The working copy of one run transition (used by ``run_steps``, ``run_inputs``, ``runs``).

    d = Draft(run, now, ctx); d.set_step(i, status="waiting"); transition = d.finish()

A ``Draft`` collects the changes one transition makes — step states, history, effects — and
``finish`` freezes them into a new ``PlaybookRun``, raising the token and arming (or cancelling)
the timer of every step whose wake-up changed; each armed step remembers the token
(``timer_token``), so its own timer stays valid while other branches move on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from federation.effects import AnyEffect, ArmTimer, CancelTimer
from federation.playbook import Step
from federation.regimes import Clock
from federation.run_model import (
    APPLIED,
    RUNNING,
    WAITING,
    HistoryEntry,
    PlaybookRun,
    RunContext,
    Transition,
    evolve,
)

__all__ = ["Draft", "noop"]


class Draft:
    """The mutable working copy of one transition."""

    def __init__(self, run: PlaybookRun, now: datetime, ctx: RunContext) -> None:
        self.run, self.now, self.ctx = run, now, ctx
        self.steps = list(run.steps)
        self.history = list(run.history)
        self.effects: list[AnyEffect] = []
        self.state, self.tier, self.facts = run.state, run.tier, run.facts
        self.closed_at, self.close_reason = run.closed_at, run.close_reason
        self.emergency_id, self.emergency_state = run.emergency_id, run.emergency_state
        self.resolved_at = run.resolved_at

    def log(self, event: str, by: str, step: str = "", detail: str = "") -> None:
        self.history.append(HistoryEntry(self.now, event, by, step, detail))

    def set_step(self, index: int, **changes: Any) -> None:
        self.steps[index] = evolve(self.steps[index], changes)

    def waiting(self) -> list[int]:
        return [i for i, st in enumerate(self.steps) if st.status == WAITING]

    def finish(self, outcome: str = APPLIED, *, bump: bool = True) -> Transition:
        """Freeze into a new run; if ``bump``, raise the token and (re-)arm changed timers."""
        token = self.run.token + 1 if bump else self.run.token
        effects = list(self.effects)
        if bump:
            effects += self._timer_effects(token)
        run = evolve(self.run, {
            "facts": self.facts, "state": self.state, "tier": self.tier, "token": token,
            "steps": tuple(self.steps), "history": tuple(self.history),
            "closed_at": self.closed_at, "close_reason": self.close_reason,
            "emergency_id": self.emergency_id, "emergency_state": self.emergency_state,
            "resolved_at": self.resolved_at})
        return Transition(run, tuple(effects), outcome)

    def _timer_effects(self, token: int) -> list[AnyEffect]:
        out: list[AnyEffect] = []
        for i, (old, new) in enumerate(zip(self.run.steps, self.steps, strict=True)):
            was = old.timer_at if old.status == WAITING else None
            now = new.timer_at if new.status == WAITING and self.state == RUNNING else None
            job = self.run.job_id(new.step_id)
            if now is not None and (now != was or new.timer_token == 0):
                self.steps[i] = evolve(new, {"timer_token": token})
                out.append(ArmTimer(self.run.id, job, now, token))
            elif was is not None and now is None:
                out.append(CancelTimer(self.run.id, job))
        return out

    def step(self, index: int) -> Step:
        return self.run.playbook.steps[index]

    def clock_of(self, index: int) -> Clock | None:
        """The regulatory clock step ``index`` runs on now (a ``deadline_when`` may pick one)."""
        cid = self.steps[index].clock_id
        return self.run.playbook.clocks().get(cid) if cid else self.step(index).regime

    def anchor(self, clock: Clock) -> datetime | None:
        """When ``clock`` starts for this run; None while its anchor event has not happened."""
        if clock.anchor in ("awareness", "crossed-threshold"):
            return self.facts.aware_at or self.run.started_at
        if clock.anchor == "resolved":
            return self.resolved_at
        if clock.anchor == "notification-submitted":
            filed = [st.filed_at for st in self.steps
                     if st.clock_id in clock.after and st.filed_at is not None]
            return max(filed) if filed else self.now  # not filed here: from entering the step
        return self.now  # "request": from the request, i.e. now

    def deadline(self, step: Step) -> tuple[datetime | None, str]:
        """The step's deadline (scaled) and the id of the regulatory clock that set it."""
        duration, clock = step.deadline_for(self.facts)
        if clock is not None:
            anchor = self.anchor(clock)
            if anchor is None:
                return None, clock.id
            if clock.immediately:  # the law gives no number: the playbook's internal target
                return (anchor + self.ctx.scaled(duration) if duration else anchor), clock.id
            return clock.due(anchor, self.ctx.time_scale), clock.id
        if duration is None:
            return None, ""
        anchor = self.now
        if step.clock == "awareness":  # regulatory clocks start at awareness (DESIGN §7)
            anchor = self.facts.aware_at or self.run.started_at
        return anchor + self.ctx.scaled(duration), ""

    def reason(self) -> str:
        f = self.facts
        what = f"{f.severity.value if f.severity else f.kind} {f.incident_id}"
        lines = f"; red lines: {', '.join(sorted(f.red_lines))}" if f.red_lines else ""
        return f"{self.run.playbook.title}: {what}{lines}"


def noop(run: PlaybookRun, now: datetime, ctx: RunContext, event: str, by: str, outcome: str,
         detail: str, step: str = "") -> Transition:
    """Record an input that changes nothing: same state, same token, so armed timers stay valid."""
    d = Draft(run, now, ctx)
    d.log(event, by, step, detail)
    return d.finish(outcome, bump=False)
