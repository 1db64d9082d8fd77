"""The learning loop end to end, over the real database, worker runner, api and demo platform, and
the operator's command line as a real process: scripted traffic in which a known share of abuse is
written in a slang the shipped model never saw; a scripted QA reviewer who knows it. The error rates
the samples give hold the known rates in their intervals; a candidate trained from the decisions
is shadowed, gated and promoted, after which that slang goes to people; undoing it mid-traffic
loses no case and scores none twice.

LEARNING_CASES sets the traffic (default 1,200; the note's run used 4,000)."""

import json
import os
import threading
from datetime import UTC, datetime

import psycopg

from sqlalchemy import text

from shared import accuracy
from shared.domain import Status
from services.worker.analysis import Thresholds, assignments
from tests.quality.conftest import deliver
from tests.quality.traffic import moderator_decides, posts, qa_decides
from tests.support.arrange import case_row, decide, post_case, started
from tests.support.cli import vigil

CASES = int(os.environ.get("LEARNING_CASES", "1200"))
SHARES = {"clean": 0.5, "rough": 0.1, "abuse": 0.25, "slang": 0.15}
TENANT = "shop"


def run_traffic(runner, sessions, client, traffic, *, offset: int) -> dict:
    """The posts through intake, analysis, the moderators and QA; what each case was and became."""
    cases = {started(runner, sessions, post.text, tenant=TENANT): (offset + n, post) for n, post in enumerate(traffic)}
    first = {case_id: case_row(sessions, case_id).status for case_id in cases}
    for case_id, (index, post) in cases.items():
        if first[case_id] == Status.AWAITING_REVIEW:
            decide(sessions, case_id, moderator_decides(post, index=index), by="mod-ana")
            deliver(runner, sessions, case_id)
    for item in iter(lambda: client.post("/v1/qa/next", headers=client.as_("qa-quinn")), None):
        if item.status_code == 204:
            break
        [post] = [post for _, post in cases.values() if post.text == item.json()["content"]["text"]]
        decided = client.post(f"/v1/qa/{item.json()['sample_id']}/decision", headers=client.as_("qa-quinn"),
                              json=qa_decides(post))
        assert decided.status_code == 200, decided.text
    for case_id, (_, post) in cases.items():  # reopened by QA: a moderator new to it decides round 2
        if case_row(sessions, case_id).status == Status.RECEIVED:
            deliver(runner, sessions, case_id)
            decide(sessions, case_id, "remove", by="mod-ben")
            deliver(runner, sessions, case_id)
    return {case_id: (post, first[case_id], index) for case_id, (index, post) in cases.items()}


def known_rates(seen: dict) -> dict:
    closed = [post for post, status, _ in seen.values() if status == Status.AUTO_CLOSED]
    routed = [(post, index) for post, status, index in seen.values() if status == Status.AWAITING_REVIEW]
    pairs: dict = {}
    for post, index in routed:
        key = (moderator_decides(post, index=index), qa_decides(post)["decision"])
        pairs[key] = pairs.get(key, 0) + 1
    return {"miss_rate": sum(p.violating for p in closed) / len(closed),
            "false_alarm_rate": sum(not p.violating for p, _ in routed) / len(routed),
            "kappa": accuracy.kappa(pairs)[0]}


def analysed(sessions, case_id) -> list[dict]:
    with sessions() as session:
        return session.scalars(text("SELECT data -> 'analysis' FROM audit_events WHERE case_id = :c "
                                    "AND event = 'analysis_completed'"), {"c": case_id}).all()


def cli(settings, *args) -> str:
    done = vigil(settings, "analyser", *args)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_error_rates_hold_the_known_rates_and_a_candidate_learns_what_people_found(
        runner_with, client, sessions, settings, seeded_draws):
    runner = runner_with(qa_auto_rate=0.25, qa_human_rate=0.25)
    traffic = posts(CASES, seed=7, shares=SHARES)
    seen = {}
    for part in range(3):  # three weeks of traffic, each reviewed before the next
        chunk = traffic[part * CASES // 3:(part + 1) * CASES // 3]
        seen |= run_traffic(runner, sessions, client, chunk, offset=part * CASES // 3)

    # 1. the error rates from the samples, each with a 95% interval holding the rate over all cases
    known = known_rates(seen)
    rates = client.get("/v1/qa/accuracy", params={"from": "2026-01-01", "to": "2030-12-31"},
                       headers=client.as_("sup-cy")).json()["by_tenant"][TENANT]
    for name in ("miss_rate", "false_alarm_rate"):
        assert rates[name]["ci95_low"] <= known[name] <= rates[name]["ci95_high"], (name, known, rates[name])
    assert rates["agreement"]["ci95_low"] <= known["kappa"] <= rates["agreement"]["ci95_high"], (known, rates)
    assert rates["miss_rate"]["reviewed"] > 0.2 * sum(s == Status.AUTO_CLOSED for _, s, _ in seen.values())
    today = datetime.now(UTC).date().isoformat()
    shown = vigil(settings, "report", "accuracy", "--from", today, "--to", today)
    assert shown.returncode == 0 and shown.stdout.startswith(" " * 32 + " miss rate"), shown.stderr
    print(f"\n{CASES} cases; known rates {known}\n{shown.stdout}")

    # 2. a candidate from those decisions: trained, shadowed, gated, promoted
    trained = json.loads(cli(settings, "train", "--from-decisions", "--tenant", TENANT, "--holdout-share", "0.3",
                             "--public-sample", "500"))
    candidate = trained["model"]
    assert trained["trained_on"]["examples"] > 0 and trained["evaluation"]["passed"], json.dumps(trained["evaluation"], indent=1)
    held = trained["evaluation"]["sets"]["held_out_decisions"]
    assert held["recall_candidate"] > held["recall_in_force"]
    # a held-out decision weighs what it stands for (a sampled closure 1 / its rate): the model in
    # force's recall on them is its recall on the traffic, the missed slang in it, not on what people saw
    routed = [status == Status.AWAITING_REVIEW for post, status, _ in seen.values() if post.violating]
    print(f"recall in force: on the held-out decisions {held['recall_in_force_at_its_thresholds']}, "
          f"on the traffic {sum(routed) / len(routed):.4f}")
    assert abs(held["recall_in_force_at_its_thresholds"] - sum(routed) / len(routed)) < 0.1, held
    cli(settings, "shadow", "--tenant", TENANT, candidate, "--days", "1")
    live = posts(90, seed=8, shares=SHARES)
    shadowed = [started(runner, sessions, post.text, tenant=TENANT) for post in live]
    for case_id, post in zip(shadowed, live):  # the shadow never routes: slang still closes on its own
        [analysis] = analysed(sessions, case_id)
        assert analysis["shadow"]["model"] == candidate and analysis["models"]["fast"] != candidate
        if post.kind == "slang":
            assert case_row(sessions, case_id).status == Status.AUTO_CLOSED
    with sessions() as session:
        assert session.scalar(text("SELECT count(*) FROM shadow_scores WHERE model_id = :m"), {"m": candidate}) == 90
    promoted = cli(settings, "promote", "--tenant", TENANT, candidate, "--early", "--public-sample", "500")
    gate = json.loads(promoted[:promoted.rindex("}") + 1])
    assert gate["passed"] and gate["shadow"]["scored"] == 90
    assert set(gate["sets"]) == {"held_out_decisions", "hatecheck"}
    # the encoder never saw the slang: the gate gives it a smaller share of the band than the default,
    # yet not none, for without it the candidate falls below the margin on HateCheck (0.70 against 0.80)
    weight = gate["candidate_thresholds"]["encoder_weight"]
    assert 0 < weight < Thresholds().encoder_weight, gate["candidate_thresholds"]
    print(f"training: {json.dumps(trained['trained_on'])}\ngate at promotion: {json.dumps(gate, indent=1)}")

    # 3. the same kind of content now goes to a person, scored by the candidate
    after = posts(60, seed=9, shares={"slang": 0.5, "clean": 0.5})
    for post in after:
        case_id = started(runner, sessions, post.text, tenant=TENANT)
        [analysis] = analysed(sessions, case_id)
        assert analysis["models"]["fast"] == candidate and "shadow" not in analysis
        assert analysis["thresholds"]["encoder_weight"] == weight
    statuses = {}
    with sessions() as session:
        for post in after:
            statuses[post.text] = session.scalar(text("SELECT status FROM cases WHERE content ->> 'text' = :t"),
                                                 {"t": post.text})
    slang = [statuses[p.text] for p in after if p.kind == "slang"]
    clean = [statuses[p.text] for p in after if p.kind == "clean"]
    # measured: 27 of 36 (none before the promotion); the candidate alone scores 29 at or above review,
    # and the encoder, at the share HateCheck requires, keeps two of those closed
    assert slang.count(Status.AWAITING_REVIEW) >= 0.75 * len(slang), slang
    assert clean.count(Status.AUTO_CLOSED) >= 0.9 * len(clean), clean

    # 4. undone mid-traffic: every case rests, each analysed once, by one model or the other
    queued = [post_case(sessions, text=post.text, tenant=TENANT) for post in posts(80, seed=10, shares=SHARES)]
    done = threading.Event()
    handled = []

    def work():
        for case_id, message_id in queued:
            runner.handle(case_id=str(case_id), message_id=str(message_id), kind="start")
            handled.append(case_id)
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    while len(handled) < 20:
        done.wait(0.01)
    with psycopg.connect(settings.libpq_url) as conn:  # what `vigil analyser undo` runs (its own test: test_models.py)
        assignments.undo(conn, tenant=TENANT, by="test")
    worker.join()
    models = []
    for case_id, _ in queued:
        assert case_row(sessions, case_id).status in (Status.AUTO_CLOSED, Status.AWAITING_REVIEW)
        [analysis] = analysed(sessions, case_id)
        models.append(analysis["models"]["fast"])
    assert models[0] == candidate and models[-1] != candidate
    assert models == sorted(models, key=lambda m: m != candidate)  # switched once, and stayed switched
