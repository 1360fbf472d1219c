from __future__ import annotations

import pytest

from nf_skills import s03_chunk
from nf_skills.contracts import Chapter
from nf_skills.s03_chunk import (
    chunk_chapter,
    containment,
    dice,
    sentence_spans,
    speech_units,
)
from shared.errors import NFError
from shared.text import detect_language
from tests.skills.planning_fixtures import EN_TEXT, ZH_TEXT, long_zh_case


def _sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def test_chinese_sentences_keep_closing_quotes() -> None:
    assert _sentences("行者笑道：“师父莫怕。”八戒道：“好！”他们走了……天黑了？嗯") == [
        "行者笑道：“师父莫怕。”",
        "八戒道：“好！”",
        "他们走了……",
        "天黑了？",
        "嗯",
    ]


def test_english_sentences_respect_abbreviations_initials_and_continuations() -> None:
    text = 'Mr. Darcy came in. J. Smith sat down! "Oh!" said Alice. It cost 3.14 pounds. Done'
    assert _sentences(text) == [
        "Mr. Darcy came in.",
        "J. Smith sat down!",
        '"Oh!" said Alice.',
        "It cost 3.14 pounds.",
        "Done",
    ]


def test_hard_wrapped_paragraph_lines_do_not_end_sentences() -> None:
    line = "word " * 13
    text = "\n".join([line + "and the", "sentence goes on here.", line + "x", line + "y."] * 2)
    spans = _sentences(text)
    assert spans[0].startswith("word") and "sentence goes on here." in spans[0]
    # A line-per-paragraph text (lines far wider than a wrap width) keeps its breaks.
    long_lines = "\n".join(["甲" * 150 + "，", "乙" * 140])
    assert len(_sentences(long_lines)) == 2


def test_chunks_have_exact_offsets_and_respect_max_chars() -> None:
    chapter, _, _ = long_zh_case()
    chunks = chunk_chapter(chapter, max_chars=200, overlap=40)
    assert len(chunks) > 5
    for c in chunks:
        assert chapter.text[c.start : c.end] == c.text
        assert 0 < len(c.text) <= 200
        assert c.chapter_index == chapter.index
        assert c.skill_version == s03_chunk.VERSION
    # Whole sentences: every chunk ends where a sentence ends.
    ends = {e for _, e in sentence_spans(chapter.text)}
    assert all(c.end in ends for c in chunks)


def test_chunks_cover_every_sentence_and_overlap_within_limit() -> None:
    chapter, _, _ = long_zh_case()
    chunks = chunk_chapter(chapter, max_chars=150, overlap=60)
    for s, e in sentence_spans(chapter.text):
        assert any(c.start <= s and e <= c.end for c in chunks)
    starts = {s for s, _ in sentence_spans(chapter.text)}
    overlapped = 0
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start > a.start and b.end > a.end  # progress, no repeated chunk
        assert b.start in starts
        assert max(0, a.end - b.start) <= 60
        overlapped += a.end > b.start
    assert overlapped > 0  # sentences here are short enough to be repeated


def test_no_overlap_requested_gives_a_partition_of_sentences() -> None:
    chapter = Chapter(index=1, title="t", text=EN_TEXT)
    chunks = chunk_chapter(chapter, max_chars=120, overlap=0)
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.end <= b.start


def test_over_long_sentence_is_cut_at_clauses_then_hard() -> None:
    clauses = "，".join(["山高水长" * 5] * 6) + "。"
    chunks = chunk_chapter(Chapter(index=1, title="t", text=clauses), max_chars=50, overlap=0)
    assert all(len(c.text) <= 50 for c in chunks)
    assert all(c.text.endswith(("，", "。")) for c in chunks)
    no_marks = "风" * 130
    hard = chunk_chapter(Chapter(index=1, title="t", text=no_marks), max_chars=50, overlap=10)
    assert [len(c.text) for c in hard] == [50, 50, 30]
    assert "".join(c.text for c in hard) == no_marks


def test_chunk_ids_are_stable_and_depend_on_position() -> None:
    chapter = Chapter(index=2, title="t", text=ZH_TEXT)
    first = [c.chunk_id for c in chunk_chapter(chapter, max_chars=60, overlap=10)]
    again = [c.chunk_id for c in chunk_chapter(chapter, max_chars=60, overlap=10)]
    assert first == again
    assert len(set(first)) == len(first)
    moved = Chapter(index=3, title="t", text=ZH_TEXT)
    assert set(first).isdisjoint(c.chunk_id for c in chunk_chapter(moved, 60, 10))


@pytest.mark.parametrize("text", ["", "  \n\u3000 \n"])
def test_empty_chapter_is_refused(text: str) -> None:
    with pytest.raises(NFError) as err:
        chunk_chapter(Chapter(index=1, title="t", text=text))
    assert err.value.code == "NF-SKILL-001"


@pytest.mark.parametrize(("max_chars", "overlap"), [(0, 0), (100, 100), (100, -1)])
def test_bad_sizes_are_refused(max_chars: int, overlap: int) -> None:
    with pytest.raises(NFError):
        chunk_chapter(Chapter(index=1, title="t", text="abc."), max_chars, overlap)


def test_text_measures() -> None:
    assert detect_language(ZH_TEXT) == "zh"
    assert detect_language(EN_TEXT) == "en"
    assert speech_units("我们 go home, 3 times") == 2 + 4
    assert dice("师父莫怕", "师父莫怕") == 1.0
    assert dice("师父莫怕", "天黑路远") == 0.0
    assert containment("the old bridge", "under the old bridge today") == 1.0
    assert containment("", "anything") == 1.0
