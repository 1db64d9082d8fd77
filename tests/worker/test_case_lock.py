"""Two deliveries for one case never run its graph at the same time: the second waits."""

import threading

from sqlalchemy import text

from shared.domain import CommandKind, Status
from tests.support.arrange import case_row, post_case


def test_a_delivery_waits_while_another_holds_the_case(runner, engine, sessions):
    case_id, message_id = post_case(sessions, text="You are a worthless idiot, shut up you moron")
    with engine.connect() as other_worker:
        other_worker.execute(text("SELECT pg_advisory_lock(hashtextextended(:key, 0))"), {"key": str(case_id)})
        other_worker.commit()
        delivery = threading.Thread(target=runner.handle, kwargs={
            "case_id": str(case_id), "message_id": str(message_id), "kind": CommandKind.START})
        delivery.start()
        delivery.join(1.0)
        assert delivery.is_alive(), "the delivery ran although another worker held the case"
        assert case_row(sessions, case_id).status == Status.RECEIVED
        other_worker.execute(text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))"), {"key": str(case_id)})
        other_worker.commit()
    delivery.join(30)
    assert not delivery.is_alive()
    assert case_row(sessions, case_id).status == Status.AWAITING_REVIEW
