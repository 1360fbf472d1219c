"""The loop end to end on a small real novel (阿Q正传, first 2 chapters), through a live gateway:
log in -> upload -> submit (twice, one key) -> intake sensor tick -> run the Dagster job ->
run-status write-back -> status -> the composition -> the trace -> feedback (-> SKILL_22)."""

from __future__ import annotations

import uuid

import dagster as dg
import pytest
from sqlalchemy import select, update

from nf_assets import intake
from nf_assets.definitions import defs
from nf_cli.demo import first_chapters
from nf_gateway.testing import login
from nf_services.database import ArtifactStoreResource, DatabaseResource
from nf_skills import s22_feedback
from nf_skills.contracts import FeedbackItem
from shared.models import Base
from tests.conftest import CORPUS

pytestmark = [pytest.mark.pg, pytest.mark.slow]
T = Base.metadata.tables


def fire(sensor, instance, run_id, event_type, url):
    run = instance.get_run_by_id(run_id)
    [record] = instance.get_records_for_run(run_id, of_type=event_type).records
    ctx = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=record.event_log_entry.dagster_event,
        dagster_instance=instance,
        dagster_run=run,
        resources={"db": DatabaseResource(url=url)},
    )
    sensor(ctx)


def test_login_submit_execute_compose_trace_feedback(
    client, cast, gateway_engine, migrated_db_url, artifact_root
):
    h = login(client, cast.email("editor"))
    novel = first_chapters((CORPUS / "zh_a_q_zhengzhuan.txt").read_bytes(), 2)
    base = f"/v1/projects/{cast.a}/{cast.project}"

    up = client.post(
        f"{base}/novels",
        headers=h,
        files={"file": ("阿Q正传.txt", novel, "text/plain")},
        data={"slug": "aq"},
    )
    assert up.status_code == 201, up.text
    assert (up.json()["chapters"], up.json()["language"]) == (2, "zh")

    key = uuid.uuid4().hex
    first = client.post(
        f"{base}/requests", json={"novel": "aq"}, headers={**h, "Idempotency-Key": key}
    )
    again = client.post(
        f"{base}/requests", json={"novel": "aq"}, headers={**h, "Idempotency-Key": key}
    )
    assert (first.status_code, again.status_code) == (202, 200)
    request = first.json()
    assert again.json()["id"] == request["id"]
    rid, trace_id = request["id"], request["trace_id"]

    # Only this request in the shared queue, then one sensor tick.
    req = T["execution_requests"]
    with gateway_engine.begin() as conn:
        conn.execute(
            update(req)
            .where(req.c.status.in_(["pending", "claimed"]), req.c.id != uuid.UUID(rid))
            .values(status="cancelled", stage="cancelled", error_code="NF-ORCH-003")
        )
    with dg.DagsterInstance.ephemeral() as instance:
        tick = intake.evaluate_intake(gateway_engine, instance, None)
        [rr] = tick.run_requests
        assert rr.run_key == rid
        assert client.get(f"/v1/requests/{rid}", headers=h).json()["stage"] == "queued"
        for add in tick.dynamic_partitions_requests:
            instance.add_dynamic_partitions(add.partitions_def_name, list(add.partition_keys))
        result = defs.resolve_job_def(rr.job_name).execute_in_process(
            partition_key=rr.partition_key,
            tags=rr.tags,
            instance=instance,
            raise_on_error=False,
            resources={
                "db": DatabaseResource(url=migrated_db_url),
                "store": ArtifactStoreResource(root=str(artifact_root)),
            },
        )
        assert result.success
        fire(
            intake.request_started_sensor,
            instance,
            result.run_id,
            dg.DagsterEventType.RUN_START,
            migrated_db_url,
        )
        fire(
            intake.request_succeeded_sensor,
            instance,
            result.run_id,
            dg.DagsterEventType.RUN_SUCCESS,
            migrated_db_url,
        )
        # The launched run is recorded: a later tick requests nothing.
        assert intake.evaluate_intake(gateway_engine, instance, tick.cursor).run_requests == []

    status = client.get(f"/v1/requests/{rid}", headers=h).json()
    assert (status["status"], status["stage"], status["error_code"]) == ("succeeded", "done", None)
    assert status["dagster_run_id"] == result.run_id
    assert status["run"]["status"] == "succeeded"

    # The composition: a video (and subtitles) per chapter, downloadable.
    chapters = client.get(f"{base}/novels/aq/chapters", headers=h).json()
    assert [c["index"] for c in chapters] == [1, 2]
    for ch in chapters:
        assert {m["kind"] for m in ch["media"]} >= {"mp4", "srt"}
    video = next(m for m in chapters[0]["media"] if m["kind"] == "mp4")
    dl = client.get(f"/v1/artifacts/{video['id']}", headers=h)
    assert dl.status_code == 200 and dl.headers["content-type"] == "video/mp4"
    assert dl.content[4:8] == b"ftyp" and len(dl.content) == video["size_bytes"]

    # The trace: request -> run -> jobs -> artifacts, all joined by the request's trace_id.
    trace = client.get(f"/v1/traces/{trace_id}", headers=h).json()
    [treq] = trace["requests"]
    [trun] = treq["runs"]
    assert trun["dagster_run_id"] == result.run_id and trun["request_id"] == rid
    jobs = trun["jobs"]
    artifacts = [a for j in jobs for a in j["artifacts"]]
    assert jobs and artifacts and trace["counts"]["failed_jobs"] == 0
    assert {
        trun["trace_id"],
        *(j["trace_id"] for j in jobs),
        *(a["trace_id"] for a in artifacts),
    } == {trace_id}
    assert all(j["error_code"] is None and j["status"] == "succeeded" for j in jobs)
    assert video["id"] in {a["id"] for a in artifacts}
    topics = [e["topic"] for e in treq["events"]] + [e["topic"] for e in trun["events"]]
    assert topics[:2] == ["request.created", "request.claimed"]
    assert {"run.started", "run.finished"} <= set(topics)

    # Feedback on the chapter video and on the chapter itself, idempotent, into SKILL_22.
    fb = {
        "target_kind": "artifact",
        "target_id": video["id"],
        "rating": 2,
        "tags": ["voice too fast"],
        "comment": "hard to follow",
    }
    made = client.post("/v1/feedback", json=fb, headers={**h, "Idempotency-Key": "fb-1"})
    replay = client.post("/v1/feedback", json=fb, headers={**h, "Idempotency-Key": "fb-1"})
    assert (made.status_code, replay.status_code) == (201, 200)
    assert replay.json()["id"] == made.json()["id"]
    on_chapter = client.post(
        "/v1/feedback",
        headers={**h, "Idempotency-Key": "fb-2"},
        json={"target_kind": "chapter", "target_id": chapters[1]["id"], "rating": 5},
    )
    assert on_chapter.status_code == 201
    assert on_chapter.json()["skill_id"] == made.json()["skill_id"] is not None

    f = T["feedback"]
    with gateway_engine.connect() as conn:
        rows = conn.execute(select(f).where(f.c.tenant_id == cast.a)).all()
    items = [
        FeedbackItem(
            target_kind=r.target_kind,
            target_id=r.target_id,
            rating=r.rating,
            tags=list(r.tags),
            comment=r.comment or "",
            skill_id=r.skill_id,
            skill_version=r.skill_version,
        )
        for r in rows
    ]
    [group] = s22_feedback.feedback_metrics(items).groups
    assert (group.n, group.mean_rating) == (2, 3.5)
    assert group.negative_tags == ["voice too fast"]
