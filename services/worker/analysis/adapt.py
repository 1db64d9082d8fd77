"""Learning from moderators' decisions: a candidate TextModel fine-tuned on labelled examples.

The shipped model was trained on public data sets that are not shipped (training/DATA_CARD.md),
so it cannot simply be retrained with a tenant's examples added. Instead the candidate starts
from a base model (the shipped one, or the tenant's active one) and both logistic heads are
fine-tuned on the examples with an L2 penalty on the distance to the base weights (w - w_base,
not w): what the examples say moves the weights, and what they do not mention stays where the
base had it, so the candidate keeps what the base knew.

The features are exactly those of `TextModel.scores` (same n-grams, sublinear tf, idf and L2
normalisation, same dense signals), so the result scores through the unchanged `scores()`.
Grams of the examples the base never saw join the vocabulary when they occur in at least
`new_gram_min_df` examples. Adding them changes the L2 norm of the texts that contain them, for
both heads: a head with no labels keeps its weights exactly, but its scores on such texts move a
little. Optimised with numpy alone (it runs in the production CLI): full-batch Adam, deterministic.
"""

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.worker.analysis.textmodel import DENSE, TextModel, dense, features

HEADS = ("abuse", "spam")


@dataclass(frozen=True)
class Example:
    text: str
    abuse: int | None  # 1: abusive, 0: not, None: says nothing for this head
    spam: int | None
    weight: float = 1.0


def adapt(base: TextModel, examples: Sequence[Example], *, pull: float = 1e-3, steps: int = 300,
          new_gram_min_df: int = 2, meta: dict | None = None, lr: float = 0.05) -> TextModel:
    """A new TextModel: `base` fine-tuned on `examples` (loss per head: weighted mean log loss over
    the examples labelled for it, plus pull * ||theta - theta_base||^2)."""
    for example in examples:
        if example.weight < 0 or any(getattr(example, h) not in (0, 1, None) for h in HEADS):
            raise ValueError(f"labels are 0, 1 or None and weights >= 0: {example!r}")
    known = base._scaled  # gram -> (idf, idf * w_abuse, idf * w_spam)
    counts = [Counter(features(e.text)) for e in examples]
    n = len(examples)
    df = Counter(g for c in counts for g in c if g not in known)
    # sklearn's smooth idf over the examples, for the grams they bring
    new_idf = {g: math.log((1 + n) / (1 + k)) + 1 for g, k in df.items() if k >= new_gram_min_df}
    # only the columns the examples touch can move: the others have no gradient and sit at the base
    columns = sorted({g for c in counts for g in c if g in known or g in new_idf})  # sorted: whatever the hash seed
    index = {g: i for i, g in enumerate(columns)}
    idf = np.array([known[g][0] if g in known else new_idf[g] for g in columns])

    # X as (row, col, value) triples, each row tf * idf / ||tf * idf|| as scores() computes it
    rows, cols, tfs = [], [], []
    for r, c in enumerate(counts):
        for g, k in c.items():
            if g in index:
                rows.append(r)
                cols.append(index[g])
                tfs.append(1.0 if k == 1 else 1.0 + math.log(k))
    rows, cols = np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)
    values = np.array(tfs) * idf[cols]
    norms = np.sqrt(np.bincount(rows, values * values, minlength=n))
    values /= norms[rows]
    signals = np.array([dense(e.text, profanity=base.profanity, valence=base.valence) for e in examples]
                       ).reshape(n, len(DENSE))
    # X w and X^T g as sums over runs of one row / one column: np.add.reduceat over arrays sorted
    # that way once, a few times faster than bincount (rows are in order already; rows without a
    # known gram have no run, every column has one)
    row_starts = np.flatnonzero(np.r_[True, np.diff(rows) != 0]) if len(rows) else rows
    row_ids = rows[row_starts]
    by_col = np.argsort(cols, kind="stable")
    rows_c, values_c = rows[by_col], values[by_col]
    col_starts = np.flatnonzero(np.r_[True, np.diff(cols[by_col]) != 0]) if len(cols) else cols

    # theta, one row per head: the sparse weights, the bias, the dense weights (one row each: the
    # per-head gathers are then contiguous, and 1-D reduceat is much faster than along an axis)
    p = len(columns)
    entries = np.array([known.get(g, (1.0, 0.0, 0.0)) for g in columns]).reshape(p, 3)  # new grams start at 0
    sparse0 = (entries[:, 1:] / entries[:, :1]).T
    theta0 = np.hstack([sparse0, np.array([base._bias]).T, np.array(base._dense)])
    labels = np.array([[-1 if getattr(e, h) is None else getattr(e, h) for e in examples] for h in HEADS]
                      ).reshape(2, n)
    weights = np.array([e.weight for e in examples]) * (labels >= 0)
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-300)  # no labels: zeros, no move
    targets = np.maximum(labels, 0)

    def gradient(theta: np.ndarray) -> np.ndarray:
        logits = theta[:, p, None] + theta[:, p + 1:] @ signals.T
        for h in (0, 1):
            if len(rows):
                logits[h, row_ids] += np.add.reduceat(values * theta[h, cols], row_starts)
        g = weights * (1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60))) - targets)  # d loss / d logit
        grad = np.empty_like(theta)
        for h in (0, 1):
            grad[h, :p] = np.add.reduceat(values_c * g[h, rows_c], col_starts) if p else 0.0
        grad[:, p] = g.sum(axis=1)
        grad[:, p + 1:] = g @ signals
        return grad + 2 * pull * (theta - theta0)

    # Adam, full batch: one step size for rare grams (a new insult seen 20 times) and common ones
    theta, m, v = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0)
    beta1, beta2 = 0.9, 0.999
    for t in range(1, steps + 1):
        grad = gradient(theta)
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        theta -= lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + 1e-8)

    table = {g: (entry[0], entry[1] / entry[0], entry[2] / entry[0]) for g, entry in known.items()}
    for i, g in enumerate(columns):
        table[g] = (float(idf[i]), float(theta[0, i]), float(theta[1, i]))
    positives = {h: sum(getattr(e, h) == 1 for e in examples) for h in HEADS}
    merged = ({k: v for k, v in base.meta.items() if k != "version"}
              | {"adapted_from": base.version, "examples": n, "positives": positives} | (meta or {}))
    return TextModel(table=table, bias=(float(theta[0, p]), float(theta[1, p])),
                     dense_weights=(tuple(map(float, theta[0, p + 1:])), tuple(map(float, theta[1, p + 1:]))),
                     profanity=base.profanity, valence=base.valence, meta=merged)

