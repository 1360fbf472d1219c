"""Issue 14 item 5: regenerate one shot through the live gateway and the CLI. The novel is
rendered once; a regeneration of one shot (a new prompt and seed) is a request that the intake
sensor turns into a run: only that shot's panel is rendered again (one image in the usage
ledger, no speech), the chapter video is re-composed, every other panel and clip is kept. Bad
input is refused with its registered code before anything is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import dagster as dg
import pytest
from sqlalchemy import func, select, update

from nf_assets import intake
from nf_assets.definitions import defs
from nf_assets.executors import ChapterMedia, ChapterVideo
from nf_cli.demo import first_chapters
from nf_gateway.testing import login
from nf_services.database import ArtifactStoreResource, DatabaseResource
from shared.models import Base
from shared.storage import LocalArtifactStore
from tests.conftest import CORPUS

pytestmark = [pytest.mark.pg, pytest.mark.slow]
T = Base.metadata.tables


def _run(engine, rid: str, url: str, root) -> None:
    """One intake tick for this request, the run, the run-status write-back (as the e2e test)."""
    req = T["execution_requests"]
    with engine.begin() as conn:
        conn.execute(
            update(req)
            .where(req.c.status.in_(["pending", "claimed"]), req.c.id != uuid.UUID(rid))
            .values(status="cancelled", stage="cancelled", error_code="NF-ORCH-003")
        )
    with dg.DagsterInstance.ephemeral() as instance:
        tick = intake.evaluate_intake(engine, instance, None)
        [rr] = tick.run_requests
        for add in tick.dynamic_partitions_requests:
            instance.add_dynamic_partitions(add.partitions_def_name, list(add.partition_keys))
        result = defs.resolve_job_def(rr.job_name).execute_in_process(
            partition_key=rr.partition_key,
            tags=rr.tags,
            instance=instance,
            raise_on_error=False,
            resources={
                "db": DatabaseResource(url=url),
                "store": ArtifactStoreResource(root=str(root)),
            },
        )
        assert result.success
        for sensor, kind in (
            (intake.request_started_sensor, dg.DagsterEventType.RUN_START),
            (intake.request_succeeded_sensor, dg.DagsterEventType.RUN_SUCCESS),
        ):
            [record] = instance.get_records_for_run(result.run_id, of_type=kind).records
            sensor(
                dg.build_run_status_sensor_context(
                    sensor_name=sensor.name,
                    dagster_event=record.event_log_entry.dagster_event,
                    dagster_instance=instance,
                    dagster_run=instance.get_run_by_id(result.run_id),
                    resources={"db": DatabaseResource(url=url)},
                )
            )


def _latest(engine, store, skill_id: str, model):
    jobs, arts = T["jobs"], T["artifacts"]
    with engine.connect() as conn:
        path = conn.execute(
            select(arts.c.path)
            .join(jobs, jobs.c.output_artifact_id == arts.c.id)
            .where(jobs.c.skill_id == skill_id, jobs.c.chapter_index == 1)
            .order_by(jobs.c.finished_at.desc())
            .limit(1)
        ).scalar_one()
    return model.model_validate_json(store.open_bytes(path))


def test_regenerate_one_shot_through_gateway_and_cli(
    client, cast, gateway_engine, migrated_db_url, artifact_root
):
    h = login(client, cast.email("editor"))
    base = f"/v1/projects/{cast.a}/{cast.project}"
    novel = first_chapters((CORPUS / "zh_a_q_zhengzhuan.txt").read_bytes(), 1)
    up = client.post(
        f"{base}/novels", headers=h, files={"file": ("aq.txt", novel, "text/plain")},
        data={"slug": "aq-shots"},
    )  # fmt: skip
    assert up.status_code == 201, up.text
    sub = client.post(
        f"{base}/requests",
        json={"novel": "aq-shots"},
        headers={**h, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert sub.status_code == 202, sub.text
    _run(gateway_engine, sub.json()["id"], migrated_db_url, artifact_root)

    store = LocalArtifactStore(artifact_root)
    before = _latest(gateway_engine, store, "EXEC_MEDIA", ChapterMedia)
    video_before = _latest(gateway_engine, store, "EXEC_COMPOSE", ChapterVideo)
    assert len(before.panels) >= 2 and all(p.item_key for p in before.panels)
    target = before.panels[1].shot_index
    url = f"{base}/novels/aq-shots/shots/regenerate"
    requests_before = _count_requests(gateway_engine)

    # refused before anything is written, each with its registered code
    viewer = login(client, cast.email("viewer"))
    for headers, body, status, code in (
        (h, {"chapter": 1, "shot": target}, 422, "NF-INPUT-001"),  # neither prompt nor seed
        (h, {"chapter": 0, "shot": target, "seed": 1}, 422, "NF-INPUT-001"),
        (h, {"chapter": 1, "shot": target, "seed": -1}, 422, "NF-INPUT-001"),
        (h, {"chapter": 1, "shot": target, "seed": 1, "colour": "red"}, 422, "NF-INPUT-001"),
        (h, {"chapter": 1, "shot": target, "prompt": "a\x07b"}, 422, "NF-INPUT-006"),
        (h, {"chapter": 99, "shot": 1, "seed": 1}, 404, "NF-INPUT-010"),
        (viewer, {"chapter": 1, "shot": target, "seed": 1}, 403, "NF-AUTH-004"),
    ):
        r = client.post(url, json=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
        assert (r.status_code, r.json()["error_code"]) == (status, code), (body, r.text)
    r = client.post(
        f"{base}/novels/nope/shots/regenerate",
        json={"chapter": 1, "shot": 1, "seed": 1},
        headers={**h, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert (r.status_code, r.json()["error_code"]) == (404, "NF-INPUT-010")
    r = client.post(url, json={"chapter": 1, "shot": target, "seed": 1}, headers=h)
    assert (r.status_code, r.json()["error_code"]) == (400, "NF-INPUT-007")
    assert _count_requests(gateway_engine) == requests_before

    key = uuid.uuid4().hex
    body = {"chapter": 1, "shot": target, "prompt": "阿Q在月下独自走回土谷祠", "seed": 7}
    first = client.post(url, json=body, headers={**h, "Idempotency-Key": key})
    again = client.post(url, json=body, headers={**h, "Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (202, 200), first.text
    request = first.json()
    assert request["params"] == {"regenerate_shot": body}
    _run(gateway_engine, request["id"], migrated_db_url, artifact_root)

    after = _latest(gateway_engine, store, "EXEC_MEDIA", ChapterMedia)
    video_after = _latest(gateway_engine, store, "EXEC_COMPOSE", ChapterVideo)
    changed = {p.shot_index for p in after.panels} - {
        p.shot_index for p in after.panels if p in before.panels
    }
    assert changed == {target}  # only that shot's panel is new
    assert [c.path for c in after.clips] == [c.path for c in before.clips]
    assert video_after.mp4_path != video_before.mp4_path  # the chapter was re-composed
    # the regeneration's run rendered one image and spoke nothing
    usage = T["usage_ledger"]
    with gateway_engine.connect() as conn:
        rows = conn.execute(
            select(usage.c.unit, func.count())
            .where(usage.c.trace_id == request["trace_id"], usage.c.skill_id == "EXEC_MEDIA")
            .group_by(usage.c.unit)
        ).all()
    assert dict(rows) == {"images": 1}

    # the CLI: same rules, same request shape (the operator's principal)
    env = {**os.environ, "NF_DATABASE_URL": migrated_db_url}
    nf = [sys.executable, "-m", "nf_cli.main", "shot", "regenerate", "aq-shots"]
    nf += ["--tenant", cast.a, "--project", cast.project, "--chapter", "1"]
    ok = subprocess.run(
        [*nf, "--shot", str(target), "--seed", "8"], env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert out["request"]["params"] == {
        "regenerate_shot": {"chapter": 1, "shot": target, "seed": 8}
    }
    bad = subprocess.run([*nf, "--shot", str(target)], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "NF-INPUT-001" in bad.stderr + bad.stdout


def _count_requests(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(T["execution_requests"])).scalar_one()
