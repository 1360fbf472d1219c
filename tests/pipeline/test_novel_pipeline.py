"""阿Q正传 (2 chapters) through the whole asset graph on real PostgreSQL, real TTS and ffmpeg."""

from __future__ import annotations

import uuid

import dagster as dg
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from nf_cli.runs import run_novel
from shared.errors import NFError
from shared.media_probe import probe_media, read_wav
from shared.models import Base
from tests.pipeline.conftest import small_novel

pytestmark = [pytest.mark.pg, pytest.mark.slow]
T = Base.metadata.tables


def _rows(engine, table: str, tenant: str):
    t = T[table]
    with engine.connect() as conn:
        return conn.execute(select(t).where(t.c.tenant_id == tenant)).mappings().all()


def _tenant(run) -> str:
    return run.partition_key.split(".")[0]


def test_run_succeeds_with_both_gates_passing(small_run):
    assert small_run.result.success
    checks = {
        e.asset_check_key.name: e.passed for e in small_run.result.get_asset_check_evaluations()
    }
    assert checks["content_gate"] and checks["media_gate"]
    assert all(checks.values()), checks


def test_every_row_carries_the_trace(small_run, engine):
    tenant = _tenant(small_run)
    for table in (
        "render_runs",
        "jobs",
        "artifacts",
        "events",
        "usage_ledger",
        "chapters",
        "novels",
        "export_records",
        "composer_batches",
    ):
        rows = _rows(engine, table, tenant)
        assert rows, f"{table} has no rows"
        assert {r["trace_id"] for r in rows} == {small_run.trace_id}, table
        assert {r["project_id"] for r in rows} == {"books"}, table


def test_runs_jobs_and_events_tell_the_story(small_run, engine):
    tenant = _tenant(small_run)
    [run] = _rows(engine, "render_runs", tenant)
    assert (run["status"], run["stage"]) == ("succeeded", "done")
    jobs = _rows(engine, "jobs", tenant)
    assert all(j["status"] == "succeeded" and j["skill_version"] for j in jobs)
    skills = {j["skill_id"] for j in jobs}
    expected = {
        f"SKILL_{n:02d}" for n in (1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 19, 20, 21)
    }
    assert expected <= skills
    assert {"EXEC_MEDIA", "EXEC_COMPOSE"} <= skills
    # per-chapter skills fan out: one job per chapter
    assert sum(1 for j in jobs if j["skill_id"] == "SKILL_10") == 2
    topics = [e["topic"] for e in _rows(engine, "events", tenant)]
    for topic in (
        "run.started",
        "run.stage_changed",
        "job.claimed",
        "job.succeeded",
        "run.finished",
    ):
        assert topic in topics
    assert topics.count("job.claimed") == topics.count("job.succeeded") == len(jobs)
    stages = {
        e["stage"] for e in _rows(engine, "events", tenant) if e["topic"] == "run.stage_changed"
    }
    assert {"split", "understand", "script", "plan", "render", "compose", "export"} <= stages
    ledger = _rows(engine, "usage_ledger", tenant)
    assert {u["unit"] for u in ledger} >= {"images", "audio_seconds"}
    assert all(u["units"] > 0 and float(u["cost_usd"]) == 0 for u in ledger)


def test_media_on_disk_is_real(small_run, engine):
    tenant = _tenant(small_run)
    arts = _rows(engine, "artifacts", tenant)
    kinds = {a["kind"] for a in arts}
    assert {"png", "wav", "mp4", "srt", "vtt", "json"} <= kinds
    root = small_run.store_root
    # panels belong to a chapter; SKILL_19's reference sheet (the novel's) is a PNG too
    png = next(a for a in arts if a["kind"] == "png" and a["chapter_index"] is not None)
    img = np.asarray(Image.open(root / png["path"]).convert("L"), dtype=float)
    assert img.shape == (720, 1280) and img.std() > 10
    sheets = [a for a in arts if a["kind"] == "png" and a["skill_id"] == "SKILL_19"]
    assert len(sheets) == 1 and sheets[0]["chapter_index"] is None
    wav = next(a for a in arts if a["kind"] == "wav")
    info, samples = read_wav(root / wav["path"])
    assert info.duration > 1 and float(np.sqrt(np.mean(samples**2))) > 0.01
    videos = [a for a in arts if a["kind"] == "mp4"]
    assert len(videos) == 2
    for v in videos:
        media = probe_media(root / v["path"])
        kinds = {s["codec_type"] for s in media["streams"]}
        assert {"video", "audio"} <= kinds
        assert 30 < media["duration"] < 240  # a chapter narrates in about 1-3 minutes
    srt = (root / next(a for a in arts if a["kind"] == "srt")["path"]).read_text()
    assert "-->" in srt and any("\u4e00" <= ch <= "\u9fff" for ch in srt)


def test_rematerializing_reuses_finished_work(small_run, engine):
    tenant = _tenant(small_run)
    before = {t: len(_rows(engine, t, tenant)) for t in ("jobs", "artifacts")}
    again = run_novel(
        engine,
        small_run.store_root,
        tenant=tenant,
        project="books",
        slug="aq",
        data=small_novel(2),
        instance=small_run.instance,
    )
    assert again.result.success
    after = {t: len(_rows(engine, t, tenant)) for t in ("jobs", "artifacts")}
    assert after == before  # nothing recomputed, nothing duplicated
    [mat] = [
        e.materialization
        for e in again.result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("panels_and_narration")
    ]
    meta = mat.metadata
    assert meta["chapters_cached"].value == 2 and meta["chapters_computed"].value == 0
    runs = _rows(engine, "render_runs", tenant)
    assert len(runs) == 2 and all(r["status"] == "succeeded" for r in runs)


def test_undecodable_upload_is_refused_before_anything_is_written(engine, tmp_path):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    instance = dg.DagsterInstance.ephemeral()
    with pytest.raises(NFError) as refused:
        run_novel(
            engine,
            tmp_path,
            tenant=tenant,
            project="books",
            slug="junk",
            data=bytes(range(256)) * 40,
            instance=instance,
        )
    assert refused.value.code == "NF-INPUT-002"
    for table in ("novels", "jobs", "render_runs", "artifacts"):
        assert not _rows(engine, table, tenant), table
    assert not instance.get_dynamic_partitions("novels")
    assert not list(tmp_path.iterdir())


def test_gate_verdicts_are_recorded_per_chapter(small_run, engine):
    rows = [
        r
        for r in _rows(engine, "gate_results", _tenant(small_run))
        if r["trace_id"] == small_run.trace_id
    ]  # this run's, not a later rerun's
    verdicts = sorted((r["gate"], r["chapter_index"], r["passed"]) for r in rows)
    assert verdicts == [
        ("SKILL_16", 1, True),
        ("SKILL_16", 2, True),
        ("SKILL_18", 1, True),
        ("SKILL_18", 2, True),
    ]
    assert all(r["metrics"] for r in rows)
