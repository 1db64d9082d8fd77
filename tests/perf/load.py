"""Load generators: wrk for the measured HTTP figures (cheap on CPU, so the client does not eat
the api's cores), and a small asyncio httpx poster in its own processes for setting up work."""

import asyncio
import json
import multiprocessing
import signal
import subprocess
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

LUA = Path(__file__).resolve().parent / "lua"
TEXT = "You are a worthless idiot and everybody hates you, shut up you moron #{n}"


@dataclass(frozen=True)
class WrkResult:
    seconds: float
    requests: int
    ok: int  # 202 for the intake script, 200 for the GET script
    other: int
    codes: dict
    socket_errors: int
    timeouts: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def ok_per_second(self) -> float:
        return self.ok / self.seconds

    @property
    def errors(self) -> int:
        return self.other + self.socket_errors + self.timeouts

    def describe(self) -> str:
        codes = ", ".join(f"{code}: {n}" for code, n in self.codes.items())
        return (f"{self.ok} ok in {self.seconds:.1f}s, {self.other} other answers{f' ({codes})' if codes else ''}, "
                f"{self.socket_errors} socket errors, {self.timeouts} timeouts")


def wrk(url: str, *, script: str, args: list[str], threads: int, connections: int, seconds: int) -> WrkResult:
    process = _start_wrk(url, script=script, args=args, threads=threads, connections=connections, seconds=seconds)
    try:
        out, err = process.communicate(timeout=seconds + 60)
    finally:
        process.kill()
    return _result(url, out, err, process.returncode, seconds)


def _start_wrk(url: str, *, script: str, args: list[str], threads: int, connections: int,
               seconds: int) -> subprocess.Popen:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
               "-s", str(LUA / script), url, "--", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(url: str, out: str, err: str, returncode: int, seconds: int) -> WrkResult:
    line = next((line for line in out.splitlines() if line.startswith("BENCH_JSON ")), None)
    if returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({returncode}): {err[-500:]} {out[-500:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    if data["ok"] == 0:
        codes = ", ".join(f"{code}: {n}" for code, n in data["codes"].items()) or "no answers"
        raise RuntimeError(f"no successful answer from {url} in {seconds}s ({codes}, "
                           f"{data['socket_errors']} socket errors, {data['timeouts']} timeouts)")
    return WrkResult(
        seconds=data["duration_us"] / 1e6, requests=data["requests"], ok=data["ok"], other=data["other"],
        codes=data["codes"], socket_errors=data["socket_errors"], timeouts=data["timeouts"],
        p50_ms=data["p50_us"] / 1000, p90_ms=data["p90_us"] / 1000, p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )


def wrk_intake(url: str, *, key: str, threads: int, connections: int, seconds: int, rate: int = 0) -> WrkResult:
    prefix = f"bench-{uuid.uuid4().hex[:10]}"
    return wrk(url, script="intake.lua", args=[key, prefix, str(rate), str(threads)],
               threads=threads, connections=connections, seconds=seconds)


@contextmanager
def wrk_resume(url: str, *, key: str, case_ids: list[str], decision: str, threads: int, connections: int,
               seconds: int) -> Iterator[Callable[[], WrkResult]]:
    """Each case resumed once with `decision` while the block runs (`seconds` bounds it); the
    function yielded ends wrk (its threads stop once answered, its clock does not) and returns its
    figures."""
    with tempfile.NamedTemporaryFile("w", suffix=".ids") as ids:
        ids.write("\n".join(case_ids) + "\n")
        ids.flush()
        process = _start_wrk(url, script="resume.lua", args=[key, ids.name, decision, str(threads)],
                             threads=threads, connections=connections, seconds=seconds)

        def finish() -> WrkResult:
            process.send_signal(signal.SIGINT)  # wrk prints its summary and ends
            out, err = process.communicate(timeout=60)
            return _result(url, out, err, process.returncode, seconds)

        try:
            yield finish
        finally:
            process.kill()


# --- the setup poster -------------------------------------------------------------------------

async def _send_all(api_url: str, key: str, requests: list[tuple[str, dict]], concurrency: int) -> Counter:
    statuses: Counter = Counter()
    queue: asyncio.Queue = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": key}, timeout=60, limits=limits) as client:
        async def sender() -> None:
            while not queue.empty():
                path, body = queue.get_nowait()
                for _ in range(5):  # a refused connection under load is retried; an answer is counted
                    try:
                        statuses[(await client.post(path, json=body)).status_code] += 1
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.2)
                else:
                    statuses["transport error"] += 1

        await asyncio.gather(*(sender() for _ in range(concurrency)))
    return statuses


def _send_chunk(api_url: str, key: str, requests: list[tuple[str, dict]], concurrency: int) -> Counter:
    return asyncio.run(_send_all(api_url, key, requests, concurrency))


def send(api_url: str, *, key: str, requests: list[tuple[str, dict]], concurrency: int = 32,
         processes: int = 2) -> Counter:
    """POST every (path, body) with `concurrency` clients spread over client processes of their own."""
    chunks = [requests[n::processes] for n in range(processes)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        results = pool.starmap(_send_chunk, [(api_url, key, chunk, max(1, concurrency // processes))
                                             for chunk in chunks if chunk])
    return sum(results, Counter())


def new_cases(count: int) -> list[tuple[str, dict]]:
    prefix = uuid.uuid4().hex[:10]
    return [("/v1/cases", {"external_id": f"bench-{prefix}-{n}",
                           "content": {"text": TEXT.format(n=n), "author_id": f"bench-{n % 997}"}})
            for n in range(count)]
