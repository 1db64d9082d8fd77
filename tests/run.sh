#!/usr/bin/env bash
# The tests on a fresh machine: install, start Postgres and RabbitMQ if needed, run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/bootstrap.sh
exec .venv/bin/python -m pytest -q "$@"
