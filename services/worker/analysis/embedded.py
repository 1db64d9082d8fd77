"""The default analyser: offline, no key. alt-profanity-check for abusive language,
detect-secrets for leaked credentials, and simple spam and personal-data signals."""

import re
import threading
from dataclasses import dataclass, field
from functools import cache

from services.worker.analysis.models import Analysis

ABUSE_THRESHOLD = 0.85  # the model scores everyday swearing ("damn, great goal") around 0.75
BORDERLINE = 0.4
THREAT = re.compile(r"\b(kill yourself|kys|i will (kill|hurt|find) you|you should die|go die)\b", re.IGNORECASE)
SPAM_PHRASES = re.compile(
    r"\b(buy now|click here|act now|limited (time )?offer|guaranteed profit|earn \$?\d[\d,]*|work from home|"
    r"crypto signals|bitcoin|double your money|cheap followers|dm me|free money|100% free|you have won)\b",
    re.IGNORECASE,
)
URL = re.compile(r"https?://\S+", re.IGNORECASE)
SHOUTING = re.compile(r"\b[A-Z]{4,}\b|!{3,}")
REPEATED_CHARS = re.compile(r"([^\s\d])\1{4,}")  # "soooooo", "$$$$$"
REPEATED_WORDS = re.compile(r"\b(\w+)(?:\W+\1\b){2,}", re.IGNORECASE)  # "buy buy buy"
EMAIL = re.compile(r"(?<![:/])\b[\w.+-]+@[\w-]+\.[\w.-]*\w\b")  # not the user:password@ of a URL
PHONE = re.compile(r"(?<![\w+])\+?\d[\d \-().]{8,}\d(?!\w)")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}[./-]\d{2}[./-]\d{4}")
CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
SENTENCE = re.compile(r"(?<=[.!?])\s+")
# The pattern detectors and the keyword one only: the entropy detectors flag ordinary words in prose.
SECRET_DETECTORS = (
    "AWSKeyDetector", "AzureStorageKeyDetector", "BasicAuthDetector", "DiscordBotTokenDetector",
    "GitHubTokenDetector", "GitLabTokenDetector", "JwtTokenDetector", "KeywordDetector", "OpenAIDetector",
    "PrivateKeyDetector", "PypiTokenDetector", "SendGridDetector", "SlackDetector", "StripeDetector",
    "TelegramBotTokenDetector", "TwilioKeyDetector",
)
# detect-secrets keeps its configuration in process-wide globals that transient_settings swaps in
# and out: two threads scanning at once would each tear down the other's plugins.
_SECRETS_LOCK = threading.Lock()

SEVERITY_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
CATEGORY_RANK = {"clean": 0, "spam": 1, "personal_data": 2, "abuse": 3, "credential_leak": 4}
DECISION_RANK = {"dismiss": 0, "warn": 1, "remove": 2, "remove_and_ban": 3}


@dataclass
class Finding:
    category: str
    severity: str
    confidence: float
    reasons: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    suggestion: str = "dismiss"
    borderline: bool = False
    exposed: list[str] = field(default_factory=list)  # raw sensitive values, masked wherever they appear


def mask(value: str) -> str:
    """Enough to recognise the value, never enough to use it."""
    shown = min(4, len(value) // 4)
    return f"{value[:shown]}…({len(value)} chars)"


def _luhn(digits: str) -> bool:
    total = 0
    for index, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


@cache
def _profanity():
    from profanity_check import predict_prob  # loads a scikit-learn model: once, on first use

    return predict_prob


def abuse(text: str) -> tuple[Finding | None, float]:
    """The finding, and the highest score (a clean verdict's confidence comes from it)."""
    sentences = [s.strip() for s in SENTENCE.split(text) if s.strip()] or [text]
    scores = [float(score) for score in _profanity()([text, *sentences])]
    top = max(scores)
    threats = [m.group(0) for m in THREAT.finditer(text)]
    if top < BORDERLINE and not threats:
        return None, top
    triggers = [s for s, score in zip(sentences, scores[1:]) if score >= BORDERLINE] + threats
    if top < ABUSE_THRESHOLD and not threats:
        return Finding("abuse", "low", round(top, 2),
                       [f"borderline language (score {top:.2f}, below {ABUSE_THRESHOLD}): a person should judge it"],
                       triggers, "dismiss", borderline=True), top
    abusive = [s for s, score in zip(sentences, scores[1:]) if score >= ABUSE_THRESHOLD]
    severe = bool(threats) or (top >= 0.95 and len(abusive) >= 2)
    reasons = [f"abusive language (score {top:.2f}) in {len(abusive)} sentence(s)"]
    reasons += [f"threat: {', '.join(threats)}"] if threats else []
    return Finding("abuse", "high" if severe else "medium", round(top, 2), reasons, triggers,
                   "remove_and_ban" if severe else "warn"), top


def _exposed_secret(line: str, value: str) -> str:
    # Some detectors capture only part of the secret (GitHub: "ghp", JWT: without its signature):
    # the whole word around the match is what leaked.
    for word in line.split():
        if value in word:
            return word.strip("\"'`,;()[]{}<>")
    return value


def secrets(text: str) -> Finding | None:
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import transient_settings

    with _SECRETS_LOCK, transient_settings({"plugins_used": [{"name": name} for name in SECRET_DETECTORS]}):
        found = [(secret.type, _exposed_secret(line, secret.secret_value or ""))
                 for line in text.splitlines() for secret in scan_line(line) if secret.secret_value]
    if not found:
        return None
    kinds = sorted({kind for kind, _ in found})
    return Finding("credential_leak", "critical", 0.95, [f"leaked credential: {', '.join(kinds)}"],
                   [f"{kind}: {mask(value)}" for kind, value in found], "remove", exposed=[v for _, v in found])


def personal_data(text: str) -> Finding | None:
    emails = EMAIL.findall(text)
    cards = [m for m in CARD.findall(text) if _luhn(_digits(m))]
    # A phone number is written with a + or separators: a bare run of digits is an order or account number.
    phones = [m.strip() for m in PHONE.findall(text)
              if 10 <= len(_digits(m)) <= 15 and (m.startswith("+") or not m.isdigit()) and not DATE.search(m)
              and not any(_digits(m) in _digits(card) for card in cards)]
    if not (emails or phones or cards):
        return None
    kinds = [f"{len(found)} {name}" for found, name in
             ((emails, "email address(es)"), (phones, "phone number(s)"), (cards, "card number(s)")) if found]
    exposed = emails + phones + cards
    return Finding("personal_data", "high" if cards else "medium", 0.8,
                   [f"personal data exposed: {', '.join(kinds)}"], [mask(value) for value in exposed], "remove",
                   exposed=exposed)


def spam(text: str) -> Finding | None:
    phrases = [m.group(0) for m in SPAM_PHRASES.finditer(text)]
    urls = URL.findall(text)
    shouting = SHOUTING.findall(text)
    repeats = [m.group(0) for m in REPEATED_CHARS.finditer(text)] + [m.group(0) for m in REPEATED_WORDS.finditer(text)]
    score = len(phrases) + (len(urls) if len(urls) >= 2 else 0) + min(len(shouting), 2) + min(len(repeats), 2)
    if score < 2:  # one exclamation or one link is ordinary writing
        return None
    reasons = [f"spam signals: {len(phrases)} sales phrase(s), {len(urls)} link(s), "
               f"{len(shouting)} shouting mark(s), {len(repeats)} repetition(s)"]
    return Finding("spam", "medium" if score >= 4 else "low", round(min(0.5 + score / 10, 0.95), 2), reasons,
                   phrases + urls + shouting + repeats, "remove")


def sensitive_values(text: str) -> list[str]:
    """Every secret and piece of personal data in the text, longest first (for masking)."""
    found = [value for finding in (secrets(text), personal_data(text)) if finding for value in finding.exposed]
    return sorted(set(found), key=len, reverse=True)


def redact(lines: list[str], *, values: list[str]) -> list[str]:
    """The lines with each sensitive value replaced by its mask, wherever it appears."""
    for value in values:
        lines = [line.replace(value, mask(value)) for line in lines]
    return lines


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


class EmbeddedAnalyser:
    """Runs every signal; the most serious category names the case, the strongest action is suggested."""

    def analyse(self, *, text: str, feedback: str | None = None) -> Analysis:
        abusive, top_score = abuse(text)
        findings = [f for f in (secrets(text), abusive, personal_data(text), spam(text)) if f]
        settled = [f for f in findings if not f.borderline] or findings
        if findings:
            lead = max(settled, key=lambda f: CATEGORY_RANK[f.category])
            category, confidence = lead.category, lead.confidence
            severity = max((f.severity for f in settled), key=SEVERITY_RANK.__getitem__)
            suggestion = max((f.suggestion for f in findings), key=DECISION_RANK.__getitem__)
            reasons = [reason for f in findings for reason in f.reasons]
            triggers = _unique([trigger for f in findings for trigger in f.triggers])
        else:
            category, severity, suggestion = "clean", "none", "dismiss"
            confidence = round(1 - top_score, 2)
            reasons, triggers = ["no abusive language, secrets, personal data or spam found"], []
        if feedback:
            reasons.append(f"moderator feedback considered: {feedback}")
        exposed = sorted({v for f in findings for v in f.exposed}, key=len, reverse=True)
        return Analysis(
            category=category,
            severity=severity,
            confidence=confidence,
            reasons=redact(reasons, values=exposed),
            triggers=redact(triggers, values=exposed),
            suggested_decision=suggestion,
            # Only clearly clean content closes on its own; a moderator's second look is always reviewed.
            needs_review=bool(findings) or bool(feedback),
            source="embedded",
        )
