"""Texts per second of the embedded analyser, one text at a time, pinned to one core.

    python -m services.worker.analysis.training.bench <data dir>/olid_tweets.csv <data dir>/sms_spam.csv ...

Takes up to --per-file texts of each CSV (a text column), runs them --repeat times and prints each
run: on a shared machine the fastest run is the least disturbed one.
"""

import argparse
import csv
import os
import time
from pathlib import Path

from services.worker.analysis.embedded import EmbeddedAnalyser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--per-file", type=int, default=750)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    texts = []
    for path in args.files:
        with path.open(newline="") as handle:
            texts += [row["text"] for row in csv.DictReader(handle)][:args.per_file]
    analyser = EmbeddedAnalyser()
    analyser.analyse(text="warm up: the model loads once")
    for run in range(args.repeat):
        started = time.perf_counter()
        for text in texts:
            analyser.analyse(text=text)
        elapsed = time.perf_counter() - started
        print(f"run {run + 1}: {len(texts)} texts in {elapsed:.2f}s = {len(texts) / elapsed:.0f} texts/s "
              f"({1000 * elapsed / len(texts):.2f} ms each)")


if __name__ == "__main__":
    main()
