"""What a reviewer reads: the case's text with every secret and piece of personal data masked,
found by the embedded detectors whichever analyser decided the case."""

from services.worker.analysis.embedded import redact, sensitive_values


def redacted(text: str) -> str | None:
    """The text with every sensitive value masked; None when it holds none."""
    values = sensitive_values(text)
    return "\n".join(redact(text.split("\n"), values=values)) if values else None
