from __future__ import annotations

import pytest

from nf_skills import s07_scenes as s07
from nf_skills.contracts import Chapter
from nf_skills.s07_scenes import split_scenes
from tests.skills.understanding_corpus import corpus_chapters


def _check_cover(scenes, text: str) -> None:
    assert scenes[0].start == 0 and scenes[-1].end == len(text)
    for a, b in zip(scenes, scenes[1:], strict=False):
        assert a.end == b.start and a.start < a.end
    assert [s.index for s in scenes] == list(range(1, len(scenes) + 1))


def test_zh_time_cues_start_scenes() -> None:
    paras = [
        "行者在花果山水帘洞里操练群猴，十分快活。" * 3,
        "次日天明，行者驾云往东海去借兵器。" * 3,
        "却说那龙王在水晶宫中正坐，忽听得门外喧哗。" * 3,
    ]
    text = "\n\n".join(paras)
    scenes = split_scenes(Chapter(index=2, title="t", text=text), "zh", min_chars=10)
    _check_cover(scenes, text)
    assert [s.time_cue for s in scenes] == [None, "次日", "却说"]
    assert all(s.chapter_index == 2 for s in scenes)
    assert scenes[0].location == "水帘洞" or scenes[0].location == "花果山"


def test_en_break_lines_and_cues() -> None:
    paras = ["Alice sat in the garden and read." * 4, "* * *", "Alice ran along the hall." * 4]
    paras += ["The next morning she woke in the kitchen." * 4]
    text = "\n\n".join(paras)
    scenes = split_scenes(Chapter(index=1, title="t", text=text), "en", min_chars=20)
    _check_cover(scenes, text)
    assert len(scenes) == 3
    assert text[scenes[1].start :].startswith("* * *")
    assert scenes[2].time_cue == "The next morning"


def test_small_scenes_merge_and_large_ones_split() -> None:
    text = "\n\n".join(f"第{i}段。却说行者又走了一程，看见一座高山。" for i in range(20))
    # every paragraph carries a cue, but scenes below min_chars merge
    merged = split_scenes(Chapter(index=1, title="t", text=text), "zh", min_chars=100)
    _check_cover(merged, text)
    assert all(s.end - s.start >= 100 for s in merged[:-1])
    assert len(merged) < 20
    # no cue at all: one block, cut down to max_chars at paragraph boundaries
    plain = "\n\n".join("行者又走了一程，看见一座高山，山下有一条河。" for _ in range(40))
    parts = split_scenes(Chapter(index=1, title="t", text=plain), "zh", max_chars=300)
    _check_cover(parts, plain)
    assert len(parts) > 1 and all(s.end - s.start <= 300 + 30 for s in parts)


def test_empty_chapter() -> None:
    assert split_scenes(Chapter(index=1, title="t", text=""), "zh") == []
    assert s07.SKILL_ID == "SKILL_07"


@pytest.mark.parametrize(
    "name,lang", [("zh_xiyouji.txt", "zh"), ("en_alice_in_wonderland.txt", "en")]
)
def test_corpus_chapters_are_covered(name: str, lang: str) -> None:
    for ch in corpus_chapters(name)[:3]:
        scenes = split_scenes(ch, lang)
        _check_cover(scenes, ch.text)
