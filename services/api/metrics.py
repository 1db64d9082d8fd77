"""Prometheus metrics of the api, in a registry of the app's own (no process-global state)."""

import time

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


def install_metrics(app: FastAPI) -> None:
    registry = CollectorRegistry()
    requests = Counter("vigil_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry)
    latency = Histogram("vigil_http_request_seconds", "HTTP request latency", ["method", "route"], registry=registry)

    @app.middleware("http")
    async def measure(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        requests.labels(request.method, route, response.status_code).inc()
        latency.labels(request.method, route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
