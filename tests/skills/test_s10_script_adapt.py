from __future__ import annotations

import pytest

from nf_assets.skills import s10_script_adapt
from nf_assets.skills.contracts import Chapter
from nf_assets.skills.s03_chunk import speech_units
from nf_assets.skills.s10_script_adapt import (
    NOMINAL_RATE,
    adapt_script,
    dialogue_limit,
    normalise_line,
    trim_to_units,
)
from shared.errors import NFError
from tests.skills.planning_fixtures import en_case, long_zh_case, persona, understanding, zh_case


def _check_offsets(chapter: Chapter, script) -> None:
    for ln in script.lines:
        src = chapter.text[ln.source_start : ln.source_end]
        assert normalise_line(src) == ln.text, (ln, src)


def test_short_chapter_keeps_everything_as_exact_excerpts() -> None:
    chapter, u, personas = zh_case()
    script = adapt_script(chapter, u, personas, "zh")
    assert script.skill_version == s10_script_adapt.VERSION
    assert script.title == chapter.title and script.chapter_index == chapter.index
    assert [ln.index for ln in script.lines] == list(range(1, len(script.lines) + 1))
    assert [ln.source_start for ln in script.lines] == sorted(
        ln.source_start for ln in script.lines
    )
    _check_offsets(chapter, script)
    talk = [(ln.speaker, ln.text) for ln in script.lines if ln.kind == "dialogue"]
    assert talk == [
        ("孙悟空", "师父莫怕，有老孙在此，什么妖怪也近不得身。"),
        ("唐僧", "悟空，你要小心。"),
        ("猪八戒", "这山看着就不太平，不如回去吧。"),
        ("沙僧", "前面有妖气。"),
    ]
    narration = [ln.text for ln in script.lines if ln.kind == "narration"]
    # Quoted speech never leaks into narration; bare attributions ("行者笑道：") are dropped.
    assert not any("“" in t or "师父莫怕" in t for t in narration)
    assert "行者笑道" not in narration
    assert "清晨，师徒四人来到一座高山脚下。" in narration
    assert "行者跳到半空一看，果然有一团黑云压在山头。" in narration
    scenes = {ln.scene_index for ln in script.lines}
    assert scenes == {1, 2}
    assert all(
        ln.scene_index == (2 if ln.source_start >= chapter.text.index("　　到了傍晚") else 1)
        for ln in script.lines
    )


def test_english_chapter_dialogue_and_alias_speakers() -> None:
    chapter, u, personas = en_case()
    script = adapt_script(chapter, u, personas, "en")
    _check_offsets(chapter, script)
    talk = [(ln.speaker, ln.text) for ln in script.lines if ln.kind == "dialogue"]
    assert talk[0] == ("Alice", "Is anyone there?")
    assert ("White Rabbit", "Oh dear, I shall be late!") in talk
    narration = [ln.text for ln in script.lines if ln.kind == "narration"]
    assert "The morning was grey when Alice reached the river." in narration
    assert not any("asked Alice" == t for t in narration)


def test_speakers_are_mapped_to_personas_or_dropped() -> None:
    chapter, u, personas = zh_case()
    lines = list(u.dialogue)
    lines[0] = lines[0].model_copy(update={"speaker": "行者"})  # an alias
    lines[3] = lines[3].model_copy(update={"speaker": "土地公"})  # not a persona
    u2 = u.model_copy(update={"dialogue": lines})
    speakers = [
        ln.speaker
        for ln in adapt_script(chapter, u2, personas, "zh").lines
        if ln.kind == "dialogue"
    ]
    assert speakers == ["孙悟空", "唐僧", "猪八戒", None]


def test_terse_persona_lines_are_trimmed_to_a_prefix() -> None:
    chapter, u, personas = zh_case()
    terse = [
        persona("孙悟空", ["行者"], speech_style="terse, 言简意赅"),
        *personas[1:],
    ]
    assert dialogue_limit(terse[0], "zh") == 24
    assert dialogue_limit(persona("x", speech_style="max 10 words"), "en") == 10
    assert dialogue_limit(persona("x", speech_style="short-tempered"), "en") == 40
    text = "师父莫怕，有老孙在此，什么妖怪也近不得身。" * 3
    lines = list(u.dialogue)
    chapter2 = Chapter(index=3, title="t", text=chapter.text.replace(u.dialogue[0].quote, text))
    u2 = understanding(
        chapter2.text,
        3,
        [0],
        [d.speaker for d in lines],
        u.characters_present,
        [],
    )
    first = next(
        ln for ln in adapt_script(chapter2, u2, terse, "zh").lines if ln.kind == "dialogue"
    )
    assert first.speaker == "孙悟空"
    assert speech_units(first.text) <= 24
    assert text.startswith(first.text) and first.text
    script = adapt_script(chapter2, u2, terse, "zh")
    _check_offsets(chapter2, script)
    # The part of the quote the persona's limit cut off does not come back as narration.
    assert not any("妖怪" in ln.text for ln in script.lines if ln.kind == "narration")


def test_trim_to_units_cuts_at_sentences_then_clauses() -> None:
    assert trim_to_units("一二三。四五六。七八九。", 7) == "一二三。四五六。"
    assert trim_to_units("一二三，四五六，七八九。", 7) == "一二三，四五六"
    assert trim_to_units("one two three four five", 3) == "one two three"
    assert trim_to_units("short", 5) == "short"


def test_long_chapter_is_condensed_to_the_target_but_covers_it_all() -> None:
    chapter, u, personas = long_zh_case(n_scenes=4, per_scene=30)
    script = adapt_script(chapter, u, personas, "zh", target_seconds=60)
    units = sum(speech_units(ln.text) for ln in script.lines)
    assert units <= 60 * NOMINAL_RATE["zh"]
    assert units >= 0.7 * 60 * NOMINAL_RATE["zh"]  # the budget is used, not wasted
    assert len(script.lines) < len([d for d in chapter.text.split("\n") if d.strip()])
    assert {ln.scene_index for ln in script.lines} == {1, 2, 3, 4}
    # Spread: something from the first and the last tenth of the chapter.
    n = len(chapter.text)
    assert any(ln.source_start < n / 10 for ln in script.lines)
    assert any(ln.source_start >= 0.9 * n for ln in script.lines)
    # The summary's sentence made it in.
    assert u.summary.sentences[0] in [ln.text for ln in script.lines]
    assert any(ln.kind == "dialogue" for ln in script.lines)
    _check_offsets(chapter, script)


def test_longer_target_gives_a_longer_script_and_is_deterministic() -> None:
    chapter, u, personas = long_zh_case()
    short = adapt_script(chapter, u, personas, "zh", target_seconds=30)
    long = adapt_script(chapter, u, personas, "zh", target_seconds=90)
    assert len(long.lines) > len(short.lines)
    assert adapt_script(chapter, u, personas, "zh", target_seconds=30) == short


def test_scare_quotes_stay_in_narration() -> None:
    text = "　　他先前的“行状”也渺茫。众人都说他是个“完人”了。\n"
    chapter = Chapter(index=1, title="t", text=text)
    u = understanding(text, 1, [0], [None, None], [], [])
    script = adapt_script(chapter, u, [], "zh")
    assert [ln.kind for ln in script.lines] == ["narration", "narration"]
    assert script.lines[0].text == "他先前的“行状”也渺茫。"


def test_refuses_empty_text_and_mismatched_understanding() -> None:
    chapter, u, personas = zh_case()
    with pytest.raises(NFError) as err:
        adapt_script(Chapter(index=3, title="t", text=" \n"), u, personas, "zh")
    assert err.value.code == "NF-SKILL-001"
    with pytest.raises(NFError):
        adapt_script(chapter.model_copy(update={"index": 9}), u, personas, "zh")
    with pytest.raises(NFError):
        adapt_script(chapter, u, personas, "zh", target_seconds=0)


def test_speech_tags_before_quotes_are_cut_from_narration() -> None:
    text = (
        "　　唐僧看了看四周的树林，低声道：“这里好生冷清，不可久留。”\n"
        "　　八戒望着远处的青山，“好山！好山！”\n"
    )
    chapter = Chapter(index=1, title="t", text=text)
    u = understanding(text, 1, [0], ["唐僧", "猪八戒"], ["唐僧", "猪八戒"], [])
    personas = [persona("唐僧"), persona("猪八戒", ["八戒"])]
    script = adapt_script(chapter, u, personas, "zh")
    narration = [ln.text for ln in script.lines if ln.kind == "narration"]
    # "低声道" introduces the quote and goes; a clause without a tag or colon stays.
    assert narration == ["唐僧看了看四周的树林", "八戒望着远处的青山"]
    _check_offsets(chapter, script)
