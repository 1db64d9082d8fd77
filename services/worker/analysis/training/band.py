"""Choose the cascade's band on the fast model's abuse score, from the training sources only.

    python -m services.worker.analysis.training.band --data <data dir>

Below the band a text closes without the encoder, so its lower edge is a safety property: the
highest edge at which no training source loses more than LOST of its positives. At its top a person
looks without the encoder, which costs only false alarms: the lowest edge at which the fast
model's flags are right PRECISION of the time, each source weighing the same. The edges printed
are the defaults of ANALYSER_BAND_LOW and ANALYSER_BAND_HIGH (shared/settings.py).
"""

import argparse
from pathlib import Path

from services.worker.analysis.embedded import fast_abuse
from services.worker.analysis.evaluate import read_labelled
from services.worker.analysis.textmodel import shipped_model
from services.worker.analysis.training.sources import SOURCES

LOST = 0.01
PRECISION = 0.9
GRID = [round(0.02 * step, 2) for step in range(1, 50)]


def choose(scored: dict[str, list[tuple[int, float]]]) -> tuple[float, float]:
    def lost(edge: float, pairs: list[tuple[int, float]]) -> float:
        positives = [score for label, score in pairs if label]
        return sum(score < edge for score in positives) / len(positives)

    def precision(edge: float) -> float:
        shares = []
        for pairs in scored.values():
            above = [label for label, score in pairs if score >= edge]
            shares.append(sum(above) / len(above) if above else 1.0)
        return sum(shares) / len(shares)

    low = max(edge for edge in GRID if all(lost(edge, pairs) <= LOST for pairs in scored.values()))
    high = min(edge for edge in GRID if edge > low and precision(edge) >= PRECISION)
    return low, high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    model = shipped_model()
    scored = {s.name: [(label, fast_abuse(text, model=model)[1]) for text, label, _ in read_labelled(args.data / f"{s.name}.csv")]
              for s in SOURCES if s.role == "train" and s.task == "abuse"}
    low, high = choose(scored)
    for name, pairs in scored.items():
        inside = sum(low <= score < high for _, score in pairs) / len(pairs)
        print(f"  {name:22} in the band: {inside:.2f}")
    print(f"band: low {low}, high {high}")


if __name__ == "__main__":
    main()
