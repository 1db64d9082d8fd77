"""The `vigil` command: one subcommand per process an operator runs."""

import argparse
import getpass
import sys
from datetime import UTC

from shared.domain import Role
from shared.errors import Invalid, VigilError
from shared.logging import setup_logging
from shared.settings import get_settings


def _migrate(args: argparse.Namespace) -> None:
    from shared.migrate import migrate

    migrate(get_settings())


def _api(args: argparse.Namespace) -> None:
    from services.api.main import run

    run(get_settings(), host=args.host, port=args.port, workers=args.workers)


def _relay(args: argparse.Namespace) -> None:
    from services.relay.main import run

    run(get_settings())


def _scheduler(args: argparse.Namespace) -> None:
    from services.scheduler.main import run

    run(get_settings())


def _dispatcher(args: argparse.Namespace) -> None:
    from services.dispatcher.main import run

    run(get_settings())


def _worker(args: argparse.Namespace) -> None:
    from services.worker.main import run

    run(get_settings(), processes=args.processes, threads=args.threads)


def _key_sessions():
    from shared.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(get_settings(), pool_size=1))


def _when(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ") if moment else "-"


def _keys_create(args: argparse.Namespace) -> None:
    from shared.db import transaction
    from shared.keys import create_key

    with transaction(_key_sessions()) as session:
        key = create_key(session, role=Role(args.role), name=args.name, tenant=args.tenant, expires_at=args.expires)
    until = f", valid until {_when(args.expires)}" if args.expires else ""
    print(f"created {args.role} key for {args.name}{until}; it is shown once:")
    print(key)


def _keys_list(args: argparse.Namespace) -> None:
    import json

    from sqlalchemy import text

    from shared.keys import list_keys, shown_prefix, state

    with _key_sessions()() as session:
        now = session.scalar(text("SELECT now()"))
        rows = [{"name": k.name, "role": k.role, "tenant": k.tenant, "prefix": shown_prefix(k), "state": state(k, now=now),
                 "created": _when(k.created_at), "expires": _when(k.expires_at), "revoked": _when(k.revoked_at)}
                for k in list_keys(session)]
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    columns = ["name", "role", "tenant", "prefix", "state", "created", "expires", "revoked"]
    table = [[c.upper() for c in columns]] + [[str(row[c] or "-") for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


def _keys_revoke(args: argparse.Namespace) -> None:
    from shared.db import transaction
    from shared.keys import revoke, shown_prefix

    with transaction(_key_sessions()) as session:
        revoked, before = revoke(session, ref=args.ref)
    for k in revoked:
        print(f"revoked {k.role} key {shown_prefix(k)} of {k.name}")
    for k in before:
        print(f"{k.role} key {shown_prefix(k)} of {k.name} was already revoked at {_when(k.revoked_at)}")


def _keys_rotate(args: argparse.Namespace) -> None:
    from shared.db import transaction
    from shared.keys import rotate, shown_prefix

    with transaction(_key_sessions()) as session:
        done = rotate(session, ref=args.ref, grace=args.grace, expires_at=args.expires)
    for k in done.old:
        ending = f"keeps working until {_when(done.old_valid_until)}" if args.grace else "is revoked"
        print(f"old {k.role} key {shown_prefix(k)} of {k.name} {ending}")
    until = f", valid until {_when(done.new.expires_at)}" if done.new.expires_at else ""
    print(f"new {done.new.role} key {shown_prefix(done.new)} for {done.new.name}{until}; it is shown once:")
    print(done.key)


def _expiry(value: str):
    from shared.keys import parse_expiry

    try:
        return parse_expiry(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _duration(value: str):
    from shared.keys import parse_duration

    try:
        return parse_duration(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _cases_retry(args: argparse.Namespace) -> None:
    import asyncio

    import psycopg
    from psycopg.rows import dict_row

    from services.api.service import retry_case

    async def retry() -> None:
        async with await psycopg.AsyncConnection.connect(get_settings().libpq_url, autocommit=True,
                                                         row_factory=dict_row) as conn:
            await retry_case(conn, case_id=args.case_id, actor="cli:operator")  # with its outbox row

    asyncio.run(retry())
    print(f"case {args.case_id} is on its way again")


def _day(value: str):
    from datetime import date

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date YYYY-MM-DD") from None


def _report_connection():
    import psycopg

    return psycopg.connect(get_settings().libpq_url, autocommit=True)


def _statements_export(args: argparse.Namespace) -> None:
    from shared.statement_export import write

    with _report_connection() as conn:
        if args.out in (None, "-"):
            count = write(conn, sys.stdout, since=args.since, until=args.until)
        else:
            with open(args.out, "w", encoding="utf-8") as out:
                count = write(conn, out, since=args.since, until=args.until)
    print(f"{count} statement(s) of reasons written", file=sys.stderr)


def _report_transparency(args: argparse.Namespace) -> None:
    import csv
    import json

    from shared import statements, transparency

    settings = get_settings()
    period = transparency.Period(args.start, args.end)
    with _report_connection() as conn:
        figures = transparency.report(conn, period=period, grounds=statements.parse_grounds(settings.statement_grounds))
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["figure", "value"])
        writer.writerows(transparency.rows_for_csv(figures))
    else:
        print(json.dumps(figures, indent=2))


def _report_accuracy(args: argparse.Namespace) -> None:
    import json

    from psycopg.rows import dict_row

    from shared import accuracy, transparency

    period = transparency.Period(args.start, args.end)
    with _report_connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
        section = accuracy.report(cursor.execute(accuracy.REVIEWED, period.params).fetchall())
    print(json.dumps(section, indent=2) if args.json else accuracy.render(section))


def _connections_set(args: argparse.Namespace) -> None:
    from shared.connections import Change

    # From standard input, a line each: the signing secret, then the statements token (as asked for).
    secret, token = (sys.stdin.readline().rstrip("\n") if asked else None
                     for asked in (args.secret_stdin, args.statements_token_stdin))
    for what, value in (("secret", secret), ("statements token", token)):
        if value is not None and len(value) < 16:
            raise Invalid(f"the {what} read from standard input must have at least 16 characters")
    if token is not None and not args.statements_url:
        raise Invalid("--statements-token-stdin without --statements-url: say where the statements go")
    _print_connection(_connection_change(args.tenant, Change(
        base_url=args.url, secret=secret, timeout=args.timeout, statements_url=args.statements_url,
        statements_kind=args.statements_kind, statements_token=token)))


def _connections_remove(args: argparse.Namespace) -> None:
    from shared.connections import Change

    _print_connection(_connection_change(args.tenant, Change(removed=True)))


def _connection_change(tenant: str, change) -> dict:
    from psycopg.rows import dict_row

    from shared import connections
    from shared.secretbox import SecretsUnavailable

    with _report_connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cursor:
        now = cursor.execute(connections.CURRENT + " FOR UPDATE", {"tenant": tenant}).fetchone()
        undelivered = cursor.execute(connections.UNDELIVERED, {"tenant": tenant}).fetchone()["n"]
        connections.check(now, change, tenant=tenant, undelivered=undelivered)
        try:
            params = connections.next_version(now, change, tenant=tenant, box=get_settings().secret_box,
                                              by=f"cli:{getpass.getuser()}")
        except SecretsUnavailable as error:
            raise Invalid(str(error)) from None
        row = cursor.execute(connections.ADD, params).fetchone()
        cursor.execute(connections.SYNC_HOOK, {"tenant": tenant})
        return connections.shown(row)


def _print_connection(row: dict) -> None:
    where = "the default connection (PLATFORM_URL)" if row["removed"] else row["base_url"]
    statements = (f"statements to {row['statements_url']} ({row['statements_kind']}"
                  f"{', with a token' if row['statements_token'] else ''})" if row["statements_url"] else "no statements")
    print(f"{row['tenant']}: version {row['version']}, {where}, {'signed' if row['signed'] else 'unsigned'}, "
          f"timeout {row['timeout'] or 'PLATFORM_TIMEOUT'}, {statements}; by {row['created_by']} at "
          f"{_when(row['created_at'])}, changed {', '.join(row['changed']) or 'nothing'}")


def _connections_list(args: argparse.Namespace) -> None:
    from psycopg.rows import dict_row

    from shared import connections

    with _report_connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
        query, params = (connections.HISTORY, {"tenant": args.tenant}) if args.tenant else (connections.ALL_CURRENT, {})
        rows = cursor.execute(query, params).fetchall()
    for row in rows:
        _print_connection(connections.shown(row))
    if not rows:
        print("no tenant has a connection of its own: every one uses the default (PLATFORM_URL)")


def _connections_reencrypt(args: argparse.Namespace) -> None:
    from shared import connections

    with _report_connection() as conn, conn.transaction(), conn.cursor() as cursor:
        count = connections.reseal_all(cursor, box=get_settings().secret_box)
    print(f"{count} connection version(s) sealed again under the first key of SECRET_KEYS (secrets and tokens)")


def _connections_new_key(args: argparse.Namespace) -> None:
    from shared.secretbox import new_key

    print(new_key())


def _demo_platform(args: argparse.Namespace) -> None:
    from demo.platform import run

    run(host=args.host, port=args.port)


def _demo_transparency_db(args: argparse.Namespace) -> None:
    from demo.transparency_db import run

    run(host=args.host, port=args.port)


def _demo(args: argparse.Namespace) -> None:
    from demo.script import run

    run(get_settings(), serve=args.serve)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="vigil", description="Vigil, human-in-the-loop content moderation")
    commands = root.add_subparsers(dest="command", required=True)

    commands.add_parser("migrate", help="create the database if missing, run migrations").set_defaults(func=_migrate)

    api = commands.add_parser("api", help="serve the HTTP API and the moderator page")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=1, help="processes serving the api")
    api.set_defaults(func=_api)

    commands.add_parser("relay", help="publish outbox rows to RabbitMQ").set_defaults(func=_relay)
    commands.add_parser("scheduler", help="run the timed rules: escalation, claim expiry, stuck cases"
                        ).set_defaults(func=_scheduler)

    commands.add_parser("dispatcher", help="deliver case events to the webhooks' subscribers (signed, retried, "
                        "in order per case)").set_defaults(func=_dispatcher)

    worker = commands.add_parser("worker", help="run the Dramatiq actors that drive cases")
    worker.add_argument("--processes", type=int, default=1)
    worker.add_argument("--threads", type=int, default=4)
    worker.set_defaults(func=_worker)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key; it is printed alone on the last line")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--name", required=True, help="the person or system; the audit trail records it")
    create.add_argument("--tenant", help="whose cases an upstream key posts and reads (default: its name)")
    create.add_argument("--expires", type=_expiry, help="90d, 12h, 2w or a date such as 2027-01-01 (UTC)")
    create.set_defaults(func=_keys_create)
    listing = keys.add_parser("list", help="every key: name, role, tenant, prefix, state, dates (never the key)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_keys_list)
    revoke = keys.add_parser("revoke", help="revoke every key of a name, or the one key with a prefix")
    revoke.add_argument("ref", metavar="NAME|PREFIX")
    revoke.set_defaults(func=_keys_revoke)
    rotate = keys.add_parser("rotate", help="a new key for the same name, role and tenant; it is printed alone on "
                                            "the last line")
    rotate.add_argument("ref", metavar="NAME|PREFIX")
    rotate.add_argument("--grace", type=_duration, default=_duration("0"),
                        help="keep the old key working this long (e.g. 1d) while its users switch; default: revoke it now")
    rotate.add_argument("--expires", type=_expiry, help="the new key's expiry (default: the old key's lifetime again)")
    rotate.set_defaults(func=_keys_rotate)

    cases = commands.add_parser("cases", help="operate on cases").add_subparsers(dest="cases_command", required=True)
    retry = cases.add_parser("retry", help="put a failed case back on its way from its last checkpoint")
    retry.add_argument("case_id")
    retry.set_defaults(func=_cases_retry)

    statements = commands.add_parser("statements", help="statements of reasons (EU DSA Art. 17)").add_subparsers(
        dest="statements_command", required=True)
    export = statements.add_parser("export", help="JSON lines in the DSA Transparency Database's submission format")
    export.add_argument("--since", type=_day, required=True, help="first day of issue, YYYY-MM-DD (UTC)")
    export.add_argument("--until", type=_day, help="last day of issue, included (default: up to now)")
    export.add_argument("--out", help="a file to write (default: standard output)")
    export.set_defaults(func=_statements_export)

    report = commands.add_parser("report", help="reports from the audit trail").add_subparsers(
        dest="report_command", required=True)
    figures = report.add_parser("transparency", help="transparency figures for a period (EU DSA Art. 15, 24)")
    figures.add_argument("--from", dest="start", type=_day, required=True, help="first day, YYYY-MM-DD (UTC)")
    figures.add_argument("--to", dest="end", type=_day, required=True, help="last day, YYYY-MM-DD (UTC), included")
    figures.add_argument("--csv", action="store_true", help="figure,value rows instead of JSON")
    figures.set_defaults(func=_report_transparency)
    rates = report.add_parser("accuracy", help="the automated means' error rates from the quality reviews, with their "
                                               "95%% intervals (DSA Art. 15(1)(e))")
    rates.add_argument("--from", dest="start", type=_day, required=True, help="first day of closing, YYYY-MM-DD (UTC)")
    rates.add_argument("--to", dest="end", type=_day, required=True, help="last day, YYYY-MM-DD (UTC), included")
    rates.add_argument("--json", action="store_true")
    rates.set_defaults(func=_report_accuracy)

    connections = commands.add_parser("connections", help="each tenant's platform connection").add_subparsers(
        dest="connections_command", required=True)
    setting = connections.add_parser("set", help="a new version of a tenant's connection")
    setting.add_argument("tenant")
    setting.add_argument("--url", required=True, help="the platform's base URL for this tenant's actions")
    setting.add_argument("--secret-stdin", action="store_true",
                         help="read the secret that signs the calls from standard input (else the current one stays)")
    setting.add_argument("--timeout", type=float, help="seconds per call (default: PLATFORM_TIMEOUT)")
    setting.add_argument("--statements-url", help="where the tenant's statements of reasons go (e.g. the DSA "
                                                  "Transparency Database's /api/v1/statements)")
    setting.add_argument("--statements-kind", choices=("dsa-transparency-db", "signed"), default="dsa-transparency-db")
    setting.add_argument("--statements-token-stdin", action="store_true",
                         help="read the statements token from standard input (after the secret, if both)")
    setting.set_defaults(func=_connections_set)
    removing = connections.add_parser("remove", help="send a tenant back to the default connection (PLATFORM_URL)")
    removing.add_argument("tenant")
    removing.set_defaults(func=_connections_remove)
    showing = connections.add_parser("list", help="the connections in force, or one tenant's every version")
    showing.add_argument("tenant", nargs="?")
    showing.set_defaults(func=_connections_list)
    connections.add_parser("reencrypt", help="seal every stored secret again under the first key of SECRET_KEYS"
                           ).set_defaults(func=_connections_reencrypt)
    connections.add_parser("new-key", help="print a new key for SECRET_KEYS").set_defaults(func=_connections_new_key)

    platform = commands.add_parser("demo-platform", help="serve the demo platform")
    platform.add_argument("--host", default="127.0.0.1")
    platform.add_argument("--port", type=int, default=8200)
    platform.set_defaults(func=_demo_platform)

    database = commands.add_parser("demo-transparency-db",
                                   help="serve a local stand-in for the DSA Transparency Database's API")
    database.add_argument("--host", default="127.0.0.1")
    database.add_argument("--port", type=int, default=8300)
    database.set_defaults(func=_demo_transparency_db)

    demo = commands.add_parser("demo", help="run the whole stack with sample cases")
    demo.add_argument("--serve", action="store_true", help="keep the stack running afterwards")
    demo.set_defaults(func=_demo)

    from services.worker.analysis.cli import add_analyser_command  # `vigil analyser eval FILE.csv`

    add_analyser_command(commands)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    setup_logging(args.command)
    try:
        args.func(args)
    except VigilError as error:
        print(f"vigil {args.command}: {error.message}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
