"""The `vigil` command: one subcommand per process an operator runs."""

import argparse
import sys

from shared.domain import Role
from shared.errors import VigilError
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


def _worker(args: argparse.Namespace) -> None:
    from services.worker.main import run

    run(get_settings(), processes=args.processes, threads=args.threads)


def _keys_create(args: argparse.Namespace) -> None:
    from shared.db import make_engine, make_sessionmaker, transaction
    from shared.keys import create_key

    engine = make_engine(get_settings(), pool_size=1)
    with transaction(make_sessionmaker(engine)) as session:
        key = create_key(session, role=Role(args.role), name=args.name)
    print(f"created {args.role} key for {args.name}; it is shown once:")
    print(key)


def _cases_retry(args: argparse.Namespace) -> None:
    from services.api.service import retry_case
    from shared.db import make_engine, make_sessionmaker

    engine = make_engine(get_settings(), pool_size=1)
    with make_sessionmaker(engine)() as session:
        retry_case(session, case_id=args.case_id, actor="cli:operator")  # commits with its outbox row
    print(f"case {args.case_id} is on its way again")


def _demo_platform(args: argparse.Namespace) -> None:
    from demo.platform import run

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

    worker = commands.add_parser("worker", help="run the Dramatiq actors that drive cases")
    worker.add_argument("--processes", type=int, default=1)
    worker.add_argument("--threads", type=int, default=4)
    worker.set_defaults(func=_worker)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key; it is printed alone on the last line")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--name", required=True)
    create.set_defaults(func=_keys_create)

    cases = commands.add_parser("cases", help="operate on cases").add_subparsers(dest="cases_command", required=True)
    retry = cases.add_parser("retry", help="put a failed case back on its way from its last checkpoint")
    retry.add_argument("case_id")
    retry.set_defaults(func=_cases_retry)

    platform = commands.add_parser("demo-platform", help="serve the demo platform")
    platform.add_argument("--host", default="127.0.0.1")
    platform.add_argument("--port", type=int, default=8200)
    platform.set_defaults(func=_demo_platform)

    demo = commands.add_parser("demo", help="run the whole stack with sample cases")
    demo.add_argument("--serve", action="store_true", help="keep the stack running afterwards")
    demo.set_defaults(func=_demo)
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
