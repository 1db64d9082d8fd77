"""BENCH_PROFILE=1 (or raw): py-spy flame graphs of Vigil's processes while a step runs, so an engineer
sees where the time goes (`py-spy record --pid`, children included, without pausing the target)."""

import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from tests.perf.config import BenchConfig
from tests.perf.harness import say


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextmanager
def flame_graphs(config: BenchConfig, **pids: int):
    """Record each named pid (and its children) for the duration of the block, as NAME.svg."""
    binary = _py_spy()
    if not config.profile or binary is None:
        if config.profile:
            say("BENCH_PROFILE=1 but py-spy is not installed: no flame graphs")
        yield
        return
    config.profile_dir.mkdir(parents=True, exist_ok=True)
    recorders = {}
    for name, pid in pids.items():
        # BENCH_PROFILE=raw: collapsed stacks (NAME.txt) to sum with a script instead of a picture;
        # =gil: the same, sampling only the thread holding the GIL (where the CPU goes, not the waits);
        # =wall: every thread, idle ones too (where a turn's time goes, waits included)
        mode = os.environ.get("BENCH_PROFILE")
        raw = mode in ("raw", "gil", "wall")
        path = config.profile_dir / f"{name}.{'txt' if raw else 'svg'}"
        recorders[path] = subprocess.Popen(
            [binary, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", "100",
             "--format", "raw" if raw else "flamegraph", "--output", str(path), *(["--gil"] if mode == "gil" else []),
             *(["--idle"] if mode == "wall" else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        for path, recorder in recorders.items():
            recorder.send_signal(signal.SIGINT)  # py-spy writes the graph when interrupted
            try:
                _, errors = recorder.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                recorder.kill()
                errors = b"timed out writing"
            say(f"flame graph {path}" if path.exists() else f"no flame graph {path}: {errors.decode()[-300:]}")
