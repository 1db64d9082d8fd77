"""The whole stack as separate local processes: demo platform, api, relays, scheduler, workers and
the callbacks' dispatcher."""

from shared.settings import Settings
from demo.processes import Process, settings_env, wait_http


class Stack:
    def __init__(self, settings: Settings, *, api_port: int) -> None:
        self.settings = settings
        self.api_url = f"http://127.0.0.1:{api_port}"
        self._api_port = api_port
        self._env = settings_env(settings)
        self.processes: list[Process] = []

    def _start(self, name: str, args: list[str]) -> Process:
        process = Process(name, args, self._env)
        self.processes.append(process)
        return process

    def start_platform(self) -> Process:
        port = self.settings.platform_url.rsplit(":", 1)[1]
        process = self._start("platform", ["demo-platform", "--port", port])
        wait_http(f"{self.settings.platform_url}/calls", process)
        return process

    def start_transparency_db(self, port: int) -> Process:
        """The local stand-in for the DSA Transparency Database (demo/transparency_db.py)."""
        process = self._start("transparency-db", ["demo-transparency-db", "--port", str(port)])
        wait_http(f"http://127.0.0.1:{port}/_admin/calls", process)
        return process

    def start_api(self, *, workers: int = 1) -> Process:
        process = self._start("api", ["api", "--port", str(self._api_port), "--workers", str(workers)])
        wait_http(f"{self.api_url}/healthz", process)
        return process

    def start_relay(self) -> Process:
        return self._start("relay", ["relay"])

    def start_scheduler(self) -> Process:
        return self._start("scheduler", ["scheduler"])

    def start_dispatcher(self) -> Process:
        return self._start("dispatcher", ["dispatcher"])

    def start_worker(self, *, processes: int = 1, threads: int = 4) -> Process:
        return self._start("worker", ["worker", "--processes", str(processes), "--threads", str(threads)])

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
