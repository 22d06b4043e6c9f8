#!/usr/bin/env bash
# Create the Airflow venv (.venv-airflow at the repo root) from infra/airflow/requirements.txt,
# pinned by infra/airflow/constraints.txt. Idempotent: a stamp file records the inputs'
# checksum, so reruns are instant until a pin changes. Usage: bash infra/setup/airflow-env.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${PYTHON:-python3.11}"
venv="${AIRFLOW_VENV:-$root/.venv-airflow}"
req="$root/infra/airflow/requirements.txt"
cons="$root/infra/airflow/constraints.txt"
stamp="$venv/.installed"

want="$(cat "$req" "$([[ -f "$cons" ]] && echo "$cons" || echo /dev/null)" | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

command -v "$python" >/dev/null || { echo "airflow-env: need $python (Python 3.11)" >&2; exit 1; }
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
cons_args=()
[[ -f "$cons" ]] && cons_args=(-c "$cons")
echo "airflow-env: installing Airflow into $venv (a few minutes the first time)"
"$venv/bin/pip" install -q --disable-pip-version-check "${cons_args[@]}" -r "$req"
echo "$want" >"$stamp"
