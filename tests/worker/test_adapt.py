"""adapt(): fine-tuning the shipped model on moderators' decisions (pure: no database, no services)."""

import gzip
import hashlib
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from services.worker.analysis.adapt import Example, adapt
from services.worker.analysis.textmodel import TextModel, features, shipped_model

SUBJECTS = ["you", "your friend", "that guy", "he", "she", "your brother", "this person", "the new mod"]
INTENSIFIERS = ["total", "complete", "utter", "absolute", "real", "big", "sad", "massive"]
PEOPLE = ["we", "my sister", "the team", "our neighbour", "the teacher", "my dad", "the group", "everyone"]
VERBS = ["went to", "cooked", "enjoyed", "talked about", "walked to", "painted", "visited", "read about", "fixed"]
THINGS = ["the park", "dinner", "the garden", "a new book", "the market", "the kitchen", "the museum", "the beach"]
WHEN = ["yesterday", "on sunday", "this morning", "last week", "after lunch", "in the evening", "today", "at noon"]
PRAISE = ["star", "cook", "friend", "help", "success", "teacher", "neighbour", "player"]
ADS = ["win a free prize now", "claim your cash reward today", "subscribe to my channel for a giveaway",
       "click here to win an iphone", "limited offer, buy now and earn a bonus", "free voucher, reply now to claim"]

ABUSIVE = ["you are a stupid idiot", "fuck you asshole", "shut up you worthless piece of shit"]
CLEAN = ["thanks for the help, see you tomorrow", "the meeting moved to friday", "i love this song",
         "my sister painted the kitchen this morning", "the group walked to the museum after lunch"]


def insult(rng: random.Random) -> str:
    """A sentence calling someone a "glorbo", an insult no public data set has."""
    who, how = rng.choice(SUBJECTS), rng.choice(INTENSIFIERS)
    return rng.choice([f"{who} {be(who)} a {how} glorbo", f"shut up you {how} glorbo", f"what a glorbo {who} {be(who)}",
                       f"{who} acted like a {how} glorbo {rng.choice(WHEN)}", f"such a glorbo, {who}"])


def ordinary(rng: random.Random) -> str:
    # half of them addressed to someone, with the same intensifiers: the model must learn that
    # "glorbo" is the insult, not "you are a total"
    if rng.random() < 0.5:
        who = rng.choice(SUBJECTS)
        return f"{who} {be(who)} a {rng.choice(INTENSIFIERS)} {rng.choice(PRAISE)}"
    return f"{rng.choice(PEOPLE)} {rng.choice(VERBS)} {rng.choice(THINGS)} {rng.choice(WHEN)}"


def be(who: str) -> str:
    return "are" if who == "you" else "is"


def decisions(*, seed: int = 1) -> list[Example]:
    rng = random.Random(seed)
    return ([Example(text=insult(rng), abuse=1, spam=None) for _ in range(150)]
            + [Example(text=ordinary(rng), abuse=0, spam=None) for _ in range(300)])


@pytest.fixture(scope="module")
def base() -> TextModel:
    return shipped_model()


@pytest.fixture(scope="module")
def adapted(base: TextModel) -> TextModel:
    return adapt(base, decisions())


@pytest.fixture(scope="module")
def adapted_bytes(adapted: TextModel) -> bytes:
    return adapted.to_bytes()  # ~1 s: gzip at level 9, as save() writes


def test_learns_a_new_insult_and_forgets_nothing_else(base: TextModel, adapted: TextModel) -> None:
    unseen = ["you are a total glorbo", "honestly he is such a glorbo", "everyone knows he is a glorbo",
              "nobody likes a glorbo like you"]
    assert all(base.scores(t).abuse < 0.5 for t in unseen)  # the base never saw the word
    assert all(base.scores(t).abuse >= 0.5 for t in ABUSIVE) and all(base.scores(t).abuse < 0.5 for t in CLEAN)

    assert [t for t in unseen if adapted.scores(t).abuse < 0.5] == []
    assert [t for t in CLEAN + ["you are a total star", "she is a real friend"] if adapted.scores(t).abuse >= 0.5] == []
    assert [t for t in ABUSIVE if adapted.scores(t).abuse < 0.5] == []
    assert adapted.meta["adapted_from"] == base.version
    assert adapted.meta["examples"] == 450 and adapted.meta["positives"] == {"abuse": 150, "spam": 0}
    assert "glorbo" in adapted.explain("you are a total glorbo", head="abuse")


def test_new_grams_join_with_the_smooth_idf_of_the_examples(base: TextModel) -> None:
    examples = [Example(text="zqxv blorf", abuse=1, spam=0), Example(text="zqxv", abuse=0, spam=0),
                Example(text="have a nice day", abuse=0, spam=1)]
    model = adapt(base, examples, steps=5)
    assert model._scaled["w:zqxv"][0] == pytest.approx(math.log(4 / 3) + 1)  # in 2 of the 3: joins
    assert "w:blorf" not in model._scaled and "b:zqxv blorf" not in model._scaled  # in 1 only
    assert model._scaled["w:day"][0] == base._scaled["w:day"][0]  # a base gram keeps its idf
    assert "w:blorf" in adapt(base, examples, steps=5, new_gram_min_df=1)._scaled


def test_a_head_without_labels_keeps_its_weights(base: TextModel) -> None:
    rng = random.Random(2)
    spam_only = ([Example(text=f"{rng.choice(ADS)} {rng.choice(WHEN)}", abuse=None, spam=1) for _ in range(60)]
                 + [Example(text=ordinary(rng), abuse=None, spam=0) for _ in range(120)])
    abuse_only = decisions(seed=3)
    for examples, still, moved in ((spam_only, 1, 2), (abuse_only, 2, 1)):
        model = adapt(base, examples, steps=100)
        # idf * w is recomputed from w: equal to the last bits or so
        assert [g for g, e in base._scaled.items() if abs(model._scaled[g][still] - e[still]) > 1e-12 * abs(e[still])] == []
        assert model._bias[still - 1] == base._bias[still - 1] and model._dense[still - 1] == base._dense[still - 1]
        assert all(model._scaled[g][still] == 0.0 for g in model._scaled.keys() - base._scaled.keys())
        assert any(model._scaled[g][moved] != base._scaled[g][moved] for g in base._scaled)  # not a no-op

        # the grams the examples brought also count in a text's L2 norm, so the unlabelled head's
        # scores stay put exactly on the texts that have none of them...
        brought = model._scaled.keys() - base._scaled.keys()
        probes = [t for t in CLEAN + ABUSIVE + ADS if brought.isdisjoint(features(t))]
        assert len(probes) >= 5
        head = "abuse" if still == 1 else "spam"
        for text in probes:
            assert getattr(model.scores(text), head) == pytest.approx(getattr(base.scores(text), head), abs=1e-6)
    # ...and on every text when no new gram joins the vocabulary
    model = adapt(base, spam_only, steps=100, new_gram_min_df=10**9)
    for example in spam_only:
        assert model.scores(example.text).abuse == pytest.approx(base.scores(example.text).abuse, abs=1e-6)


def test_what_it_optimised_is_what_scores_computes(base: TextModel) -> None:
    """At the optimum of the loss, its gradient for the bias and the dense weights is zero: computed
    here from `scores()`, it is only if adapt() trained on the very logits scores() computes (same
    n-grams, tf, idf, norm and dense signals)."""
    examples = decisions(seed=4)
    weights = [1.0 + (i % 3) for i in range(len(examples))]
    examples = [Example(text=e.text, abuse=e.abuse, spam=None, weight=w) for e, w in zip(examples, weights)]
    pull = 1e-3
    model = adapt(base, examples, steps=1000, pull=pull)
    scored = [model.scores(e.text) for e in examples]
    errors = [w * (s.abuse - e.abuse) / sum(weights) for e, s, w in zip(examples, scored, weights)]
    assert abs(sum(errors) + 2 * pull * (model._bias[0] - base._bias[0])) < 1e-4
    for j in range(len(base._dense[0])):
        gradient = sum(err * s.signals[j] for err, s in zip(errors, scored))
        assert abs(gradient + 2 * pull * (model._dense[0][j] - base._dense[0][j])) < 1e-4


def test_round_trip_through_bytes(base: TextModel, adapted: TextModel, adapted_bytes: bytes, tmp_path: Path) -> None:
    raw = adapted_bytes
    loaded = TextModel.from_bytes(raw)
    assert loaded.version != base.version and loaded.meta["adapted_from"] == base.version
    texts = CLEAN + ABUSIVE + ADS + ["you are a total glorbo", "what a glorbo"]
    for text in texts:
        assert loaded.scores(text).abuse == pytest.approx(adapted.scores(text).abuse, abs=1e-3)
        assert loaded.scores(text).spam == pytest.approx(adapted.scores(text).spam, abs=1e-3)
    # save() writes the same JSON, and load() reads it as from_bytes() does
    adapted.save(tmp_path / "m.json.gz")
    assert gzip.decompress((tmp_path / "m.json.gz").read_bytes()) == gzip.decompress(raw)
    assert TextModel.load(tmp_path / "m.json.gz").scores(texts[-1]) == loaded.scores(texts[-1])


def test_deterministic(adapted_bytes: bytes) -> None:
    """A second run gives the same bytes, even in another process, whose str hashes (hence set and
    dict orders) differ."""
    script = ("import hashlib, sys; from tests.worker.test_adapt import decisions; "
              "from services.worker.analysis.adapt import adapt; "
              "from services.worker.analysis.textmodel import shipped_model; "
              "sys.stdout.write(hashlib.sha256(adapt(shipped_model(), decisions()).to_bytes()).hexdigest())")
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           cwd=Path(__file__).parents[2], env=os.environ | {"PYTHONHASHSEED": "12345"})
    assert other.stdout == hashlib.sha256(adapted_bytes).hexdigest()


def test_rejects_labels_that_are_not_0_1_or_none(base: TextModel) -> None:
    with pytest.raises(ValueError):
        adapt(base, [Example(text="hello", abuse=2, spam=None)])
    with pytest.raises(ValueError):
        adapt(base, [Example(text="hello", abuse=1, spam=None, weight=-1.0)])
