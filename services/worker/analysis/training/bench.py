"""Texts per second of the embedded analyser, one text at a time, pinned to one core; and of its
encoder alone, one text at a time and in batches of --batch (as `vigil analyser eval` scores).

    python -m services.worker.analysis.training.bench <data dir>/olid_tweets.csv <data dir>/sms_spam.csv ...

Takes up to --per-file texts of each CSV (a text column), runs them --repeat times and prints each
run: on a shared machine the fastest run is the least disturbed one.
"""

import argparse
import csv
import os
import time
from pathlib import Path

from services.worker.analysis.embedded import CASCADE, EmbeddedAnalyser, Thresholds, shipped_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--per-file", type=int, default=750)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32, help="the encoder's batch size for the batched figure")
    parser.add_argument("--worker-imports", action="store_true",
                        help="import the worker's modules first, so the memory printed is a worker process's")
    args = parser.parse_args()
    if args.worker_imports:
        import services.worker.actors  # noqa: F401  (what `vigil worker` loads before its first case)
    before = _rss_mib()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    texts = []
    for path in args.files:
        with path.open(newline="") as handle:
            texts += [row["text"] for row in csv.DictReader(handle)][:args.per_file]
    analyser = EmbeddedAnalyser(thresholds=CASCADE)
    analyser.analyse(text="warm up: the model loads once")
    analyser.analyse(text="warm up detect-secrets too: AKIAZ7VRSQ5TJN2HK4PL")
    print(f"resident memory: {before:.0f} MiB before the analyser, {_rss_mib():.0f} MiB with its model loaded")
    encoder = shipped_encoder()
    stages = [analyser.analyse(text=text).stage for text in texts]
    print(f"the encoder decides {stages.count('encoder') / len(texts):.0%} of these texts (the rest: the fast model)")
    fast_alone = EmbeddedAnalyser(thresholds=Thresholds())  # the reference: the default, the band off
    runs = {"analyser (the cascade), one text at a time": lambda: [analyser.analyse(text=text) for text in texts],
            "analyser, the fast model alone (band off)": lambda: [fast_alone.analyse(text=text) for text in texts],
            "encoder alone, one text at a time": lambda: [encoder.probability(text) for text in texts],
            f"encoder alone, batches of {args.batch}": lambda: _batched(encoder, texts, size=args.batch)}
    for name, work in runs.items():
        for run in range(args.repeat):
            started, cpu_started = time.perf_counter(), time.process_time()
            work()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            # the CPU time the process got: on a shared, busy machine the wall clock also counts the time
            # other processes held the core
            print(f"{name}, run {run + 1}: {len(texts)} texts in {elapsed:.2f}s = {len(texts) / elapsed:.0f} texts/s "
                  f"({1000 * elapsed / len(texts):.2f} ms each); per CPU second: {len(texts) / cpu:.0f} texts")


def _batched(encoder, texts: list[str], *, size: int) -> None:
    ordered = sorted(texts, key=len)  # as analyse_many does: texts of similar length share a batch
    for start in range(0, len(ordered), size):
        encoder.probabilities(ordered[start:start + size])


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) / 1024


if __name__ == "__main__":
    main()
