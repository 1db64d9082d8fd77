"""The operator's command line, run as a real process."""

import subprocess
import sys

from sqlalchemy import select

from shared.domain import Status
from shared.keys import digest
from shared.models import ApiKey, Case
from tests.support.processes import settings_env


def vigil(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services", *args], env=settings_env(settings),
                          capture_output=True, text=True, timeout=60)


def test_keys_create_prints_the_key_alone_on_its_last_line_and_stores_only_its_digest(settings, sessions):
    done = vigil(settings, "keys", "create", "--role", "moderator", "--name", "ana")
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1]
    with sessions() as session:
        stored = session.scalars(select(ApiKey).filter_by(name="ana")).one()
    assert stored.role == "moderator" and stored.key_hash == digest(key) and key not in stored.key_hash
    assert key not in done.stderr  # never logged


def test_keys_create_refuses_an_unknown_role(settings):
    done = vigil(settings, "keys", "create", "--role", "overlord", "--name", "x")
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_migrate_twice_is_harmless(settings):
    for _ in range(2):
        done = vigil(settings, "migrate")
        assert done.returncode == 0, done.stderr


def test_cases_retry_puts_a_failed_case_back(settings, sessions, case_in):
    case_id = case_in(Status.FAILED, error={"status": "executing"})
    done = vigil(settings, "cases", "retry", str(case_id))
    assert done.returncode == 0, done.stderr
    with sessions() as session:
        assert session.get(Case, case_id).status == Status.EXECUTING
    again = vigil(settings, "cases", "retry", str(case_id))
    assert again.returncode != 0 and "only a failed case" in again.stderr
