"""Ingest domain: raw upload -> normalised text (SKILL_01) -> chapters (SKILL_02)."""

import hashlib

import dagster as dg
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nf_assets.partitions import novels_partitions
from nf_assets.runtime import open_recorder
from nf_services.database import ArtifactStoreResource, DatabaseResource
from nf_services.skill_cache import Unit
from nf_skills import s01_ingest, s02_chapter_split
from nf_skills.contracts import ChapterSplit, IngestResult
from shared.errors import NFError
from shared.models import Base
from shared.stages import Stage

T = Base.metadata.tables


@dg.asset(
    partitions_def=novels_partitions,
    group_name="ingest",
    # the project's active versions, observed per novel before its runs: a promotion marks the
    # promoted project's novels unsynced in the UI (nf_assets/versions.py)
    ins={"project_versions": dg.AssetIn(dagster_type=dg.Nothing)},
    description="SKILL_01: the uploaded file decoded, normalised and cleaned.",
)
def novel_source(
    context: dg.AssetExecutionContext, db: DatabaseResource, store: ArtifactStoreResource
) -> dg.Output[IngestResult]:
    novels = T["novels"]
    with db.engine().connect() as conn:
        row = conn.execute(
            select(novels.c.id, novels.c.source_path, novels.c.source_sha256).where(
                novels.c.partition_key == context.partition_key
            )
        ).first()
    if row is None:  # e.g. a partition added by hand in the UI's launch dialog: no tenant row
        # to record a run on; fail the first step at once, and say how to register a novel
        err = NFError(
            "NF-INPUT-010",
            f"no novel is registered for partition {context.partition_key!r}: register one with "
            "`nf submit FILE --tenant T --project P --slug S` or the gateway's upload, which "
            "adds its partition",
        )
        raise dg.Failure(description=str(err), allow_retries=False)
    rec = open_recorder(context, db, store)
    rec.set_novel(row.id)
    rec.set_stage(Stage.INGEST)
    data = rec.store.open_bytes(row.source_path)
    [result] = rec.run(
        s01_ingest,
        Stage.INGEST,
        [Unit(None, (row.source_sha256,), data)],
        s01_ingest.ingest,
        IngestResult,
    )
    with db.engine().begin() as conn:
        conn.execute(
            update(novels)
            .where(novels.c.id == row.id)
            .values(language=result.language, encoding=result.encoding, char_count=len(result.text))
        )
    return dg.Output(
        result,
        # the text's version: the upload and SKILL_01, not the project's versions it ran with,
        # so a promotion re-syncs novel_source without marking every downstream asset unsynced
        data_version=dg.DataVersion(f"{row.source_sha256[:16]}:{s01_ingest.VERSION}"),
        metadata={
            "encoding": result.encoding,
            "language": result.language,
            "chars": len(result.text),
            "boilerplate_lines_removed": result.removed_lines,
            "skill_version": result.skill_version,
        },
    )


@dg.asset(
    partitions_def=novels_partitions,
    group_name="ingest",
    description="SKILL_02: chapters in reading order (rows in `chapters` too).",
)
def chapters(
    context: dg.OpExecutionContext,
    novel_source: IngestResult,
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> ChapterSplit:
    rec = open_recorder(context, db, store)
    rec.set_stage(Stage.SPLIT)
    [split] = rec.run(
        s02_chapter_split,
        Stage.SPLIT,
        [Unit(None, (novel_source.text, novel_source.language))],
        s02_chapter_split.split_chapters,
        ChapterSplit,
    )
    if not split.chapters:
        err = NFError("NF-INPUT-009")
        rec.finish(failed=err)
        raise err
    _write_chapters(db, rec.scope, split)
    context.add_output_metadata(
        {
            "chapters": len(split.chapters),
            "strategy": split.strategy,
            "chapter_list": dg.MetadataValue.md(
                "| # | title | chars |\n|---:|---|---:|\n"
                + "\n".join(f"| {c.index} | {c.title} | {len(c.text)} |" for c in split.chapters)
            ),
            "skill_version": split.skill_version,
        }
    )
    return split


def _write_chapters(db: DatabaseResource, scope, split: ChapterSplit) -> None:
    """Upsert chapter rows; a re-split that finds fewer chapters drops the surplus."""
    chapters, novels = T["chapters"], T["novels"]
    rows = [
        {
            "tenant_id": scope.tenant_id,
            "project_id": scope.project_id,
            "trace_id": scope.trace_id,
            "novel_id": scope.novel_id,
            "index": c.index,
            "title": c.title,
            "char_count": len(c.text),
            "text_sha256": hashlib.sha256(c.text.encode()).hexdigest(),
        }
        for c in split.chapters
    ]
    stmt = pg_insert(chapters).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["novel_id", "index"],
        set_={k: stmt.excluded[k] for k in ("title", "char_count", "text_sha256", "trace_id")},
    )
    with db.engine().begin() as conn:
        conn.execute(stmt)
        conn.execute(
            chapters.delete().where(
                chapters.c.novel_id == scope.novel_id, chapters.c.index > len(rows)
            )
        )
        conn.execute(
            update(novels).where(novels.c.id == scope.novel_id).values(chapter_count=len(rows))
        )


defs = dg.Definitions(assets=[novel_source, chapters])
