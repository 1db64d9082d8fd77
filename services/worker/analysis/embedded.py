"""The default analyser: offline, no key. Abuse is scored by a cascade: the fast text model
(textmodel.py, training/train.py) answers where it is confident, below the band (clean) or at its
top (a person looks); in between, the fine-tuned encoder (encoder.py, training/finetune.py) decides.
The fast model also scores spam; detect-secrets finds leaked credentials, patterns find personal
data and threats. The data sets behind both models are in training/DATA_CARD.md.

How its verdict is decided (the thresholds are settings, see Thresholds):
- a person reviews when the deciding abuse score (the fast model's outside the band, the encoder's
  inside it) or the spam score reaches its review threshold, or a threat pattern matches;
- a sanction (warn, remove, ban) is suggested only when the whole text's score reaches the sanction
  threshold AND its sentences agree (the top sentence also reaches it) AND a second piece of evidence
  agrees: another sentence above the bar, or a threat, insult or group-attack pattern (attacks.py).
  Never from one sentence's score alone. Below that the suggestion is dismiss and the person decides;
- insults, group attacks and threats the patterns find, and signs of an advert (adverts.py), make a
  person look even when the model's score is low; they never suggest a sanction by themselves;
- quoted words are scored apart: a text that is only bad inside its quotes is a report or a
  condemnation, and is reviewed at most, never sanctioned."""

import math
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache

from services.worker.analysis.adverts import advert_signs
from services.worker.analysis.attacks import attacks
from services.worker.analysis.encoder import Encoder
from services.worker.analysis.models import Analysis
from services.worker.analysis.textmodel import Scores, TextModel, shipped_model

# Hand-written, not learned: a threat says who will be hurt, so a threat verb needs an object ("kill it
# at the gym" is not one).
THREAT = re.compile(
    r"\b(?:kill yourself|kys|go die|you should die|(?:should|must|will|deserve to|need to) (?:all )?(?:be )?"
    r"(?:killed|shot|hanged|hung|gassed|exterminated|burned|wiped out|put down)|"
    r"(?:i|we)\b[\w' ]{0,24}?\b(?:going to|gonna|want to|wanna|will|shall|about to)"
    r" (?:\w+ ){0,2}?(?:kill|murder|shoot|stab|hurt|beat|rape|slaughter|hang|burn|exterminate|eliminate|nuke|gas|strangle)"
    r" (?!it\b|this\b|time\b)\w+|(?:time|need) to (?:kill|nuke|exterminate|eliminate|gas|wipe out) (?!time\b)\w+|"
    r"(?:find|found|know|knows) (?:out )?where you live|(?:i'm|i am|we're|we are) coming for you|watch your back|"
    r"you(?:'re| are) (?:dead(?! wrong| right| serious| tired| on| set)|going to die|gonna die)|"
    r"(?:i|we)(?:'ll| will) (?:make|see) you (?:pay|suffer|bleed))",
    re.IGNORECASE)
# Every threat above has one of these words: the cheap test spares most texts the long pattern.
THREAT_WORD = re.compile(r"kill|kys|die|shot|hang|hung|gas|extermin|burn|wipe|put down|murder|shoot|stab|hurt|beat|"
                         r"rape|slaughter|eliminat|nuke|strangle|where you live|coming for you|your back|dead|pay|suffer|"
                         r"bleed", re.IGNORECASE)
# A quotation ("they called me '...'", «...») is scored without what it quotes: reporting or condemning
# hate is not hate.
QUOTED = re.compile(r"\"[^\"]{3,}\"|“[^”]{3,}”|«[^»]{3,}»|(?<!\w)'[^']{6,}'(?!\w)")
# Who an advertised number belongs to: a shop, a prize line, a hotline; not someone's private number.
AD_CONTEXT = re.compile(r"\b(call|text|txt|whatsapp|order|orders|price|prices|offer|prize|won|win|sale|delivery|"
                        r"booking|bookings|reservations?|hotline|customer|service|shop|store|business|open|rent|hire)\b",
                        re.IGNORECASE)
PRIVATE_CONTEXT = re.compile(r"\b(her|his|their|my ex'?s?|this guy'?s?|this girl'?s?|home|private|personal)\b",
                             re.IGNORECASE)
# detect-secrets only runs on a text that could hold a secret: a long unbroken token (every key format
# it knows is 16+ characters), a keyword it looks for, a private key header, credentials in a URL.
SECRET_HINT = re.compile(r"[A-Za-z0-9_\-+/=]{16,}|\b(?:pass(?:word|wd|phrase)?|pwd|secrets?|token|auth\w*|bearer|"
                         r"credentials?)\b|(?:\b|_)key\b|BEGIN|://\S*@", re.IGNORECASE)
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


def _exposed_secret(line: str, value: str) -> str:
    # Some detectors capture only part of the secret (GitHub: "ghp", JWT: without its signature):
    # the whole word around the match is what leaked.
    for word in line.split():
        if value in word:
            return word.strip("\"'`,;()[]{}<>")
    return value


def secrets(text: str) -> Finding | None:
    if not SECRET_HINT.search(text):  # no token or keyword detect-secrets could flag: spare its ~0.7 ms
        return None
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


def personal_data(text: str, *, advert: bool) -> Finding | None:
    emails = EMAIL.findall(text)
    cards = [m for m in CARD.findall(text) if _luhn(_digits(m))]
    # A phone number is written with a + or separators: a bare run of digits is an order or account number.
    phones = [m.strip() for m in PHONE.findall(text)
              if 10 <= len(_digits(m)) <= 15 and (m.startswith("+") or not m.isdigit()) and not DATE.search(m)
              and not any(_digits(m) in _digits(card) for card in cards)
              and not (len(_digits(m)) == 13 and _digits(m).startswith(("978", "979")))]  # an ISBN
    # A number in an advert is the business's own, published on purpose; unless the text says whose
    # private number it is, it is not personal data (the spam score judges the advert).
    if phones and advert and not PRIVATE_CONTEXT.search(text):
        phones = []
    if not (emails or phones or cards):
        return None
    kinds = [f"{len(found)} {name}" for found, name in
             ((emails, "email address(es)"), (phones, "phone number(s)"), (cards, "card number(s)")) if found]
    exposed = emails + phones + cards
    return Finding("personal_data", "high" if cards else "medium", 0.8,
                   [f"personal data exposed: {', '.join(kinds)}"], [mask(value) for value in exposed], "remove",
                   exposed=exposed)


def sensitive_values(text: str) -> list[str]:
    """Every secret and piece of personal data in the text, longest first (for masking)."""
    found = [value for finding in (secrets(text), personal_data(text, advert=False)) if finding
             for value in finding.exposed]
    return sorted(set(found), key=len, reverse=True)


def redact(lines: list[str], *, values: list[str]) -> list[str]:
    """The lines with each sensitive value replaced by its mask, wherever it appears."""
    for value in values:
        lines = [line.replace(value, mask(value)) for line in lines]
    return lines


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class Thresholds:
    """Scores are the models' probabilities (0..1). The fast model's abuse score below band_low
    closes on its own, at or above band_high a person reviews; in between the fast model's and the
    encoder's scores together (together() below) decide, a person reviewing at or above review. At or above sanction (the fast model's score of
    the text and of its top sentence both): a sanction is suggested. Chosen on training data only
    (training/band.py, training/REPORT.md)."""

    review: float = 0.5
    # training/band.py's band: held out, better recall at every source than the fast model alone, kind
    # identity mentions flagged no more often (training/REPORT.md, the encoder of 2026-12-07). An
    # empty band (band_low == band_high) is the fast model alone.
    band_low: float = 0.1
    band_high: float = 0.9
    # inside the band, the encoder's share of the log-odds deciding (the fast model has the rest);
    # the learning loop chooses a tenant's on its decisions (learning.gate)
    encoder_weight: float = 0.5
    # 0.6 rather than 0.5: held out, the same F1 on SMS (0.72) and 0.05 less on YouTube comments, at
    # half the false alarms; amounts of money in ordinary posts push the spam score to 0.5-0.6
    spam_review: float = 0.6
    sanction: float = 0.9

    @property
    def cascade(self) -> bool:
        """The band is not empty: the encoder scores what the fast model is unsure of."""
        return self.band_low < self.band_high


CASCADE = Thresholds(band_low=0.1, band_high=0.9)  # the band training/band.py chose, the rest the defaults


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.split(text) if s.strip()]


Encoded = Callable[[str], float]  # the encoder's probability for a text


def in_band(fast: float, thresholds: Thresholds) -> bool:
    return thresholds.band_low <= fast < thresholds.band_high


def flags_abuse(fast: float, cascade: float | None, thresholds: Thresholds) -> bool:
    """Whether the abuse score sends a text to a person: inside the band the two models' score
    (`cascade`, together() below) at review, outside it the fast model's at band_high (and review)."""
    if in_band(fast, thresholds):
        return cascade >= thresholds.review
    return fast >= max(thresholds.review, thresholds.band_high)


def _log_odds(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def together(fast: float, encoder: float, *, weight: float, shipped: float | None = None) -> float:
    """The score deciding inside the band. The shipped models' log-odds, the encoder's weighing
    `weight`: each catches what the other misses (held out, their mean ranks OLID and TRAC better than
    either alone). A tenant's fast model (`fast`, trained by the learning loop on its decisions) adds
    in full what it learnt beyond the shipped one (`shipped`, its score of the text): the encoder never
    learns a tenant's slang, and must not outvote what the tenant's moderators taught."""
    # (1 - w)·shipped + w·encoder + (fast - shipped), in log-odds: the encoder moves the fast model's
    # score by its disagreement with the shipped one
    reference = fast if shipped is None else shipped
    return 1 / (1 + math.exp(-(_log_odds(fast) + weight * (_log_odds(encoder) - _log_odds(reference)))))


def fast_abuse(text: str, *, model: TextModel) -> tuple[str, float]:
    """The text without its quotes, and the fast model's abuse score of it or of its top sentence:
    what the cascade compares with its band (abuse() below computes the same on the way)."""
    unquoted = QUOTED.sub(" ", text)
    sentences = _sentences(unquoted)
    whole = model.scores(unquoted).abuse
    return unquoted, max([whole, *(model.scores(s).abuse for s in sentences)] if len(sentences) > 1 else [whole])


def abuse(text: str, *, whole_text: Scores, model: TextModel, encoded: Encoded, thresholds: Thresholds,
          shipped: TextModel | None = None) -> tuple[Finding | None, dict[str, float]]:
    """The finding, and the scores that decided it (shown to the moderator). `shipped`: the shipped
    fast model, where `model` is a tenant's own (together() above)."""
    unquoted = QUOTED.sub(" ", text)
    quoting = unquoted != text
    whole = model.scores(unquoted).abuse if quoting else whole_text.abuse
    sentences = _sentences(unquoted)
    sentence_scores = [model.scores(s).abuse for s in sentences] if len(sentences) > 1 else [whole]
    top_sentence = max(sentence_scores, default=0.0)
    threats = [m.group(0) for m in THREAT.finditer(unquoted)] if THREAT_WORD.search(unquoted) else []
    # insults, attacks on a group, threats the pattern above misses (attacks.py): a person looks, the
    # patterns alone never suggest a sanction
    named = attacks(unquoted)
    threats += [words for kind, words in named if kind == "threat" and words not in threats]
    attacked = [f"{kind.replace('_', ' ')}: {words}" for kind, words in named if kind != "threat"]
    scores = {"abuse": round(whole, 4), "abuse_top_sentence": round(top_sentence, 4)}
    fast = max(whole, top_sentence)  # the text as a whole, or one of its sentences: a kind text must not hide an attack
    unsure = in_band(fast, thresholds)
    deciding = fast
    if unsure:
        encoder = encoded(unquoted)
        reference = fast_abuse(unquoted, model=shipped)[1] if shipped else None
        deciding = together(fast, encoder, weight=thresholds.encoder_weight, shipped=reference)
        scores |= {"abuse_encoder": round(encoder, 4), "abuse_cascade": round(deciding, 4)}
        if reference is not None:
            scores["abuse_shipped"] = round(reference, 4)
    if quoting:
        scores["abuse_with_quotes"] = round(whole_text.abuse, 4)
    if threats:
        scores["threat"] = 1.0
    if attacked:
        scores["attack_pattern"] = 1.0
    flagged = flags_abuse(fast, deciding, thresholds)
    if not (flagged or threats or attacked):
        return None, scores
    triggers = [s for s, score in zip(sentences, sentence_scores) if score >= thresholds.review] + threats + attacked
    if unsure and flagged and not triggers:
        triggers = [unquoted.strip()[:200]]  # the encoder read the text as a whole
    agreed = whole >= thresholds.sanction and top_sentence >= thresholds.sanction
    if unsure:
        reasons = [f"abusive language: the fast model is unsure ({fast:.2f}, between {thresholds.band_low} and "
                   f"{thresholds.band_high}), the encoder scores {scores['abuse_encoder']:.2f}, the two together "
                   f"{deciding:.2f} (review at {thresholds.review})"]
    else:
        reasons = [f"abusive language: text score {whole:.2f}, top sentence {top_sentence:.2f} "
                   f"(review at {thresholds.band_high}, sanction at {thresholds.sanction})"]
    if threats:
        reasons.append(f"threat: {', '.join(threats)}")
    if attacked:
        reasons.append(f"attack pattern ({', '.join(attacked)}): a person decides")
    if quoting:
        reasons.append("quoted words were scored apart: it may report or condemn what it quotes")
    if not agreed:
        reasons.append("below the sanction threshold, or the text and its sentences disagree: a person decides")
        return Finding("abuse", "medium" if threats or attacked else "low", round(deciding, 2), reasons,
                       triggers, "dismiss", borderline=not (threats or attacked)), scores
    abusive = sum(score >= thresholds.sanction for score in sentence_scores)
    if not (abusive >= 2 or threats or attacked):
        # One sentence's score is all the evidence ("Women are not scum." scores 0.95: the model reads
        # words, not negation): a second sentence above the bar or a pattern must agree before a
        # sanction is suggested
        reasons.append("one sentence's score alone never suggests a sanction: a person decides")
        return Finding("abuse", "medium", round(whole, 2), reasons, triggers, "dismiss", borderline=True), scores
    suggestion = "remove_and_ban" if threats else "remove" if abusive >= 2 else "warn"
    return Finding("abuse", "high" if threats or abusive >= 2 else "medium", round(whole, 2), reasons, triggers,
                   suggestion), scores


def spam(text: str, *, whole_text: Scores, model: TextModel,
         thresholds: Thresholds) -> tuple[Finding | None, dict[str, float]]:
    score = whole_text.spam
    scores = {"spam": round(score, 4)}
    signs = advert_signs(text, signals=whole_text.signals)
    if signs:
        scores["advert_signs"] = 1.0
    if score < thresholds.spam_review and not signs:
        return None, scores
    signals = model.explain(text, head="spam")
    reasons = [f"spam score {score:.2f} (review at {thresholds.spam_review}, sanction at {thresholds.sanction})"]
    if signs:
        reasons.append(f"signs of an advert: {', '.join(signs)}")
    if score >= thresholds.sanction:
        return Finding("spam", "medium", round(score, 2), reasons, signals, "remove"), scores
    return Finding("spam", "low", round(score, 2), reasons + ["below the sanction threshold: a person decides"],
                   signals, "dismiss", borderline=True), scores


@cache
def shipped_encoder() -> Encoder:
    """One per process: the session is thread-safe and holds the model's ~25 MiB once."""
    return Encoder()


class EmbeddedAnalyser:
    """Runs every signal; the most serious category names the case, the strongest action is suggested."""

    def __init__(self, *, model: TextModel | None = None, encoder: Encoder | None = None,
                 thresholds: Thresholds = Thresholds()) -> None:
        self._model = model or shipped_model()
        # a tenant's own model's learning counts on top of the shipped one's in the band (together())
        self._shipped = None if self._model.version == shipped_model().version else shipped_model()
        self._encoder = encoder or shipped_encoder()  # EncoderUnavailable here, at the worker's start
        self._thresholds = thresholds
        # what every analysis records, fixed for the analyser's life: built once, not per case
        self._versions = {"fast": self._model.version, "encoder": self._encoder.version}
        self._recorded_thresholds = asdict(thresholds)

    def with_model(self, model: TextModel, *, thresholds: Thresholds) -> "EmbeddedAnalyser":
        """The same analyser scoring with another fast model and thresholds (a tenant's), the encoder shared."""
        return EmbeddedAnalyser(model=model, encoder=self._encoder, thresholds=thresholds)

    @property
    def thresholds(self) -> Thresholds:
        return self._thresholds

    @property
    def model(self) -> TextModel:
        return self._model

    def analyse_many(self, texts: list[str], *, batch: int = 32) -> list[Analysis]:
        """The same analyses as one analyse() per text, the encoder's share scored in batches
        (what `vigil analyser eval` runs)."""
        band = list(dict.fromkeys(t for t in map(self._encoder_input, texts) if t is not None))
        encoded = dict(zip(band, self._encoder.probabilities(band, batch=batch)))
        return [self._analyse(text, feedback=None, encoded=encoded.__getitem__) for text in texts]

    def _encoder_input(self, text: str) -> str | None:
        """What the encoder would read of this text, or None where the fast model is sure."""
        unquoted, fast = fast_abuse(text, model=self._model)
        return unquoted if in_band(fast, self._thresholds) else None

    def analyse(self, *, text: str, feedback: str | None = None, tenant: str | None = None) -> Analysis:
        return self._analyse(text, feedback=feedback, encoded=self._encoder.probability)

    def _analyse(self, text: str, *, feedback: str | None, encoded: Encoded) -> Analysis:
        whole_text = self._model.scores(text)
        abusive, abuse_scores = abuse(text, whole_text=whole_text, model=self._model, encoded=encoded,
                                      thresholds=self._thresholds, shipped=self._shipped)
        spammy, spam_scores = spam(text, whole_text=whole_text, model=self._model, thresholds=self._thresholds)
        advert = spammy is not None or bool(AD_CONTEXT.search(text))
        leaked = secrets(text)
        findings = [f for f in (leaked, abusive, personal_data(text, advert=advert), spammy) if f]
        scores = abuse_scores | spam_scores
        settled = [f for f in findings if not f.borderline] or findings
        if findings:
            lead = max(settled, key=lambda f: CATEGORY_RANK[f.category])
            category, confidence = lead.category, lead.confidence
            severity = max((f.severity for f in settled), key=SEVERITY_RANK.__getitem__)
            suggestion = max((f.suggestion for f in findings), key=DECISION_RANK.__getitem__)
            reasons = [reason for f in findings for reason in f.reasons]
            triggers = _unique([trigger for f in findings for trigger in f.triggers])
            for f in findings:
                if f.category in ("credential_leak", "personal_data"):
                    scores[f.category] = f.confidence
        else:
            category, severity, suggestion = "clean", "none", "dismiss"
            confidence = round(1 - max(scores["abuse"], scores["abuse_top_sentence"], scores["spam"]), 2)
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
            flags=sorted({f.category for f in findings}, key=CATEGORY_RANK.__getitem__, reverse=True),
            scores=scores,
            stage="encoder" if "abuse_encoder" in scores else "fast",
            models=self._versions,
            thresholds=self._recorded_thresholds,
        )
