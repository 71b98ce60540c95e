"""The ordered severity scale of the OECD common reporting framework (DESIGN §4).

    >>> Severity("serious-hazard") < Severity.INCIDENT
    True
    >>> max(Severity.HAZARD, Severity.DISASTER).value
    'disaster'

``serious-incident`` matches EU AI Act Art. 3(49).
"""

from __future__ import annotations

import enum
import functools


@functools.total_ordering
class Severity(enum.Enum):
    HAZARD = "hazard"
    SERIOUS_HAZARD = "serious-hazard"
    INCIDENT = "incident"
    SERIOUS_INCIDENT = "serious-incident"
    DISASTER = "disaster"

    @property
    def rank(self) -> int:
        return _RANK[self]  # (a list scan per comparison was a visible share of matching)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_ORDER = list(Severity)
_RANK = {s: i for i, s in enumerate(_ORDER)}

HARM_TYPES = (
    "physical", "psychological", "economic-property", "reputational", "environmental",
    "public-interest", "human-rights",
)

# IDAIS-Beijing red lines (2024); any crossing sends a report to the top escalation tier.
RED_LINES = (
    "autonomous-replication-or-improvement", "power-seeking", "assisting-weapon-development",
    "cyberattacks", "deception",
)
