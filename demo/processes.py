"""Vigil's real processes (`vigil api`, `vigil relay`, ...) as children: started, awaited, stopped.
The demo runs its stack with these, and so do the tests."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from pydantic import SecretStr

from shared.settings import Settings

LOG_DIR = Path(os.environ.get("VIGIL_LOG_DIR", "/tmp/vigil-logs"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process exactly these settings."""
    env = dict(os.environ)
    for name, value in settings.model_dump(exclude={"groq_api_key"}).items():
        if value is None:  # an unset optional setting (ANALYSER_URL) stays unset, not the string "None"
            env.pop(name.upper(), None)
        else:  # a secret as itself, not as the stars its str() shows
            env[name.upper()] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    if settings.groq_api_key is None:
        env.pop("GROQ_API_KEY", None)
    else:
        env["GROQ_API_KEY"] = settings.groq_api_key.get_secret_value()
    return env


class Process:
    """One `vigil SUBCOMMAND` child process with its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = LOG_DIR / f"{name}-{os.getpid()}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "services", *args], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.alive():
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def wait_until(check: Callable[[], bool], *, timeout: float = 30, interval: float = 0.1, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what or check}")


def wait_http(url: str, process: Process, timeout: float = 30) -> None:
    def up() -> bool:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited:\n{process.log()[-3000:]}")
        return httpx.get(url, timeout=1).status_code == 200

    wait_until(up, timeout=timeout, what=url)
