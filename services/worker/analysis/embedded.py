"""The default analyser: offline, no key. alt-profanity-check for abusive language,
detect-secrets for leaked credentials, and simple spam and personal-data signals."""

import re
from dataclasses import dataclass, field
from functools import cache

from services.worker.analysis.models import Analysis

ABUSE_THRESHOLD = 0.75
BORDERLINE = 0.4
SPAM_PHRASES = re.compile(
    r"\b(buy now|click here|act now|limited offer|guaranteed profit|earn \$?\d+|work from home|crypto signals|"
    r"cheap followers|dm me|free money)\b",
    re.IGNORECASE,
)
URL = re.compile(r"https?://\S+", re.IGNORECASE)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
PHONE = re.compile(r"(?<!\w)\+?\d[\d \-()]{8,}\d(?!\w)")
CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
SENTENCE = re.compile(r"(?<=[.!?])\s+")
SECRET_DETECTORS = (
    "AWSKeyDetector", "AzureStorageKeyDetector", "BasicAuthDetector", "DiscordBotTokenDetector",
    "GitHubTokenDetector", "GitLabTokenDetector", "JwtTokenDetector", "OpenAIDetector", "PrivateKeyDetector",
    "PypiTokenDetector", "SendGridDetector", "SlackDetector", "StripeDetector", "TelegramBotTokenDetector",
    "TwilioKeyDetector",
)
SEVERITY_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


@dataclass
class Finding:
    category: str
    severity: str
    confidence: float
    reasons: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    suggestion: str = "dismiss"
    borderline: bool = False


def mask(secret: str) -> str:
    """Enough to recognise the value, never enough to use it."""
    return f"{secret[:4]}…({len(secret)} chars)" if len(secret) > 8 else "…"


@cache
def _profanity():
    from profanity_check import predict_prob  # loads a scikit-learn model: once, on first use

    return predict_prob


def _luhn(digits: str) -> bool:
    total = 0
    for index, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def abuse(text: str) -> Finding | None:
    sentences = [s for s in SENTENCE.split(text) if s.strip()] or [text]
    scores = _profanity()([text, *sentences])
    overall, per_sentence = float(scores[0]), [float(s) for s in scores[1:]]
    top = max([overall, *per_sentence])
    if top < BORDERLINE:
        return None
    triggers = [s.strip() for s, score in zip(sentences, per_sentence) if score >= BORDERLINE]
    if top < ABUSE_THRESHOLD:
        return Finding("abuse", "low", round(1 - top, 2), [f"borderline abusive language (score {top:.2f})"],
                       triggers, "dismiss", borderline=True)
    severe = top >= 0.95 and len(triggers) >= 2
    return Finding("abuse", "high" if severe else "medium", round(top, 2),
                   [f"abusive language (score {top:.2f}) in {len(triggers)} sentence(s)"], triggers,
                   "remove_and_ban" if severe else "warn")


def secrets(text: str) -> Finding | None:
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import transient_settings

    # The pattern detectors only: the entropy ones flag ordinary words in prose.
    with transient_settings({"plugins_used": [{"name": name} for name in SECRET_DETECTORS]}):
        found = [(secret.type, secret.secret_value or "") for line in text.splitlines() for secret in scan_line(line)]
    if not found:
        return None
    kinds = sorted({kind for kind, _ in found})
    return Finding("credential_leak", "critical", 0.95, [f"leaked credential: {', '.join(kinds)}"],
                   [f"{kind}: {mask(value)}" for kind, value in found], "remove")


def personal_data(text: str) -> Finding | None:
    triggers = [mask(m) for m in EMAIL.findall(text)] + [mask(m.strip()) for m in PHONE.findall(text)]
    cards = [m for m in CARD.findall(text) if _luhn(re.sub(r"\D", "", m))]
    triggers += [mask(m) for m in cards]
    if not triggers:
        return None
    return Finding("personal_data", "high" if cards else "medium", 0.8,
                   ["personal data exposed (email, phone or card number)"], triggers, "remove")


def spam(text: str) -> Finding | None:
    phrases = [m.group(0) for m in SPAM_PHRASES.finditer(text)]
    urls = URL.findall(text)
    shouting = re.findall(r"\b[A-Z]{4,}\b|!{3,}", text)
    score = len(phrases) + (len(urls) if len(urls) >= 2 else 0) + min(len(shouting), 2)
    if score < 2:
        return None
    reasons = [f"{len(phrases)} spam phrase(s), {len(urls)} link(s), {len(shouting)} shouting mark(s)"]
    return Finding("spam", "medium" if score >= 4 else "low", min(0.5 + score / 10, 0.95), reasons,
                   phrases + urls + shouting, "remove")


class EmbeddedAnalyser:
    """Runs every signal; the most severe finding names the case."""

    def analyse(self, *, text: str, feedback: str | None = None) -> Analysis:
        findings = [f for f in (secrets(text), abuse(text), personal_data(text), spam(text)) if f]
        if not findings:
            result = Finding("clean", "none", 0.9, ["no abusive language, secrets, personal data or spam found"])
        else:
            result = max(findings, key=lambda f: (SEVERITY_RANK[f.severity], not f.borderline))
            result.reasons = [reason for f in findings for reason in f.reasons]
            result.triggers = [trigger for f in findings for trigger in f.triggers]
        needs_review = result.category != "clean" or result.borderline
        if feedback:
            result.reasons.append(f"moderator feedback considered: {feedback}")
            needs_review = True
        return Analysis(
            category=result.category,
            severity=result.severity,
            confidence=result.confidence,
            reasons=result.reasons,
            triggers=result.triggers,
            suggested_decision=result.suggestion,
            needs_review=needs_review,
            source="embedded",
        )
