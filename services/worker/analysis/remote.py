"""What the remote analysers (Groq, an HTTP classifier) share: a verdict becomes an Analysis with
every secret the scanners find masked, and a failure becomes the embedded analyser's verdict with
a person to review it."""

from typing import Any

from services.worker.analysis.embedded import EmbeddedAnalyser, redact, sensitive_values
from services.worker.analysis.models import Analysis

CONFIDENT = 0.8  # below this a remote verdict is reviewed even when it says clean


def from_verdict(verdict: Any, *, text: str, feedback: str | None, source: str) -> Analysis:
    needs_review = verdict.category != "clean" or verdict.confidence < CONFIDENT or bool(feedback)
    reasons = [*verdict.reasons, *([f"moderator feedback considered: {feedback}"] if feedback else [])]
    # A remote analyser is asked to mask secrets but may quote them whole: mask what the scanners find.
    exposed = sensitive_values(text)
    return Analysis(**verdict.model_dump(exclude={"reasons", "triggers"}), reasons=redact(reasons, values=exposed),
                    triggers=redact(verdict.triggers, values=exposed), needs_review=needs_review,
                    flags=[] if verdict.category == "clean" else [verdict.category], source=source)


def fall_back(fallback: EmbeddedAnalyser, *, text: str, feedback: str | None, error: Exception, source: str,
              what: str) -> Analysis:
    analysis = fallback.analyse(text=text, feedback=feedback)
    return analysis.model_copy(update={
        "source": source,
        "needs_review": True,
        "reasons": [*analysis.reasons, f"{what} failed ({type(error).__name__}); a person must review"],
    })
