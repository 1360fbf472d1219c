"""Where step outputs live between steps: the `io_manager` resource, chosen by NF_ARTIFACT_BACKEND.

`local` (the default) is Dagster's FilesystemIOManager under DAGSTER_HOME/storage, what every
run used before this was explicit. `s3` pickles outputs into the artifacts' bucket under
NF_S3_STEP_PREFIX (dagster-aws's PickledObjectS3IOManager, the IO manager inside its
S3PickleIOManager, given nf's own boto3 client so the endpoint, credentials and path-style
addressing are the artifact store's): then a step can run on any machine that reaches the bucket,
which the celery executor needs. Chosen when a run starts, not when the code is imported, so one
code location serves both deployments.
"""

from __future__ import annotations

import dagster as dg

from shared.config import get_settings
from shared.errors import NFError


class StepOutputIOManager(dg.ConfigurableIOManagerFactory):
    """Step outputs on the configured backend. `backend` overrides NF_ARTIFACT_BACKEND."""

    backend: str = ""

    def create_io_manager(self, context: dg.InitResourceContext) -> dg.IOManager:
        settings = get_settings()
        backend = self.backend or settings.artifact_backend
        if backend == "local":
            return dg.FilesystemIOManager().create_io_manager(context)
        if backend != "s3":
            raise NFError("NF-STORAGE-004", f"unknown step-output backend {backend!r}")
        try:
            from dagster_aws.s3.io_manager import PickledObjectS3IOManager
        except ImportError as exc:
            raise NFError(
                "NF-STORAGE-004",
                "NF_ARTIFACT_BACKEND=s3 needs dagster-aws: pip install -e '.[distributed]'",
            ) from exc
        from shared.storage_s3 import client_for

        if not settings.s3_bucket:
            raise NFError("NF-STORAGE-004", "NF_S3_BUCKET is empty (NF_ARTIFACT_BACKEND=s3)")
        return PickledObjectS3IOManager(
            settings.s3_bucket, client_for(settings), s3_prefix=settings.s3_step_prefix
        )
