"""SKILL_10 script_adapt: chapter text -> narration and dialogue lines, constrained by personas.

Extractive and deterministic: every line is a (whitespace-normalised, possibly shortened) excerpt
of the chapter and records the source offsets it adapts, which is what lets SKILL_16 check
coverage and fidelity. The chapter is condensed to a spoken length of about `target_seconds`:

1. every scene gets its opening line, so no scene disappears;
2. lines that echo the summary's sentences (SKILL_04), up to half of the budget;
3. the chapter is cut into equal bins and each bin left empty gets its best short line, so the
   script covers the whole chapter rather than its beginning;
4. the remaining budget goes to the best-scored lines.

Personas (SKILL_14) constrain dialogue: a speaker must be a persona (name or alias, mapped to the
canonical name) or None, and the persona's speech style bounds the length of a line.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from nf_assets.skills.contracts import (
    Chapter,
    ChapterUnderstanding,
    DialogueLine,
    Persona,
    Script,
    ScriptLine,
)
from nf_assets.skills.s03_chunk import containment, dice, sentence_spans, speech_units
from shared.errors import NFError

SKILL_ID = "SKILL_10"
VERSION = "1.0.0"

# Speech units (CJK characters / Latin words) per second of the offline voice at its default
# rate, measured with espeak-ng at 170 wpm including pauses: cmn ~2.4 chars/s, en ~3.1 words/s.
# Only used to size the script; SKILL_09 times the real plan with the voice's own rate.
NOMINAL_RATE = {"zh": 2.4, "en": 3.1}
COVERAGE_BINS = 10
MAX_DIALOGUE_SHARE = 0.6
SUMMARY_MATCH = 0.6  # Dice similarity at which a sentence counts as the summary's sentence
SUMMARY_SHARE = 0.5  # of the budget, at most, for the summary's sentences
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
_SPACES = re.compile(r"\s+")
_CJK_GAP = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef])\s+(?=[\u3000-\u9fff\uff00-\uffef])")


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


def normalise_line(text: str) -> str:
    """Collapse whitespace; drop it entirely between CJK characters (line-wrapped Chinese)."""
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


def _quote_span(text: str, d: DialogueLine) -> tuple[int, int] | None:
    if not (0 <= d.start < d.end <= len(text)):
        raise NFError("NF-SKILL-001", f"dialogue offsets {d.start}:{d.end} outside the chapter")
    q = d.quote.strip()
    if not q:
        return None
    pos = text.find(q, max(0, d.start - 2), min(len(text), d.end + 2))
    return (pos, pos + len(q)) if pos >= 0 else (d.start, d.end)


def _dialogue(
    chapter: Chapter,
    understanding: ChapterUnderstanding,
    personas: dict[str, Persona],
    names: dict[str, str],
    language: Literal["zh", "en"],
) -> tuple[list[_Cand], list[tuple[int, int]]]:
    """Dialogue candidates, and the full spans of their quotes (kept out of narration even
    where a persona's limit shortened the line)."""
    out: list[_Cand] = []
    spans: list[tuple[int, int]] = []
    last_end = -1
    for d in sorted(understanding.dialogue, key=lambda x: (x.start, x.end)):
        span = _quote_span(chapter.text, d)
        if span is None or span[0] < last_end:
            continue  # empty or overlapping an earlier quote
        speaker = names.get(d.speaker.strip()) if d.speaker else None
        raw = chapter.text[span[0] : span[1]]
        kept = trim_to_units(raw, dialogue_limit(personas.get(speaker or ""), language))
        line = normalise_line(kept)
        if not line or (speech_units(line) <= SCARE_QUOTE_UNITS and not _SPOKEN.search(raw)):
            continue  # empty, or a quoted term (“行状”) rather than speech: stays in narration
        last_end = span[1]
        spans.append(span)
        out.append(
            _Cand("dialogue", span[0], span[0] + len(kept), line, speaker, speech_units(line))
        )
    return out, spans


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


def _narration(text: str, quotes: list[tuple[int, int]], language: str) -> list[_Cand]:
    """Narrative sentences, with the quoted parts cut out; attribution-only leftovers dropped."""
    # Widen quote spans over their marks so the marks do not end up in narration.
    blocked = []
    for s, e in quotes:
        while s > 0 and text[s - 1] in _QUOTE_MARKS:
            s -= 1
        while e < len(text) and text[e] in _QUOTE_MARKS:
            e += 1
        blocked.append((s, e))
    out: list[_Cand] = []
    for s, e in sentence_spans(text):
        pieces = [(s, e)]
        for bs, be in blocked:
            if be <= s or bs >= e:
                continue
            split = [p for ps, pe in pieces for p in ((ps, min(pe, bs)), (max(ps, be), pe))]
            pieces = [p for p in split if p[1] > p[0]]
        cut = len(pieces) != 1 or pieces[0] != (s, e)
        starts = {bs for bs, _ in blocked}
        ends = {be for _, be in blocked}
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
) -> Script:
    """Adapt one chapter into a script of about `target_seconds` of speech (see module doc)."""
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

    names = persona_index(personas)
    by_name = {p.name: p for p in reversed(personas)}  # first persona of a name wins
    dialogue, quote_spans = _dialogue(chapter, understanding, by_name, names, language)
    narration = _narration(text, quote_spans, language)
    cands = sorted(narration + dialogue, key=lambda c: (c.start, c.end))
    if not cands:
        raise NFError("NF-SKILL-001", f"chapter {chapter.index} has no speakable text")

    summary = [s for s in understanding.summary.sentences if s.strip()]
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
    scene_of = {id(c): _scene_of(scenes, c.start) for c in cands}
    chosen = _select(cands, summary, scenes, scene_of, len(text), target_seconds, language)

    lines = [
        ScriptLine(
            index=i,
            kind=c.kind,
            speaker=c.speaker if c.kind == "dialogue" else None,
            text=c.text,
            scene_index=scene_of[id(c)],
            source_start=c.start,
            source_end=c.end,
        )
        for i, c in enumerate(sorted(chosen, key=lambda c: (c.start, c.end)), start=1)
    ]
    return Script(
        chapter_index=chapter.index, title=chapter.title, lines=lines, skill_version=VERSION
    )


def _select(
    cands: list[_Cand],
    summary: list[str],
    scenes: list[tuple[int, int, int]],
    scene_of: dict[int, int],
    text_len: int,
    target_seconds: float,
    language: Literal["zh", "en"],
) -> list[_Cand]:
    budget = target_seconds * NOMINAL_RATE[language]
    if sum(c.units for c in cands) <= budget:
        return list(cands)
    chosen: dict[int, _Cand] = {}
    used = 0

    def take(c: _Cand, force: bool = False) -> bool:
        nonlocal used
        if id(c) in chosen:
            return True
        if not force and used + c.units > budget:
            return False
        chosen[id(c)] = c
        used += c.units
        return True

    # 1. scene openers (forced: a scene must not vanish), narration preferred.
    seen: set[int] = set()
    for c in sorted(cands, key=lambda c: (c.kind != "narration" or c.tag, c.start)):
        sc = scene_of[id(c)]
        if sc not in seen:
            seen.add(sc)
            take(c, force=True)
    # 2. the summary's own sentences (narrated or spoken), in summary order, up to half of the
    # budget.
    for s in summary:
        match = [c for c in cands if echoes(c.text, s)]
        best = max(match, key=lambda c: (dice(c.text, s), -c.start), default=None)
        if best is not None and used + best.units <= SUMMARY_SHARE * budget:
            take(best)
    # 3. one short line for every stretch of the chapter still untouched, so the script tells
    # the whole chapter rather than its beginning.
    width = max(1, text_len) / COVERAGE_BINS

    def bins_of(c: _Cand) -> range:
        last = min(COVERAGE_BINS - 1, int(max(c.start, c.end - 1) / width))
        return range(min(COVERAGE_BINS - 1, int(c.start / width)), last + 1)

    fair_share = budget / COVERAGE_BINS
    tried: set[int] = set()
    while True:
        touched = {b for c in chosen.values() for b in bins_of(c)}
        empty = [b for b in range(COVERAGE_BINS) if b not in touched and b not in tried]
        if not empty:
            break
        # Farthest from anything told first, so a tight budget still spreads over the chapter.
        b = max(empty, key=lambda k: (min((abs(k - t) for t in touched), default=k), -k))
        tried.add(b)
        members = [c for c in cands if b in bins_of(c)]
        fair = [c for c in members if c.units <= fair_share]
        ranked = sorted(fair, key=lambda c: (-c.score, c.units, c.start)) or sorted(
            members, key=lambda c: (c.units, c.start)
        )
        for c in ranked:
            if take(c):
                break
    # 4. the rest by score while the budget lasts, keeping the chapter's own mix of talk and
    # narration (capped, so a talky chapter still gets told).
    total = sum(c.units for c in cands)
    talk_share = min(
        MAX_DIALOGUE_SHARE, sum(c.units for c in cands if c.kind == "dialogue") / total
    )
    queues = {
        kind: [c for c in sorted(cands, key=lambda c: (-c.score, c.start)) if c.kind == kind]
        for kind in ("dialogue", "narration")
    }
    while queues["dialogue"] or queues["narration"]:
        talk = sum(c.units for c in chosen.values() if c.kind == "dialogue")
        kind = "dialogue" if talk < talk_share * max(used, 1) else "narration"
        if not queues[kind]:
            kind = "narration" if kind == "dialogue" else "dialogue"
        # Equal scores go to the stretch of the chapter told least so far.
        load = Counter(b for c in chosen.values() for b in bins_of(c))
        queue = queues[kind]
        best = min(
            range(len(queue)),
            key=lambda k: (-queue[k].score, min(load[b] for b in bins_of(queue[k])), k),
        )
        take(queue.pop(best))
    return list(chosen.values())
