"""The vocabulary of a case: statuses, roles, decisions and the platform actions they map to.

One place per fact: every other module imports these names instead of spelling strings.
"""

from enum import StrEnum


class Status(StrEnum):
    RECEIVED = "received"
    ANALYZING = "analyzing"
    AUTO_CLOSED = "auto_closed"
    AWAITING_REVIEW = "awaiting_review"
    EXECUTING = "executing"
    CLOSED = "closed"
    ROLLING_BACK = "rolling_back"
    FAILED = "failed"


class Role(StrEnum):
    UPSTREAM = "upstream"
    MODERATOR = "moderator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    QA = "qa"  # reviews sampled closed cases blind (shared/quality.py); decides no live case


class Decision(StrEnum):
    DISMISS = "dismiss"
    WARN = "warn"
    REMOVE = "remove"
    REMOVE_AND_BAN = "remove_and_ban"
    REANALYZE = "reanalyze"


class ActionKind(StrEnum):
    REMOVE = "remove"
    RESTORE = "restore"
    BAN = "ban"
    UNBAN = "unban"
    WARN = "warn"
    RETRACT_WARNING = "retract_warning"


class ActionStatus(StrEnum):
    PENDING = "pending"  # recorded, the platform has not confirmed it (yet)
    CONFIRMED = "confirmed"
    REFUSED = "refused"  # the platform said no for good (4xx)


class CommandKind(StrEnum):
    START = "start"
    RESUME = "resume"
    ROLLBACK = "rollback"
    RETRY = "retry"


# Which object an action acts on: content (the case's external id) or the author.
ACTION_TARGET = {
    ActionKind.REMOVE: "content",
    ActionKind.RESTORE: "content",
    ActionKind.BAN: "users",
    ActionKind.UNBAN: "users",
    ActionKind.WARN: "users",
    ActionKind.RETRACT_WARNING: "users",
}

REVERSAL = {
    ActionKind.REMOVE: ActionKind.RESTORE,
    ActionKind.BAN: ActionKind.UNBAN,
    ActionKind.WARN: ActionKind.RETRACT_WARNING,
}

ACTION_PLANS: dict[Decision, tuple[ActionKind, ...]] = {
    Decision.DISMISS: (),
    Decision.WARN: (ActionKind.WARN,),
    Decision.REMOVE: (ActionKind.REMOVE,),
    Decision.REMOVE_AND_BAN: (ActionKind.REMOVE, ActionKind.BAN),
}

# A case in one of these statuses waits for a person or is finished: no worker holds it.
RESTING = frozenset({Status.AUTO_CLOSED, Status.AWAITING_REVIEW, Status.CLOSED, Status.FAILED})

# How urgent a case awaiting review is, by the analysis' severity; escalation raises it further.
SEVERITY_PRIORITY = {"none": 0, "low": 10, "medium": 20, "high": 30, "critical": 40}
SEVERITIES = tuple(SEVERITY_PRIORITY)

# Who brings an appeal: a supervisor of the deployment, or (a complaint, DSA Art. 20, forwarded by
# the platform) the user the decision affected or the person who notified the content.
SUPERVISOR_APPEAL = "supervisor"
COMPLAINANTS = ("affected_user", "notifier")
# What a complaint contests (the platform maps its own form onto these).
COMPLAINT_BASES = ("not_illegal", "not_against_terms", "disproportionate", "not_acted_on", "other")

# What each decision imposes; an appeal's decision that drops any of it reverses the one appealed.
IMPOSES = {"dismiss": frozenset(), "warn": frozenset({"warn"}), "remove": frozenset({"remove"}),
           "remove_and_ban": frozenset({"remove", "ban"})}


def appeal_outcome(appealed: str | None, decided: str | None) -> str:
    """reversed (something imposed is dropped), made_stricter (all kept, more added), else upheld."""
    before, after = IMPOSES.get(appealed or "", frozenset()), IMPOSES.get(decided or "", frozenset())
    return "reversed" if not before <= after else "made_stricter" if before < after else "upheld"
