from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from nf_skills import s17_experiment
from nf_skills.s17_experiment import assign_variant, evaluate_experiment
from shared.errors import NFError


def test_assignment_is_deterministic_and_follows_weights() -> None:
    variants = ["control", "candidate"]
    first = [assign_variant("exp-1", f"u{i}", variants) for i in range(200)]
    assert first == [assign_variant("exp-1", f"u{i}", variants) for i in range(200)]
    # Another experiment reshuffles the units.
    other = [assign_variant("exp-2", f"u{i}", variants) for i in range(200)]
    assert other != first
    counts = Counter(assign_variant("exp-w", f"u{i}", variants, [0.8, 0.2]) for i in range(5000))
    assert counts["control"] / 5000 == pytest.approx(0.8, abs=0.03)
    assert {assign_variant("e", f"u{i}", ["a", "b", "c"], [1, 0, 1]) for i in range(500)} == {
        "a",
        "c",
    }


@pytest.mark.parametrize(
    ("variants", "weights"),
    [([], None), (["a", "a"], None), (["a", "b"], [1.0]), (["a", "b"], [-1, 2]), (["a"], [0])],
)
def test_bad_assignment_input(variants, weights) -> None:
    with pytest.raises(NFError):
        assign_variant("e", "u", variants, weights)


def test_proportion_candidate_truly_better_is_promoted() -> None:
    rng = np.random.default_rng(7)
    control = (rng.random(600) < 0.30).astype(int).tolist()
    candidate = (rng.random(600) < 0.45).astype(int).tolist()
    d = evaluate_experiment(control, candidate, metric_kind="proportion", min_samples=100)
    assert d.decision == "promote_candidate"
    assert d.skill_version == s17_experiment.VERSION
    assert (d.n_control, d.n_candidate) == (600, 600)
    p1, p2 = sum(control) / 600, sum(candidate) / 600
    assert d.mean_control == pytest.approx(p1) and d.mean_candidate == pytest.approx(p2)
    assert d.effect_size == pytest.approx(2 * math.asin(p2**0.5) - 2 * math.asin(p1**0.5))
    pooled = (sum(control) + sum(candidate)) / 1200
    z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (2 / 600))
    assert d.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert d.p_value < 0.05


def test_proportion_equal_rates_are_not_promoted() -> None:
    promoted = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        control = (rng.random(400) < 0.4).astype(int).tolist()
        candidate = (rng.random(400) < 0.4).astype(int).tolist()
        d = evaluate_experiment(control, candidate, metric_kind="proportion", min_samples=100)
        assert d.decision in {"no_difference", "keep_control", "promote_candidate"}
        promoted += d.decision == "promote_candidate"
    assert promoted <= 2  # alpha = 0.05, one-sided share of false positives ~2.5%


def test_continuous_welch_and_direction() -> None:
    rng = np.random.default_rng(3)
    control = rng.normal(3.0, 1.0, 80).tolist()
    candidate = rng.normal(3.6, 1.5, 60).tolist()
    d = evaluate_experiment(control, candidate, metric_kind="continuous", min_samples=30)
    assert d.decision == "promote_candidate"
    assert d.p_value == pytest.approx(stats.ttest_ind(candidate, control, equal_var=False).pvalue)
    s1, s2 = np.std(control, ddof=1), np.std(candidate, ddof=1)
    pooled = math.sqrt((79 * s1**2 + 59 * s2**2) / 138)
    assert d.effect_size == pytest.approx((np.mean(candidate) - np.mean(control)) / pooled)
    # Same data, but the metric is a cost (seconds, errors): higher is worse.
    worse = evaluate_experiment(
        control, candidate, metric_kind="continuous", min_samples=30, higher_is_better=False
    )
    assert worse.decision == "keep_control"


def test_continuous_same_distribution_is_no_difference() -> None:
    rng = np.random.default_rng(11)
    d = evaluate_experiment(
        rng.normal(5, 1, 200).tolist(),
        rng.normal(5, 1, 200).tolist(),
        metric_kind="continuous",
        min_samples=50,
    )
    assert d.decision == "no_difference" and d.p_value >= 0.05


def test_too_few_samples_is_insufficient_data() -> None:
    d = evaluate_experiment([1, 0, 1], [1, 1, 1, 1], metric_kind="proportion", min_samples=10)
    assert d.decision == "insufficient_data"
    assert d.p_value is None and d.effect_size is None
    assert "10" in d.reason
    empty = evaluate_experiment([], [1.0, 2.0], metric_kind="continuous", min_samples=2)
    assert empty.decision == "insufficient_data" and empty.mean_control is None


def test_degenerate_constant_arms() -> None:
    same = evaluate_experiment([1] * 50, [1] * 50, metric_kind="proportion", min_samples=10)
    assert same.decision == "no_difference" and same.p_value == 1.0
    flat = evaluate_experiment([2.0] * 20, [2.0] * 20, metric_kind="continuous", min_samples=10)
    assert flat.decision == "no_difference"
    apart = evaluate_experiment([2.0] * 20, [3.0] * 20, metric_kind="continuous", min_samples=10)
    assert apart.decision == "promote_candidate" and apart.effect_size is None


@pytest.mark.parametrize(
    "kw",
    [
        {"metric_kind": "proportion", "min_samples": 2, "control": [0.5, 1], "candidate": [1, 1]},
        {"metric_kind": "continuous", "min_samples": 1, "control": [1.0], "candidate": [1.0]},
        {"metric_kind": "continuous", "min_samples": 2, "alpha": 1.5},
        {"metric_kind": "continuous", "min_samples": 2, "control": [float("nan"), 1.0]},
        {"metric_kind": "median", "min_samples": 2},
    ],
)
def test_bad_evaluation_input(kw) -> None:
    kw.setdefault("control", [1.0, 2.0])
    kw.setdefault("candidate", [1.0, 2.0])
    with pytest.raises(NFError):
        evaluate_experiment(kw.pop("control"), kw.pop("candidate"), **kw)
