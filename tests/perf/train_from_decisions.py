"""How long `vigil analyser train --from-decisions` takes from N decided cases on this machine:
`python -m tests.perf.train_from_decisions [--decisions 10000]`.

A database of its own (BENCH_LEARNING_DATABASE_URL, default .../vigil_bench_learning, recreated)
gets N closed cases of one tenant, each with a moderator's decision, spread over eight weeks, from
the learning loop's scripted traffic (tests/quality/traffic.py); then the command runs as an operator
runs it (the most recent two weeks held out, the evaluation on the held-out decisions and all of
HateCheck) and its wall time is printed with what it reported."""

import argparse
import json
import os
import subprocess
import sys
import time

import psycopg
from psycopg.types.json import Jsonb

from shared.migrate import migrate
from shared.settings import Settings
from tests.quality.traffic import moderator_decides, posts

URL = os.environ.get("BENCH_LEARNING_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/vigil_bench_learning")

ARRANGE = """
    WITH posted AS (
        SELECT * FROM jsonb_to_recordset(%(cases)s) AS p(n int, text text, category text, decision text)
    ), created AS (
        INSERT INTO cases (id, tenant, external_id, content, metadata, status, review_round, review_attempt, version,
                           analysis, created_by, created_at)
        SELECT gen_random_uuid(), 'shop', 'bench-' || n, jsonb_build_object('text', text, 'author_id', 'u' || n), '{}',
               'closed', 1, 0, 1, jsonb_build_object('category', category), 'shop',
               now() - make_interval(days => 56) + make_interval(secs => n * 56 * 86400.0 / %(count)s)
        FROM posted RETURNING id, external_id, created_at
    )
    INSERT INTO decisions (id, case_id, round, attempt, decision, decided_by, created_at)
    SELECT gen_random_uuid(), c.id, 1, 0, p.decision, 'mod-ana', c.created_at + interval '1 hour'
    FROM created c JOIN posted p ON c.external_id = 'bench-' || p.n"""


def arrange(count: int) -> None:
    admin = psycopg.conninfo.make_conninfo(URL, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{psycopg.conninfo.conninfo_to_dict(URL)["dbname"]}" WITH (FORCE)')
    migrate(Settings(database_url=URL, _env_file=None))
    traffic = posts(count, seed=1, shares={"clean": 0.6, "abuse": 0.25, "slang": 0.15})
    rows = [{"n": n, "text": post.text, "category": "abuse" if post.violating else "clean",
             "decision": moderator_decides(post, index=n)} for n, post in enumerate(traffic)]
    with psycopg.connect(URL) as conn:
        conn.execute(ARRANGE, {"cases": Jsonb(rows), "count": count})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=10_000)
    args = parser.parse_args()
    arrange(args.decisions)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "services", "analyser", "train", "--from-decisions", "--tenant", "shop"],
                          capture_output=True, text=True, env=os.environ | {"DATABASE_URL": URL})
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(done.stderr)
    report = json.loads(done.stdout)
    print(f"vigil analyser train --from-decisions: {args.decisions} decided cases, {seconds:.1f} s wall "
          f"({os.cpu_count()} cores here), of which fitting {report['trained_on']['seconds']} s")
    print(json.dumps({"trained_on": report["trained_on"], "gate": {
        name: {k: v for k, v in numbers.items() if k in ("n", "fpr", "recall_in_force", "recall_candidate", "passed")}
        for name, numbers in report["evaluation"]["sets"].items()}}, indent=1))


if __name__ == "__main__":
    main()
