"""Rendering domain: executors turn compiled prompts into panels and narration (with SKILL_18
degradation), SKILL_21 writes subtitles, the composer makes chapter videos, and the export record
closes the run. The media gate is a blocking asset check on the videos."""

import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nf_assets.executors import (
    ChapterMedia,
    ChapterVideo,
    ComposeJob,
    MediaJob,
    chapter_subtitles,
    compose_chapter_video,
    render_chapter_media,
)
from nf_assets.media_celery import media_executor, workers_of
from nf_assets.partitions import novels_partitions
from nf_assets.regenerate import regenerations
from nf_assets.runtime import (
    ProviderCallConfig,
    active_skill_config,
    failures_md,
    open_recorder,
    project_config,
    settle_gate,
)
from nf_services.database import ArtifactStoreResource, DatabaseResource
from nf_services.media.video_options import FORMATS, video_options
from nf_services.providers.registry import resolve_config, settings_config
from nf_services.skill_cache import Unit
from nf_skills import s18_media_gate, s21_subtitle
from nf_skills.contracts import CompiledPrompt, Subtitles
from shared.config import get_settings
from shared.models import Base
from shared.stages import Stage

EXECUTOR_SKILL = "EXEC_MEDIA"
EXECUTOR_VERSION = "1.0.0"
COMPOSER_VERSION = "2.0.0"  # motion, music bed, exports (issue 14)
EXPORT_VERSION = "1.0.0"


@dg.asset(
    partitions_def=novels_partitions,
    group_name="rendering",
    description="Image + speech executors: storyboard panels and narration audio "
    "per chapter, with the SKILL_18 degradation loop",
)
def panels_and_narration(
    context,
    config: ProviderCallConfig,
    compiled_prompts: list[list[CompiledPrompt]],
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> list[ChapterMedia]:
    rec = open_recorder(context, db, store)
    rec.set_stage(Stage.RENDER)
    project = project_config(db, context.partition_key)
    defaults = settings_config()
    # provider precedence: the executor's active skill version > project > environment
    version = active_skill_config(db, context.partition_key, EXECUTOR_SKILL)
    image_cfg = resolve_config("image", project, version, defaults=defaults)
    speech_cfg = resolve_config("speech", project, version, defaults=defaults)
    spec = rec.store.spec
    # shot regenerations: their prompts replaced, the rest of their chapters kept
    compiled_prompts, regenerated, reuse = regenerations(
        context, db.engine(), rec.store, EXECUTOR_SKILL, compiled_prompts
    )
    units = [
        Unit(
            prompts[0].chapter_index if prompts else i,
            ([p.prompt_hash for p in prompts], image_cfg, speech_cfg),
            MediaJob(
                prompts[0].chapter_index if prompts else i,
                prompts,
                image_cfg,
                speech_cfg,
                spec,
                config.retry_scale,
                reuse=reuse.get(prompts[0].chapter_index if prompts else i, {}),
            ),
        )
        for i, prompts in enumerate(compiled_prompts, start=1)
    ]
    pool = media_executor()
    media = rec.run_skill(
        EXECUTOR_SKILL,
        EXECUTOR_VERSION,
        Stage.RENDER,
        units,
        render_chapter_media,
        ChapterMedia,
        executor=pool,
    )
    stats = rec.stats[EXECUTOR_SKILL]
    degraded = [m for m in media if m.degradations]
    context.add_output_metadata(
        {
            "panels": sum(len(m.panels) for m in media),
            "narration_minutes": round(sum(m.narration_seconds for m in media) / 60, 2),
            "chapters_computed": stats.computed,
            "chapters_cached": stats.cached,
            "provider_retries": stats.retries,
            "degradations": stats.degradations,
            "degraded_chapters": ", ".join(str(m.chapter_index) for m in degraded) or "none",
            "regenerated_shots": ", ".join(f"{c}/{s}" for c, s in regenerated) or "none",
            "cost_usd": round(stats.cost_usd, 6),
            "media_workers": workers_of(pool),
            "first_panel": dg.MetadataValue.path(rec.store.uri(media[0].panels[0].path))
            if media and media[0].panels
            else "none",
        }
    )
    return media


@dg.asset(
    partitions_def=novels_partitions,
    group_name="rendering",
    description="SKILL_21: SRT and WebVTT subtitles timed on the narration",
)
def subtitles(
    context,
    panels_and_narration: list[ChapterMedia],
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> list[Subtitles]:
    rec = open_recorder(context, db, store)
    rec.set_stage(Stage.COMPOSE)
    units = [Unit(m.chapter_index, (m,)) for m in panels_and_narration]
    subs = rec.run(s21_subtitle, Stage.COMPOSE, units, chapter_subtitles, Subtitles)
    context.add_output_metadata({"cues": sum(len(s.cues) for s in subs)})
    return subs


@dg.asset(
    partitions_def=novels_partitions,
    group_name="rendering",
    description="Composer: one MP4 per chapter (video + audio + soft subtitles)",
)
def chapter_videos(
    context,
    panels_and_narration: list[ChapterMedia],
    subtitles: list[Subtitles],
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> list[ChapterVideo]:
    rec = open_recorder(context, db, store)
    spec = rec.store.spec
    # the project's video section (motion, music, exports) decides the output: in the cache key
    video = video_options(project_config(db, context.partition_key)).as_dict()
    units = [
        Unit(m.chapter_index, (m, s, video), ComposeJob(m, s, spec, video))
        for m, s in zip(panels_and_narration, subtitles, strict=True)
    ]
    pool = media_executor()
    videos = rec.run_skill(
        "EXEC_COMPOSE",
        COMPOSER_VERSION,
        Stage.COMPOSE,
        units,
        compose_chapter_video,
        ChapterVideo,
        executor=pool,
    )
    secs = [v.seconds for v in videos]
    context.add_output_metadata(
        {
            "videos": len(videos),
            "media_workers": workers_of(pool),
            "total_minutes": round(sum(secs) / 60, 2),
            "shortest_seconds": round(min(secs), 1),
            "longest_seconds": round(max(secs), 1),
            "first_video": dg.MetadataValue.path(rec.store.uri(videos[0].mp4_path)),
            "videos_table": dg.MetadataValue.md(_videos_table(db, rec.scope, videos[:100])),
        }
    )
    return videos


def _videos_table(db: DatabaseResource, scope, videos: list[ChapterVideo]) -> str:
    """Chapter, title, length and links to the gateway's downloads of the MP4 and subtitles."""
    t = Base.metadata.tables
    paths = [p for v in videos for p in (v.mp4_path, v.srt_path, v.vtt_path)]
    with db.engine().connect() as conn:
        titles = dict(
            conn.execute(
                select(t["chapters"].c.index, t["chapters"].c.title).where(
                    t["chapters"].c.novel_id == scope.novel_id
                )
            ).all()
        )
        ids = dict(
            conn.execute(
                select(t["artifacts"].c.path, t["artifacts"].c.id).where(
                    t["artifacts"].c.tenant_id == scope.tenant_id,
                    t["artifacts"].c.path.in_(paths),
                )
            ).all()
        )
    base = get_settings().gateway_url.rstrip("/")

    def link(label: str, path: str) -> str:
        return f"[{label}]({base}/v1/artifacts/{ids[path]})" if path in ids else label

    rows = [
        f"| {v.chapter_index} | {(titles.get(v.chapter_index) or '').replace('|', '/')} "
        f"| {v.seconds:.1f} | {link('mp4', v.mp4_path)} "
        f"| {link('srt', v.srt_path)} {link('vtt', v.vtt_path)} |"
        for v in videos
    ]
    return (
        "| chapter | title | seconds | video | subtitles |\n|---:|---|---:|---|---|\n"
        + "\n".join(rows)
    )


@dg.asset_check(
    asset=chapter_videos,
    blocking=True,
    # per novel: an unpartitioned check would load every partition's inputs (all tenants)
    partitions_def=novels_partitions,
    description="SKILL_18 media gate: panel size and non-blank frames, narration duration and "
    "non-silence, both streams and the right duration, the frame size of the format and of each "
    "export, motion within a shot, the music bed present and below speech; reports the "
    "degradation loop's steps.",
    additional_ins={"panels_and_narration": dg.AssetIn("panels_and_narration")},
)
def media_gate(
    context: dg.AssetCheckExecutionContext,
    chapter_videos: list[ChapterVideo],
    panels_and_narration: list[ChapterMedia],
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> dg.AssetCheckResult:
    st = store.store()
    pairs = list(zip(chapter_videos, panels_and_narration, strict=True))

    def check(pair: tuple[ChapterVideo, ChapterMedia]):
        video, media = pair
        result = s18_media_gate.composed_video_gate(
            st.local_path(video.mp4_path),
            media.narration_seconds,
            size=(video.width, video.height) if video.width else None,
            shot_windows=video.shot_windows if video.fps else None,
            speech_segments=media.segments if video.mood else None,
            exports=[
                (st.local_path(path), FORMATS[name])
                for name, path in video.exports.items()
                if name in FORMATS
            ],
        )
        return s18_media_gate.gate_result([*media.gate.findings, *result.findings])

    # the checks are ffmpeg/ffprobe processes (decoded audio, two frames): one thread per core
    with ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
        results = list(pool.map(check, pairs))
    verdicts = [(v.chapter_index, r) for (v, _), r in zip(pairs, results, strict=True)]
    degradations = [{"chapter": m.chapter_index, **d} for _, m in pairs for d in m.degradations]
    settle_gate(
        context, db, store, s18_media_gate.SKILL_ID, s18_media_gate.VERSION, verdicts, "NF-GATE-002"
    )
    failed = [i for i, r in verdicts if not r.passed]
    return dg.AssetCheckResult(
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "chapters_checked": len(chapter_videos),
            "chapters_failed": len(failed),
            "failures": failures_md(verdicts),
            "degradations": len(degradations),
            "degradation_log": dg.MetadataValue.json(degradations[:50]),
            "skill_version": s18_media_gate.VERSION,
        },
    )


@dg.asset(
    partitions_def=novels_partitions,
    group_name="export",
    description="Export record: the manifest of a novel's videos; closes the run",
)
def export_record(
    context, chapter_videos: list[ChapterVideo], db: DatabaseResource, store: ArtifactStoreResource
) -> dict:
    rec = open_recorder(context, db, store)
    rec.set_stage(Stage.EXPORT)
    manifest = {
        "partition_key": context.partition_key,
        "trace_id": rec.scope.trace_id,
        "chapters": [v.model_dump() for v in chapter_videos],
    }
    blob = rec.store.put_bytes(json.dumps(manifest, ensure_ascii=False, indent=1).encode(), "json")
    total = sum(v.seconds for v in chapter_videos)
    t = Base.metadata.tables
    common = {
        "tenant_id": rec.scope.tenant_id,
        "project_id": rec.scope.project_id,
        "trace_id": rec.scope.trace_id,
        "novel_id": rec.scope.novel_id,
        "run_id": rec.scope.run_id,
    }
    with db.engine().begin() as conn:
        batch_id = conn.execute(
            pg_insert(t["composer_batches"])
            .values(
                id=uuid.uuid4(),
                idempotency_key=f"batch:{context.run.run_id}",
                status="succeeded",
                chapters=len(chapter_videos),
                total_seconds=total,
                **common,
            )
            .on_conflict_do_update(
                index_elements=["tenant_id", "idempotency_key"], set_={"total_seconds": total}
            )
            .returning(t["composer_batches"].c.id)
        ).scalar_one()
        conn.execute(
            pg_insert(t["export_records"])
            .values(
                id=uuid.uuid4(),
                idempotency_key=f"export:{context.run.run_id}",
                batch_id=batch_id,
                manifest_path=blob.path,
                chapters=len(chapter_videos),
                status="exported",
                **common,
            )
            .on_conflict_do_nothing()
        )
    rec.finish()
    context.add_output_metadata(
        {
            "manifest": dg.MetadataValue.path(rec.store.uri(blob.path)),
            "chapters": len(chapter_videos),
            "total_minutes": round(total / 60, 2),
            "artifact_root": rec.store.location,
            "trace_id": rec.scope.trace_id,
        }
    )
    return {"manifest_path": blob.path, "chapters": len(chapter_videos), "seconds": total}


defs = dg.Definitions(
    assets=[panels_and_narration, subtitles, chapter_videos, export_record],
    asset_checks=[media_gate],
)
