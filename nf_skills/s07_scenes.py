"""SKILL_07 scene split: cut a chapter into scenes at paragraph boundaries.

A paragraph opens a new scene when it is a scene-break line (***, * * *, ———), or when it starts
with a time or place transition (次日/却说/话表/且说/Meanwhile/The next morning ...). Scenes are
then kept between a minimum and a maximum size: a too-small scene joins its neighbour, a
too-large one is cut at the paragraph boundary nearest to its middle. The scenes are contiguous
and cover the whole chapter text: [0, len(text)).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter

from nf_skills import _textkit as tk
from nf_skills.contracts import Chapter, Scene
from nf_skills.s12_settings import location_mentions

SKILL_ID = "SKILL_07"
VERSION = "1.0.0"

_BREAK_LINE = re.compile(r"^\s*(?:[*＊·•~=#\-—_]\s*){3,}\s*$")
_ZH_CUE = re.compile(
    r"[\s\u3000]*(次日|却说|话表|且说|话说|却表|再说|且不言|不题|单表|又说|当夜|当晚|是夜|"
    r"是日|那日|一日|这日|此时|少时|须臾|不一日|不多时|第二日|第三日|明日|次早|天明|天晓|"
    r"早晨|傍晚|黄昏|三更|五更|半夜|过了[^，。]{1,4}日|到了[^，。]{1,6}|行经|行到|来到)"
)
_EN_CUE = re.compile(
    r"[\s“\"_]*(Meanwhile|In the meantime|The next (?:morning|day|evening|week)|Next (?:morning|"
    r"day)|That (?:evening|night|afternoon|morning)|The following (?:morning|day|week)|"
    r"(?:Early|Late) (?:the )?next|On the (?:following|next) (?:morning|day)|Some (?:days|weeks|"
    r"time) (?:later|after)|A (?:few )?(?:days|weeks|months) (?:later|after|passed)|"
    r"When (?:they|she|he) (?:arrived|reached)|At (?:length|last)|Soon after|Later that|"
    r"In the (?:morning|evening|afternoon))\b"
)
_DEFAULTS = {"zh": (300, 4000), "en": (1200, 9000)}


def split_scenes(
    chapter: Chapter,
    language: str,
    min_chars: int | None = None,
    max_chars: int | None = None,
) -> list[Scene]:
    """Contiguous scenes covering the whole chapter text, in order, indexed from 1."""
    text = chapter.text
    if not text:
        return []
    lo, hi = _DEFAULTS["zh" if language == "zh" else "en"]
    lo = lo if min_chars is None else min_chars
    hi = hi if max_chars is None else max(max_chars, 1)
    paras = tk.paragraphs(text) or [(0, len(text))]
    cue_re = _ZH_CUE if language == "zh" else _EN_CUE
    # candidate scene starts: paragraph index -> (time cue, hard break?)
    starts: dict[int, tuple[str | None, bool]] = {0: (_cue(text, paras[0], cue_re), False)}
    for k, span in enumerate(paras[1:], start=1):
        if _BREAK_LINE.match(text[span[0] : span[1]]):
            starts[k] = (None, True)
        else:
            cue = _cue(text, span, cue_re)
            if cue:
                starts[k] = (cue, False)
    groups = _groups(paras, starts)
    groups = _merge_small(groups, paras, lo)
    groups = _split_large(groups, paras, hi)
    places = location_mentions(text, language)
    scenes: list[Scene] = []
    for i, (first, _last, cue) in enumerate(groups):
        start = 0 if i == 0 else paras[first][0]
        end = len(text) if i == len(groups) - 1 else paras[groups[i + 1][0]][0]
        scenes.append(
            Scene(
                chapter_index=chapter.index,
                index=i + 1,
                start=start,
                end=end,
                location=_main_location(places, start, end),
                time_cue=cue,
            )
        )
    return scenes


def _cue(text: str, span: tuple[int, int], cue_re: re.Pattern) -> str | None:
    m = cue_re.match(text, span[0], span[1])  # match() anchors at span[0]; no "^" needed
    return m.group(1) if m else None


def _groups(paras, starts) -> list[tuple[int, int, str | None]]:
    keys = sorted(starts)
    out = []
    for i, k in enumerate(keys):
        last = (keys[i + 1] if i + 1 < len(keys) else len(paras)) - 1
        out.append((k, last, starts[k][0]))
    return out


def _size(paras, g) -> int:
    return paras[g[1]][1] - paras[g[0]][0]


def _merge_small(groups, paras, lo: int):
    out: list[tuple[int, int, str | None]] = []
    for g in groups:
        if out and (_size(paras, out[-1]) < lo or _size(paras, g) < lo):
            prev = out.pop()
            g = (prev[0], g[1], prev[2] or g[2])
        out.append(g)
    return out


def _split_large(groups, paras, hi: int):
    out: list[tuple[int, int, str | None]] = []
    todo = list(groups)
    while todo:
        g = todo.pop(0)
        if _size(paras, g) <= hi or g[0] == g[1]:
            out.append(g)
            continue
        mid = (paras[g[0]][0] + paras[g[1]][1]) / 2
        cut = min(range(g[0] + 1, g[1] + 1), key=lambda k: abs(paras[k][0] - mid))
        todo[:0] = [(g[0], cut - 1, g[2]), (cut, g[1], None)]
    return out


def _main_location(places: list[tuple[int, str]], start: int, end: int) -> str | None:
    """The most mentioned location inside [start, end); ties go to the first mentioned."""
    i = bisect.bisect_left(places, (start, ""))
    counts: Counter = Counter()
    first: dict[str, int] = {}
    while i < len(places) and places[i][0] < end:
        off, name = places[i]
        counts[name] += 1
        first.setdefault(name, off)
        i += 1
    if not counts:
        return None
    return min(counts, key=lambda n: (-counts[n], first[n]))
