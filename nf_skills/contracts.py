"""Typed inputs and outputs shared by the skills (pydantic models).

Every output model that a skill produces carries `skill_version` so what was produced can be
traced to the code that produced it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# SKILL_01 ----------------------------------------------------------------------------------
class IngestResult(Frozen):
    text: str
    encoding: str  # e.g. "utf-8", "utf-8-sig", "gb18030", "big5", "utf-16"
    language: Literal["zh", "en"]
    removed_lines: int = 0
    skill_version: str


# SKILL_02 ----------------------------------------------------------------------------------
class Chapter(Frozen):
    index: int  # 1-based, in reading order
    title: str  # the heading as the book gives it, whitespace-normalised
    text: str  # body without the heading
    level: Literal["chapter", "prologue", "epilogue", "extra"] = "chapter"
    part: str | None = None  # enclosing 卷/PART/BOOK heading, if any


class ChapterSplit(Frozen):
    chapters: list[Chapter]
    strategy: str  # which rule of the cascade won
    front_matter_chars: int = 0  # non-space chars before the first chapter, not in any chapter
    skill_version: str


# SKILL_03 ----------------------------------------------------------------------------------
class Chunk(Frozen):
    chunk_id: str  # sha1 of (chapter_index, start, end, text), shortened: stable across runs
    chapter_index: int
    start: int  # char offsets into Chapter.text, [start, end); text == Chapter.text[start:end]
    end: int
    text: str
    skill_version: str


# SKILL_04/05/06/07/08/12 -------------------------------------------------------------------
class Summary(Frozen):
    chapter_index: int
    sentences: list[str]
    skill_version: str


class Character(Frozen):
    name: str  # canonical name
    aliases: list[str] = Field(default_factory=list)  # other names merged into this one
    mentions: int  # canonical + aliases, in the text analysed
    first_chapter: int | None = None


class CharacterList(Frozen):
    characters: list[Character]  # sorted by mentions, descending
    skill_version: str


class Relation(Frozen):
    a: str
    b: str
    weight: int  # co-occurrence count (paragraph window)


class RelationGraph(Frozen):
    relations: list[Relation]
    skill_version: str


class Scene(Frozen):
    chapter_index: int
    index: int  # 1-based within the chapter
    start: int  # char offsets into Chapter.text, [start, end)
    end: int
    location: str | None = None
    time_cue: str | None = None


class DialogueLine(Frozen):
    chapter_index: int
    start: int  # char offset of the quote in Chapter.text
    end: int
    quote: str  # text inside the quote marks
    speaker: str | None  # canonical character name, None when unattributed
    cue: str | None = None  # the verb/pattern that decided it (说/道/said ...)
    # which rule class decided (tag / paragraph / alternation / addressed / pronoun / narrator /
    # beat / script) and how sure it is (0..1); below SKILL_08's threshold the speaker is None
    rule: str | None = None
    confidence: float = 0.0


class Setting(Frozen):
    name: str
    kind: Literal["location", "prop"]
    mentions: int


class ChapterUnderstanding(Frozen):
    chapter_index: int
    summary: Summary
    scenes: list[Scene]
    dialogue: list[DialogueLine]
    characters_present: list[str]  # canonical names mentioned in the chapter
    settings: list[Setting]
    skill_versions: dict[str, str]  # {"SKILL_04": "1.0.0", ...}


# SKILL_14/11 -------------------------------------------------------------------------------
class Persona(Frozen):
    name: str
    aliases: list[str]
    appearance: str
    traits: list[str]
    speech_style: str
    colour: str  # "#rrggbb", used for the character in panels (continuity)
    sample_lines: list[str] = Field(default_factory=list)
    skill_version: str
    gender: Literal["m", "f"] | None = None  # guessed from honorifics/pronouns; voice casting
    # drawn in panels only when the text shows a person: speaks, has a title, or acts (SKILL_14)
    person: bool = True
    person_evidence: str = ""


class VoiceAssignment(Frozen):
    character: str  # canonical name or "narrator"
    voice: str  # provider voice id, e.g. espeak "cmn", "en+m3"
    rate: int = 170  # words per minute for espeak-like engines
    pitch: int = 50


# SKILL_10 ----------------------------------------------------------------------------------
class ScriptLine(Frozen):
    index: int
    kind: Literal["narration", "dialogue"]
    speaker: str | None  # character for dialogue, None for narration
    text: str
    scene_index: int
    source_start: int  # offsets into Chapter.text this line adapts
    source_end: int


class Script(Frozen):
    chapter_index: int
    title: str
    lines: list[ScriptLine]
    skill_version: str
    # SKILL_10 mode that made it: "condensed", or "summary_anchored" (the SKILL_16 fallback)
    mode: str = "condensed"


# SKILL_13 ----------------------------------------------------------------------------------
class ShotSetting(Frozen):
    """Where a shot takes place, for its background: the place (SKILL_12 name), its kind,
    inside or outside, time of day and weather (from the scene's words)."""

    location: str | None = None
    kind: Literal[
        "mountain", "water", "forest", "town", "road", "field", "palace", "temple", "sky",
        "room", "hall", "shop", "cave",
    ] = "field"  # fmt: skip
    interior: bool = False
    time_of_day: Literal["day", "dawn", "dusk", "night"] = "day"
    weather: Literal["clear", "rain", "snow", "fog"] = "clear"


class Shot(Frozen):
    index: int  # 1-based within the chapter
    scene_index: int
    framing: Literal["wide", "medium", "close"]
    characters: list[str]
    caption: str
    line_indices: list[int]  # ScriptLine.index values this shot covers
    setting: ShotSetting | None = None


class Storyboard(Frozen):
    chapter_index: int
    shots: list[Shot]
    skill_version: str
    title: str = ""  # the script's (chapter's) title, carried for prompts and panels


# SKILL_15/19 -------------------------------------------------------------------------------
class StyleBible(Frozen):
    width: int = 1280
    height: int = 720
    palette: list[str]  # "#rrggbb"
    background: str
    font_family: str
    caption_size: int
    skill_version: str


class ContinuitySheet(Frozen):
    character_colours: dict[str, str]  # canonical name -> "#rrggbb"
    character_marks: dict[str, str]  # canonical name -> short label drawn on panels
    # canonical name -> drawing features (hair, skin, clothing ...): the reference sheet, seeded
    # by the name so a character is drawn the same in every panel and chapter
    character_designs: dict[str, dict[str, str]] = Field(default_factory=dict)
    skill_version: str


# SKILL_09 ----------------------------------------------------------------------------------
class ShotPlan(Frozen):
    shot_index: int
    needs_image: bool
    narration_text: str  # what is spoken over this shot
    est_seconds: float
    speaker: str | None = None  # voice of the shot: a character when it is one speaker's lines
    reuse_image_of: int | None = None  # shot_index whose image is shown when needs_image is False


class RenderPlan(Frozen):
    chapter_index: int
    shots: list[ShotPlan]
    budget_seconds: float
    est_seconds: float
    skill_version: str


# SKILL_20 ----------------------------------------------------------------------------------
class CompiledPrompt(Frozen):
    chapter_index: int
    shot_index: int
    kind: Literal["image", "speech"]
    prompt: str  # provider-ready text
    params: dict[str, str | int | float | list[str]]  # e.g. size, palette, voice
    prompt_hash: str  # sha256 of prompt + params + versions: the cache key of the executor
    template_version: str
    skill_version: str


# SKILL_21 ----------------------------------------------------------------------------------
class Cue(Frozen):
    index: int
    start: float  # seconds
    end: float
    text: str


class Subtitles(Frozen):
    chapter_index: int
    cues: list[Cue]
    srt: str
    vtt: str
    skill_version: str


# SKILL_16/18 -------------------------------------------------------------------------------
class GateFinding(Frozen):
    rule: str
    passed: bool
    value: float
    threshold: float
    detail: str = ""


class GateResult(Frozen):
    gate: Literal["SKILL_16", "SKILL_18"]
    passed: bool
    findings: list[GateFinding]
    skill_version: str


class ContentGateThresholds(Frozen):
    """SKILL_16 thresholds; each is a share in [0, 1] the measured value must reach."""

    min_scene_coverage: float = Field(1.0, ge=0, le=1)  # scenes with >= 1 script line
    min_source_spread: float = Field(0.6, ge=0, le=1)  # equal source bins touched by the script
    min_summary_coverage: float = Field(0.5, ge=0, le=1)  # summary sentences echoed by the script
    min_grounding: float = Field(0.9, ge=0, le=1)  # lines whose text comes from their source range
    min_dialogue_similarity: float = Field(0.9, ge=0, le=1)  # worst dialogue line vs its quote


# SKILL_17 ----------------------------------------------------------------------------------
class ExperimentDecision(Frozen):
    metric_kind: Literal["proportion", "continuous"]
    n_control: int
    n_candidate: int
    mean_control: float | None
    mean_candidate: float | None
    effect_size: float | None  # Cohen's h (proportion) / d (continuous), candidate - control
    p_value: float | None  # two-proportion z-test / Welch's t-test, two-sided
    alpha: float
    decision: Literal["insufficient_data", "promote_candidate", "keep_control", "no_difference"]
    reason: str
    skill_version: str


# SKILL_22 ----------------------------------------------------------------------------------
class FeedbackItem(Frozen):
    target_kind: str  # what was rated: "panel", "audio", "video", "script", ...
    target_id: str
    rating: int = Field(ge=1, le=5)
    tags: list[str] = Field(default_factory=list)
    comment: str = ""
    skill_id: str  # the skill (and version) that produced the target
    skill_version: str


class FeedbackGroup(Frozen):
    skill_id: str
    skill_version: str  # the rated version, not SKILL_22's
    n: int
    mean_rating: float
    share_negative: float  # ratings <= 2
    top_tags: list[str]  # most frequent tags first
    negative_tags: list[str]  # most frequent tags among negative ratings first


class FeedbackSummary(Frozen):
    groups: list[FeedbackGroup]  # sorted by (skill_id, skill_version)
    n: int
    skill_version: str
