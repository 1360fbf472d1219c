from __future__ import annotations

import pytest

from nf_skills import s10_script_adapt
from nf_skills.contracts import Chapter, Script
from nf_skills.s03_chunk import speech_units
from nf_skills.s10_script_adapt import (
    ANCHORED_CAP,
    NOMINAL_RATE,
    adapt_script,
    dialogue_limit,
    echoes,
    normalise_line,
    trim_to_units,
)
from nf_skills.s13_storyboard import make_storyboard
from nf_skills.s16_content_gate import content_gate
from shared.errors import NFError
from tests.conftest import CORPUS
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


# -- modes, summary anchoring, long quotes -------------------------------------------------------


def _gate(chapter: Chapter, u, script, personas):
    board = make_storyboard(script, u, personas=personas)
    result = content_gate(chapter, u, script, board, personas)
    return result, {f.rule: f for f in result.findings}


def _units(script) -> int:
    return sum(speech_units(ln.text) for ln in script.lines)


_SHOUTS = [
    "行者听了，心中大怒，掣出金箍棒，纵身跳到半空，高声叫道：“你这泼怪，快还我师父来！若道半个不字，"
    "教你一个个都死在棒下，再也休想逃脱！”",
    "八戒慌得丢了钉钯，扯住沙僧，战兢兢的哭道：“兄弟，师父被那黄袍老妖摄进洞去了，如今怎生是好？"
    "不如散了伙，各自回家罢！”",
    "那老龙王闻报，急整衣冠，领了龟鳖虾蟹，出宫迎接道：“上仙请了！小龙不知大圣驾到，有失远迎，"
    "万望恕罪，恕罪！”",
]


def _story_case(special: dict[int, str], speakers: list[str | None], per_scene: int = 12):
    """Six scenes of plain narration with the `special` paragraphs (by number) among them; those
    are the summary's sentences."""
    places = ["山门", "河边", "集市", "古庙", "松林", "渡口", "草堂", "城楼"]
    parts: list[str] = []
    starts: list[int] = []
    for k in range(6 * per_scene):
        if k % per_scene == 0:
            starts.append(sum(len(p) for p in parts))
        plain = f"第{k}日，师徒沿着{places[k % len(places)]}慢慢前行，一路无话。"
        parts.append(f"　　{special.get(k, plain)}\n")
    text = "".join(parts)
    chapter = Chapter(index=5, title="第五回", text=text)
    summary = [special[k] for k in sorted(special)]
    u = understanding(text, 5, starts, speakers, ["孙悟空", "猪八戒"], summary)
    return chapter, u, [persona("孙悟空", ["行者"]), persona("猪八戒", ["八戒"])]


def test_script_mode_is_recorded_and_checked() -> None:
    assert Script(chapter_index=1, title="t", lines=[], skill_version="x").mode == "condensed"
    chapter, u, personas = zh_case()
    assert adapt_script(chapter, u, personas, "zh").mode == "condensed"
    anchored = adapt_script(chapter, u, personas, "zh", mode="summary_anchored")
    assert anchored.mode == "summary_anchored"
    assert anchored.model_dump()["mode"] == "summary_anchored"
    with pytest.raises(NFError) as err:
        adapt_script(chapter, u, personas, "zh", mode="verbatim")  # type: ignore[arg-type]
    assert err.value.code == "NF-SKILL-001"


def test_anchored_mode_passes_the_gate_where_condensed_does_not() -> None:
    # The summary: three long lines in the middle of scenes 2, 4 and 6, each a speech tag and
    # a speech.
    special = dict(zip((18, 42, 66), _SHOUTS, strict=True))
    chapter, u, personas = _story_case(special, ["孙悟空", "猪八戒", None])
    condensed = adapt_script(chapter, u, personas, "zh", target_seconds=30)
    _, findings = _gate(chapter, u, condensed, personas)
    # The scene openers alone exceed the 30 s budget: no room for the long summary lines.
    assert not findings["coverage.summary"].passed
    anchored = adapt_script(chapter, u, personas, "zh", target_seconds=30, mode="summary_anchored")
    result, findings = _gate(chapter, u, anchored, personas)
    assert result.passed, [f for f in result.findings if not f.passed]
    assert findings["coverage.summary"].value >= 0.5
    assert findings["coverage.spread"].value >= 0.6
    assert {ln.scene_index for ln in anchored.lines} == set(range(1, 7))
    _check_offsets(chapter, anchored)
    # The echoed speeches are their speakers' own lines, within the persona's limit.
    talk = [ln for ln in anchored.lines if ln.kind == "dialogue"]
    assert len(talk) >= 2
    assert all(speech_units(ln.text) <= 60 for ln in talk)
    assert {ln.speaker for ln in talk} <= {"孙悟空", "猪八戒", None}
    assert [ln.source_start for ln in anchored.lines] == sorted(
        ln.source_start for ln in anchored.lines
    )


def test_anchored_mode_keeps_near_the_target_when_anchors_are_cheap() -> None:
    chapter, u, personas = long_zh_case(n_scenes=4, per_scene=30)
    script = adapt_script(chapter, u, personas, "zh", target_seconds=60, mode="summary_anchored")
    budget = 60 * NOMINAL_RATE["zh"]
    assert 0.7 * budget <= _units(script) <= ANCHORED_CAP * budget
    assert u.summary.sentences[0] in [ln.text for ln in script.lines]
    assert any(ln.kind == "dialogue" for ln in script.lines)
    result, _ = _gate(chapter, u, script, personas)
    assert result.passed, [f for f in result.findings if not f.passed]
    again = adapt_script(chapter, u, personas, "zh", target_seconds=60, mode="summary_anchored")
    assert again == script


def test_condensed_echoes_the_summary_even_when_scene_openers_take_half_the_budget() -> None:
    # Six scene openers (~19 units each) take more than half of a 75 s budget (180 units).
    summary = [
        "忽见路旁一座古塔，塔顶金光闪闪。",
        "夜里北风大作，吹倒了半边草棚。",
        "天明时分，一个樵夫挑着柴担唱歌走过。",
    ]  # in the middle of scenes 1, 4 and 6
    chapter, u, personas = _story_case(dict(zip((8, 40, 66), summary, strict=True)), [])
    script = adapt_script(chapter, u, personas, "zh", target_seconds=75)
    assert _units(script) <= 75 * NOMINAL_RATE["zh"]
    texts = [ln.text for ln in script.lines]
    assert all(s in texts for s in summary)
    assert {ln.scene_index for ln in script.lines} == set(range(1, 7))


def test_a_long_summary_sentence_is_cut_at_a_clause_boundary_that_still_echoes_it() -> None:
    clauses = [f"第{k}阵风从{p}吹来" for k, p in enumerate(["东山", "西岭", "南海", "北岳"] * 5)]
    long_sentence = "，".join(clauses) + "。"  # ~150 units: far past one narration line
    filler = [f"　　第{k}日，师徒沿着山路慢慢前行，一路无话。\n" for k in range(40)]
    text = "".join(filler[:20]) + f"　　{long_sentence}\n" + "".join(filler[20:])
    chapter = Chapter(index=2, title="t", text=text)
    u = understanding(text, 2, [0], [], [], [long_sentence])
    for mode, target in (("summary_anchored", 60), ("condensed", 600)):
        script = adapt_script(chapter, u, [], "zh", target_seconds=target, mode=mode)
        _check_offsets(chapter, script)
        [line] = [ln for ln in script.lines if echoes(ln.text, long_sentence)]
        assert long_sentence.startswith(line.text)
        assert 0.5 * speech_units(long_sentence) <= speech_units(line.text)
        assert speech_units(line.text) < speech_units(long_sentence)
        assert long_sentence[len(line.text)] == "，"  # cut at a clause boundary
        result, _ = _gate(chapter, u, script, [])
        assert result.passed, (mode, [f for f in result.findings if not f.passed])


def test_a_letter_over_many_paragraphs_is_told_paragraph_by_paragraph() -> None:
    paragraphs = [
        f"“In the {w} place, I must tell you that the weather at the lake was cold and the "
        f"house was quiet, and nobody came to call on us for {n} days."
        for w, n in zip(["first", "second", "third", "fourth", "fifth", "sixth", "seventh",
                         "eighth", "ninth", "tenth", "eleventh", "twelfth"], range(2, 14),
                        strict=True)
    ]  # fmt: skip
    text = (
        "Jane took the letter to the window and read it slowly.\n\n"
        + "\n\n".join(paragraphs)
        + "\n\n“Your friend, Charlotte.”\n\n"
        "She folded the letter and went down to dinner.\n"
    )
    chapter = Chapter(index=4, title="CHAPTER IV.", text=text)
    u = understanding(text, 4, [0], [None], [], [])
    [quote] = u.dialogue
    assert "\n\n" in quote.quote  # one quote from the first paragraph to the signature
    script = adapt_script(chapter, u, [], "en", target_seconds=40)
    _check_offsets(chapter, script)
    talk = [ln for ln in script.lines if ln.kind == "dialogue"]
    assert len(talk) >= 3  # one trimmed line for the whole letter before
    for ln in talk:
        assert quote.start <= ln.source_start and ln.source_end <= quote.end
        assert text[ln.source_start - 1] == "“"  # each line opens a paragraph of the letter
    result, findings = _gate(chapter, u, script, [])
    assert findings["coverage.spread"].value >= 0.6
    assert result.passed, [f for f in result.findings if not f.passed]


def test_a_long_one_paragraph_speech_is_reached_by_excerpts_within_the_persona_limit() -> None:
    speech = "".join(
        f"我第{k}次路过{p}，见那妖怪又在作乱。" for k, p in enumerate(["山门", "河边"] * 20)
    )
    filler = [f"　　第{k}日，师徒沿着山路慢慢前行，一路无话。\n" for k in range(10)]
    text = "".join(filler[:5]) + f"　　行者道：“{speech}”\n" + "".join(filler[5:])
    chapter = Chapter(index=6, title="t", text=text)
    terse = [persona("孙悟空", ["行者"], speech_style="terse")]
    u = understanding(text, 6, [0], ["孙悟空"], ["孙悟空"], [])
    script = adapt_script(chapter, u, terse, "zh", target_seconds=60)
    _check_offsets(chapter, script)
    q = u.dialogue[0]
    inside = [ln for ln in script.lines if q.start <= ln.source_start < q.end]
    assert len(inside) >= 4  # the speech fills most of the chapter's tenths
    assert all(ln.kind == "dialogue" and ln.speaker == "孙悟空" for ln in inside)
    assert all(speech_units(ln.text) <= dialogue_limit(terse[0], "zh") for ln in inside)
    result, findings = _gate(chapter, u, script, terse)
    assert findings["coverage.spread"].value >= 0.6
    assert result.passed, [f for f in result.findings if not f.passed]


def test_normalise_line_joins_wrapped_chinese_but_keeps_spaces_within_a_line() -> None:
    assert normalise_line("山路崎\n　　岖，林中") == "山路崎岖，林中"
    # A space inside a line stands for something (here an unencodable character); SKILL_16
    # compares the line with the source, where it is still there.
    assert normalise_line("有些酣 之味。") == "有些酣 之味。"
    assert normalise_line("one\n  two") == "one two"


# -- the whole corpus, with the real understanding skills ----------------------------------------


BOOKS = [
    "en_alice_in_wonderland.txt",
    "en_pride_and_prejudice.txt",
    "zh_a_q_zhengzhuan.txt",
    "zh_xiyouji.txt",
]


@pytest.mark.slow
@pytest.mark.parametrize("book", BOOKS)
def test_summary_anchored_scripts_pass_the_content_gate_on_every_corpus_chapter(book) -> None:
    from nf_skills import s01_ingest, s02_chapter_split, s05_characters, s14_persona
    from nf_skills.understand import understand_chapter

    src = s01_ingest.ingest((CORPUS / book).read_bytes())
    lang = src.language
    chapters = s02_chapter_split.split_chapters(src.text, lang).chapters
    characters = s05_characters.extract_characters(chapters, lang, top_n=50)
    understandings = [understand_chapter(c, characters, lang) for c in chapters]
    personas = s14_persona.build_personas(characters, understandings, chapters, lang)
    failed = {}
    for chapter, u in zip(chapters, understandings, strict=True):
        script = adapt_script(chapter, u, personas, lang, mode="summary_anchored")
        assert script.mode == "summary_anchored"
        result, _ = _gate(chapter, u, script, personas)
        if not result.passed:
            failed[chapter.index] = [(f.rule, f.value) for f in result.findings if not f.passed]
    assert not failed, failed
