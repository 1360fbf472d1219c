"""Text facts every layer shares: which characters are Chinese, and which language a text is."""

from __future__ import annotations

import re
from typing import Literal

# CJK unified ideographs (extension A, the basic block, compatibility ideographs): the hanzi
# novels are written in. For a regex character class: f"[{CJK}]".
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_RE = re.compile(f"[{CJK}]")
CJK_RUN_RE = re.compile(f"[{CJK}]+")
_LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u024f]")
_SAMPLE = 200_000  # characters looked at: a novel's language shows long before that


def is_cjk(ch: str) -> bool:
    return bool(CJK_RE.match(ch))


def detect_language(text: str) -> Literal["zh", "en"]:
    """zh when ideographs are a fair share of the letters (one hanzi carries about a word)."""
    sample = text[:_SAMPLE]
    cjk = len(CJK_RE.findall(sample))
    latin = len(_LATIN_RE.findall(sample))
    return "zh" if cjk > 0 and cjk >= 0.25 * (cjk + latin / 5) else "en"
