"""The media workers' Celery app: `celery -A nf_assets.media_worker worker -Q nf-media`
(nf_assets/media_celery.py; docs/runbooks/distributed-execution.md)."""

from nf_assets.media_celery import _app

app = _app()
