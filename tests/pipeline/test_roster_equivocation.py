"""A council that signs two different roster versions N is reported once per fork by each node
that sees it, as a signed incident every member receives."""

from __future__ import annotations

from pathlib import Path

from node.bus.roster_sync import report_equivocation
from tests.pipeline.world import World


def test_a_roster_fork_is_reported_once_and_reaches_every_member(tmp_path: Path) -> None:
    chosen, rival = "a" * 64, "b" * 64
    with World.create(tmp_path, ["gb", "fr", "jp"]) as world:
        fr = world.nodes["fr"]
        report_equivocation(fr, 3, chosen, (rival,))
        world.clock.advance(seconds=5)
        report_equivocation(fr, 3, chosen, (rival,))  # the follower sees it again
        world.deliver()
        for name, ctx in world.nodes.items():
            rows = ctx.store.query("SELECT origin, title, document FROM incidents WHERE "
                                   "title LIKE 'Verification failure: the council signed%'")
            assert [r["origin"] for r in rows] == ["fr"], name
            assert "roster v3" in rows[0]["title"] and rival in rows[0]["document"]
        report_equivocation(fr, 4, chosen, (rival,))  # another fork is another report
        assert len(fr.store.query("SELECT 1 FROM incidents WHERE origin = 'fr'")) == 2
