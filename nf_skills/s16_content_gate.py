"""SKILL_16 content_gate: does the script/storyboard still tell *this* chapter, faithfully?

Findings (value vs threshold, higher is better, all must pass):

- coverage.scenes: share of the chapter's scenes with at least one script line;
- coverage.spread: share of equal stretches of the chapter touched by a script line (a condensed
  script cannot cover every sentence, but it must not stop half-way);
- coverage.summary: share of summary sentences (SKILL_04) echoed by a script line;
- grounding: share of script lines whose words come from their recorded source range;
- dialogue.fidelity: the worst dialogue line's containment in the source quote it adapts;
- storyboard.lines_once: share of script lines that sit in exactly one shot;
- storyboard.non_empty_shots: share of shots with a caption and at least one line;
- storyboard.scenes_with_shots: share of scripted scenes with at least one shot;
- persona.speakers_known: share of attributed dialogue lines whose speaker is a persona;
- persona.speakers_in_shot: share of attributed dialogue lines whose speaker is in the shot.
"""

from __future__ import annotations

from collections import Counter

from nf_skills.contracts import (
    Chapter,
    ChapterUnderstanding,
    ContentGateThresholds,
    GateFinding,
    GateResult,
    Persona,
    Script,
    Storyboard,
)
from nf_skills.s03_chunk import containment, speech_units
from nf_skills.s10_script_adapt import (
    COVERAGE_BINS,
    MIN_NARRATION_UNITS,
    SUMMARY_MATCH,
    echoes,
    persona_index,
)
from shared.errors import NFError
from shared.text import detect_language

SKILL_ID = "SKILL_16"
VERSION = "1.0.0"

GROUNDED = 0.8  # containment of a line in its source range that counts as grounded


def _share(good: int, total: int) -> float:
    return good / total if total else 1.0


def _finding(rule: str, value: float, threshold: float, detail: str = "") -> GateFinding:
    return GateFinding(
        rule=rule,
        passed=value >= threshold - 1e-9,
        value=round(value, 4),
        threshold=threshold,
        detail=detail,
    )


def _examples(items: list[str], limit: int = 3) -> str:
    return "; ".join(items[:limit]) + (
        f" (+{len(items) - limit} more)" if len(items) > limit else ""
    )


def content_gate(
    chapter: Chapter,
    understanding: ChapterUnderstanding,
    script: Script,
    storyboard: Storyboard,
    personas: list[Persona],
    *,
    thresholds: ContentGateThresholds | None = None,
) -> GateResult:
    t = thresholds or ContentGateThresholds()
    text = chapter.text
    if not text.strip():
        raise NFError("NF-SKILL-001", f"chapter {chapter.index} has no text to gate against")
    if len({chapter.index, understanding.chapter_index, script.chapter_index,
            storyboard.chapter_index}) != 1:  # fmt: skip
        raise NFError("NF-SKILL-001", "gate inputs are for different chapters")
    lines = script.lines
    for ln in lines:
        if not 0 <= ln.source_start <= ln.source_end <= len(text):
            raise NFError("NF-SKILL-001", f"line {ln.index} has source offsets outside the chapter")
    findings: list[GateFinding] = []

    # Coverage ------------------------------------------------------------------------------
    scenes = [s for s in understanding.scenes if text[s.start : s.end].strip()]
    scripted = {ln.scene_index for ln in lines}
    missing = [s.index for s in scenes if s.index not in scripted]
    findings.append(
        _finding(
            "coverage.scenes",
            _share(len(scenes) - len(missing), len(scenes)),
            t.min_scene_coverage,
            f"scenes without a line: {missing}" if missing else "",
        )
    )

    width = max(1, len(text)) / COVERAGE_BINS
    bins_with_text = {
        b for b in range(COVERAGE_BINS) if speech_units(text[int(b * width) : int((b + 1) * width)])
    }
    touched: set[int] = set()
    for ln in lines:
        first = int(ln.source_start / width)
        last = int(max(ln.source_start, ln.source_end - 1) / width)
        touched.update(range(first, min(last, COVERAGE_BINS - 1) + 1))
    empty_bins = sorted(bins_with_text - touched)
    findings.append(
        _finding(
            "coverage.spread",
            _share(len(bins_with_text & touched), len(bins_with_text)),
            t.min_source_spread,
            f"untouched tenths of the chapter: {[b + 1 for b in empty_bins]}" if empty_bins else "",
        )
    )

    # A summary "sentence" too short to narrate (a verse lead-in like 诗曰) cannot be echoed.
    language = detect_language(text)
    summary = [
        s
        for s in understanding.summary.sentences
        if speech_units(s) >= MIN_NARRATION_UNITS[language]
    ]
    echoed = [s for s in summary if any(echoes(ln.text, s) for ln in lines)]
    # A summary sentence can also be echoed across several condensed lines.
    joined = " ".join(ln.text for ln in lines)
    echoed += [s for s in summary if s not in echoed and containment(s, joined) >= SUMMARY_MATCH]
    findings.append(
        _finding(
            "coverage.summary",
            _share(len(echoed), len(summary)),
            t.min_summary_coverage,
            _examples([s[:40] for s in summary if s not in echoed]),
        )
    )

    # Fidelity ------------------------------------------------------------------------------
    ungrounded = [
        ln.index
        for ln in lines
        if containment(ln.text, text[ln.source_start : ln.source_end]) < GROUNDED
    ]
    findings.append(
        _finding(
            "grounding",
            _share(len(lines) - len(ungrounded), len(lines)),
            t.min_grounding,
            f"lines not found in their source range: {ungrounded[:10]}" if ungrounded else "",
        )
    )

    quotes = [(d.start, d.end, d.quote) for d in understanding.dialogue]
    worst, notes = 1.0, []
    for ln in lines:
        if ln.kind != "dialogue":
            continue
        overlapping = [
            q
            for s, e, q in quotes
            if s < max(ln.source_end, ln.source_start + 1) and ln.source_start < e
        ]
        source = " ".join(overlapping) or text[ln.source_start : ln.source_end]
        score = containment(ln.text, source)
        if score < t.min_dialogue_similarity:
            notes.append(f"line {ln.index}: {score:.2f}")
        worst = min(worst, score)
    findings.append(
        _finding("dialogue.fidelity", worst, t.min_dialogue_similarity, _examples(notes))
    )

    # Storyboard ----------------------------------------------------------------------------
    counts = Counter(i for s in storyboard.shots for i in s.line_indices)
    line_ids = {ln.index for ln in lines}
    bad_lines = sorted(i for i in line_ids if counts[i] != 1)
    stray = sorted(set(counts) - line_ids)
    findings.append(
        _finding(
            "storyboard.lines_once",
            _share(len(line_ids) - len(bad_lines), len(line_ids)) if not stray else 0.0,
            1.0,
            "; ".join(
                x
                for x in (
                    f"lines not in exactly one shot: {bad_lines[:10]}" if bad_lines else "",
                    f"shots refer to unknown lines: {stray[:10]}" if stray else "",
                )
                if x
            ),
        )
    )
    empty = [s.index for s in storyboard.shots if not s.caption.strip() or not s.line_indices]
    findings.append(
        _finding(
            "storyboard.non_empty_shots",
            _share(len(storyboard.shots) - len(empty), len(storyboard.shots))
            if storyboard.shots
            else 0.0,
            1.0,
            f"empty shots: {empty}" if empty else ("no shots" if not storyboard.shots else ""),
        )
    )
    shot_scenes = {s.scene_index for s in storyboard.shots}
    unshot = sorted(scripted - shot_scenes)
    findings.append(
        _finding(
            "storyboard.scenes_with_shots",
            _share(len(scripted) - len(unshot), len(scripted)),
            1.0,
            f"scenes without a shot: {unshot}" if unshot else "",
        )
    )

    # Personas ------------------------------------------------------------------------------
    known = persona_index(personas)
    canonical = {p.name for p in personas}
    spoken = [ln for ln in lines if ln.kind == "dialogue" and ln.speaker]
    strangers = [ln.index for ln in spoken if ln.speaker not in canonical]
    findings.append(
        _finding(
            "persona.speakers_known",
            _share(len(spoken) - len(strangers), len(spoken)),
            1.0,
            _examples(
                [
                    f"line {i}: {ln.speaker}"
                    + (f" (alias of {known[ln.speaker]})" if ln.speaker in known else "")
                    for i, ln in ((ln.index, ln) for ln in spoken)
                    if i in strangers
                ]
            ),
        )
    )
    shot_of = {i: s for s in storyboard.shots for i in s.line_indices}
    absent = [
        f"line {ln.index}: {ln.speaker} not in shot {shot_of[ln.index].index}"
        for ln in spoken
        if ln.index in shot_of and ln.speaker not in shot_of[ln.index].characters
    ]
    findings.append(
        _finding(
            "persona.speakers_in_shot",
            _share(len(spoken) - len(absent), len(spoken)),
            1.0,
            _examples(absent),
        )
    )

    return GateResult(
        gate="SKILL_16",
        passed=all(f.passed for f in findings),
        findings=findings,
        skill_version=VERSION,
    )
