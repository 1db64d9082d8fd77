"""The model registry and each tenant's assignment, as an admin changes them (`vigil analyser ...`).

`analyser_models` holds the shipped fast model (its file is in the package) and the candidates
trained from a tenant's decisions (their file, bound to that tenant: a tenant's model is never
assigned to another). `model_assignments` is versioned: every change is a new version saying
who, when, what and why, and the newest is in force (workers read it, registry.py); `undo` makes
the version before the newest one in force again, at once. A tenant "*" is every tenant without
an assignment of its own.
"""

import getpass
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from services.worker.analysis.registry import ANY_TENANT, from_registry
from services.worker.analysis.textmodel import MODEL_PATH, TextModel, digest_version, shipped_model


class AssignmentError(ValueError):
    """The change asked for is not allowed (an unknown model, another tenant's, nothing to undo)."""


@dataclass(frozen=True)
class InForce:
    tenant: str
    version: int
    model_id: str
    shadow_model_id: str | None
    shadow_until: Any
    thresholds: dict | None


def operator() -> str:
    return f"cli:{getpass.getuser()}"


def register_shipped(conn: psycopg.Connection) -> str:
    """The shipped model's row (its file stays in the package), once."""
    version = shipped_model().version
    conn.execute("INSERT INTO analyser_models (id, origin, trained_on, created_by) VALUES (%s, 'shipped', %s, 'vigil')"
                 " ON CONFLICT (id) DO NOTHING", (version, Jsonb({"file": MODEL_PATH.name})))
    return version


def register(conn: psycopg.Connection, *, model: TextModel, tenant: str, trained_on: dict, evaluation: dict,
             by: str) -> str:
    body = model.to_delta(shipped_model())
    model_id = f"textmodel@{digest_version(body)}"  # what from_delta() will call it, without parsing it again
    conn.execute("""INSERT INTO analyser_models (id, tenant, origin, body, trained_on, evaluation, created_by)
                    VALUES (%s, %s, 'decisions', %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING""",
                 (model_id, tenant, body, Jsonb(trained_on), Jsonb(evaluation), by))
    return model_id


def in_force(conn: psycopg.Connection, *, tenant: str) -> InForce | None:
    row = conn.execute("""SELECT tenant, version, model_id, shadow_model_id, shadow_until, thresholds
                          FROM model_assignments WHERE tenant = %s ORDER BY version DESC LIMIT 1""", (tenant,)).fetchone()
    return InForce(*row) if row else None


def active_model(conn: psycopg.Connection, *, tenant: str) -> tuple[TextModel, dict | None]:
    """The model and thresholds that score the tenant's cases now."""
    current = in_force(conn, tenant=tenant) or in_force(conn, tenant=ANY_TENANT)
    if current is None:
        return shipped_model(), None
    return load(conn, current.model_id), current.thresholds


def load(conn: psycopg.Connection, model_id: str) -> TextModel:
    row = conn.execute("SELECT body FROM analyser_models WHERE id = %s", (model_id,)).fetchone()
    if row is None:
        raise AssignmentError(f"no model {model_id} in the registry (`vigil analyser models` lists them)")
    if row[0] is None:
        if model_id != shipped_model().version:
            raise AssignmentError(f"model {model_id} shipped with another release; this one ships {shipped_model().version}")
        return shipped_model()
    try:
        return from_registry(model_id, row[0])
    except ValueError as error:
        raise AssignmentError(str(error)) from error


def change(conn: psycopg.Connection, *, tenant: str, what: str, by: str, model_id: str | None = None,
           shadow: tuple[str, float] | None | bool = False, thresholds: dict | None | bool = False,
           gate: dict | None = None) -> InForce:
    """A new version of the tenant's assignment: the one in force with what is given changed
    (False: kept; shadow None: stopped; thresholds None: the settings')."""
    register_shipped(conn)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('model_assignments:' || %s))", (tenant,))
    current = in_force(conn, tenant=tenant)
    model = model_id or (current.model_id if current else shipped_model().version)
    for candidate in {model, *([shadow[0]] if shadow else [])}:
        _check_owner(conn, candidate, tenant=tenant)
        load(conn, candidate)  # a file that does not load is refused here, not in the workers
    keep_shadow = current is not None and shadow is False
    chosen = (current.thresholds if current else None) if thresholds is False else thresholds
    row = conn.execute(f"""
        INSERT INTO model_assignments (tenant, version, model_id, shadow_model_id, shadow_until, thresholds, change, gate,
                                       created_by)
        VALUES (%(tenant)s, %(version)s, %(model)s, %(shadow)s,
                {"now() + make_interval(secs => %(seconds)s)" if shadow else "%(until)s"}, %(thresholds)s, %(what)s,
                %(gate)s, %(by)s)
        RETURNING tenant, version, model_id, shadow_model_id, shadow_until, thresholds""",
        {"tenant": tenant, "version": (current.version if current else 0) + 1, "model": model,
         "shadow": shadow[0] if shadow else current.shadow_model_id if keep_shadow else None,
         "seconds": shadow[1] * 86400 if shadow else None, "until": current.shadow_until if keep_shadow else None,
         "thresholds": Jsonb(chosen) if chosen is not None else None,
         "what": what, "gate": Jsonb(gate) if gate is not None else None, "by": by}).fetchone()
    return InForce(*row)


def undo(conn: psycopg.Connection, *, tenant: str, by: str) -> InForce:
    """What was in force before the newest version again (model and thresholds, shadow stopped), as
    a new version; before a tenant's first version, that is the "*" assignment or the shipped model."""
    rows = conn.execute("""SELECT version, model_id, thresholds FROM model_assignments WHERE tenant = %s
                           ORDER BY version DESC LIMIT 2""", (tenant,)).fetchall()
    if not rows:
        raise AssignmentError(f"tenant {tenant} has no assignment of its own to undo")
    if len(rows) == 2:
        _, model_id, thresholds = rows[1]
    else:
        before = in_force(conn, tenant=ANY_TENANT) if tenant != ANY_TENANT else None
        model_id, thresholds = (before.model_id, before.thresholds) if before else (shipped_model().version, None)
    return change(conn, tenant=tenant, what=f"undo of version {rows[0][0]}", by=by, model_id=model_id, shadow=None,
                  thresholds=thresholds)


def history(conn: psycopg.Connection, *, tenant: str | None = None) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute("""SELECT tenant, version, model_id, shadow_model_id, shadow_until, thresholds, change,
                                        gate, created_by, created_at
                                 FROM model_assignments WHERE %(tenant)s::text IS NULL OR tenant = %(tenant)s
                                 ORDER BY tenant, version DESC""", {"tenant": tenant}).fetchall()


def models(conn: psycopg.Connection) -> list[dict]:
    register_shipped(conn)
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute("""SELECT id, tenant, origin, trained_on, evaluation, created_by, created_at
                                 FROM analyser_models ORDER BY created_at""").fetchall()


def _check_owner(conn: psycopg.Connection, model_id: str, *, tenant: str) -> None:
    row = conn.execute("SELECT tenant FROM analyser_models WHERE id = %s", (model_id,)).fetchone()
    if row is None:
        raise AssignmentError(f"no model {model_id} in the registry (`vigil analyser models` lists them)")
    if row[0] is not None and row[0] != tenant:
        raise AssignmentError(f"model {model_id} was trained on tenant {row[0]}'s decisions: it serves that tenant only")
