"""What an analysis says about a piece of content; stored on the case and shown to the moderator."""

from typing import Literal

from pydantic import BaseModel, Field

Category = Literal["clean", "spam", "abuse", "credential_leak", "personal_data"]
Severity = Literal["none", "low", "medium", "high", "critical"]
Suggestion = Literal["dismiss", "warn", "remove", "remove_and_ban"]


class Analysis(BaseModel):
    category: Category
    severity: Severity
    confidence: float = Field(ge=0, le=1)
    reasons: list[str]
    triggers: list[str] = Field(description="the phrases of the text that triggered it (secrets masked)")
    suggested_decision: Suggestion
    needs_review: bool = Field(description="False only for clearly clean content, which closes on its own")
    source: Literal["embedded", "groq", "embedded_fallback", "http", "http_fallback"]
    flags: list[str] = Field(default_factory=list,
                             description="every category found, the one naming the case first among equals")
    scores: dict[str, float] = Field(default_factory=dict,
                                     description="the scores that decided the verdict (0..1), shown to the moderator")
    stage: Literal["fast", "encoder"] | None = Field(
        default=None, description="which stage of the embedded cascade decided on abuse: the fast model where it was "
                                  "sure, the encoder where it was not (abuse_encoder in scores)")
    models: dict[str, str] = Field(default_factory=dict, description="name@version of each model that scored it")
    thresholds: dict[str, float] = Field(default_factory=dict, description="the thresholds in force when it was scored")
    shadow: dict | None = Field(default=None, description="what a candidate model in shadow said of it (recorded, "
                                                         "never routing): model, needs_review, scores")
