"""The api: validates, authorises, checks a case's state and records commands with their outbox row."""
