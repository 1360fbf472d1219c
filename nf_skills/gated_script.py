"""SKILL_10 under the SKILL_16 content gate: the content gate's degradation loop.

A condensed script that the gate rejects is adapted again by SKILL_10's simpler
summary-anchored mode; the step is returned so the caller can record it.
"""

from __future__ import annotations

from typing import Any

from nf_skills import s10_script_adapt, s13_storyboard, s16_content_gate
from nf_skills.contracts import Chapter, ChapterUnderstanding, Persona, Script

FALLBACK_MODE = "summary_anchored"


def adapt_gated(
    chapter: Chapter,
    understanding: ChapterUnderstanding,
    personas: list[Persona],
    language: str,
    **options: Any,
) -> tuple[Script, list[dict]]:
    """(script, degradation steps taken: empty when the first script passed). `options` are
    SKILL_10 keyword options of a skill version (e.g. target_seconds, mode)."""
    script = s10_script_adapt.adapt_script(chapter, understanding, personas, language, **options)
    board = s13_storyboard.make_storyboard(script, understanding, personas=personas)
    gate = s16_content_gate.content_gate(chapter, understanding, script, board, personas)
    if gate.passed:
        return script, []
    failed = "; ".join(
        f"{f.rule}={f.value:.3g} < {f.threshold:.3g}" for f in gate.findings if not f.passed
    )
    fallback = s10_script_adapt.adapt_script(
        chapter, understanding, personas, language, **{**options, "mode": FALLBACK_MODE}
    )
    step = {
        "item": f"script {chapter.index}",
        "attempt": 1,
        "from": script.mode,
        "fallback": FALLBACK_MODE,
        "reason": f"content gate: {failed}",
        "error_code": "NF-GATE-001",
    }
    return fallback, [step]
