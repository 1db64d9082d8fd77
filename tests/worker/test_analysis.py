"""The analysers: the embedded one on realistic content, and the Groq one with a fake model at
that one boundary (the hosted model cannot run here)."""

import json

import pytest
from pydantic import SecretStr

from services.worker.analysis import EmbeddedAnalyser, GroqAnalyser, make_analyser

AWS_KEY = "AKIAZ7VRSQ5TJN2HK4PL"
embedded = EmbeddedAnalyser()


@pytest.mark.parametrize(("text", "category", "suggestion"), [
    ("Does anyone know if the ridge trail is open again after the storm?", "clean", "dismiss"),
    ("You are a worthless idiot and a disgusting piece of trash. Nobody wants you here, shut up you moron.",
     "abuse", "remove_and_ban"),
    ("Honestly the referee was a complete idiot tonight, what a stupid call.", "abuse", "warn"),
    ("BUY NOW!!! Cheap followers, guaranteed profit. Click here: http://a.example/x http://a.example/y", "spam", "remove"),
    (f"my config: aws_access_key_id = {AWS_KEY} why does it fail", "credential_leak", "remove"),
    ("Her email is jane.doe@example.org and phone +44 7700 900123, go tell her", "personal_data", "remove"),
    ("Pay me back: card 4111 1111 1111 1111", "personal_data", "remove"),
])
def test_embedded_analysis_of_realistic_content(text, category, suggestion):
    analysis = embedded.analyse(text=text)
    assert (analysis.category, analysis.suggested_decision) == (category, suggestion)
    assert analysis.needs_review is (category != "clean")
    assert analysis.reasons and analysis.source == "embedded"
    if category != "clean":
        assert analysis.triggers


def test_the_abusive_sentences_are_the_triggers():
    analysis = embedded.analyse(text="Lovely morning at the market. Shut up you stupid moron.")
    assert analysis.triggers == ["Shut up you stupid moron."]


def test_secrets_and_personal_data_never_appear_whole_in_the_analysis():
    analysis = embedded.analyse(text=f"key {AWS_KEY} mail jane.doe@example.org card 4111 1111 1111 1111")
    stored = json.dumps(analysis.model_dump(mode="json"))
    for secret in (AWS_KEY, "jane.doe@example.org", "4111 1111 1111 1111"):
        assert secret not in stored
    assert analysis.category == "credential_leak" and analysis.severity == "critical"


def test_moderator_feedback_is_reflected_and_forces_a_review():
    analysis = embedded.analyse(text="What a lovely day.", feedback="check the username too")
    assert analysis.needs_review
    assert "moderator feedback considered: check the username too" in analysis.reasons


class FakeModel:
    """The hosted chat model's one boundary: `with_structured_output(schema).invoke(messages)`."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.prompts: list = []

    def with_structured_output(self, schema):
        self.schema = schema
        return self

    def invoke(self, messages):
        self.prompts.append(messages)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


VERDICT = {"category": "abuse", "severity": "high", "confidence": 0.93, "reasons": ["targeted insult"],
           "triggers": ["you moron"], "suggested_decision": "remove"}


def test_a_groq_verdict_becomes_the_analysis():
    model = FakeModel(VERDICT)
    analysis = GroqAnalyser(model=model, fallback=embedded).analyse(text="shut up you moron", feedback="context?")
    assert (analysis.source, analysis.category, analysis.suggested_decision) == ("groq", "abuse", "remove")
    assert analysis.needs_review and "moderator feedback considered: context?" in analysis.reasons
    assert "shut up you moron" in model.prompts[0][1][1] and "context?" in model.prompts[0][2][1]


def test_a_confident_clean_groq_verdict_closes_on_its_own():
    clean = VERDICT | {"category": "clean", "severity": "none", "confidence": 0.97, "suggested_decision": "dismiss",
                       "triggers": []}
    assert GroqAnalyser(model=FakeModel(clean), fallback=embedded).analyse(text="hello").needs_review is False


@pytest.mark.parametrize("failure", [TimeoutError("model timed out"), {"category": "nonsense"}, "just prose"])
def test_when_the_model_fails_the_embedded_analyser_answers_and_a_person_reviews(failure):
    model = FakeModel(failure)
    analysis = GroqAnalyser(model=model, fallback=embedded).analyse(text="What a lovely day.")
    assert analysis.source == "embedded_fallback" and analysis.needs_review
    assert analysis.category == "clean"  # the embedded analyser's own verdict
    assert any("the model failed" in reason for reason in analysis.reasons)
    assert len(model.prompts) == 2  # tried again once before giving up


def test_make_analyser_uses_groq_only_with_a_key(settings):
    assert isinstance(make_analyser(settings), EmbeddedAnalyser)
    with_key = settings.model_copy(update={"groq_api_key": SecretStr("gsk_test_not_a_real_key")})
    analyser = make_analyser(with_key)
    assert isinstance(analyser, GroqAnalyser)
    assert "gsk_test" not in repr(with_key)  # the key never shows in settings' repr or logs
