"""SKILL_21 subtitle: SRT and WebVTT from timed narration/dialogue lines.

Each input line (text, start, end) becomes one or more cues of at most `max_lines` lines of at
most `max_cols` columns, where a CJK (East Asian wide) character counts two columns, so the
default 42 columns hold 21 Chinese characters or 42 Latin ones. A line too long for one cue is
split into several, and its time span is shared in proportion to each cue's width (reading time
follows text length). Lines break after punctuation where possible, never before closing
punctuation, and between words in Latin text.
"""

from __future__ import annotations

import re
import unicodedata

from nf_skills.contracts import Cue, Subtitles
from shared.errors import NFError

SKILL_ID = "SKILL_21"
VERSION = "1.0.0"

MAX_COLS = 42
MAX_LINES = 2

_NO_LINE_START = set("，。、；：！？）》」』”’…—,.;:!?)]}%")
_BREAK_AFTER = set("，。、；：！？…,.;:!?")
_WORD = re.compile(r"\S+\s*")


def char_width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def text_width(text: str) -> int:
    return sum(char_width(ch) for ch in text)


def _units(text: str) -> list[str]:
    """Breakable units: a CJK character each (closing punctuation glued on), a Latin word with
    its trailing spaces."""
    units: list[str] = []
    for word in _WORD.findall(text):
        buf = ""
        for ch in word:
            if ch in _NO_LINE_START and (buf or units):
                if buf:
                    buf += ch
                else:
                    units[-1] += ch
            elif char_width(ch) == 2:
                if buf:
                    units.append(buf)
                buf = ""
                units.append(ch)
            else:
                buf += ch
        if buf:
            units.append(buf)
    return units


def _hard_split(unit: str, max_cols: int) -> list[str]:
    parts, cur = [], ""
    for ch in unit:
        if cur and text_width(cur + ch) > max_cols:
            parts.append(cur)
            cur = ""
        cur += ch
    return parts + ([cur] if cur else [])


def split_lines(text: str, max_cols: int = MAX_COLS) -> list[str]:
    """Wrap text into lines of at most `max_cols` display columns.

    Greedy, with one refinement for CJK: when a line overflows, it is cut after the last
    punctuation mark in its second half, if any, so clauses stay together.
    """
    if max_cols < 4:
        raise NFError("NF-SKILL-001", f"max_cols {max_cols} is too small")
    text = " ".join(text.split())
    units: list[str] = []
    for u in _units(text):
        units.extend(_hard_split(u, max_cols) if text_width(u.rstrip()) > max_cols else [u])
    lines: list[str] = []
    cur: list[str] = []
    for u in units:
        if cur and text_width("".join(cur + [u]).rstrip()) > max_cols:
            cut = len(cur)
            for j in range(len(cur) - 1, 0, -1):
                if text_width("".join(cur[: j + 1])) < max_cols / 2:
                    break
                if cur[j].rstrip()[-1:] in _BREAK_AFTER and char_width(cur[j][0]) == 2:
                    cut = j + 1
                    break
            lines.append("".join(cur[:cut]).rstrip())
            cur = cur[cut:]
        cur.append(u)
    if cur:
        lines.append("".join(cur).rstrip())
    return [ln for ln in lines if ln]


def _clean(text: str) -> str:
    # "-->" would end an SRT/VTT timing line early; keep the arrow meaning without the syntax.
    return " ".join(text.replace("-->", "→").split())


def build_cues(
    lines: list[tuple[str, float, float]],
    *,
    max_cols: int = MAX_COLS,
    max_lines: int = MAX_LINES,
) -> list[Cue]:
    """Timed lines -> cues of at most `max_lines` x `max_cols`, ordered, non-overlapping."""
    timed = []
    for text, start, end in lines:
        if start < 0 or end <= start:
            raise NFError("NF-SKILL-001", f"bad subtitle timing {start}..{end} for {text[:30]!r}")
        text = _clean(text)
        if text:
            timed.append((float(start), float(end), text))
    timed.sort(key=lambda t: (t[0], t[1]))
    cues: list[Cue] = []
    for k, (start, end, text) in enumerate(timed):
        if k + 1 < len(timed):
            end = min(end, timed[k + 1][0])  # overlapping lines would stack on screen
        if end <= start:
            continue
        wrapped = split_lines(text, max_cols)
        groups = [wrapped[i : i + max_lines] for i in range(0, len(wrapped), max_lines)]
        weights = [max(1, sum(text_width(ln) for ln in g)) for g in groups]
        total = sum(weights)
        t = start
        for g, wgt in zip(groups, weights, strict=True):
            t_end = end if g is groups[-1] else t + (end - start) * wgt / total
            cues.append(Cue(index=len(cues) + 1, start=t, end=t_end, text="\n".join(g)))
            t = t_end
    return cues


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def srt_timestamp(seconds: float) -> str:
    """HH:MM:SS,mmm"""
    return _stamp(seconds, ",")


def vtt_timestamp(seconds: float) -> str:
    """HH:MM:SS.mmm"""
    return _stamp(seconds, ".")


def format_srt(cues: list[Cue]) -> str:
    blocks = [
        f"{c.index}\n{srt_timestamp(c.start)} --> {srt_timestamp(c.end)}\n{c.text}\n" for c in cues
    ]
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_vtt(cues: list[Cue]) -> str:
    blocks = ["WEBVTT\n"] + [
        f"{c.index}\n{vtt_timestamp(c.start)} --> {vtt_timestamp(c.end)}\n{_vtt_escape(c.text)}\n"
        for c in cues
    ]
    return "\n".join(blocks)


def build_subtitles(
    chapter_index: int,
    lines: list[tuple[str, float, float]],
    *,
    max_cols: int = MAX_COLS,
    max_lines: int = MAX_LINES,
) -> Subtitles:
    """SKILL_21: timed lines (text, start s, end s) -> cues with SRT and WebVTT renderings."""
    if max_lines < 1:
        raise NFError("NF-SKILL-001", "max_lines must be at least 1")
    cues = build_cues(lines, max_cols=max_cols, max_lines=max_lines)
    return Subtitles(
        chapter_index=chapter_index,
        cues=cues,
        srt=format_srt(cues),
        vtt=format_vtt(cues),
        skill_version=VERSION,
    )
