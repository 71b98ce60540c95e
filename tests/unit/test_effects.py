"""Effects are a closed union, and dispatch over them is checked by mypy (federation/effects.py,
node/pipeline/engine.py::_execute)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from mypy import api as mypy_api

from federation import effects
from federation.effects import AnyEffect, Effect


def test_every_effect_class_is_in_the_closed_union() -> None:
    members = set(get_args(AnyEffect))
    declared = {c for c in vars(effects).values()
                if isinstance(c, type) and issubclass(c, Effect) and c is not Effect}
    assert declared == members


DISPATCH = """
from typing import assert_never
from federation.effects import *

def dispatch(effect: AnyEffect) -> str:
    match effect:
        case {cases}:
            return "handled"
        case _:
            assert_never(effect)
"""


def mypy_on_dispatch(tmp_path: Path, handled: list[type[Effect]]) -> tuple[int, str]:
    snippet = tmp_path / "dispatch.py"
    snippet.write_text(DISPATCH.replace("{cases}", " | ".join(f"{c.__name__}()"
                                                              for c in handled)))
    out, _, status = mypy_api.run(["--strict", "--no-incremental", "--follow-imports=silent",
                                   "--python-version", "3.11", str(snippet)])
    return status, out


def test_mypy_fails_when_an_effect_has_no_branch(tmp_path: Path) -> None:
    every: list[type[Effect]] = list(get_args(AnyEffect))
    status, out = mypy_on_dispatch(tmp_path, every)
    assert status == 0, out  # the control: every effect handled, mypy is content
    forgot = [c for c in every if c is not effects.SendResolution]
    status, out = mypy_on_dispatch(tmp_path, forgot)
    assert status != 0
    assert 'Argument 1 to "assert_never" has incompatible type "SendResolution"' in out
