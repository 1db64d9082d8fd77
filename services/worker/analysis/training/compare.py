"""A markdown table of two sets of `vigil analyser eval --json` reports, source by source: recall
at a false-positive rate of at most 0.20 (the best threshold on the curve), AUC, the default
operating point and the encoder's share.

    for s in hatecheck olid_tweets conan_counter_speech trac_facebook; do
      vigil analyser eval <data>/$s.csv --json > before/$s.json; done     # on the old commit, then on the new one
    python -m services.worker.analysis.training.compare before after
"""

import argparse
import json
from pathlib import Path


def _row(report: dict) -> str:
    curve = report["curve"]
    return (f"{curve['recall_at_fpr'].get('0.2', 0):.2f} (AUC {curve['auc']:.2f}) | "
            f"{report['recall']:.2f} / {report['fpr']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    print("| source | n | before: recall at FPR ≤ 0.20 (AUC) | before: recall / FPR at the defaults "
          "| after: recall at FPR ≤ 0.20 (AUC) | after: recall / FPR at the defaults | after: encoder's share "
          "| after: recall at FPR ≤ 0.05 / 0.10 / 0.30 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in sorted(args.after.glob("*.json")):
        after = json.loads(path.read_text())
        before = json.loads((args.before / path.name).read_text())
        at = after["curve"]["recall_at_fpr"]
        print(f"| {path.stem} | {after['n']} | {_row(before)} | {_row(after)} | {after.get('encoder_share', 0):.2f} | "
              f"{at['0.05']:.2f} / {at['0.1']:.2f} / {at['0.3']:.2f} |")


if __name__ == "__main__":
    main()
