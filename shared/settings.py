"""One validated settings object, read from the environment once per process."""

from functools import lru_cache

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import connections, quality, secretbox, statements
from shared.domain import SEVERITIES


_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_targets(value: str) -> dict[str, timedelta]:
    """"critical=1h,high=4h" → {"critical": 1 hour, "high": 4 hours}; a clear error otherwise."""
    targets = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        severity, _, duration = part.partition("=")
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", duration.strip())
        if severity.strip() not in SEVERITIES or not match:
            raise ValueError(f"{part!r}: expected SEVERITY=DURATION with SEVERITY one of {', '.join(SEVERITIES)}"
                             " and DURATION like 90s, 15m, 4h or 3d")
        targets[severity.strip()] = timedelta(**{_UNITS[match[2]]: float(match[1])})
    return targets


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = "postgresql://postgres@127.0.0.1:5432/vigil"
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    # The default platform connection: the platform of any tenant without a connection of its own
    # (`vigil connections set`, PUT /v1/connections/{tenant}). PLATFORM_SECRET signs its calls.
    platform_url: str = "http://127.0.0.1:8200"
    platform_secret: SecretStr | None = None
    # SECRET_KEYS: base64 AES-256 keys, comma-separated, the first sealing (shared/secretbox.py);
    # needed to store a connection's secret. A worker sees a changed connection within the cache's seconds.
    secret_keys: SecretStr | None = None
    connection_cache_seconds: float = Field(default=2.0, ge=0)
    queue_name: str = "vigil"

    groq_api_key: SecretStr | None = None
    groq_model: str = "llama-3.3-70b-versatile"
    # The embedded analyser's thresholds on its scores (0..1): in the cascade's band (below) the
    # encoder's score reaches review or the case closes on its own; a sanction is suggested only when
    # the whole text and its top sentence both reach sanction on the fast model.
    # `vigil analyser eval` prints the sweep and the curve to choose them on a team's own data.
    analyser_review_threshold: float = Field(default=0.5, ge=0, le=1)
    analyser_spam_review_threshold: float = Field(default=0.6, ge=0, le=1)
    analyser_sanction_threshold: float = Field(default=0.9, ge=0, le=1)
    # The cascade's band on the fast model's abuse score: below it closes, at its top a person looks,
    # inside it the encoder decides (at ANALYSER_REVIEW_THRESHOLD). Chosen on training data (training/band.py).
    # 0.1 / 0.9 (training/REPORT.md: held out, better recall on every source than the fast model alone,
    # kind identity mentions flagged no more often); an empty band (e.g. 0.5 / 0.5) is the fast model alone.
    analyser_band_low: float = Field(default=0.1, ge=0, le=1)
    analyser_band_high: float = Field(default=0.9, ge=0, le=1)
    # Inside the band the encoder's share of the deciding log-odds, the fast model's the rest.
    analyser_encoder_weight: float = Field(default=0.5, ge=0, le=1)
    # The folder of the encoder (encoder.onnx, encoder.json, tokenizer.json); default: the one shipped in
    # the package. A missing or corrupt one stops the worker at its start.
    analyser_encoder_dir: Path | None = None
    # Any HTTP classifier a team already runs (contract in services/worker/analysis/http.py); the
    # embedded analyser answers when it fails, as for Groq.
    analyser_url: str | None = None
    analyser_timeout: float = Field(default=5.0, gt=0)

    # Which model a tenant's cases are scored with, and its thresholds, are in Postgres (`vigil
    # analyser activate|promote|undo|calibrate`); a worker sees a change within this many seconds.
    model_cache_seconds: float = Field(default=5.0, ge=0)
    # Quality sampling: the share of cases closed on their own (auto) and of cases people decided
    # (human) drawn for a blind second look; QA_RATES overrides per tenant and category
    # ("tenant:category=rate,...", * for any: "shop:spam=0.05,*:abuse=0.1"). QA_DAILY_MINIMUM: the
    # scheduler tops a tenant's automatic closures of the day up to this many samples.
    qa_auto_rate: float = Field(default=0.02, ge=0, le=1)
    qa_human_rate: float = Field(default=0.01, ge=0, le=1)
    qa_rates: str = ""
    qa_daily_minimum: int = Field(default=0, ge=0)
    qa_claim_seconds: float = Field(default=600.0, gt=0)

    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_text_chars: int = Field(default=20_000, ge=1)
    max_page_size: int = Field(default=100, ge=1)
    db_pool_size: int = Field(default=10, ge=1)
    db_connect_timeout: int = Field(default=2, ge=1)
    db_statement_timeout_ms: int = Field(default=5_000, ge=100)

    # How long the api trusts what it read about a key: a revoked or expired key stops within this.
    key_cache_seconds: float = Field(default=2.0, ge=0)
    # Appeals a case may have over its life (each decision can be appealed once).
    max_appeals_per_case: int = Field(default=1, ge=0)

    # The review desk. REVIEW_TARGETS: how long a case of each severity may wait for review
    # ("critical=1h,high=4h,medium=24h,low=72h"; units s, m, h, d; unnamed severities keep theirs).
    review_targets: str = "critical=1h,high=4h,medium=24h,low=72h"
    claim_seconds: float = Field(default=600.0, gt=0)  # a claim's lease; claiming again renews it
    escalate_to_supervisors: bool = False  # an overdue first-round case moves to the supervisors' queue
    escalation_step: int = Field(default=10, ge=0)  # priority added by each escalation
    scheduler_interval: float = Field(default=2.0, gt=0)

    reanalyze_limit: int = Field(default=2, ge=0)
    step_max_attempts: int = Field(default=5, ge=1)
    platform_timeout: float = 5.0
    platform_retries: int = Field(default=4, ge=1)
    platform_retry_wait: float = 0.2
    case_lock_timeout_ms: int = Field(default=30_000, ge=100)

    relay_batch_size: int = Field(default=200, ge=1)
    relay_poll_interval: float = Field(default=1.0, gt=0)
    relay_max_batch_size: int = Field(default=2000, ge=1)  # the claim grows up to this while a backlog lasts
    relay_metrics_port: int = Field(default=9101, ge=0)  # Prometheus /metrics of `vigil relay`; 0 = off
    worker_metrics_port: int = Field(default=9102, ge=0)  # `vigil worker`'s; process n of --processes uses +n
    scheduler_metrics_port: int = Field(default=9103, ge=0)  # `vigil scheduler`'s /metrics; 0 = off
    # A case in a working status with no message on its way for this long is nudged by the scheduler.
    stuck_after_seconds: float = Field(default=300.0, gt=0)

    # Token buckets in each api process (requests per second, burst); a rate of 0 turns one off.
    # An upstream integration posts thousands of cases a second at peak: the per-key and per-address
    # limits stop a runaway client, the unauthenticated one stops key guessing.
    rate_limit_per_key: float = Field(default=2000.0, ge=0)
    rate_limit_per_key_burst: int = Field(default=4000, ge=1)
    rate_limit_per_address: float = Field(default=4000.0, ge=0)
    rate_limit_per_address_burst: int = Field(default=8000, ge=1)
    # Requests with no key or a key that failed, per address: junk keys are throttled before a lookup.
    rate_limit_unauthenticated: float = Field(default=10.0, ge=0)
    rate_limit_unauthenticated_burst: int = Field(default=20, ge=1)
    rate_limit_max_buckets: int = Field(default=100_000, ge=100)
    # Slow clients: request headers must be complete, and a body fully read, within these seconds.
    header_timeout: float = Field(default=10.0, gt=0)
    body_timeout: float = Field(default=10.0, gt=0)

    # Callbacks (`vigil dispatcher`): each subscriber's deliveries, in order per case, retried with
    # exponential backoff (base doubling up to max) and dead after `webhook_max_attempts`.
    webhook_timeout: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=10, ge=1)
    webhook_backoff_base: float = Field(default=1.0, gt=0)
    webhook_backoff_max: float = Field(default=3600.0, gt=0)
    webhook_concurrency: int = Field(default=8, ge=1)  # deliveries in flight per subscriber
    dispatcher_poll_interval: float = Field(default=0.2, gt=0)
    dispatcher_metrics_port: int = Field(default=9104, ge=0)  # `vigil dispatcher`'s /metrics; 0 = off
    # Delivered events are kept this long for replay, then purged by the scheduler.
    events_retention_days: float = Field(default=30.0, gt=0)

    # Statements of reasons (EU DSA Art. 17). STATEMENTS_URL: an endpoint that gets every tenant's
    # in batches of at most 100 through the dispatcher; STATEMENTS_KIND says how: 'signed' (a
    # platform's endpoint, signed with STATEMENTS_SECRET) or 'dsa-transparency-db' (the DSA
    # Transparency Database's API, STATEMENTS_SECRET its Bearer token). A tenant's own endpoint is
    # on its platform connection (`vigil connections set --statements-url`). STATEMENT_GROUNDS: the deployment's terms-of-service grounds,
    # JSON {"<category>": {"ground": "...", "explanation": "..."}}; see shared/statements.py.
    statements_url: str | None = None
    statements_secret: SecretStr | None = None
    statements_kind: Literal[tuple(connections.STATEMENTS_KINDS)] = "signed"
    statement_grounds: str | None = None
    # The countries where the restrictions apply: "EEA", "EU" or codes ("DE,AT").
    statement_territorial_scope: str = "EEA"

    # Appeals are open this long after a decision executed (DSA Art. 20: at least six months);
    # then the scheduler makes the case final (no appeal, checkpoints pruned, its record kept).
    appeal_window_days: float = Field(default=183.0, gt=0)
    # Audit trail, decisions, actions and statements of final cases are purged after this.
    audit_retention_days: float = Field(default=5 * 365.25, gt=0)

    @field_validator("review_targets")
    @classmethod
    def _targets_parse(cls, value: str) -> str:
        parse_targets(value)
        return value

    @field_validator("secret_keys")
    @classmethod
    def _secret_keys_parse(cls, value: SecretStr | None) -> SecretStr | None:
        secretbox.parse_keys(value.get_secret_value() if value else None)
        return value

    @field_validator("qa_rates")
    @classmethod
    def _qa_rates_parse(cls, value: str) -> str:
        quality.Rates.parse(value, auto=0, human=0)
        return value

    @field_validator("statement_grounds")
    @classmethod
    def _statement_grounds_parse(cls, value: str | None) -> str | None:
        statements.parse_grounds(value)
        return value

    @field_validator("statement_territorial_scope")
    @classmethod
    def _statement_scope_parse(cls, value: str) -> str:
        statements.parse_territorial_scope(value)
        return value

    @property
    def secret_box(self) -> secretbox.SecretBox:
        return secretbox.SecretBox.of(self.secret_keys.get_secret_value() if self.secret_keys else None)

    @property
    def review_target_durations(self) -> dict[str, timedelta]:
        return parse_targets(self.review_targets)

    @property
    def sqlalchemy_url(self) -> str:
        """The same database for SQLAlchemy, which wants the driver named in the scheme."""
        scheme, rest = self.database_url.split("://", 1)
        return f"postgresql+psycopg://{rest}" if scheme in ("postgresql", "postgres") else self.database_url

    @property
    def libpq_url(self) -> str:
        """The same database for psycopg and the checkpointer, which want a plain libpq URL."""
        scheme, rest = self.database_url.split("://", 1)
        return f"postgresql://{rest}" if scheme.startswith("postgresql") else self.database_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
