"""The deployment files describe real processes: every compose service built from our image runs
a `vigil` subcommand that the command line actually has."""

import json
from pathlib import Path

import pytest
import yaml

from services.cli import parser

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
OURS = {name: service for name, service in COMPOSE["services"].items() if "build" in service}


def test_every_part_of_the_shape_is_a_compose_service():
    assert set(OURS) == {"migrate", "api", "relay", "worker", "platform"}
    assert {"postgres", "rabbitmq"} <= set(COMPOSE["services"])


@pytest.mark.parametrize("name", sorted(OURS))
def test_each_service_runs_a_real_vigil_subcommand(name):
    command = OURS[name]["command"]
    args = parser().parse_args(command)  # exits (SystemExit) on an unknown subcommand or option
    assert args.command == command[0]
    assert OURS[name]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_the_image_runs_vigil():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["vigil"]' in dockerfile


def test_broker_definitions_match_dramatiqs_queue_arguments():
    definitions = json.loads((ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text())
    queues = {queue["name"]: queue for queue in definitions["queues"]}
    assert queues["vigil"]["arguments"] == {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "vigil.XQ"}
    assert set(queues) == {"vigil", "vigil.DQ", "vigil.XQ"}
