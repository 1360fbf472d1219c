"""Shot regenerations in the render op: the novel's overrides applied to the compiled prompts,
and what the executor may keep of each affected chapter (nf_services/shots.py)."""

from __future__ import annotations

from pydantic import ValidationError

from nf_assets.executors import ChapterMedia, reusable_items
from nf_assets.runtime import TAG_REQUEST
from nf_services import shots
from nf_skills.contracts import CompiledPrompt
from shared.errors import NFError
from shared.slugs import PartitionKey


def regenerations(
    context, engine, store, skill_id: str, compiled: list[list[CompiledPrompt]]
) -> tuple[list[list[CompiledPrompt]], list[tuple[int, int]], dict[int, dict]]:
    """(prompts with overrides applied, the (chapter, shot) pairs applied, chapter -> reusable
    items of its previous render)."""
    key = PartitionKey.parse(context.partition_key)
    overrides = shots.shot_overrides(
        engine, key.tenant_id, str(key), context.run.tags.get(TAG_REQUEST)
    )
    if not overrides:
        return compiled, [], {}
    out, applied = [], []
    for prompts in compiled:
        new, done = shots.apply_overrides(prompts, overrides)
        out.append(new)
        applied += done
    chapters = sorted({c for c, _ in applied})
    reuse: dict[int, dict] = {}
    for chapter, path in shots.previous_media(
        engine, key.tenant_id, str(key), skill_id, chapters
    ).items():
        try:
            media = ChapterMedia.model_validate_json(store.open_bytes(path))
        except (NFError, ValidationError, ValueError):
            continue  # nothing to keep: the chapter is rendered in full
        reuse[chapter] = reusable_items(media)
    return out, applied, reuse
