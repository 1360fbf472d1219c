"""Offline ChatProvider: deterministic extractive condensation of the user content.

No model can follow instructions offline, so the "answer" is the most representative sentences
of the user message (SumBasic: sentences rich in frequent words/character bigrams win, and words
already covered lose weight so the picks do not repeat each other), kept in source order and
within `max_tokens`. The system prompt is counted for usage but otherwise ignored.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from nf_services.providers.base import ChatResult, Usage

PROVIDER_NAME = "offline-extractive"
MODEL_NAME = "sumbasic-v1"

_CJK_CHAR = (
    "\u3000-\u303f"  # CJK punctuation
    "\u3040-\u30ff"  # kana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # ideographs
    "\uac00-\ud7af"  # hangul
    "\uff00-\uffef"  # full-width forms
)
_CJK_RE = re.compile(f"[{_CJK_CHAR}]")
_IDEOGRAPH_RUN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_CLOSERS = "”’\"'」』）)】"
_TERMINALS = "。！？!?…"
# Boundaries: CJK/!? terminals (plus a closing quote) split anywhere; "." only before whitespace.
_BOUNDARY = re.compile(
    f"(?<=[{_TERMINALS}][{_CLOSERS}])"
    f"|(?<=[{_TERMINALS}])(?![{_CLOSERS}{_TERMINALS}])"
    rf"|(?<=[.;][{_CLOSERS}])\s+"
    r"|(?<=[.;])\s+"
)
_WRAP_MIN = 30  # shorter lines are headings or verse, not hard-wrapped prose
_FULL_SENTENCE = 8  # sentences with fewer features are scored down (fragments, "是。")
_STOPWORDS = frozenset(
    """a an the and or but if then so of to in on at by for with from as is are was were be been
    being it its this that these those he she they we you i me him her them us my your his their
    our not no do does did have has had will would can could should shall may might must there
    here what which who whom when where why how all any some such than too very just also into
    out up down over under again said says""".split()
)


def approx_tokens(text: str) -> int:
    """Rough token count: one per CJK character, one per four other characters."""
    cjk = len(_CJK_RE.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


def _paragraphs(text: str) -> list[str]:
    """Lines with hard wraps undone: a long line not ending a sentence continues on the next.

    Short unpunctuated lines (headings such as "CHAPTER I" or "第一回") stay on their own.
    """
    out: list[str] = []
    joining = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            joining = False
            continue
        if joining:
            out[-1] += ("" if _CJK_RE.match(line[0]) else " ") + line
        else:
            out.append(line)
        joining = len(line) >= _WRAP_MIN and line[-1] not in _TERMINALS + _CLOSERS + ".;:"
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences of mixed Chinese/English text; paragraph and heading lines end sentences."""
    out: list[str] = []
    for line in _paragraphs(text):
        for piece in _BOUNDARY.split(line):
            piece = piece.strip() if piece else ""
            if piece:
                out.append(piece)
    return out


def _features(sentence: str) -> list[str]:
    """Content words (Latin etc.) and character bigrams (CJK): no segmentation needed."""
    feats: list[str] = []
    for run in _IDEOGRAPH_RUN.findall(sentence):
        feats.extend(run if len(run) == 1 else (run[i : i + 2] for i in range(len(run) - 1)))
    stripped = _IDEOGRAPH_RUN.sub(" ", sentence)
    for word in _WORD.findall(stripped.lower()):
        if len(word) > 1 and word not in _STOPWORDS:
            feats.append(word)
    return feats


def _joined(sentences: list[str]) -> str:
    text = ""
    for s in sentences:
        # CJK sentences run on without spaces; Latin sentences need one.
        glue = "" if not text or _CJK_RE.match(text[-1]) or _CJK_RE.match(s[0]) else " "
        text += glue + s
    return text


def _truncate(sentence: str, budget: int) -> str:
    """Longest prefix of the sentence within the token budget."""
    lo, hi = 0, len(sentence)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if approx_tokens(sentence[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return sentence[:lo].rstrip()


def _score(feats: list[str], prob: dict[str, float]) -> float:
    """SumBasic's mean feature probability, damped for fragments too short to say much."""
    if not feats:
        return 0.0
    return sum(prob[f] for f in feats) / len(feats) * min(1.0, len(feats) / _FULL_SENTENCE)


def condense(text: str, max_tokens: int) -> str:
    """Extractive condensation of `text` within `max_tokens` (approx tokens), deterministic."""
    if max_tokens <= 0:
        return ""
    sentences = split_sentences(text)
    if not sentences:
        return ""
    if approx_tokens(_joined(sentences)) <= max_tokens:
        return _joined(sentences)

    feats = [_features(s) for s in sentences]
    counts = Counter(f for fs in feats for f in fs)
    total = sum(counts.values()) or 1
    prob = {f: c / total for f, c in counts.items()}

    cost = [approx_tokens(s) + 1 for s in sentences]  # +1 bounds the joining space
    chosen: set[int] = set()
    used = 0
    while True:
        best, best_score = -1, -1.0
        for i, fs in enumerate(feats):
            if i in chosen or used + cost[i] > max_tokens:
                continue
            score = _score(fs, prob)
            if i == 0:
                score *= 1.25  # openings carry the setup more often than not
            if score > best_score:  # strict: ties keep the earlier sentence
                best, best_score = i, score
        if best < 0:
            break
        chosen.add(best)
        used = approx_tokens(_joined([sentences[j] for j in sorted(chosen)]))
        for f in set(feats[best]):
            prob[f] *= prob[f]  # SumBasic update: covered content matters less next time
    if not chosen:  # even the best sentence is too long: keep what fits of it
        scores = [_score(fs, prob) for fs in feats]
        first = max(range(len(sentences)), key=lambda i: (scores[i], -i))
        return _truncate(sentences[first], max_tokens)
    return _joined([sentences[j] for j in sorted(chosen)])


class OfflineChatProvider:
    """ChatProvider with no network: returns a condensation of the user message."""

    name = PROVIDER_NAME

    def __init__(self, model: str = MODEL_NAME) -> None:
        self.model = model

    def chat(self, system: str, user: str, *, max_tokens: int = 512) -> ChatResult:
        text = condense(user, max_tokens)
        units = approx_tokens(system) + approx_tokens(user) + approx_tokens(text)
        return ChatResult(text=text, usage=Usage(self.name, self.model, float(units), "tokens"))
