"""Several schedulers at once, as several `vigil scheduler` processes would run them."""

import threading

from services.scheduler.main import Scheduler


def passes_at_once(engine, settings, *, count: int = 4) -> list[dict[str, int]]:
    """One pass of each of `count` schedulers, released together by a barrier so that their passes
    overlap; what each pass moved."""
    schedulers = [Scheduler(engine=engine, settings=settings) for _ in range(count)]
    start = threading.Barrier(count)
    done: list[dict[str, int]] = [{} for _ in schedulers]

    def run(index: int) -> None:
        start.wait()
        done[index] = schedulers[index].run_once()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done
