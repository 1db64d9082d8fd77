"""Chaos: hundreds of cases through the whole lifecycle while workers, relays and dispatchers are
killed with SIGKILL, RabbitMQ restarts and the platform answers 503 for a while. At the end nothing
is lost, nothing happened twice, and the platform heard every change of every case, in order."""

import random
import subprocess
import threading
import time
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from demo.stack import Stack
from shared.models import AuditEvent, CaseEvent, OutboxMessage, WebhookDelivery
from tests.support.api import all_cases
from tests.support.processes import free_port

CASES = 300
APPEAL_EVERY = 3  # a third of the cases are appealed
DEADLINE = 420  # seconds for the whole flow
# Texts every analyser sends to review (the embedded one scores each of the 300 at 0.6 or more):
# this test is about losing nothing and doing nothing twice, not about the analyser's borderline.
TEXTS = [
    "You are a worthless idiot and everybody hates you, shut up you moron #{n}",
    "You are a disgusting worthless idiot, shut up you moron #{n}",
    "You worthless moron, shut up, nobody wants your garbage here #{n}",
]

pytestmark = pytest.mark.chaos


@pytest.fixture
def chaos_stack(settings, platform):
    # Generous retries: outages here last seconds, and a case may only fail if they outlast them.
    # Callbacks retry within seconds here, for the same reason.
    settings = settings.model_copy(update={"step_max_attempts": 10, "platform_retries": 5, "platform_retry_wait": 0.2,
                                           "webhook_backoff_base": 0.2, "webhook_backoff_max": 2.0})
    stack = Stack(settings, api_port=free_port())
    try:
        stack.start_api()
        for _ in range(2):
            stack.start_relay()
            stack.start_worker(threads=4)
            stack.start_dispatcher()
        yield stack
    finally:
        stack.stop()


RESTARTS = {"worker": lambda stack: stack.start_worker(threads=4), "relay": lambda stack: stack.start_relay(),
            "dispatcher": lambda stack: stack.start_dispatcher()}


class Monkey(threading.Thread):
    """Kills a random worker, relay or dispatcher every few seconds and starts a new one in its
    place; restarts RabbitMQ once and makes the platform fail for a while once (its callbacks too)."""

    def __init__(self, stack: Stack, platform: httpx.Client) -> None:
        super().__init__(daemon=True)
        self.stack, self.platform = stack, platform
        self.stop = threading.Event()
        self.kills = dict.fromkeys(RESTARTS, 0)
        self.rabbit_restarts = 0
        self.platform_outages = 0

    def run(self) -> None:
        chaos = random.Random(7)
        rounds = 0
        while not self.stop.wait(chaos.uniform(1.0, 2.5)):
            rounds += 1
            victims = [p for p in self.stack.processes if p.name in RESTARTS and p.alive()]
            victim = chaos.choice(victims)
            victim.kill()
            self.stack.processes.remove(victim)
            self.kills[victim.name] += 1
            RESTARTS[victim.name](self.stack)
            if rounds == 3:
                subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
                time.sleep(3)
                subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)
                self.rabbit_restarts += 1
            if rounds == 5:
                self.platform.post("/_admin/faults", json={"status": 503, "seconds": 3}).raise_for_status()
                self.platform_outages += 1


CALLBACK_SECRET = "chaos-callback-secret-0123456789"


def test_nothing_lost_nothing_twice_under_chaos(chaos_stack, keys, fresh_platform, sessions, settings):
    clients = {name: httpx.Client(base_url=chaos_stack.api_url, headers={"X-API-Key": key}, timeout=10) for name, key in keys.items()}
    fresh_platform.post("/_admin/callback-secret", json={"secret": CALLBACK_SECRET}).raise_for_status()
    hook = clients["admin"].post("/v1/webhooks", json={"url": f"{settings.platform_url}/callbacks", "events": ["*"],
                                                       "secret": CALLBACK_SECRET})
    assert hook.status_code == 201, hook.text
    tag = uuid.uuid4().hex[:6]
    cases: dict[str, dict] = {}
    for n in range(CASES):
        author = f"chaos-{tag}-{n}"
        answer = clients["upstream"].post("/v1/cases", json={
            "external_id": f"chaos-{tag}-{n}", "content": {"text": TEXTS[n % len(TEXTS)].format(n=n), "author_id": author}})
        assert answer.status_code == 202, answer.text
        cases[answer.json()["case_id"]] = {"author": author, "appeal": n % APPEAL_EVERY == 0, "appealed": False}

    monkey = Monkey(chaos_stack, fresh_platform)
    monkey.start()
    conflicts = 0
    deadline = time.monotonic() + DEADLINE
    try:
        while time.monotonic() < deadline:
            for case in all_cases(clients["mod-ana"], "awaiting_review"):
                script = cases[case["case_id"]]
                person, decision = ("mod-ana", "warn") if case["review_round"] == 1 else ("sup-dee", "dismiss")
                answer = clients[person].post(f"/v1/cases/{case['case_id']}/resume", json={"decision": decision})
                conflicts += answer.status_code == 409
            closed = all_cases(clients["sup-cy"], "closed")
            for case in closed:
                script = cases[case["case_id"]]
                if script["appeal"] and not script["appealed"]:
                    answer = clients["sup-cy"].post(f"/v1/cases/{case['case_id']}/rollback", json={"reason": "chaos appeal"})
                    script["appealed"] = answer.status_code == 202 or script["appealed"]
            finished = {c["case_id"] for c in closed if not cases[c["case_id"]]["appeal"] or c["review_round"] == 2}
            if len(finished) == CASES:
                break
            time.sleep(0.5)
    finally:
        monkey.stop.set()
        monkey.join()

    final = {case_id: clients["admin"].get(f"/v1/cases/{case_id}").json() for case_id in cases}
    unheard, out_of_order, dead = callbacks_missed(sessions, fresh_platform)
    wrong = {case_id: (c["status"], c["review_round"]) for case_id, c in final.items()
             if (c["status"], c["review_round"]) != ("closed", 2 if cases[case_id]["appeal"] else 1)}
    effects = fresh_platform.get("/_admin/effects").json()
    double_effects = []
    for case_id, script in cases.items():
        user = fresh_platform.get(f"/users/{script['author']}").json()
        expected_warnings = 0 if script["appeal"] else 1
        if user["warnings"] != expected_warnings:
            double_effects.append((script["author"], user["warnings"]))
    with sessions() as session:
        unpublished = session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None)))
        trails = dict(session.execute(
            select(AuditEvent.case_id, func.array_agg(AuditEvent.event)).group_by(AuditEvent.case_id)).all())
    incomplete = [case_id for case_id, script in cases.items()
                  if trails.get(uuid.UUID(case_id), []).count("decision_made") != (2 if script["appeal"] else 1)
                  or trails.get(uuid.UUID(case_id), []).count("closed") != (2 if script["appeal"] else 1)]

    print(f"\nchaos: {CASES} cases, {sum(s['appeal'] for s in cases.values())} appealed; "
          f"killed {monkey.kills['worker']} workers, {monkey.kills['relay']} relays and "
          f"{monkey.kills['dispatcher']} dispatchers; "
          f"RabbitMQ restarted {monkey.rabbit_restarts}x; platform outages {monkey.platform_outages}; "
          f"409s seen {conflicts}")
    print(f"chaos: wrong final state {len(wrong)}, unpublished outbox rows {unpublished}, "
          f"incomplete audit trails {len(incomplete)}, users with a wrong warning count {len(double_effects)}, "
          f"platform calls {len(fresh_platform.get('/calls').json())}, targets with effects {len(effects)}")
    print(f"chaos: callbacks heard {len(fresh_platform.get('/callbacks').json())}; events never heard {len(unheard)}, "
          f"cases heard out of order {len(out_of_order)}, dead deliveries {dead}")
    assert wrong == {}
    assert unpublished == 0
    assert incomplete == []
    assert double_effects == []
    assert unheard == [] and out_of_order == [] and dead == 0


def callbacks_missed(sessions, platform: httpx.Client) -> tuple[list, list, int]:
    """Waits for the dispatchers to settle every delivery, then compares what the platform heard
    (at least once) with the events on record: each event heard, and each case's events first
    heard in the order they happened."""

    def pending() -> int:
        with sessions() as session:
            return session.scalar(select(func.count()).select_from(WebhookDelivery)
                                  .where(WebhookDelivery.status == "pending"))

    deadline = time.monotonic() + 120
    while pending() and time.monotonic() < deadline:
        time.sleep(0.5)
    with sessions() as session:
        dead = session.scalar(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "dead"))
        recorded: dict[str, list[str]] = {}
        for case_id, event_id in session.execute(select(CaseEvent.case_id, CaseEvent.id).order_by(CaseEvent.seq)):
            recorded.setdefault(str(case_id), []).append(str(event_id))
    heard: dict[str, list[str]] = {}
    for kept in platform.get("/callbacks").json():
        firsts = heard.setdefault(kept["body"]["case_id"], [])
        if kept["body"]["id"] not in firsts:  # at least once: a repeat after a crash is allowed
            firsts.append(kept["body"]["id"])
    unheard = [event for case_id, events in recorded.items() for event in events if event not in heard.get(case_id, [])]
    out_of_order = [case_id for case_id, events in recorded.items() if heard.get(case_id, []) != events]
    return unheard, out_of_order, dead
