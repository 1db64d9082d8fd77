"""Each tenant's model: which fast model scores its cases, with which thresholds, and which
candidate is scored beside it in shadow, as `model_assignments` says (newest version in force, a
tenant "*" for every tenant without its own; none: the shipped model with the settings'
thresholds). Changed by `vigil analyser activate|promote|undo|calibrate|shadow` (shared/models_registry.py).

A worker reads the assignments at most every MODEL_CACHE_SECONDS on a connection of its own (never
one of the turns' pool, which its threads hold while they analyse), so a switch takes effect
without a restart, and an analysis in progress finishes with the model it began with. A model
file that does not load is logged and its tenant keeps the model it had: a worker never scores
with a model nobody assigned.
"""

import itertools
import logging
import threading
import time
from dataclasses import asdict, dataclass, replace

import psycopg

from shared import backoff
from services.worker.analysis.embedded import EmbeddedAnalyser, Thresholds
from services.worker.analysis.models import Analysis
from services.worker.analysis.textmodel import TextModel, shipped_model

log = logging.getLogger(__name__)

ANY_TENANT = "*"
CURRENT = """
    SELECT DISTINCT ON (tenant) tenant, model_id, CASE WHEN shadow_until > now() THEN shadow_model_id END, thresholds
    FROM model_assignments ORDER BY tenant, version DESC"""
BODY = "SELECT body FROM analyser_models WHERE id = %s"  # read once per model and process


def from_registry(model_id: str, body: bytes | None) -> TextModel:
    """The model a registry row holds (its entries over the shipped model's), checked against its id
    (name@version: the stored bytes' SHA-256)."""
    if body is None:
        raise ValueError(f"model {model_id} has no file here and is not the shipped one")
    try:
        model = TextModel.from_delta(bytes(body), base=shipped_model())
    except (OSError, ValueError, KeyError, TypeError, EOFError) as error:
        raise ValueError(f"model {model_id} does not load: {error}") from error
    if model.version != model_id:
        raise ValueError(f"model {model_id}'s file is {model.version}: corrupt or replaced")
    return model


@dataclass(frozen=True)
class Assignment:
    analyser: EmbeddedAnalyser
    shadow: EmbeddedAnalyser | None = None


def thresholds_of(base: Thresholds, values: dict | None) -> Thresholds:
    known = {name for name in asdict(base)}
    return replace(base, **{k: float(v) for k, v in (values or {}).items() if k in known})


class TenantAnalyser:
    """The embedded analyser of each tenant's assignment; the base (shipped model, settings'
    thresholds) for a tenant without one."""

    def __init__(self, *, base: EmbeddedAnalyser, conninfo: str, cache_seconds: float) -> None:
        self._base = Assignment(base)
        self._conninfo = conninfo
        self._cache_seconds = cache_seconds
        self._assignments: dict[str, Assignment] = {}
        self._models: dict[str, TextModel] = {base.model.version: base.model}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        # Until the assignments are read the worker does not start consuming: it would score with the
        # wrong model. A database away at the start is waited for, as the worker's pool waits.
        for failures in itertools.count(1):
            try:
                self.refresh(first=True)
                break
            except psycopg.Error as error:
                wait = backoff.delay(attempts=failures, base=0.5, cap=10.0)
                log.warning("cannot read the model assignments yet (%s); trying again in %.1fs", error, wait)
                time.sleep(wait)

    def analyse(self, *, text: str, feedback: str | None = None, tenant: str | None = None) -> Analysis:
        if time.monotonic() - self._loaded_at > self._cache_seconds:
            self.refresh(wait=False)
        assignment = self._assignments.get(tenant or "") or self._assignments.get(ANY_TENANT) or self._base
        analysis = assignment.analyser.analyse(text=text, feedback=feedback)
        if assignment.shadow is None:
            return analysis
        shadow = assignment.shadow.analyse(text=text, feedback=feedback)
        return analysis.model_copy(update={"shadow": {"model": shadow.models["fast"], "needs_review": shadow.needs_review,
                                                      "category": shadow.category, "scores": shadow.scores}})

    def refresh(self, *, wait: bool = True, first: bool = False) -> None:
        """Read the assignments again (one thread does; the others go on with what they have)."""
        if not self._lock.acquire(blocking=wait):
            return
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
            self._assignments = self._build(self._conn.execute(CURRENT).fetchall())
        except psycopg.Error as error:
            if self._conn is not None:
                self._conn.close()
            if first:
                raise
            log.warning("cannot read the model assignments (keeping the ones in hand): %s", error)
        finally:
            self._loaded_at = time.monotonic()
            self._lock.release()

    def _build(self, rows: list) -> dict[str, Assignment]:
        base = self._base.analyser
        built = {}
        for tenant, model_id, shadow_id, thresholds in rows:
            try:
                model = self._model(model_id)
                shadow = self._model(shadow_id) if shadow_id else None
            except ValueError as error:
                log.error("tenant %s keeps its model: %s", tenant, error)
                if tenant in self._assignments:
                    built[tenant] = self._assignments[tenant]
                continue
            chosen = thresholds_of(base.thresholds, thresholds)
            built[tenant] = Assignment(base.with_model(model, thresholds=chosen),
                                       base.with_model(shadow, thresholds=chosen) if shadow else None)
        in_use = {a.analyser.model.version for a in built.values()} | {
            a.shadow.model.version for a in built.values() if a.shadow} | {base.model.version}
        self._models = {version: model for version, model in self._models.items() if version in in_use}
        return built

    def _model(self, model_id: str) -> TextModel:
        if model_id in self._models:
            return self._models[model_id]
        row = self._conn.execute(BODY, (model_id,)).fetchone()
        body = row[0] if row else None
        model = from_registry(model_id, body)
        self._models[model_id] = model
        return model

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
