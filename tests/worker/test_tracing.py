"""LangSmith tracing: with its environment set, graph runs are sent with the case id in their
metadata (here to a local stand-in for the LangSmith endpoint); without it, nothing is sent."""

import gzip
import http.server
import subprocess
import sys
import textwrap
import threading

import pytest

from tests.support.arrange import post_case
from tests.support.processes import settings_env

SCRIPT = textwrap.dedent("""
    import sys
    from shared.domain import CommandKind
    from shared.settings import Settings
    from services.worker.main import build_runner
    runner, closers = build_runner(Settings(), threads=1)
    runner.handle(case_id=sys.argv[1], message_id=sys.argv[2], kind=CommandKind.START)
    for close in closers:
        close()
""")


class Collector(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self):  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        Collector.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    do_PATCH = do_POST

    def do_GET(self):  # noqa: N802
        self.do_POST()

    def log_message(self, *args):
        pass


@pytest.fixture
def langsmith():
    Collector.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("tracing", [True, False])
def test_runs_are_traced_with_the_case_id_only_when_langsmith_is_configured(settings, sessions, langsmith, tracing):
    case_id, message_id = post_case(sessions, text="Shut up you stupid moron")
    env = settings_env(settings) | {"LANGSMITH_ENDPOINT": langsmith, "LANGSMITH_API_KEY": "lsv2_test"}
    if tracing:
        env |= {"LANGSMITH_TRACING": "true", "LANGSMITH_PROJECT": "vigil-test"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(case_id), str(message_id)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    sent = b"".join(Collector.bodies)
    assert (b'{"metadata":{"case_id":"' + str(case_id).encode() in sent) is tracing
    assert (str(case_id).encode() in sent) is tracing  # without LangSmith's environment nothing leaves
