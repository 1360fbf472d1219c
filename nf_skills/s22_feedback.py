"""SKILL_22 feedback: ratings and tags on outputs, summarised per producing skill version.

The summary is what a proposal cites ("SKILL_13 1.2.0: mean 2.1 over 40 ratings, 65% negative,
mostly 'wrong character'"), and `ratings_by_version` gives SKILL_17 its samples.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from nf_skills.contracts import FeedbackGroup, FeedbackItem, FeedbackSummary

SKILL_ID = "SKILL_22"
VERSION = "1.0.0"

NEGATIVE_AT_MOST = 2  # ratings 1-2 of 5 are complaints
TOP_TAGS = 5


def _tags(item: FeedbackItem) -> list[str]:
    """Tags normalised (trimmed, case-folded, spaces collapsed) and counted once per item."""
    return list(dict.fromkeys(" ".join(t.split()).casefold() for t in item.tags if t.strip()))


def _top(counter: Counter[str]) -> list[str]:
    return [t for t, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_TAGS]]


def feedback_metrics(feedback: list[FeedbackItem]) -> FeedbackSummary:
    groups: dict[tuple[str, str], list[FeedbackItem]] = defaultdict(list)
    for item in feedback:
        groups[(item.skill_id, item.skill_version)].append(item)
    out: list[FeedbackGroup] = []
    for (skill_id, version), items in sorted(groups.items()):
        negative = [i for i in items if i.rating <= NEGATIVE_AT_MOST]
        out.append(
            FeedbackGroup(
                skill_id=skill_id,
                skill_version=version,
                n=len(items),
                mean_rating=round(sum(i.rating for i in items) / len(items), 4),
                share_negative=round(len(negative) / len(items), 4),
                top_tags=_top(Counter(t for i in items for t in _tags(i))),
                negative_tags=_top(Counter(t for i in negative for t in _tags(i))),
            )
        )
    return FeedbackSummary(groups=out, n=len(feedback), skill_version=VERSION)


def ratings_by_version(feedback: list[FeedbackItem], skill_id: str) -> dict[str, list[float]]:
    """Ratings of one skill grouped by its version, in input order (samples for SKILL_17)."""
    out: dict[str, list[float]] = defaultdict(list)
    for item in feedback:
        if item.skill_id == skill_id:
            out[item.skill_version].append(float(item.rating))
    return dict(out)
