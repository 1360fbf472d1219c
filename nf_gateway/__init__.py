"""HTTP gateway (FastAPI): auth, tenancy, uploads, execution requests, traces, feedback."""
