#!/usr/bin/env bash
# The benchmark of issue 6: `bash tests/perf/run.sh [intake relay pipeline memory scale]` (default all).
# Installs what it needs if missing (wrk from apt; py-spy, uvloop and httptools into .venv), starts the
# demo platform, `vigil api --workers 2`, a relay and `vigil worker --processes 2` on a database of its
# own (BENCH_DATABASE_URL, default .../vigil_bench, recreated each run), prints one Markdown table.
# Knobs (environment): BENCH_CASES, BENCH_RELAY_SECONDS, BENCH_MEMORY_CASES, BENCH_SCALE_CASES,
# BENCH_PROFILE=1 (py-spy flame graphs of the api and the workers during the intake, pipeline and
# scale steps into /tmp/vigil-profile/*.svg); the rest in tests/perf/config.py.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash deploy/bootstrap.sh  # .venv with Vigil installed, Postgres and RabbitMQ up
if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
# uvloop and httptools: the uvicorn stack the api and the reference app both run on.
if ! .venv/bin/python -c "import uvloop, httptools" 2>/dev/null || [ ! -x .venv/bin/py-spy ]; then
  echo "bench: installing py-spy, uvloop, httptools into .venv" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check py-spy uvloop httptools
fi
exec .venv/bin/python -m tests.perf.bench "$@"
