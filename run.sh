#!/usr/bin/env bash
# Quick start: `./run.sh app` serves the app, `./run.sh test` runs the test suite.
# Both set up everything they need first (Debian packages, a venv in .venv) on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = test ]; then bash scripts/setup.sh --test; else bash scripts/setup.sh; fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
cmd=${1:-}
shift || true
case "$cmd" in
  app)  exec .venv/bin/python app.py "$@" ;;
  test) exec .venv/bin/python -m pytest "$@" ;;
  *)    echo "usage: ./run.sh app | ./run.sh test [pytest args]" >&2; exit 2 ;;
esac
