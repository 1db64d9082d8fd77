"""The cascade's second stage: a fine-tuned MiniLM (training/finetune.py) as int8 ONNX, read by
onnxruntime with the tokenizer it was trained with. It scores what the fast model is unsure of.

The model ships in the package (model/encoder.onnx, encoder.json, tokenizer.json); nothing is
fetched. A missing or corrupt file is an EncoderUnavailable when the analyser is built, so a worker
fails at its start with the reason instead of falling back to the fast model alone."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.worker.analysis.textmodel import IDENTITY
from shared.errors import Unavailable

MODEL_DIR = Path(__file__).parent / "model"
MAX_TOKENS = 64  # what it was trained on; a text's first 64 word pieces (the fast model reads the rest)


class EncoderUnavailable(Unavailable):
    """The encoder's files are missing, corrupt or do not match their card."""


@dataclass(frozen=True)
class Card:
    name: str
    version: str
    sha256: str
    layers: int
    parity: list[dict[str, Any]]
    masks_groups: bool = False


def encoder_text(text: str, *, masks_groups: bool) -> str:
    """What the encoder reads of a text: where it was trained so, the names of identity groups as
    [MASK], as the fast model masks them ("Gay people are beautiful." read as "[MASK] people are
    beautiful."): the words around a group's name decide, not the name."""
    return IDENTITY.sub("[MASK]", text.lower()) if masks_groups else text


def _read_card(folder: Path) -> Card:
    path = folder / "encoder.json"
    try:
        raw = json.loads(path.read_text())
        return Card(name=raw["name"], version=raw["version"], sha256=raw["sha256"], layers=raw["layers"],
                    parity=raw["parity"], masks_groups=raw.get("masks_groups", False))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise EncoderUnavailable(f"the encoder's card {path} cannot be read: {error}") from error


class Encoder:
    """Probabilities (0..1) that a person should look, for one text or a batch. Thread-safe: one
    onnxruntime session per process, each call on one thread (a worker runs a call per thread)."""

    def __init__(self, *, folder: Path = MODEL_DIR, threads: int = 1) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.card = _read_card(folder)
        model = folder / "encoder.onnx"
        try:
            data = model.read_bytes()
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as error:  # tokenizers raises a bare Exception for a corrupt file
            raise EncoderUnavailable(f"the encoder cannot be loaded from {folder}: {error}") from error
        if hashlib.sha256(data).hexdigest() != self.card.sha256:
            raise EncoderUnavailable(f"{model} is not the file its card describes (sha256 differs): corrupt or replaced")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime's errors share no base class of their own
            raise EncoderUnavailable(f"onnxruntime cannot load {model}: {error}") from error
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.no_padding()  # the shipped file pads every text to 128
        self._tokenizer = tokenizer

    @property
    def version(self) -> str:
        return f"{self.card.name}@{self.card.version}"

    def probability(self, text: str) -> float:
        encoded = self._tokenizer.encode(encoder_text(text, masks_groups=self.card.masks_groups))
        return self._run(np.array([encoded.ids], dtype=np.int64), np.array([encoded.attention_mask], dtype=np.int64))[0]

    def probabilities(self, texts: list[str], *, batch: int = 32) -> list[float]:
        """probability() of each text, in batches of texts of one length, never padded. int8
        activations are scaled per call over the whole batch, so a batch's other texts move a score:
        by up to 0.07 with padding, 0.05 without (measured). batch=1 is exactly probability()."""
        encoded = self._tokenizer.encode_batch([encoder_text(t, masks_groups=self.card.masks_groups) for t in texts])
        by_length: dict[int, list[int]] = {}
        for index, e in enumerate(encoded):
            by_length.setdefault(len(e.ids), []).append(index)
        found = [0.0] * len(texts)
        for indices in by_length.values():
            for start in range(0, len(indices), batch):
                part = indices[start:start + batch]
                ids = np.array([encoded[i].ids for i in part], dtype=np.int64)
                for i, probability in zip(part, self._run(ids, np.ones_like(ids))):
                    found[i] = probability
        return found

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> list[float]:
        (logits,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
        return (1.0 / (1.0 + np.exp(-logits))).tolist()
