import pytest

from services.worker.main import build_runner


@pytest.fixture
def runner(settings, fresh_platform):
    """A worker's case runner, in this process, over the real database and demo platform."""
    runner, closers = build_runner(settings, threads=1)
    yield runner
    for close in closers:
        close()
