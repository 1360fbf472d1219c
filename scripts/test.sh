#!/usr/bin/env bash
# README command 2: set up, then run the whole test suite. Tests need a real PostgreSQL: the one
# at NF_TEST_PG_ADMIN_URL if set (CI), else the embedded server under data/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -n 2 --dist loadfile -q "$@"
