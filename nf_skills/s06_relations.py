"""SKILL_06 relation graph: character co-occurrence within paragraph windows.

The weight of a pair is the number of sliding windows of `window` consecutive paragraphs that
mention both (names and aliases map to the canonical name, longest match first). With window=1 it
is the number of paragraphs they share.
"""

from __future__ import annotations

import itertools
from collections import Counter

from nf_skills import _textkit as tk
from nf_skills.contracts import Chapter, CharacterList, Relation, RelationGraph

SKILL_ID = "SKILL_06"
VERSION = "1.0.0"


def relation_graph(
    chapters: list[Chapter],
    characters: CharacterList,
    window: int = 1,
    min_weight: int = 1,
    language: str | None = None,
) -> RelationGraph:
    """Weighted co-occurrence edges (a < b), heaviest first."""
    if language is None:
        language = "zh" if any(tk.is_zh(c.text) for c in chapters[:3]) else "en"
    matcher = tk.matcher_for(characters.characters, language)
    weights: Counter = Counter()
    window = max(1, window)
    for ch in chapters:
        text = tk.analysis_text(ch.text, language)
        present = [set(matcher.mentions(text, a, b)) for a, b in tk.paragraphs(text)]
        for i in range(max(1, len(present) - window + 1)):
            names: set[str] = set().union(*present[i : i + window])
            weights.update(itertools.combinations(sorted(names), 2))
    relations = [Relation(a=a, b=b, weight=w) for (a, b), w in weights.items() if w >= min_weight]
    relations.sort(key=lambda r: (-r.weight, r.a, r.b))
    return RelationGraph(relations=relations, skill_version=VERSION)
