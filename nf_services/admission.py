"""The admission policy: whether a novel file may enter nf, decided before anything is written.

Every entry point that takes a novel calls `admit` (or `check_size` first, before it even reads
a body): the gateway upload (`nf_gateway.service.upload_novel`, so also `nf submit`), `nf demo`
and `nf_services.novels.register_novel` (so `nf_cli.runs.run_novel`, the benchmark and the tests).

Refusals raise NFError; the rest comes back as warnings (code + message) that the CLI prints on
stderr and the gateway returns in the response's `warnings` list:

- NF-INPUT-003  the file is larger than Settings.upload_max_bytes (env NF_UPLOAD_MAX_BYTES);
- NF-INPUT-002 / NF-INPUT-004  not text / no usable text (raised by SKILL_01 ingest);
- NF-INPUT-009  the text yields no chapter at all;
- NF-INPUT-011  one chapter is larger than MAX_CHAPTER_CHARS (e.g. a 5 MB book on one line:
  the size fallback cannot cut inside a line, and the pipeline would summarise, voice and draw
  only the start of it);
- NF-INPUT-012  more than MAX_LEFT_OUT_SHARE of the text is in no chapter (refused), or more
  than WARN_LEFT_OUT_SHARE (a warning);
- NF-INPUT-013  no chapter headings were found and the text was cut into parts by size (a
  warning: the videos will be "Part 1", "Part 2", ...).

`assess` is the policy itself, pure (it takes the ingested text and the chapters); `admit`
runs SKILL_01 ingest and SKILL_02 chapter_split on the bytes and assesses the result. Those two
skills are pure functions (no Dagster, no I/O) and are imported inside `admit`, so the rest of
`shared` keeps not depending on `nf_assets`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shared.config import get_settings
from shared.errors import NFError

# A chapter larger than this is a missed split, not a chapter: it is ~7x the largest chapter of
# the corpus (29k, Pride and Prejudice) and 10x a size-fallback part (20k chars of English).
MAX_CHAPTER_CHARS = 200_000
# Refuse when more than a tenth of the story would never reach a video (the largest share in
# the corpus is Pride and Prejudice's preface before chapter 1: 4%).
MAX_LEFT_OUT_SHARE = 0.10
# Tell the operator when more than this is left out (front matter, contents, trailing notes).
WARN_LEFT_OUT_SHARE = 0.02
# SKILL_02's strategy name when no heading rule worked and the text was cut by size.
SIZE_FALLBACK = "size_fallback"


class _ChapterLike(Protocol):
    title: str
    text: str


@dataclass(frozen=True)
class AdmissionWarning:
    code: str  # a registered code (shared.errors); the input was admitted anyway
    message: str

    def line(self) -> str:
        return f"warning {self.code}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Admission:
    """An admitted novel: what SKILL_01/02 found and what the operator should be told."""

    size_bytes: int
    sha256: str
    encoding: str
    language: str
    chars: int  # characters of the ingested text
    chapters: int
    strategy: str  # SKILL_02's winning rule (SIZE_FALLBACK: no headings found)
    largest_chapter: int  # characters
    left_out_share: float  # share of the ingested text (non-space chars) in no chapter
    warnings: tuple[AdmissionWarning, ...] = field(default=())


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def upload_limit() -> int:
    return get_settings().upload_max_bytes


def too_large(size: int, limit: int, what: str = "the file") -> NFError:
    """NF-INPUT-003 with the size and the limit, readable and exact."""
    return NFError(
        "NF-INPUT-003",
        f"{what} is {human_size(size)} ({size:,} bytes); the limit is {human_size(limit)} "
        f"({limit:,} bytes, NF_UPLOAD_MAX_BYTES)",
        size=size,
        limit=limit,
    )


def check_size(size: int, limit: int | None = None) -> None:
    """Refuse (NF-INPUT-003) a file over the upload limit; call it before reading the file."""
    limit = upload_limit() if limit is None else limit
    if size > limit:
        raise too_large(size, limit)


def _visible(s: str) -> int:
    """Characters that are not whitespace: layout differences do not count as lost text."""
    return sum(len(part) for part in s.split())


def assess(
    *,
    data: bytes,
    text: str,
    encoding: str,
    language: str,
    chapters: Sequence[_ChapterLike],
    strategy: str,
) -> Admission:
    """The policy on an ingested and split novel: refuse (NFError) or admit with warnings."""
    if not text.strip():
        raise NFError("NF-INPUT-004", "the file has no usable text")
    if not chapters:
        raise NFError("NF-INPUT-009", "the text could not be split into chapters")
    sizes = [len(c.text) for c in chapters]
    largest = max(range(len(sizes)), key=sizes.__getitem__)
    if sizes[largest] > MAX_CHAPTER_CHARS:
        fix = (
            "no chapter headings were found and the text has no line breaks to cut it at: "
            "add chapter headings or line breaks"
            if strategy == SIZE_FALLBACK
            else "no chapter heading follows it for too long: add the missing headings"
        )
        raise NFError(
            "NF-INPUT-011",
            f"chapter {largest + 1} of {len(sizes)} ({chapters[largest].title!r}) has "
            f"{sizes[largest]:,} characters; the limit is {MAX_CHAPTER_CHARS:,} ({fix})",
            chapter=largest + 1,
            chars=sizes[largest],
        )
    total = _visible(text)
    kept = sum(_visible(c.title) + _visible(c.text) for c in chapters)
    left_out = max(0.0, 1 - kept / total) if total else 0.0
    if left_out > MAX_LEFT_OUT_SHARE:
        raise NFError(
            "NF-INPUT-012",
            f"{left_out:.1%} of the text ({total - kept:,} of {total:,} characters) is in no "
            f"chapter; the limit is {MAX_LEFT_OUT_SHARE:.0%} (text before the first heading, "
            "contents lists and text after the last chapter are left out: remove it or give "
            "it a heading such as 'Prologue' or '序章')",
            left_out=round(left_out, 4),
        )
    warnings: list[AdmissionWarning] = []
    if strategy == SIZE_FALLBACK:
        warnings.append(
            AdmissionWarning(
                "NF-INPUT-013",
                f"no chapter headings found; the text was cut by size into {len(chapters)} "
                f"part(s) titled {chapters[0].title!r}...",
            )
        )
    if left_out > WARN_LEFT_OUT_SHARE:
        warnings.append(
            AdmissionWarning(
                "NF-INPUT-012",
                f"{left_out:.1%} of the text ({total - kept:,} characters, e.g. a preface or "
                "contents list before the first chapter) is in no chapter and will not be "
                "in any video",
            )
        )
    return Admission(
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        encoding=encoding,
        language=language,
        chars=len(text),
        chapters=len(chapters),
        strategy=strategy,
        largest_chapter=sizes[largest],
        left_out_share=round(left_out, 4),
        warnings=tuple(warnings),
    )


def admit(data: bytes, limit: int | None = None) -> Admission:
    """Size limit, then SKILL_01 ingest (NF-INPUT-002/004), SKILL_02 split and `assess`.

    Raises NFError on refusal; writes nothing.
    """
    check_size(len(data), limit)
    if not data.strip():
        raise NFError("NF-INPUT-004", "the file is empty" if not data else "the file is blank")
    from nf_skills import s01_ingest, s02_chapter_split  # pure skills, see the docstring

    ingested = s01_ingest.ingest(data)
    split = s02_chapter_split.split_chapters(ingested.text, ingested.language)
    return assess(
        data=data,
        text=ingested.text,
        encoding=ingested.encoding,
        language=ingested.language,
        chapters=split.chapters,
        strategy=split.strategy,
    )
