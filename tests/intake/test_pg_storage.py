"""nf_assets.pg_storage against dagster-postgres on real PostgreSQL: the same run of the real
`novel_pipeline` leaves the same planned events, asset rows and planned checks on both; the
pooled storage reuses its connections; an idle connection killed by the server is replaced."""

from __future__ import annotations

import dagster as dg
import pytest
import yaml
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

from nf_assets import pg_storage
from tests.conftest import REPO, admin_url, create_database, drop_database

pytestmark = pytest.mark.pg
PLAIN = {"postgres": {}}
POOLED = {"custom": {"module": "nf_assets.pg_storage", "class": "PooledPostgresStorage"}}
KEY = "acme.books.tale"


def _instance(tmp_path, name: str, storage: dict, url: str) -> dg.DagsterInstance:
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    storage = {k: dict(v) for k, v in storage.items()}
    kind = next(iter(storage))
    if kind == "custom":
        storage[kind]["config"] = {"postgres_url": url}
    else:
        storage[kind]["postgres_url"] = url
    config["storage"] = storage
    home = tmp_path / name
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return dg.DagsterInstance.from_config(str(home))


@pytest.fixture
def instances(tmp_path, monkeypatch):
    """(dagster-postgres, pooled) instances, each on a database of its own."""
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", pg_storage.EVENT_BATCH_SIZE)
    urls = [create_database("nf_dagster"), create_database("nf_dagster")]
    made = [
        _instance(tmp_path, "plain", PLAIN, urls[0]),
        _instance(tmp_path, "pooled", POOLED, urls[1]),
    ]
    yield made
    for inst in made:
        inst.dispose()
    for url in urls:
        drop_database(url)


@pytest.fixture(scope="module")
def novel_job():
    from nf_assets.definitions import defs

    return defs.resolve_job_def("novel_pipeline")


def _connects(engine) -> list[int]:
    count = [0]
    event.listen(engine, "connect", lambda *_: count.__setitem__(0, count[0] + 1))
    return count


def _create(instance: dg.DagsterInstance, job) -> str:
    instance.add_dynamic_partitions("novels", [KEY])
    return instance.create_run_for_job(
        job, tags={"dagster/partition": KEY}, status=dg.DagsterRunStatus.NOT_STARTED
    ).run_id


def _planned(instance: dg.DagsterInstance, run_id: str) -> list[tuple]:
    records = instance.get_records_for_run(run_id).records
    return sorted(
        (
            r.event_log_entry.dagster_event.event_type_value,
            r.event_log_entry.dagster_event.asset_key.to_string()
            if r.event_log_entry.dagster_event.asset_key
            else None,
            r.event_log_entry.dagster_event.step_key,
        )
        for r in records
    )


def test_a_run_leaves_the_same_records_as_dagster_postgres(instances, novel_job, monkeypatch):
    plain, pooled = instances
    assert isinstance(pooled.event_log_storage, pg_storage.PooledPostgresEventLogStorage)
    batches = []
    cls = pg_storage.PooledPostgresEventLogStorage
    original = cls.store_event_batch
    monkeypatch.setattr(
        cls, "store_event_batch", lambda self, evs: (batches.append(len(evs)), original(self, evs))
    )
    runs = [_create(inst, novel_job) for inst in instances]

    events = [_planned(inst, run) for inst, run in zip(instances, runs, strict=True)]
    assert events[0] == events[1]
    assert batches == [len(events[1])]  # the pooled run's planned events: one batch
    kinds = {e[0] for e in events[0]}
    assert kinds == {"ASSET_MATERIALIZATION_PLANNED", "ASSET_CHECK_EVALUATION_PLANNED"}
    assets = sorted(novel_job.asset_layer.executable_asset_keys)
    assert len([e for e in events[0] if e[0] == "ASSET_MATERIALIZATION_PLANNED"]) == len(assets)

    for inst, run in zip(instances, runs, strict=True):
        # the asset rows the UI reads (last run, planned materialization in progress)
        records = {r.asset_entry.asset_key: r for r in inst.get_asset_records(assets)}
        assert set(records) == set(assets)
        assert {r.asset_entry.last_run_id for r in records.values()} == {run}
        for key in assets:
            info = inst.get_latest_planned_materialization_info(key, KEY)
            assert info is not None and info.run_id == run, key
        checks = novel_job.asset_layer.asset_graph.asset_check_keys
        assert checks
        for check in checks:
            [planned] = inst.event_log_storage.get_asset_check_execution_history(check, limit=5)
            assert planned.run_id == run and planned.status.value == "PLANNED"
            assert planned.partition == KEY


def test_the_pooled_storage_reuses_its_connections(instances, novel_job):
    plain, pooled = instances
    assert isinstance(pooled.event_log_storage._engine.pool, QueuePool)
    plain_connects = _connects(plain.event_log_storage._engine)
    pooled_connects = _connects(pooled.event_log_storage._engine)
    for _ in range(3):
        _create(plain, novel_job)
        _create(pooled, novel_job)
    assert plain_connects[0] > 30  # dagster-postgres: a connection per statement group
    assert pooled_connects[0] <= 2, pooled_connects


def _kill_backends(url: str) -> None:
    from sqlalchemy.engine import make_url

    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid()"
            ),
            {"db": make_url(url).database},
        )
    admin.dispose()


def test_an_idle_connection_lost_to_a_server_restart_is_replaced(instances, monkeypatch):
    _, pooled = instances
    url = pooled.event_log_storage.postgres_url
    pooled.get_runs_count()  # a pooled connection now
    monkeypatch.setattr(pg_storage, "IDLE_PING_SECONDS", 1e9)  # never checked
    _kill_backends(url)
    with pytest.raises(OperationalError):
        pooled.get_runs_count()  # what pooling without a check would do after a restart

    pooled.get_runs_count()
    monkeypatch.setattr(pg_storage, "IDLE_PING_SECONDS", 0.0)  # checked at every checkout
    _kill_backends(url)
    assert pooled.get_runs_count() == 0
