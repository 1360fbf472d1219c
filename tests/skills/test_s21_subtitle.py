"""SKILL_21: SRT/WebVTT formatting and CJK-aware cue splitting."""

from __future__ import annotations

import re

import pytest

from nf_skills import s21_subtitle as s21
from nf_skills.s21_subtitle import (
    build_subtitles,
    split_lines,
    srt_timestamp,
    text_width,
    vtt_timestamp,
)
from shared.errors import NFError

LONG_ZH = (
    "孙悟空大闹天宫，玉帝急调天兵天将前来捉拿。那猴王手持金箍棒，打得众神东倒西歪，"
    "一路杀到通明殿外，幸得佑圣真君的佐使王灵官执金鞭当住。"
)
LONG_EN = (
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of "
    "having nothing to do: once or twice she had peeped into the book her sister was reading."
)
SRT_BLOCK = re.compile(
    r"^(\d+)\n(\d{2}:\d{2}:\d{2},\d{3}) --> (\d{2}:\d{2}:\d{2},\d{3})\n(.+)$", re.S
)


def test_module_identity() -> None:
    assert s21.SKILL_ID == "SKILL_21"
    assert re.fullmatch(r"\d+\.\d+\.\d+", s21.VERSION)


@pytest.mark.parametrize(
    ("seconds", "srt", "vtt"),
    [
        (0, "00:00:00,000", "00:00:00.000"),
        (1.5, "00:00:01,500", "00:00:01.500"),
        (0.9996, "00:00:01,000", "00:00:01.000"),
        (59.999, "00:00:59,999", "00:00:59.999"),
        (3725.5, "01:02:05,500", "01:02:05.500"),
        (360000.25, "100:00:00,250", "100:00:00.250"),
    ],
)
def test_timestamps(seconds: float, srt: str, vtt: str) -> None:
    assert srt_timestamp(seconds) == srt
    assert vtt_timestamp(seconds) == vtt


def test_srt_and_vtt_documents() -> None:
    subs = build_subtitles(7, [("第一句。", 0.5, 2.0), ("Second line.", 2.5, 4.25)])
    assert subs.chapter_index == 7 and subs.skill_version == s21.VERSION
    assert subs.srt == (
        "1\n00:00:00,500 --> 00:00:02,000\n第一句。\n\n"
        "2\n00:00:02,500 --> 00:00:04,250\nSecond line.\n"
    )
    assert subs.vtt == (
        "WEBVTT\n\n1\n00:00:00.500 --> 00:00:02.000\n第一句。\n\n"
        "2\n00:00:02.500 --> 00:00:04.250\nSecond line.\n"
    )


def _check_cues(subs, max_cols: int = 42, max_lines: int = 2) -> None:
    blocks = subs.srt.strip().split("\n\n")
    assert len(blocks) == len(subs.cues)
    for i, (block, cue) in enumerate(zip(blocks, subs.cues, strict=True), start=1):
        m = SRT_BLOCK.match(block)
        assert m, block
        assert int(m[1]) == i == cue.index
        lines = m[4].split("\n")
        assert 1 <= len(lines) <= max_lines
        assert all(text_width(line) <= max_cols for line in lines)
        assert cue.end > cue.start


def test_long_cjk_line_is_split_into_timed_cues() -> None:
    subs = build_subtitles(1, [(LONG_ZH, 10.0, 22.0)])
    _check_cues(subs)
    assert len(subs.cues) >= 2
    assert subs.cues[0].start == 10.0 and subs.cues[-1].end == 22.0
    for a, b in zip(subs.cues, subs.cues[1:], strict=False):
        assert a.end == pytest.approx(b.start)
    # Time is shared in proportion to text width.
    widths = [text_width(c.text.replace("\n", "")) for c in subs.cues]
    for cue, w in zip(subs.cues, widths, strict=True):
        assert cue.end - cue.start == pytest.approx(12.0 * w / sum(widths), rel=1e-6)
    assert "".join(c.text.replace("\n", "") for c in subs.cues) == LONG_ZH
    for cue in subs.cues:
        assert not any(line[0] in "，。、！？" for line in cue.text.split("\n"))


def test_cjk_line_width_limit_is_half_of_latin() -> None:
    lines = split_lines("天" * 50)
    assert [len(x) for x in lines] == [21, 21, 8]
    assert max(len(x) for x in split_lines("a" * 100)) == 42


def test_latin_splits_between_words() -> None:
    subs = build_subtitles(1, [(LONG_EN, 0.0, 9.0)])
    _check_cues(subs)
    words = " ".join(c.text.replace("\n", " ") for c in subs.cues).split()
    assert words == LONG_EN.split()


def test_mixed_script_and_custom_limits() -> None:
    text = "阿Q正传的作者鲁迅说：我要给阿Q做正传，已经不止一两年了。" * 2
    subs = build_subtitles(2, [(text, 0.0, 6.0)], max_cols=20, max_lines=1)
    _check_cues(subs, max_cols=20, max_lines=1)
    assert "".join(c.text for c in subs.cues) == text


def test_vtt_escapes_markup_and_arrows_are_removed() -> None:
    subs = build_subtitles(1, [("a <b> & c --> d", 0.0, 1.0)])
    assert "a &lt;b&gt; &amp; c → d" in subs.vtt
    assert subs.srt.count("-->") == 1


def test_overlaps_are_clipped_and_empty_lines_dropped() -> None:
    subs = build_subtitles(1, [("second", 2.0, 5.0), ("  ", 0.0, 1.0), ("first", 0.0, 3.0)])
    assert [c.text for c in subs.cues] == ["first", "second"]
    assert subs.cues[0].end == 2.0


@pytest.mark.parametrize(("start", "end"), [(2.0, 1.0), (1.0, 1.0), (-1.0, 2.0)])
def test_bad_timing_is_rejected(start: float, end: float) -> None:
    with pytest.raises(NFError) as err:
        build_subtitles(1, [("text", start, end)])
    assert err.value.code == "NF-SKILL-001"


def test_no_lines_gives_empty_documents() -> None:
    subs = build_subtitles(3, [])
    assert subs.cues == [] and subs.srt == "" and subs.vtt == "WEBVTT\n"
