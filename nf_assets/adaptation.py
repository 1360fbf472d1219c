"""Adaptation domain: personas (SKILL_14) and voices (11) -> scripts (10, constrained by the
personas) -> storyboards (13), gated by the content gate SKILL_16 (a blocking asset check)."""

from collections import Counter

import dagster as dg

from nf_assets.partitions import novels_partitions
from nf_assets.runtime import experiment_arms, failures_md, open_recorder, settle_gate
from nf_services.database import ArtifactStoreResource, DatabaseResource
from nf_services.skill_cache import Outcome, Unit
from nf_skills import (
    gated_script,
    s10_script_adapt,
    s11_voice_cast,
    s13_storyboard,
    s14_persona,
    s16_content_gate,
)
from nf_skills.contracts import (
    ChapterSplit,
    ChapterUnderstanding,
    CharacterList,
    Persona,
    Script,
    Storyboard,
    VoiceAssignment,
)
from shared.stages import Stage


def _script(chapter, understanding, personas, language, options):
    script, degradations = gated_script.adapt_gated(
        chapter, understanding, personas, language, **options
    )
    return Outcome(output=script, degradations=degradations)


def _storyboard(script, understanding, personas):
    return s13_storyboard.make_storyboard(script, understanding, personas=personas)


@dg.op
def skill_14_persona(
    context,
    characters: CharacterList,
    understanding: list,
    chapters: ChapterSplit,
    novel_source,
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> list[Persona]:
    rec = open_recorder(context, db, store)
    rec.set_stage(Stage.PERSONA)
    args = (characters, understanding, chapters.chapters, novel_source.language)
    [personas] = rec.run(
        s14_persona, Stage.PERSONA, [Unit(None, args)], s14_persona.build_personas, list[Persona]
    )
    context.add_output_metadata(
        {
            "personas": len(personas),
            "cards": dg.MetadataValue.md(
                "| name | traits | speech style |\n|---|---|---|\n"
                + "\n".join(
                    f"| {p.name} | {', '.join(p.traits[:4])} | {p.speech_style} |"
                    for p in personas[:12]
                )
            ),
        }
    )
    return personas


@dg.op
def skill_11_voice_cast(
    context,
    personas: list[Persona],
    novel_source,
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> list[VoiceAssignment]:
    rec = open_recorder(context, db, store)
    args = (personas, novel_source.language)
    [voices] = rec.run(
        s11_voice_cast,
        Stage.PERSONA,
        [Unit(None, args)],
        s11_voice_cast.cast_voices,
        list[VoiceAssignment],
    )
    context.add_output_metadata({"voices": len(voices)})
    return voices


@dg.graph_multi_asset(
    outs={
        "personas": dg.AssetOut(description="SKILL_14: persona cards of the main characters"),
        "voice_cast": dg.AssetOut(description="SKILL_11: a voice per character and narrator"),
    },
    partitions_def=novels_partitions,
    group_name="adaptation",
)
def persona_assets(novel_source, chapters, characters, understanding):
    personas = skill_14_persona(characters, understanding, chapters, novel_source)
    return {"personas": personas, "voice_cast": skill_11_voice_cast(personas, novel_source)}


@dg.asset(
    partitions_def=novels_partitions,
    group_name="adaptation",
    description="SKILL_10: screenplay lines per chapter, speakers from the personas",
)
def scripts(
    context,
    chapters: ChapterSplit,
    understanding: list,
    personas: list[Persona],
    novel_source,
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> list[Script]:
    rec = open_recorder(context, db, store)
    rec.set_stage(Stage.SCRIPT)
    arms = experiment_arms(
        db, context.partition_key, s10_script_adapt.SKILL_ID, [c.index for c in chapters.chapters]
    )
    units = []
    for c, u in zip(chapters.chapters, understanding, strict=True):
        version, options = arms.get(c.index, (None, {}))
        args = (c, u, personas, novel_source.language, options)
        units.append(Unit(c.index, args, version=version))
    scripts = rec.run(s10_script_adapt, Stage.SCRIPT, units, _script, Script)
    context.add_output_metadata(
        {
            "scripts": len(scripts),
            "lines": sum(len(s.lines) for s in scripts),
            "dialogue_lines": sum(1 for s in scripts for ln in s.lines if ln.kind == "dialogue"),
            "degraded_by_content_gate": rec.stats[s10_script_adapt.SKILL_ID].degradations,
            # chapters per version when a SKILL_17 experiment on SKILL_10 runs
            "experiment_arms": dg.MetadataValue.json(
                dict(Counter(version for version, _ in arms.values()))
            ),
        }
    )
    return scripts


@dg.asset(
    partitions_def=novels_partitions,
    group_name="adaptation",
    description="SKILL_13: shots per scene (framing, characters, caption)",
)
def storyboards(
    context,
    scripts: list[Script],
    understanding: list,
    personas: list[Persona],
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> list[Storyboard]:
    rec = open_recorder(context, db, store)
    rec.set_stage(Stage.STORYBOARD)
    units = [
        Unit(s.chapter_index, (s, u, personas)) for s, u in zip(scripts, understanding, strict=True)
    ]
    boards = rec.run(s13_storyboard, Stage.STORYBOARD, units, _storyboard, Storyboard)
    context.add_output_metadata({"shots": sum(len(b.shots) for b in boards)})
    return boards


@dg.asset_check(
    asset=storyboards,
    blocking=True,
    # per novel: an unpartitioned check would load every partition's inputs (all tenants)
    partitions_def=novels_partitions,
    description="SKILL_16 content gate: source coverage, dialogue fidelity, no empty shots or "
    "scenes, persona consistency. Blocks planning and rendering when it fails.",
    additional_ins={
        "chapters": dg.AssetIn("chapters"),
        "understanding": dg.AssetIn("understanding"),
        "scripts": dg.AssetIn("scripts"),
        "personas": dg.AssetIn("personas"),
    },
)
def content_gate(
    context: dg.AssetCheckExecutionContext,
    storyboards: list[Storyboard],
    chapters: ChapterSplit,
    understanding: list[ChapterUnderstanding],
    scripts: list[Script],
    personas: list[Persona],
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> dg.AssetCheckResult:
    verdicts = [
        (c.index, s16_content_gate.content_gate(c, u, s, b, personas))
        for c, u, s, b in zip(chapters.chapters, understanding, scripts, storyboards, strict=True)
    ]
    settle_gate(
        context,
        db,
        store,
        s16_content_gate.SKILL_ID,
        s16_content_gate.VERSION,
        verdicts,
        "NF-GATE-001",
    )
    failed = [i for i, r in verdicts if not r.passed]
    rules: dict[str, list[float]] = {}
    for _, r in verdicts:
        for f in r.findings:
            rules.setdefault(f.rule, []).append(f.value)
    return dg.AssetCheckResult(
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "chapters_checked": len(verdicts),
            "chapters_failed": len(failed),
            "failed_chapters": failures_md(verdicts),
            **{f"min_{rule}": round(min(v), 4) for rule, v in rules.items()},
            # the degradation loop's work: scripts SKILL_16 rejected once and SKILL_10 redid
            "degraded_chapters": ", ".join(
                str(s.chapter_index) for s in scripts if s.mode != "condensed"
            )
            or "none",
            "skill_version": s16_content_gate.VERSION,
        },
    )


defs = dg.Definitions(assets=[persona_assets, scripts, storyboards], asset_checks=[content_gate])
