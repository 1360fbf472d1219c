#!/usr/bin/env bash
# README command 1: set up, then run a sample novel end to end (embedded PostgreSQL unless
# NF_DATABASE_URL is set). Extra arguments go to `nf demo` (e.g. --chapters 3, --novel FILE).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/nf demo "$@"
