"""Analysers: the embedded one by default, a Groq model when GROQ_API_KEY is set."""

from shared.settings import Settings
from services.worker.analysis.embedded import EmbeddedAnalyser
from services.worker.analysis.groq import GroqAnalyser
from services.worker.analysis.models import Analysis

__all__ = ["Analysis", "EmbeddedAnalyser", "GroqAnalyser", "make_analyser"]


def make_analyser(settings: Settings) -> EmbeddedAnalyser | GroqAnalyser:
    embedded = EmbeddedAnalyser()
    if settings.groq_api_key is None:
        return embedded
    from langchain_groq import ChatGroq

    # The key stays a SecretStr all the way into ChatGroq, so no plain copy of it sits in our frames or reprs;
    # tenacity in GroqAnalyser does the retrying, hence max_retries=0 here.
    model = ChatGroq(model=settings.groq_model, api_key=settings.groq_api_key, timeout=20, max_retries=0)
    return GroqAnalyser(model=model, fallback=embedded)
