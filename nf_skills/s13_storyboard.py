"""SKILL_13 storyboard: script lines -> shots per scene (framing, characters present, caption).

A shot is a run of consecutive lines of one scene and one mode (narration or talk), capped so a
single panel is not held too long. Framing follows the content: a scene opens wide, two or more
speakers get a medium two-shot, one speaker a close-up, narration without anyone in it a wide
shot. Every script line lands in exactly one shot; above `max_shots` the cheapest neighbouring
shots (same scene first, then fewest words) are merged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nf_skills.contracts import (
    ChapterUnderstanding,
    Persona,
    Script,
    ScriptLine,
    Shot,
    Storyboard,
)
from nf_skills.s03_chunk import detect_language, sentence_spans, speech_units
from nf_skills.s10_script_adapt import persona_index, trim_to_units
from shared.errors import NFError

SKILL_ID = "SKILL_13"
VERSION = "1.0.0"

MAX_LINES_PER_SHOT = 4
MAX_UNITS_PER_SHOT = 60  # about 20-25 s of speech: longer panels feel static
CAPTION_UNITS = {"zh": 20, "en": 12}


@dataclass
class _Seg:
    scene: int
    lines: list[ScriptLine] = field(default_factory=list)
    opening: bool = False

    @property
    def talk(self) -> bool:
        return any(ln.kind == "dialogue" for ln in self.lines)

    @property
    def units(self) -> int:
        return sum(speech_units(ln.text) for ln in self.lines)


def _mentions(text: str, names: dict[str, str]) -> list[str]:
    """Canonical names mentioned in `text`, by first position, longest alias first."""
    found: dict[str, int] = {}
    taken: list[tuple[int, int]] = []
    for alias in sorted(names, key=len, reverse=True):
        pos = text.find(alias)
        while pos >= 0:
            end = pos + len(alias)
            latin_word = alias.isascii() and (
                (pos > 0 and text[pos - 1].isalnum()) or (end < len(text) and text[end].isalnum())
            )
            if not latin_word and not any(s < end and pos < e for s, e in taken):
                taken.append((pos, end))
                canon = names[alias]
                found[canon] = min(found.get(canon, pos), pos)
            pos = text.find(alias, pos + 1)
    return sorted(found, key=lambda n: found[n])


def _segments(script: Script) -> list[_Seg]:
    segs: list[_Seg] = []
    for ln in sorted(script.lines, key=lambda x: x.index):
        cur = segs[-1] if segs else None
        new_scene = cur is None or cur.scene != ln.scene_index
        if (
            new_scene
            or cur.talk != (ln.kind == "dialogue")
            or len(cur.lines) >= MAX_LINES_PER_SHOT
            or cur.units + speech_units(ln.text) > MAX_UNITS_PER_SHOT
        ):
            segs.append(_Seg(scene=ln.scene_index, opening=new_scene))
        segs[-1].lines.append(ln)
    return segs


def _merge_to(segs: list[_Seg], max_shots: int) -> list[_Seg]:
    segs = list(segs)
    while len(segs) > max_shots:
        i = min(
            range(len(segs) - 1),
            key=lambda k: (
                segs[k].scene != segs[k + 1].scene,
                segs[k].units + segs[k + 1].units,
                k,
            ),
        )
        a, b = segs[i], segs[i + 1]
        segs[i : i + 2] = [_Seg(scene=a.scene, lines=a.lines + b.lines, opening=a.opening)]
    return segs


def _caption(seg: _Seg, language: str, fallback: str) -> str:
    first = seg.lines[0].text
    spans = sentence_spans(first)
    sentence = first[spans[0][0] : spans[0][1]] if spans else first
    short = trim_to_units(sentence, CAPTION_UNITS[language]) or sentence
    if short != sentence:
        short = short.rstrip() + "…"
    if seg.lines[0].kind == "dialogue" and seg.lines[0].speaker:
        short = f"{seg.lines[0].speaker}{'：' if language == 'zh' else ': '}{short}"
    return short.strip() or fallback


def make_storyboard(
    script: Script,
    understanding: ChapterUnderstanding,
    max_shots: int = 24,
    *,
    personas: list[Persona] | None = None,
) -> Storyboard:
    """Shots covering every script line once; `personas` adds aliases to character detection."""
    if not script.lines:
        raise NFError("NF-SKILL-001", f"script of chapter {script.chapter_index} has no lines")
    if max_shots < 1:
        raise NFError("NF-SKILL-001", f"max_shots must be >= 1, got {max_shots}")
    if understanding.chapter_index != script.chapter_index:
        raise NFError("NF-SKILL-001", "script and understanding are for different chapters")
    indices = [ln.index for ln in script.lines]
    if len(set(indices)) != len(indices):
        raise NFError("NF-SKILL-001", "script line indices are not unique")

    names = {n: n for n in understanding.characters_present if n.strip()}
    names.update(persona_index(personas or []))
    language = detect_language("".join(ln.text for ln in script.lines))

    shots: list[Shot] = []
    for seg in _merge_to(_segments(script), max_shots):
        speakers = list(
            dict.fromkeys(ln.speaker for ln in seg.lines if ln.kind == "dialogue" and ln.speaker)
        )
        mentioned = _mentions(" ".join(ln.text for ln in seg.lines), names)
        characters = list(dict.fromkeys(speakers + mentioned))
        if seg.opening or not characters:
            framing = "wide"
        elif len(speakers) >= 2:
            framing = "medium"
        elif len(speakers) == 1:
            framing = "close"
        else:
            framing = "medium"
        shots.append(
            Shot(
                index=len(shots) + 1,
                scene_index=seg.scene,
                framing=framing,
                characters=characters,
                caption=_caption(seg, language, script.title or f"#{len(shots) + 1}"),
                line_indices=[ln.index for ln in seg.lines],
            )
        )
    return Storyboard(
        chapter_index=script.chapter_index,
        shots=shots,
        skill_version=VERSION,
        title=script.title,
    )
