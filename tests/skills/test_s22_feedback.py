from __future__ import annotations

import pytest
from pydantic import ValidationError

from nf_skills import s22_feedback
from nf_skills.contracts import FeedbackItem
from nf_skills.s17_experiment import evaluate_experiment
from nf_skills.s22_feedback import feedback_metrics, ratings_by_version


def _item(rating: int, version: str, tags=(), skill: str = "SKILL_13") -> FeedbackItem:
    return FeedbackItem(
        target_kind="panel",
        target_id=f"p-{rating}-{version}",
        rating=rating,
        tags=list(tags),
        skill_id=skill,
        skill_version=version,
    )


FEEDBACK = [
    _item(1, "1.0.0", ["Wrong character", "blurry"]),
    _item(2, "1.0.0", ["wrong  character", "Wrong Character"]),  # one item counts a tag once
    _item(4, "1.0.0", ["blurry"]),
    _item(5, "1.1.0", ["nice"]),
    _item(4, "1.1.0"),
    _item(3, "2.0.0", ["slow"], skill="SKILL_20"),
]


def test_summary_per_skill_version() -> None:
    summary = feedback_metrics(FEEDBACK)
    assert summary.n == 6 and summary.skill_version == s22_feedback.VERSION
    keys = [(g.skill_id, g.skill_version) for g in summary.groups]
    assert keys == [("SKILL_13", "1.0.0"), ("SKILL_13", "1.1.0"), ("SKILL_20", "2.0.0")]
    old, new, other = summary.groups
    assert old.n == 3 and old.mean_rating == pytest.approx(7 / 3, abs=1e-4)
    assert old.share_negative == pytest.approx(2 / 3, abs=1e-4)
    assert old.top_tags == ["blurry", "wrong character"]  # 2 each: ties go by name
    assert old.negative_tags == ["wrong character", "blurry"]
    assert new.mean_rating == 4.5 and new.share_negative == 0 and new.negative_tags == []
    assert other.top_tags == ["slow"]


def test_empty_feedback_and_rating_bounds() -> None:
    assert feedback_metrics([]).groups == [] and feedback_metrics([]).n == 0
    with pytest.raises(ValidationError):
        _item(6, "1.0.0")
    with pytest.raises(ValidationError):
        _item(0, "1.0.0")


def test_ratings_feed_the_experiment() -> None:
    by_version = ratings_by_version(FEEDBACK, "SKILL_13")
    assert by_version == {"1.0.0": [1.0, 2.0, 4.0], "1.1.0": [5.0, 4.0]}
    d = evaluate_experiment(
        by_version["1.0.0"], by_version["1.1.0"], metric_kind="continuous", min_samples=5
    )
    assert d.decision == "insufficient_data"
