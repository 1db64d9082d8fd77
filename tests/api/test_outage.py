"""With Postgres away the api answers 503 quickly with a clear body, and recovers by itself."""

import time

from fastapi.testclient import TestClient

from services.api.app import create_app
from tests.support.processes import wait_until
from tests.support.proxy import Proxy


def test_database_outage_is_a_quick_503_and_the_api_recovers(settings, keys, case_in):
    case_id = case_in("closed")
    proxy = Proxy.in_front_of(settings.database_url)
    through_proxy = settings.model_copy(update={"database_url": proxy.route(settings.database_url)})
    headers = {"X-API-Key": keys["mod-ana"]}
    try:
        with TestClient(create_app(through_proxy), raise_server_exceptions=False) as client:
            assert client.get(f"/v1/cases/{case_id}", headers=headers).status_code == 200

            proxy.cut()
            started = time.monotonic()
            down = client.get(f"/v1/cases/{case_id}", headers=headers)
            took = time.monotonic() - started
            assert down.status_code == 503, down.text
            assert down.json() == {"error": "unavailable", "message": "the database is unavailable; try again shortly"}
            assert client.get("/readyz").status_code == 503
            assert client.get("/healthz").status_code == 200
            print(f"\n503 answered in {took * 1000:.0f} ms with Postgres unreachable")

            proxy.restore()
            # The pool reconnects by itself, with backoff: within seconds, without a restart.
            wait_until(lambda: client.get(f"/v1/cases/{case_id}", headers=headers).status_code == 200,
                       timeout=20, interval=0.2, what="the api to answer again")
            assert client.get("/readyz").status_code == 200
    finally:
        proxy.close()
