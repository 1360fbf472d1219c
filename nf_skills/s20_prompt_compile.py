"""SKILL_20 prompt_compile: plan + style + continuity + personas -> provider-ready prompts.

The only door to the executors: image and speech providers receive CompiledPrompts, never plans.
Prompt text comes from a versioned template (str.format fields listed in IMAGE_FIELDS and
SPEECH_FIELDS); params carry what an offline executor needs to draw or speak without parsing the
prompt. `prompt_hash` is the executor's cache key: same prompt, params, template and skill version
give the same hash, any change gives another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Literal

from nf_skills.contracts import (
    CompiledPrompt,
    ContinuitySheet,
    Persona,
    RenderPlan,
    Shot,
    ShotSetting,
    Storyboard,
    StyleBible,
    VoiceAssignment,
)
from nf_skills.s19_continuity import design_for
from shared.errors import NFError

SKILL_ID = "SKILL_20"
VERSION = "1.1.0"

Kind = Literal["image", "speech"]

TEMPLATES: dict[str, dict[str, str]] = {
    "v1": {
        "image": (
            'Storyboard panel {shot_index} of "{title}". {framing_text} of {characters}. '
            "Scene: {caption}. Setting: {setting}. {character_descriptions}"
            "Flat illustration on a {background} background, palette {palette}, "
            "{width}x{height}, no text in the picture."
        ),
        "speech": "{text}",
    },
}
IMAGE_FIELDS = (
    "title", "chapter_index", "shot_index", "scene_index", "framing", "framing_text",
    "characters", "character_descriptions", "caption", "narration", "setting", "width", "height",
    "background", "palette", "font_family", "caption_size",
)  # fmt: skip
SPEECH_FIELDS = (
    "title",
    "chapter_index",
    "shot_index",
    "text",
    "voice",
    "rate",
    "pitch",
    "speaker",
)
_FRAMING_TEXT = {"wide": "Wide establishing shot", "medium": "Medium shot", "close": "Close-up"}
NARRATOR = "narrator"


def prompt_hash(
    kind: str, prompt: str, params: Mapping[str, object], template_version: str, template: str
) -> str:
    """sha256 of the canonical JSON of everything that decides the executor's output."""
    payload = {
        "kind": kind,
        "prompt": prompt,
        "params": dict(params),
        "template_version": template_version,
        "template_sha": hashlib.sha256(template.encode()).hexdigest(),
        "skill_version": VERSION,
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _templates(template_version: str, template: str | Mapping[str, str] | None) -> dict[str, str]:
    if template is None:
        if template_version not in TEMPLATES:
            raise NFError("NF-SKILL-001", f"no built-in prompt template {template_version!r}")
        return dict(TEMPLATES[template_version])
    base = dict(TEMPLATES.get(template_version, TEMPLATES["v1"]))
    if isinstance(template, str):
        base["image"] = template  # a single template string is the image template
    else:
        unknown = set(template) - {"image", "speech"}
        if unknown:
            raise NFError("NF-SKILL-001", f"templates for unknown kinds {sorted(unknown)}")
        base.update(template)
    return base


def _render(template: str, fields: dict[str, object], kind: str) -> str:
    try:
        return template.format(**fields).strip()
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise NFError("NF-SKILL-001", f"{kind} template cannot be filled: {exc!r}") from exc


def _fallback_colour(name: str, palette: list[str]) -> str:
    # Hash-picked so a character without a continuity sheet keeps one colour across shots.
    return palette[int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(palette)]


def _setting_params(shot: Shot) -> dict[str, object]:
    """The backdrop the offline renderer draws; `key` seeds its shapes: one place, one look."""
    st = shot.setting or ShotSetting()
    return {
        "location": st.location or "",
        "kind": st.kind,
        "interior": st.interior,
        "time": st.time_of_day,
        "weather": st.weather,
        "key": st.location or st.kind,
    }


def _setting_text(shot: Shot) -> str:
    st = shot.setting or ShotSetting()
    where = f"{st.location} ({st.kind})" if st.location else st.kind
    inside = "interior" if st.interior else "exterior"
    return f"{where}, {inside}, {st.time_of_day}, {st.weather}"


def _design(name: str, continuity: ContinuitySheet, colour: str) -> dict[str, str]:
    """The reference sheet's design; a character without a persona gets one seeded the same way
    (by name), so it too looks the same in every chapter."""
    if name in continuity.character_designs:
        return continuity.character_designs[name]
    stub = Persona(
        name=name, aliases=[], appearance="", traits=[], speech_style="", colour=colour,
        skill_version=VERSION,
    )  # fmt: skip
    return design_for(stub, colour)


def compile_prompts(
    plan: RenderPlan,
    storyboard: Storyboard,
    style: StyleBible,
    continuity: ContinuitySheet,
    personas: list[Persona],
    voices: list[VoiceAssignment],
    *,
    template_version: str = "v1",
    template: str | Mapping[str, str] | None = None,
) -> list[CompiledPrompt]:
    """One image prompt per shot that needs an image, one speech prompt per shot, in shot order.

    `template` overrides the built-in template of `template_version`: a string replaces the image
    template, a mapping {"image": ..., "speech": ...} either or both.
    """
    if plan.chapter_index != storyboard.chapter_index:
        raise NFError("NF-SKILL-001", "plan and storyboard are for different chapters")
    templates = _templates(template_version, template)
    shots = {s.index: s for s in storyboard.shots}
    appearance = {p.name: p.appearance.strip() for p in reversed(personas)}
    voice_of = {v.character: v for v in reversed(voices)}
    palette = style.palette or [style.background]
    title = storyboard.title or f"Chapter {storyboard.chapter_index}"

    out: list[CompiledPrompt] = []

    def emit(shot_index: int, kind: Kind, fields: dict[str, object], params: dict) -> None:
        prompt = _render(templates[kind], fields, kind)
        out.append(
            CompiledPrompt(
                chapter_index=plan.chapter_index,
                shot_index=shot_index,
                kind=kind,
                prompt=prompt,
                params=params,
                prompt_hash=prompt_hash(kind, prompt, params, template_version, templates[kind]),
                template_version=template_version,
                skill_version=VERSION,
            )
        )

    for sp in plan.shots:
        shot = shots.get(sp.shot_index)
        if shot is None:
            raise NFError("NF-SKILL-001", f"plan shot {sp.shot_index} is not in the storyboard")
        if sp.needs_image:
            colours = {
                c: continuity.character_colours.get(c) or _fallback_colour(c, palette)
                for c in shot.characters
            }
            marks = {c: continuity.character_marks.get(c) or c[:1] for c in shot.characters}
            described = [
                f"{c} (mark {marks[c]}, colour {colours[c]}): {appearance[c]}."
                for c in shot.characters
                if appearance.get(c)
            ]
            fields: dict[str, object] = {
                "title": title,
                "chapter_index": plan.chapter_index,
                "shot_index": shot.index,
                "scene_index": shot.scene_index,
                "framing": shot.framing,
                "framing_text": _FRAMING_TEXT[shot.framing],
                "characters": ", ".join(shot.characters) or "the setting alone",
                "character_descriptions": " ".join(described) + (" " if described else ""),
                "caption": shot.caption,
                "narration": sp.narration_text,
                "setting": _setting_text(shot),
                "width": style.width,
                "height": style.height,
                "background": style.background,
                "palette": ", ".join(palette),
                "font_family": style.font_family,
                "caption_size": style.caption_size,
            }
            params = {
                "width": style.width,
                "height": style.height,
                "background": style.background,
                "palette": list(palette),
                "framing": shot.framing,
                "characters": list(shot.characters),
                "character_colours": json.dumps(colours, ensure_ascii=False, sort_keys=True),
                "character_marks": json.dumps(marks, ensure_ascii=False, sort_keys=True),
                "character_designs": json.dumps(
                    {c: _design(c, continuity, colours[c]) for c in shot.characters},
                    ensure_ascii=False,
                    sort_keys=True,
                ),
                "backdrop": json.dumps(_setting_params(shot), ensure_ascii=False, sort_keys=True),
                "caption": shot.caption,
                "shot_index": shot.index,
                "title": title,
                "font_family": style.font_family,
                "caption_size": style.caption_size,
            }
            emit(shot.index, "image", fields, params)

        text = sp.narration_text.strip()
        if not text:
            raise NFError("NF-SKILL-001", f"shot {sp.shot_index} has nothing to speak")
        who = sp.speaker if sp.speaker in voice_of else NARRATOR
        voice = voice_of.get(who)
        if voice is None:
            raise NFError("NF-SKILL-001", "no narrator voice in the voice cast")
        fields = {
            "title": title,
            "chapter_index": plan.chapter_index,
            "shot_index": sp.shot_index,
            "text": text,
            "voice": voice.voice,
            "rate": voice.rate,
            "pitch": voice.pitch,
            "speaker": who,
        }
        params = {
            "voice": voice.voice,
            "rate": voice.rate,
            "pitch": voice.pitch,
            "text": text,
            "speaker": who,
        }
        emit(sp.shot_index, "speech", fields, params)
    return out
