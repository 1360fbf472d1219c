from __future__ import annotations

from collections import Counter

from nf_skills import s08_dialogue as s08
from nf_skills.contracts import Chapter, Character, CharacterList
from nf_skills.s05_characters import extract_characters
from nf_skills.s08_dialogue import attribute_dialogue
from tests.skills.understanding_corpus import corpus_chapters


def _cl(*groups: tuple[str, ...]) -> CharacterList:
    chars = [Character(name=g[0], aliases=list(g[1:]), mentions=10) for g in groups]
    return CharacterList(characters=chars, skill_version="test")


def _ch(text: str) -> Chapter:
    return Chapter(index=3, title="t", text=text)


ZH_CAST = _cl(("孙悟空", "行者", "悟空", "大圣"), ("唐僧", "三藏"), ("猪八戒", "八戒"), ("菩萨",))


def test_zh_speaker_before_and_after_the_quote() -> None:
    text = "行者道：“师父，前面有山。”三藏笑道：“仔细。”“我去也！”八戒叫道。"
    lines = attribute_dialogue(_ch(text), ZH_CAST, "zh")
    assert [d.quote for d in lines] == ["师父，前面有山。", "仔细。", "我去也！"]
    assert [d.speaker for d in lines] == ["孙悟空", "唐僧", "猪八戒"]  # aliases -> canonical
    assert [d.cue for d in lines] == ["道", "笑道", "叫道"]
    for d in lines:  # offsets point at the quote marks in the chapter text
        assert text[d.start] == "“" and text[d.end - 1] == "”"
        assert text[d.start + 1 : d.end - 1] == d.quote
        assert d.chapter_index == 3


def test_zh_name_right_before_the_verb_wins_over_an_object() -> None:
    text = "三藏见了菩萨，连忙下拜。菩萨道：“起来。”"
    (line,) = attribute_dialogue(_ch(text), ZH_CAST, "zh")
    assert line.speaker == "菩萨"


def test_zh_nested_and_corner_quotes() -> None:
    text = "八戒道：「哥哥说『不可』，你偏要去。」悟空道：“他说‘走’。”"
    lines = attribute_dialogue(_ch(text), ZH_CAST, "zh")
    assert [d.quote for d in lines] == ["哥哥说『不可』，你偏要去。", "他说‘走’。"]
    assert [d.speaker for d in lines] == ["猪八戒", "孙悟空"]


def test_zh_colon_at_the_end_of_the_previous_paragraph() -> None:
    text = "大圣听了，跳起来叫道：\n“拿棒来！”\n"
    (line,) = attribute_dialogue(_ch(text), ZH_CAST, "zh")
    assert line.speaker == "孙悟空" and line.cue == "叫道"


def test_zh_pronoun_takes_the_nearest_character_named_before() -> None:
    text = "八戒睡在石上。他道：“好困。”"
    (line,) = attribute_dialogue(_ch(text), ZH_CAST, "zh")
    assert line.speaker == "猪八戒" and line.cue == "pronoun"


def test_zh_unknown_speaker_stays_none_and_scare_quotes_are_dropped() -> None:
    text = "这足见我不是一个“立言”的人。那老者道：“请进。”"
    lines = attribute_dialogue(_ch(text), ZH_CAST, "zh")
    assert [d.quote for d in lines] == ["请进。"]
    assert lines[0].speaker is None and lines[0].cue is None


EN_CAST = _cl(("Alice",), ("Queen",), ("Hatter",), ("Mr. Darcy", "Darcy"), ("Elizabeth", "Lizzy"))


def test_en_said_patterns() -> None:
    text = (
        "“Off with her head!” the Queen shouted.\n\n"
        "“Why?” said Alice.\n\n"
        "Then said the Hatter, “Have some wine.”\n\n"
        "Alice said, “I don’t see any wine.”\n\n"
        "“It is,” said Mr.\nDarcy, “a truth.”"
    )
    lines = attribute_dialogue(_ch(text), EN_CAST, "en")
    got = [(d.quote, d.speaker) for d in lines]
    assert got == [
        ("Off with her head!", "Queen"),
        ("Why?", "Alice"),
        ("Have some wine.", "Hatter"),
        ("I don’t see any wine.", "Alice"),
        ("It is,", "Mr. Darcy"),
        ("a truth.", "Mr. Darcy"),
    ]
    assert lines[0].cue == "shouted" and lines[1].cue == "said"


def test_en_apostrophes_do_not_close_single_quotes() -> None:
    text = "“You said ‘I can’t’ yesterday,” said the Hatter."
    (line,) = attribute_dialogue(_ch(text), EN_CAST, "en")
    assert line.quote == "You said ‘I can’t’ yesterday," and line.speaker == "Hatter"


def test_en_alternation_and_pronouns() -> None:
    text = (
        "“Are you coming?” said Elizabeth.\n\n"
        "“Not yet,” replied Mr. Darcy.\n\n"
        "“Why not?”\n\n"
        "“Because it rains.”\n\n"
        "Elizabeth laughed at him. “You are afraid of rain,” she said."
    )
    lines = attribute_dialogue(_ch(text), EN_CAST, "en")
    assert [d.speaker for d in lines] == [
        "Elizabeth",
        "Mr. Darcy",
        "Elizabeth",
        "Mr. Darcy",
        "Elizabeth",
    ]
    assert [d.cue for d in lines][2:] == ["alternation", "alternation", "pronoun"]


def test_en_pronoun_respects_gender() -> None:
    text = (
        "Mr. Darcy looked at Elizabeth, and she looked away.\n\n"
        "“I never dance,” he said.\n\n"
        "Elizabeth looked at Mr. Darcy. “Nor I,” she said."
    )
    lines = attribute_dialogue(_ch(text), EN_CAST, "en")
    assert [d.speaker for d in lines] == ["Mr. Darcy", "Elizabeth"]


def test_en_one_speaker_per_paragraph() -> None:
    text = "“Well,” said Alice, “I think so. What then?” She paused. “Nothing.”"
    lines = attribute_dialogue(_ch(text), EN_CAST, "en")
    assert [d.speaker for d in lines] == ["Alice", "Alice", "Alice"]
    assert lines[-1].cue == "paragraph"


def test_en_unattributed_without_cues() -> None:
    text = "“Who is there?”\n\nNobody answered."
    (line,) = attribute_dialogue(_ch(text), EN_CAST, "en")
    assert line.speaker is None and line.cue is None


def test_empty_chapter() -> None:
    assert attribute_dialogue(_ch(""), EN_CAST, "en") == []
    assert s08.SKILL_ID == "SKILL_08"


def test_alice_corpus_share_and_known_lines() -> None:
    chapters = list(corpus_chapters("en_alice_in_wonderland.txt"))
    cast = extract_characters(chapters, "en")
    lines = [d for ch in chapters for d in attribute_dialogue(ch, cast, "en")]
    assert len(lines) > 900
    share = sum(1 for d in lines if d.speaker) / len(lines)
    assert share > 0.75
    by_quote = {}
    for d in lines:
        by_quote.setdefault(d.quote.replace("_", ""), []).append(d.speaker)
    assert set(by_quote["Who are you?"]) == {"Caterpillar"}
    assert by_quote["Curiouser and curiouser!"] == ["Alice"]
    assert by_quote["Your hair wants cutting,"] == ["Hatter"]
    off = Counter(
        d.speaker for d in lines if d.quote.replace("_", "").startswith("Off with her head")
    )
    assert off.most_common(1)[0][0] == "Queen"


def test_xiyouji_chapter_share() -> None:
    chapters = list(corpus_chapters("zh_xiyouji.txt"))[:3]
    cast = extract_characters(chapters, "zh", top_n=30)
    lines = [d for ch in chapters for d in attribute_dialogue(ch, cast, "zh")]
    assert len(lines) > 100
    assert sum(1 for d in lines if d.speaker) / len(lines) > 0.6
    text = chapters[0].text
    for d in lines[:50]:
        if d.chapter_index == chapters[0].index:
            assert text[d.start + 1 : d.start + 1 + len(d.quote)] == d.quote
