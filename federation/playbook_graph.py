"""The shape of a playbook's step graph: parallel branches as spans of the step list.

    >>> g = StepGraph.build([("parallel", ["a", "c"], "d"), ("a", [], ""), ("b", [], ""),
    ...                      ("c", [], ""), ("d", [], "")], ["p", "a", "b", "c", "d"])
    >>> [None if b is None else (b.root, b.end, b.join) for b in g.lanes]
    [None, (1, 3, 4), (1, 3, 4), (3, 4, 4), None]
    >>> g.fit(1, 3)  # leaving branch a by default lands on the join, not in branch c
    4

A ``parallel`` step at index ``p`` with ``next_steps`` r1 < r2 < … < rk (r1 = p + 1) and join
``J`` (``on_completion``) covers steps p+1 … J-1: branch j is the span [rj, r(j+1)), the last
[rk, J). Writing branches one after another keeps the file readable top to bottom, and makes every
step belong to exactly one branch, so a run always knows which branch a step ends. A step's
*lane* is the innermost branch that covers it (``None`` at the top level). Moving within a
branch stays in it; a move that would leave it — the default next step, or an explicit target
equal to the join — ends the branch ("arrives at the join"); the join runs when every branch of
its parallel step has ended (CACAO 2.0: "implementations MUST wait for all steps referenced in
the 'next_steps' property to complete before moving on").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from federation.schema import json_path

__all__ = ["Branch", "StepGraph"]

# (action, next_steps ids, on_completion id) per step, enough to know the shape.
Shape = tuple[str, Sequence[str], str]


@dataclass(frozen=True)
class Branch:
    """One branch of a parallel step: steps ``root`` … ``end - 1``; ``join`` runs after all."""

    parallel: int
    root: int
    end: int
    join: int

    def covers(self, index: int) -> bool:
        return self.root <= index < self.end


@dataclass(frozen=True)
class StepGraph:
    lanes: tuple[Branch | None, ...]
    branches: dict[int, tuple[Branch, ...]]  # parallel index -> its branches

    @classmethod
    def build(cls, shapes: Sequence[Shape], ids: Sequence[str]) -> StepGraph:
        """Lanes for a step list whose parallel steps passed ``problems`` (bad ones are skipped)."""
        index = {step_id: i for i, step_id in enumerate(ids)}
        lanes: list[Branch | None] = [None] * len(shapes)
        branches: dict[int, tuple[Branch, ...]] = {}
        for p, (action, next_steps, join_id) in enumerate(shapes):
            if action != "parallel" or join_id not in index:
                continue
            roots = [index[r] for r in next_steps if r in index]
            join = index[join_id]
            outer = lanes[p]  # a nested parallel's last branch ends where its own branch does
            ends = [*roots[1:], join if outer is None else min(join, outer.end)]
            own = tuple(Branch(p, r, e, join) for r, e in zip(roots, ends, strict=True) if r < e)
            branches[p] = own
            for b in own:  # parallels are visited in index order, so nested ones win
                for i in range(b.root, b.end):
                    lanes[i] = b
        return cls(tuple(lanes), branches)

    def lane(self, index: int) -> Branch | None:
        return self.lanes[index] if 0 <= index < len(self.lanes) else None

    def fit(self, src: int, target: int) -> int:
        """Where a move from ``src`` to ``target`` lands: the join if it would leave the branch."""
        b = self.lane(src)
        if b is not None and not b.covers(target):
            return b.join
        return target

    def inside(self, parallel: int) -> range:
        """Every step a parallel step covers (all its branches, nested ones included)."""
        own = self.branches.get(parallel, ())
        return range(own[0].root, own[-1].end) if own else range(0)

    def problems(self, shapes: Sequence[Shape], ids: Sequence[str],
                 targets: Sequence[Sequence[tuple[str, str]]]) -> list[tuple[str, str]]:
        """Structure rules: branches in order right after the parallel step, joins after them and
        in the parallel step's own lane, explicit targets inside their branch or at its join.

        ``targets[i]`` lists ``(key, step id)`` of step i's explicit ``on_success``/``on_failure``.
        """
        out = _parallel_problems(shapes, ids)
        if out:
            return out
        index = {step_id: i for i, step_id in enumerate(ids)}
        for i, step_targets in enumerate(targets):
            b = self.lane(i)
            for key, target_id in step_targets:
                t = index.get(target_id, -1)
                if t < 0:
                    continue
                if b is None and self.lane(t) is not None:
                    out.append((json_path(["steps", i, key]),
                                f"{target_id!r} lies inside a parallel branch; a step outside "
                                "the branches cannot jump into one"))
                elif b is not None and not b.covers(t) and t != b.join:
                    out.append((json_path(["steps", i, key]),
                                f"{target_id!r} leaves the branch of {ids[b.root]!r} elsewhere "
                                f"than at its join {ids[b.join]!r}"))
        for p, (action, _, join_id) in enumerate(shapes):
            if action == "parallel" and join_id in index:
                outer, j = self.lane(p), index[join_id]
                if outer is not None and not outer.covers(j) and j != outer.join:
                    out.append((json_path(["steps", p, "on_completion"]),
                                f"the join {join_id!r} lies outside the branch this parallel "
                                f"step is in (branch of {ids[outer.root]!r})"))
        return out


def _parallel_problems(shapes: Sequence[Shape], ids: Sequence[str]) -> list[tuple[str, str]]:
    index = {step_id: i for i, step_id in enumerate(ids)}
    out = []
    for p, (action, next_steps, join_id) in enumerate(shapes):
        if action != "parallel":
            continue
        path = json_path(["steps", p, "next_steps"])
        missing = [r for r in next_steps if r not in index]
        if missing or join_id not in index:
            unknown = ", ".join([*missing, *([join_id] if join_id not in index else [])])
            out.append((path, f"no step(s) {unknown}"))
            continue
        roots = [index[r] for r in next_steps]
        if roots[0] != p + 1 or roots != sorted(roots):
            out.append((path, "branches are written right after the parallel step, in the "
                              f"order of next_steps: expected {ids[p + 1]!r} first and the "
                              "others later in file order"))
        elif index[join_id] <= roots[-1]:
            out.append((json_path(["steps", p, "on_completion"]),
                        f"the join {join_id!r} must come after the last branch "
                        f"({ids[roots[-1]]!r})"))
    return out
