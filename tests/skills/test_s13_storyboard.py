from __future__ import annotations

from collections import Counter

import pytest

from nf_skills import s13_storyboard
from nf_skills.contracts import Script, ScriptLine, Storyboard
from nf_skills.s10_script_adapt import adapt_script
from nf_skills.s13_storyboard import make_storyboard
from shared.errors import NFError
from tests.skills.planning_fixtures import en_case, long_zh_case, zh_case


def _line(i: int, kind: str, text: str, scene: int = 1, speaker: str | None = None) -> ScriptLine:
    return ScriptLine(
        index=i,
        kind=kind,
        speaker=speaker,
        text=text,
        scene_index=scene,
        source_start=i * 10,
        source_end=i * 10 + 5,
    )


def _assert_covers(script: Script, board: Storyboard) -> None:
    counts = Counter(i for s in board.shots for i in s.line_indices)
    assert set(counts) == {ln.index for ln in script.lines}
    assert set(counts.values()) == {1}
    assert all(s.line_indices and s.caption.strip() for s in board.shots)
    assert [s.index for s in board.shots] == list(range(1, len(board.shots) + 1))
    # Shots follow the script order.
    flat = [i for s in board.shots for i in s.line_indices]
    assert flat == sorted(flat)


def test_every_line_in_exactly_one_shot_for_real_scripts() -> None:
    for case, lang in ((zh_case, "zh"), (en_case, "en"), (long_zh_case, "zh")):
        chapter, u, personas = case()
        script = adapt_script(chapter, u, personas, lang)
        board = make_storyboard(script, u, personas=personas)
        _assert_covers(script, board)
        assert board.skill_version == s13_storyboard.VERSION
        assert board.title == chapter.title
        assert {s.scene_index for s in board.shots} == {ln.scene_index for ln in script.lines}


def test_framing_follows_content() -> None:
    chapter, u, personas = zh_case()
    script = Script(
        chapter_index=3,
        title="t",
        skill_version="x",
        lines=[
            _line(1, "narration", "清晨，师徒四人来到一座高山脚下。"),
            _line(2, "narration", "唐僧骑在马上，望着远处的山峰。"),
            _line(3, "dialogue", "师父莫怕。", speaker="孙悟空"),
            _line(4, "dialogue", "悟空，你要小心。", speaker="唐僧"),
            _line(5, "narration", "山风吹过松林，沙沙作响。"),
            _line(6, "dialogue", "这山看着就不太平。", speaker="猪八戒"),
            _line(7, "narration", "到了傍晚，庙里空无一人。", scene=2),
        ],
    )
    board = make_storyboard(script, u, personas=personas)
    _assert_covers(script, board)
    by_lines = {tuple(s.line_indices): s for s in board.shots}
    opening = by_lines[(1, 2)]
    assert opening.framing == "wide" and opening.characters == ["唐僧"]
    two = by_lines[(3, 4)]
    assert two.framing == "medium" and two.characters[:2] == ["孙悟空", "唐僧"]
    assert two.caption.startswith("孙悟空：")
    assert by_lines[(5,)].framing == "wide"  # narration with nobody in it
    solo = by_lines[(6,)]
    assert solo.framing == "close" and solo.characters == ["猪八戒"]
    evening = by_lines[(7,)]
    assert evening.framing == "wide" and evening.scene_index == 2


def test_aliases_are_resolved_to_canonical_names() -> None:
    _, u, personas = zh_case()
    script = Script(
        chapter_index=3,
        title="t",
        skill_version="x",
        lines=[
            _line(1, "narration", "开场。"),
            _line(2, "narration", "行者和八戒在前面开路，三藏跟在后面。"),
        ],
    )
    board = make_storyboard(script, u, personas=personas)
    assert board.shots[-1].characters == ["孙悟空", "猪八戒", "唐僧"]
    # Without personas only canonical names are known.
    assert make_storyboard(script, u).shots[-1].characters == []


def test_english_names_match_whole_words_only() -> None:
    _, u, personas = en_case()
    script = Script(
        chapter_index=1,
        title="t",
        skill_version="x",
        lines=[
            _line(1, "narration", "A start."),
            _line(2, "narration", "Malice and Rabbits were everywhere, but Alice saw the Rabbit."),
        ],
    )
    assert make_storyboard(script, u, personas=personas).shots[-1].characters == [
        "Alice",
        "White Rabbit",
    ]


def test_max_shots_merges_but_keeps_every_line() -> None:
    chapter, u, personas = long_zh_case()
    script = adapt_script(chapter, u, personas, "zh", target_seconds=180)
    free = make_storyboard(script, u, max_shots=100, personas=personas)
    assert len(free.shots) > 4
    tight = make_storyboard(script, u, max_shots=4, personas=personas)
    assert len(tight.shots) == 4
    _assert_covers(script, tight)
    # 4 scenes, 4 shots: merging stays within scenes while it can.
    assert [s.scene_index for s in tight.shots] == [1, 2, 3, 4]
    one = make_storyboard(script, u, max_shots=1, personas=personas)
    assert len(one.shots) == 1 and len(one.shots[0].line_indices) == len(script.lines)


def test_long_runs_are_split_into_several_shots() -> None:
    _, u, _ = zh_case()
    lines = [_line(i, "narration", "山路崎岖，林中雾气弥漫，看不见山顶。") for i in range(1, 10)]
    board = make_storyboard(Script(chapter_index=3, title="t", skill_version="x", lines=lines), u)
    assert len(board.shots) >= 3
    assert all(len(s.line_indices) <= s13_storyboard.MAX_LINES_PER_SHOT for s in board.shots)


def test_refuses_empty_or_inconsistent_scripts() -> None:
    _, u, _ = zh_case()
    with pytest.raises(NFError) as err:
        make_storyboard(Script(chapter_index=3, title="t", lines=[], skill_version="x"), u)
    assert err.value.code == "NF-SKILL-001"
    dup = [_line(1, "narration", "一。"), _line(1, "narration", "二。")]
    with pytest.raises(NFError):
        make_storyboard(Script(chapter_index=3, title="t", lines=dup, skill_version="x"), u)
    with pytest.raises(NFError):
        make_storyboard(Script(chapter_index=4, title="t", lines=dup[:1], skill_version="x"), u)
    with pytest.raises(NFError):
        make_storyboard(Script(chapter_index=3, title="t", lines=dup[:1], skill_version="x"), u, 0)
