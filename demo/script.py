"""`vigil demo`: the whole stack on local services, sample cases through review and appeal.

Starts the demo platform, a stand-in for the DSA Transparency Database, api, relay, scheduler and a
worker as separate processes, posts the sample cases as an upstream forum would, reviews the paused
ones as a moderator, has a supervisor appeal one decision and a second supervisor review it again,
forwards an author's complaint that a second moderator reviews, has a QA reviewer look blind at the
cases that closed on its own (every one is drawn in the demo) and find one violating, which a
moderator then decides, and prints the error rates that gives, each case's path and the platform's
final state. Every action call is signed (the platform refuses one that is not). A
dispatcher delivers every change to the platform's /callbacks, signed, and the statements of
reasons to the database stand-in with its token; the demo prints what each case's callbacks said,
one callback in full, and what the database stored.
"""

import json
import secrets
import time
import uuid
from importlib.resources import files

import httpx
from pydantic import SecretStr
from sqlalchemy import delete

from demo.processes import free_port, wait_until
from demo.stack import Stack
from shared import accuracy
from shared.db import make_engine, make_sessionmaker, transaction
from shared.domain import Role
from shared.keys import create_key
from shared.migrate import migrate
from shared.models import ApiKey
from shared.settings import Settings

PEOPLE = {
    "demo-forum": Role.UPSTREAM,
    "mod-alex": Role.MODERATOR,
    "mod-robin": Role.MODERATOR,
    "sup-sam": Role.SUPERVISOR,
    "sup-kim": Role.SUPERVISOR,
    "ops-admin": Role.ADMIN,
    "qa-quinn": Role.QA,
}
SHORT = {"awaiting_review": "review", "rolling_back": "rollback", "executing": "exec", "analyzing": "analyze"}
RESTING = {"auto_closed", "awaiting_review", "closed", "failed"}


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _issue_keys(settings: Settings) -> dict[str, str]:
    engine = make_engine(settings, pool_size=1)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            session.execute(delete(ApiKey).where(ApiKey.name.in_(PEOPLE)))  # the demo's own keys only
            return {name: create_key(session, role=role, name=name) for name, role in PEOPLE.items()}
    finally:
        engine.dispose()


def _port(preferred: int) -> int:
    try:
        httpx.get(f"http://127.0.0.1:{preferred}/", timeout=0.5)
    except httpx.TransportError:
        return preferred  # nothing answers there: the port is ours
    return free_port()


class Demo:
    def __init__(self, api_url: str, keys: dict[str, str], platform_url: str) -> None:
        self.clients = {name: httpx.Client(base_url=api_url, headers={"X-API-Key": key}, timeout=10) for name, key in keys.items()}
        self.platform = httpx.Client(base_url=platform_url, timeout=10)
        self.webhook_id: str | None = None

    def subscribe_platform(self, platform_url: str) -> None:
        """The platform hears of every change through its /callbacks, signed with a secret it knows.
        The demo's earlier subscribers (another run's platform) are removed first."""
        admin = self.clients["ops-admin"]
        for hook in admin.get("/v1/webhooks").raise_for_status().json():
            if hook["created_by"] == "ops-admin":
                admin.delete(f"/v1/webhooks/{hook['id']}").raise_for_status()
        secret = secrets.token_urlsafe(24)
        self.platform.post("/_admin/callback-secret", json={"secret": secret}).raise_for_status()
        hook = admin.post("/v1/webhooks", json={"url": f"{platform_url}/callbacks", "events": ["*"], "secret": secret})
        self.webhook_id = hook.raise_for_status().json()["id"]
        print(f"   webhook {self.webhook_id[:8]} sends every event to {platform_url}/callbacks")

    def wait(self, case_id: str, statuses: set[str], *, round: int = 1) -> dict:
        seen: dict = {}

        def arrived() -> bool:
            seen.update(self.clients["mod-alex"].get(f"/v1/cases/{case_id}").json())
            return seen["status"] in statuses and seen["review_round"] >= round

        wait_until(arrived, timeout=120, interval=0.2, what=f"case {case_id} to reach {statuses}")
        return seen

    def decide(self, person: str, case_id: str, decision: str, note: str | None = None) -> None:
        body = {"decision": decision} | ({"note": note} if note else {})
        answer = self.clients[person].post(f"/v1/cases/{case_id}/resume", json=body)
        answer.raise_for_status()
        print(f"   {person:9} decides {decision:15} on {case_id[:8]}" + (f"  ({note})" if note else ""))

    def path(self, case_id: str) -> str:
        events = self.clients["mod-alex"].get(f"/v1/cases/{case_id}/events").json()
        steps = ["received"]
        for event in events:
            if event["to_status"] and event["to_status"] != steps[-1]:
                steps.append(event["to_status"])
        return " → ".join(SHORT.get(step, step) for step in steps)

    def platform_state(self, external_id: str, author_id: str) -> str:
        content = self.platform.get(f"/content/{external_id}").json()
        user = self.platform.get(f"/users/{author_id}").json()
        return (f"{'visible' if content['visible'] else 'REMOVED'}; {author_id}: "
                f"{'BANNED' if user['banned'] else 'active'}, {user['warnings']} warning(s)")


def _print_table(rows: list[tuple[str, ...]]) -> None:
    headers = ("case", "label", "analysis", "path", "actions", "platform now")
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join("{:<%d}" % width for width in widths)
    print(line.format(*headers))
    print(line.format(*("-" * width for width in widths)))
    for row in rows:
        print(line.format(*row))


def run(settings: Settings, *, serve: bool) -> None:
    started = time.monotonic()
    _say("migrating the database")
    migrate(settings)
    keys = _issue_keys(settings)

    platform_port, database_port = _port(int(settings.platform_url.rsplit(":", 1)[1])), _port(8300)
    token = secrets.token_urlsafe(24)  # the forum's token at the (stand-in) Transparency Database
    settings = settings.model_copy(update={
        "platform_url": f"http://127.0.0.1:{platform_port}",
        "platform_secret": settings.platform_secret or SecretStr(secrets.token_urlsafe(24)),  # every action call signed
        "statements_url": f"http://127.0.0.1:{database_port}/api/v1/statements",
        "statements_kind": "dsa-transparency-db", "statements_secret": SecretStr(token),
        "qa_auto_rate": 1.0})  # every case that closes on its own gets a blind second look, for the demo
    stack = Stack(settings, api_port=_port(8000))
    _say("starting demo platform, Transparency Database stand-in, api, relay, scheduler, dispatcher and worker "
         "as separate processes")
    try:
        stack.start_platform()
        httpx.post(f"{settings.platform_url}/_admin/platform-secret",
                   json={"secret": settings.platform_secret.get_secret_value()}).raise_for_status()
        stack.start_transparency_db(database_port)
        database = httpx.Client(base_url=f"http://127.0.0.1:{database_port}", timeout=10)
        database.post("/_admin/tokens", json={"token": token, "platform": "demo-forum"}).raise_for_status()
        stack.start_api()
        stack.start_relay()
        stack.start_scheduler()
        stack.start_dispatcher()
        stack.start_worker(threads=4)
        print(f"   api {stack.api_url} (moderator page at /, OpenAPI at /docs), platform {settings.platform_url}"
              f" (refuses an action call without Vigil's signature), Transparency Database {database.base_url}")
        demo = Demo(stack.api_url, keys, settings.platform_url)
        demo.subscribe_platform(settings.platform_url)
        samples = _walk_through(demo)
        _print_callbacks(demo, samples)
        _print_submissions(demo, database)
        print(f"\n(demo took {time.monotonic() - started:.1f} s; process logs in {stack.processes[0].log_path.parent})")
        if serve:
            _serve(stack, keys)
    finally:
        stack.stop()


def _walk_through(demo: Demo) -> list[dict]:
    samples = json.loads((files("demo") / "cases.json").read_text())
    run_tag = uuid.uuid4().hex[:6]  # the demo can run again on the same database
    _say(f"posting {len(samples)} cases as the upstream forum")
    for sample in samples:
        sample["external_id"] = f"{sample['id']}-{run_tag}"
        answer = demo.clients["demo-forum"].post("/v1/cases", json={
            "external_id": sample["external_id"],
            "content": {"text": sample["text"], "author_id": sample["author_id"]},
            "metadata": {"label": sample["label"]},
        })
        answer.raise_for_status()
        sample["case_id"] = answer.json()["case_id"]

    _say("the moderator reviews what the analyser paused")
    for sample in samples:
        case = demo.wait(sample["case_id"], RESTING)
        sample["analysis"] = f"{case['analysis']['category']}/{case['analysis']['severity']}" if case["analysis"] else "-"
        if case["status"] != "awaiting_review":
            continue
        if note := sample.get("reanalyze_note"):
            demo.decide("mod-alex", sample["case_id"], "reanalyze", note)
            demo.wait(sample["case_id"], {"awaiting_review"})
        demo.decide("mod-alex", sample["case_id"], sample.get("decision", "dismiss"))

    appealed = [sample for sample in samples if "appeal" in sample]
    for sample in appealed:
        demo.wait(sample["case_id"], {"closed"})
        _say(f"supervisor sup-sam appeals {sample['case_id'][:8]} ({sample['label']})")
        print("   before the appeal:", demo.platform_state(sample["external_id"], sample["author_id"]))
        demo.clients["sup-sam"].post(f"/v1/cases/{sample['case_id']}/rollback",
                                     json={"reason": sample["appeal"]["reason"]}).raise_for_status()
        demo.wait(sample["case_id"], {"awaiting_review"}, round=2)
        print("   after the rollback: ", demo.platform_state(sample["external_id"], sample["author_id"]))
        refused = demo.clients["mod-alex"].post(f"/v1/cases/{sample['case_id']}/resume", json={"decision": "dismiss"})
        print(f"   mod-alex may not decide the second round: {refused.status_code} {refused.json().get('message')}")
        demo.decide("sup-kim", sample["case_id"], sample["appeal"]["second_decision"])

    for sample in [sample for sample in samples if "complaint" in sample]:
        complaint = sample["complaint"]
        demo.wait(sample["case_id"], {"closed"})
        _say(f"the forum forwards a complaint by the author of {sample['case_id'][:8]} ({sample['label']}, "
             f"{complaint['basis']})")
        demo.clients["demo-forum"].post(f"/v1/cases/{sample['case_id']}/complaints", json={
            "complainant": complaint["complainant"], "basis": complaint["basis"], "text": complaint["text"],
            "reference": f"complaint-{sample['external_id']}"}).raise_for_status()
        demo.wait(sample["case_id"], {"awaiting_review"}, round=2)
        refused = demo.clients["mod-alex"].post(f"/v1/cases/{sample['case_id']}/resume", json={"decision": "dismiss"})
        print(f"   mod-alex may not review it: {refused.status_code} {refused.json().get('message')}")
        demo.decide("mod-robin", sample["case_id"], complaint["second_decision"])

    _quality_review(demo, samples)

    _say("where every case ended")
    rows = []
    for sample in samples:
        case = demo.wait(sample["case_id"], {"auto_closed", "closed", "failed"})
        actions = ", ".join(
            f"{action['kind']}{'' if action['status'] == 'confirmed' else '(' + action['status'] + ')'}"
            for action in case["actions"]
        ) or "-"
        rows.append((sample["case_id"][:8], sample["label"], sample["analysis"], demo.path(sample["case_id"]),
                     actions, demo.platform_state(sample["external_id"], sample["author_id"])))
    _print_table(rows)
    _statement_and_figures(demo, samples)
    return samples


def _quality_review(demo: Demo, samples: list[dict]) -> None:
    _say("QA reviewer qa-quinn looks again, blind, at the cases that closed on their own")
    for sample in samples:
        demo.wait(sample["case_id"], RESTING)
    by_text = {sample["text"]: sample for sample in samples}
    qa = demo.clients["qa-quinn"]
    while (item := qa.post("/v1/qa/next")).status_code == 200:
        sample = by_text[item.json()["content"]["text"]]
        verdict = sample.get("qa", {"decision": "dismiss"})
        decided = qa.post(f"/v1/qa/{item.json()['sample_id']}/decision",
                          json={k: v for k, v in verdict.items() if k != "second_decision"})
        decided.raise_for_status()
        print(f"   {sample['case_id'][:8]} {sample['label']:<14} qa-quinn: {verdict['decision']}"
              + ("  → reopened for a moderator" if decided.json()["reopened"] else ""))
        if decided.json()["reopened"]:
            demo.wait(sample["case_id"], {"awaiting_review"}, round=2)
            demo.decide("mod-robin", sample["case_id"], verdict["second_decision"])
    today = time.strftime("%Y-%m-%d", time.gmtime())
    rates = demo.clients["sup-sam"].get("/v1/qa/accuracy", params={"from": today, "to": today}).json()
    _say("the machine's error rates from today's quality reviews (GET /v1/qa/accuracy, vigil report accuracy)")
    print(accuracy.render({"overall": rates["overall"], **{f"by_{d}": {} for d in accuracy.DIMENSIONS}}))


def _said(event: dict) -> str:
    """case.closed → closed; action.executed → action.executed(remove); statement.issued as it is."""
    if event["type"].startswith("case."):
        return event["type"].removeprefix("case.")
    return f"{event['type']}({event['data']['action']})" if event["type"].startswith("action.") else event["type"]


def _print_callbacks(demo: Demo, samples: list[dict]) -> None:
    admin = demo.clients["ops-admin"]
    wait_until(lambda: admin.get(f"/v1/webhooks/{demo.webhook_id}").json()["pending"] == 0, timeout=60,
               what="the callbacks to be delivered")
    _say("what the platform heard through its /callbacks (signatures checked on arrival)")
    example = None
    for sample in samples:
        kept = demo.platform.get("/callbacks", params={"case_id": sample["case_id"]}).json()
        said = [_said(k["body"]) for k in kept]
        print(f"   {sample['case_id'][:8]} {sample['label']:<14} {' → '.join(said)}")
        example = example or next((k for k in kept if k["body"]["type"] == "action.executed"), None)
    if example is not None:
        _say("one callback in full")
        for name, value in example["headers"].items():
            print(f"   {name}: {value}")
        print("   " + json.dumps(example["body"], indent=2).replace("\n", "\n   "))


def _print_submissions(demo: Demo, database: httpx.Client) -> None:
    admin = demo.clients["ops-admin"]
    wait_until(lambda: all(hook["pending"] == 0 for hook in admin.get("/v1/webhooks").json()), timeout=60,
               what="the statements to reach the Transparency Database")
    _say("what the Transparency Database (stand-in) stored: each statement once, by its puid")
    for record in database.get("/_admin/stored").json():
        print(f"   {record['puid']:<40} {record['uuid']}  {record['statement']['category']}")


def _statement_and_figures(demo: Demo, samples: list[dict]) -> None:
    """A removal's statement of reasons (EU DSA Art. 17) and today's transparency figures."""
    for sample in samples:
        answer = demo.clients["demo-forum"].get(f"/v1/cases/{sample['case_id']}/statement")
        if answer.status_code == 200 and "appeal" not in sample and "complaint" not in sample:
            _say(f"the statement of reasons of {sample['case_id'][:8]} ({sample['label']}), as its upstream reads it")
            print(json.dumps(answer.json()["statements"][0]["body"], indent=2))
            break
    today = time.strftime("%Y-%m-%d", time.gmtime())
    _say(f"transparency figures for {today} (GET /v1/reports/transparency, or vigil report transparency)")
    print(json.dumps(demo.clients["ops-admin"].get("/v1/reports/transparency", params={"from": today, "to": today}
                                                   ).json(), indent=2))


def _serve(stack: Stack, keys: dict[str, str]) -> None:
    _say("the stack keeps running (Ctrl-C stops it); keys for the moderator page:")
    for name, key in keys.items():
        print(f"   {name:10} {key}")
    try:
        while all(process.alive() for process in stack.processes):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
