"""Scorecards: what a QA reviewer answers about a session, and the score it gives (pure).

A scorecard is a list of criteria, each with a weight and an answer type: ``yes_no``
(yes passes) or ``scale`` (1 to 5; 3 or more passes). A criterion may require a comment
when it fails. The score is the weighted share of what was earned, 0 to 100: a yes or a 5
earns the whole weight, a 1 nothing, a 3 half.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import msgspec

from signaling.errors import InteractionError


class Criterion(msgspec.Struct, frozen=True):
    id: str
    label: str
    kind: Literal["yes_no", "scale"] = "yes_no"
    weight: float = 1.0
    comment_on_fail: bool = False


class Answer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    value: bool | int
    comment: str = ""


def _earned(c: Criterion, a: Answer) -> tuple[float, bool]:
    """(share of the weight earned, passed)."""
    if c.kind == "yes_no":
        if not isinstance(a.value, bool):
            raise InteractionError("bad_message", f"{c.id}: answer yes or no")
        return (1.0 if a.value else 0.0), a.value
    if isinstance(a.value, bool) or not 1 <= a.value <= 5:
        raise InteractionError("bad_message", f"{c.id}: answer 1 to 5")
    return (a.value - 1) / 4, a.value >= 3


def score(criteria: Sequence[Criterion], answers: Mapping[str, Answer]) -> float:
    """The score, 0 to 100, of a complete set of answers; InteractionError if it is not one."""
    unknown = sorted(set(answers) - {c.id for c in criteria})
    if unknown:
        raise InteractionError("bad_message", f"no such criterion: {', '.join(unknown)}")
    total = earned = 0.0
    for c in criteria:
        a = answers.get(c.id)
        if a is None:
            raise InteractionError("bad_message", f"{c.id}: not answered")
        share, passed = _earned(c, a)
        if not passed and c.comment_on_fail and not a.comment.strip():
            raise InteractionError("bad_message", f"{c.id}: a comment is required when it fails")
        total += c.weight
        earned += c.weight * share
    return round(100 * earned / total, 1) if total else 0.0
