"""The deployment files describe real processes: every compose service and Kubernetes container
built from our image runs a `vigil` subcommand that the command line actually has, with settings
that Vigil actually reads. (Docker does not run here, so these files are checked by reading.)"""

import argparse
import json
import re
from pathlib import Path

import pytest
import yaml

from shared.contracts import MAX_PRIORITY
from shared.settings import Settings
from services.cli import parser

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
OURS = {name: service for name, service in COMPOSE["services"].items() if "build" in service}
K8S = [doc for doc in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "vigil.yaml").read_text()) if doc]
K8S_CONTAINERS = {
    container["name"]: container
    for doc in K8S if doc["kind"] in ("Deployment", "Job")
    for container in doc["spec"]["template"]["spec"]["containers"]
}
SUBCOMMANDS = {name for action in parser()._actions if isinstance(action, argparse._SubParsersAction)
               for name in action.choices}


def parses_as_vigil(args: list[str]) -> str:
    parsed = parser().parse_args(args)  # exits (SystemExit) on an unknown subcommand or option
    assert parsed.command in SUBCOMMANDS
    return parsed.command


def test_every_part_of_the_shape_is_a_compose_service():
    assert set(OURS) == {"migrate", "api", "relay", "scheduler", "dispatcher", "worker", "platform"}
    assert {"postgres", "rabbitmq"} <= set(COMPOSE["services"])


@pytest.mark.parametrize("name", sorted(OURS))
def test_each_compose_service_runs_a_real_vigil_subcommand(name):
    command = OURS[name]["command"]
    assert parses_as_vigil(command) == command[0]
    assert OURS[name]["build"]["dockerfile"] == "deploy/Dockerfile"


@pytest.mark.parametrize("name", sorted(OURS))
def test_each_compose_service_is_configured_with_settings_vigil_reads(name):
    environment = OURS[name]["environment"]
    assert {"DATABASE_URL", "RABBITMQ_URL", "PLATFORM_URL"} <= set(environment)
    assert {key.lower() for key in environment} <= set(Settings.model_fields)


def test_the_app_starts_after_migrations_and_migrations_after_postgres():
    for name in ("api", "relay", "dispatcher", "worker"):
        assert OURS[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert OURS["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert all("healthcheck" in COMPOSE["services"][name] for name in ("postgres", "rabbitmq"))


def test_the_broker_container_loads_vigils_definitions_and_config():
    mounts = " ".join(COMPOSE["services"]["rabbitmq"]["volumes"])
    assert "deploy/rabbitmq/definitions.json:/etc/rabbitmq/definitions.json" in mounts
    assert "deploy/rabbitmq/rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf" in mounts
    conf = (ROOT / "deploy" / "rabbitmq" / "rabbitmq.conf").read_text()
    assert "load_definitions = /etc/rabbitmq/definitions.json" in conf
    assert re.search(r"^consumer_timeout = \d+$", conf, re.MULTILINE)


def test_the_image_runs_vigil_as_a_user_not_root():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert 'ENTRYPOINT ["vigil"]' in dockerfile
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")


def test_broker_definitions_match_dramatiqs_queue_arguments():
    definitions = json.loads((ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text())
    queues = {queue["name"]: queue for queue in definitions["queues"]}
    assert set(queues) == {"vigil", "vigil.DQ", "vigil.XQ"}
    # Dramatiq declares these queues itself; different arguments would fail its declare.
    dead_letters = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "vigil.XQ",
                    "x-max-priority": MAX_PRIORITY}
    assert queues["vigil"]["arguments"] == queues["vigil.DQ"]["arguments"] == dead_letters
    compose_user = re.search(r"amqp://([^:]+):", OURS["relay"]["environment"]["RABBITMQ_URL"]).group(1)
    assert compose_user in {user["name"] for user in definitions["users"]}
    assert compose_user != "guest"  # guest may only log in over loopback, not from another container


@pytest.mark.parametrize("name", sorted(K8S_CONTAINERS))
def test_each_kubernetes_container_runs_a_real_vigil_subcommand(name):
    assert parses_as_vigil(K8S_CONTAINERS[name]["args"]) == name


def test_kubernetes_runs_the_same_processes_as_compose():
    assert set(K8S_CONTAINERS) == {"migrate", "api", "relay", "scheduler", "dispatcher", "worker"}
