#!/usr/bin/env bash
# Install lifesign into .venv and run the main job on the embedded default (SQLite + local
# lake in ./lifesign-data): a synthetic city is generated, its registry imported, a year
# replayed and reported; then the web app serves it at http://127.0.0.1:8000 (the demo logins
# are printed; Ctrl-C stops). Extra arguments go to `lifesign demo`, e.g. `--recipients 20000`
# or `--no-serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e .
exec .venv/bin/lifesign demo "$@"
