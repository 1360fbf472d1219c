"""SKILL_04 summarize: extractive TextRank summary of one chapter.

Sentences are nodes; an edge weighs the overlap of their character bigrams (zh) or content words
(en), normalised by log lengths as in TextRank (Mihalcea & Tarau 2004). PageRank by power
iteration; the best sentences come back in source order.
"""

from __future__ import annotations

import re

import numpy as np
from scipy import sparse

from nf_skills import _textkit as tk
from nf_skills.contracts import Chapter, Summary

SKILL_ID = "SKILL_04"
VERSION = "1.0.0"

_EN_STOP = set(
    """a an the and or but if of to in on at by for with from as is was were be been being am are
    it its this that these those he she they we you i me him her them us my your his their our
    not no so do did does had has have will would shall should can could may might must there
    then than what which who whom when where why how all any some very just into out up down
    said say says one upon too also only such own same more most other again over""".split()
)
_MAX_SENTENCES = 1500  # beyond this the n x n graph gets big; keep the chapter's first part


def summarize(chapter: Chapter, language: str, max_sentences: int = 3) -> Summary:
    """The `max_sentences` most central sentences of the chapter, in source order."""
    # sentences of the analysis copy (no [Illustration] blocks), text from the chapter itself
    work = tk.analysis_text(chapter.text, language)
    spans = [s for s in tk.sentences(work, language) if _usable(work, s, language)]
    spans = spans[:_MAX_SENTENCES]
    if not spans or max_sentences <= 0:
        return Summary(chapter_index=chapter.index, sentences=[], skill_version=VERSION)
    texts = [_clean(chapter.text[a:b]) for a, b in spans]
    scores = textrank([_terms(t, language) for t in texts])
    best = sorted(range(len(texts)), key=lambda i: (-scores[i], i))[:max_sentences]
    return Summary(
        chapter_index=chapter.index,
        sentences=[texts[i] for i in sorted(best)],
        skill_version=VERSION,
    )


def textrank(term_sets: list[set[str]], damping: float = 0.85, iters: int = 100) -> np.ndarray:
    """PageRank scores of sentences over the overlap graph."""
    n = len(term_sets)
    if n == 1:
        return np.ones(1)
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, terms in enumerate(term_sets):
        for t in terms:
            rows.append(i)
            cols.append(vocab.setdefault(t, len(vocab)))
    m = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, max(1, len(vocab))))
    overlap = (m @ m.T).toarray()
    sizes = np.array([max(len(t), 1) for t in term_sets], dtype=float)
    norm = np.log(sizes + 1)[:, None] + np.log(sizes + 1)[None, :]
    w = np.where(norm > 0, overlap / np.maximum(norm, 1e-9), 0.0)
    np.fill_diagonal(w, 0.0)
    out_sum = w.sum(axis=1)
    # a sentence sharing nothing links to every sentence uniformly (dangling node)
    trans = np.where(out_sum[:, None] > 0, w / np.maximum(out_sum[:, None], 1e-12), 1.0 / n)
    r = np.full(n, 1.0 / n)
    for _ in range(iters):
        nxt = (1 - damping) / n + damping * (trans.T @ r)
        if np.abs(nxt - r).sum() < 1e-9:
            r = nxt
            break
        r = nxt
    return r


def _terms(sentence: str, language: str) -> set[str]:
    if language == "zh":
        chars = [c for c in sentence if tk.CJK_RE.match(c)]
        return {a + b for a, b in zip(chars, chars[1:], strict=False)}
    words = re.findall(r"[a-z]+(?:['’][a-z]+)?", sentence.lower())
    return {w for w in words if w not in _EN_STOP and len(w) > 2}


def _usable(text: str, span: tuple[int, int], language: str) -> bool:
    s = text[span[0] : span[1]]
    if language == "zh":
        return len(tk.CJK_RE.findall(s)) >= 8
    return len(re.findall(r"[A-Za-z]+", s)) >= 6 and not s.lstrip().startswith("[Illustration")


def _clean(s: str) -> str:
    if tk.CJK_RE.search(s):
        return re.sub(r"[ \t\u3000]*\n\s*", "", s).strip()  # join wrapped lines
    return re.sub(r"\s+", " ", s).replace("_", "").strip()
