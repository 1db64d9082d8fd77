"""The operator's command line, run as a real process."""

import asyncio
import json
from datetime import timedelta

import psycopg
from sqlalchemy import func, select, update

from shared.domain import Status
from shared.keys import KeyRecord, digest, find_key, lookup, lookup_async
from shared.models import ApiKey, Case
from tests.support.cli import vigil


def test_keys_create_prints_the_key_alone_on_its_last_line_and_stores_only_its_digest(settings, sessions):
    done = vigil(settings, "keys", "create", "--role", "moderator", "--name", "ana")
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1]
    with sessions() as session:
        stored = session.scalars(select(ApiKey).filter_by(name="ana")).one()
    assert stored.role == "moderator" and stored.key_hash == digest(key) and key not in stored.key_hash
    assert key not in done.stderr  # never logged


def test_keys_create_refuses_an_unknown_role(settings):
    done = vigil(settings, "keys", "create", "--role", "overlord", "--name", "x")
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_migrate_twice_is_harmless(settings):
    for _ in range(2):
        done = vigil(settings, "migrate")
        assert done.returncode == 0, done.stderr


def test_cases_retry_puts_a_failed_case_back(settings, sessions, case_in):
    case_id = case_in(Status.FAILED, error={"status": "executing"})
    done = vigil(settings, "cases", "retry", str(case_id))
    assert done.returncode == 0, done.stderr
    with sessions() as session:
        assert session.get(Case, case_id).status == Status.EXECUTING
    again = vigil(settings, "cases", "retry", str(case_id))
    assert again.returncode != 0 and "only a failed case" in again.stderr


def create(settings, name: str, *options: str, role: str = "moderator") -> str:
    done = vigil(settings, "keys", "create", "--role", role, "--name", name, *options)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def listed(settings) -> list[dict]:
    done = vigil(settings, "keys", "list", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def valid(sessions, key: str) -> bool:
    with sessions() as session:
        return find_key(session, key) is not None


def test_keys_list_names_each_key_by_a_prefix_and_never_shows_a_key(settings, sessions):
    ana = create(settings, "ana")
    feed = create(settings, "feed", "--expires", "2999-01-01", role="upstream")
    done = vigil(settings, "keys", "list")
    assert done.returncode == 0, done.stderr
    assert ana not in done.stdout and feed not in done.stdout
    assert ana[:12] in done.stdout and ana[:13] not in done.stdout  # vgl_ + 8 characters, no more
    rows = {row["name"]: row for row in listed(settings)}
    assert rows["ana"] | {"created": None} == {"name": "ana", "role": "moderator", "tenant": None,
                                               "prefix": ana[:12] + "…", "state": "valid", "created": None,
                                               "expires": "-", "revoked": "-"}
    assert rows["feed"]["tenant"] == "feed" and rows["feed"]["expires"] == "2999-01-01 00:00Z"


def test_keys_revoke_by_name_or_prefix_and_the_key_stops_working(settings, sessions):
    ana, ben = create(settings, "ana"), create(settings, "ben")
    done = vigil(settings, "keys", "revoke", "ana")
    assert done.returncode == 0 and "revoked moderator key" in done.stdout and ana not in done.stdout
    assert not valid(sessions, ana) and valid(sessions, ben)
    done = vigil(settings, "keys", "revoke", ben[:10])  # a shorter prefix, as typed, with vgl_
    assert done.returncode == 0, done.stderr
    assert not valid(sessions, ben)
    again = vigil(settings, "keys", "revoke", "ana")
    assert again.returncode == 0 and "already revoked" in again.stdout
    assert {row["state"] for row in listed(settings)} == {"revoked"}


def test_keys_revoke_refuses_an_ambiguous_or_unknown_prefix(settings, sessions):
    keys = [create(settings, f"person-{n}") for n in range(2)]
    with sessions.begin() as session:  # two keys whose prefixes share their start, whatever the dice said
        session.execute(update(ApiKey).where(ApiKey.name == "person-0").values(key_prefix="Zz9aaaaa"))
        session.execute(update(ApiKey).where(ApiKey.name == "person-1").values(key_prefix="Zz9abbbb"))
    refused = vigil(settings, "keys", "revoke", "Zz9a")
    assert refused.returncode == 1 and "matches 2 keys" in refused.stderr
    assert valid(sessions, keys[0]) and valid(sessions, keys[1])
    assert vigil(settings, "keys", "revoke", "Zz9ab").returncode == 0
    assert valid(sessions, keys[0]) and not valid(sessions, keys[1])
    unknown = vigil(settings, "keys", "revoke", "nobody-at-all")
    assert unknown.returncode == 1 and "no key is named" in unknown.stderr


def test_an_expired_key_is_refused_like_a_revoked_one(settings, sessions):
    key = create(settings, "ana", "--expires", "30d")
    assert valid(sessions, key)
    with sessions.begin() as session:
        session.execute(update(ApiKey).where(ApiKey.name == "ana").values(expires_at=func.now() - timedelta(seconds=1)))
    assert not valid(sessions, key)
    with sessions() as session:
        assert lookup(session.connection().connection.driver_connection, key) is None
    assert [row["state"] for row in listed(settings)] == ["expired"]


def test_keys_create_refuses_a_past_date_a_bad_duration_and_a_second_valid_key_for_a_name(settings):
    past = vigil(settings, "keys", "create", "--role", "moderator", "--name", "ana", "--expires", "2001-01-01")
    assert past.returncode == 1 and "already past" in past.stderr
    bad = vigil(settings, "keys", "create", "--role", "moderator", "--name", "ana", "--expires", "soon")
    assert bad.returncode == 2 and "90d" in bad.stderr
    create(settings, "ana")
    twice = vigil(settings, "keys", "create", "--role", "moderator", "--name", "ana")
    assert twice.returncode == 1 and "rotate" in twice.stderr


def test_keys_rotate_revokes_the_old_key_at_once_by_default(settings, sessions):
    old = create(settings, "feed", "--tenant", "forum-a", role="upstream")
    done = vigil(settings, "keys", "rotate", "feed")
    assert done.returncode == 0, done.stderr
    new = done.stdout.strip().splitlines()[-1]
    assert not valid(sessions, old) and valid(sessions, new) and old not in done.stdout
    with sessions() as session:
        assert (find_key(session, new).role, find_key(session, new).tenant) == ("upstream", "forum-a")


def test_keys_rotate_with_grace_keeps_the_old_key_working_until_then(settings, sessions):
    old = create(settings, "feed", "--expires", "90d", role="upstream")
    done = vigil(settings, "keys", "rotate", "feed", "--grace", "1d")
    assert done.returncode == 0 and "keeps working until" in done.stdout
    new = done.stdout.strip().splitlines()[-1]
    assert valid(sessions, old) and valid(sessions, new)
    with sessions() as session:
        ended, renewed = find_key(session, old), find_key(session, new)
        assert timedelta(hours=23) < ended.expires_at - renewed.created_at <= timedelta(days=1)
        assert renewed.expires_at - renewed.created_at > timedelta(days=89)  # the same lifetime again
        assert ended.tenant == renewed.tenant == "feed"
        record = lookup(session.connection().connection.driver_connection, new)
    assert record == KeyRecord("feed", "upstream", "feed", renewed.expires_at)
    assert {row["state"] for row in listed(settings)} == {"valid"}  # two keys of one name, for a day
    assert vigil(settings, "keys", "revoke", "feed").returncode == 0  # a leak: both end now
    assert not valid(sessions, old) and not valid(sessions, new)
    assert vigil(settings, "keys", "rotate", "feed").returncode == 1  # nothing valid to rotate


def test_lookup_async_answers_like_find_key(settings, sessions):
    key = create(settings, "ana")

    async def look(candidate: str):
        async with await psycopg.AsyncConnection.connect(settings.libpq_url) as conn:
            return await lookup_async(conn, candidate)

    assert asyncio.run(look(key)) == KeyRecord("ana", "moderator", None, None)
    assert asyncio.run(look(key + "x")) is None
