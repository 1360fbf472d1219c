"""Regenerating one shot (a new prompt or seed) without redoing its chapter.

A regeneration is an ordinary execution request of the novel whose params carry
`{"regenerate_shot": {"chapter": 3, "shot": 7, "prompt": "...", "seed": 42}}`: the gateway and
the CLI submit it (idempotent, tenant-scoped, through the intake sensor like any request), and
the requests table keeps it, so the override also holds in later runs. The render op reads the
overrides of its novel (from succeeded requests and the run's own), applies them to the compiled
prompts (a new prompt hash for that shot only) and hands the executor the chapter's previous
panels and clips by item key: every other shot of the chapter is reused, not re-rendered, and
the other chapters are served from the recorder's cache as usual. The chapter video is
re-composed because its panels changed.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, select

from nf_skills.contracts import CompiledPrompt
from shared.errors import NFError
from shared.models import Base
from shared.models.enums import JobStatus, RequestStatus

T = Base.metadata.tables
PARAM = "regenerate_shot"
MAX_PROMPT = 2000
MAX_SEED = 2**31 - 1
# What a multi-line comment may not hold (the gateway publishes the same class as a pattern):
# controls other than TAB/LF/CR, bidi controls, line/paragraph separators, BOM, surrogates.
_PROMPT_BAD = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e"
    "\u2066-\u2069\ufeff\ud800-\udfff]"
)


def regeneration_params(
    chapter: Any, shot: Any, prompt: str | None = None, seed: Any = None
) -> dict[str, Any]:
    """The request params for one shot, checked (NF-INPUT-001) before anything is written."""
    for name, value in (("chapter", chapter), ("shot", shot)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
            raise NFError("NF-INPUT-001", f"{name} must be an integer >= 1, got {value!r}")
    if prompt is not None:
        if not isinstance(prompt, str) or not prompt or len(prompt) > MAX_PROMPT:
            raise NFError(
                "NF-INPUT-001", f"prompt must be non-empty text of at most {MAX_PROMPT} characters"
            )
        bad = _PROMPT_BAD.search(prompt)
        if bad:
            raise NFError(
                "NF-INPUT-006",
                f"prompt must not contain control or bidi characters (U+{ord(bad.group()):04X})",
            )
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
    ):
        raise NFError("NF-INPUT-001", f"seed must be an integer within 0..{MAX_SEED}")
    if prompt is None and seed is None:
        raise NFError("NF-INPUT-001", "give a new prompt, a seed or both")
    body: dict[str, Any] = {"chapter": chapter, "shot": shot}
    if prompt is not None:
        body["prompt"] = prompt
    if seed is not None:
        body["seed"] = seed
    return {PARAM: body}


def shot_overrides(
    engine: Engine, tenant_id: str, partition_key: str, current_request: str | None = None
) -> dict[tuple[int, int], dict[str, Any]]:
    """(chapter, shot) -> {"prompt"?, "seed"?}: the latest regeneration of each shot among the
    novel's succeeded requests and the run's own request."""
    req = T["execution_requests"]
    wanted = req.c.status == RequestStatus.SUCCEEDED
    if current_request:
        try:
            wanted = wanted | (req.c.id == uuid.UUID(current_request))
        except ValueError:
            pass
    with engine.connect() as conn:
        rows = conn.execute(
            select(req.c.params)
            .where(
                req.c.tenant_id == tenant_id,
                req.c.partition_key == partition_key,
                req.c.params.has_key(PARAM),
                wanted,
            )
            .order_by(req.c.created_at, req.c.id)
        ).all()
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for (params,) in rows:
        body = (params or {}).get(PARAM) or {}
        try:
            key = (int(body["chapter"]), int(body["shot"]))
        except (KeyError, TypeError, ValueError):
            continue  # written by regeneration_params: not expected, never fatal
        out[key] = {k: body[k] for k in ("prompt", "seed") if k in body}
    return out


def apply_overrides(
    prompts: list[CompiledPrompt], overrides: Mapping[tuple[int, int], Mapping[str, Any]]
) -> tuple[list[CompiledPrompt], list[tuple[int, int]]]:
    """The chapter's prompts with the image prompt of each overridden shot replaced; returns the
    (chapter, shot) pairs applied. A seed also re-seeds the procedural backdrop."""
    out, applied = [], []
    for p in prompts:
        o = overrides.get((p.chapter_index, p.shot_index))
        if p.kind != "image" or not o:
            out.append(p)
            continue
        params = dict(p.params)
        prompt = o.get("prompt") or p.prompt
        if "prompt" in o:
            params["prompt"] = o["prompt"]
        if "seed" in o:
            params["seed"] = int(o["seed"])
            params["backdrop"] = _reseeded_backdrop(params.get("backdrop"), int(o["seed"]))
        digest = hashlib.sha256(
            f"{p.prompt_hash}\n{json.dumps(dict(o), sort_keys=True)}".encode()
        ).hexdigest()
        out.append(p.model_copy(update={"prompt": prompt, "params": params, "prompt_hash": digest}))
        applied.append((p.chapter_index, p.shot_index))
    return out, applied


def _reseeded_backdrop(value: Any, seed: int) -> str:
    data: dict[str, Any] = {}
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            data = json.loads(value)
        except json.JSONDecodeError:
            data = {}
    elif isinstance(value, dict):
        data = dict(value)
    base = data.get("key") or data.get("location") or data.get("kind") or "field"
    data["key"] = f"{base}#seed={seed}"
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def previous_media(
    engine: Engine, tenant_id: str, partition_key: str, skill_id: str, chapters: list[int]
) -> dict[int, str]:
    """chapter -> artifact path of the latest non-degraded output of `skill_id` for the novel
    (what a regeneration reuses its other shots from)."""
    if not chapters:
        return {}
    jobs, arts, novels = T["jobs"], T["artifacts"], T["novels"]
    with engine.connect() as conn:
        novel_id = conn.execute(
            select(novels.c.id).where(
                novels.c.tenant_id == tenant_id, novels.c.partition_key == partition_key
            )
        ).scalar()
        if novel_id is None:
            return {}
        rows = conn.execute(
            select(jobs.c.chapter_index, arts.c.path)
            .join(arts, arts.c.id == jobs.c.output_artifact_id)
            .where(
                jobs.c.tenant_id == tenant_id,
                jobs.c.novel_id == novel_id,
                jobs.c.skill_id == skill_id,
                jobs.c.chapter_index.in_(chapters),
                jobs.c.status == JobStatus.SUCCEEDED,
                jobs.c.degraded.is_(False),
            )
            .order_by(jobs.c.finished_at)
        ).all()
    return {chapter: path for chapter, path in rows}  # the latest wins
