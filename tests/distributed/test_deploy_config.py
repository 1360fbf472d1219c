"""The deployment files in deploy/celery/ are valid for the code and libraries installed: the
executor block as run config of novel_pipeline_celery and as a dagster-celery worker config, the
instance file with its Celery run launcher and nf's run coordinator (built, not just parsed)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from tests.conftest import REPO

DEPLOY = REPO / "deploy" / "celery"
ENV = {
    "NF_CELERY_BROKER_URL": "pyamqp://nf:secret@rabbit.internal:5672//",
    "NF_CELERY_BACKEND_URL": "rpc://",
    "NF_DAGSTER_PG_URL": "postgresql+psycopg2://nf:secret@db.internal:5432/dagster",
}


@pytest.fixture(autouse=True)
def deploy_env(monkeypatch):
    pytest.importorskip("dagster_celery", reason="the 'distributed' extra is not installed")
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)


def celery_job():
    from nf_assets.definitions import defs
    from nf_assets.distributed import CELERY_JOB

    return defs.resolve_job_def(CELERY_JOB)


def test_executor_block_is_valid_run_config_of_the_celery_job():
    import dagster as dg

    config = yaml.safe_load((DEPLOY / "celery.yaml").read_text())
    dg.validate_run_config(celery_job(), config)
    config["execution"]["config"]["broker"] = 5672  # not a string: refused
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(celery_job(), config)


def test_the_jobs_default_config_matches_the_file_and_validates():
    import dagster as dg

    from nf_assets.distributed import celery_run_config
    from shared.config import Settings

    settings = Settings()
    generated = celery_run_config(settings)
    dg.validate_run_config(celery_job(), generated)
    file_block = yaml.safe_load((DEPLOY / "celery.yaml").read_text())["execution"]["config"]
    assert generated["execution"]["config"]["include"] == file_block["include"]
    assert file_block["config_source"]["task_default_queue"] == settings.celery_queue


def test_worker_reads_the_same_file_with_the_broker_from_the_environment():
    from dagster_celery.cli import get_validated_config

    config = get_validated_config(str(DEPLOY / "celery.yaml"))
    assert config["broker"] == ENV["NF_CELERY_BROKER_URL"]
    assert config["backend"] == "rpc://"
    assert config["config_source"]["task_default_queue"] == "dagster"


def test_instance_file_builds_its_run_launcher_and_coordinator(tmp_path):
    from dagster._core.instance.config import dagster_instance_config
    from dagster._serdes import ConfigurableClassData
    from dagster_celery.launcher import CeleryRunLauncher

    from nf_assets.run_coordinator import NovelRunCoordinator

    shutil.copyfile(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))  # validated against Dagster's schema
    built = {}
    for key in ("run_launcher", "run_coordinator"):
        section = config[key]
        data = ConfigurableClassData(
            section["module"], section["class"], yaml.safe_dump(section.get("config", {}))
        )
        built[key] = data.rehydrate(object)
    launcher, coordinator = built["run_launcher"], built["run_coordinator"]
    assert isinstance(launcher, CeleryRunLauncher)
    assert launcher.broker == ENV["NF_CELERY_BROKER_URL"]
    assert launcher.default_queue == "nf-runs"
    # runs and steps on different queues: a run waiting for its steps never holds a step's slot
    steps = yaml.safe_load((DEPLOY / "celery.yaml").read_text())["execution"]["config"]
    assert launcher.default_queue != steps["config_source"]["task_default_queue"]
    assert isinstance(coordinator, NovelRunCoordinator)
