"""One chapter's understanding: summary (SKILL_04), scenes (SKILL_07), dialogue (SKILL_08),
settings (SKILL_12) and the characters present, with the versions that made them."""

from __future__ import annotations

from collections import Counter

from nf_skills import _textkit as tk
from nf_skills import s04_summarize, s07_scenes, s08_dialogue, s12_settings
from nf_skills.contracts import (
    Chapter,
    ChapterUnderstanding,
    CharacterList,
    DialogueLine,
    Scene,
    Setting,
    Summary,
)


def assemble(
    chapter: Chapter,
    characters: CharacterList,
    language: str,
    summary: Summary,
    scenes: list[Scene],
    dialogue: list[DialogueLine],
    settings: list[Setting],
) -> ChapterUnderstanding:
    """Combine the per-skill results (the asset graph runs each skill as its own op)."""
    text = tk.analysis_text(chapter.text, language)
    present = Counter(tk.matcher_for(characters.characters, language).mentions(text))
    return ChapterUnderstanding(
        chapter_index=chapter.index,
        summary=summary,
        scenes=scenes,
        dialogue=dialogue,
        characters_present=sorted(present, key=lambda n: (-present[n], n)),
        settings=settings,
        skill_versions={
            s04_summarize.SKILL_ID: s04_summarize.VERSION,
            s07_scenes.SKILL_ID: s07_scenes.VERSION,
            s08_dialogue.SKILL_ID: s08_dialogue.VERSION,
            s12_settings.SKILL_ID: s12_settings.VERSION,
            "SKILL_05": characters.skill_version,
        },
    )


def understand_chapter(
    chapter: Chapter, characters: CharacterList, language: str
) -> ChapterUnderstanding:
    return assemble(
        chapter,
        characters,
        language,
        s04_summarize.summarize(chapter, language),
        s07_scenes.split_scenes(chapter, language),
        s08_dialogue.attribute_dialogue(chapter, characters, language),
        s12_settings.extract_settings(chapter, language),
    )
