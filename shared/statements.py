"""Statements of reasons (EU DSA Art. 17): what Vigil's decisions and analyses say in the DSA
Transparency Database's submission format (`shared.dsa`).

A statement is issued for each executed decision that restricted something: `remove` (the content
removed) and `remove_and_ban` (removed, the account suspended); `warn` and `dismiss` restrict
nothing and have none. It never carries personal data: not the content's text, not the author's or
a moderator's id, not a reviewer's note. `decision_facts` is written from the analysis' category and
severity and the decision alone, and `puid` names the content on the upstream platform (its
tenant and external id), not a person.

A deployment states its grounds per analysis category in STATEMENT_GROUNDS (JSON):
`{"abuse": {"ground": "Community rules §3: harassment", "explanation": "...",
"reference_url": "https://…/rules#3", "illegal": false, "also_illegal": false}}`. A ground is a
reference to the terms of service (DECISION_GROUND_INCOMPATIBLE_CONTENT) unless `illegal` is true,
when it is the legal ground (DECISION_GROUND_ILLEGAL_CONTENT). Categories not named keep the
built-in defaults below.
"""

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared import dsa

# Vigil's decisions and the platform actions that restrict: which of them a statement reports.
RESTRICTING = {"remove": ("remove",), "remove_and_ban": ("remove", "ban")}

# The analysis' categories (services/worker/analysis/models.py) in the database's categories.
CATEGORY = {
    "abuse": ("STATEMENT_CATEGORY_CYBER_VIOLENCE", ["KEYWORD_CYBER_HARASSMENT"]),
    "spam": ("STATEMENT_CATEGORY_OTHER_VIOLATION_TC", []),
    "credential_leak": ("STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS", []),
    "personal_data": ("STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
                      ["KEYWORD_MISSING_PROCESSING_GROUND"]),
    "clean": ("STATEMENT_CATEGORY_OTHER_VIOLATION_TC", []),
}
_WHAT = {"abuse": "abusive content directed at people", "spam": "spam (unsolicited promotion)",
         "credential_leak": "leaked access credentials", "personal_data": "another person's personal data"}

# Where the case came from, as the upstream says in its metadata `source`; unsaid: Vigil's own
# initiative (the platform sent the content for screening, nobody notified it).
SOURCE = {"notice": "SOURCE_ARTICLE_16", "article_16": "SOURCE_ARTICLE_16",
          "trusted_flagger": "SOURCE_TRUSTED_FLAGGER", "other_notification": "SOURCE_TYPE_OTHER_NOTIFICATION",
          "own_initiative": "SOURCE_VOLUNTARY", "voluntary": "SOURCE_VOLUNTARY"}


class Ground(BaseModel):
    """A category's ground as the deployment states it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ground: str = Field(min_length=1, max_length=500)
    explanation: str = Field(min_length=1, max_length=2000)
    reference_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://\S+$")
    illegal: bool = False  # the ground is a law (illegal content), not the terms of service
    also_illegal: bool = False  # incompatible with the terms, and illegal too

    @property
    def decision_ground(self) -> str:
        return "DECISION_GROUND_ILLEGAL_CONTENT" if self.illegal else "DECISION_GROUND_INCOMPATIBLE_CONTENT"


DEFAULT_GROUNDS: dict[str, Ground] = {
    "abuse": Ground(ground="Terms of service: harassment and abuse of other people",
                    explanation="The content insults or demeans people, which the terms of service do not allow."),
    "spam": Ground(ground="Terms of service: spam and unsolicited advertising",
                   explanation="The content is unsolicited or repetitive promotion, which the terms of service do "
                               "not allow."),
    "credential_leak": Ground(ground="Terms of service: publishing access credentials",
                              explanation="The content discloses access credentials (keys, passwords or tokens) that "
                                          "put accounts and systems at risk."),
    "personal_data": Ground(ground="Terms of service: publishing other people's personal data",
                            explanation="The content discloses a person's personal data (such as contact details) "
                                        "without their consent."),
    "clean": Ground(ground="Terms of service",
                    explanation="A reviewer found the content incompatible with the terms of service."),
}


def parse_grounds(value: str | None) -> dict[str, Ground]:
    """STATEMENT_GROUNDS over the defaults; a clear ValueError for anything else."""
    grounds = dict(DEFAULT_GROUNDS)
    if not value:
        return grounds
    try:
        stated = json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"STATEMENT_GROUNDS is not JSON: {error}") from None
    if not isinstance(stated, dict):
        raise ValueError('STATEMENT_GROUNDS must be a JSON object {"<category>": {"ground": …, "explanation": …}}')
    unknown = sorted(set(stated) - set(CATEGORY))
    if unknown:
        raise ValueError(f"STATEMENT_GROUNDS names unknown categories {unknown}; known: {', '.join(CATEGORY)}")
    for category, ground in stated.items():
        try:
            grounds[category] = Ground.model_validate(ground)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in error.errors())
            raise ValueError(f"STATEMENT_GROUNDS[{category!r}]: {problems}") from None
    return grounds


def puid(*, tenant: str, external_id: str, round: int) -> str:
    """The platform's id of the statement: `<tenant>__<external id>__r<round>` (a round that
    restricts again after an appeal has a statement of its own, and the database wants each puid
    once). The database allows only [A-Za-z0-9_-], at most 500: any other character, and `_`
    itself, is written `_XX` (its UTF-8 bytes in hex), so the name stays readable and two names
    never meet. A name that would be longer keeps its first 300 characters, then the SHA-256 of
    tenant and external id, and ends `__d<round>`: no readable name ends so, so the two kinds never
    meet either."""
    readable = f"{_escaped(tenant)}__{_escaped(external_id)}"
    if len(readable) + len(f"__r{round}") <= dsa.PUID_MAX:
        return f"{readable}__r{round}"
    digest = hashlib.sha256(json.dumps([tenant, external_id]).encode()).hexdigest()
    return f"{re.sub(r'_[0-9A-F]?$', '', readable[:300])}__{digest}__d{round}"  # no escape cut in half


def _escaped(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", lambda m: "".join(f"_{byte:02X}" for byte in m[0].encode()), value)


def ground_of(category: str | None, grounds: Mapping[str, Ground]) -> tuple[str, Ground]:
    """The category a statement reports (one Vigil does not know: clean) and its stated ground."""
    category = category if category in CATEGORY else "clean"
    return category, grounds.get(category) or DEFAULT_GROUNDS[category]


def source_type(metadata: Mapping[str, Any] | None) -> str:
    source = (metadata or {}).get("source")
    return SOURCE.get(source, "SOURCE_VOLUNTARY") if isinstance(source, str) else "SOURCE_VOLUNTARY"


QUALITY_REVIEW = "quality_review"  # an analysis' found_by when a quality reviewer's finding reopened the case


def automated_detection(analysis: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None) -> bool:
    """Vigil's own analyser found the content: the platform sent it for screening (no notice, no
    flagger: SOURCE_VOLUNTARY) and the analysis named a category other than clean. Content a
    notice reported was found by the notifier, whatever the analysis said of it afterwards; content
    the analyser let close and a quality reviewer found was found by a person."""
    return (source_type(metadata) == "SOURCE_VOLUNTARY" and bool(analysis)
            and analysis.get("category", "clean") != "clean" and analysis.get("found_by") != QUALITY_REVIEW)



def build(*, tenant: str, external_id: str, round: int, restrictions: Iterable[str],
          analysis: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None, received_at: datetime,
          grounds: Mapping[str, Ground], territorial_scope: Iterable[str] = dsa.EEA,
          application_date: date | None = None) -> dict[str, Any]:
    """The statement of a decision whose `restrictions` ("remove", "ban") took effect."""
    restrictions = set(restrictions)
    if not restrictions <= {"remove", "ban"} or not restrictions:
        raise ValueError(f"a statement reports removals and bans, not {sorted(restrictions) or 'nothing'}")
    analysis, metadata = analysis or {}, metadata or {}
    category, ground = ground_of(analysis.get("category"), grounds)
    dsa_category, keywords = CATEGORY[category]
    flagged = automated_detection(analysis, metadata)
    source = source_type(metadata)
    body: dict[str, Any] = {}
    if "remove" in restrictions:
        body["decision_visibility"] = ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    if "ban" in restrictions:
        body["decision_account"] = "DECISION_ACCOUNT_SUSPENDED"  # a ban is lifted by an unban: not terminated
    if metadata.get("account_type") in ("business", "private"):
        body["account_type"] = f"ACCOUNT_TYPE_{metadata['account_type'].upper()}"
    body["decision_ground"] = ground.decision_ground
    if ground.illegal:
        body.update(illegal_content_legal_ground=ground.ground, illegal_content_explanation=ground.explanation)
    else:
        body.update(incompatible_content_ground=ground.ground, incompatible_content_explanation=ground.explanation,
                    incompatible_content_illegal="Yes" if ground.also_illegal else "No")
    if ground.reference_url:
        body["decision_ground_reference_url"] = ground.reference_url
    body.update(content_type=["CONTENT_TYPE_TEXT"], category=dsa_category)
    if keywords:
        body["category_specification"] = list(keywords)
    body["territorial_scope"] = sorted(territorial_scope)
    language = metadata.get("language")
    if isinstance(language, str) and language.upper() in dsa.LANGUAGES:
        body["content_language"] = language.upper()
    body.update(
        content_date=_content_date(metadata, received_at).isoformat(),
        application_date=(application_date or datetime.now(UTC).date()).isoformat(),
        decision_facts=decision_facts(category=category, severity=analysis.get("severity"), round=round,
                                      restrictions=restrictions, flagged=flagged, source=source,
                                      quality_review=analysis.get("found_by") == QUALITY_REVIEW),
        source_type=source,
        automated_detection="Yes" if flagged else "No",
        # A person decided every restriction Vigil executes; the analysis only proposed.
        automated_decision="AUTOMATED_DECISION_NOT_AUTOMATED",
        puid=puid(tenant=tenant, external_id=external_id, round=round),
    )
    return body


# How a notified case came to the platform, in the facts (the notifier is never named).
_REPORTED_BY = {"SOURCE_ARTICLE_16": "A notice (DSA Art. 16)", "SOURCE_TRUSTED_FLAGGER": "A trusted flagger",
                "SOURCE_TYPE_OTHER_NOTIFICATION": "A notification"}


def decision_facts(*, category: str, severity: str | None, round: int, restrictions: set[str],
                   flagged: bool, source: str = "SOURCE_VOLUNTARY", quality_review: bool = False) -> str:
    """Facts and circumstances, from the source, category, severity and decision only (no free text)."""
    if source in _REPORTED_BY:
        found = f"{_REPORTED_BY[source]} reported the content to the platform."
    elif quality_review:
        found = (f"A human quality reviewer, checking a random sample of content an automated analysis had let "
                 f"through, found it to be {_WHAT.get(category, category)}.")
    elif flagged:
        found = f"An automated analysis flagged the content as {_WHAT.get(category, category)}"
        found += f" (severity {severity})." if severity in ("low", "medium", "high", "critical") else "."
    else:
        found = "An automated analysis sent the content to human review without naming a violation."
    who = "A human reviewer" if round == 1 or quality_review else "On appeal, a second human reviewer"
    done = " and ".join(what for key, what in (("remove", "removed the content"),
                                               ("ban", "suspended the account that posted it"))
                        if key in restrictions)
    return f"{found} {who} examined it and {done}."


EARLIEST_POSTED = date(2000, 1, 1)  # the database's earliest content_date
POSTED_AT_SKEW = timedelta(minutes=5)  # the upstream's clock may run this much ahead of Vigil's


def posted_at_problem(value: Any, *, now: datetime) -> str | None:
    """What is wrong with an upstream's `posted_at` (ISO 8601, a date or a time with its offset),
    or None: the intake refuses a time in the future or before 2000 instead of replacing it."""
    if not isinstance(value, str):
        return "posted_at must be an ISO 8601 date or date-time string"
    try:
        posted = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return f"posted_at {value!r} is not an ISO 8601 date or date-time"
    if posted.tzinfo is None and len(value) > 10:
        return f"posted_at {value!r} has no UTC offset (say Z or +01:00)"
    posted = _in_utc(posted)
    if posted.date() < EARLIEST_POSTED:
        return f"posted_at {value} is before {EARLIEST_POSTED}"
    if posted > now + POSTED_AT_SKEW:
        return f"posted_at {value} is in the future (it is {now.isoformat(timespec='seconds')} here)"
    return None


def _content_date(metadata: Mapping[str, Any], received_at: datetime) -> date:
    """When it was posted, as the upstream said (`posted_at`, checked at intake), else when Vigil
    received it."""
    posted = metadata.get("posted_at")
    if isinstance(posted, str) and posted_at_problem(posted, now=received_at) is None:
        return _in_utc(datetime.fromisoformat(posted.replace("Z", "+00:00"))).date()
    return received_at.astimezone(UTC).date()


def _in_utc(moment: datetime) -> datetime:
    """A date-time with its offset in UTC; a bare date (no offset) as midnight UTC."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_territorial_scope(value: str) -> tuple[str, ...]:
    """STATEMENT_TERRITORIAL_SCOPE: "EEA", "EU" or country codes ("DE,AT"), EU/EEA countries only."""
    named = {"EEA": dsa.EEA, "EU": dsa.EU}
    if value.strip().upper() in named:
        return named[value.strip().upper()]
    codes = tuple(sorted({code.strip().upper() for code in value.split(",") if code.strip()}))
    unknown = [code for code in codes if code not in dsa.EEA]
    if not codes or unknown:
        raise ValueError(f"STATEMENT_TERRITORIAL_SCOPE: {', '.join(unknown) or 'nothing'} is not EEA, EU or a list"
                         f" of EU/EEA country codes ({', '.join(dsa.EEA)})")
    return codes
