"""The stage enum authority: the one list of stages a request, run, job or event can be in.

Every table and event with a stage uses `Stage` (a PostgreSQL enum type `nf_stage` in the
database), so a free-text stage cannot be written. docs/architecture/stage-enum-authority.md is
generated from this module.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """Pipeline stages in the order a novel moves through them."""

    SUBMITTED = "submitted"
    QUEUED = "queued"
    INGEST = "ingest"
    SPLIT = "split"
    UNDERSTAND = "understand"
    PERSONA = "persona"
    SCRIPT = "script"
    STORYBOARD = "storyboard"
    STYLE = "style"
    PLAN = "plan"
    COMPILE = "compile"
    RENDER = "render"
    NARRATE = "narrate"
    COMPOSE = "compose"
    GATE = "gate"
    EXPORT = "export"
    INDEX = "index"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


STAGE_DESCRIPTIONS: dict[Stage, str] = {
    Stage.SUBMITTED: "request accepted by the gateway or CLI, not yet claimed",
    Stage.QUEUED: "claimed by the intake sensor, Dagster run requested",
    Stage.INGEST: "SKILL_01: encoding detection, normalisation, boilerplate removal",
    Stage.SPLIT: "SKILL_02: chapter split",
    Stage.UNDERSTAND: "SKILL_04/05/06/07/08/12: summaries, characters, relations, scenes, "
    "dialogue, settings",
    Stage.PERSONA: "SKILL_14/11: persona cards and voice cast",
    Stage.SCRIPT: "SKILL_10: script adaptation constrained by personas",
    Stage.STORYBOARD: "SKILL_13: shots per scene",
    Stage.STYLE: "SKILL_15/19: style bible and continuity sheets",
    Stage.PLAN: "SKILL_09: render plan within budget",
    Stage.COMPILE: "SKILL_20: provider-ready versioned prompts",
    Stage.RENDER: "image executor: storyboard panels",
    Stage.NARRATE: "speech executor: narration audio",
    Stage.COMPOSE: "SKILL_21 + composer: subtitles and chapter video",
    Stage.GATE: "SKILL_16/18 quality gates and degradation",
    Stage.EXPORT: "export record written",
    Stage.INDEX: "SKILL_03: chunks and embeddings for RAG",
    Stage.DONE: "terminal: finished successfully",
    Stage.FAILED: "terminal: failed with an error_code",
    Stage.CANCELLED: "terminal: cancelled by a user or operator",
}

TERMINAL_STAGES = frozenset({Stage.DONE, Stage.FAILED, Stage.CANCELLED})
