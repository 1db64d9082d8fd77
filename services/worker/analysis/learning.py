"""Learning from the moderators: a candidate model from a tenant's decisions, its gate, and
thresholds from the tenant's own data.

Labels. Every case of the tenant a person judged is a label: the latest judgement counts (a
moderator's decision, or a QA reviewer's of a sampled case). Dismiss: neither abusive nor spam.
Another decision: abusive, or spam when that is what the analysis (or the QA reviewer) named;
leaked credentials and personal data are found by patterns, not learned, and are left out.
Automatic closures nobody sampled are guesses, never labels. Only the tenant's own cases, and only
those still kept: retention deletes a purged case with its content, so it cannot be learned from.

Training (`train`): the most recent decisions are held out (weeks, or a share), the rest adapt the
tenant's model in force (adapt.py: the public training data is not shipped, the model that learned
it is, and the candidate is pulled toward it). The held-out decisions and the public held-out set
shipped for evaluation (HateCheck, model/heldout/) measure both models.

The gate (`gate`): on each set, the model in force's false-positive rate at its thresholds is the
tenant's operating point; the candidate's recall at that rate (from its curve) must be no worse
than the model in force's by more than the margin. A held-out decision weighs what it stands for,
as in calibration (an automatic closure judged because it was sampled, 1 / its rate), so the rates
are the tenant's traffic's. With the cascade on, the encoder's share in the band comes with the
candidate: the weight that ranks the held-out decisions best among those under which the candidate
passes on every set.

Calibration (`calibrate`): the one review threshold (abuse and spam alike) that reaches a recall on
the tenant's judged cases, sampled automatic closures weighing for all they stand for (1 / their
rate), with the share of cases it would send to people.
"""

import csv
import gzip
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from services.worker.analysis.adapt import Example, adapt
from services.worker.analysis.embedded import EmbeddedAnalyser, Thresholds, flags_abuse, together
from services.worker.analysis.evaluate import curve, points, risk
from services.worker.analysis.models import Analysis
from services.worker.analysis.registry import thresholds_of
from services.worker.analysis.textmodel import TextModel

HELDOUT = Path(__file__).parent / "model" / "heldout" / "hatecheck.csv.gz"
LEARNED = {"abuse": "abuse", "other": "abuse", "spam": "spam"}  # what a violation teaches, by category
Rows = list[tuple[str, int, float]]  # a gate's set: text, label, and how many cases it stands for

# The latest judgement of each judged case of the tenant that is still kept, and the sampling rate
# of the automatic closure it was found by, where the sample is why anyone judged it: the reviewer's
# word, and the decisions in the rounds their finding reopened. A person who decided the case before
# it closed on its own, or after a sample that reopened nothing (on a complaint, say), judged it anyway.
JUDGED = """
    WITH decided AS (
        SELECT DISTINCT ON (d.case_id) d.case_id, d.decision, NULL::text AS violation, d.created_at AS at
        FROM decisions d JOIN cases c ON c.id = d.case_id
        WHERE c.tenant = %(tenant)s AND d.decision <> 'reanalyze'
        ORDER BY d.case_id, d.created_at DESC
    ), reviewed AS (
        SELECT DISTINCT ON (q.case_id) q.case_id, q.decision, q.violation, q.reviewed_at AS at
        FROM qa_samples q WHERE q.tenant = %(tenant)s AND q.reviewed_at IS NOT NULL AND q.case_id IS NOT NULL
        ORDER BY q.case_id, q.reviewed_at DESC
    ), latest AS (
        SELECT DISTINCT ON (case_id) * FROM (SELECT * FROM decided UNION ALL SELECT * FROM reviewed) j
        ORDER BY case_id, at DESC
    )
    SELECT c.id, c.content ->> 'text', coalesce(c.analysis ->> 'category', 'clean'), l.decision, l.violation, l.at,
           (SELECT q.rate FROM qa_samples q
            WHERE q.case_id = c.id AND q.kind = 'auto' AND q.reviewed_at IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM decisions d WHERE d.case_id = c.id AND d.decision <> 'reanalyze'
                AND (d.round <= q.round OR NOT q.reopened))
            ORDER BY q.reviewed_at DESC LIMIT 1)
    FROM latest l JOIN cases c ON c.id = l.case_id
    WHERE c.tenant = %(tenant)s
    ORDER BY l.at, c.id"""


@dataclass(frozen=True)
class Judged:
    case_id: str
    text: str
    violating: bool
    head: str | None  # abuse | spam | None (nothing a model head learns)
    at: datetime
    weight: float  # 1, or 1 / rate for an automatic closure judged only because it was sampled

    def example(self) -> Example:
        if not self.violating:
            return Example(text=self.text, abuse=0, spam=0)
        return Example(text=self.text, abuse=1 if self.head == "abuse" else None, spam=1 if self.head == "spam" else None)


def judged(conn: psycopg.Connection, *, tenant: str) -> list[Judged]:
    found = []
    for case_id, text, category, decision, violation, at, rate in conn.execute(JUDGED, {"tenant": tenant}):
        violating = decision != "dismiss"
        head = LEARNED.get(violation or category) if violating else None
        if violating and head is None:
            continue
        found.append(Judged(str(case_id), text or "", violating, head, at, 1.0 / rate if rate else 1.0))
    return found


def split(rows: list[Judged], *, holdout_weeks: float | None, holdout_share: float | None) -> tuple[list, list]:
    """Older decisions to learn from, the most recent to measure on."""
    if holdout_share is not None:
        cut = len(rows) - max(1, round(len(rows) * holdout_share))
        return rows[:cut], rows[cut:]
    since = max(r.at for r in rows) - timedelta(weeks=holdout_weeks or 2)
    return [r for r in rows if r.at < since], [r for r in rows if r.at >= since]


def public_heldout(limit: int | None = None) -> Rows:
    with gzip.open(HELDOUT, "rt", encoding="utf-8") as handle:
        rows = [(row["text"], int(row["label"]), 1.0) for row in csv.DictReader(io.StringIO(handle.read()))]
    return rows[::max(1, len(rows) // limit)] if limit else rows


def operating_point(analyser: EmbeddedAnalyser, rows: Rows) -> dict[str, Any]:
    analyses = analyser.analyse_many([text for text, _, _ in rows])
    pairs = [(label, risk(a), weight) for (_, label, weight), a in zip(rows, analyses)]
    flagged = [a.needs_review for a in analyses]

    def sent(label: int) -> float:
        """The weighted share of the rows with this label that the analyser sends to a person."""
        total = sum(weight for _, of, weight in rows if of == label)
        routed = sum(weight for (_, of, weight), hit in zip(rows, flagged) if hit and of == label)
        return routed / total if total else 0.0

    return {"pairs": pairs, "fpr": sent(0), "recall": sent(1), "auc": curve(pairs)["auc"]}


def recall_at(pairs: list[tuple[int, float, float]], fpr: float) -> float:
    """The best recall of the score at a false-positive rate of at most `fpr`."""
    return max(recall for at, recall, _ in points(pairs) if at <= fpr)


def compare(now: dict[str, Any], candidate: EmbeddedAnalyser, rows: Rows, *,
            margin: float) -> dict[str, Any]:
    """One set's gate numbers: both models' recall at the model in force's false-positive rate (`now`:
    its operating point on the rows)."""
    new = operating_point(candidate, rows)
    at = now["fpr"]
    before, after = recall_at(now["pairs"], at), recall_at(new["pairs"], at)
    return {"n": len(rows), "positives": sum(label for _, label, _ in rows),
            "weighted": round(sum(weight for _, _, weight in rows), 1), "fpr": round(at, 4),
            "recall_in_force": round(before, 4), "recall_candidate": round(after, 4),
            "auc_in_force": now["auc"], "auc_candidate": new["auc"],
            "recall_in_force_at_its_thresholds": round(now["recall"], 4),
            "recall_candidate_at_the_thresholds": round(new["recall"], 4),
            "passed": after >= before - margin}


def train(*, base: TextModel, rows: list[Judged], holdout_weeks: float | None = 2, holdout_share: float | None = None
          ) -> tuple[TextModel, dict, list[Judged]]:
    learn, held = split(rows, holdout_weeks=holdout_weeks, holdout_share=holdout_share)
    if not learn or not held:
        raise ValueError(f"{len(rows)} judged cases: too few to learn from and hold some out")
    started = time.perf_counter()
    candidate = adapt(base, [r.example() for r in learn], meta={"trained_from": "decisions"})
    trained_on = {"examples": len(learn), "violating": sum(r.violating for r in learn),
                  "held_out": len(held), "held_out_from": held[0].at.isoformat(), "learned_until": learn[-1].at.isoformat(),
                  "held_out_cases": [r.case_id for r in held], "base": base.version,
                  "seconds": round(time.perf_counter() - started, 1)}
    return candidate, trained_on, held


def gate(analyser: EmbeddedAnalyser, *, in_force: TextModel, candidate: TextModel, thresholds: dict | None,
         held: list[Judged], margin: float, public_limit: int | None = None) -> dict[str, Any]:
    """Both models, with the tenant's thresholds, on its held-out decisions and on the public held-out set."""
    sets = {"held_out_decisions": [(r.text, int(r.violating), r.weight) for r in held],
            "hatecheck": public_heldout(public_limit)}
    active = analyser_for(analyser, in_force, thresholds)
    now = {name: operating_point(active, rows) for name, rows in sets.items()}
    # the candidate knows the tenant's cases, the encoder does not: how much each counts in the band
    # is chosen on the held-out decisions, among the weights that keep every set within the margin
    # (the tenant's slang alone would take the encoder out, and with it what it catches elsewhere)
    floors = [Floor(rows, point["fpr"], recall_at(point["pairs"], point["fpr"]) - margin)
              for rows, point in zip(sets.values(), now.values())]
    proposed = {**(thresholds or {}), "encoder_weight": encoder_weight(
        analyser_for(analyser, candidate, thresholds), sets["held_out_decisions"], floors=floors)}
    new = analyser_for(analyser, candidate, proposed)
    numbers = {name: compare(now[name], new, rows, margin=margin) for name, rows in sets.items()}
    return {"margin": margin, "in_force": in_force.version, "candidate": candidate.version,
            "thresholds": asdict(active.thresholds), "candidate_thresholds": proposed, "sets": numbers,
            "passed": all(numbers[name]["passed"] for name in numbers)}


WEIGHTS = tuple(round(0.1 * step, 1) for step in range(11))


@dataclass(frozen=True)
class Floor:
    """A set on which the candidate must keep at least `recall` at a false-positive rate of `fpr`."""
    rows: Rows
    fpr: float
    recall: float


def encoder_weight(analyser: EmbeddedAnalyser, rows: Rows, *, floors: Sequence[Floor] = ()) -> float:
    """The encoder's share of the band's log-odds under which the analyser ranks the rows best (AUC),
    among the weights that keep every floor (all of them where none does); the analyser's own where
    none does better, or where the cascade is off. Each set is analysed once; each weight only
    recombines the two scores the band's texts got."""
    own = analyser.thresholds.encoder_weight
    if not analyser.thresholds.cascade:
        return own
    ranked = _recombined(analyser, rows)
    # the ranked rows are one of the gate's floors: analysed once
    kept = [(ranked if floor.rows is rows else _recombined(analyser, floor.rows), floor) for floor in floors]
    allowed = [weight for weight in WEIGHTS
               if all(recall_at(pairs(weight), floor.fpr) >= floor.recall for pairs, floor in kept)]

    def auc(weight: float) -> float:
        return round(curve(ranked(weight))["auc"] or 0.0, 4)

    return max(allowed or WEIGHTS, key=lambda weight: (auc(weight), -abs(weight - own)))


def _recombined(analyser: EmbeddedAnalyser, rows: Rows) -> Callable[[float], list[tuple[int, float, float]]]:
    """The rows' (label, risk, weight) at any encoder weight, from one analysis of each."""
    analyses = analyser.analyse_many([text for text, _, _ in rows])
    return lambda share: [(label, risk(_weighed(a, share)), weight) for (_, label, weight), a in zip(rows, analyses)]


def _weighed(analysis: Analysis, weight: float) -> Analysis:
    """The analysis as if the band's score had been combined at this weight."""
    if "abuse_encoder" not in analysis.scores:
        return analysis
    fast = max(analysis.scores["abuse"], analysis.scores["abuse_top_sentence"])
    cascade = together(fast, analysis.scores["abuse_encoder"], weight=weight,
                       shipped=analysis.scores.get("abuse_shipped"))
    return analysis.model_copy(update={"scores": analysis.scores | {"abuse_cascade": cascade}})


GRID = tuple(round(0.05 * step, 2) for step in range(1, 20))


def calibrate(analyser: EmbeddedAnalyser, rows: list[Judged], *, recall: float) -> dict[str, Any]:
    """The highest review threshold whose weighted recall on the judged cases reaches `recall`. With
    the cascade on, every text below the band's top is scored by the encoder too, so that a bar below
    the band (which takes the band's low edge with it) is swept as it would route."""
    current = analyser.thresholds
    wide = analyser.with_model(analyser.model, thresholds=replace(current, band_low=0.0)) if current.cascade else analyser
    analyses = wide.analyse_many([r.text for r in rows])
    weight_all = sum(r.weight for r in rows)
    weight_violating = sum(r.weight for r in rows if r.violating)
    if not weight_violating:
        raise ValueError("no judged case of the tenant is violating: nothing to reach a recall on")
    sweep = []
    for threshold in GRID:
        proposed = replace(current, **_thresholds_for(current, threshold))
        flagged = [_routed(a.scores, proposed) for a in analyses]
        caught = sum(r.weight for r, hit in zip(rows, flagged) if hit and r.violating)
        sent = sum(r.weight for r, hit in zip(rows, flagged) if hit)
        sweep.append({"threshold": threshold, "recall": round(caught / weight_violating, 4),
                      "review_share": round(sent / weight_all, 4)})
    reaching = [point for point in sweep if point["recall"] >= recall]
    chosen = max(reaching, key=lambda point: point["threshold"]) if reaching else None
    return {"target_recall": recall, "judged": len(rows), "weighted": round(weight_all, 1), "sweep": sweep,
            "proposal": chosen and _thresholds_for(current, chosen["threshold"]), "chosen": chosen}


def _routed(scores: dict[str, float], thresholds: Thresholds) -> bool:
    """Whether a text with these scores goes to a person under the thresholds (inside the band the
    scores must hold the encoder's)."""
    patterns = any(key in scores for key in ("threat", "attack_pattern", "advert_signs", "credential_leak", "personal_data"))
    fast = max(scores.get("abuse", 0.0), scores.get("abuse_top_sentence", 0.0))
    abusive = flags_abuse(fast, scores.get("abuse_cascade"), thresholds)
    return patterns or abusive or scores.get("spam", 0.0) >= thresholds.spam_review


def _thresholds_for(current: Thresholds, threshold: float) -> dict[str, float]:
    proposal = {"review": threshold, "spam_review": threshold}
    if not current.cascade:  # its empty band moves with the threshold
        proposal |= {"band_low": threshold, "band_high": threshold}
    elif threshold < current.band_low:  # a text at or above the bar never closes unseen by the encoder
        proposal["band_low"] = threshold
    return proposal


def analyser_for(base: EmbeddedAnalyser, model: TextModel, thresholds: dict | None) -> EmbeddedAnalyser:
    return base.with_model(model, thresholds=thresholds_of(base.thresholds, thresholds))


def shadow_summary(conn: psycopg.Connection, *, model_id: str, tenant: str) -> dict[str, Any]:
    """What the candidate said in shadow beside the model in force: how often it would have routed otherwise."""
    n, agreed, more, fewer = conn.execute("""
        SELECT count(*), count(*) FILTER (WHERE needs_review = active_needs_review),
               count(*) FILTER (WHERE needs_review AND NOT active_needs_review),
               count(*) FILTER (WHERE active_needs_review AND NOT needs_review)
        FROM shadow_scores WHERE model_id = %s AND tenant = %s""", (model_id, tenant)).fetchone()
    return {"scored": n, "same_routing": agreed, "to_review_instead_of_closed": more,
            "closed_instead_of_review": fewer}


def cases_per_day(conn: psycopg.Connection, *, tenant: str, days: int = 7) -> float:
    """The tenant's cases received per day over the last `days` (or since its first, if later)."""
    n, since = conn.execute("""SELECT count(*), min(created_at) FROM cases
                               WHERE tenant = %s AND created_at > now() - make_interval(days => %s)""",
                            (tenant, days)).fetchone()
    if not n:
        return 0.0
    span = min(float(days), max((datetime.now(since.tzinfo) - since).total_seconds() / 86400, 1.0))
    return round(n / span, 1)
