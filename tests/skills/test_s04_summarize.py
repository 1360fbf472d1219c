from __future__ import annotations

import numpy as np

from nf_skills import s04_summarize as s04
from nf_skills.contracts import Chapter
from nf_skills.s04_summarize import summarize, textrank
from tests.skills.understanding_corpus import corpus_chapters

ZH = (
    "行者与八戒在山前遇见妖精，妖精抢走了师父。"
    "八戒对行者说，妖精把师父捉进洞里去了。"
    "今天的天气很好，路边开满了小小的黄花。"
    "行者举起金箍棒，打进洞里，救出了师父。"
    "师父出了洞，谢过行者，又骂八戒贪睡。"
)
EN = (
    "Alice followed the White Rabbit down the rabbit hole into the dark. "
    "The rabbit hole was deep and Alice fell slowly past cupboards and shelves. "
    "Somewhere a clock struck nine and the baker closed his shop. "
    "At the bottom Alice saw the White Rabbit hurry away along a long hall. "
    "Alice ran after the Rabbit but it was gone when she turned the corner."
)


def _ch(text: str) -> Chapter:
    return Chapter(index=7, title="t", text=text)


def test_zh_summary_keeps_central_sentences_in_source_order() -> None:
    s = summarize(_ch(ZH), "zh", max_sentences=3)
    assert s.chapter_index == 7 and s.skill_version == s04.VERSION
    assert len(s.sentences) == 3
    assert all(x in ZH for x in s.sentences)
    assert "今天的天气很好，路边开满了小小的黄花。" not in s.sentences  # the off-topic one
    positions = [ZH.index(x) for x in s.sentences]
    assert positions == sorted(positions)


def test_en_summary_skips_the_unrelated_sentence() -> None:
    s = summarize(_ch(EN), "en", max_sentences=2)
    assert len(s.sentences) == 2
    assert not any("baker" in x for x in s.sentences)
    assert [EN.index(x) for x in s.sentences] == sorted(EN.index(x) for x in s.sentences)


def test_short_and_empty_chapters() -> None:
    assert summarize(_ch(""), "zh").sentences == []
    one = summarize(_ch("行者与八戒在山前遇见妖精。"), "zh", max_sentences=3)
    assert one.sentences == ["行者与八戒在山前遇见妖精。"]
    assert summarize(_ch(EN), "en", max_sentences=0).sentences == []


def test_textrank_star_centre_ranks_first_and_sums_to_one() -> None:
    sets = [{"a", "b", "c", "d"}, {"a"}, {"b"}, {"c"}, {"d"}, {"zz"}]
    r = textrank(sets)
    assert int(np.argmax(r)) == 0
    assert abs(r.sum() - 1.0) < 1e-6
    assert r[5] < r[1]


def test_deterministic_on_a_corpus_chapter() -> None:
    ch = corpus_chapters("zh_xiyouji.txt")[0]
    a, b = summarize(ch, "zh"), summarize(ch, "zh")
    assert a == b and len(a.sentences) == 3
    flat = ch.text.replace("\n", "")
    assert all(x.replace(" ", "") in flat.replace(" ", "") for x in a.sentences)
