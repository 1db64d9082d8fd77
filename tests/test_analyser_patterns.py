"""The embedded analyser's hand-written signals (attacks.py, adverts.py) and the sentiment lexicon
shipped inside its model: abuse without swear words reaches a person, identity mentions, negations
and reports of hate do not trip the patterns, and no pattern suggests a sanction by itself."""

import subprocess
import sys

import pytest

from services.worker.analysis import EmbeddedAnalyser, Thresholds
from services.worker.analysis.attacks import attacks
from services.worker.analysis.embedded import THREAT, THREAT_WORD

embedded = EmbeddedAnalyser()


@pytest.mark.parametrize(("text", "kind"), [
    ("You are abhorrent.", "insult"),
    ("you are a worthless idiot", "insult"),
    ("Immigrants are vermin.", "group_attack"),
    ("I despise Muslims.", "group_attack"),
    ("Gay people belong in a zoo.", "group_attack"),
    ("I am going to make those women suffer.", "threat"),
])
def test_abuse_without_a_swear_word_goes_to_a_person_without_a_suggested_sanction(text, kind):
    assert kind in {found for found, _ in attacks(text)}
    analysis = embedded.analyse(text=text)
    assert analysis.needs_review and analysis.category == "abuse"
    assert analysis.scores.get("attack_pattern") == 1.0 or analysis.scores.get("threat") == 1.0
    # a pattern asks a person; a sanction needs the model's score too
    if analysis.scores["abuse"] < 0.9:
        assert analysis.suggested_decision == "dismiss"


@pytest.mark.parametrize("text", [
    "Gay people are beautiful.",
    "I love trans people.",
    "Women are not scum.",  # negated
    "People who say immigrants are vermin are wrong.",  # reported to be refuted
    "It is not the case that women are subhuman.",
    "Are you sure that the Jewish people are a disease? Where is your evidence?",
    "You are not stupid, you are learning.",
    "your dumb excuse again",  # "your", not "you're": a possessive, not a verdict
])
def test_identity_mentions_negations_and_reported_hate_do_not_match_a_pattern(text):
    assert attacks(text) == []


def test_kind_identity_mentions_close_on_their_own():
    for text in ("Gay people are beautiful.", "I love trans people.", "My Muslim neighbours brought us dinner."):
        analysis = embedded.analyse(text=text)
        assert not analysis.needs_review, (text, analysis.scores)


def test_signs_of_an_advert_ask_a_person_and_ordinary_money_talk_does_not():
    bait = embedded.analyse(text="Thumbs up if you are still listening in 2024, and sub me for more")
    assert "spam" in bait.flags and bait.scores["advert_signs"] == 1.0
    assert any("self-promotion" in reason for reason in bait.reasons)
    for text in ("Our bake sale raised 200 euros for the shelter.", "Free tonight? Dinner at mine."):
        analysis = embedded.analyse(text=text)
        assert "spam" not in analysis.flags, (text, analysis.scores)


def test_the_sentiment_lexicon_ships_inside_the_model_and_nothing_is_imported_to_read_it():
    # vaderSentiment is needed to train (it holds the lexicon), never to analyse
    script = ("import sys; from services.worker.analysis import EmbeddedAnalyser; "
              "a = EmbeddedAnalyser(); a.analyse(text='You are abhorrent'); "
              "print('vaderSentiment' in sys.modules, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_one_sentence_scored_high_without_a_second_sign_asks_a_person_but_suggests_no_sanction():
    # the model reads words, not negation: this scores above the sanction bar on its own
    analysis = embedded.analyse(text="Women are not scum.")
    assert analysis.needs_review and analysis.scores["abuse"] >= 0.9
    assert analysis.suggested_decision == "dismiss"
    assert any("one sentence's score alone" in reason for reason in analysis.reasons)
    # with a pattern agreeing, a score above the bar suggests one
    text = "You are a worthless idiot and a disgusting piece of trash, you moron."
    bar = embedded.analyse(text=text).scores["abuse"] - 0.01
    agreed = EmbeddedAnalyser(thresholds=Thresholds(sanction=bar)).analyse(text=text)
    assert agreed.scores["attack_pattern"] == 1.0 and agreed.suggested_decision == "warn"


def test_a_negated_word_counts_against_its_rating_in_the_lexicon_signals():
    from services.worker.analysis.textmodel import DENSE, shipped_model

    model = shipped_model()
    most_negative = DENSE.index("most_negative")
    assert model.scores("Women are disgusting.").signals[most_negative] > 0.5
    assert model.scores("Women are not disgusting.").signals[most_negative] == 0.0
    assert model.scores("Women are not disgusting.").abuse < model.scores("Women are disgusting.").abuse


@pytest.mark.parametrize("text", [
    "kill yourself", "kys loser", "go die", "they should all be shot", "you deserve to be put down",
    "I am going to stab you", "we will slaughter them", "time to nuke China", "I know where you live",
    "we are coming for you", "watch your back", "you're dead", "you are gonna die", "I'll make you bleed",
])
def test_every_shape_of_the_threat_pattern_passes_its_cheap_prefilter(text):
    # THREAT_WORD spares most texts the long THREAT pattern: a threat it misses would close unseen
    assert THREAT.search(text) and THREAT_WORD.search(text)
    assert embedded.analyse(text=text).scores.get("threat") == 1.0
