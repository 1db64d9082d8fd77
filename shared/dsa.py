"""The EU DSA Transparency Database's submission format for statements of reasons (Art. 17, 24(5)).

The enumerations and limits are those its API validates on `POST /api/v1/statement(s)` (the
Commission's repository digital-services-act/transparency-database: app/Models/Statement.php and
app/Http/Requests/StatementStoreRequest.php; its API documentation). `problems` checks a body
against them, so what Vigil issues is what the database would accept.
"""

import re
from datetime import date
from typing import Any

DECISION_VISIBILITY = frozenset({
    "DECISION_VISIBILITY_CONTENT_REMOVED", "DECISION_VISIBILITY_CONTENT_DISABLED",
    "DECISION_VISIBILITY_CONTENT_DEMOTED", "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED", "DECISION_VISIBILITY_CONTENT_LABELLED",
    "DECISION_VISIBILITY_OTHER"})
DECISION_MONETARY = frozenset({"DECISION_MONETARY_SUSPENSION", "DECISION_MONETARY_TERMINATION",
                               "DECISION_MONETARY_OTHER"})
DECISION_PROVISION = frozenset({
    "DECISION_PROVISION_PARTIAL_SUSPENSION", "DECISION_PROVISION_TOTAL_SUSPENSION",
    "DECISION_PROVISION_PARTIAL_TERMINATION", "DECISION_PROVISION_TOTAL_TERMINATION"})
DECISION_ACCOUNT = frozenset({"DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"})
ACCOUNT_TYPE = frozenset({"ACCOUNT_TYPE_BUSINESS", "ACCOUNT_TYPE_PRIVATE"})
DECISION_GROUND = frozenset({"DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"})
YES_NO = frozenset({"Yes", "No"})  # automated_detection, incompatible_content_illegal
CONTENT_TYPE = frozenset({
    "CONTENT_TYPE_APP", "CONTENT_TYPE_AUDIO", "CONTENT_TYPE_IMAGE", "CONTENT_TYPE_PRODUCT",
    "CONTENT_TYPE_SYNTHETIC_MEDIA", "CONTENT_TYPE_TEXT", "CONTENT_TYPE_VIDEO", "CONTENT_TYPE_OTHER"})
CATEGORY = frozenset({
    "STATEMENT_CATEGORY_ANIMAL_WELFARE", "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE", "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS", "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS", "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC", "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY", "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "STATEMENT_CATEGORY_SELF_HARM", "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "STATEMENT_CATEGORY_VIOLENCE"})
# category_specification: keywords ("KEYWORD_" + each).
KEYWORDS = frozenset("KEYWORD_" + name for name in """
    ADULT_SEXUAL_MATERIAL AGE_SPECIFIC_RESTRICTIONS AGE_SPECIFIC_RESTRICTIONS_MINORS ANIMAL_HARM
    BIOMETRIC_DATA_BREACH BULLYING_AGAINST_GIRLS CHILD_SEXUAL_ABUSE_MATERIAL CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE
    CONTENT_PROMOTING_EATING_DISORDERS COORDINATED_HARM COPYRIGHT_INFRINGEMENT CYBER_BULLYING_INTIMIDATION
    CYBER_HARASSMENT CYBER_HARASSMENT_AGAINST_WOMEN CYBER_INCITEMENT CYBER_STALKING CYBER_STALKING_AGAINST_WOMEN
    DATA_FALSIFICATION DEFAMATION DESIGN_INFRINGEMENT DISCRIMINATION FEMALE_GENDERED_DISINFORMATION
    GEOGRAPHIC_INDICATIONS_INFRINGEMENT GEOGRAPHICAL_REQUIREMENTS GOODS_SERVICES_NOT_PERMITTED
    GROOMING_SEXUAL_ENTICEMENT_MINORS HATE_SPEECH HIDDEN_ADVERTISEMENT HUMAN_EXPLOITATION HUMAN_TRAFFICKING
    ILLEGAL_ORGANIZATIONS IMPERSONATION_ACCOUNT_HIJACKING INAUTHENTIC_ACCOUNTS INAUTHENTIC_LISTINGS
    INAUTHENTIC_USER_REVIEWS INCITEMENT_AGAINST_WOMEN INCITEMENT_VIOLENCE_HATRED
    INSUFFICIENT_INFORMATION_ON_TRADERS LANGUAGE_REQUIREMENTS MISINFORMATION_DISINFORMATION
    MISLEADING_INFO_CONSUMER_RIGHTS MISLEADING_INFO_GOODS_SERVICES MISSING_PROCESSING_GROUND
    NON_CONSENSUAL_IMAGE_SHARING NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN NON_CONSENSUAL_MATERIAL_DEEPFAKE
    NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN NONCOMPLIANCE_PRICING NUDITY PATENT_INFRINGEMENT PHISHING
    PROHIBITED_PRODUCTS PYRAMID_SCHEMES RIGHT_TO_BE_FORGOTTEN RISK_ENVIRONMENTAL_DAMAGE RISK_PUBLIC_HEALTH
    SELF_MUTILATION STALKING SUICIDE TERRORIST_CONTENT TRADE_SECRET_INFRINGEMENT TRADEMARK_INFRINGEMENT
    TRAFFICKING_WOMEN_GIRLS UNLAWFUL_SALE_ANIMALS UNSAFE_CHALLENGES UNSAFE_PRODUCTS VIOLATION_EU_LAW
    VIOLATION_NATIONAL_LAW OTHER
""".split())
SOURCE_TYPE = frozenset({"SOURCE_ARTICLE_16", "SOURCE_TRUSTED_FLAGGER", "SOURCE_TYPE_OTHER_NOTIFICATION",
                         "SOURCE_VOLUNTARY"})
AUTOMATED_DECISION = frozenset({"AUTOMATED_DECISION_FULLY", "AUTOMATED_DECISION_PARTIALLY",
                                "AUTOMATED_DECISION_NOT_AUTOMATED"})
# territorial_scope: EU/EEA countries (the database spells Greece GR).
EU = ("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU",
      "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK")
EEA = tuple(sorted(EU + ("IS", "LI", "NO")))
# content_language: ISO 639-1, upper case.
LANGUAGES = frozenset("""
    AB AA AF AK SQ AM AR AN HY AS AV AE AY AZ BM BA EU BE BN BH BI BS BR BG MY CA KM CH CE NY ZH CU CV KW CO CR HR
    CS DA DV NL DZ EN EO ET EE FO FJ FI FR FF GD GL LG KA DE KI EL KL GN GU HT HA HE HZ HI HO HU IS IO IG ID IA IE
    IU IK GA IT JA JV KN KR KS KK RW KV KG KO KJ KU KY LO LA LV LB LI LN LT LU MK MG MS ML MT GV MI MR MH RO MN NA
    NV ND NG NE SE NO NB NN II OC OJ OR OM OS PI PA PS FA PL PT QU RM RN RU SM SG SA SC SR SN SD SI SK SL SO ST NR
    ES SU SW SS SV TL TY TG TA TT TE TH BO TI TO TS TN TR TK TW UG UK UR UZ VE VI VO WA CY FY WO XH YI YO ZA ZU
""".split())

PUID_MAX = 500
PUID = re.compile(rf"[A-Za-z0-9_-]{{1,{PUID_MAX}}}")
MAX_CHARS = {"decision_facts": 5000, "illegal_content_legal_ground": 500, "illegal_content_explanation": 2000,
             "incompatible_content_ground": 500, "incompatible_content_explanation": 2000,
             "decision_ground_reference_url": 500, "source_identity": 500}
REQUIRED = ("decision_ground", "content_type", "category", "content_date", "application_date", "decision_facts",
            "source_type", "automated_detection", "automated_decision", "puid")
RESTRICTIONS = ("decision_visibility", "decision_monetary", "decision_provision", "decision_account")
_ONE_OF = {"decision_monetary": DECISION_MONETARY, "decision_provision": DECISION_PROVISION,
           "decision_account": DECISION_ACCOUNT, "account_type": ACCOUNT_TYPE, "decision_ground": DECISION_GROUND,
           "category": CATEGORY, "source_type": SOURCE_TYPE, "automated_detection": YES_NO,
           "automated_decision": AUTOMATED_DECISION, "incompatible_content_illegal": YES_NO,
           "content_language": LANGUAGES}
_LISTS_OF = {"decision_visibility": DECISION_VISIBILITY, "content_type": CONTENT_TYPE, "category_addition": CATEGORY,
             "category_specification": KEYWORDS, "territorial_scope": frozenset(EEA)}
_GROUND_FIELDS = {"DECISION_GROUND_ILLEGAL_CONTENT": ("illegal_content_legal_ground", "illegal_content_explanation"),
                  "DECISION_GROUND_INCOMPATIBLE_CONTENT": ("incompatible_content_ground",
                                                           "incompatible_content_explanation")}
_DATES = {"content_date": date(2000, 1, 1), "application_date": date(2020, 1, 1)}
_LAST_DATE = date(2038, 1, 1)


def problems(body: dict[str, Any]) -> list[str]:
    """What the Transparency Database would refuse in `body` (empty: it would accept it)."""
    found = [f"{field} is required" for field in REQUIRED if body.get(field) in (None, "", [])]
    if all(body.get(field) in (None, []) for field in RESTRICTIONS):
        found.append(f"one of {', '.join(RESTRICTIONS)} is required")
    for field, allowed in _ONE_OF.items():
        if body.get(field) is not None and body[field] not in allowed:
            found.append(f"{field}: {body[field]!r} is not one of the allowed values")
    for field, allowed in _LISTS_OF.items():
        value = body.get(field)
        if value is not None and (not isinstance(value, list) or not set(value) <= allowed):
            found.append(f"{field}: {value!r} must be a list of allowed values")
    for field in body.get("decision_ground") in _GROUND_FIELDS and _GROUND_FIELDS[body["decision_ground"]] or ():
        if not body.get(field):
            found.append(f"{field} is required with {body['decision_ground']}")
    for field, limit in MAX_CHARS.items():
        if isinstance(body.get(field), str) and len(body[field]) > limit:
            found.append(f"{field} is over {limit} characters")
    for field in ("content_date", "application_date", "end_date_account_restriction",
                  "end_date_visibility_restriction", "end_date_monetary_restriction", "end_date_service_restriction"):
        if body.get(field) is None:
            continue
        try:
            day = date.fromisoformat(body[field])
        except (TypeError, ValueError):
            found.append(f"{field}: {body[field]!r} is not YYYY-MM-DD")
            continue
        if not _DATES.get(field, date.min) <= day <= _LAST_DATE or len(body[field]) != 10:
            found.append(f"{field}: {body[field]} is out of the allowed range")
    if isinstance(body.get("puid"), str) and not PUID.fullmatch(body["puid"]):
        found.append("puid: only a-z, A-Z, 0-9, '-' and '_', at most 500 characters")
    return found
