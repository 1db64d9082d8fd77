"""Models as versions: the registry, each tenant's assignment changed by the operator's command
line (a real process) and taken up by a worker without a restart, undone at once; what training
may learn from; thresholds from a tenant's own decisions."""

import json
import math
from dataclasses import replace
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import text

from shared.domain import Status
from services.scheduler.retention import purge_final_cases
from services.worker.analysis import EmbeddedAnalyser, Thresholds, assignments, learning
from services.worker.analysis.adapt import Example, adapt
from services.worker.analysis.embedded import CASCADE, fast_abuse, together
from services.worker.analysis.evaluate import curve
from services.worker.analysis.textmodel import shipped_model
from tests.quality.conftest import deliver, samples
from tests.quality.traffic import posts, qa_decides
from tests.support.arrange import case_row, decide, started
from tests.support.cli import vigil

SLANG = "Typical zorblak move by Sam at the quiz night."


@pytest.fixture(scope="module")
def candidate():
    """A model that learned one slang word from a few examples."""
    examples = [Example(text=p.text, abuse=int(p.violating), spam=0 if not p.violating else None)
                for p in posts(300, seed=5, shares={"clean": 0.6, "slang": 0.4})]
    return adapt(shipped_model(), examples)


def register(settings, model, *, tenant: str) -> str:
    with psycopg.connect(settings.libpq_url) as conn:
        return assignments.register(conn, model=model, tenant=tenant, trained_on={}, evaluation={}, by="test")


def analysis_of(runner, sessions, text_: str, *, tenant: str) -> dict:
    case_id = started(runner, sessions, text_, tenant=tenant)
    return case_row(sessions, case_id).analysis


def test_a_switch_takes_effect_without_a_restart_is_on_record_and_is_undone_at_once(
        runner_with, sessions, settings, candidate):
    runner = runner_with()
    model_id = register(settings, candidate, tenant="shop")
    shipped = shipped_model().version
    assert analysis_of(runner, sessions, SLANG, tenant="shop")["models"]["fast"] == shipped

    done = vigil(settings, "analyser", "activate", "--tenant", "shop", model_id, "--reason", "learned the slang")
    assert done.returncode == 0 and f"model {model_id}" in done.stdout, done.stderr
    switched = analysis_of(runner, sessions, SLANG, tenant="shop")
    assert switched["models"]["fast"] == model_id and switched["needs_review"]
    assert analysis_of(runner, sessions, SLANG, tenant="forum")["models"]["fast"] == shipped  # another tenant's

    assert vigil(settings, "analyser", "undo", "--tenant", "shop").returncode == 0
    assert analysis_of(runner, sessions, SLANG, tenant="shop")["models"]["fast"] == shipped
    history = json.loads(vigil(settings, "analyser", "history", "--tenant", "shop").stdout)
    assert [(h["version"], h["model_id"], h["change"]) for h in history] == [
        (2, shipped, "undo of version 1"), (1, model_id, "activate: learned the slang")]
    assert all(h["created_by"].startswith("cli:") for h in history)
    with psycopg.connect(settings.libpq_url) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute("UPDATE model_assignments SET model_id = model_id")
    models = json.loads(vigil(settings, "analyser", "models").stdout)
    assert {m["id"]: m["origin"] for m in models} == {shipped: "shipped", model_id: "decisions"}


def test_a_tenants_model_serves_that_tenant_only_and_a_file_that_does_not_load_is_refused(
        runner_with, sessions, settings, candidate, caplog):
    model_id = register(settings, candidate, tenant="shop")
    refused = vigil(settings, "analyser", "activate", "--tenant", "forum", model_id, "--reason", "borrow it")
    assert refused.returncode == 2 and "serves that tenant only" in refused.stderr
    with psycopg.connect(settings.libpq_url) as conn:
        conn.execute("INSERT INTO analyser_models (id, tenant, origin, body, created_by) "
                     "VALUES ('textmodel@0badf11e', 'shop', 'decisions', 'not a model', 'test')")
    corrupt = vigil(settings, "analyser", "activate", "--tenant", "shop", "textmodel@0badf11e", "--reason", "x")
    assert corrupt.returncode != 0 and "0badf11e" in corrupt.stderr

    # put in force behind the command's back: the worker says so and keeps the model it had
    runner = runner_with()
    assert vigil(settings, "analyser", "activate", "--tenant", "shop", model_id, "--reason", "ok").returncode == 0
    assert analysis_of(runner, sessions, SLANG, tenant="shop")["models"]["fast"] == model_id
    with psycopg.connect(settings.libpq_url) as conn:
        conn.execute("INSERT INTO model_assignments (tenant, version, model_id, change, created_by) "
                     "VALUES ('shop', 99, 'textmodel@0badf11e', 'by hand', 'someone')")
    assert analysis_of(runner, sessions, SLANG, tenant="shop")["models"]["fast"] == model_id
    assert "tenant shop keeps its model" in caplog.text


def test_training_learns_only_from_the_tenants_own_cases_still_kept(runner_with, sessions, engine, settings):
    runner = runner_with(qa_human_rate=0.0, qa_auto_rate=0.0)
    abusive = "You are a worthless idiot and everybody hates you, shut up you moron"
    ours = [started(runner, sessions, f"{abusive} {n}", tenant="shop") for n in range(3)]
    theirs = started(runner, sessions, f"{abusive} theirs", tenant="forum")
    for case_id in [*ours, theirs]:
        decide(sessions, case_id, "remove", by="mod-ana")
        deliver(runner, sessions, case_id)
    with engine.begin() as conn:  # the first of ours is purged by retention
        conn.execute(text("UPDATE cases SET final_at = now() - interval '10 days' WHERE id = :c"), {"c": ours[0]})
        assert purge_final_cases(conn, keep_days=1).cases == 1
    with psycopg.connect(settings.libpq_url) as conn:
        judged = learning.judged(conn, tenant="shop")
    assert sorted(j.case_id for j in judged) == sorted(map(str, ours[1:]))
    assert all(j.violating and j.head == "abuse" for j in judged)


def moderated_and_sampled(runner, client, sessions, traffic) -> dict:
    """The posts through analysis, a moderator who is always right, and a QA reviewer who reviews every
    sample; each case's status after its first analysis."""
    cases = {started(runner, sessions, post.text, tenant="shop"): post for post in traffic}
    first = {case_id: case_row(sessions, case_id).status for case_id in cases}
    for case_id, post in cases.items():
        if first[case_id] == Status.AWAITING_REVIEW:
            decide(sessions, case_id, "remove" if post.violating else "dismiss", by="mod-ana")
            deliver(runner, sessions, case_id)
    by_text = {post.text: post for post in traffic}
    while (item := client.post("/v1/qa/next", headers=client.as_("qa-quinn"))).status_code == 200:
        client.post(f"/v1/qa/{item.json()['sample_id']}/decision", headers=client.as_("qa-quinn"),
                    json=qa_decides(by_text[item.json()["content"]["text"]]))
    return first


def test_a_sampled_closure_stands_for_its_rate_through_the_round_its_finding_reopened(
        runner_with, client, sessions, settings, seeded_draws):
    runner = runner_with(qa_auto_rate=0.25, qa_human_rate=0.0)
    first = moderated_and_sampled(runner, client, sessions,
                                  posts(60, seed=12, shares={"clean": 0.4, "slang": 0.4, "abuse": 0.2}))
    reopened = [case_id for case_id in first if case_row(sessions, case_id).status == Status.RECEIVED]
    for case_id in reopened:  # the slang the sample found goes to a moderator new to it
        deliver(runner, sessions, case_id)
        decide(sessions, case_id, "remove", by="mod-ben")
        deliver(runner, sessions, case_id)
    rates = {str(s["case_id"]): s["rate"] for s in samples(sessions, kind="auto")}
    with psycopg.connect(settings.libpq_url) as conn:
        weights = {j.case_id: j.weight for j in learning.judged(conn, tenant="shop")}
    assert reopened and set(map(str, reopened)) < set(rates)
    # a closure found by a sample weighs for the cases it stands for, whether its reviewer's word is the
    # judgement or a moderator's decision in the round the finding reopened; a case people saw first, 1
    assert {case_id: weights[case_id] for case_id in rates} == {case_id: 1 / rate for case_id, rate in rates.items()}
    assert all(weights[str(case_id)] == 1 for case_id, status in first.items() if status == Status.AWAITING_REVIEW)


def test_calibration_finds_the_threshold_that_reaches_the_recall_and_applying_it_is_audited(
        runner_with, client, sessions, settings, seeded_draws):
    runner = runner_with(qa_auto_rate=0.5, qa_human_rate=0.0)
    moderated_and_sampled(runner, client, sessions, posts(120, seed=11, shares={"clean": 0.5, "slang": 0.3, "abuse": 0.2}))

    done = vigil(settings, "analyser", "calibrate", "--tenant", "shop", "--recall", "0.9")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    chosen = found["chosen"]
    assert chosen["recall"] >= 0.9 and chosen["threshold"] < 0.5  # the slang scores low: a lower bar catches it
    higher = [p for p in found["sweep"] if p["threshold"] > chosen["threshold"]]
    assert all(p["recall"] < 0.9 for p in higher)  # the highest threshold that reaches it
    # the cascade is on by default: the band stays, but for its low edge where the bar falls below it
    below = {"band_low": chosen["threshold"]} if chosen["threshold"] < Thresholds().band_low else {}
    assert found["proposal"] == {"review": chosen["threshold"], "spam_review": chosen["threshold"]} | below
    assert found["reviews_per_day"] == round(chosen["review_share"] * found["cases_per_day"], 1) > 0

    applied = vigil(settings, "analyser", "calibrate", "--tenant", "shop", "--recall", "0.9", "--apply")
    assert applied.returncode == 0 and "thresholds" in applied.stdout.splitlines()[-1], applied.stderr
    [latest, *_] = json.loads(vigil(settings, "analyser", "history", "--tenant", "shop").stdout)
    assert latest["change"] == "calibrate to recall 0.9" and latest["thresholds"]["review"] == chosen["threshold"]
    after = analysis_of(runner, sessions, SLANG, tenant="shop")
    assert after["thresholds"]["review"] == chosen["threshold"] and after["stage"] == "encoder"
    assert after["needs_review"] == (after["scores"]["abuse_cascade"] >= chosen["threshold"])


def test_a_calibrated_bar_moves_an_empty_band_and_a_cascades_low_edge_only_when_below_it():
    assert learning._thresholds_for(Thresholds(band_low=0.5, band_high=0.5), 0.3) == {
        "review": 0.3, "spam_review": 0.3, "band_low": 0.3, "band_high": 0.3}
    assert learning._thresholds_for(CASCADE, 0.3) == {"review": 0.3, "spam_review": 0.3}
    assert learning._thresholds_for(CASCADE, 0.05) == {"review": 0.05, "spam_review": 0.05, "band_low": 0.05}


def test_calibration_sweeps_a_bar_below_the_band_as_it_would_route():
    # the fast model scores this 0.08, below the band's low edge: it closes whatever the bar, unless the
    # bar takes the edge down with it; then the encoder reads it too, and the two together close it
    texts = ["Mia said the school concert moved to the weekend."]
    rows = [learning.Judged("1", texts[0], True, "abuse", datetime.now(UTC), 1.0)]
    sweep = {p["threshold"]: p["recall"] for p in learning.calibrate(
        EmbeddedAnalyser(thresholds=CASCADE), rows, recall=1.0)["sweep"]}
    for threshold, recall in sweep.items():
        lowered = replace(CASCADE, **learning._thresholds_for(CASCADE, threshold))
        [routed] = EmbeddedAnalyser(thresholds=lowered).analyse_many(texts)
        assert recall == routed.needs_review, (threshold, routed.scores)
        assert routed.stage == ("encoder" if threshold < CASCADE.band_low else "fast"), threshold
    assert sweep[0.05] == 0.0  # its fast score alone (0.08) would have reached the bar


def test_in_the_band_a_tenants_model_adds_in_full_what_it_learnt_beyond_the_shipped_one():
    # a model that saw the slang 10 times: unsure of it (0.84), yet far surer than the shipped model (0.19);
    # the encoder never saw the word (0.04) and corrects the shipped model's view, not the tenant's
    few = adapt(shipped_model(), [Example(text=p.text, abuse=int(p.violating), spam=0 if not p.violating else None)
                                  for p in posts(20, seed=5, shares={"clean": 0.6, "slang": 0.4})])
    analysis = EmbeddedAnalyser(thresholds=CASCADE).with_model(few, thresholds=CASCADE).analyse(text=SLANG)
    scores = analysis.scores
    fast, encoder = max(scores["abuse"], scores["abuse_top_sentence"]), scores["abuse_encoder"]
    shipped = fast_abuse(SLANG, model=shipped_model())[1]
    assert analysis.stage == "encoder" and scores["abuse_shipped"] == round(shipped, 4) < 0.5 <= fast
    odds = (1 - CASCADE.encoder_weight) * logit(shipped) + CASCADE.encoder_weight * logit(encoder) + logit(fast) - logit(shipped)
    assert scores["abuse_cascade"] == pytest.approx(1 / (1 + math.exp(-odds)), abs=1e-3)
    assert analysis.needs_review  # the tenant's score mixed with the encoder's would have closed it:
    assert together(fast, encoder, weight=CASCADE.encoder_weight) < CASCADE.review
    # the shipped model records no score of its own beside it
    assert "abuse_shipped" not in EmbeddedAnalyser(thresholds=CASCADE).analyse(text=SLANG).scores


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_the_gate_weighs_a_candidate_that_knows_the_slang_above_the_encoder(candidate):
    # with the cascade on, the shipped encoder has never seen the made-up slang: on decisions about it,
    # the weight that ranks them best leaves the encoder a smaller share than the default
    cascade = EmbeddedAnalyser(thresholds=CASCADE)
    held = [(p.text, int(p.violating), 1.0)
            for p in posts(120, seed=21, shares={"clean": 0.3, "slang": 0.3, "rough": 0.2, "abuse": 0.2})]
    weight = learning.encoder_weight(cascade.with_model(candidate, thresholds=cascade.thresholds), held)
    assert weight < cascade.thresholds.encoder_weight


def test_the_gate_keeps_the_weight_in_force_where_no_weight_ranks_better():
    # texts the fast model is sure of never reach the band: every weight ranks them alike, and the
    # gate keeps the tenant's own (not the default, not the grid's first)
    own = replace(CASCADE, encoder_weight=0.7)
    held = [("fuck you bitch", 1, 1.0), ("fuck off you stupid bitch", 1, 1.0),
            ("Thanks for the lift home, see you on Monday", 0, 1.0), ("Happy birthday, have a great day", 0, 1.0)]
    assert learning.encoder_weight(EmbeddedAnalyser(thresholds=own), held) == 0.7


def test_a_sampled_closure_weighs_in_the_gate_for_the_cases_it_stands_for():
    # the slang closed on its own and a 25% sample found it: that one decision stands for four cases,
    # so the model in force caught 1 of 5 abusive cases, not 1 of 2, and flagged 1 of 5 clean ones
    held = [("fuck off you stupid bitch", 1, 1.0), (SLANG, 1, 4.0),
            ("fuck yeah, what a goal", 0, 1.0), ("Happy birthday, have a great day", 0, 4.0)]
    point = learning.operating_point(EmbeddedAnalyser(), held)
    assert (point["recall"], point["fpr"]) == (pytest.approx(0.2), pytest.approx(0.2))
    assert learning.recall_at(point["pairs"], point["fpr"]) == pytest.approx(0.2)
    # ranked by what they stand for: the slang below a clean text costs four times what it would
    assert point["auc"] < curve([(label, score) for label, score, _ in point["pairs"]])["auc"]
