"""The bench's own world: a database of its own migrated by `vigil migrate`, keys made by
`vigil keys create`, and Vigil's processes started as `vigil` subcommands (as demo/stack.py
does), so the bench keeps measuring whatever the internals become."""

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pika
import psycopg
from pika.exceptions import ChannelClosedByBroker

from demo.processes import Process, free_port, settings_env, wait_http, wait_until
from shared.settings import Settings
from tests.perf.config import BenchConfig

ROOT = Path(__file__).resolve().parents[2]
# Tables a section must not empty: who may call, and what the migrations and the checkpointer did.
KEPT_TABLES = {"api_keys", "alembic_version", "checkpoint_migrations"}


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def bench_settings(config: BenchConfig) -> Settings:
    # Ports a process listens on besides the api's (metrics servers) get free ones, so the bench's
    # processes neither collide with another run on this machine nor lose their metrics overhead.
    ports = {name: free_port() for name in Settings.model_fields if name.endswith("_port")}
    return Settings(
        database_url=config.database_url,
        queue_name=config.queue_name,
        platform_url=f"http://127.0.0.1:{free_port()}",
        groq_api_key=None,  # the embedded analyser: the bench measures Vigil, not a hosted model
        _env_file=None,
        **ports,
    )


def vigil(settings: Settings, *args: str, timeout: float = 300) -> str:
    """Run a one-shot `vigil` subcommand with the bench's settings and return its output."""
    done = subprocess.run([sys.executable, "-m", "services", *args], env=settings_env(settings), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"vigil {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def recreate_database(settings: Settings) -> None:
    """A fresh database per run, so the schema is whatever `vigil migrate` makes today."""
    name = psycopg.conninfo.conninfo_to_dict(settings.libpq_url)["dbname"]
    admin = psycopg.conninfo.make_conninfo(settings.libpq_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    vigil(settings, "migrate")


def create_key(settings: Settings, *, role: str, name: str) -> str:
    return vigil(settings, "keys", "create", "--role", role, "--name", name).strip().splitlines()[-1].strip()


def connect(settings: Settings, **kwargs) -> psycopg.Connection:
    return psycopg.connect(settings.libpq_url, autocommit=True, **kwargs)


def empty_tables(settings: Settings) -> None:
    """Every section starts from no cases: all tables but the kept ones, whatever tables exist today."""
    with connect(settings) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") if row[0] not in KEPT_TABLES]
        if tables:
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")


def wait_for_count(settings: Settings, *, status: str, expected: int, timeout: float, interval: float = 0.2,
                   check: Callable[[], None] = lambda: None, stall: float = 90) -> tuple[int, datetime]:
    """Poll Postgres (not the api) until `expected` cases have `status`; returns how many got there
    and the database's clock when they had. Gives up after `timeout`, or when the count has not
    moved for `stall` seconds; `check` raises if a process the wait depends on died. The last
    tenth is polled every 20 ms, so the time measured is not up to `interval` late."""
    started = moved = time.perf_counter()
    last = -1
    with connect(settings) as conn:
        while True:
            reached, at = conn.execute("SELECT count(*), clock_timestamp() FROM cases WHERE status = %s",
                                       (status,)).fetchone()
            now = time.perf_counter()
            if reached != last:
                last, moved = reached, now
            if reached >= expected or now - started > timeout or now - moved > stall:
                return reached, at
            check()
            time.sleep(interval if reached < 0.9 * expected else min(interval, 0.02))


def database_now(settings: Settings) -> datetime:
    with connect(settings) as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def first_publish(settings: Settings) -> datetime | None:
    """When the relay published its first outbox row, if the outbox records it."""
    with connect(settings) as conn:
        try:
            return conn.execute("SELECT min(published_at) FROM outbox").fetchone()[0]
        except psycopg.errors.UndefinedColumn:
            return None


def status_counts(settings: Settings) -> dict[str, int]:
    with connect(settings) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM cases GROUP BY status").fetchall())


def _channel_do(settings: Settings, action) -> None:
    with pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url)) as connection:
        for suffix in ("", ".DQ", ".XQ"):
            channel = connection.channel()
            with contextlib.suppress(ChannelClosedByBroker):  # 404: the queue was never declared
                action(channel, settings.queue_name + suffix)
            if channel.is_open:
                channel.close()


def purge_queues(settings: Settings) -> None:
    _channel_do(settings, lambda channel, name: channel.queue_purge(name))


def delete_queues(settings: Settings) -> None:
    _channel_do(settings, lambda channel, name: channel.queue_delete(name))


def consumers(settings: Settings) -> int:
    with pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url)) as connection:
        try:
            return connection.channel().queue_declare(settings.queue_name, passive=True).method.consumer_count
        except ChannelClosedByBroker:
            return 0


class Services:
    """The processes of one section; `stop()` ends them all, newest first."""

    def __init__(self, settings: Settings, config: BenchConfig) -> None:
        self.settings = settings
        self.config = config
        self.env = settings_env(settings)
        self.processes: list[Process] = []
        self.api_url = ""

    def _start(self, name: str, args: list[str]) -> Process:
        process = Process(name, args, self.env)
        self.processes.append(process)
        return process

    def platform(self) -> Process:
        process = self._start("bench-platform", ["demo-platform", "--port", self.settings.platform_url.rsplit(":", 1)[1]])
        wait_http(f"{self.settings.platform_url}/calls", process)
        return process

    def api(self) -> Process:
        port = free_port()
        process = self._start("bench-api", ["api", "--port", str(port), "--workers", str(self.config.api_processes)])
        self.api_url = f"http://127.0.0.1:{port}"
        wait_http(f"{self.api_url}/healthz", process, timeout=60)
        return process

    def relay(self) -> Process:
        return self._start("bench-relay", ["relay"])

    def workers(self) -> Process:
        """`vigil worker --processes N`, returned once every process consumes from the queue."""
        process = self._start("bench-worker", ["worker", "--processes", str(self.config.worker_processes),
                                               "--threads", str(self.config.worker_threads)])

        def consuming() -> bool:
            if not process.alive():
                raise RuntimeError(f"worker exited:\n{process.log()[-3000:]}")
            return consumers(self.settings) >= self.config.worker_processes

        wait_until(consuming, timeout=120, interval=0.2, what="the worker processes to consume")
        return process

    def check(self) -> None:
        """Raise with its log if one of the section's processes died."""
        for process in self.processes:
            if not process.alive():
                raise RuntimeError(f"{process.name} exited ({process.popen.returncode}):\n{process.log()[-2000:]}")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()


def uvicorn_app(app: str, *, processes: int) -> tuple[subprocess.Popen, str]:
    """A bare app on the same uvicorn stack as `vigil api` (uvloop, httptools, same process count)."""
    port = free_port()
    popen = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--workers", str(processes),
         "--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: popen.poll() is None and httpx.get(f"{url}/healthz", timeout=1).status_code == 200,
               timeout=60, what=f"{app} to answer")
    return popen, url


def stop_popen(popen: subprocess.Popen) -> None:
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(15)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


class BenchRun:
    """What every section gets: the settings, the knobs, the keys, a way to start processes."""

    def __init__(self, *, config: BenchConfig, settings: Settings, keys: dict[str, str]) -> None:
        self.config = config
        self.settings = settings
        self.keys = keys

    def services(self) -> Services:
        return Services(self.settings, self.config)

    def fresh(self) -> None:
        """No cases, no messages: a section measures only its own work."""
        empty_tables(self.settings)
        purge_queues(self.settings)
