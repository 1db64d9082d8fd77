"""Analysis by any HTTP classifier a team already runs (ANALYSER_URL), with the embedded analyser
answering whenever it fails, as for Groq.

The contract, one request per text:

    POST <ANALYSER_URL>  {"text": "...", "feedback": "..." | null}
    200  {"category": "clean|spam|abuse|credential_leak|personal_data",
          "severity": "none|low|medium|high|critical", "confidence": 0.93,
          "reasons": ["..."], "triggers": ["..."],
          "suggested_decision": "dismiss|warn|remove|remove_and_ban",
          "scores": {"abuse": 0.93}}            # scores optional: shown to the moderator

Anything else (a timeout, a status other than 200, a body that does not validate) is a failure:
the embedded analyser's verdict is used, a person reviews, and the failure is named in the reasons.
"""

import logging

import httpx
from pydantic import BaseModel, Field, ValidationError

from services.worker.analysis.breaker import Breaker
from services.worker.analysis.embedded import EmbeddedAnalyser
from services.worker.analysis.models import Analysis, Category, Severity, Suggestion
from services.worker.analysis.remote import fall_back, from_verdict

log = logging.getLogger(__name__)


class HttpVerdict(BaseModel):
    category: Category
    severity: Severity
    confidence: float = Field(ge=0, le=1)
    reasons: list[str]
    triggers: list[str] = Field(default_factory=list)
    suggested_decision: Suggestion
    scores: dict[str, float] = Field(default_factory=dict)


class HttpAnalyser:
    def __init__(self, *, url: str, fallback: EmbeddedAnalyser, timeout: float = 5.0,
                 client: httpx.Client | None = None, breaker: Breaker | None = None) -> None:
        self._url = url
        self._client = client or httpx.Client(timeout=timeout)
        self._fallback = fallback
        self._breaker = breaker or Breaker()

    def analyse(self, *, text: str, feedback: str | None = None, tenant: str | None = None) -> Analysis:
        try:
            verdict = self._breaker.call(lambda: self._ask(text=text, feedback=feedback))
        except Exception as error:  # any failure: the embedded analyser answers, a person reviews
            log.warning("http analysis failed, using the embedded analyser: %s", type(error).__name__)
            return fall_back(self._fallback, text=text, feedback=feedback, error=error, source="http_fallback",
                             what="the classifier")
        return from_verdict(verdict, text=text, feedback=feedback, source="http")

    def _ask(self, *, text: str, feedback: str | None) -> HttpVerdict:
        response = self._client.post(self._url, json={"text": text, "feedback": feedback})
        response.raise_for_status()
        try:
            return HttpVerdict.model_validate(response.json())
        except (ValidationError, ValueError) as error:
            raise ValueError("the classifier's answer did not match the contract") from error
