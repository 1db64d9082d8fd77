#!/usr/bin/env bash
# The demo on a fresh machine: install, start Postgres and RabbitMQ if needed, run `vigil demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/bootstrap.sh
exec .venv/bin/vigil demo "$@"
