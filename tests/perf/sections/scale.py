"""5. Stored work at scale: BENCH_SCALE_CASES cases loaded with COPY (about 1% awaiting review),
then p99 of the review queue (`GET /v1/cases?status=awaiting_review`) and of one case
(`GET /v1/cases/{id}`) under a concurrent wrk client."""

import json
import random
import tempfile
import uuid
from pathlib import Path

from tests.perf.flamegraphs import flame_graphs
from tests.perf.harness import BenchRun, connect, say, stop_popen, uvicorn_app
from tests.perf.load import TEXT, wrk
from tests.perf.schema import copy_columns
from tests.perf.table import Row, missing

CHUNK = 20_000
ANALYSIS = {"category": "harassment", "severity": "high", "confidence": 0.91, "needs_review": True,
            "suggested_decision": "remove", "reasons": ["insult directed at a person", "profanity"],
            "triggers": ["worthless idiot", "moron"], "analyser": "embedded"}
CLEAN = {"category": "clean", "severity": "none", "confidence": 0.97, "needs_review": False,
         "suggested_decision": "dismiss", "reasons": [], "triggers": [], "analyser": "embedded"}
DECISIONS = ["dismiss", "warn", "remove", "remove_and_ban", "reanalyze"]


def _status(n: int) -> str:
    """1% awaiting review; the rest as a busy platform's history looks: mostly closed one way or another."""
    bucket = n % 100
    return ("awaiting_review" if bucket == 0 else "auto_closed" if bucket <= 55 else "closed" if bucket <= 96
            else "received" if bucket <= 98 else "failed")


def _review(case_id: str, content: dict) -> dict:
    return {"kind": "review", "case_id": case_id, "round": 1, "attempt": 0, "content": content,
            "analysis": ANALYSIS, "allowed_decisions": DECISIONS,
            "decision_schema": {"type": "object", "required": ["decision"], "additionalProperties": False,
                                "properties": {"decision": {"type": "string", "enum": DECISIONS, "default": "remove"},
                                               "note": {"type": "string", "maxLength": 2000}}}}


def _case_lines(ids: list[str], tail: str):
    """COPY text-format lines of cases; the JSON here has no tabs or backslashes to escape."""
    analysis, clean = json.dumps(ANALYSIS), json.dumps(CLEAN)
    failure = json.dumps({"step": "start", "error": "platform unavailable", "status": "executing"})
    for start in range(0, len(ids), CHUNK):
        lines = []
        for n in range(start, min(len(ids), start + CHUNK)):
            case_id, status = ids[n], _status(n)
            content = {"text": TEXT.format(n=n), "author_id": f"scale-{n % 9973}"}
            found = "\\N" if status == "received" else clean if status == "auto_closed" else analysis
            review = json.dumps(_review(case_id, content)) if status == "awaiting_review" else "\\N"
            error = failure if status == "failed" else "\\N"
            lines.append(f"{case_id}\tscale-{n}\t{json.dumps(content)}\t{status}\t1\t0\t1\tbench-scale\t"
                         f"{found}\t{review}\t{error}{tail}\n")
        yield "".join(lines)


def _event_lines(ids: list[str], tail: str):
    for start in range(0, len(ids), CHUNK):
        yield "".join(f'{case_id}\tbench-scale\tcase_received\treceived\t{{"external_id": "scale-{n}"}}{tail}\n'
                      for n, case_id in enumerate(ids[start:start + CHUNK], start))


def load(run: BenchRun, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with connect(run.settings) as conn:
        with conn.transaction(), conn.cursor() as cursor:
            statement, tail = copy_columns(conn, "cases", [
                "id", "external_id", "content", "status", "review_round", "review_attempt", "version", "created_by",
                "analysis", "review", "error"])
            with cursor.copy(statement) as copy:
                for lines in _case_lines(ids, tail):
                    copy.write(lines)
            if run.config.scale_audit:
                statement, tail = copy_columns(conn, "audit_events", ["case_id", "actor", "event", "to_status", "data"])
                with cursor.copy(statement) as copy:
                    for lines in _event_lines(ids, tail):
                        copy.write(lines)
        conn.execute("VACUUM ANALYZE cases")
        if run.config.scale_audit:
            conn.execute("VACUUM ANALYZE audit_events")
        # The load and the vacuum leave gigabytes of dirty pages: flushed now, not by the
        # checkpointer while the reads are timed (one run's p99 tripled under that flush).
        conn.execute("CHECKPOINT")
    return ids


def measure(run: BenchRun) -> list[Row]:
    config = run.config
    run.fresh()
    say(f"scale: loading {config.scale_cases:,} cases with COPY (audit rows: {config.scale_audit})")
    ids = load(run, config.scale_cases)
    ids_file = Path(tempfile.gettempdir()) / "vigil-bench-ids.txt"
    ids_file.write_text("\n".join(random.sample(ids, min(len(ids), 20_000))) + "\n")
    del ids

    load_shape = dict(threads=min(2, config.scale_connections), connections=config.scale_connections)
    targets = {"queue": "/v1/cases?status=awaiting_review", "case": f"@{ids_file}"}
    services = run.services()
    try:
        api = services.api()
        with flame_graphs(config, **{"api-scale-reads": api.popen.pid}):
            vigil = _get_each(services.api_url, run.keys["moderator"], targets, config, load_shape)
    finally:
        services.stop()
    bare = {}
    try:
        popen, url = uvicorn_app("tests.perf.bare_app:app", processes=config.api_processes)
        try:
            bare = _get_each(url, "-", targets, config, load_shape)
        finally:
            stop_popen(popen)
    except Exception as error:
        say(f"scale reference failed: {error!r}")

    shape = f"{config.scale_cases:,} cases, wrk -c{config.scale_connections}"
    label = "bare FastAPI constant"
    rows = []
    for name, figure, target in (("queue", "GET /v1/cases?status=awaiting_review p99", "≤ 20 ms"),
                                 ("case", "GET /v1/cases/{id} p99", "≤ 10 ms")):
        result = vigil[name]
        if isinstance(result, Exception):
            rows.append(missing(figure, error=result, target=target))
            continue
        reference = bare.get(name)
        rows.append(Row(figure, result.p99_ms, "ms", None if isinstance(reference, Exception) else reference.p99_ms,
                        label, target, note=f"{shape}, {result.ok_per_second:,.0f} req/s, p50 {result.p50_ms:.1f} ms, {result.errors} errors"))
    return rows


def _get_each(url: str, key: str, targets: dict[str, str], config, load_shape: dict) -> dict:
    """Each target's wrk result, or the error that stopped it (one failing call hides no other)."""
    results = {}
    for name, target in targets.items():
        try:
            wrk(url, script="get.lua", args=[key, target], seconds=2, **load_shape)  # warm up
            say(f"scale: GET {target} on {url} for {config.scale_seconds}s over {config.scale_connections} connections")
            results[name] = wrk(url, script="get.lua", args=[key, target], seconds=config.scale_seconds, **load_shape)
            say(f"scale: {results[name].describe()}")
        except Exception as error:
            say(f"scale: GET {target} on {url} failed: {error}")
            results[name] = error
    return results
