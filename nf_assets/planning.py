"""Planning domain: style bible (SKILL_15) and continuity (19) come first, then the render plan
(09) within a budget, then SKILL_20 compiles everything into the versioned prompts that are the
only thing executors ever receive."""

import dagster as dg

from nf_assets.executors import refine_image_prompts
from nf_assets.partitions import novels_partitions
from nf_assets.runtime import (
    ProviderCallConfig,
    active_skill_config,
    open_recorder,
    project_config,
)
from nf_services.database import ArtifactStoreResource, DatabaseResource
from nf_services.media.reference_sheet import store_reference_sheet
from nf_services.providers.registry import resolve_config, settings_config
from nf_services.skill_cache import Outcome, Unit
from nf_skills import s09_render_plan, s15_style_bible, s19_continuity, s20_prompt_compile
from nf_skills.contracts import (
    CompiledPrompt,
    ContinuitySheet,
    Persona,
    RenderPlan,
    Script,
    Storyboard,
    StyleBible,
    VoiceAssignment,
)
from shared.stages import Stage
from shared.storage import StoreSpec

BUDGET_SECONDS = 180.0
MIN_SECONDS = 60.0


def _plan(board, script, style, cont, rate):
    return s09_render_plan.render_plan(
        board,
        script,
        style,
        cont,
        budget_seconds=BUDGET_SECONDS,
        min_seconds=MIN_SECONDS,
        speech_rate=rate,
    )


def _compile(*args):
    *compile_args, chat_config, retry_scale = args
    prompts = s20_prompt_compile.compile_prompts(*compile_args)
    if chat_config.get("kind", "offline") == "offline":
        return prompts  # the offline panel renderer draws from params, not prose
    return refine_image_prompts(prompts, chat_config, retry_scale)


@dg.op
def skill_15_style_bible(
    context, novel_source, db: DatabaseResource, store: ArtifactStoreResource
) -> StyleBible:
    rec = open_recorder(context, db, store)
    rec.set_stage(Stage.STYLE)
    args = (project_config(db, context.partition_key).get("style"), novel_source.language)
    [style] = rec.run(
        s15_style_bible, Stage.STYLE, [Unit(None, args)], s15_style_bible.style_bible, StyleBible
    )
    context.add_output_metadata(
        {
            "size": f"{style.width}x{style.height}",
            "font": style.font_family,
            "palette": ", ".join(style.palette),
        }
    )
    return style


@dg.op
def skill_19_continuity(
    context,
    personas: list[Persona],
    style: StyleBible,
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> ContinuitySheet:
    rec = open_recorder(context, db, store)
    args = (personas, style)
    [sheet] = rec.run(
        s19_continuity,
        Stage.STYLE,
        [Unit(None, args, (*args, rec.store.spec))],
        _continuity_with_sheet,
        ContinuitySheet,
    )
    context.add_output_metadata(
        {
            "characters": len(sheet.character_colours),
            "drawn_characters": ", ".join(sheet.character_designs) or "none",
        }
    )
    return sheet


def _continuity_with_sheet(personas: list[Persona], style: StyleBible, store: StoreSpec) -> Outcome:
    """SKILL_19, plus its reference sheet drawn as a PNG artifact (the panels' own bitmaps)."""
    sheet = s19_continuity.continuity(personas, style)
    png = store_reference_sheet(sheet, store)
    return Outcome(output=sheet, files=[png] if png else [])


@dg.graph_multi_asset(
    outs={
        "style_bible": dg.AssetOut(description="SKILL_15: project style constraints"),
        "continuity": dg.AssetOut(description="SKILL_19: per-character colours and marks"),
    },
    partitions_def=novels_partitions,
    group_name="planning",
)
def style_assets(novel_source, personas):
    style = skill_15_style_bible(novel_source)
    return {"style_bible": style, "continuity": skill_19_continuity(personas, style)}


@dg.asset(
    partitions_def=novels_partitions,
    group_name="planning",
    description="SKILL_09: frames, narration and durations per shot, within budget",
)
def render_plans(
    context,
    storyboards: list[Storyboard],
    scripts: list[Script],
    style_bible: StyleBible,
    continuity: ContinuitySheet,
    novel_source,
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> list[RenderPlan]:
    rec = open_recorder(context, db, store)
    rec.set_stage(Stage.PLAN)
    rate = s09_render_plan.speech_rate_for(novel_source.language)
    units = [
        Unit(b.chapter_index, a)
        for b, s in zip(storyboards, scripts, strict=True)
        for a in [(b, s, style_bible, continuity, rate)]
    ]
    plans = rec.run(s09_render_plan, Stage.PLAN, units, _plan, RenderPlan)
    secs = [p.est_seconds for p in plans]
    context.add_output_metadata(
        {
            "planned_minutes": round(sum(secs) / 60, 1),
            "min_chapter_seconds": round(min(secs), 1),
            "max_chapter_seconds": round(max(secs), 1),
            "images_needed": sum(1 for p in plans for s in p.shots if s.needs_image),
        }
    )
    return plans


@dg.asset(
    partitions_def=novels_partitions,
    group_name="planning",
    description="SKILL_20: provider-ready versioned prompts, the executors' input",
)
def compiled_prompts(
    context,
    config: ProviderCallConfig,
    render_plans: list[RenderPlan],
    storyboards: list[Storyboard],
    style_bible: StyleBible,
    continuity: ContinuitySheet,
    personas: list[Persona],
    voice_cast: list[VoiceAssignment],
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> list[list[CompiledPrompt]]:
    rec = open_recorder(context, db, store)
    rec.set_stage(Stage.COMPILE)
    # a configured chat provider (skill version > project > environment) refines image prompts
    chat = resolve_config(
        "chat",
        project_config(db, context.partition_key),
        active_skill_config(db, context.partition_key, s20_prompt_compile.SKILL_ID),
        defaults=settings_config(),
    )
    units = [
        Unit(p.chapter_index, (*a, chat), (*a, chat, config.retry_scale))
        for p, b in zip(render_plans, storyboards, strict=True)
        for a in [(p, b, style_bible, continuity, personas, voice_cast)]
    ]
    prompts = rec.run(s20_prompt_compile, Stage.COMPILE, units, _compile, list[CompiledPrompt])
    flat = [p for ch in prompts for p in ch]
    context.add_output_metadata(
        {
            "image_prompts": sum(1 for p in flat if p.kind == "image"),
            "speech_prompts": sum(1 for p in flat if p.kind == "speech"),
            "template_versions": ", ".join(sorted({p.template_version for p in flat})),
            "chat_provider": chat.get("kind", "offline"),
            "chat_retries": rec.stats[s20_prompt_compile.SKILL_ID].retries,
            "chat_fallbacks": rec.stats[s20_prompt_compile.SKILL_ID].degradations,
        }
    )
    return prompts


defs = dg.Definitions(assets=[style_assets, render_plans, compiled_prompts])
