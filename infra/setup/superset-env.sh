#!/usr/bin/env bash
# Create Superset's own venv (.venv-superset: Superset cannot share an environment with
# Airflow or the main venv) from superset/requirements.txt + superset/constraints.txt, and
# install the browser test's node package (tests/browser, playwright-core only: it drives
# Debian's /usr/bin/chromium, no browser is ever downloaded).
# Idempotent: a stamp holds the hash of the inputs; nothing is redone while they match.
#   PYTHON=python3.11 bash infra/setup/superset-env.sh
set -euo pipefail

cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3.11}
VENV=${LAKEHOUSE_SUPERSET_VENV:-.venv-superset}
STAMP="$VENV/.installed"
inputs=(superset/requirements.txt superset/constraints.txt tests/browser/package-lock.json)
want=$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$VENV/bin/superset" ]]; then
  exit 0
fi

command -v "$PYTHON" >/dev/null || { echo "superset-env: need $PYTHON (Python 3.11)" >&2; exit 1; }
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
echo "superset-env: installing Superset into $VENV (a few minutes the first time)"
"$VENV/bin/pip" install -q --disable-pip-version-check \
  -c superset/constraints.txt -r superset/requirements.txt

if command -v npm >/dev/null 2>&1; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
else
  echo "superset-env: npm not found; the browser test (tests/browser) needs Node.js + npm" >&2
  exit 1
fi

echo "$want" >"$STAMP"
