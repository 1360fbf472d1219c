"""Cancelling a request's Dagster run through the Dagster instance (DAGSTER_HOME).

`terminator()` is None when no instance is configured; the gateway then marks a cancelled
request itself. With an instance: a queued run is marked canceled at once (the daemon never
dequeues it); a started run is reported canceling and its launcher asked to terminate it; the
run-status sensor then settles the request as cancelled (NF-ORCH-003).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from shared import telemetry
from shared.errors import NFError

log = telemetry.get_logger("gateway")


def terminator() -> Callable[[str], bool] | None:
    if not os.environ.get("DAGSTER_HOME"):
        return None

    def terminate(run_id: str) -> bool:
        """True when Dagster took the request (the run ends asynchronously)."""
        try:
            from dagster import DagsterInstance, DagsterRunStatus

            instance = DagsterInstance.get()
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                return False
            if run.status in (DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED):
                instance.report_run_canceled(run, message="cancelled through the nf gateway")
                return True
            instance.report_run_canceling(run, message="cancel requested through the nf gateway")
            return bool(instance.run_launcher.terminate(run_id))
        except NFError:
            raise
        except Exception as exc:  # noqa: BLE001 - the instance is out of process
            log.error("run termination failed", exc_info=exc, extra={"run_id": run_id})
            raise NFError("NF-ORCH-001", f"Dagster could not terminate run {run_id}") from None

    return terminate
