"""SKILL_13 storyboard: script lines -> shots per scene (framing, characters present, caption).

A shot is a run of consecutive lines of one scene and one mode (narration or talk), capped so a
single panel is not held too long. Framing follows the content: a scene opens wide, two or more
speakers get a medium two-shot, one speaker a close-up, narration without anyone in it a wide
shot. Every script line lands in exactly one shot; above `max_shots` the cheapest neighbouring
shots (same scene first, then fewest words) are merged.

Who is in a shot: its speakers and the characters its lines mention, but only people: a persona
SKILL_14 did not find to be a person (a noun SKILL_05 took for a name) is never drawn, and a
character without a persona must speak or act in the chapter. Where: each shot carries its
setting (`_scene_look`): the scene's place and words, or a place its own lines name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nf_skills import _personhood, _scene_look
from nf_skills.contracts import (
    ChapterUnderstanding,
    Persona,
    Script,
    ScriptLine,
    Shot,
    ShotSetting,
    Storyboard,
)
from nf_skills.s03_chunk import sentence_spans, speech_units
from nf_skills.s10_script_adapt import persona_index, trim_to_units
from shared.errors import NFError
from shared.text import detect_language

SKILL_ID = "SKILL_13"
VERSION = "1.1.0"

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


def _people(
    names: dict[str, str],
    script: Script,
    understanding: ChapterUnderstanding,
    personas: list[Persona],
    language: str,
) -> set[str]:
    """Canonical names that may be drawn in this chapter."""
    by_name = {p.name: p for p in reversed(personas)}
    speakers = {d.speaker for d in understanding.dialogue if d.speaker}
    texts = [ln.text for ln in script.lines]
    forms: dict[str, list[str]] = {}
    for alias, canon in names.items():
        forms.setdefault(canon, []).append(alias)
    for ln in script.lines:
        if ln.speaker:
            forms.setdefault(ln.speaker, [ln.speaker])
    out = set()
    for canon, fs in forms.items():
        p = by_name.get(canon)
        if p is not None:
            ok = p.person
        else:
            ok = _personhood.evidence(
                canon, fs, texts, language, speaks=canon in speakers, gender=None, min_acts=1
            ).person
        if ok:
            out.add(canon)
    return out


def _settings(
    script: Script, understanding: ChapterUnderstanding, language: str
) -> dict[int, ShotSetting]:
    """The setting of each scene, from its SKILL_07 location and time cue and its lines."""
    by_scene: dict[int, list[str]] = {}
    for ln in script.lines:
        by_scene.setdefault(ln.scene_index, []).append(ln.text)
    scenes = {sc.index: sc for sc in understanding.scenes}
    out = {}
    for idx, texts in by_scene.items():
        sc = scenes.get(idx)
        out[idx] = _scene_look.shot_setting(
            sc.location if sc else None, texts, language, sc.time_cue if sc else None
        )
    return out


def _shot_setting(
    seg_text: str, scene: ShotSetting, places: list[str], language: str
) -> ShotSetting:
    """A shot whose own lines name another known place moves there; else the scene's."""
    named = [p for p in places if p in seg_text and p != scene.location]
    if named:
        here = _scene_look.shot_setting(named[0], [seg_text], language)
    else:
        # or its own words put it somewhere else clearly (酒店, 屋里, the garden twice)
        counts = _scene_look.kind_counts([seg_text], language)
        kind, weight = max(counts.items(), key=lambda kv: (kv[1], kv[0]), default=("", 0))
        if weight < 2 or kind == scene.kind:
            return scene
        here = ShotSetting(kind=kind, interior=kind in _scene_look.INTERIOR_KINDS)
    # the scene's light and weather hold: a place named in passing does not change the hour
    return here.model_copy(update={"time_of_day": scene.time_of_day, "weather": scene.weather})


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
    people = _people(names, script, understanding, personas or [], language)
    scene_settings = _settings(script, understanding, language)
    places = [st.name for st in understanding.settings if st.kind == "location"]

    shots: list[Shot] = []
    for seg in _merge_to(_segments(script), max_shots):
        speakers = list(
            dict.fromkeys(ln.speaker for ln in seg.lines if ln.kind == "dialogue" and ln.speaker)
        )
        seg_text = " ".join(ln.text for ln in seg.lines)
        mentioned = _mentions(seg_text, names)
        characters = [c for c in dict.fromkeys(speakers + mentioned) if c in people]
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
                setting=_shot_setting(seg_text, scene_settings[seg.scene], places, language),
            )
        )
    return Storyboard(
        chapter_index=script.chapter_index,
        shots=shots,
        skill_version=VERSION,
        title=script.title,
    )
