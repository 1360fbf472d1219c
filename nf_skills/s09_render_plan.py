"""SKILL_09 render_plan: what each shot needs (image, spoken text, duration) within a budget.

- Image: a shot repeating the previous shot's scene, framing and characters reuses its panel.
- Speech: the shot's script lines joined; a shot that is one character talking is voiced by that
  character (`speaker`), otherwise the narrator reads it with each quote prefixed by its speaker.
- Time: speech units / `speech_rate` plus a breath between shots, at least MIN_SHOT_SECONDS.
- Budget: over `budget_seconds`, narration sentences are dropped before any dialogue, from the
  longest shot first and from the end of a shot, never a shot's first sentence; under
  `min_seconds`, the panels are held longer.

Style (SKILL_15) and continuity (SKILL_19) are required inputs so the plan is made after them, as
the seed order says; the plan only checks them, SKILL_20 turns them into prompts. Characters
without a continuity entry are not an error here: SKILL_20 draws them with a fallback colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nf_skills.contracts import (
    ContinuitySheet,
    RenderPlan,
    Script,
    ScriptLine,
    ShotPlan,
    Storyboard,
    StyleBible,
)
from nf_skills.s03_chunk import sentence_spans, speech_units
from shared.errors import NFError
from shared.text import detect_language

SKILL_ID = "SKILL_09"
VERSION = "1.0.0"

PAUSE_SECONDS = 0.4  # breath between shots
MIN_SHOT_SECONDS = 2.0  # a panel shown for less is a flicker
# Speech units per second per espeak-ng "wpm", measured at 170 wpm on the corpus including the
# pauses at punctuation: cmn ~2.4 characters/s, en ~3.1 words/s.
_UNITS_PER_WPM = {"zh": 2.4 / 170, "en": 3.1 / 170}


def speech_rate_for(language: Literal["zh", "en"], wpm: int = 170) -> float:
    """Speech units per second of an espeak-like voice at `wpm` (VoiceAssignment.rate)."""
    if language not in _UNITS_PER_WPM or wpm <= 0:
        raise NFError("NF-SKILL-001", f"no speech rate for {language!r} at {wpm} wpm")
    return _UNITS_PER_WPM[language] * wpm


@dataclass
class _Piece:
    text: str
    dialogue: bool
    line: int  # position of the line within the shot


@dataclass
class _ShotText:
    pieces: list[_Piece]
    speaker: str | None

    def text(self, language: str) -> str:
        sep = "" if language == "zh" else " "
        return sep.join(p.text for p in self.pieces).strip()

    def removal_order(self) -> list[int]:
        """Indices of removable pieces, first to go first: narration from the end, then talk."""
        idx = list(range(1, len(self.pieces)))  # piece 0 is the shot's first sentence: kept
        return [i for i in reversed(idx) if not self.pieces[i].dialogue] + [
            i for i in reversed(idx) if self.pieces[i].dialogue
        ]


def _sentences(text: str) -> list[str]:
    spans = sentence_spans(text)
    return [text[s:e] for s, e in spans] or ([text.strip()] if text.strip() else [])


def _shot_text(lines: list[ScriptLine], language: str) -> _ShotText:
    speakers = {ln.speaker for ln in lines}
    solo = (
        all(ln.kind == "dialogue" for ln in lines) and len(speakers) == 1 and None not in speakers
    )
    speaker = lines[0].speaker if solo else None
    pieces: list[_Piece] = []
    for pos, ln in enumerate(lines):
        for k, sentence in enumerate(_sentences(ln.text)):
            if k == 0 and ln.kind == "dialogue" and ln.speaker and not solo:
                sentence = f"{ln.speaker}{'：' if language == 'zh' else ': '}{sentence}"
            pieces.append(_Piece(sentence, ln.kind == "dialogue", pos))
    return _ShotText(pieces, speaker)


def _seconds(text: str, rate: float) -> float:
    return max(MIN_SHOT_SECONDS, speech_units(text) / rate + PAUSE_SECONDS)


def render_plan(
    storyboard: Storyboard,
    script: Script,
    style: StyleBible,
    continuity: ContinuitySheet,
    *,
    budget_seconds: float = 180,
    min_seconds: float = 60,
    speech_rate: float,
) -> RenderPlan:
    """Plan every shot of `storyboard`; `speech_rate` is in speech units per second."""
    if speech_rate <= 0 or budget_seconds <= 0 or not 0 <= min_seconds <= budget_seconds:
        raise NFError(
            "NF-SKILL-001",
            f"need speech_rate > 0 and 0 <= min_seconds <= budget_seconds, got "
            f"{speech_rate}/{min_seconds}/{budget_seconds}",
        )
    if storyboard.chapter_index != script.chapter_index:
        raise NFError("NF-SKILL-001", "storyboard and script are for different chapters")
    if not storyboard.shots:
        raise NFError("NF-SKILL-001", f"storyboard of chapter {storyboard.chapter_index} is empty")
    if style.width <= 0 or style.height <= 0:
        raise NFError("NF-SKILL-001", "style has no frame size")
    by_index = {ln.index: ln for ln in script.lines}
    missing = [i for s in storyboard.shots for i in s.line_indices if i not in by_index]
    if missing:
        raise NFError("NF-SKILL-001", f"storyboard refers to unknown script lines {missing[:5]}")
    if any(not s.line_indices for s in storyboard.shots):
        raise NFError("NF-SKILL-001", "storyboard has a shot without script lines")
    if continuity.character_colours.keys() != continuity.character_marks.keys():
        raise NFError("NF-SKILL-001", "continuity sheet has colours and marks for different names")

    language = detect_language("".join(ln.text for ln in script.lines))
    texts = [
        _shot_text([by_index[i] for i in shot.line_indices], language) for shot in storyboard.shots
    ]
    seconds = [_seconds(t.text(language), speech_rate) for t in texts]
    queues = [t.removal_order() for t in texts]

    # Narration goes before any dialogue; among shots, the longest is trimmed first so no panel
    # drags while others were cut to the bone.
    while sum(seconds) > budget_seconds:
        open_shots = [k for k, q in enumerate(queues) if q]
        if not open_shots:
            break  # only first sentences left: record the overrun, never drop a shot
        k = max(
            open_shots,
            key=lambda j: (not texts[j].pieces[queues[j][0]].dialogue, seconds[j], -j),
        )
        texts[k].pieces.pop(queues[k][0])
        queues[k] = texts[k].removal_order()
        seconds[k] = _seconds(texts[k].text(language), speech_rate)

    total = sum(seconds)
    if total < min_seconds:
        hold = (min_seconds - total) / len(seconds)
        seconds = [s + hold for s in seconds]

    plans: list[ShotPlan] = []
    anchor: tuple[int, tuple] | None = None  # (shot index with the panel, what the panel shows)
    for shot, text, secs in zip(storyboard.shots, texts, seconds, strict=True):
        look = (shot.scene_index, shot.framing, tuple(sorted(shot.characters)))
        reuse = anchor is not None and anchor[1] == look
        if not reuse:
            anchor = (shot.index, look)
        plans.append(
            ShotPlan(
                shot_index=shot.index,
                needs_image=not reuse,
                narration_text=text.text(language),
                est_seconds=round(secs, 3),
                speaker=text.speaker,
                reuse_image_of=anchor[0] if reuse else None,
            )
        )
    return RenderPlan(
        chapter_index=storyboard.chapter_index,
        shots=plans,
        budget_seconds=budget_seconds,
        est_seconds=round(sum(p.est_seconds for p in plans), 3),
        skill_version=VERSION,
    )
