"""Analysers: the embedded cascade (the fast model, the encoder where it is unsure) by default, an
HTTP classifier when ANALYSER_URL is set, a Groq model when GROQ_API_KEY is set; both remote ones
fall back to the embedded one."""

from typing import Literal

from shared.settings import Settings
from services.worker.analysis.embedded import EmbeddedAnalyser, Thresholds
from services.worker.analysis.encoder import Encoder, EncoderUnavailable
from services.worker.analysis.groq import GroqAnalyser
from services.worker.analysis.http import HttpAnalyser
from services.worker.analysis.models import Analysis

__all__ = ["Analysis", "EmbeddedAnalyser", "Encoder", "EncoderUnavailable", "GroqAnalyser", "HttpAnalyser",
           "Thresholds", "make_analyser"]

Kind = Literal["embedded", "groq", "http"]


class AnalyserNotConfigured(ValueError):
    """The analyser asked for needs a setting that is not there (GROQ_API_KEY, ANALYSER_URL)."""


def make_analyser(settings: Settings, *, kind: Kind | None = None) -> EmbeddedAnalyser | GroqAnalyser | HttpAnalyser:
    encoder = Encoder(folder=settings.analyser_encoder_dir) if settings.analyser_encoder_dir else None
    embedded = EmbeddedAnalyser(encoder=encoder, thresholds=Thresholds(review=settings.analyser_review_threshold,
                                                      band_low=settings.analyser_band_low,
                                                      band_high=settings.analyser_band_high,
                                                      encoder_weight=settings.analyser_encoder_weight,
                                                      spam_review=settings.analyser_spam_review_threshold,
                                                      sanction=settings.analyser_sanction_threshold))
    kind = kind or ("http" if settings.analyser_url else "groq" if settings.groq_api_key else "embedded")
    if kind == "embedded":
        return embedded
    if kind == "http":
        if not settings.analyser_url:
            raise AnalyserNotConfigured("the http analyser needs ANALYSER_URL")
        return HttpAnalyser(url=settings.analyser_url, fallback=embedded, timeout=settings.analyser_timeout)
    if settings.groq_api_key is None:
        raise AnalyserNotConfigured("the groq analyser needs GROQ_API_KEY")
    from langchain_groq import ChatGroq

    # The key stays a SecretStr all the way into ChatGroq, so no plain copy of it sits in our frames or reprs;
    # tenacity in GroqAnalyser does the retrying, hence max_retries=0 here.
    model = ChatGroq(model=settings.groq_model, api_key=settings.groq_api_key, timeout=20, max_retries=0)
    return GroqAnalyser(model=model, fallback=embedded)
