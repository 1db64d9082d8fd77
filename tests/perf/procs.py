"""Resident memory and CPU time of a process tree, read from /proc (no psutil in the project).
CPU time per unit of work is the figure that survives a noisy shared machine: throughput does not."""

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except (OSError, ValueError):
            continue  # the process ended while we looked
        if int(fields.get("PPid", "0").strip()) == pid:
            found.append(int(status.parent.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def serving_processes(parent: int) -> list[int]:
    """The processes that do the work under a supervisor (`--processes N`, uvicorn `--workers N`):
    its children, without multiprocessing's resource tracker; the parent itself if it has none."""
    children = [pid for pid in _children(parent) if "resource_tracker" not in _cmdline(pid)]
    return children or [parent]


def rss_per_process(parent: int) -> list[float]:
    return [rss_mib(pid) for pid in serving_processes(parent)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime: fields 14 and 15 of stat(5)


def tree_cpu_seconds(parent: int) -> float:
    """CPU of a supervisor and the processes serving under it."""
    return cpu_seconds(parent) + sum(cpu_seconds(pid) for pid in serving_processes(parent) if pid != parent)
