"""Scorecards: the score of a set of answers, and what makes a set incomplete."""

from __future__ import annotations

import pytest

from signaling.errors import InteractionError
from signaling.scorecard import Answer, Criterion, score

CARD = [
    Criterion("greeting", "Greeted", "yes_no", 1.0),
    Criterion("disclosure", "Disclosed", "yes_no", 2.0, comment_on_fail=True),
    Criterion("resolution", "Solved", "scale", 3.0),
]


def test_the_score_is_the_weighted_share_earned():
    perfect = {"greeting": Answer(True), "disclosure": Answer(True), "resolution": Answer(5)}
    assert score(CARD, perfect) == 100.0
    mixed = {"greeting": Answer(False), "disclosure": Answer(True), "resolution": Answer(3)}
    assert score(CARD, mixed) == pytest.approx(100 * (0 + 2 + 3 * 0.5) / 6, abs=0.1)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"greeting": Answer(True), "disclosure": Answer(True)}, "resolution: not answered"),
        (
            {"greeting": Answer(True), "disclosure": Answer(False), "resolution": Answer(4)},
            "disclosure: a comment is required when it fails",
        ),
        (
            {"greeting": Answer(2), "disclosure": Answer(True), "resolution": Answer(4)},
            "greeting: answer yes or no",
        ),
        (
            {"greeting": Answer(True), "disclosure": Answer(True), "resolution": Answer(6)},
            "resolution: answer 1 to 5",
        ),
        (
            {
                "greeting": Answer(True),
                "disclosure": Answer(True),
                "resolution": Answer(True),
            },
            "resolution: answer 1 to 5",
        ),
        ({"nope": Answer(True)}, "no such criterion: nope"),
    ],
)
def test_incomplete_or_wrong_answers_are_refused_by_name(answers, message):
    with pytest.raises(InteractionError) as err:
        score(CARD, answers)
    assert (err.value.code, err.value.message) == ("bad_message", message)


def test_a_failed_criterion_with_its_comment_counts():
    answers = {
        "greeting": Answer(True),
        "disclosure": Answer(False, "did not say it"),
        "resolution": Answer(1),
    }
    assert score(CARD, answers) == pytest.approx(100 / 6, abs=0.1)
