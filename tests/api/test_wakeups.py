"""Decisions share the api's NOTIFY budget with new cases: the first command of a burst wakes the
relays at once, the ones right after it only queue their outbox row (a woken relay keeps polling
while it finds work), and a refused command uses up no wake-up."""

import psycopg
from sqlalchemy import func, select

from shared.db import OUTBOX_CHANNEL
from shared.models import OutboxMessage
from shared.transitions import Wakeups
from services.api.commits import Decisions


def notifications_during(settings, work) -> int:
    with psycopg.connect(settings.libpq_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
        work()
        return sum(1 for _ in listener.notifies(timeout=0.5))


def one_burst(app) -> None:
    """The whole test is one burst: the api's wake-ups (which its decisions use) go out at most once a minute."""
    app.state.wakeups = Wakeups(interval=60)
    app.state.decisions = Decisions(pool=app.state.pool, wakeups=app.state.wakeups)


def test_a_burst_of_decisions_wakes_the_relays_once(client, case_in, sessions, settings, app):
    cases = [case_in("awaiting_review") for _ in range(3)]
    one_burst(app)

    def decide_all():
        for case_id in cases:
            answer = client.post(f"/v1/cases/{case_id}/resume", json={"decision": "warn"}, headers=client.as_("mod-ana"))
            assert answer.status_code == 202

    assert notifications_during(settings, decide_all) == 1
    with sessions() as session:  # every decision is queued all the same
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 3


def test_a_refused_decision_uses_up_no_wake_up(client, case_in, settings, app):
    closed, waiting = case_in("closed"), case_in("awaiting_review")
    one_burst(app)

    def refused_then_accepted():
        refused = client.post(f"/v1/cases/{closed}/resume", json={"decision": "warn"}, headers=client.as_("mod-ana"))
        assert refused.status_code == 409
        accepted = client.post(f"/v1/cases/{waiting}/resume", json={"decision": "warn"}, headers=client.as_("mod-ana"))
        assert accepted.status_code == 202

    assert notifications_during(settings, refused_then_accepted) == 1
