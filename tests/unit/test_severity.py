"""The OECD severity scale: hazard < serious-hazard < incident < serious-incident < disaster."""

from __future__ import annotations

import itertools
import operator
from typing import Any

import pytest

from federation.schema import SchemaSet
from federation.severity import HARM_TYPES, RED_LINES, Severity

CHAIN = ["hazard", "serious-hazard", "incident", "serious-incident", "disaster"]


def test_the_scale_is_the_oecd_chain_in_order() -> None:
    assert [s.value for s in Severity] == CHAIN
    assert [s.rank for s in Severity] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("order", [
    CHAIN[::-1],
    ["incident", "disaster", "hazard", "serious-incident", "serious-hazard"],
    ["serious-incident", "hazard", "disaster", "serious-hazard", "incident"],
])
def test_sorting_any_order_gives_the_chain(order: list[str]) -> None:
    assert [s.value for s in sorted(Severity(v) for v in order)] == CHAIN


@pytest.mark.parametrize(("low", "high"), list(itertools.combinations(CHAIN, 2)))
def test_every_pair_compares_by_rank(low: str, high: str) -> None:
    a, b = Severity(low), Severity(high)
    assert a < b
    assert a <= b
    assert b > a
    assert b >= a
    assert a != b
    assert not b < a
    assert not a > b
    assert max(a, b) is b
    assert min(a, b) is a


@pytest.mark.parametrize("value", CHAIN)
def test_a_level_equals_only_itself(value: str) -> None:
    s = Severity(value)
    assert s == Severity(value)
    assert s <= s
    assert s >= s
    assert not s < s
    assert not s > s


def test_serious_incident_is_the_eu_ai_act_threshold() -> None:
    assert Severity.SERIOUS_INCIDENT > Severity.INCIDENT
    assert Severity.SERIOUS_INCIDENT < Severity.DISASTER
    assert [s.value for s in Severity if s >= Severity.SERIOUS_INCIDENT] == \
        ["serious-incident", "disaster"]


@pytest.mark.parametrize("other", ["hazard", 0, None])
def test_severity_does_not_order_against_other_types(other: Any) -> None:
    with pytest.raises(TypeError):
        operator.lt(Severity.HAZARD, other)
    assert other != Severity.HAZARD


@pytest.mark.parametrize("value", ["HAZARD", "critical", "serious_incident", ""])
def test_unknown_level_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="is not a valid Severity"):
        Severity(value)


def test_scale_harm_types_and_red_lines_match_the_schema(schemas: SchemaSet) -> None:
    defs = schemas.document("common")["$defs"]
    assert defs["severity"]["enum"] == CHAIN
    assert tuple(defs["harm_type"]["enum"]) == HARM_TYPES
    assert tuple(defs["red_line"]["enum"]) == RED_LINES
