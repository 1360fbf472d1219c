"""SKILL_02 chapter_split: novel text -> ordered chapters, by a cascade of heading rules.

1. Scan every line once and classify heading candidates by family: Chinese 第X章/回/节/话
   (any numeral style), 卷/部/集/篇 parts, 楔子/序章/尾声/番外 specials; English CHAPTER/Chapter
   + roman/arabic/words, `I. TITLE`, bare roman numerals, Letter N, PART/BOOK/VOLUME, Prologue/
   Epilogue. A Chinese heading may sit in brackets (【第1章】) or after a short prefix (web dumps:
   `正文 第一章 出山`, `书名 第1章 出山`; the title leaves the prefix out).
2. For each chapter family, clean the candidates: drop table-of-contents entries (empty bodies,
   headings repeated later with a real body, runs of three or more tiny bodies; lines that repeat
   a later heading in any layout count as no body, so a contents entry that is itself a heading
   line is dropped however long the list below it), keep the longest increasing run of numbers
   (a restart at 1 is allowed: books in parts renumber; a numeral that breaks the run between
   n and n + 2 is read as n + 1, so a mislabelled chapter is kept), keep prologues only before
   the first chapter and epilogues/extras only after the last.
3. Pick the family with most chapters whose sizes are sane, leaving out families nested in
   another (numbered sections that restart at 1 inside each story of a collection); parts become
   chapters only when no chapter family works; otherwise split by size at paragraph boundaries
   ("Part 1"/"第1部分").

Titles are the heading text with every whitespace run (ideographic spaces included) replaced by
one ASCII space: `第一回 灵根育孕源流出 心性修持大道生`, `CHAPTER I. Down the Rabbit-Hole` (a
title on the line after the number line is joined with one space).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from nf_skills._numerals import (
    NUMBER_WORDS_PATTERN,
    ZH_NUMERAL_CHARS,
    parse_chinese,
    parse_english,
    parse_roman,
)
from nf_skills.contracts import Chapter, ChapterSplit
from shared.errors import NFError
from shared.text import CJK_RE, detect_language

SKILL_ID = "SKILL_02"
VERSION = "1.2.0"

# --- tunables ------------------------------------------------------------------------------

SMALL_BODY = 150  # non-space chars: a "chapter" smaller than this is a TOC line, not a chapter
ZH_TITLE_MAX = 30  # a Chinese heading title longer than this is prose running on
ZH_GLUED_TITLE_MAX = 12  # 第九章大团圆: a title without separator is short, or it is prose
EN_TITLE_MAX = 80
FALLBACK_TARGET = {"zh": 6_000, "en": 20_000}  # chars per part when no heading rule works

# --- patterns ------------------------------------------------------------------------------

_WS = " \t\u3000"
_NUM = f"[{ZH_NUMERAL_CHARS}]"
_ZH_CHAPTER_UNITS = {"章": "章", "回": "回", "节": "节", "節": "节", "话": "话", "話": "话"}
_ZH_PART_UNITS = {"卷", "部", "部分", "集", "篇"}
_ZH_HEAD_RE = re.compile(
    rf"^[{_WS}]*[【〖〔\[]?[{_WS}]*第[{_WS}]*(?P<num>{_NUM}{{1,12}})[{_WS}]*"
    r"(?P<unit>部分|[章回节節话話卷部集篇])[】〗〕\]]?(?P<rest>.*)$"
)
# 正文 第一章 / 书名 第1章: a short unpunctuated prefix before the heading (web dumps)
_ZH_PREFIX_RE = re.compile(
    rf"^[{_WS}]*(?P<pre>[^{_WS}，。！？；：“”「」『』…,!?;:]{{1,12}}"
    rf"(?:[{_WS}]+[^{_WS}，。！？；：“”「」『』…,!?;:]{{1,12}})?)[{_WS}]+(?=[【〖〔\[]?第)"
)
_ZH_VOLUME_RE = re.compile(rf"^[{_WS}]*卷(?P<num>{_NUM}{{1,6}})(?P<rest>.*)$")  # 卷一 初入江湖
_ZH_INNER_CHAPTER_RE = re.compile(
    rf"(?:^|[{_WS}])第[{_WS}]*(?P<num>{_NUM}{{1,12}})[{_WS}]*(?P<unit>[章回节節话話])"
)
_ZH_SPECIALS = {
    "楔子": "prologue", "序章": "prologue", "序言": "prologue", "序幕": "prologue",
    "引子": "prologue", "前言": "prologue", "序": "prologue",
    "尾声": "epilogue", "尾聲": "epilogue", "后记": "epilogue", "後記": "epilogue",
    "终章": "epilogue", "終章": "epilogue", "番外篇": "extra", "番外": "extra",
}  # fmt: skip
_ZH_SPECIAL_RE = re.compile(
    rf"^[{_WS}]*(?P<kw>{'|'.join(sorted(_ZH_SPECIALS, key=len, reverse=True))})"
    rf"(?P<num>{_NUM}{{0,6}})(?P<rest>.*)$"
)
_ZH_SEP_RE = re.compile(rf"^[{_WS}:：、.．·\-—_]+")
_ZH_PUNCT_RE = re.compile(r"[，。！？；：“”「」『』…,!?;]")
# a phrase of a heading title: ideographic spaces, tabs and double spaces separate phrases,
# a single ASCII space does not (it often stands for a character the font lost)
_ZH_PHRASE_RE = re.compile(r"[^\u3000\t ]+(?: [^\u3000\t ]+)*")

_EN_NUM = rf"(?:\d+|[IVXLCDM]+|[ivxlcdm]+|{NUMBER_WORDS_PATTERN})(?![\w'’-])"
_EN_KEYWORD_RE = re.compile(
    rf"^\s*\[?\s*(?P<kw>CHAPTER|Chapter|CHAP\.|Chap\.|LETTER|Letter|PART|Part|BOOK|Book|"
    rf"VOLUME|Volume|VOL\.|Vol\.|ADVENTURE|Adventure|STAVE|Stave|EPISODE|Episode)\s+"
    rf"(?P<num>{_EN_NUM})(?P<rest>.*)$"
)
# chapter-like keywords of story collections and serials (ADVENTURE I., STAVE ONE, EPISODE 3)
_EN_FAMILY = {"chapter": "en_chapter", "chap.": "en_chapter", "letter": "en_letter",
              "adventure": "en_chapter", "stave": "en_chapter",
              "episode": "en_chapter"}  # fmt: skip
_EN_SPECIAL_RE = re.compile(
    r"^\s*\[?\s*(?P<kw>PROLOGUE|Prologue|EPILOGUE|Epilogue)(?![\w'’-])(?P<rest>.*)$"
)
_EN_ROMAN_TITLE_RE = re.compile(r"^\s*(?P<num>[IVXLCDM]+)\.\s+(?P<rest>\S.*)$")
_EN_BARE_ROMAN_RE = re.compile(r"^\s*(?P<num>[IVXLCDM]+)\.?\s*$")
_EN_BARE_NUMBER_RE = re.compile(r"^\s*(?P<num>\d{1,3})\.?\s*$")  # modern novels: `1` alone
_EN_SEP_RE = re.compile(r"^\s*[.:\-–—]+\s*|^\s+")
_EN_WORD_RE = re.compile(r"[A-Za-z][\w'’-]*")
_SPACE_RUN_RE = re.compile(r"[\s\u3000]+")
_CONTENTS_RE = re.compile(r"^\s*(?:(?:table of )?contents|目录|目錄)\s*[.:：]?\s*$", re.I)

_PREFERENCE = {
    "zh": ["zh_heading:回", "zh_heading:章", "zh_heading:话", "zh_heading:节", "en_chapter",
           "en_roman_title", "en_bare_roman", "en_letter", "en_bare_number"],
    "en": ["en_chapter", "en_roman_title", "en_bare_roman", "en_letter", "en_bare_number",
           "zh_heading:章", "zh_heading:回", "zh_heading:话", "zh_heading:节"],
}  # fmt: skip
_MAIN_FAMILIES = {"zh_heading:回", "zh_heading:章", "zh_heading:话", "en_chapter"}
_PART_FAMILIES = ["zh_part", "en_part"]
_SPECIAL_KINDS = ("prologue", "epilogue", "extra")


@dataclass
class _Heading:
    line: int  # index of the heading line
    end: int  # first line after the heading (a title line below it is consumed)
    family: str  # strategy name of the rule that matched
    kind: str  # "chapter", "part" or one of _SPECIAL_KINDS
    number: int | None
    title: str
    runin: str = ""  # body text that followed the heading on the same line
    inline_part: str | None = None  # 第一卷 xx 第一章 yy: the part named on the same line
    bare: bool = False  # number only, no title on the line: the title may be on the next line
    title_text: str = ""  # the title proper, without the number (Chinese headings)
    couplet: tuple[str, str] | None = None  # alternative (title_text, runin), see _zh_rest
    prefixed: bool = False  # 正文 第一章: found after a short prefix (see _zh_prefixed)


def _norm(s: str) -> str:
    return _SPACE_RUN_RE.sub(" ", s).strip()


# --- Chinese headings ------------------------------------------------------------------------


def _zh_rest(rest: str) -> tuple[str, str, tuple[str, str] | None] | None:
    """Split what follows 第X章 into (title, run-in body, couplet reading); None for prose.

    The couplet reading is the alternative split of a run-in heading whose second title phrase
    is glued to the first sentence (径回东土　五圣成真且不言他…); whether it applies is decided
    from the book's other headings (see _apply_couplets).
    """
    m = _ZH_SEP_RE.match(rest)
    sep = m.group() if m else ""
    body = rest[len(sep) :]
    if not body:
        return "", "", None
    if sep and len(body) <= ZH_TITLE_MAX:
        return body, "", None
    if not sep and len(body) <= ZH_GLUED_TITLE_MAX and not _ZH_PUNCT_RE.search(body):
        return body, "", None  # 第九章大团圆: a short title glued to the number
    if not sep:
        return None  # 第三回合，他挥剑而上…: a sentence, not a heading
    # The heading runs into its first paragraph on the same line: the title is made of the
    # whitespace-separated phrases before the first phrase that holds sentence punctuation.
    segments = [(g.start(), g.end()) for g in _ZH_PHRASE_RE.finditer(body)]
    k = next(
        (
            i
            for i, (a, b) in enumerate(segments)
            if _ZH_PUNCT_RE.search(body, a, b) or b - a > ZH_TITLE_MAX
        ),
        len(segments),
    )
    if k == 0:
        return "", body, None
    title_end = segments[k - 1][1]
    if title_end > ZH_TITLE_MAX:
        return None
    couplet = None
    if k == 1:
        first_len = segments[0][1] - segments[0][0]
        a, b = segments[1]
        stop = _ZH_PUNCT_RE.search(body, a, b)
        lead = (stop.start() if stop else b) - a
        if lead > first_len:
            couplet = (body[: a + first_len], body[a + first_len :])
    return body[:title_end], body[title_end:].lstrip(_WS), couplet


def _is_couplet(title: str) -> bool:
    """灵根育孕源流出　心性修持大道生: two phrases of equal length."""
    phrases = [g.group() for g in _ZH_PHRASE_RE.finditer(title)]
    return len(phrases) == 2 and len(phrases[0]) == len(phrases[1])


def _apply_couplets(heads: list[_Heading]) -> None:
    """Use the couplet reading of run-in headings in families whose headings are couplets."""
    for family in {h.family for h in heads if h.couplet is not None}:
        same = [h for h in heads if h.family == family and h.couplet is None and not h.runin]
        couplets = sum(1 for h in same if _is_couplet(h.title_text))
        if len(same) >= 2 and couplets >= 0.5 * len(same):
            for h in heads:
                if h.family == family and h.couplet is not None:
                    h.title, h.runin = h.couplet[0], h.couplet[1].lstrip(_WS)
                    h.couplet = None


def _zh_heading(line: str, idx: int) -> _Heading | None:
    m = _ZH_HEAD_RE.match(line)
    if m:
        number = parse_chinese(m["num"])
        if number is None:
            return None
        unit = m["unit"]
        if unit in _ZH_PART_UNITS:
            inner = _ZH_INNER_CHAPTER_RE.search(m["rest"])
            if inner and parse_chinese(inner["num"]) is not None:
                offset = m.start("rest") + inner.start()
                head = _zh_heading(line[offset:], idx)
                if head is not None and head.kind == "chapter":
                    head.inline_part = _norm(line[:offset])
                    return head
            split = _zh_rest(m["rest"])
            if split is None or split[1]:
                return None
            title = _heading_text(line, split[0], m.end("unit"))
            return _Heading(idx, idx + 1, "zh_part", "part", number, title)
        split = _zh_rest(m["rest"])
        if split is None:
            return None
        title_text, runin, couplet = split
        head_end = m.end("unit")
        return _Heading(
            idx,
            idx + 1,
            f"zh_heading:{_ZH_CHAPTER_UNITS[unit]}",
            "chapter",
            number,
            _heading_text(line, title_text, head_end),
            runin,
            bare=not title_text and not runin,
            title_text=title_text,
            couplet=(_heading_text(line, couplet[0], head_end), couplet[1]) if couplet else None,
        )
    m = _ZH_VOLUME_RE.match(line)
    if m:
        number = parse_chinese(m["num"])
        split = _zh_rest(m["rest"])
        if number is None or split is None or split[1]:
            return None
        if split[0] and not _ZH_SEP_RE.match(m["rest"]):
            return None  # 卷三十年…: prose
        return _Heading(idx, idx + 1, "zh_part", "part", number, _heading_text(line, split[0]))
    m = _ZH_SPECIAL_RE.match(line)
    if m:
        rest = m["rest"]
        sep = _ZH_SEP_RE.match(rest)
        title = rest[sep.end() :] if sep else rest
        if title and (not sep or len(title) > ZH_TITLE_MAX or _ZH_PUNCT_RE.search(title[:-1])):
            return None  # 序幕拉开了… / 前言不搭后语: prose
        number = parse_chinese(m["num"]) if m["num"] else None
        if m["num"] and number is None:
            return None
        kind = _ZH_SPECIALS[m["kw"]]
        return _Heading(idx, idx + 1, "zh_special", kind, number, _heading_text(line, title))
    return None


def _heading_text(line: str, title: str, head_end: int | None = None) -> str:
    """The normalised heading: the line up to the end of its title (run-in body cut off)."""
    if title:
        cut = line.find(title, head_end or 0)
        if cut >= 0:
            return _norm(line[: cut + len(title)])
    return _norm(line[:head_end] if head_end is not None else line)


def _zh_title_below(lines: list[str], h: _Heading) -> None:
    """第一章 alone on its line with a short title on the next line (web-novel layout)."""
    j = h.line + 1
    if j < len(lines) and not lines[j].strip():
        j += 1
    if j >= len(lines):
        return
    cand = lines[j].strip(_WS)
    if not cand or len(cand) > 20 or _ZH_PUNCT_RE.search(cand) or not CJK_RE.search(cand):
        return
    if _zh_heading(lines[j], j) is not None:
        return
    after = lines[j + 1].strip(_WS) if j + 1 < len(lines) else ""
    if after and not _ZH_PUNCT_RE.search(after):
        return  # two short unpunctuated lines in a row: verse or a list, not a title
    h.title = _norm(h.title + " " + cand)
    h.end = j + 1


# --- English headings ------------------------------------------------------------------------


def _en_number(token: str) -> int | None:
    token = token.strip()
    if token.isdigit():
        return int(token)
    return parse_roman(token) or parse_english(token)


def _title_case_enough(title: str) -> bool:
    words = [w for w in _EN_WORD_RE.findall(title) if len(w) > 3]
    if not words:
        return True  # "A Bo", "Up": nothing to judge by
    return sum(1 for w in words if w[0].isupper()) / len(words) >= 0.5


def _en_title_ok(title: str, strict: bool) -> bool:
    if not title or len(title) > EN_TITLE_MAX or title[0].islower() or title[-1] in ",;":
        return False
    if title[0] in "[(" or not _EN_WORD_RE.search(title):
        return False
    if strict:
        if title[0] in "“‘\"'_" or (title.endswith(".") and not title.isupper()):
            return False
        return _title_case_enough(title)
    return True


def _en_same_line(rest: str) -> tuple[str, str, str] | None:
    """(separator, title, run-in) after `CHAPTER IV`; None when the line is prose."""
    rest = rest.rstrip().rstrip("]").rstrip()
    m = _EN_SEP_RE.match(rest)
    sep = m.group() if m else ""
    title = rest[len(sep) :].strip()
    if rest and not sep:
        return None  # "Chapter Ivan…" style glue: not a heading
    if not title:
        return sep, "", ""
    if len(title) > EN_TITLE_MAX:
        return (sep, "", title) if sep.strip() else None
    if not sep.strip() and not _en_title_ok(title, strict=True):
        return None  # "Chapter 5 describes how…"
    if title[0].islower():
        return None
    return sep, title, ""


def _en_heading(line: str, idx: int, prev_blank: bool) -> _Heading | None:
    m = _EN_KEYWORD_RE.match(line)
    if m:
        number = _en_number(m["num"])
        split = _en_same_line(m["rest"])
        if number is None or split is None:
            return None
        kw = m["kw"].lower()
        family = _EN_FAMILY.get(kw, "en_part")
        kind = "part" if family == "en_part" else "chapter"
        head = line[: m.end("num")].strip().lstrip("[").strip()
        text = _norm(head + split[0].rstrip() + (" " + split[1] if split[1] else ""))
        bare = not split[1] and not split[2]
        return _Heading(idx, idx + 1, family, kind, number, text, split[2], bare=bare)
    m = _EN_SPECIAL_RE.match(line)
    if m:
        split = _en_same_line(m["rest"])
        if split is None:
            return None
        kind = "prologue" if m["kw"].lower() == "prologue" else "epilogue"
        text = _norm(m["kw"] + split[0].rstrip() + (" " + split[1] if split[1] else ""))
        bare = not split[1] and not split[2]
        return _Heading(idx, idx + 1, "en_special", kind, None, text, split[2], bare=bare)
    if not prev_blank:
        return None  # bare numerals and `I. TITLE` stand apart from the paragraph above
    m = _EN_ROMAN_TITLE_RE.match(line)
    if m:
        number = parse_roman(m["num"])
        title = m["rest"].strip()
        if number is None or not _en_title_ok(title, strict=True):
            return None
        return _Heading(idx, idx + 1, "en_roman_title", "chapter", number, _norm(line))
    m = _EN_BARE_ROMAN_RE.match(line)
    if m:
        number = parse_roman(m["num"])
        if number is None:
            return None
        return _Heading(idx, idx + 1, "en_bare_roman", "chapter", number, _norm(line), bare=True)
    m = _EN_BARE_NUMBER_RE.match(line)
    if m and int(m["num"]) > 0:
        return _Heading(
            idx, idx + 1, "en_bare_number", "chapter", int(m["num"]), _norm(line), bare=True
        )
    return None


def _en_title_below(lines: list[str], h: _Heading) -> None:
    """CHAPTER I. on one line and its title on the next (or after a blank line or two)."""
    j = h.line + 1
    blanks = 0
    while j < len(lines) and not lines[j].strip() and blanks < 2:
        j += 1
        blanks += 1
    if j >= len(lines) or not lines[j].strip():
        return
    cand = lines[j].strip()
    followed_by_blank = j + 1 >= len(lines) or not lines[j + 1].strip()
    if not followed_by_blank or _en_heading(lines[j], j, True) is not None:
        return
    if not _en_title_ok(cand, strict=blanks > 0):
        return
    h.title = _norm(h.title + " " + cand)
    h.end = j + 1


# --- scanning --------------------------------------------------------------------------------


_ZH_FIRST_CHARS = frozenset("第卷【〖〔[" + "".join(k[0] for k in _ZH_SPECIALS))


def _zh_prefixed(line: str, idx: int) -> _Heading | None:
    """`正文 第一章 出山`, `某书 第1章 出山`: a chapter heading after a short prefix; the title
    leaves the prefix out (it repeats on every heading of the dump, or marks a contents list)."""
    m = _ZH_PREFIX_RE.match(line)
    if m is None or _ZH_INNER_CHAPTER_RE.search(m["pre"]):
        return None
    h = _zh_heading(line[m.end() :], idx)
    if h is None or h.kind != "chapter":
        return None
    h.prefixed = True
    return h


def _scan(lines: list[str]) -> list[_Heading]:
    heads: list[_Heading] = []
    prev_blank = True
    for idx, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            prev_blank = True
            continue
        h: _Heading | None = None
        first = stripped[0]
        if first in _ZH_FIRST_CHARS:
            h = _zh_heading(line, idx)
        if h is None and "第" in stripped[1:40]:
            h = _zh_prefixed(line, idx)
        if h is not None:
            if h.bare:
                _zh_title_below(lines, h)
        elif len(stripped) <= 120 and (
            first == "["
            or (first.isalpha() and first not in _ZH_FIRST_CHARS)
            or (first.isdigit() and len(stripped) <= 4)  # a bare `12` numbering a chapter
        ):
            h = _en_heading(line, idx, prev_blank)
            if h is not None and h.bare:
                _en_title_below(lines, h)
        if h is not None:
            heads.append(h)
        prev_blank = False
    _apply_couplets(heads)
    return heads


# --- contents lists ----------------------------------------------------------------------------

_PAGE_REF_RE = re.compile(r"[\s.·…_\-–—]*(?:\d+|[ivxlc]+)\s*$")
_KEY_DROP_RE = re.compile(r"[\W_]+")
ECHO_PREFIX_MAX = 8  # chars of a prefix a contents line may add to a heading (正文, 书名…)


def _key(text: str) -> str:
    return _KEY_DROP_RE.sub("", text.casefold())


def _echo_prefix(lines: list[str], heads: list[_Heading], prefix: list[int]) -> list[int]:
    """Like `prefix` (non-space chars before each line) but contents lines count for nothing.

    A contents line repeats a heading that comes later in the book, in any layout: other case or
    spacing, dot leaders and a page number after it, a short prefix before it (正文 第一章 …).
    A contents entry that is itself a heading candidate then has an empty body and is dropped,
    however long the list below it is (story collections: `I. A Scandal in Bohemia` + 11 more).
    """
    last_at: dict[str, int] = {}
    for h in heads:
        for text in {h.title, _norm(" ".join(lines[h.line : h.end]))}:
            k = _key(text)
            if len(k) >= 2:
                last_at[k] = max(last_at.get(k, -1), h.line)
    if not last_at:
        return prefix
    out = [0]
    for idx, line in enumerate(lines):
        n = prefix[idx + 1] - prefix[idx]
        stripped = line.strip()
        if n and len(stripped) <= 120:
            for k in {_key(stripped), _key(_PAGE_REF_RE.sub("", stripped))}:
                hit = last_at.get(k, -1) > idx or any(
                    last_at.get(k[i:], -1) > idx  # a prefixed entry repeats a title of 4+
                    for i in range(1, min(ECHO_PREFIX_MAX, len(k) - 4) + 1)
                )
                if hit:
                    n = 0
                    break
        out.append(out[-1] + n)
    return out


# --- choosing the chapters of one family -------------------------------------------------------


@dataclass
class _Outcome:
    family: str
    heads: list[_Heading]  # chapters, specials and parts kept, in reading order
    numbered: int  # chapters kept that carry a number
    chapter_sizes: list[int]
    front: int  # non-space chars before the first kept heading
    end: int  # line where the last chapter ends (a contents list may follow it)
    stops: list[int]  # line where the body of each kept heading ends


def _body_sizes(pool: list[_Heading], prefix: list[int], end: int | None = None) -> list[int]:
    end = len(prefix) - 1 if end is None else end
    sizes = []
    for i, h in enumerate(pool):
        stop = pool[i + 1].line if i + 1 < len(pool) else end
        sizes.append(max(0, prefix[stop] - prefix[min(h.end, stop)]) + len(h.runin.strip()))
    return sizes


def _drop_toc(pool: list[_Heading], sizes: list[int]) -> list[bool]:
    """Which pool entries are table-of-contents lines rather than headings."""
    n = len(pool)
    small = [s < SMALL_BODY for s in sizes]
    toc = [False] * n
    later: dict[tuple, int] = {}  # key -> index of the last real (non-small) occurrence
    for i in range(n - 1, -1, -1):
        h = pool[i]
        if h.kind == "part":
            continue
        key = (h.family, h.number) if h.number is not None else (h.kind, h.title)
        if sizes[i] == 0 or (small[i] and key in later):
            toc[i] = True
        if not small[i]:
            later[key] = i
    run: list[int] = []
    for i in [*range(n), n]:
        if i < n and pool[i].kind != "part" and small[i]:
            run.append(i)
            continue
        if i < n and pool[i].kind == "part":
            continue  # a part heading inside a contents list does not end the run
        if len(run) >= 3:
            for j in run:
                toc[j] = True
        run = []
    return toc


def _sequence_numbers(items: list[_Heading]) -> list[int]:
    """The chapter numbers, with a mislabelled numeral read by its place in the sequence: a number
    that breaks the run between n and n + 2 is chapter n + 1 (III, V, V, VI; X, IX, XII)."""
    nums = [h.number or 0 for h in items]
    for i in range(1, len(nums) - 1):
        if nums[i - 1] + 2 == nums[i + 1] and nums[i] != nums[i - 1] + 1:
            nums[i] = nums[i - 1] + 1
    return nums


def _longest_increasing(items: list[_Heading]) -> list[_Heading]:
    """Longest strictly increasing run of numbers; a 1 followed by a 2 may restart the count."""
    numbers = _sequence_numbers(items)
    segments: list[list[tuple[_Heading, int]]] = [[]]
    for i, h in enumerate(items):
        nxt = numbers[i + 1] if i + 1 < len(items) else None
        if numbers[i] == 1 and nxt == 2 and segments[-1]:
            segments.append([])
        segments[-1].append((h, numbers[i]))
    kept: list[_Heading] = []
    for seg in segments:
        tails: list[int] = []  # smallest last number of an increasing run of each length
        tail_idx: list[int] = []
        prev: list[int] = [-1] * len(seg)
        for i, (_h, num) in enumerate(seg):
            pos = bisect.bisect_left(tails, num)
            if pos == len(tails):
                tails.append(num)
                tail_idx.append(i)
            else:
                tails[pos] = num
                tail_idx[pos] = i
            prev[i] = tail_idx[pos - 1] if pos else -1
        chain: list[int] = []
        i = tail_idx[-1] if tail_idx else -1
        while i >= 0:
            chain.append(i)
            i = prev[i]
        kept.extend(seg[i][0] for i in reversed(chain))
    return kept


def _evaluate(
    family: str,
    heads: list[_Heading],
    lines: list[str],
    prefix: list[int],
    echo_prefix: list[int],
) -> _Outcome | None:
    as_chapters = family in _PART_FAMILIES
    pool: list[_Heading] = []
    for h in heads:
        if h.family == family:
            if as_chapters:
                h = _Heading(h.line, h.end, h.family, "chapter", h.number, h.title, h.runin)
            pool.append(h)
        elif h.kind in _SPECIAL_KINDS:
            pool.append(h)
        elif h.kind == "part" and not as_chapters:
            pool.append(h)
        elif family == "en_chapter" and h.family == "en_letter":
            # letters before the first chapter (Frankenstein) are part of the story
            pool.append(_Heading(h.line, h.end, "en_special", "prologue", h.number, h.title))
    if not any(h.kind == "chapter" for h in pool):
        return None
    sizes = _body_sizes(pool, echo_prefix)
    toc = _drop_toc(pool, sizes)
    toc_pool = pool
    toc_lines = [h.line for h, t in zip(pool, toc, strict=True) if t]
    pool = [h for h, t in zip(pool, toc, strict=True) if not t]

    chapters = _longest_increasing([h for h in pool if h.kind == "chapter"])
    if not chapters:
        return None
    first, last = chapters[0].line, chapters[-1].line
    keep = {id(h) for h in chapters}
    for h in pool:
        if h.kind == "prologue" and h.line < first:
            keep.add(id(h))
        elif h.kind in ("epilogue", "extra") and h.line > last:
            keep.add(id(h))
    kept = [h for h in pool if id(h) in keep or h.kind == "part"]
    # a part is real when a chapter follows it before the next part (else it is a TOC line)
    final: list[_Heading] = []
    for i, h in enumerate(kept):
        if h.kind == "part":
            if i + 1 == len(kept) or kept[i + 1].kind == "part":
                continue
        final.append(h)
    # a contents list after the last chapter is not part of it
    end = next((ln for ln in toc_lines if ln > final[-1].line), len(prefix) - 1)
    while end > final[-1].end and (
        not lines[end - 1].strip() or _CONTENTS_RE.match(lines[end - 1])
    ):
        end -= 1
    # a dropped heading line right above a kept one (a repeated heading, the tail of a contents
    # list) belongs to neither body: the previous chapter stops above it
    dropped = {ln for h, t in zip(toc_pool, toc, strict=True) if t for ln in range(h.line, h.end)}
    stops = []
    for i, h in enumerate(final):
        if i + 1 == len(final):
            stops.append(end)
            continue
        stop = final[i + 1].line
        while stop - 1 > h.end and (stop - 1 in dropped or not lines[stop - 1].strip()):
            stop -= 1
        stops.append(stop)
    sizes = _body_sizes(final, prefix, end)
    chapter_sizes = [s for h, s in zip(final, sizes, strict=True) if h.kind != "part"]
    front = prefix[final[0].line] if final else 0
    return _Outcome(family, final, len(chapters), chapter_sizes, front, end, stops)


def _sane(o: _Outcome, total: int) -> bool:
    if o.numbered < 2 or not o.chapter_sizes:
        return False
    if sum(o.chapter_sizes) / len(o.chapter_sizes) < 50:
        return False  # a list of headings, not a book
    if total > 20_000 and o.front > 0.5 * total:
        return False  # most of the book before the "first chapter": stray matches at the end
    if total > 30_000 and max(o.chapter_sizes) > 0.6 * total:
        return False  # a few stray matches and one giant chapter: the real headings were missed
    return True


def _nested(inner: _Outcome, outer: _Outcome) -> bool:
    """Inner headings are sections of the outer chapters: they start after the first outer
    heading and their numbering starts again at 1 in every outer chapter that has some."""
    outer_lines = [h.line for h in outer.heads if h.kind == "chapter"]
    inner_heads = [h for h in inner.heads if h.kind == "chapter"]
    if not outer_lines or not inner_heads or inner_heads[0].line < outer_lines[0]:
        return False
    seen: set[int] = set()
    restarts = 0
    for h in inner_heads:
        enclosing = bisect.bisect_right(outer_lines, h.line)
        if enclosing not in seen:
            seen.add(enclosing)
            if h.number != 1:
                return False
            restarts += 1
    return restarts >= 2


def _choose(
    heads: list[_Heading], lines: list[str], prefix: list[int], language: str
) -> _Outcome | None:
    total = prefix[-1]
    echo = _echo_prefix(lines, heads, prefix)
    families = {h.family for h in heads if h.kind == "chapter"}
    order = [f for f in _PREFERENCE[language] if f in families]
    outcomes = [
        o for f in order if (o := _evaluate(f, heads, lines, prefix, echo)) and _sane(o, total)
    ]
    if any(o.family in _MAIN_FAMILIES for o in outcomes):
        # 节, bare numerals and letters are sections inside chapters when chapters exist
        outcomes = [o for o in outcomes if o.family in _MAIN_FAMILIES]
    # numbered sections inside the stories of a collection (I. A TITLE, then I., II. …)
    outcomes = [o for o in outcomes if not any(_nested(o, p) for p in outcomes if p is not o)]
    if outcomes:
        return max(outcomes, key=lambda o: o.numbered)  # max keeps the first of equals
    part_order = _PART_FAMILIES if language == "zh" else _PART_FAMILIES[::-1]
    for f in part_order:
        o = _evaluate(f, heads, lines, prefix, echo) if any(h.family == f for h in heads) else None
        if o is not None and _sane(o, total):
            return o
    return None


# --- building the result -----------------------------------------------------------------------


def _trim_blank_lines(lines: list[str]) -> list[str]:
    a, b = 0, len(lines)
    while a < b and not lines[a].strip():
        a += 1
    while b > a and not lines[b - 1].strip():
        b -= 1
    return lines[a:b]


def _build(outcome: _Outcome, lines: list[str]) -> list[Chapter]:
    chapters: list[Chapter] = []
    part: str | None = None
    heads = outcome.heads
    for i, h in enumerate(heads):
        if h.kind == "part":
            part = h.title
            continue
        stop = outcome.stops[i]
        body_lines = lines[h.end : stop]
        if h.runin.strip():
            body_lines = [h.runin.strip(), *body_lines]
        body_lines = _trim_blank_lines(body_lines)
        text = "\n".join(body_lines)
        if not text.strip():
            continue
        level = h.kind if h.kind in _SPECIAL_KINDS else "chapter"
        chapters.append(
            Chapter(
                index=len(chapters) + 1,
                title=h.title,
                text=text,
                level=level,  # type: ignore[arg-type]
                part=h.inline_part or part,
            )
        )
    return chapters


_PARA_BREAK_RE = re.compile(r"\n(?:[ \t\u3000]*\n)+")


def _split_by_size(text: str, language: str) -> list[Chapter]:
    """Pieces of about FALLBACK_TARGET chars cut at paragraph ends (blank lines), or at line
    ends when a book has no blank lines for too long (one paragraph per line)."""
    target = FALLBACK_TARGET[language]
    text = text.strip("\n")
    para_ends = {m.end() for m in _PARA_BREAK_RE.finditer(text)}
    line_ends = sorted(para_ends | {m.end() for m in re.finditer("\n", text)})
    cuts = [0]
    for pos in line_ends:
        size = pos - cuts[-1]
        if (pos in para_ends and size >= target) or size >= 2 * target:
            cuts.append(pos)
    if len(cuts) > 1 and len(text) - cuts[-1] < target // 3:
        cuts.pop()  # a small tail joins the previous piece
    cuts.append(len(text))
    pieces = [text[a:b].strip("\n").rstrip() for a, b in zip(cuts, cuts[1:], strict=False)]
    return [
        Chapter(index=i, title=f"第{i}部分" if language == "zh" else f"Part {i}", text=piece)
        for i, piece in enumerate([p for p in pieces if p.strip()], start=1)
    ]


def split_chapters(text: str, language: str | None = None) -> ChapterSplit:
    """Split a novel (ingested text) into chapters. `language` is "zh" or "en"; None detects it.

    Raises NFError NF-INPUT-004 when the text is empty.
    """
    if not text or not text.strip():
        raise NFError("NF-INPUT-004", "no text to split into chapters")
    lang = language if language in ("zh", "en") else detect_language(text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    prefix = [0]
    for line in lines:
        prefix.append(prefix[-1] + sum(map(len, line.split())))
    heads = _scan(lines)
    outcome = _choose(heads, lines, prefix, lang)
    chapters = _build(outcome, lines) if outcome is not None else []
    if outcome is not None and len(chapters) >= 2:
        return ChapterSplit(
            chapters=chapters,
            strategy=outcome.family,
            front_matter_chars=outcome.front,
            skill_version=VERSION,
        )
    return ChapterSplit(
        chapters=_split_by_size("\n".join(lines), lang),
        strategy="size_fallback",
        skill_version=VERSION,
    )
