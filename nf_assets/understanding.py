"""Understanding domain: characters (SKILL_05), relations (06), and per chapter summaries (04),
scenes (07), dialogue attribution (08) and settings (12)."""

import dagster as dg

from nf_assets.llm_attribution import attribute_unassigned
from nf_assets.partitions import novels_partitions
from nf_assets.runtime import (
    ProviderCallConfig,
    active_skill_config,
    open_recorder,
    project_config,
)
from nf_services.database import ArtifactStoreResource, DatabaseResource
from nf_services.providers.registry import resolve_config, settings_config
from nf_services.skill_cache import Unit
from nf_skills import (
    s04_summarize,
    s05_characters,
    s06_relations,
    s07_scenes,
    s08_dialogue,
    s12_settings,
    understand,
)
from nf_skills.contracts import (
    Chapter,
    ChapterSplit,
    ChapterUnderstanding,
    CharacterList,
    DialogueLine,
    RelationGraph,
    Scene,
    Setting,
    Summary,
)
from shared.stages import Stage

TOP_CHARACTERS = 50


def _characters(chapters: list[Chapter], language: str) -> CharacterList:
    return s05_characters.extract_characters(chapters, language, top_n=TOP_CHARACTERS)


def _dialogue(chapter, characters, language, chat_config=None, retry_scale=1.0):
    lines = s08_dialogue.attribute_dialogue(chapter, characters, language)
    if chat_config is None:
        return lines  # offline: the rules' answer
    return attribute_unassigned(lines, chapter, characters, chat_config, retry_scale)


def _per_chapter(rec, skill, fn, out_type, chapters: list[Chapter], *extra):
    units = [Unit(c.index, (c, *extra)) for c in chapters]
    return rec.run(skill, Stage.UNDERSTAND, units, fn, out_type)


@dg.op
def skill_05_characters(
    context,
    chapters: ChapterSplit,
    language: str,
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> CharacterList:
    rec = open_recorder(context, db, store)
    rec.set_stage(Stage.UNDERSTAND)
    [result] = rec.run(
        s05_characters,
        Stage.UNDERSTAND,
        [Unit(None, (chapters.chapters, language))],
        _characters,
        CharacterList,
    )
    top = result.characters[:15]
    context.add_output_metadata(
        {
            "characters": len(result.characters),
            "top_characters": dg.MetadataValue.md(
                "| name | aliases | mentions |\n|---|---|---:|\n"
                + "\n".join(f"| {c.name} | {', '.join(c.aliases)} | {c.mentions} |" for c in top)
            ),
            "skill_version": result.skill_version,
        }
    )
    return result


@dg.op
def skill_06_relations(
    context,
    chapters: ChapterSplit,
    characters: CharacterList,
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> RelationGraph:
    rec = open_recorder(context, db, store)
    [graph] = rec.run(
        s06_relations,
        Stage.UNDERSTAND,
        [Unit(None, (chapters.chapters, characters))],
        s06_relations.relation_graph,
        RelationGraph,
    )
    context.add_output_metadata({"relations": len(graph.relations)})
    return graph


@dg.op
def skill_04_summarize(
    context,
    chapters: ChapterSplit,
    language: str,
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> list[Summary]:
    rec = open_recorder(context, db, store)
    return _per_chapter(
        rec, s04_summarize, s04_summarize.summarize, Summary, chapters.chapters, language
    )


@dg.op
def skill_07_scenes(
    context,
    chapters: ChapterSplit,
    language: str,
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> list[list[Scene]]:
    rec = open_recorder(context, db, store)
    return _per_chapter(
        rec, s07_scenes, s07_scenes.split_scenes, list[Scene], chapters.chapters, language
    )


@dg.op
def skill_08_dialogue(
    context,
    config: ProviderCallConfig,
    chapters: ChapterSplit,
    characters: CharacterList,
    language: str,
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> list[list[DialogueLine]]:
    rec = open_recorder(context, db, store)
    # opt-in: with `{"dialogue": {"llm_attribution": true}}` in the project config, or a chat
    # section in SKILL_08's active version config, the configured chat provider (skill version >
    # project > environment) answers the quotes the rules leave unattributed; otherwise (the
    # default) the units are exactly the rules' ones
    project = project_config(db, context.partition_key)
    skill_cfg = active_skill_config(db, context.partition_key, s08_dialogue.SKILL_ID)
    wanted = bool((project.get("dialogue") or {}).get("llm_attribution")) or "chat" in (
        skill_cfg.get("providers") or skill_cfg
    )
    chat = resolve_config("chat", project, skill_cfg, defaults=settings_config()) if wanted else {}
    if chat.get("kind", "offline") == "offline":
        return _per_chapter(
            rec,
            s08_dialogue,
            _dialogue,
            list[DialogueLine],
            chapters.chapters,
            characters,
            language,
        )
    units = [
        Unit(c.index, (c, characters, language, chat), (c, characters, language, chat, scale))
        for c in chapters.chapters
        for scale in [config.retry_scale]
    ]
    return rec.run(s08_dialogue, Stage.UNDERSTAND, units, _dialogue, list[DialogueLine])


@dg.op
def skill_12_settings(
    context,
    chapters: ChapterSplit,
    language: str,
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> list[list[Setting]]:
    rec = open_recorder(context, db, store)
    return _per_chapter(
        rec, s12_settings, s12_settings.extract_settings, list[Setting], chapters.chapters, language
    )


@dg.op
def language_of(novel_source) -> str:
    return novel_source.language


@dg.op
def assemble_understanding(
    context,
    novel_source,
    chapters: ChapterSplit,
    characters: CharacterList,
    summaries: list[Summary],
    scenes: list[list[Scene]],
    dialogue: list[list[DialogueLine]],
    settings: list[list[Setting]],
) -> list[ChapterUnderstanding]:
    out = [
        understand.assemble(ch, characters, novel_source.language, *parts)
        for ch, *parts in zip(chapters.chapters, summaries, scenes, dialogue, settings, strict=True)
    ]
    context.add_output_metadata(
        {
            "chapters": len(out),
            "scenes": sum(len(u.scenes) for u in out),
            "quotes": sum(len(u.dialogue) for u in out),
            "quotes_attributed": sum(1 for u in out for d in u.dialogue if d.speaker),
        }
    )
    return out


@dg.graph_multi_asset(
    outs={
        "characters": dg.AssetOut(description="SKILL_05: characters with aliases and mentions"),
        "relations": dg.AssetOut(description="SKILL_06: character co-occurrence graph"),
        "understanding": dg.AssetOut(
            description="SKILL_04/07/08/12 per chapter: summary, scenes, dialogue, settings"
        ),
    },
    partitions_def=novels_partitions,
    group_name="understanding",
)
def understanding_assets(novel_source, chapters):
    language = language_of(novel_source)
    characters = skill_05_characters(chapters, language)
    relations = skill_06_relations(chapters, characters)
    understanding = assemble_understanding(
        novel_source,
        chapters,
        characters,
        skill_04_summarize(chapters, language),
        skill_07_scenes(chapters, language),
        skill_08_dialogue(chapters, characters, language),
        skill_12_settings(chapters, language),
    )
    return {"characters": characters, "relations": relations, "understanding": understanding}


defs = dg.Definitions(assets=[understanding_assets])
