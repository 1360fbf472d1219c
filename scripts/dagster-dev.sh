#!/usr/bin/env bash
# The Dagster UI on the same storage the main job uses: http://127.0.0.1:3000
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
eval "$(.venv/bin/nf env)"
exec .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p "${PORT:-3000}"
