"""Appending to the audit log, which only grows (a trigger refuses UPDATE and DELETE).

An event that goes with a change of status is written by the one writer (`shared.transitions`);
this is the statement for the others (an analysis, an action executed or reversed), recorded once
per dedupe key so a step that runs again after a crash does not record it twice.
"""

SYSTEM = "system:worker"

RECORD = """
    INSERT INTO audit_events (case_id, actor, event, data, dedupe_key) VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT (dedupe_key) DO NOTHING"""
