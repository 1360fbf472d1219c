"""One chapter's understanding in one call: summary (SKILL_04), scenes (SKILL_07), dialogue
(SKILL_08), settings (SKILL_12) and the characters present, with the versions that made them."""

from __future__ import annotations

from collections import Counter

from nf_assets.skills import _textkit as tk
from nf_assets.skills import s04_summarize, s07_scenes, s08_dialogue, s12_settings
from nf_assets.skills.contracts import Chapter, ChapterUnderstanding, CharacterList


def understand_chapter(
    chapter: Chapter, characters: CharacterList, language: str
) -> ChapterUnderstanding:
    text = tk.analysis_text(chapter.text, language)
    matcher = tk.matcher_for(characters.characters, language)
    present = Counter(matcher.mentions(text))
    return ChapterUnderstanding(
        chapter_index=chapter.index,
        summary=s04_summarize.summarize(chapter, language),
        scenes=s07_scenes.split_scenes(chapter, language),
        dialogue=s08_dialogue.attribute_dialogue(chapter, characters, language),
        characters_present=sorted(present, key=lambda n: (-present[n], n)),
        settings=s12_settings.extract_settings(chapter, language),
        skill_versions={
            s04_summarize.SKILL_ID: s04_summarize.VERSION,
            s07_scenes.SKILL_ID: s07_scenes.VERSION,
            s08_dialogue.SKILL_ID: s08_dialogue.VERSION,
            s12_settings.SKILL_ID: s12_settings.VERSION,
            "SKILL_05": characters.skill_version,
        },
    )
