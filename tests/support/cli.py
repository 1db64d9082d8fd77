"""`vigil` run as a real process with a test's settings."""

import subprocess
import sys

from tests.support.processes import settings_env


def vigil(settings, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services", *args], env=settings_env(settings), input=input,
                          capture_output=True, text=True, timeout=60)
