"""Corpus chapters for the understanding-skill tests (SKILL_04..14), split with SKILL_02."""

from __future__ import annotations

from functools import lru_cache

from nf_skills.contracts import Chapter
from nf_skills.s02_chapter_split import split_chapters
from tests.conftest import CORPUS


@lru_cache(maxsize=8)
def corpus_chapters(name: str) -> tuple[Chapter, ...]:
    text = (CORPUS / name).read_text(encoding="utf-8").replace("\r\n", "\n")
    return tuple(split_chapters(text).chapters)
