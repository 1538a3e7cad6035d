#!/usr/bin/env bash
# The one setup path: README commands, .ci/run and the Dockerfile all call this.
# Idempotent: it installs Debian packages only when missing and re-runs pip only when the pins change.
#   scripts/setup.sh          what the app and the CLI need
#   scripts/setup.sh --test   also what the tests need (Debian chromium and playwright-core for browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."

# espeak-ng speaks the corpus sentences and test speech; EGL + Mesa render offscreen without a display
APT_PACKAGES=(espeak-ng libegl1 libgl1 libgl1-mesa-dri libgbm1)
[ "${1:-}" = "--test" ] && APT_PACKAGES+=(chromium)   # the app's browser test drives Debian's chromium
PYTHON=${PYTHON:-python3}
VENV=${IMITATOR_VENV:-.venv}

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
  fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
stamp="$VENV/.imitator-setup"
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages into $VENV (first run: about 2-3 minutes)"
  # One resolve for everything: installing gradio separately drags numpy 2 in and breaks mediapipe.
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e . 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -c "import imitator, torch, mediapipe, gradio, ctranslate2" \
    || { echo "setup: the Python environment is broken, see the pip output above" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

if [ "${1:-}" = "--test" ]; then
  if command -v npm >/dev/null; then
    if [ ! -d tests/browser/node_modules/playwright-core ]; then
      echo "setup: installing playwright-core (npm; it uses Debian's chromium, no browser download)"
      (cd tests/browser && npm ci --no-audit --no-fund --silent) || echo "setup: npm install failed; browser tests will skip" >&2
    fi
  else
    echo "setup: node/npm not found; the browser test will be skipped" >&2
  fi
fi
