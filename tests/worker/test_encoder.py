"""The cascade: the fast model answers where it is sure, the shipped encoder (int8 ONNX) scores the
band between, and a worker whose encoder is missing or corrupt does not start."""

import json
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest

from services.worker.analysis import EmbeddedAnalyser, Encoder, EncoderUnavailable, Thresholds, make_analyser
from services.worker.analysis.embedded import CASCADE, fast_abuse, shipped_encoder, together
from services.worker.analysis.encoder import MODEL_DIR
from services.worker.analysis.textmodel import shipped_model
from shared.settings import Settings
from tests.conftest import test_settings
from tests.support.processes import settings_env

CLEAR_ABUSE = "fuck you bitch"
CLEAR_CLEAN = "Thanks for the lift home, see you on Monday"
UNSURE = "Go home you're drunk!!!"  # OLID calls it offensive; the fast model cannot tell


class CountingEncoder(Encoder):
    """The shipped encoder, counting the texts it is asked to score."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def probability(self, text: str) -> float:
        self.seen.append(text)
        return super().probability(text)

    def probabilities(self, texts: list[str], *, batch: int = 32) -> list[float]:
        self.seen += texts
        return super().probabilities(texts, batch=batch)


@pytest.fixture
def counting() -> CountingEncoder:
    return CountingEncoder()


def test_the_three_examples_fall_where_the_band_says():
    band = CASCADE
    scores = {text: fast_abuse(text, model=shipped_model())[1] for text in (CLEAR_ABUSE, CLEAR_CLEAN, UNSURE)}
    assert scores[CLEAR_ABUSE] >= band.band_high
    assert scores[CLEAR_CLEAN] < band.band_low
    assert band.band_low <= scores[UNSURE] < band.band_high


@pytest.mark.parametrize("text", [CLEAR_ABUSE, CLEAR_CLEAN])
def test_a_confident_case_never_reaches_the_encoder(counting, text):
    analysis = EmbeddedAnalyser(encoder=counting, thresholds=CASCADE).analyse(text=text)
    assert counting.seen == []
    assert analysis.stage == "fast" and "abuse_encoder" not in analysis.scores
    assert analysis.needs_review == (text == CLEAR_ABUSE)


def test_an_uncertain_case_is_decided_by_the_encoder_with_the_fast_model(counting):
    analysis = EmbeddedAnalyser(encoder=counting, thresholds=CASCADE).analyse(text=UNSURE)
    assert counting.seen == [UNSURE]
    assert analysis.stage == "encoder"
    encoder = shipped_encoder().probability(UNSURE)
    fast = fast_abuse(UNSURE, model=shipped_model())[1]
    assert analysis.scores["abuse_encoder"] == round(encoder, 4)
    # the two models' log-odds, the encoder's weighing encoder_weight: all of it, none of it, half
    for weight, expected in ((1.0, encoder), (0.0, fast), (0.5, together(fast, encoder, weight=0.5))):
        weighed = EmbeddedAnalyser(thresholds=replace(CASCADE, encoder_weight=weight)).analyse(text=UNSURE)
        assert weighed.scores["abuse_cascade"] == pytest.approx(expected, abs=1e-3)
    assert min(fast, encoder) < analysis.scores["abuse_cascade"] < max(fast, encoder)
    # the score deciding in the band against the review threshold decides, either way
    deciding = analysis.scores["abuse_cascade"]
    assert EmbeddedAnalyser(thresholds=replace(CASCADE, review=deciding - 0.01)).analyse(text=UNSURE).needs_review
    assert not EmbeddedAnalyser(thresholds=replace(CASCADE, review=deciding + 0.01)).analyse(text=UNSURE).needs_review


def test_the_analysis_records_the_models_and_thresholds_that_made_it():
    analysis = make_analyser(Settings(analyser_review_threshold=0.42, analyser_band_low=0.1, analyser_band_high=0.9, _env_file=None)).analyse(text=UNSURE)
    card = json.loads((MODEL_DIR / "encoder.json").read_text())
    assert analysis.models["encoder"] == f"minilm-abuse@{card['version']}"
    assert analysis.models["fast"].startswith("textmodel@")
    assert analysis.thresholds["review"] == 0.42
    assert {"band_low", "band_high", "encoder_weight", "spam_review", "sanction"} <= set(analysis.thresholds)


def test_quoted_words_are_kept_from_the_encoder_too(counting):
    analysis = EmbeddedAnalyser(encoder=counting, thresholds=CASCADE).analyse(
        text=f'He wrote "{CLEAR_ABUSE}" under my photo, go home you are drunk!')
    assert counting.seen and analysis.stage == "encoder"  # the encoder did read the rest of it
    assert all(CLEAR_ABUSE not in text for text in counting.seen)


def test_batched_analyses_equal_one_at_a_time(counting):
    texts = [CLEAR_ABUSE, UNSURE, CLEAR_CLEAN, "I know exams suck but you're not alone", "Women are not scum.",
             "these people should be taken to a vet, not a doctor", UNSURE, "Go home you are drunk!!",
             "Go home, you're drunk!", "go home youre drunk!!!", "Go away you're drunk!!!"]
    analyser = EmbeddedAnalyser(encoder=counting, thresholds=CASCADE)
    batched = analyser.analyse_many(texts, batch=4)
    assert len(set(counting.seen)) == len(counting.seen)  # each distinct text in the band scored once
    single = [analyser.analyse(text=text) for text in texts]
    for one, many in zip(single, batched):
        assert (one.stage, one.models, one.thresholds) == (many.stage, many.models, many.thresholds)
        # int8 activations are scaled per call over the whole batch: a batch's other texts move a score a
        # little (up to 0.05 measured, encoder 20261207-9c252910); a batch of one is exactly what the worker computes
        assert one.scores == pytest.approx(many.scores, abs=0.06)
    assert [a.model_dump() for a in analyser.analyse_many(texts, batch=1)] == [a.model_dump() for a in single]


def test_onnxruntime_scores_what_torch_scored_on_the_parity_sample():
    card = json.loads((MODEL_DIR / "encoder.json").read_text())
    texts = [row["text"] for row in card["parity"]]
    assert len(texts) >= 10
    served = [shipped_encoder().probability(text) for text in texts]  # one at a time, as the worker scores
    apart = [abs(probability - row["torch_float32"]) for row, probability in zip(card["parity"], served)]
    # int8 weights and activations against torch's float32: measured 0.02 apart on average, 0.08 at most
    assert sum(apart) / len(apart) <= 0.04
    assert max(apart) <= 0.1, card["parity"][apart.index(max(apart))]["text"]


def _copy_of_the_model(tmp_path):
    folder = tmp_path / "encoder"
    shutil.copytree(MODEL_DIR, folder, ignore=shutil.ignore_patterns("*.gz"))
    return folder


def test_a_missing_or_corrupt_model_file_is_a_clear_error(tmp_path):
    folder = _copy_of_the_model(tmp_path)
    data = bytearray((folder / "encoder.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "encoder.onnx").write_bytes(bytes(data))
    with pytest.raises(EncoderUnavailable, match="sha256 differs"):
        Encoder(folder=folder)
    (folder / "encoder.onnx").unlink()
    with pytest.raises(EncoderUnavailable, match="encoder.onnx"):
        Encoder(folder=folder)
    (folder / "encoder.json").write_text("{not json")
    with pytest.raises(EncoderUnavailable, match="card"):
        Encoder(folder=folder)


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_worker_with_a_corrupt_encoder_fails_its_start_with_the_reason(tmp_path, processes):
    folder = _copy_of_the_model(tmp_path)
    (folder / "encoder.onnx").write_bytes(b"not a model")
    env = settings_env(test_settings()) | {"ANALYSER_ENCODER_DIR": str(folder)}
    done = subprocess.run([sys.executable, "-m", "services", "worker", "--processes", processes], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "vigil worker:" in done.stderr and "encoder.onnx" in done.stderr and "sha256" in done.stderr
