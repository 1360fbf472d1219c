"""Corpus chapters for the understanding-skill tests (SKILL_04..14): split with SKILL_02 when
it is importable, else with a plain heading regex so these tests do not depend on it."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest

from nf_assets.skills.contracts import Chapter

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
_HEADING = re.compile(r"^[ \t\u3000]*(第.{1,5}[回章]|CHAPTER [IVXLC]+\.?)(.*)$", re.M | re.I)


@lru_cache(maxsize=8)
def corpus_chapters(name: str) -> tuple[Chapter, ...]:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus file {name} not available")
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    try:
        from nf_assets.skills.s02_chapter_split import split_chapters

        return tuple(split_chapters(text).chapters)
    except ImportError:  # the splitter is written in parallel; fall back to the headings
        return tuple(_regex_split(text))


def _regex_split(text: str) -> list[Chapter]:
    heads = list(_HEADING.finditer(text))
    out: list[Chapter] = []
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        body = text[m.end() : end]
        if len(body.strip()) < 300:  # a table-of-contents line
            continue
        out.append(Chapter(index=len(out) + 1, title=m.group(0).strip(), text=body))
    return out
