"""SKILL_17 experiment: A/B variant assignment and evaluation over skill/prompt versions.

Assignment is a pure hash of (experiment, unit), so a unit keeps its variant across runs and
machines without any stored state. Evaluation is two-sided: a two-proportion z-test for 0/1
outcomes, Welch's t-test for continuous ones; the candidate is promoted only when the difference
is significant *and* in the better direction.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Literal

from nf_skills.contracts import ExperimentDecision
from shared.errors import NFError

SKILL_ID = "SKILL_17"
VERSION = "1.0.0"


def assign_variant(
    experiment_id: str,
    unit_id: str,
    variants: list[str],
    weights: list[float] | None = None,
) -> str:
    """Deterministic weighted bucket: sha256(experiment, unit) -> [0, 1) -> variant."""
    if not variants or len(set(variants)) != len(variants):
        raise NFError("NF-SKILL-001", "variants must be a non-empty list of distinct names")
    w = [1.0] * len(variants) if weights is None else [float(x) for x in weights]
    if len(w) != len(variants) or any(not math.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
        raise NFError("NF-SKILL-001", "weights must be one non-negative number per variant")
    digest = hashlib.sha256(f"{experiment_id}\x1f{unit_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    total = sum(w)
    acc = 0.0
    for name, x in zip(variants, w, strict=True):
        acc += x / total
        if u < acc and x > 0:
            return name
    # Float rounding can leave u just above the last cumulative share.
    return next(name for name, x in reversed(list(zip(variants, w, strict=True))) if x > 0)


def _proportion(control: Sequence[float], candidate: Sequence[float]) -> tuple[float, float]:
    """(Cohen's h, two-sided p) of the pooled two-proportion z-test, candidate vs control."""
    n1, n2 = len(control), len(candidate)
    p1, p2 = sum(control) / n1, sum(candidate) / n2
    h = 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))
    pooled = (sum(control) + sum(candidate)) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:  # everyone succeeded or everyone failed, in both arms
        return h, 1.0
    z = (p2 - p1) / se
    return h, math.erfc(abs(z) / math.sqrt(2))  # two-sided normal tail, no scipy


def _continuous(control: Sequence[float], candidate: Sequence[float]) -> tuple[float | None, float]:
    """(Cohen's d with the pooled SD, two-sided p of Welch's t-test), candidate vs control."""
    n1, n2 = len(control), len(candidate)
    m1, m2 = sum(control) / n1, sum(candidate) / n2
    v1 = sum((x - m1) ** 2 for x in control) / (n1 - 1)
    v2 = sum((x - m2) ** 2 for x in candidate) / (n2 - 1)
    pooled_sd = math.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2))
    if pooled_sd == 0:  # both arms constant: the test is undefined, the answer is not
        return (0.0 if m1 == m2 else None), (1.0 if m1 == m2 else 0.0)
    from scipy import stats  # here, not at import: scipy.stats costs every run start ~1.4 s

    p = stats.ttest_ind(candidate, control, equal_var=False).pvalue
    return (m2 - m1) / pooled_sd, float(p)


def evaluate_experiment(
    control: list[float],
    candidate: list[float],
    *,
    metric_kind: Literal["proportion", "continuous"],
    min_samples: int,
    alpha: float = 0.05,
    higher_is_better: bool = True,
) -> ExperimentDecision:
    if metric_kind not in ("proportion", "continuous"):
        raise NFError("NF-SKILL-001", f"unknown metric_kind {metric_kind!r}")
    if min_samples < 2 or not 0 < alpha < 1:
        raise NFError("NF-SKILL-001", "need min_samples >= 2 and 0 < alpha < 1")
    values = [*control, *candidate]
    if any(not math.isfinite(x) for x in values):
        raise NFError("NF-SKILL-001", "metric values must be finite numbers")
    if metric_kind == "proportion" and any(x not in (0, 1) for x in values):
        raise NFError("NF-SKILL-001", "proportion metrics take 0/1 outcomes")

    n1, n2 = len(control), len(candidate)
    m1 = sum(control) / n1 if n1 else None
    m2 = sum(candidate) / n2 if n2 else None

    def decide(decision: str, reason: str, effect: float | None = None, p: float | None = None):
        return ExperimentDecision(
            metric_kind=metric_kind,
            n_control=n1,
            n_candidate=n2,
            mean_control=m1,
            mean_candidate=m2,
            effect_size=effect,
            p_value=p,
            alpha=alpha,
            decision=decision,
            reason=reason,
            skill_version=VERSION,
        )

    if min(n1, n2) < min_samples:
        return decide(
            "insufficient_data",
            f"need {min_samples} samples per variant, have control={n1}, candidate={n2}",
        )
    if metric_kind == "proportion":
        effect, p = _proportion(control, candidate)
        test = "two-proportion z-test"
    else:
        effect, p = _continuous(control, candidate)
        test = "Welch's t-test"
    assert m1 is not None and m2 is not None
    if p >= alpha or m1 == m2:
        return decide(
            "no_difference",
            f"{test}: p={p:.4g} >= alpha={alpha} (means {m1:.4g} vs {m2:.4g})",
            effect,
            p,
        )
    better = (m2 > m1) == higher_is_better
    return decide(
        "promote_candidate" if better else "keep_control",
        f"{test}: p={p:.4g} < alpha={alpha}; candidate is {'better' if better else 'worse'} "
        f"(means {m1:.4g} -> {m2:.4g})",
        effect,
        p,
    )
