"""`vigil analyser models|history|activate|undo|shadow|train|promote|calibrate`: the model registry,
each tenant's model and thresholds, learning from decisions (learning.py, assignments.py).

Every change is a version of the tenant's assignment (who, when, what, and a promotion's gate
numbers), in force in the workers within MODEL_CACHE_SECONDS, undone at once with `undo`."""

import argparse
import json
import sys
from contextlib import contextmanager
from typing import Any


@contextmanager
def _session():
    import psycopg

    from shared.settings import get_settings
    from services.worker.analysis import make_analyser

    settings = get_settings()
    with psycopg.connect(settings.libpq_url, autocommit=False) as conn:
        yield conn, lambda: make_analyser(settings, kind="embedded")


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _fail(message: str) -> None:
    print(f"vigil analyser: {message}", file=sys.stderr)
    sys.exit(2)


def _models(args: argparse.Namespace) -> None:
    from services.worker.analysis import assignments

    with _session() as (conn, _):
        rows = assignments.models(conn)
        conn.commit()
    for row in rows:
        row["trained_on"].pop("held_out_cases", None)
    _print(rows)


def _history(args: argparse.Namespace) -> None:
    from services.worker.analysis import assignments

    with _session() as (conn, _):
        _print(assignments.history(conn, tenant=args.tenant))


def _change(args: argparse.Namespace, **what: Any) -> None:
    from services.worker.analysis import assignments

    with _session() as (conn, _):
        try:
            done = assignments.change(conn, tenant=args.tenant, by=assignments.operator(), **what)
        except assignments.AssignmentError as error:
            _fail(str(error))
        conn.commit()
    print(f"tenant {done.tenant}: version {done.version}, model {done.model_id}"
          + (f", shadowing {done.shadow_model_id} until {done.shadow_until}" if done.shadow_model_id else "")
          + (f", thresholds {json.dumps(done.thresholds)}" if done.thresholds else ""))


def _activate(args: argparse.Namespace) -> None:
    _change(args, what=f"activate: {args.reason}", model_id=args.model)


def _shadow(args: argparse.Namespace) -> None:
    _change(args, what=f"shadow for {args.days:g} days", shadow=(args.model, args.days) if args.model else None)


def _undo(args: argparse.Namespace) -> None:
    from services.worker.analysis import assignments

    with _session() as (conn, _):
        try:
            done = assignments.undo(conn, tenant=args.tenant, by=assignments.operator())
        except assignments.AssignmentError as error:
            _fail(str(error))
        conn.commit()
    print(f"tenant {done.tenant}: version {done.version}, model {done.model_id} again")


def _train(args: argparse.Namespace) -> None:
    from services.worker.analysis import assignments, learning

    with _session() as (conn, embedded):
        base, thresholds = assignments.active_model(conn, tenant=args.tenant)
        rows = learning.judged(conn, tenant=args.tenant)
        try:
            model, trained_on, held = learning.train(base=base, rows=rows, holdout_weeks=args.holdout_weeks,
                                                     holdout_share=args.holdout_share)
        except ValueError as error:
            _fail(str(error))
        evaluation = learning.gate(embedded(), in_force=base, candidate=model, thresholds=thresholds, held=held,
                                   margin=args.margin, public_limit=args.public_sample)
        model_id = assignments.register(conn, model=model, tenant=args.tenant, trained_on=trained_on,
                                        evaluation=evaluation, by=assignments.operator())
        conn.commit()
    trained_on.pop("held_out_cases")
    _print({"model": model_id, "tenant": args.tenant, "trained_on": trained_on, "evaluation": evaluation})


def _promote(args: argparse.Namespace) -> None:
    from services.worker.analysis import assignments, learning

    with _session() as (conn, embedded):
        current = assignments.in_force(conn, tenant=args.tenant)
        if current is None or current.shadow_model_id != args.model:
            _fail(f"{args.model} is not in shadow for tenant {args.tenant}: `vigil analyser shadow` it first")
        shadowing = conn.execute("SELECT %s > now()", (current.shadow_until,)).fetchone()[0]
        if shadowing and not args.early:
            _fail(f"its shadow period lasts until {current.shadow_until}")
        base, thresholds = assignments.active_model(conn, tenant=args.tenant)
        trained_on = conn.execute("SELECT trained_on FROM analyser_models WHERE id = %s", (args.model,)).fetchone()[0]
        held_out = set(trained_on.get("held_out_cases", []))  # measured again now: purged ones drop out
        held = [r for r in learning.judged(conn, tenant=args.tenant) if r.case_id in held_out]
        numbers = learning.gate(embedded(), in_force=base, candidate=assignments.load(conn, args.model),
                                thresholds=thresholds, held=held, margin=args.margin, public_limit=args.public_sample)
        numbers["shadow"] = learning.shadow_summary(conn, model_id=args.model, tenant=args.tenant)
        if not numbers["passed"]:
            _print(numbers)
            _fail("the gate refused it: recall at the tenant's false-positive rate is worse beyond the margin")
        done = assignments.change(conn, tenant=args.tenant, what="promote", by=assignments.operator(),
                                  model_id=args.model, shadow=None, thresholds=numbers["candidate_thresholds"],
                                  gate=numbers)
        conn.commit()
    _print(numbers)
    print(f"tenant {done.tenant}: version {done.version}, model {done.model_id} in force")


def _calibrate(args: argparse.Namespace) -> None:
    from services.worker.analysis import assignments, learning

    with _session() as (conn, embedded):
        model, thresholds = assignments.active_model(conn, tenant=args.tenant)
        rows = learning.judged(conn, tenant=args.tenant)
        try:
            found = learning.calibrate(learning.analyser_for(embedded(), model, thresholds), rows, recall=args.recall)
        except ValueError as error:
            _fail(str(error))
        found["cases_per_day"] = learning.cases_per_day(conn, tenant=args.tenant)
        if found["chosen"]:
            found["reviews_per_day"] = round(found["chosen"]["review_share"] * found["cases_per_day"], 1)
        _print(found)
        if found["proposal"] is None:
            _fail(f"no threshold reaches recall {args.recall} on the tenant's judged cases")
        if args.apply:
            done = assignments.change(conn, tenant=args.tenant, what=f"calibrate to recall {args.recall}",
                                      by=assignments.operator(), thresholds={**(thresholds or {}), **found["proposal"]},
                                      gate={"calibration": found["chosen"], "judged": found["judged"]})
            conn.commit()
            print(f"tenant {done.tenant}: version {done.version}, thresholds {json.dumps(done.thresholds)} in force")


def add_learning_commands(analyser: argparse._SubParsersAction) -> None:
    def command(name: str, func, text: str) -> argparse.ArgumentParser:
        parser = analyser.add_parser(name, help=text, description=text)
        parser.set_defaults(func=func)
        return parser

    command("models", _models, "the registry: the shipped model and the candidates, with their evaluation")
    command("history", _history, "every version of each tenant's assignment").add_argument("--tenant")
    for name, func, text in (
            ("activate", _activate, "a model scores the tenant's cases from now on (* = every tenant without its own)"),
            ("shadow", _shadow, "a candidate scores the tenant's live cases beside the model in force, recorded, never "
                                "routing (no MODEL: stop)"),
            ("undo", _undo, "the tenant's previous assignment again, at once"),
            ("train", _train, "a candidate from the tenant's decisions and quality reviews, the most recent held out"),
            ("promote", _promote, "the shadowed candidate in force, if the gate passes (its numbers are kept)"),
            ("calibrate", _calibrate, "the review threshold that reaches a recall on the tenant's judged cases")):
        parser = command(name, func, text)
        parser.add_argument("--tenant", required=True)
        if name in ("activate", "shadow", "promote"):
            parser.add_argument("model", nargs="?" if name == "shadow" else None, help="name@version (`models` lists them)")
        if name == "activate":
            parser.add_argument("--reason", required=True, help="why: kept with the change")
        if name == "shadow":
            parser.add_argument("--days", type=float, default=7.0, help="how long it is shadowed")
        if name in ("train", "promote"):
            parser.add_argument("--margin", type=float, default=0.02, help="recall the candidate may lose and pass")
            parser.add_argument("--public-sample", type=int, help="measure on this many of the public held-out texts, "
                                                                  "evenly spaced (default: all 3,728 of HateCheck)")
        if name == "train":
            parser.add_argument("--from-decisions", action="store_true", required=True,
                                help="from the tenant's decisions and quality reviews (the one source there is)")
            parser.add_argument("--holdout-weeks", type=float, default=2.0, help="the most recent weeks measure, never train")
            parser.add_argument("--holdout-share", type=float, help="instead: the most recent share of the decisions")
        if name == "promote":
            parser.add_argument("--early", action="store_true", help="before its shadow period ends")
        if name == "calibrate":
            parser.add_argument("--recall", type=float, required=True)
            parser.add_argument("--apply", action="store_true", help="put the proposed thresholds in force (audited)")
