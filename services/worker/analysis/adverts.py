"""Hand-written signs of spam that hold across kinds of text: an SMS prize scam and a YouTube comment
plugging a channel share no words, so a model trained on one misses the other (leave-one-source-out,
the spam head alone found a third to a half of the held-out source's spam: training/REPORT.md).

Each sign alone makes a person look (review), never a sanction: the spam head's score decides that.
A sign is a combination, not a word: "free" or "win" alone is an ordinary word ("free tonight?"),
"free" with a premium number or a link is an advert.

Written with the spam sets of training/DATA_CARD.md in view, so those numbers flatter these signs a
little; the abuse sets (13k tweets of OLID, 13k of HatEval, CONAN's 9k) are where their false alarms
were counted (0.1-0.6% of texts)."""

import re

from services.worker.analysis.textmodel import DENSE

SELF_PROMOTION = re.compile(
    r"\b(?:(?:my|our) (?:new )?(?:channel|youtube|videos?|vids?|music|songs?|mixtape|stream|instagram|insta|twitch|"
    r"soundcloud)\b|subscribe\b|sub to (?:me|my)\b|"
    r"follow (?:me|us|my)\b|check (?:out )?(?:my|our)\b|(?:please|pls|plz) (?:like|share|follow|visit|subscribe|check)\b|"
    # engagement bait: likes and follows traded or begged for
    r"(?:thumbs up|like this(?: comment)?|like) if\b|sub me\b|sub ?4 ?sub|(?:follow|like) (?:4|for) (?:follow|like)|"
    r"f4f|l4l|(?:my|our) (?:new )?(?:track|playlist|album|ep)\b)")
PRIZE = re.compile(
    r"\b(?:you (?:have|'ve) (?:been selected|won)|you've won|you are a winner|winner!|won an?\b|claim (?:your|a|now)|"
    r"free entry|prize|cash award|guaranteed|(?:txt|text|reply|send) stop|unsubscribe|opt.?out|call now|"
    r"urgent[!:])")


_AT = {name: index for index, name in enumerate(DENSE)}


def advert_signs(text: str, *, signals: tuple[float, ...]) -> list[str]:
    """The names of the signs of spam the text shows (empty for most texts). `signals` are the text
    model's dense signals of the same text (links, premium numbers, money, calls to action), not
    computed twice; the two patterns here run on a lowered copy (no IGNORECASE: several times faster)."""
    low = text.lower()
    signs = []
    if signals[_AT["premium_number"]]:
        signs.append("premium-rate number or short code")
    if PRIZE.search(low):
        signs.append("prize or subscription wording")
    if SELF_PROMOTION.search(low):
        signs.append("self-promotion (my channel, subscribe, follow me)")
    calls = round(signals[_AT["calls_to_action"]] * 3)  # min(count, 3) / 3
    if calls >= 2:
        signs.append("several calls to action")
    elif calls and (signals[_AT["link"]] or signals[_AT["money"]]):
        signs.append("a call to action with a link or an amount of money")
    if signals[_AT["shortener"]]:
        signs.append("a link shortener")
    return signs
