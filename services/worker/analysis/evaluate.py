"""Measure an analyser on a labelled CSV (text,label[,category]): label 1 = needs a human, 0 = may
close on its own. The positive prediction is the analysis' needs_review. What `vigil analyser eval`
prints, and what the training script reports per source."""

import csv
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from services.worker.analysis.models import Analysis

SWEEP = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
FPR_POINTS = (0.05, 0.1, 0.15, 0.2, 0.3)  # recall at the best threshold whose false-positive rate is at most this


class Analyser(Protocol):
    def analyse(self, *, text: str, feedback: str | None = None) -> Analysis: ...


def analyse_all(analyser: Analyser, texts: list[str], *, batch: int = 32) -> list[Analysis]:
    """In batches where the analyser can (the embedded one's encoder), else one text at a time."""
    many = getattr(analyser, "analyse_many", None)
    return many(texts, batch=batch) if many else [analyser.analyse(text=text) for text in texts]


class LabelledFileError(ValueError):
    """The file is not a CSV with text and label columns, label 0 or 1."""


def read_labelled(path: Path) -> list[tuple[str, int, str]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
            raise LabelledFileError(f"{path}: needs a header with text and label columns, has {reader.fieldnames}")
        rows = []
        for number, row in enumerate(reader, start=2):
            if row["label"] not in ("0", "1"):
                raise LabelledFileError(f"{path}:{number}: label must be 0 or 1, is {row['label']!r}")
            category = row.get("category") or ("positive" if row["label"] == "1" else "negative")
            rows.append((row["text"], int(row["label"]), category))
    return rows


DECIDING = ("abuse", "abuse_top_sentence", "threat", "attack_pattern", "spam", "advert_signs", "credential_leak", "personal_data")
# where the encoder scored a text, its score stands in for the fast model's two
ENCODER_DECIDING = ("abuse_cascade", *(key for key in DECIDING if key not in ("abuse", "abuse_top_sentence")))
FLAGS = ("abuse", "spam", "credential_leak", "personal_data")


def risk(analysis: Analysis) -> float:
    """One number per analysis for the threshold sweep: the highest score that decided it (where
    the encoder scored the text, its score in place of the fast model's)."""
    keys = DECIDING if "abuse_encoder" not in analysis.scores else ENCODER_DECIDING
    deciding = [analysis.scores[key] for key in keys if key in analysis.scores]
    if deciding or analysis.scores:
        return max(deciding or analysis.scores.values())
    return analysis.confidence if analysis.category != "clean" else 1 - analysis.confidence


def _rates(pairs: Iterable[tuple[int, bool]]) -> dict[str, Any]:
    counts = Counter((label, predicted) for label, predicted in pairs)
    tp, fp, fn, tn = counts[(1, True)], counts[(0, True)], counts[(1, False)], counts[(0, False)]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"n": tp + fp + fn + tn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
            "fpr": round(fp / (fp + tn), 4) if fp + tn else 0.0}


def points(pairs: Iterable[tuple]) -> list[tuple[float, float, float | None]]:
    """(FPR, recall, threshold) at every distinct threshold of a score, from (0, 0): each pair is
    (label, score) or (label, score, weight), the weight being how many cases it stands for (1 without)."""
    weighed = [(label, score, rest[0] if rest else 1.0) for label, score, *rest in pairs]
    positives = sum(weight for label, _, weight in weighed if label)
    negatives = sum(weight for label, _, weight in weighed if not label)
    found, tp, fp = [(0.0, 0.0, None)], 0.0, 0.0
    ordered = sorted(weighed, key=lambda pair: -pair[1])
    for index, (label, score, weight) in enumerate(ordered):
        tp, fp = (tp + weight, fp) if label else (tp, fp + weight)
        if index + 1 == len(ordered) or ordered[index + 1][1] != score:  # ties move together
            found.append((fp / negatives if negatives else 0.0, tp / positives if positives else 0.0, score))
    return found


def curve(pairs: list[tuple]) -> dict[str, Any]:
    """The whole recall/FPR curve of a score (every distinct threshold), its AUC, and the recall at
    each of FPR_POINTS: what the analyser could catch at a given rate of false alarms. The pairs are
    those of `points`."""
    if not any(pair[0] for pair in pairs) or all(pair[0] for pair in pairs):
        return {"auc": None, "recall_at_fpr": {}, "points": []}
    found = points(pairs)
    auc = sum((x2 - x1) * (y1 + y2) / 2 for (x1, y1, _), (x2, y2, _) in zip(found, found[1:]))
    at = {str(limit): round(max(recall for fpr, recall, _ in found if fpr <= limit), 4) for limit in FPR_POINTS}
    # about 50 points along the curve are enough to draw it
    step = max(1, len(found) // 50)
    drawn = [{"fpr": round(fpr, 4), "recall": round(recall, 4), "threshold": round(score, 4)}
             for fpr, recall, score in found[1::step] + found[-1:] if score is not None]
    return {"auc": round(auc, 4), "recall_at_fpr": at, "points": drawn}


def evaluate(analyser: Analyser, rows: list[tuple[str, int, str]], *, examples: int = 5,
             batch: int = 32) -> dict[str, Any]:
    started = time.perf_counter()
    analyses = analyse_all(analyser, [text for text, _, _ in rows], batch=batch)
    elapsed = time.perf_counter() - started
    report = _rates((label, a.needs_review) for (_, label, _), a in zip(rows, analyses))
    report["texts_per_second"] = round(len(rows) / elapsed, 1) if elapsed else None
    by_category: dict[str, Counter] = {}
    for (_, label, category), analysis in zip(rows, analyses):
        by_category.setdefault(category, Counter())[f"{label}->{analysis.category if analysis.needs_review else 'closed'}"] += 1
    report["confusion_by_category"] = {
        category: {"positives": sum(v for k, v in counts.items() if k.startswith("1")),
                   "n": sum(counts.values()),
                   "flagged": sum(v for k, v in counts.items() if not k.endswith("closed")),
                   "as": {k.split("->")[1]: v for k, v in sorted(counts.items())}}
        for category, counts in sorted(by_category.items())}
    risks = [risk(a) for a in analyses]
    report["sweep"] = [{"threshold": t, **_rates((label, r >= t) for (_, label, _), r in zip(rows, risks))}
                       for t in SWEEP]
    report["curve"] = curve([(label, r) for (_, label, _), r in zip(rows, risks)])
    # each finding on its own (a spam data set's "ham" holds abusive comments the analyser rightly flags)
    report["by_flag"] = {flag: _rates((label, flag in a.flags) for (_, label, _), a in zip(rows, analyses))
                         for flag in FLAGS}
    report["encoder_share"] = round(sum(a.stage == "encoder" for a in analyses) / len(analyses), 4) if analyses else 0.0
    report["sanctions_suggested"] = sum(a.suggested_decision != "dismiss" for a in analyses)
    report["missed"] = [text[:160] for (text, label, _), a in zip(rows, analyses) if label and not a.needs_review][:examples]
    report["false_alarms"] = [text[:160] for (text, label, _), a in zip(rows, analyses)
                              if not label and a.needs_review][:examples]
    return report


def render(report: dict[str, Any], *, name: str) -> str:
    lines = [f"{name}: n={report['n']}  precision={report['precision']:.3f}  recall={report['recall']:.3f}  "
             f"F1={report['f1']:.3f}  FPR={report['fpr']:.3f}  ({report['texts_per_second']} texts/s, "
             f"sanction suggested for {report['sanctions_suggested']})",
             f"confusion: tp={report['tp']} fp={report['fp']} fn={report['fn']} tn={report['tn']}",
             "", "by category (flagged / n, of which label 1; what the analyser called them):"]
    for category, row in report["confusion_by_category"].items():
        called = ", ".join(f"{k} {v}" for k, v in row["as"].items())
        lines.append(f"  {category:28} {row['flagged']:5} / {row['n']:<5} ({row['positives']} label 1)  {called}")
    lines += ["", "each finding alone (flagged with it = positive):"]
    lines += [f"  {flag:16} precision={r['precision']:.3f}  recall={r['recall']:.3f}  F1={r['f1']:.3f}  FPR={r['fpr']:.3f}"
              for flag, r in report["by_flag"].items() if r["tp"] + r["fp"]]
    lines += ["", "threshold sweep on the deciding score (review at or above):",
              "  threshold  precision  recall  F1     FPR"]
    lines += [f"  {s['threshold']:<9}  {s['precision']:.3f}      {s['recall']:.3f}   {s['f1']:.3f}  {s['fpr']:.3f}"
              for s in report["sweep"]]
    shape = report["curve"]
    if shape["auc"] is not None:
        at = ", ".join(f"{limit}: {recall:.3f}" for limit, recall in shape["recall_at_fpr"].items())
        lines += ["", f"curve of the deciding score: AUC {shape['auc']:.3f}; recall at FPR at most {at}"]
    if report["missed"]:
        lines += ["", "missed (label 1, closed):"] + [f"  - {t}" for t in report["missed"]]
    if report["false_alarms"]:
        lines += ["", "false alarms (label 0, reviewed):"] + [f"  - {t}" for t in report["false_alarms"]]
    return "\n".join(lines)
