"""Write one normalised CSV (text,label,category) per public source, read from local git copies.

    git clone https://github.com/<repo> <mirrors>/<owner>+<name>/repo   # then: git -C ... checkout <commit>
    python -m services.worker.analysis.training.prepare --mirrors <mirrors> --out <data dir>

A mirror may also be a bare git directory at <mirrors>/<owner>+<name>/repo; files are read with
`git show <commit or HEAD>:<path>`, so the work tree is never needed. A source whose files the copy
lacks (a snapshot that leaves its largest files out) is skipped with a line that says so: finetune
then stops on the missing CSV rather than train on less.
"""

import argparse
import csv
import subprocess
from pathlib import Path

from services.worker.analysis.training.sources import SOURCES, Source


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def read_files(source: Source, *, mirrors: Path) -> dict[str, str]:
    repo = mirrors / source.repo.replace("/", "+") / "repo"
    revision = source.commit
    if subprocess.run(["git", "-C", str(repo), "cat-file", "-e", f"{revision}^{{commit}}"],
                      capture_output=True).returncode:
        revision = "HEAD"  # a snapshot with only its newest commit: the paths are the same
    listing = _git(repo, "ls-tree", "-r", "--name-only", revision).splitlines()
    files = {}
    for path in listing:
        if any(path == wanted or (wanted.endswith("/") and path.startswith(wanted)) for wanted in source.paths):
            blob = subprocess.run(["git", "-C", str(repo), "show", f"{revision}:{path}"], check=True,
                                  capture_output=True).stdout
            files[path] = blob.decode("utf-8", errors="replace")
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirrors", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for source in SOURCES:
        try:
            files = read_files(source, mirrors=args.mirrors)
        except subprocess.CalledProcessError as error:
            (args.out / f"{source.name}.csv").unlink(missing_ok=True)  # an earlier run's CSV would pass for this one
            print(f"{source.name:22} skipped: {source.repo} @ {source.commit[:7]} could not be read "
                  f"({error.stderr.decode(errors='replace').strip() or error})")
            continue
        rows = list(dict.fromkeys(source.parse(files)))  # exact duplicates once
        with (args.out / f"{source.name}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label", "category"])
            writer.writerows(rows)
        positives = sum(label for _, label, _ in rows)
        print(f"{source.name:22} {len(rows):6} rows, {positives:6} positive  ({source.role}, {source.licence})")


if __name__ == "__main__":
    main()
