"""How often the machine is wrong, from the cases people reviewed blind (DSA Art. 15(1)(e):
"indicators of the accuracy and the possible rate of error" of automated means).

A random share of the cases that closed on their own, and of those people decided, is drawn for a
quality review (`shared.quality`); the reviewer sees neither the analyser's verdict nor the first
decision. From those reviews:

- `miss_rate`: of the sampled automatic closures, the share the reviewer found violating (decided
  anything but dismiss): the abuse the analyser let close unseen;
- `false_alarm_rate`: of the sampled cases the analyser sent to review, the share the reviewer found
  not violating (dismiss): a person's time spent for nothing;
- `agreement`: Cohen's kappa between the first decision and the reviewer's, over the sampled human
  decisions (1 = always agree, 0 = no better than chance).

Each proportion carries its 95% Wilson interval (right also for few samples or none found); kappa
its large-sample interval (Fleiss, Cohen & Everitt 1969). Rates are per tenant, category (the
analysis'), model version and ISO week of the case's closing, and overall: each breakdown is the
same samples counted another way. Within a tenant and day every closure had the same chance of being
drawn, so a proportion over samples estimates the rate over closures.
"""

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

Z95 = 1.959964
DIMENSIONS = ("tenant", "category", "model", "week")

# The reviewed samples closed in the period, counted at the finest grain the report breaks down by.
REVIEWED = """
    SELECT kind, tenant, category, model, to_char(closed_at AT TIME ZONE 'UTC', 'IYYY-"W"IW') AS week,
           first_decision, decision, count(*) AS n
    FROM qa_samples
    WHERE reviewed_at IS NOT NULL AND closed_at >= %(start)s AND closed_at < %(end)s
    GROUP BY 1, 2, 3, 4, 5, 6, 7"""


def wilson(found: int, n: int, *, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of found/n; None without samples."""
    if n == 0:
        return None
    p = found / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def kappa(pairs: Mapping[tuple[str, str], int], *, z: float = Z95) -> tuple[float, float, float] | None:
    """Cohen's kappa of (first, second) judgements counted in `pairs`, with its 95% interval; None
    when it is undefined (no pairs, or both always gave the same single answer)."""
    n = sum(pairs.values())
    if n == 0:
        return None
    first, second = Counter(), Counter()
    for (a, b), count in pairs.items():
        first[a] += count
        second[b] += count
    observed = sum(count for (a, b), count in pairs.items() if a == b) / n
    expected = sum(first[c] * second[c] for c in first) / (n * n)
    if expected >= 1.0:
        return None
    value = (observed - expected) / (1 - expected)
    # the standard error under the alternative (Fleiss, Cohen & Everitt 1969)
    share = {key: count / n for key, count in pairs.items()}
    p1 = {c: first[c] / n for c in first}
    p2 = {c: second[c] / n for c in second}
    term1 = sum(share.get((c, c), 0.0) * (1 - (p1.get(c, 0) + p2.get(c, 0)) * (1 - value)) ** 2 for c in set(p1) | set(p2))
    term2 = (1 - value) ** 2 * sum(s * (p2.get(a, 0) + p1.get(b, 0)) ** 2 for (a, b), s in share.items() if a != b)
    term3 = (value - expected * (1 - value)) ** 2
    variance = max(term1 + term2 - term3, 0.0) / (n * (1 - expected) ** 2)
    half = z * math.sqrt(variance)
    return value, max(-1.0, value - half), min(1.0, value + half)


def _rate(found: int, n: int) -> dict[str, Any]:
    interval = wilson(found, n)
    return {"reviewed": n, "found": found, "rate": round(found / n, 4) if n else None,
            "ci95_low": round(interval[0], 4) if interval else None,
            "ci95_high": round(interval[1], 4) if interval else None}


def figures(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The rates of one set of reviewed samples (rows as REVIEWED gives them)."""
    missed = auto = alarms = human = 0
    pairs: Counter = Counter()
    for row in rows:
        n, violating = row["n"], row["decision"] != "dismiss"
        if row["kind"] == "auto":
            auto += n
            missed += n if violating else 0
        else:
            human += n
            alarms += 0 if violating else n
            pairs[(row["first_decision"], row["decision"])] += n
    agreement = kappa(pairs)
    return {"miss_rate": _rate(missed, auto), "false_alarm_rate": _rate(alarms, human),
            "agreement": {"pairs": human, "kappa": round(agreement[0], 4) if agreement else None,
                          "ci95_low": round(agreement[1], 4) if agreement else None,
                          "ci95_high": round(agreement[2], 4) if agreement else None}}


def report(rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Overall, and broken down by each of DIMENSIONS."""
    section: dict[str, Any] = {"overall": figures(rows)}
    for dimension in DIMENSIONS:
        groups: dict[str, list] = {}
        for row in rows:
            groups.setdefault(str(row[dimension]), []).append(row)
        section[f"by_{dimension}"] = {key: figures(group) for key, group in sorted(groups.items())}
    return section


def _shown(figure: dict[str, Any], *, count: str) -> str:
    if figure.get("rate", figure.get("kappa")) is None:
        return "-"
    value = figure.get("rate", figure.get("kappa"))
    return f"{value:.3f} [{figure['ci95_low']:.3f}, {figure['ci95_high']:.3f}] n={figure[count]}"


def render(section: dict[str, Any]) -> str:
    """The section as a person reads it: a line per group, each rate with its 95% interval."""
    lines = [f"{'':32} {'miss rate (auto-closed)':34} {'false alarms (reviewed)':34} agreement (kappa)"]
    groups = [("overall", section["overall"])] + [
        (f"{dimension} {key}", figures) for dimension in DIMENSIONS for key, figures in section[f"by_{dimension}"].items()]
    for name, figures in groups:
        lines.append(f"{name[:32]:32} {_shown(figures['miss_rate'], count='reviewed'):34} "
                     f"{_shown(figures['false_alarm_rate'], count='reviewed'):34} "
                     f"{_shown(figures['agreement'], count='pairs')}")
    return "\n".join(lines)
