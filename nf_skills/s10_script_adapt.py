"""SKILL_10 script_adapt: chapter text -> narration and dialogue lines, constrained by personas.

Extractive and deterministic: every line is a (whitespace-normalised, possibly shortened) excerpt
of the chapter and records the source offsets it adapts, which is what lets SKILL_16 check
coverage and fidelity. Two modes:

"condensed" (default) tells the chapter in about `target_seconds` of speech:

1. every scene gets its opening line, so no scene disappears;
2. the summary's sentences (SKILL_04), cheapest to echo first, up to half of the budget: a line
   that carries the sentence, the pieces (narration and quotes) it was cut into, or an excerpt
   of it cut at a clause boundary when it is all narration or all inside one quote;
3. the chapter is cut into equal bins and each bin left empty gets its best short line (an
   excerpt where no line reaches, e.g. inside a long quote), so the script covers the whole
   chapter rather than its beginning;
4. the remaining budget goes to the best-scored lines.

"summary_anchored" is the simpler fallback SKILL_16's degradation loop asks for when it rejects a
condensed script. It is built from anchors that satisfy the gate's coverage rules (at their
default thresholds) by construction: each scene's opening line, every summary sentence (its
pieces, or one verbatim excerpt cut at the first clause boundary that still echoes it) and the
first short line of every tenth of the chapter; then dialogue, then narration, while the target
lasts. Anchors beyond the gate's minimum stop at ANCHORED_CAP times the target.

Personas (SKILL_14) constrain dialogue: a speaker must be a persona (name or alias, mapped to the
canonical name) or None, and the persona's speech style bounds the length of a line (a summary
anchor inside a quote is the one exception: it keeps what the echo needs). A quote running over
several paragraphs (a letter, a long speech) gives one dialogue line per paragraph.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from nf_skills.contracts import (
    Chapter,
    ChapterUnderstanding,
    ContentGateThresholds,
    DialogueLine,
    Persona,
    Script,
    ScriptLine,
)
from nf_skills.s03_chunk import containment, dice, sentence_spans, speech_units
from shared.errors import NFError

SKILL_ID = "SKILL_10"
VERSION = "1.1.0"

Mode = Literal["condensed", "summary_anchored"]
MODES: tuple[str, ...] = ("condensed", "summary_anchored")

# Speech units (CJK characters / Latin words) per second of the offline voice at its default
# rate, measured with espeak-ng at 170 wpm including pauses: cmn ~2.4 chars/s, en ~3.1 words/s.
# Only used to size the script; SKILL_09 times the real plan with the voice's own rate.
NOMINAL_RATE = {"zh": 2.4, "en": 3.1}
COVERAGE_BINS = 10
MAX_DIALOGUE_SHARE = 0.6
SUMMARY_MATCH = 0.6  # Dice similarity at which a sentence counts as the summary's sentence
SUMMARY_SHARE = 0.5  # of the budget, at most, for the summary's sentences (condensed mode)
ANCHORED_CAP = 1.5  # summary_anchored: optional anchors stop at this multiple of the budget
ECHO_KEEP = 0.5  # share of a summary sentence an anchor excerpt keeps (echoes() needs 0.4)
# Dialogue length bounds in speech units, by the persona's speech style.
DIALOGUE_LIMIT = {
    "zh": {"terse": 24, "default": 60, "verbose": 100},
    "en": {"terse": 15, "default": 40, "verbose": 70},
}
NARRATION_LIMIT = {"zh": 60, "en": 40}  # speech units of one narration line
# A narrative fragment left between quotes shorter than this is just the attribution ("他道：").
MIN_FRAGMENT_UNITS = {"zh": 8, "en": 6}
MIN_NARRATION_UNITS = {"zh": 4, "en": 3}  # shorter narration ("正是那") says nothing alone
LEAD_IN_UNITS = {"zh": 8, "en": 6}  # a speech tag before a quote is at most this long
SCARE_QUOTE_UNITS = 4  # a quote this short without sentence punctuation is a term, not speech

_TERSE = re.compile(
    r"\b(?:terse|curt|brief|laconic|blunt|clipped|short(?![-\w]))\b|简短|简洁|寡言|少言|干脆|言简",
    re.IGNORECASE,
)
_VERBOSE = re.compile(
    r"\b(?:verbose|wordy|rambling|long-winded|garrulous|talkative|flowery)\b|啰嗦|絮叨|滔滔|健谈|话多",
    re.IGNORECASE,
)
_EXPLICIT = re.compile(r"(?:max(?:imum)?|at most|<=|≤|不超过|最多)\s*(\d{1,4})", re.IGNORECASE)
_SPOKEN = re.compile(r"[。！？!?.…，,；;～~—]")
_CLAUSE_SEP = re.compile(r"[，,；;]")
_SPEECH_TAG = re.compile(
    r"[道说曰问叫喝嚷喊答云]$|\b(?:said|says|asked|cried|replied|answered|exclaimed|shouted|"
    r"whispered|added|began|thought|continued|went on|remarked|called)\b",
    re.IGNORECASE,
)
_QUOTE_MARKS = "“”‘’「」『』\"'"
_TRAILING = " \t\r\n\u3000，,：:；;、—-"
# A paragraph break inside a quote: a blank line, or a line break before an indented line.
_PARAGRAPH = re.compile(r"\n[ \t\u3000]*\n|\n[ \t\u3000]+")
# Where an excerpt may end: after clause or sentence punctuation and any closing quote.
_BOUNDARY = re.compile(r"[，,、；;：:—。！？!?.…]+[”’」』\"')]*")
_SPACES = re.compile(r"\s+")
# A line break (with its indentation) inside CJK text only wraps it. A space within a line is
# kept: it stands for something (an unencodable character) and SKILL_16 compares with the source.
_CJK_GAP = re.compile(
    r"(?<=[\u3000-\u9fff\uff00-\uffef])[ \t\u3000]*\n\s*(?=[\u3000-\u9fff\uff00-\uffef])"
)


@dataclass
class _Cand:
    kind: Literal["narration", "dialogue"]
    start: int
    end: int
    text: str
    speaker: str | None
    units: int
    score: float = 0.0
    tag: bool = False  # an English speech tag left after a quote ("said the Hatter, ...")
    excerpt: bool = False  # cut from the text for an anchor, may overlap candidates


def normalise_line(text: str) -> str:
    """Collapse whitespace; drop line breaks between CJK characters (line-wrapped Chinese)."""
    return _SPACES.sub(" ", _CJK_GAP.sub("", text)).strip()


def persona_index(personas: Iterable[Persona]) -> dict[str, str]:
    """Name or alias -> canonical persona name (the first persona claiming a name wins)."""
    index: dict[str, str] = {}
    for p in personas:
        for n in [p.name, *p.aliases]:
            if n.strip():
                index.setdefault(n.strip(), p.name)
    return index


def dialogue_limit(persona: Persona | None, language: Literal["zh", "en"]) -> int:
    """Maximum speech units of one dialogue line for this persona's speech style."""
    limits = DIALOGUE_LIMIT[language]
    if persona is None:
        return limits["default"]
    style = persona.speech_style
    m = _EXPLICIT.search(style)
    if m and int(m.group(1)) > 0:
        return int(m.group(1))
    if _TERSE.search(style):
        return limits["terse"]
    if _VERBOSE.search(style):
        return limits["verbose"]
    return limits["default"]


def trim_to_units(text: str, limit: int) -> str:
    """Longest prefix of `text` within `limit` speech units, cut at a sentence, else a clause,
    else a word/character boundary. Always a prefix, so the line stays a faithful excerpt."""
    if speech_units(text) <= limit:
        return text
    best = ""
    # The caller already cut `text` out of its paragraph: line breaks inside it only wrap.
    for _, e in sentence_spans(text.replace("\n", " ")):
        if speech_units(text[:e]) > limit:
            break
        best = text[:e]
    if best:
        return best
    for m in re.finditer(r"[，,、；;：:—]", text):
        if speech_units(text[: m.start()]) > limit:
            break
        best = text[: m.start()]
    if best:
        return best.rstrip(_TRAILING)
    out = ""
    for i in range(1, len(text) + 1):
        if speech_units(text[:i]) > limit:
            break
        out = text[:i]
    # Do not end inside a Latin word.
    if out and out[-1].isalnum() and len(out) < len(text) and text[len(out)].isalnum():
        out = out[: out.rfind(" ")] if " " in out else out
    return out.rstrip(_TRAILING)


def echoes(line: str, sentence: str) -> bool:
    """Whether a script line carries a (summary) sentence: similar as a whole, or a shortened
    excerpt of it that keeps at least 40% of its words."""
    if dice(line, sentence) >= SUMMARY_MATCH:
        return True
    return containment(line, sentence) >= 0.8 and speech_units(line) >= 0.4 * speech_units(sentence)


@dataclass(frozen=True)
class _Quote:
    start: int
    end: int
    speaker: str | None


@dataclass
class _Source:
    """What the selection steps need to know about the chapter."""

    text: str
    language: Literal["zh", "en"]
    quotes: list[_Quote]
    personas: dict[str, Persona]
    sentences: list[tuple[int, int]]


def _quote_span(text: str, d: DialogueLine) -> tuple[int, int] | None:
    if not (0 <= d.start < d.end <= len(text)):
        raise NFError("NF-SKILL-001", f"dialogue offsets {d.start}:{d.end} outside the chapter")
    q = d.quote.strip()
    if not q:
        return None
    pos = text.find(q, max(0, d.start - 2), min(len(text), d.end + 2))
    return (pos, pos + len(q)) if pos >= 0 else (d.start, d.end)


def _strip_marks(text: str, ps: int, pe: int) -> tuple[int, int]:
    """Trim whitespace, trailing separators and quote marks off both ends of a span."""
    skip = _TRAILING + _QUOTE_MARKS
    while pe > ps and text[pe - 1] in skip:
        pe -= 1
    while ps < pe and text[ps] in skip:
        ps += 1
    return ps, pe


def _paragraphs(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The paragraphs of a quote (a letter quotes every paragraph), marks trimmed."""
    cuts = [start, *(x for m in _PARAGRAPH.finditer(text, start, end) for x in m.span()), end]
    pieces = (_strip_marks(text, a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=True))
    return [(a, b) for a, b in pieces if b > a]


def _dialogue(
    chapter: Chapter,
    understanding: ChapterUnderstanding,
    personas: dict[str, Persona],
    names: dict[str, str],
    language: Literal["zh", "en"],
) -> tuple[list[_Cand], list[_Quote]]:
    """Dialogue candidates, and the full spans of their quotes (kept out of narration even
    where a persona's limit shortened the line)."""
    text = chapter.text
    out: list[_Cand] = []
    quotes: list[_Quote] = []
    last_end = -1
    for d in sorted(understanding.dialogue, key=lambda x: (x.start, x.end)):
        span = _quote_span(text, d)
        if span is None or span[0] < last_end:
            continue  # empty or overlapping an earlier quote
        raw = text[span[0] : span[1]]
        if speech_units(normalise_line(raw)) <= SCARE_QUOTE_UNITS and not _SPOKEN.search(raw):
            continue  # a quoted term (“行状”) rather than speech: stays in narration
        speaker = names.get(d.speaker.strip()) if d.speaker else None
        limit = dialogue_limit(personas.get(speaker or ""), language)
        pieces = []
        for ps, pe in _paragraphs(text, *span):
            kept = trim_to_units(text[ps:pe], limit)
            line = normalise_line(kept)
            if line:
                pieces.append(
                    _Cand("dialogue", ps, ps + len(kept), line, speaker, speech_units(line))
                )
        if not pieces:
            continue
        last_end = span[1]
        quotes.append(_Quote(span[0], span[1], speaker))
        out.extend(pieces)
    return out, quotes


def _strip(text: str, ps: int, pe: int) -> tuple[int, int]:
    while pe > ps and text[pe - 1] in _TRAILING:
        pe -= 1
    while ps < pe and text[ps] in _TRAILING:
        ps += 1
    return ps, pe


def _drop_lead_in(text: str, ps: int, pe: int, language: str) -> tuple[int, int]:
    """Cut the speech tag that introduces a quote ("…，伯钦道：“" / "…, and said, “") off the
    end of a narrative piece; the quote itself is dialogue, or left out."""
    gap = text[pe : pe + 3]
    cuts = [m.end() for m in _CLAUSE_SEP.finditer(text, ps, pe)]
    tail_start = cuts[-1] if cuts else ps
    tail = text[tail_start:pe]
    tagged = "：" in gap or ":" in gap or bool(_SPEECH_TAG.search(tail))
    if tagged and speech_units(tail) <= LEAD_IN_UNITS[language]:
        return _strip(text, ps, tail_start)
    return ps, pe


def _narration(
    text: str, sentences: list[tuple[int, int]], quotes: list[_Quote], language: str
) -> list[_Cand]:
    """Narrative sentences, with the quoted parts cut out; attribution-only leftovers dropped."""
    # Widen quote spans over their marks so the marks do not end up in narration.
    blocked = []
    for q in quotes:
        s, e = q.start, q.end
        while s > 0 and text[s - 1] in _QUOTE_MARKS:
            s -= 1
        while e < len(text) and text[e] in _QUOTE_MARKS:
            e += 1
        blocked.append((s, e))
    starts = {bs for bs, _ in blocked}
    ends = {be for _, be in blocked}
    out: list[_Cand] = []
    for s, e in sentences:
        pieces = [(s, e)]
        for bs, be in blocked:
            if be <= s or bs >= e:
                continue
            split = [p for ps, pe in pieces for p in ((ps, min(pe, bs)), (max(ps, be), pe))]
            pieces = [p for p in split if p[1] > p[0]]
        cut = len(pieces) != 1 or pieces[0] != (s, e)
        for ps, pe in pieces:
            before_quote = pe in starts
            after_quote = ps in ends
            ps, pe = _strip(text, ps, pe)
            if before_quote:
                ps, pe = _drop_lead_in(text, ps, pe, language)
            units = speech_units(text[ps:pe])
            if units < MIN_NARRATION_UNITS[language] or (
                cut and units < MIN_FRAGMENT_UNITS[language]
            ):
                continue
            # One run-on sentence must not eat the budget the rest of the chapter needs.
            kept = trim_to_units(text[ps:pe], NARRATION_LIMIT[language])
            line = normalise_line(kept)
            if line:
                tag = after_quote and language == "en" and line[:1].islower()
                out.append(
                    _Cand("narration", ps, ps + len(kept), line, None, speech_units(line), tag=tag)
                )
    return out


def _excerpt(src: _Source, start: int, end: int, min_units: int = 0) -> _Cand | None:
    """A verbatim line from `start` within text[start:end], for a stretch no candidate covers.

    Starting inside a quote it is that speaker's dialogue and stays in the quote; otherwise
    narration, which stops before the next quote (and its speech tag) unless `min_units` is
    asked for (a summary anchor keeps its quotes). Cut at the usual length limit, or, if that
    leaves less than `min_units`, at the first clause boundary that reaches it."""
    text = src.text
    start, end = _strip_marks(text, start, end)
    quote = next((q for q in src.quotes if q.start <= start < q.end), None)
    if quote is not None:
        end = min(end, quote.end)
        limit = dialogue_limit(src.personas.get(quote.speaker or ""), src.language)
    else:
        limit = NARRATION_LIMIT[src.language]
        nxt = min((q.start for q in src.quotes if start < q.start < end), default=None)
        if nxt is not None and not min_units:
            start, end = _drop_lead_in(text, *_strip_marks(text, start, nxt), src.language)
    start, end = _strip_marks(text, start, end)
    if end <= start:
        return None
    kept = trim_to_units(text[start:end], limit)
    if speech_units(kept) < min_units:
        stops = (m.end() for m in _BOUNDARY.finditer(text, start, end))
        stop = next((e for e in stops if speech_units(text[start:e]) >= min_units), end)
        kept = text[start:stop].rstrip(_TRAILING)
    line = normalise_line(kept)
    if speech_units(line) < MIN_NARRATION_UNITS[src.language]:
        return None
    kind: Literal["narration", "dialogue"] = "dialogue" if quote else "narration"
    speaker = quote.speaker if quote else None
    return _Cand(kind, start, start + len(kept), line, speaker, speech_units(line), excerpt=True)


def _squeeze(text: str) -> tuple[str, list[int]]:
    """`text` without whitespace and underscores (SKILL_04 joins wrapped lines and drops the
    italics marks), with the offset in `text` of every character kept."""
    keep = [i for i, ch in enumerate(text) if not (ch.isspace() or ch == "_")]
    return "".join(text[i] for i in keep), keep


def _locate(squeezed: tuple[str, list[int]], sentence: str) -> tuple[int, int] | None:
    """Source span of an extractive summary sentence, or None if it is not in the chapter."""
    flat, keep = squeezed
    needle = _squeeze(sentence)[0]
    pos = flat.find(needle) if needle else -1
    return (keep[pos], keep[pos + len(needle) - 1] + 1) if pos >= 0 else None


def _scene_of(scenes: list[tuple[int, int, int]], offset: int) -> int:
    """Scene index containing `offset`, else the last scene starting before it, else the first."""
    current = scenes[0][2] if scenes else 1
    for s, e, idx in scenes:
        if s <= offset < e:
            return idx
        if s <= offset:
            current = idx
    return current


def adapt_script(
    chapter: Chapter,
    understanding: ChapterUnderstanding,
    personas: list[Persona],
    language: Literal["zh", "en"],
    *,
    target_seconds: float = 120.0,
    mode: Mode = "condensed",
) -> Script:
    """Adapt one chapter into a script of about `target_seconds` of speech (see module doc);
    "summary_anchored" may run up to ANCHORED_CAP times longer to keep its anchors."""
    text = chapter.text
    if not text.strip():
        raise NFError("NF-SKILL-001", f"chapter {chapter.index} has no text to adapt")
    if language not in NOMINAL_RATE:
        raise NFError("NF-SKILL-001", f"unsupported language {language!r}")
    if understanding.chapter_index != chapter.index:
        raise NFError(
            "NF-SKILL-001",
            f"understanding is for chapter {understanding.chapter_index}, not {chapter.index}",
        )
    if target_seconds <= 0:
        raise NFError("NF-SKILL-001", "target_seconds must be positive")
    if mode not in MODES:
        raise NFError("NF-SKILL-001", f"unknown script mode {mode!r}, expected one of {MODES}")

    names = persona_index(personas)
    by_name = {p.name: p for p in reversed(personas)}  # first persona of a name wins
    dialogue, quotes = _dialogue(chapter, understanding, by_name, names, language)
    src = _Source(text, language, quotes, by_name, sentence_spans(text))
    narration = _narration(text, src.sentences, quotes, language)
    cands = sorted(narration + dialogue, key=lambda c: (c.start, c.end))
    if not cands:
        raise NFError("NF-SKILL-001", f"chapter {chapter.index} has no speakable text")

    # As SKILL_16 counts them: a "sentence" too short to narrate (诗曰) cannot be echoed.
    summary = [
        s
        for s in understanding.summary.sentences
        if speech_units(s) >= MIN_NARRATION_UNITS[language]
    ]
    persona_names = sorted(names, key=len, reverse=True)
    for c in cands:
        # Narration and dialogue compete on one scale: summary echo lifts narration above
        # unattributed talk, a known speaker lifts dialogue.
        if c.kind == "dialogue":
            c.score = 0.4 + (0.15 if c.speaker else 0.0)
        else:
            c.score = 0.35 + 0.65 * max((dice(c.text, s) for s in summary), default=0.0)
            c.score += 0.1 if any(n in c.text for n in persona_names) else 0.0
            c.score *= 0.5 if c.tag else 1.0  # reads oddly without its quote

    scenes = sorted((s.start, s.end, s.index) for s in understanding.scenes)
    picker = _Picker(src, cands, scenes, target_seconds * NOMINAL_RATE[language])
    chosen = picker.anchored(summary) if mode == "summary_anchored" else picker.condensed(summary)

    lines = [
        ScriptLine(
            index=i,
            kind=c.kind,
            speaker=c.speaker if c.kind == "dialogue" else None,
            text=c.text,
            scene_index=_scene_of(scenes, c.start),
            source_start=c.start,
            source_end=c.end,
        )
        for i, c in enumerate(sorted(chosen, key=lambda c: (c.start, c.end)), start=1)
    ]
    return Script(
        chapter_index=chapter.index,
        title=chapter.title,
        lines=lines,
        skill_version=VERSION,
        mode=mode,
    )


class _Picker:
    """The selection steps of both modes over one chapter's candidates."""

    def __init__(
        self,
        src: _Source,
        cands: list[_Cand],
        scenes: list[tuple[int, int, int]],
        budget: float,
    ) -> None:
        self.src = src
        self.cands = cands
        self.scenes = scenes
        self.budget = budget
        self.chosen: dict[int, _Cand] = {}
        self.used = 0
        self.width = max(1, len(src.text)) / COVERAGE_BINS
        self.squeezed = _squeeze(src.text)
        self.thresholds = ContentGateThresholds()  # the gate's defaults, met by anchored

    # -- bookkeeping --------------------------------------------------------------------------
    def take(self, c: _Cand, limit: float | None = None, *, replace: bool = False) -> bool:
        """Choose `c` unless it would pass `limit` units (None: no limit) or overlap a chosen
        line; with `replace`, the chosen lines it overlaps make way for it instead."""
        if id(c) in self.chosen:
            return True
        clash = [o for o in self.chosen.values() if o.start < c.end and c.start < o.end]
        if clash and not replace:
            return False
        freed = sum(o.units for o in clash)
        if limit is not None and self.used - freed + c.units > limit:
            return False
        for o in clash:
            del self.chosen[id(o)]
        self.chosen[id(c)] = c
        self.used += c.units - freed
        return True

    def cost(self, option: list[_Cand]) -> int:
        return sum(c.units for c in option if id(c) not in self.chosen)

    def bins_of(self, c: _Cand) -> range:
        last = min(COVERAGE_BINS - 1, int(max(c.start, c.end - 1) / self.width))
        return range(min(COVERAGE_BINS - 1, int(c.start / self.width)), last + 1)

    def bins_with_text(self) -> list[int]:
        w, text = self.width, self.src.text
        return [
            b for b in range(COVERAGE_BINS) if speech_units(text[int(b * w) : int((b + 1) * w)])
        ]

    def touched(self) -> set[int]:
        return {b for c in self.chosen.values() for b in self.bins_of(c)}

    def echoed(self, sentence: str) -> bool:
        """SKILL_16's test: one line echoes the sentence, or all lines together contain it."""
        lines = list(self.chosen.values())
        if any(echoes(c.text, sentence) for c in lines):
            return True
        return containment(sentence, " ".join(c.text for c in lines)) >= SUMMARY_MATCH

    # -- steps -------------------------------------------------------------------------------
    def scene_openers(self) -> None:
        """Every scene's first line (narration preferred), beyond any budget: a scene must not
        vanish. A scene with text but no candidate gets an excerpt of its first sentence."""
        seen: set[int] = {_scene_of(self.scenes, c.start) for c in self.chosen.values()}
        order = sorted(self.cands, key=lambda c: (c.kind != "narration" or c.tag, c.start))
        for c in order:
            sc = _scene_of(self.scenes, c.start)
            if sc not in seen and self.take(c):
                seen.add(sc)
        for start, end, idx in self.scenes:
            if idx in seen or not self.src.text[start:end].strip():
                continue
            for s, e in self.src.sentences:
                if start <= s < end and _scene_of(self.scenes, s) == idx:
                    ex = _excerpt(self.src, s, min(e, end))
                    if ex is not None and self.take(ex):
                        seen.add(idx)
                        break

    def summary_options(self, sentence: str, excerpts: Literal["pure", "any"]) -> list[list[_Cand]]:
        """Ways to echo a summary sentence: one candidate that carries it, the pieces it was cut
        into (narration and quotes), or one verbatim excerpt of it: "pure" only when the
        sentence is all narration or all inside one quote, "any" also across quotes."""
        options: list[list[_Cand]] = []
        single = [c for c in self.cands if echoes(c.text, sentence)]
        if single:
            options.append([min(single, key=lambda c: (c.units, c.start))])
        span = _locate(self.squeezed, sentence)
        if span is None:
            return options
        pieces = [c for c in self.cands if span[0] <= c.start < span[1]]
        joined = " ".join(c.text for c in pieces)
        if pieces and containment(sentence, joined) >= SUMMARY_MATCH:
            options.append(pieces)
        a, b = _strip_marks(self.src.text, *span)
        mixed = any(a < q.start < b or a < q.end < b for q in self.src.quotes)
        if excerpts == "any" or (excerpts == "pure" and not mixed):
            need = math.ceil(ECHO_KEEP * speech_units(sentence))
            for want in (need, speech_units(sentence)):  # the whole sentence if the cut fails
                ex = _excerpt(self.src, *span, min_units=want)
                if ex is not None and echoes(ex.text, sentence):
                    options.append([ex])
                    break
        return options

    def summary(self, summary: list[str], *, anchored: bool) -> None:
        """Echo the summary's sentences, cheapest first. Condensed: within the summary's share
        of the budget. Anchored: the gate's minimum whatever it costs, the rest up to the cap."""
        plans = []
        for k, s in enumerate(summary):
            options = self.summary_options(s, "any" if anchored else "pure")
            if options:
                plans.append((min(self.cost(o) for o in options), k, s, options))
        need = math.ceil(self.thresholds.min_summary_coverage * len(summary))
        spent = 0
        done = 0
        for _, _, s, options in sorted(plans, key=lambda p: (p[0], p[1])):
            if self.echoed(s):
                done += 1
                continue
            for option in sorted(options, key=self.cost):
                cost = self.cost(option)
                if anchored:
                    limit = None if done < need else ANCHORED_CAP * self.budget
                elif spent + cost > SUMMARY_SHARE * self.budget:
                    continue
                else:
                    limit = self.budget
                before = dict(self.chosen), self.used
                # An excerpt replaces the lines it repeats; candidates never overlap each other.
                if all(self.take(c, limit, replace=c.excerpt) for c in option):
                    spent += cost
                    done += 1
                    break
                self.chosen, self.used = before  # all pieces or none

    def spread(self, *, anchored: bool) -> None:
        """A short line in every stretch of the chapter still untouched, farthest from anything
        told first, so a tight budget still spreads over the chapter. Anchored: the gate's
        minimum whatever it costs, then up to the cap, preferring each stretch's first line."""
        fair_share = self.budget / COVERAGE_BINS
        with_text = self.bins_with_text()
        need = math.ceil(self.thresholds.min_source_spread * len(with_text))
        tried: set[int] = set()
        while True:
            touched = self.touched()
            empty = [b for b in with_text if b not in touched and b not in tried]
            if not empty:
                break
            b = max(empty, key=lambda k: (min((abs(k - t) for t in touched), default=k), -k))
            tried.add(b)
            members = [c for c in self.cands if b in self.bins_of(c)]
            fair = [c for c in members if c.units <= fair_share]
            if anchored:
                limit = None if len(touched & set(with_text)) < need else ANCHORED_CAP * self.budget
                ranked = sorted(fair, key=lambda c: c.start) + sorted(
                    members, key=lambda c: (c.units, c.start)
                )
            else:
                limit = self.budget
                ranked = sorted(fair, key=lambda c: (-c.score, c.units, c.start)) or sorted(
                    members, key=lambda c: (c.units, c.start)
                )
            if any(self.take(c, limit) for c in ranked):
                continue
            for ex in self.bin_excerpts(b):
                if self.take(ex, limit):
                    break

    def bin_excerpts(self, b: int) -> Iterator[_Cand]:
        """Excerpts from bin `b` for a stretch no candidate reaches (inside a long quote or
        sentence): its sentences, or from its first clause boundary if none starts in it."""
        lo, hi = int(b * self.width), int((b + 1) * self.width)
        starts = [(s, e) for s, e in self.src.sentences if lo <= s < hi]
        if not starts:
            m = _BOUNDARY.search(self.src.text, lo, hi)
            if m is not None:
                end = next((e for s, e in self.src.sentences if s <= m.end() < e), hi)
                starts = [(m.end(), end)]
        for s, e in starts:
            ex = _excerpt(self.src, s, e)
            if ex is not None:
                yield ex

    def fill(self) -> None:
        """The rest by score while the budget lasts, keeping the chapter's own mix of talk and
        narration (capped, so a talky chapter still gets told)."""
        total = sum(c.units for c in self.cands)
        talk_share = min(
            MAX_DIALOGUE_SHARE, sum(c.units for c in self.cands if c.kind == "dialogue") / total
        )
        queues = {
            kind: [
                c for c in sorted(self.cands, key=lambda c: (-c.score, c.start)) if c.kind == kind
            ]
            for kind in ("dialogue", "narration")
        }
        while queues["dialogue"] or queues["narration"]:
            talk = sum(c.units for c in self.chosen.values() if c.kind == "dialogue")
            kind = "dialogue" if talk < talk_share * max(self.used, 1) else "narration"
            if not queues[kind]:
                kind = "narration" if kind == "dialogue" else "dialogue"
            # Equal scores go to the stretch of the chapter told least so far.
            load = Counter(b for c in self.chosen.values() for b in self.bins_of(c))
            queue = queues[kind]
            best = min(
                range(len(queue)),
                key=lambda k: (-queue[k].score, min(load[b] for b in self.bins_of(queue[k])), k),
            )
            self.take(queue.pop(best), self.budget)

    # -- modes -------------------------------------------------------------------------------
    def condensed(self, summary: list[str]) -> list[_Cand]:
        self.scene_openers()
        self.summary(summary, anchored=False)
        self.scene_openers()  # an excerpt may have replaced a scene's only line
        self.spread(anchored=False)
        self.fill()
        return list(self.chosen.values())

    def anchored(self, summary: list[str]) -> list[_Cand]:
        self.scene_openers()
        self.summary(summary, anchored=True)
        self.scene_openers()  # an excerpt may have replaced a scene's only line
        self.spread(anchored=True)
        for kind in ("dialogue", "narration"):
            for c in sorted(self.cands, key=lambda c: (-c.score, c.start)):
                if c.kind == kind:
                    self.take(c, self.budget)
        return list(self.chosen.values())
