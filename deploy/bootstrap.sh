#!/usr/bin/env bash
# Makes a fresh clone runnable: a virtualenv with Vigil installed, and Postgres and RabbitMQ up.
# Sourced by demo/run.sh and tests/run.sh; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

# The browser tests drive the system Chromium through Playwright; Playwright's own browser download
# is never used (an offline CI cannot fetch it).
if [ ! -x /usr/bin/chromium ]; then
  echo "bootstrap: installing Chromium"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
fi

port_open() { .venv/bin/python -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done
  echo "bootstrap: $2 did not come up on port $1" >&2; return 1
}

if ! port_open 5432; then
  echo "bootstrap: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  wait_port 5432 PostgreSQL
fi
if ! port_open 5672; then
  echo "bootstrap: starting RabbitMQ"
  rabbitmq-server -detached
  wait_port 5672 RabbitMQ
fi
# RabbitMQ opens its port before it accepts logins; wait for the application itself.
for _ in $(seq 1 60); do rabbitmq-diagnostics -q check_running >/dev/null 2>&1 && break; sleep 1; done
