from __future__ import annotations

import re

from nf_skills import s14_persona as s14
from nf_skills.contracts import Chapter, Character, CharacterList
from nf_skills.s05_characters import extract_characters
from nf_skills.s14_persona import build_personas, colour_for
from nf_skills.understand import understand_chapter
from tests.skills.understanding_corpus import corpus_chapters

EN_TEXT = "\n\n".join(
    [
        "Tom was a tall young man with dark eyes. Tom was very angry that morning.",
        "“Go away!” said Tom. “Now!”",
        "Mary was a little old woman. Mary was very kind to everyone, and she smiled.",
        "“Would you like some tea, my dear, before the long walk back to the village?” said Mary.",
        "“No!” said Tom. Tom was angry again, and he shouted. Tom left, and he ran home.",
        "Tom sat down, and he wept. Tom stood up, and he laughed.",
        "Mary was kind again, and she smiled. Mary sang, and she laughed.",
        "“Then have some cake, and tell me about your journey, and about the garden,” said Mary.",
    ]
)
CAST = CharacterList(
    characters=[Character(name="Tom", mentions=6), Character(name="Mary", mentions=4)],
    skill_version="t",
)


def _chapters() -> list[Chapter]:
    return [Chapter(index=1, title="I", text=EN_TEXT)]


def test_en_persona_cards() -> None:
    tom, mary = build_personas(CAST, None, _chapters(), "en")
    assert tom.name == "Tom" and tom.skill_version == s14.VERSION
    assert "dark eyes" in tom.appearance
    assert "tall young man" in tom.appearance
    assert "angry" in tom.traits
    assert "kind" in mary.traits
    assert "little old woman" in mary.appearance
    assert tom.speech_style.startswith("terse")
    assert "100% exclamations" in tom.speech_style
    assert mary.speech_style.startswith("measured") or mary.speech_style.startswith("verbose")
    assert "questions" in mary.speech_style
    assert tom.gender == "m" and mary.gender == "f"
    assert mary.sample_lines[0].startswith("Would you like some tea")
    assert re.fullmatch(r"#[0-9a-f]{6}", tom.colour) and tom.colour in s14.PALETTE


def test_deterministic_and_same_with_or_without_understandings() -> None:
    chapters = _chapters()
    a = build_personas(CAST, None, chapters, "en")
    u = [understand_chapter(ch, CAST, "en") for ch in chapters]
    b = build_personas(CAST, u, chapters, "en")
    assert a == b
    assert colour_for("Tom") == colour_for("Tom") == a[0].colour


def test_top_n_and_empty() -> None:
    assert len(build_personas(CAST, None, _chapters(), "en", top_n=1)) == 1
    empty = CharacterList(characters=[], skill_version="t")
    assert build_personas(empty, None, _chapters(), "en") == []
    (tom,) = build_personas(CAST, None, [Chapter(index=1, title="I", text="Tom.")], "en", 1)
    assert tom.sample_lines == [] and tom.appearance == ""


def test_zh_persona_on_a_few_chapters() -> None:
    chapters = list(corpus_chapters("zh_xiyouji.txt"))[:8]
    cast = extract_characters(chapters, "zh", top_n=10)
    ps = build_personas(cast, None, chapters, "zh", top_n=3)
    assert [p.name for p in ps] == [c.name for c in cast.characters[:3]]
    wukong = next(p for p in ps if "悟空" in {p.name, *p.aliases})
    assert wukong.sample_lines and all(
        line in "".join(ch.text for ch in chapters).replace("\n", "") or line
        for line in wukong.sample_lines
    )
    assert "chars per line" in wukong.speech_style
    assert wukong.gender == "m"
