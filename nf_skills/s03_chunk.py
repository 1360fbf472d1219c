"""SKILL_03 chunk: sentence-aware chunks of a chapter with exact offsets (the RAG input).

Also home of the small text helpers the planning skills share (sentence spans, language guess,
speech units), so that the script, the gate and the plan cut and count text the same way.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

from nf_skills.contracts import Chapter, Chunk
from shared.errors import NFError
from shared.text import CJK, CJK_RE, is_cjk

SKILL_ID = "SKILL_03"
VERSION = "1.0.0"

_ZH_END = "。！？!?…"
_EN_END = ".!?"
_CLOSERS = "”’」』）)\"'》】]"
_CLAUSE = "，,、；;：:—"
_SPACE = " \t\r\n\u3000\xa0"
_ABBREV = {
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "prof", "capt", "col", "gen",
    "lt", "rev", "hon", "no", "vol", "fig", "e.g", "i.e", "mt", "messrs",
}  # fmt: skip
_WORD = re.compile(r"[A-Za-z0-9\u00c0-\u024f]+(?:['’][A-Za-z]+)*")
_TOKEN_RUN = re.compile(f"[{CJK}]+|[A-Za-z0-9\u00c0-\u024f]+")


def speech_units(text: str) -> int:
    """Spoken length: one unit per CJK character plus one per Latin word or number.

    Language-neutral, so a speech rate in units/second works for zh, en and mixed text.
    """
    return len(CJK_RE.findall(text)) + len(_WORD.findall(CJK_RE.sub(" ", text)))


def content_tokens(text: str) -> list[str]:
    """Tokens for overlap measures: CJK character bigrams (a lone character as itself) and
    lower-cased Latin words; punctuation and spacing are ignored."""
    toks: list[str] = []
    for m in _TOKEN_RUN.finditer(text):
        run = m.group()
        if CJK_RE.match(run):
            toks.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
        else:
            toks.append(run.lower())
    return toks


def dice(a: str, b: str) -> float:
    """Multiset Dice similarity of the content tokens of two texts, in [0, 1]."""
    ta, tb = Counter(content_tokens(a)), Counter(content_tokens(b))
    total = sum(ta.values()) + sum(tb.values())
    return 2 * sum((ta & tb).values()) / total if total else 1.0


def containment(part: str, whole: str) -> float:
    """Share of `part`'s content tokens that also occur in `whole` (1.0 for an empty part)."""
    tp, tw = Counter(content_tokens(part)), Counter(content_tokens(whole))
    n = sum(tp.values())
    return sum((tp & tw).values()) / n if n else 1.0


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _SPACE:
        start += 1
    while end > start and text[end - 1] in _SPACE:
        end -= 1
    return start, end


def _ends_english_sentence(text: str, dot: int, after: int, single: bool) -> bool:
    """Whether the terminator run at `dot` (closers included up to `after`) ends a sentence."""
    nxt = after
    while nxt < len(text) and text[nxt] in " \t\u3000\xa0":
        nxt += 1
    if nxt < len(text) and text[nxt] not in "\r\n":
        if nxt == after:  # "3.14", "e.g.x": no space after the terminator
            return False
        if text[nxt].islower():  # '"Oh!" said Alice' continues the sentence
            return False
    if single and text[dot] == ".":
        m = re.search(r"([A-Za-z][A-Za-z.]*)$", text[max(0, dot - 12) : dot])
        if m:
            word = m.group(1).lower()
            if word in _ABBREV or (len(word) == 1 and text[dot - 1].isupper()):
                return False  # "Mr. Darcy", "J. Smith"
    return True


def _soft_newlines(text: str) -> set[int]:
    """Offsets of line breaks that only wrap a paragraph (hard-wrapped text, e.g. Gutenberg).

    Text counts as hard-wrapped when most lines fill a narrow width (<= 100 chars); then a break
    after a line that reaches the width, followed by an unindented line, is soft.
    """
    lines = text.split("\n")
    lengths = sorted(len(ln.rstrip()) for ln in lines if ln.strip())
    if len(lengths) < 4:
        return set()
    width = lengths[int(0.9 * (len(lengths) - 1))]
    if width > 100 or sum(1 for x in lengths if x >= 0.6 * width) < 0.5 * len(lengths):
        return set()
    soft: set[int] = set()
    pos = 0
    for cur, nxt in zip(lines, lines[1:], strict=False):
        pos += len(cur)
        if len(cur.rstrip()) >= 0.6 * width and nxt.strip() and nxt[:1] not in _SPACE:
            soft.add(pos)
        pos += 1
    return soft


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) spans of the sentences of `text`, whitespace-trimmed, in order.

    Line breaks end a sentence unless they only wrap a paragraph; 。！？… end a Chinese one
    together with the closing quotes that follow; . ! ? end an English one unless an
    abbreviation, initial or a lower-case continuation says otherwise.
    """
    spans: list[tuple[int, int]] = []
    n = len(text)
    soft = _soft_newlines(text)
    start = 0
    i = 0
    while i < n:
        ch = text[i]
        if ch == "\n" and i not in soft:
            s, e = _strip_span(text, start, i)
            if e > s:
                spans.append((s, e))
            start = i + 1
            i += 1
            continue
        if ch in _ZH_END or ch in _EN_END:
            j = i
            while j < n and (text[j] in _ZH_END or text[j] in _EN_END):
                j += 1
            single = j == i + 1
            while j < n and text[j] in _CLOSERS:
                j += 1
            chinese = (ch in _ZH_END and ch not in "!?") or is_cjk(text[i - 1] if i else "")
            if chinese or _ends_english_sentence(text, i, j, single):
                s, e = _strip_span(text, start, j)
                if e > s:
                    spans.append((s, e))
                start = j
            i = j
            continue
        i += 1
    s, e = _strip_span(text, start, n)
    if e > s:
        spans.append((s, e))
    return spans


def _split_long(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Cut a span longer than `limit` at clause marks, else spaces, else hard."""
    out: list[tuple[int, int]] = []
    while end - start > limit:
        window = text[start : start + limit]
        cut = max(window.rfind(c) for c in _CLAUSE) + 1
        if cut <= 0:
            cut = max(window.rfind(" "), window.rfind("\u3000"))
        if cut <= 0:
            cut = limit
        s, e = _strip_span(text, start, start + cut)
        if e > s:
            out.append((s, e))
        start = start + cut
        start, end = _strip_span(text, start, end)
    if end > start:
        out.append((start, end))
    return out


def _chunk_id(chapter_index: int, start: int, end: int, text: str) -> str:
    key = f"{chapter_index}\x1f{start}\x1f{end}\x1f{text}".encode()
    return hashlib.sha1(key).hexdigest()[:16]


def chunk_chapter(chapter: Chapter, max_chars: int = 400, overlap: int = 50) -> list[Chunk]:
    """Pack whole sentences into chunks of at most `max_chars`, overlapping by <= `overlap`.

    The overlap is made of whole sentences (or clauses of an over-long sentence) taken from the
    end of the previous chunk, so no chunk starts mid-sentence unless a sentence alone exceeds
    `max_chars`.
    """
    if max_chars <= 0 or overlap < 0 or overlap >= max_chars:
        raise NFError("NF-SKILL-001", f"need 0 <= overlap < max_chars, got {overlap}/{max_chars}")
    text = chapter.text
    if not text.strip():
        raise NFError("NF-SKILL-001", f"chapter {chapter.index} has no text to chunk")

    units: list[tuple[int, int]] = []
    for s, e in sentence_spans(text):
        units.extend(_split_long(text, s, e, max_chars))

    chunks: list[Chunk] = []
    a = 0
    while a < len(units):
        b = a
        while b + 1 < len(units) and units[b + 1][1] - units[a][0] <= max_chars:
            b += 1
        start, end = units[a][0], units[b][1]
        body = text[start:end]
        chunks.append(
            Chunk(
                chunk_id=_chunk_id(chapter.index, start, end, body),
                chapter_index=chapter.index,
                start=start,
                end=end,
                text=body,
                skill_version=VERSION,
            )
        )
        if b + 1 >= len(units):
            break
        # The next chunk re-reads the trailing units that fit in `overlap` and must still be
        # able to take the next new unit, otherwise it would repeat this chunk.
        nxt = b + 1
        while nxt - 1 > a and end - units[nxt - 1][0] <= overlap:
            nxt -= 1
        while nxt <= b and units[b + 1][1] - units[nxt][0] > max_chars:
            nxt += 1
        a = nxt
    return chunks
