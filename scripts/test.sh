#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a used one: installs what it needs (Python
# packages into .venv, PostgreSQL with apt if missing), starts PostgreSQL, runs ruff, mypy and
# pytest.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k catalog`.
# pytest runs in $LIFESIGN_TEST_WORKERS processes (pytest-xdist; default 2, the cores of a CI
# machine; 0 runs in this process): each package's shared city is built in one of them
# (tests/conftest.py groups its modules), the rest is spread.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev,sms-clouds]'

# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
pg_setup
# shellcheck source=scripts/chromium.sh
source scripts/chromium.sh
chromium_setup

echo "== ruff"
.venv/bin/ruff check lifesign tests benchmarks
echo "== mypy"
.venv/bin/mypy lifesign
echo "== pytest"
.venv/bin/python -m pytest -n "${LIFESIGN_TEST_WORKERS:-2}" --dist loadgroup "$@"
